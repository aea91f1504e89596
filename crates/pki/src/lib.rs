//! ferroswan crate `pki`.
