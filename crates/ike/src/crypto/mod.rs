//! Cryptography for the IKEv2 engine.
//!
//! Everything the engine needs to protect IKE messages and to derive keys,
//! built on aws-lc-rs (HMAC, AEADs, AES-CBC, ECDH, X25519, ML-KEM,
//! signatures) and crypto-bigint (the MODP groups):
//!
//! - [`alg`]: the negotiable algorithms with their IANA transform IDs, sizes
//!   and Libreswan-style names ([`EncrAlg`], [`PrfAlg`], [`IntegAlg`],
//!   [`KeGroup`]).
//! - [`Secret`]: key material, zeroized on drop and never printed.
//! - [`Random`]: the injectable random source ([`SystemRandom`],
//!   [`TestRandom`]).
//! - [`prf`]: prf and prf+ (RFC 7296 2.13).
//! - [`keys`]: SKEYSEED, the seven IKE SA keys, Child SA KEYMAT, rekey
//!   (RFC 7296 2.14, 2.17, 2.18; RFC 9370 for additional key exchanges).
//! - [`ke`]: the key exchange methods (MODP, ECP, Curve25519, ML-KEM-768).
//! - [`auth`]: the AUTH payload computations (PSK, NULL, MACedID,
//!   SignedOctets).
//! - [`sign`]: signatures and keys (RFC 7427, legacy methods 1/9/10/11).
//! - [`sk`]: protection of the Encrypted (SK) and Encrypted Fragment (SKF)
//!   payloads.
//!
//! This module depends on no other module of the crate.

pub mod alg;
pub mod auth;
mod der;
pub mod error;
pub mod ke;
pub mod keys;
pub mod prf;
pub mod random;
mod rsa_raw;
pub mod secret;
pub mod sign;
pub mod sk;

pub use alg::{EncrAlg, IntegAlg, KeGroup, PrfAlg};
pub use error::CryptoError;
pub use ke::KeyExchange;
pub use keys::{ChildKeys, EspKeys, IkeSaKeys};
pub use random::{Random, SystemRandom, TestRandom};
pub use secret::Secret;
pub use sign::{KeyType, LegacyAuthMethod, PrivateKey, PublicKey, SignatureHash, SignatureScheme};
pub use sk::SkCipher;
