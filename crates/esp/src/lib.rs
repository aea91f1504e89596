//! ferroswan crate `esp`.
