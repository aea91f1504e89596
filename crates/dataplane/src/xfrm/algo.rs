//! ESP transforms as the kernel names them, and the keys that go with them.

use std::fmt;

use zeroize::Zeroizing;

use super::error::{Result, XfrmError};
use super::wire::*;

/// Key material for an SA; zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Zeroizing<Vec<u8>>);

impl SecretKey {
    /// Wraps key bytes (copies them; zeroize your own copy).
    pub fn new(bytes: &[u8]) -> SecretKey {
        SecretKey(Zeroizing::new(bytes.to_vec()))
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True for an empty key (e.g. the null cipher).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes redacted>)", self.0.len())
    }
}

/// AEAD transforms (`XFRMA_ALG_AEAD`). Keys include the 4-byte salt (RFC 4106, RFC 7634).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// AES-GCM with a 16-byte ICV (`rfc4106(gcm(aes))`, 128); key 16/24/32 + 4 bytes.
    AesGcm16,
    /// AES-GCM with a 12-byte ICV; key 16/24/32 + 4 bytes.
    AesGcm12,
    /// AES-GCM with an 8-byte ICV; key 16/24/32 + 4 bytes.
    AesGcm8,
    /// ChaCha20-Poly1305 (`rfc7539esp(chacha20,poly1305)`); key 32 + 4 bytes.
    ChaCha20Poly1305,
}

impl AeadAlgorithm {
    /// The kernel's crypto API name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            AeadAlgorithm::AesGcm16 | AeadAlgorithm::AesGcm12 | AeadAlgorithm::AesGcm8 => {
                "rfc4106(gcm(aes))"
            }
            AeadAlgorithm::ChaCha20Poly1305 => "rfc7539esp(chacha20,poly1305)",
        }
    }
    /// The ICV length in bits.
    pub fn icv_bits(self) -> u32 {
        match self {
            AeadAlgorithm::AesGcm16 | AeadAlgorithm::ChaCha20Poly1305 => 128,
            AeadAlgorithm::AesGcm12 => 96,
            AeadAlgorithm::AesGcm8 => 64,
        }
    }
    fn key_lens(self) -> &'static [usize] {
        match self {
            AeadAlgorithm::ChaCha20Poly1305 => &[36],
            _ => &[20, 28, 36],
        }
    }
}

/// Encryption transforms used with a separate integrity algorithm (`XFRMA_ALG_CRYPT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherAlgorithm {
    /// AES-CBC (`cbc(aes)`); key 16/24/32 bytes.
    AesCbc,
    /// AES-CTR (`rfc3686(ctr(aes))`); key 16/24/32 + 4-byte nonce.
    AesCtr,
    /// 3DES-CBC (`cbc(des3_ede)`); key 24 bytes.
    TripleDesCbc,
    /// ESP without encryption (`ecb(cipher_null)`, RFC 2410); empty key.
    Null,
}

impl CipherAlgorithm {
    /// The kernel's crypto API name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            CipherAlgorithm::AesCbc => "cbc(aes)",
            CipherAlgorithm::AesCtr => "rfc3686(ctr(aes))",
            CipherAlgorithm::TripleDesCbc => "cbc(des3_ede)",
            CipherAlgorithm::Null => "ecb(cipher_null)",
        }
    }
    fn key_lens(self) -> &'static [usize] {
        match self {
            CipherAlgorithm::AesCbc => &[16, 24, 32],
            CipherAlgorithm::AesCtr => &[20, 28, 36],
            CipherAlgorithm::TripleDesCbc => &[24],
            CipherAlgorithm::Null => &[0],
        }
    }
}

/// Integrity transforms (`XFRMA_ALG_AUTH_TRUNC`) with their ICV truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrityAlgorithm {
    /// HMAC-SHA1-96 (`hmac(sha1)`, 96 bits); key 20 bytes.
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (`hmac(sha256)`, 128 bits, RFC 4868); key 32 bytes.
    HmacSha256_128,
    /// HMAC-SHA2-384-192 (`hmac(sha384)`, 192 bits); key 48 bytes.
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (`hmac(sha512)`, 256 bits); key 64 bytes.
    HmacSha512_256,
    /// AES-XCBC-MAC-96 (`xcbc(aes)`, 96 bits); key 16 bytes.
    AesXcbc96,
}

impl IntegrityAlgorithm {
    /// The kernel's crypto API name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            IntegrityAlgorithm::HmacSha1_96 => "hmac(sha1)",
            IntegrityAlgorithm::HmacSha256_128 => "hmac(sha256)",
            IntegrityAlgorithm::HmacSha384_192 => "hmac(sha384)",
            IntegrityAlgorithm::HmacSha512_256 => "hmac(sha512)",
            IntegrityAlgorithm::AesXcbc96 => "xcbc(aes)",
        }
    }
    /// The truncated ICV length in bits.
    pub fn trunc_bits(self) -> u32 {
        match self {
            IntegrityAlgorithm::HmacSha1_96 | IntegrityAlgorithm::AesXcbc96 => 96,
            IntegrityAlgorithm::HmacSha256_128 => 128,
            IntegrityAlgorithm::HmacSha384_192 => 192,
            IntegrityAlgorithm::HmacSha512_256 => 256,
        }
    }
    fn key_len(self) -> usize {
        match self {
            IntegrityAlgorithm::HmacSha1_96 => 20,
            IntegrityAlgorithm::HmacSha256_128 => 32,
            IntegrityAlgorithm::HmacSha384_192 => 48,
            IntegrityAlgorithm::HmacSha512_256 => 64,
            IntegrityAlgorithm::AesXcbc96 => 16,
        }
    }
}

/// The transforms and keys of one SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaCrypto {
    /// A combined-mode (AEAD) transform.
    Aead {
        /// The algorithm.
        algorithm: AeadAlgorithm,
        /// Key including the salt.
        key: SecretKey,
    },
    /// Encryption plus a separate integrity transform.
    CipherAuth {
        /// The encryption algorithm.
        cipher: CipherAlgorithm,
        /// The encryption key.
        cipher_key: SecretKey,
        /// The integrity algorithm.
        integrity: IntegrityAlgorithm,
        /// The integrity key.
        integrity_key: SecretKey,
    },
}

impl SaCrypto {
    /// Checks the key lengths against the algorithms.
    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            SaCrypto::Aead { algorithm, key } => {
                check_len(algorithm.kernel_name(), key, algorithm.key_lens())
            }
            SaCrypto::CipherAuth {
                cipher,
                cipher_key,
                integrity,
                integrity_key,
            } => {
                check_len(cipher.kernel_name(), cipher_key, cipher.key_lens())?;
                check_len(
                    integrity.kernel_name(),
                    integrity_key,
                    &[integrity.key_len()],
                )
            }
        }
    }

    /// Appends the algorithm attributes to an SA message.
    pub(crate) fn encode(&self, m: &mut MsgBuilder) {
        match self {
            SaCrypto::Aead { algorithm, key } => {
                // struct xfrm_algo_aead: name[64], key_len (bits), icv_len (bits), key
                let mut b = Zeroizing::new(vec![0u8; ALGO_NAME_LEN + 8 + key.len()]);
                put_bytes(&mut b, 0, algorithm.kernel_name().as_bytes());
                put_u32(&mut b, ALGO_NAME_LEN, (key.len() * 8) as u32);
                put_u32(&mut b, ALGO_NAME_LEN + 4, algorithm.icv_bits());
                put_bytes(&mut b, ALGO_NAME_LEN + 8, key.bytes());
                m.attr(XFRMA_ALG_AEAD, &b);
            }
            SaCrypto::CipherAuth {
                cipher,
                cipher_key,
                integrity,
                integrity_key,
            } => {
                // struct xfrm_algo: name[64], key_len (bits), key
                let mut c = Zeroizing::new(vec![0u8; ALGO_NAME_LEN + 4 + cipher_key.len()]);
                put_bytes(&mut c, 0, cipher.kernel_name().as_bytes());
                put_u32(&mut c, ALGO_NAME_LEN, (cipher_key.len() * 8) as u32);
                put_bytes(&mut c, ALGO_NAME_LEN + 4, cipher_key.bytes());
                m.attr(XFRMA_ALG_CRYPT, &c);
                // struct xfrm_algo_auth: name[64], key_len, trunc_len (bits), key
                let mut a = Zeroizing::new(vec![0u8; ALGO_NAME_LEN + 8 + integrity_key.len()]);
                put_bytes(&mut a, 0, integrity.kernel_name().as_bytes());
                put_u32(&mut a, ALGO_NAME_LEN, (integrity_key.len() * 8) as u32);
                put_u32(&mut a, ALGO_NAME_LEN + 4, integrity.trunc_bits());
                put_bytes(&mut a, ALGO_NAME_LEN + 8, integrity_key.bytes());
                m.attr(XFRMA_ALG_AUTH_TRUNC, &a);
            }
        }
    }
}

fn check_len(name: &str, key: &SecretKey, allowed: &[usize]) -> Result<()> {
    if allowed.contains(&key.len()) {
        return Ok(());
    }
    Err(XfrmError::Invalid {
        what: "key",
        detail: format!(
            "{name} takes a key of {allowed:?} bytes, got {} bytes",
            key.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths_are_checked_and_keys_never_printed() {
        let ok = SaCrypto::Aead {
            algorithm: AeadAlgorithm::AesGcm16,
            key: SecretKey::new(&[7u8; 20]),
        };
        assert!(ok.validate().is_ok());
        let bad = SaCrypto::CipherAuth {
            cipher: CipherAlgorithm::AesCbc,
            cipher_key: SecretKey::new(&[7u8; 16]),
            integrity: IntegrityAlgorithm::HmacSha256_128,
            integrity_key: SecretKey::new(&[7u8; 20]),
        };
        let e = bad.validate().expect_err("20-byte key for hmac(sha256)");
        assert!(e.to_string().contains("hmac(sha256)"), "{e}");
        let dbg = format!("{ok:?}");
        assert!(dbg.contains("redacted") && !dbg.contains("7, 7"), "{dbg}");
    }

    #[test]
    fn aead_attribute_layout() {
        let c = SaCrypto::Aead {
            algorithm: AeadAlgorithm::ChaCha20Poly1305,
            key: SecretKey::new(&[0xab; 36]),
        };
        let mut m = MsgBuilder::new(XFRM_MSG_NEWSA, 0);
        c.encode(&mut m);
        let b = m.finish(1);
        let a = attrs(b.get(NLMSG_HDRLEN..).unwrap_or(&[]));
        assert_eq!(a.len(), 1);
        let (kind, v) = a[0];
        assert_eq!(kind, XFRMA_ALG_AEAD);
        assert_eq!(
            get_cstr(v, 0, ALGO_NAME_LEN).as_deref(),
            Some("rfc7539esp(chacha20,poly1305)")
        );
        assert_eq!(get_u32(v, 64), Some(288));
        assert_eq!(get_u32(v, 68), Some(128));
        assert_eq!(v.len(), 72 + 36);
    }
}
