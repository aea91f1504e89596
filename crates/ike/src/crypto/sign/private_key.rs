//! Private keys: loading, generation, export and signing.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

use super::{rejected, KeyType, LegacyAuthMethod, PublicKey, SignatureScheme};
use crate::crypto::der::{self, Reader, OCTET_STRING, SEQUENCE};
use crate::crypto::error::CryptoError;
use crate::crypto::rsa_raw;
use crate::crypto::secret::Secret;

enum PrivateInner {
    Rsa {
        pair: RsaKeyPair,
        /// PKCS#1 RSAPrivateKey, for the legacy SHA-1 method.
        rsa_private_key: Secret,
    },
    Ecdsa {
        key_type: KeyType,
        asn1: EcdsaKeyPair,
        fixed: EcdsaKeyPair,
    },
    Ed25519(Ed25519KeyPair),
}

/// A private key for signing AUTH payloads. Debug shows only the type.
pub struct PrivateKey {
    inner: PrivateInner,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type())
            .finish_non_exhaustive()
    }
}

/// Extracts the RSAPrivateKey from an RSA PKCS#8 PrivateKeyInfo.
fn pkcs8_rsa_private_key(pkcs8: &[u8]) -> Result<Secret, CryptoError> {
    let mut outer = Reader::new(pkcs8);
    let mut info = Reader::new(outer.read(SEQUENCE)?);
    let _version = info.read_unsigned()?;
    let _alg = info.read(SEQUENCE)?;
    Ok(Secret::from_slice(info.read(OCTET_STRING)?))
}

impl PrivateKey {
    /// A PKCS#8 PrivateKeyInfo (RSA, ECDSA P-256/384/521 or Ed25519).
    pub fn from_pkcs8_der(der_bytes: &[u8]) -> Result<PrivateKey, CryptoError> {
        if let Ok(pair) = RsaKeyPair::from_pkcs8(der_bytes) {
            let rsa_private_key = pkcs8_rsa_private_key(der_bytes)?;
            return Ok(PrivateKey {
                inner: PrivateInner::Rsa {
                    pair,
                    rsa_private_key,
                },
            });
        }
        for key_type in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::EcdsaP521] {
            if let Some((asn1_alg, fixed_alg)) = key_type.ecdsa_signing() {
                if let (Ok(asn1), Ok(fixed)) = (
                    EcdsaKeyPair::from_pkcs8(asn1_alg, der_bytes),
                    EcdsaKeyPair::from_pkcs8(fixed_alg, der_bytes),
                ) {
                    return Ok(PrivateKey {
                        inner: PrivateInner::Ecdsa {
                            key_type,
                            asn1,
                            fixed,
                        },
                    });
                }
            }
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der_bytes) {
            return Ok(PrivateKey {
                inner: PrivateInner::Ed25519(pair),
            });
        }
        Err(rejected(
            "not an unencrypted PKCS#8 RSA, ECDSA (P-256/384/521) or Ed25519 private key",
        ))
    }

    /// DER in any supported form: PKCS#8, PKCS#1 RSAPrivateKey, or SEC1
    /// ECPrivateKey (with the curve named inside).
    pub fn from_der(der_bytes: &[u8]) -> Result<PrivateKey, CryptoError> {
        if let Ok(k) = Self::from_pkcs8_der(der_bytes) {
            return Ok(k);
        }
        if let Ok(pair) = RsaKeyPair::from_der(der_bytes) {
            return Ok(PrivateKey {
                inner: PrivateInner::Rsa {
                    pair,
                    rsa_private_key: Secret::from_slice(der_bytes),
                },
            });
        }
        for key_type in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::EcdsaP521] {
            if let Some((asn1_alg, fixed_alg)) = key_type.ecdsa_signing() {
                if let (Ok(asn1), Ok(fixed)) = (
                    EcdsaKeyPair::from_private_key_der(asn1_alg, der_bytes),
                    EcdsaKeyPair::from_private_key_der(fixed_alg, der_bytes),
                ) {
                    return Ok(PrivateKey {
                        inner: PrivateInner::Ecdsa {
                            key_type,
                            asn1,
                            fixed,
                        },
                    });
                }
            }
        }
        Err(rejected(
            "not a PKCS#8, PKCS#1 or SEC1 private key of a supported type",
        ))
    }

    /// PEM: "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY" (PKCS#1) or "EC
    /// PRIVATE KEY" (SEC1). Encrypted keys are not supported.
    pub fn from_pem(text: &str) -> Result<PrivateKey, CryptoError> {
        let (label, der_bytes) = der::pem_decode(text)?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(der_bytes.as_bytes()),
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => Self::from_der(der_bytes.as_bytes()),
            "ENCRYPTED PRIVATE KEY" => Err(CryptoError::Unsupported("encrypted PKCS#8 keys")),
            _ => Err(CryptoError::KeyRejected(format!(
                "PEM block \"{label}\" is not a private key"
            ))),
        }
    }

    /// A new random key: RSA 3072 bits, or the given curve. For tests and
    /// for generating host keys.
    pub fn generate(key_type: KeyType) -> Result<PrivateKey, CryptoError> {
        match key_type {
            KeyType::Rsa => Self::generate_rsa(3072),
            KeyType::Ed25519 => {
                let pair = Ed25519KeyPair::generate()
                    .map_err(|_| CryptoError::Internal("Ed25519 key generation"))?;
                Ok(PrivateKey {
                    inner: PrivateInner::Ed25519(pair),
                })
            }
            ecdsa => {
                let (alg, _) = ecdsa
                    .ecdsa_signing()
                    .ok_or(CryptoError::Internal("not an ECDSA key type"))?;
                let pair = EcdsaKeyPair::generate(alg)
                    .map_err(|_| CryptoError::Internal("ECDSA key generation"))?;
                let pkcs8 = pair
                    .to_pkcs8v1()
                    .map_err(|_| CryptoError::Internal("ECDSA key export"))?;
                Self::from_pkcs8_der(pkcs8.as_ref())
            }
        }
    }

    /// A new random RSA key of 2048, 3072 or 4096 bits.
    pub fn generate_rsa(bits: usize) -> Result<PrivateKey, CryptoError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(CryptoError::Unsupported(
                    "RSA key sizes other than 2048, 3072, 4096",
                ))
            }
        };
        let pair =
            RsaKeyPair::generate(size).map_err(|_| CryptoError::Internal("RSA key generation"))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| CryptoError::Internal("RSA key export"))?;
        let rsa_private_key = pkcs8_rsa_private_key(pkcs8.as_ref())?;
        Ok(PrivateKey {
            inner: PrivateInner::Rsa {
                pair,
                rsa_private_key,
            },
        })
    }

    /// The key as PKCS#8 PrivateKeyInfo DER.
    pub fn to_pkcs8_der(&self) -> Result<Secret, CryptoError> {
        let der_bytes = match &self.inner {
            PrivateInner::Rsa { pair, .. } => pair.as_der().map(|d| d.as_ref().to_vec()),
            PrivateInner::Ecdsa { asn1, .. } => asn1.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            PrivateInner::Ed25519(pair) => {
                AsDer::<Pkcs8V1Der>::as_der(pair).map(|d| d.as_ref().to_vec())
            }
        }
        .map_err(|_| CryptoError::Internal("private key export"))?;
        Ok(Secret::new(der_bytes))
    }

    /// The key as a PEM "PRIVATE KEY" block.
    pub fn to_pkcs8_pem(&self) -> Result<Secret, CryptoError> {
        let der_bytes = self.to_pkcs8_der()?;
        Ok(Secret::new(
            der::pem_encode("PRIVATE KEY", der_bytes.as_bytes()).into_bytes(),
        ))
    }

    /// The kind of key.
    pub fn key_type(&self) -> KeyType {
        match &self.inner {
            PrivateInner::Rsa { .. } => KeyType::Rsa,
            PrivateInner::Ecdsa { key_type, .. } => *key_type,
            PrivateInner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, CryptoError> {
        match &self.inner {
            PrivateInner::Rsa { pair, .. } => PublicKey::from_pkcs1_der(pair.public_key().as_ref()),
            PrivateInner::Ecdsa { key_type, asn1, .. } => {
                PublicKey::from_ec_point(*key_type, asn1.public_key().as_ref())
            }
            PrivateInner::Ed25519(pair) => PublicKey::from_ed25519(pair.public_key().as_ref()),
        }
    }

    /// Signs `data` (the SignedOctets) with an RFC 7427 scheme and returns
    /// the Signature Value (for ECDSA a DER ECDSA-Sig-Value). Wrap it with
    /// [`encode_digital_signature`](super::encode_digital_signature) for the AUTH payload.
    pub fn sign(&self, scheme: SignatureScheme, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mismatch = || {
            CryptoError::KeyRejected(format!(
                "a {:?} key cannot sign with {}",
                self.key_type(),
                scheme.name()
            ))
        };
        match &self.inner {
            PrivateInner::Rsa { pair, .. } => {
                let encoding: &'static dyn sig::RsaEncoding = match scheme {
                    SignatureScheme::RsaPkcs1Sha256 => &sig::RSA_PKCS1_SHA256,
                    SignatureScheme::RsaPkcs1Sha384 => &sig::RSA_PKCS1_SHA384,
                    SignatureScheme::RsaPkcs1Sha512 => &sig::RSA_PKCS1_SHA512,
                    SignatureScheme::RsaPssSha256 => &sig::RSA_PSS_SHA256,
                    SignatureScheme::RsaPssSha384 => &sig::RSA_PSS_SHA384,
                    SignatureScheme::RsaPssSha512 => &sig::RSA_PSS_SHA512,
                    _ => return Err(mismatch()),
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    encoding,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    data,
                    &mut out,
                )
                .map_err(|_| CryptoError::Internal("RSA signing failed"))?;
                Ok(out)
            }
            PrivateInner::Ecdsa { key_type, asn1, .. } => {
                // aws-lc-rs signs P-256 only with SHA-256 and P-384 only
                // with SHA-384: the key's own scheme.
                if !key_type.schemes().contains(&scheme) {
                    return Err(mismatch());
                }
                let s = asn1
                    .sign(&aws_lc_rs::rand::SystemRandom::new(), data)
                    .map_err(|_| CryptoError::Internal("ECDSA signing failed"))?;
                Ok(s.as_ref().to_vec())
            }
            PrivateInner::Ed25519(pair) => {
                if scheme != SignatureScheme::Ed25519 {
                    return Err(mismatch());
                }
                Ok(pair.sign(data).as_ref().to_vec())
            }
        }
    }

    /// Signs `data` for a legacy auth method (1, 9, 10 or 11). The key
    /// must be of the method's type.
    pub fn sign_legacy(
        &self,
        method: LegacyAuthMethod,
        data: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if LegacyAuthMethod::for_key(self.key_type()) != Some(method) {
            return Err(CryptoError::KeyRejected(format!(
                "a {:?} key cannot sign for auth method {}",
                self.key_type(),
                method.auth_method()
            )));
        }
        match &self.inner {
            PrivateInner::Rsa {
                rsa_private_key, ..
            } => {
                let s = rsa_raw::sign_pkcs1_sha1(rsa_private_key, data)?;
                // Never send a faulty signature (it could leak the key).
                self.public_key()?
                    .verify_legacy(method, data, &s)
                    .map_err(|_| CryptoError::Internal("RSA signature self-check failed"))?;
                Ok(s)
            }
            PrivateInner::Ecdsa { fixed, .. } => {
                let s = fixed
                    .sign(&aws_lc_rs::rand::SystemRandom::new(), data)
                    .map_err(|_| CryptoError::Internal("ECDSA signing failed"))?;
                Ok(s.as_ref().to_vec())
            }
            PrivateInner::Ed25519(_) => Err(CryptoError::Internal("no legacy method for Ed25519")),
        }
    }
}
