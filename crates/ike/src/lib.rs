//! ferroswan crate `ike`.
pub mod crypto;
