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
//! - [`sa_init`]: the NAT detection and COOKIE hashes of IKE_SA_INIT.
//! - [`sign`]: signatures and keys (RFC 7427, legacy methods 1/9/10/11).
//! - [`sk`]: protection of the Encrypted (SK) and Encrypted Fragment (SKF)
//!   payloads.
//!
//! This module depends on no other module of the crate.
//!
//! # The flow of an IKE SA, as the engine wires it
//!
//! ```
//! use ike::crypto::{auth, EncrAlg, IkeSaKeys, KeGroup, KeyExchange, PrfAlg, Secret, TestRandom};
//!
//! let mut rng = TestRandom::new(1);
//! let (prf, encr, group) = (PrfAlg::HmacSha2_256, EncrAlg::AesGcm16_256, KeGroup::Curve25519);
//! // IKE_SA_INIT: the initiator sends KEi, the responder answers with KEr.
//! let (initiator_ke, ke_i) = KeyExchange::generate(group, &mut rng)?;
//! let (ke_r, g_ir_responder) = KeyExchange::respond(group, &ke_i, &mut rng)?;
//! let g_ir = initiator_ke.complete(&ke_r)?;
//! assert_eq!(g_ir, g_ir_responder);
//! // Both derive the seven keys from the nonces and the header's SPIs.
//! let (ni, nr, spi_i, spi_r) = ([1u8; 32], [2u8; 32], [3u8; 8], [4u8; 8]);
//! let keys = IkeSaKeys::derive(prf, encr, None, &g_ir, &ni, &nr, &spi_i, &spi_r)?;
//! // IKE_AUTH: the initiator's PSK AUTH over its SignedOctets...
//! let id_i = [2u8, 0, 0, 0, b'w', b'e', b's', b't']; // ID_FQDN "west"
//! let maced = auth::maced_id(prf, &keys.sk_pi, &id_i);
//! let first_message = b"...the IKE_SA_INIT request as sent...";
//! let octets = auth::signed_octets(first_message, &nr, &maced, None);
//! let psk = Secret::from_slice(b"a shared secret");
//! let auth_data = auth::psk_auth(prf, &psk, &octets);
//! // ...travels in the SK payload: aad is the message up to the IV.
//! let aad = b"IKE header | SK payload header";
//! let body = keys.initiator_cipher()?.encrypt(aad, auth_data.as_bytes(), &mut rng)?;
//! let received = keys.initiator_cipher()?.decrypt(aad, &body)?;
//! assert!(auth::verify_psk_auth(prf, &psk, &octets, &received));
//! // The Child SA of IKE_AUTH takes its keys from SK_d and the same nonces.
//! let child = keys.child_keys(EncrAlg::AesGcm16_128, None, &[], &ni, &nr)?;
//! assert_eq!(child.initiator_to_responder.encr_keymat().len(), 20);
//! # Ok::<(), ike::crypto::CryptoError>(())
//! ```

pub mod alg;
pub mod auth;
mod der;
pub mod error;
pub mod ke;
pub mod keys;
pub mod prf;
pub mod random;
mod rsa_raw;
pub mod sa_init;
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
