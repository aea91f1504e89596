//! Key exchange methods: MODP (RFC 3526), ECP (RFC 5903), Curve25519
//! (RFC 8031) and ML-KEM-768 (FIPS 203, RFC 9370).
//!
//! The data formats are those of the IKE KE payload's Key Exchange Data:
//! MODP public values big-endian padded to the prime's length; ECP public
//! values x || y, each padded to the field size, without the SEC1 0x04
//! prefix (RFC 5903 7); X25519 the 32-byte u-coordinate (RFC 7748); ML-KEM
//! the encapsulation key (initiator) and ciphertext (responder).
//!
//! Shared secrets: MODP g^ir padded to the prime's length; ECP the x
//! coordinate (RFC 5903 7); X25519 32 bytes; ML-KEM the 32-byte shared
//! key.

mod modp;
mod modp_fixed_base;
mod modp_primes;

use std::fmt;

use aws_lc_rs::{agreement, kem};

use super::alg::KeGroup;
use super::error::CryptoError;
use super::random::Random;
use super::secret::Secret;

enum State {
    Modp(modp::ModpPrivate),
    Ecdh(agreement::PrivateKey),
    MlKem(kem::DecapsulationKey<kem::AlgorithmId>),
}

/// One side's ephemeral key exchange state: a Diffie-Hellman private key,
/// or an ML-KEM decapsulation key.
///
/// The initiator calls [`KeyExchange::generate`], sends the returned bytes
/// in its KE payload, and later calls [`KeyExchange::complete`] with the
/// responder's KE data. A responder can use [`KeyExchange::respond`], which
/// works for every method (for ML-KEM it encapsulates to the initiator's
/// key).
pub struct KeyExchange {
    group: KeGroup,
    state: State,
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

fn ecdh_alg(group: KeGroup) -> Option<&'static agreement::Algorithm> {
    match group {
        KeGroup::Ecp256 => Some(&agreement::ECDH_P256),
        KeGroup::Ecp384 => Some(&agreement::ECDH_P384),
        KeGroup::Ecp521 => Some(&agreement::ECDH_P521),
        KeGroup::Curve25519 => Some(&agreement::X25519),
        _ => None,
    }
}

/// The private key length aws-lc-rs expects for an ECDH/X25519 key.
fn ecdh_private_len(group: KeGroup) -> usize {
    match group {
        KeGroup::Ecp384 => 48,
        KeGroup::Ecp521 => 66,
        _ => 32,
    }
}

impl KeyExchange {
    /// Generates an ephemeral key for `group` and returns the state with
    /// this side's Key Exchange Data (for ML-KEM, the encapsulation key).
    ///
    /// Diffie-Hellman private keys come from `rng`, so a deterministic
    /// [`Random`] gives deterministic keys. ML-KEM key
    /// generation uses AWS-LC's own generator (aws-lc-rs takes no seed),
    /// so its output is random even in tests.
    pub fn generate(group: KeGroup, rng: &mut dyn Random) -> Result<(Self, Vec<u8>), CryptoError> {
        match group {
            KeGroup::Modp2048 | KeGroup::Modp3072 | KeGroup::Modp4096 => {
                let (private, public) = modp::generate(group, rng)?;
                Ok((
                    KeyExchange {
                        group,
                        state: State::Modp(private),
                    },
                    public,
                ))
            }
            KeGroup::Ecp256 | KeGroup::Ecp384 | KeGroup::Ecp521 | KeGroup::Curve25519 => {
                let alg = ecdh_alg(group).ok_or(CryptoError::Internal("no ECDH algorithm"))?;
                let private = ecdh_private_key(group, alg, rng)?;
                let public =
                    private
                        .compute_public_key()
                        .map_err(|_| CryptoError::KeyExchangeFailed {
                            group,
                            reason: "computing the public key",
                        })?;
                let bytes = public.as_ref();
                let ke_data = if group == KeGroup::Curve25519 {
                    bytes.to_vec()
                } else {
                    // SEC1 uncompressed point 0x04 || x || y; IKE sends x || y.
                    bytes.get(1..).map(<[u8]>::to_vec).unwrap_or_default()
                };
                if ke_data.len() != group.initiator_public_len() {
                    return Err(CryptoError::KeyExchangeFailed {
                        group,
                        reason: "unexpected public key length",
                    });
                }
                Ok((
                    KeyExchange {
                        group,
                        state: State::Ecdh(private),
                    },
                    ke_data,
                ))
            }
            KeGroup::MlKem768 => {
                let dk = kem::DecapsulationKey::generate(&kem::ML_KEM_768).map_err(|_| {
                    CryptoError::KeyExchangeFailed {
                        group,
                        reason: "generating the decapsulation key",
                    }
                })?;
                let ek = dk
                    .encapsulation_key()
                    .and_then(|ek| ek.key_bytes().map(|b| b.as_ref().to_vec()))
                    .map_err(|_| CryptoError::KeyExchangeFailed {
                        group,
                        reason: "serializing the encapsulation key",
                    })?;
                Ok((
                    KeyExchange {
                        group,
                        state: State::MlKem(dk),
                    },
                    ek,
                ))
            }
        }
    }

    /// The key exchange method.
    pub fn group(&self) -> KeGroup {
        self.group
    }

    /// Checks the peer's Key Exchange Data and computes the shared secret.
    /// For ML-KEM, `peer` is the responder's ciphertext, which is
    /// decapsulated.
    ///
    /// Checks: the length; MODP 1 < y < p-1 (RFC 7296 2.12, RFC 8247);
    /// ECP the point is on the curve (RFC 5903, done by AWS-LC); X25519 a
    /// non-zero result (RFC 7748 6.1); ML-KEM the ciphertext length
    /// (FIPS 203 implicit rejection covers the rest).
    pub fn complete(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        let group = self.group;
        match &self.state {
            State::Modp(private) => modp::complete(group, private, peer),
            State::Ecdh(private) => ecdh_complete(group, private, peer),
            State::MlKem(dk) => {
                if peer.len() != group.responder_public_len() {
                    return Err(CryptoError::InvalidPublicValue {
                        group,
                        reason: "wrong ciphertext length",
                    });
                }
                let ss = dk.decapsulate(kem::Ciphertext::from(peer)).map_err(|_| {
                    CryptoError::KeyExchangeFailed {
                        group,
                        reason: "decapsulation",
                    }
                })?;
                Ok(Secret::from_slice(ss.as_ref()))
            }
        }
    }

    /// ML-KEM initiator: decapsulates the responder's ciphertext. The same
    /// as [`KeyExchange::complete`], but refuses Diffie-Hellman groups.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<Secret, CryptoError> {
        if !self.group.is_kem() {
            return Err(CryptoError::WrongKeyExchangeKind {
                group: self.group,
                operation: "decapsulation",
            });
        }
        self.complete(ciphertext)
    }

    /// ML-KEM responder: encapsulates to the initiator's encapsulation key
    /// and returns (ciphertext, shared secret). Refuses Diffie-Hellman
    /// groups.
    pub fn encapsulate(group: KeGroup, peer_ek: &[u8]) -> Result<(Vec<u8>, Secret), CryptoError> {
        if !group.is_kem() {
            return Err(CryptoError::WrongKeyExchangeKind {
                group,
                operation: "encapsulation",
            });
        }
        if peer_ek.len() != group.initiator_public_len() {
            return Err(CryptoError::InvalidPublicValue {
                group,
                reason: "wrong encapsulation key length",
            });
        }
        let ek = kem::EncapsulationKey::new(&kem::ML_KEM_768, peer_ek).map_err(|_| {
            CryptoError::InvalidPublicValue {
                group,
                reason: "invalid encapsulation key",
            }
        })?;
        let (ct, ss) = ek
            .encapsulate()
            .map_err(|_| CryptoError::KeyExchangeFailed {
                group,
                reason: "encapsulation",
            })?;
        Ok((ct.as_ref().to_vec(), Secret::from_slice(ss.as_ref())))
    }

    /// The responder's side in one step, for every method: returns this
    /// side's Key Exchange Data and the shared secret. Diffie-Hellman
    /// generates a key pair with `rng` and completes with the initiator's
    /// public value; ML-KEM encapsulates to the initiator's key.
    pub fn respond(
        group: KeGroup,
        peer_public: &[u8],
        rng: &mut dyn Random,
    ) -> Result<(Vec<u8>, Secret), CryptoError> {
        if group.is_kem() {
            return Self::encapsulate(group, peer_public);
        }
        let (state, public) = Self::generate(group, rng)?;
        let shared = state.complete(peer_public)?;
        Ok((public, shared))
    }
}

fn ecdh_private_key(
    group: KeGroup,
    alg: &'static agreement::Algorithm,
    rng: &mut dyn Random,
) -> Result<agreement::PrivateKey, CryptoError> {
    // A scalar of zero or at least the group order is rejected by AWS-LC;
    // for these curves that happens with probability below 2^-32 per draw.
    for _ in 0..16 {
        let mut scalar = Secret::new(vec![0u8; ecdh_private_len(group)]);
        rng.fill(scalar.as_bytes_mut());
        if group == KeGroup::Ecp521 {
            // P-521 scalars have 521 bits: the top byte holds one bit.
            if let Some(first) = scalar.as_bytes_mut().first_mut() {
                *first &= 0x01;
            }
        }
        if let Ok(k) = agreement::PrivateKey::from_private_key(alg, scalar.as_bytes()) {
            return Ok(k);
        }
    }
    Err(CryptoError::KeyExchangeFailed {
        group,
        reason: "no valid private key from the random source",
    })
}

fn ecdh_complete(
    group: KeGroup,
    private: &agreement::PrivateKey,
    peer: &[u8],
) -> Result<Secret, CryptoError> {
    if peer.len() != group.initiator_public_len() {
        return Err(CryptoError::InvalidPublicValue {
            group,
            reason: "wrong length",
        });
    }
    let alg = ecdh_alg(group).ok_or(CryptoError::Internal("no ECDH algorithm"))?;
    let encoded: Vec<u8> = if group == KeGroup::Curve25519 {
        peer.to_vec()
    } else {
        let mut v = Vec::with_capacity(peer.len() + 1);
        v.push(0x04);
        v.extend_from_slice(peer);
        v
    };
    let peer_key = agreement::UnparsedPublicKey::new(alg, &encoded);
    let shared = agreement::agree(
        private,
        peer_key,
        CryptoError::InvalidPublicValue {
            group,
            reason: if group == KeGroup::Curve25519 {
                "rejected by X25519 (low-order point)"
            } else {
                "not a point on the curve"
            },
        },
        |s| Ok(Secret::from_slice(s)),
    )?;
    if group == KeGroup::Curve25519 {
        // RFC 7748 6.1: an all-zero output means a low-order input point.
        let acc = shared.as_bytes().iter().fold(0u8, |a, b| a | b);
        if acc == 0 {
            return Err(CryptoError::InvalidPublicValue {
                group,
                reason: "all-zero X25519 shared secret",
            });
        }
    }
    if shared.len() != group.shared_secret_len() {
        return Err(CryptoError::KeyExchangeFailed {
            group,
            reason: "unexpected shared secret length",
        });
    }
    Ok(shared)
}
