//! ESP transforms (encryption and integrity algorithms) and their keys.
//!
//! Key material follows the IKEv2 KEYMAT layout: for AES-GCM (RFC 4106) and
//! ChaCha20-Poly1305 (RFC 7634) the encryption key is the cipher key followed
//! by a 4-byte salt; for AES-CBC the encryption and integrity keys are separate.

use std::fmt;

use aws_lc_rs::{aead, cipher, hmac};
use zeroize::Zeroizing;

use crate::error::{EspError, Result};

/// AES key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    /// 128-bit key.
    Aes128,
    /// 256-bit key.
    Aes256,
}

impl AesKeySize {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            AesKeySize::Aes128 => 16,
            AesKeySize::Aes256 => 32,
        }
    }
}

/// The ESP encryption transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// AES-GCM with a 16-byte ICV (RFC 4106, `aes_gcm16`).
    AesGcm16(AesKeySize),
    /// ChaCha20-Poly1305 (RFC 7634).
    ChaCha20Poly1305,
    /// AES-CBC (RFC 3602); needs an [`Integrity`] algorithm.
    AesCbc(AesKeySize),
}

impl Encryption {
    /// Whether this is a combined-mode (AEAD) transform.
    pub fn is_aead(self) -> bool {
        !matches!(self, Encryption::AesCbc(_))
    }

    /// Length of the encryption KEYMAT in bytes (salt included for AEADs).
    pub fn key_len(self) -> usize {
        match self {
            Encryption::AesGcm16(size) => size.key_len() + SALT_LEN,
            Encryption::ChaCha20Poly1305 => 32 + SALT_LEN,
            Encryption::AesCbc(size) => size.key_len(),
        }
    }

    /// Length of the IV carried in each packet.
    pub fn iv_len(self) -> usize {
        match self {
            Encryption::AesGcm16(_) | Encryption::ChaCha20Poly1305 => 8,
            Encryption::AesCbc(_) => 16,
        }
    }

    /// Alignment of payload + padding + 2 trailer bytes.
    pub fn block_len(self) -> usize {
        match self {
            Encryption::AesGcm16(_) | Encryption::ChaCha20Poly1305 => 4,
            Encryption::AesCbc(_) => 16,
        }
    }
}

/// The ESP integrity transform (for non-AEAD encryption).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// HMAC-SHA1-96 (RFC 2404).
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (RFC 4868).
    HmacSha2_256_128,
    /// HMAC-SHA2-384-192 (RFC 4868).
    HmacSha2_384_192,
    /// HMAC-SHA2-512-256 (RFC 4868).
    HmacSha2_512_256,
}

impl Integrity {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha2_256_128 => 32,
            Integrity::HmacSha2_384_192 => 48,
            Integrity::HmacSha2_512_256 => 64,
        }
    }

    /// Length of the truncated ICV in bytes.
    pub fn icv_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 12,
            Integrity::HmacSha2_256_128 => 16,
            Integrity::HmacSha2_384_192 => 24,
            Integrity::HmacSha2_512_256 => 32,
        }
    }

    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            Integrity::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Integrity::HmacSha2_256_128 => hmac::HMAC_SHA256,
            Integrity::HmacSha2_384_192 => hmac::HMAC_SHA384,
            Integrity::HmacSha2_512_256 => hmac::HMAC_SHA512,
        }
    }
}

/// An ESP transform: encryption, plus integrity when the encryption is not an AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    /// The encryption algorithm.
    pub encryption: Encryption,
    /// The integrity algorithm; `None` for AEADs, required otherwise.
    pub integrity: Option<Integrity>,
}

impl Transform {
    /// AES-GCM-16 with a 128- or 256-bit key.
    pub fn aes_gcm16(size: AesKeySize) -> Self {
        Transform {
            encryption: Encryption::AesGcm16(size),
            integrity: None,
        }
    }

    /// ChaCha20-Poly1305.
    pub fn chacha20_poly1305() -> Self {
        Transform {
            encryption: Encryption::ChaCha20Poly1305,
            integrity: None,
        }
    }

    /// AES-CBC with an HMAC integrity algorithm.
    pub fn aes_cbc(size: AesKeySize, integrity: Integrity) -> Self {
        Transform {
            encryption: Encryption::AesCbc(size),
            integrity: Some(integrity),
        }
    }

    /// Checks that the combination is valid.
    pub fn validate(&self) -> Result<()> {
        match (self.encryption.is_aead(), self.integrity) {
            (true, Some(_)) => Err(EspError::InvalidTransform(
                "an AEAD (AES-GCM, ChaCha20-Poly1305) takes no integrity algorithm",
            )),
            (false, None) => Err(EspError::InvalidTransform(
                "AES-CBC needs an integrity algorithm (HMAC-SHA1/SHA2)",
            )),
            _ => Ok(()),
        }
    }

    /// Length of the ICV appended to each packet.
    pub fn icv_len(&self) -> usize {
        match self.integrity {
            Some(i) => i.icv_len(),
            None => AEAD_TAG_LEN,
        }
    }

    /// Bytes ESP adds in front of the payload (header and IV).
    pub fn header_overhead(&self) -> usize {
        ESP_HEADER_LEN + self.encryption.iv_len()
    }

    /// Most bytes ESP adds after the payload (padding, trailer, ICV).
    pub fn max_trailer_overhead(&self) -> usize {
        self.encryption.block_len() - 1 + 2 + self.icv_len()
    }
}

/// Length of the SPI + sequence number header.
pub const ESP_HEADER_LEN: usize = 8;
/// Length of the salt of AES-GCM and ChaCha20-Poly1305.
pub const SALT_LEN: usize = 4;
/// Length of the AEAD tag (ICV) of AES-GCM-16 and ChaCha20-Poly1305.
pub const AEAD_TAG_LEN: usize = 16;

/// Key material of one SA, zeroized on drop, never printed.
#[derive(Clone)]
pub struct SaKeys {
    encryption: Zeroizing<Vec<u8>>,
    integrity: Zeroizing<Vec<u8>>,
}

impl SaKeys {
    /// Key material for an AEAD transform (cipher key followed by the 4-byte salt).
    pub fn aead(keymat: &[u8]) -> Self {
        SaKeys {
            encryption: Zeroizing::new(keymat.to_vec()),
            integrity: Zeroizing::new(Vec::new()),
        }
    }

    /// Key material for a cipher + integrity transform.
    pub fn cipher_integrity(encryption: &[u8], integrity: &[u8]) -> Self {
        SaKeys {
            encryption: Zeroizing::new(encryption.to_vec()),
            integrity: Zeroizing::new(integrity.to_vec()),
        }
    }

    /// The encryption key bytes (salt included for AEADs).
    pub fn encryption(&self) -> &[u8] {
        &self.encryption
    }

    /// The integrity key bytes (empty for AEADs).
    pub fn integrity(&self) -> &[u8] {
        &self.integrity
    }
}

impl fmt::Debug for SaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaKeys")
            .field(
                "encryption",
                &format_args!("<{} bytes redacted>", self.encryption.len()),
            )
            .field(
                "integrity",
                &format_args!("<{} bytes redacted>", self.integrity.len()),
            )
            .finish()
    }
}

/// Keyed crypto state of one SA direction.
pub(crate) enum CipherState {
    Aead {
        key: aead::LessSafeKey,
        salt: [u8; SALT_LEN],
    },
    CbcEncrypt {
        key: cipher::EncryptingKey,
        hmac: hmac::Key,
        icv_len: usize,
    },
    CbcDecrypt {
        key: cipher::DecryptingKey,
        hmac: hmac::Key,
        icv_len: usize,
    },
}

/// Direction an SA's keys are used in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Outbound,
    Inbound,
}

impl CipherState {
    pub(crate) fn new(transform: &Transform, keys: &SaKeys, dir: Direction) -> Result<Self> {
        transform.validate()?;
        let enc = keys.encryption();
        let expected = transform.encryption.key_len();
        if enc.len() != expected {
            return Err(EspError::KeyLength {
                what: "encryption",
                got: enc.len(),
                expected,
            });
        }
        let crypto_err = |_| EspError::InvalidTransform("key rejected by the crypto library");
        match transform.encryption {
            Encryption::AesGcm16(_) | Encryption::ChaCha20Poly1305 => {
                if !keys.integrity().is_empty() {
                    return Err(EspError::KeyLength {
                        what: "integrity",
                        got: keys.integrity().len(),
                        expected: 0,
                    });
                }
                let alg = match transform.encryption {
                    Encryption::AesGcm16(AesKeySize::Aes128) => &aead::AES_128_GCM,
                    Encryption::AesGcm16(AesKeySize::Aes256) => &aead::AES_256_GCM,
                    _ => &aead::CHACHA20_POLY1305,
                };
                let split = enc.len() - SALT_LEN;
                let (k, s) = enc.split_at(split);
                let mut salt = [0u8; SALT_LEN];
                salt.copy_from_slice(s);
                let key =
                    aead::LessSafeKey::new(aead::UnboundKey::new(alg, k).map_err(crypto_err)?);
                Ok(CipherState::Aead { key, salt })
            }
            Encryption::AesCbc(size) => {
                let integ = transform.integrity.ok_or(EspError::InvalidTransform(
                    "AES-CBC needs an integrity algorithm",
                ))?;
                if keys.integrity().len() != integ.key_len() {
                    return Err(EspError::KeyLength {
                        what: "integrity",
                        got: keys.integrity().len(),
                        expected: integ.key_len(),
                    });
                }
                let alg = match size {
                    AesKeySize::Aes128 => &cipher::AES_128,
                    AesKeySize::Aes256 => &cipher::AES_256,
                };
                let unbound = cipher::UnboundCipherKey::new(alg, enc).map_err(crypto_err)?;
                let hmac = hmac::Key::new(integ.hmac_algorithm(), keys.integrity());
                let icv_len = integ.icv_len();
                Ok(match dir {
                    Direction::Outbound => CipherState::CbcEncrypt {
                        key: cipher::EncryptingKey::cbc(unbound).map_err(crypto_err)?,
                        hmac,
                        icv_len,
                    },
                    Direction::Inbound => CipherState::CbcDecrypt {
                        key: cipher::DecryptingKey::cbc(unbound).map_err(crypto_err)?,
                        hmac,
                        icv_len,
                    },
                })
            }
        }
    }
}
