//! ferroswan crate `control`.
