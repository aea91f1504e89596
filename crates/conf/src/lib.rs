//! ferroswan crate `conf`.
