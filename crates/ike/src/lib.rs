//! ferroswan crate `ike`: IKEv2 (RFC 7296 and extensions), sans-IO.
//!
//! - [`wire`]: the message codec.

pub mod wire;
