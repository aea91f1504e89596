//! ferroswan crate `ike`: IKEv2 (RFC 7296 and extensions), sans-IO.
//!
//! - [`wire`]: the message codec.
//! - [`crypto`]: algorithms, key schedule, SK protection.

pub mod crypto;
pub mod wire;
