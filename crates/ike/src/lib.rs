//! ferroswan crate `ike`: IKEv2 (RFC 7296 and extensions), sans-IO.
//!
//! - [`wire`]: the message codec.
//! - [`crypto`]: algorithms, key schedule, SK protection.
//! - [`engine`]: IKE SA and Child SA state machines behind a sans-IO API.
//! - [`keylog`]: session keys in Wireshark's decryption-table formats.

pub mod certs;
pub mod crypto;
pub mod engine;
pub mod keylog;
pub mod wire;

pub use engine::{Engine, EngineConfig, EngineError, Event, Target, Transmit};
