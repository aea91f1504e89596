//! Public keys (from SubjectPublicKeyInfo) and signature verification through aws-lc-rs.

use std::fmt;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey as X509PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{PkiError, Result};

/// OID of rsaEncryption.
pub(crate) const OID_RSA: &str = "1.2.840.113549.1.1.1";
/// OID of id-RSASSA-PSS (also used as a key type).
pub(crate) const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
/// OID of id-ecPublicKey.
pub(crate) const OID_EC: &str = "1.2.840.10045.2.1";
/// OID of id-Ed25519.
pub(crate) const OID_ED25519: &str = "1.3.101.112";

/// A hash function used with a signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    /// SHA-1 (legacy).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The hash's output length in bytes.
    pub fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// Always false: a hash has a non-zero length.
    pub fn is_empty(self) -> bool {
        false
    }

    pub(crate) fn from_oid(oid: &str) -> Option<Hash> {
        match oid {
            "1.3.14.3.2.26" => Some(Hash::Sha1),
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }

    pub(crate) fn oid(self) -> &'static str {
        match self {
            Hash::Sha1 => "1.3.14.3.2.26",
            Hash::Sha256 => "2.16.840.1.101.3.4.2.1",
            Hash::Sha384 => "2.16.840.1.101.3.4.2.2",
            Hash::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }

    /// Computes the digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Hash::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &aws_lc_rs::digest::SHA256,
            Hash::Sha384 => &aws_lc_rs::digest::SHA384,
            Hash::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
    }
}

/// A signature scheme: what a certificate, CRL or OCSP response was signed
/// with, and what IKEv2 (RFC 7427) signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with a hash.
    RsaPkcs1(Hash),
    /// RSASSA-PSS with a hash, MGF1 with the same hash and a salt as long as the hash.
    RsaPss(Hash),
    /// ECDSA with a hash, signature as a DER `ECDSA-Sig-Value` (RFC 7427).
    Ecdsa(Hash),
    /// ECDSA with a hash, signature as fixed-length `r || s` (IKEv2 auth methods 9-11).
    EcdsaFixed(Hash),
    /// Ed25519 (pure).
    Ed25519,
}

impl SignatureScheme {
    /// Reads an AlgorithmIdentifier of a signature (certificate, CRL, OCSP).
    pub(crate) fn from_algorithm(
        alg: &x509_parser::x509::AlgorithmIdentifier<'_>,
    ) -> Result<SignatureScheme> {
        let oid = alg.algorithm.to_id_string();
        let unsupported = || PkiError::Unsupported {
            what: "signature algorithm",
            detail: oid.clone(),
        };
        Ok(match oid.as_str() {
            "1.2.840.113549.1.1.5" => SignatureScheme::RsaPkcs1(Hash::Sha1),
            "1.2.840.113549.1.1.11" => SignatureScheme::RsaPkcs1(Hash::Sha256),
            "1.2.840.113549.1.1.12" => SignatureScheme::RsaPkcs1(Hash::Sha384),
            "1.2.840.113549.1.1.13" => SignatureScheme::RsaPkcs1(Hash::Sha512),
            "1.2.840.10045.4.1" => SignatureScheme::Ecdsa(Hash::Sha1),
            "1.2.840.10045.4.3.2" => SignatureScheme::Ecdsa(Hash::Sha256),
            "1.2.840.10045.4.3.3" => SignatureScheme::Ecdsa(Hash::Sha384),
            "1.2.840.10045.4.3.4" => SignatureScheme::Ecdsa(Hash::Sha512),
            OID_ED25519 => SignatureScheme::Ed25519,
            OID_RSA_PSS => {
                use x509_parser::signature_algorithm::SignatureAlgorithm as SA;
                match SA::try_from(alg) {
                    Ok(SA::RSASSA_PSS(params)) => {
                        let hash = Hash::from_oid(&params.hash_algorithm_oid().to_id_string())
                            .ok_or_else(unsupported)?;
                        let mgf_ok = params
                            .mask_gen_algorithm()
                            .map(|m| m.hash.to_id_string() == hash.oid())
                            .unwrap_or(hash == Hash::Sha1);
                        if !mgf_ok || params.salt_length() as usize != hash.len() {
                            return Err(PkiError::Unsupported {
                                what: "RSASSA-PSS parameters",
                                detail: format!(
                                    "{hash:?} with salt length {} (only MGF1 with the same hash and a salt of the hash length)",
                                    params.salt_length()
                                ),
                            });
                        }
                        SignatureScheme::RsaPss(hash)
                    }
                    _ => return Err(unsupported()),
                }
            }
            _ => return Err(unsupported()),
        })
    }
}

/// The elliptic curves ferroswan verifies and signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    pub(crate) fn from_oid(oid: &str) -> Option<Curve> {
        match oid {
            "1.2.840.10045.3.1.7" => Some(Curve::P256),
            "1.3.132.0.34" => Some(Curve::P384),
            "1.3.132.0.35" => Some(Curve::P521),
            _ => None,
        }
    }

    /// The curve's OID.
    pub fn oid(self) -> &'static str {
        match self {
            Curve::P256 => "1.2.840.10045.3.1.7",
            Curve::P384 => "1.3.132.0.34",
            Curve::P521 => "1.3.132.0.35",
        }
    }

    /// The curve's size in bits.
    pub fn bits(self) -> usize {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }
}

/// The type of a public or private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA of a modulus size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on a curve.
    Ecdsa(Curve),
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Size of the key in bits (modulus size, curve size, or 256 for Ed25519).
    pub fn bits(self) -> usize {
        match self {
            KeyType::Rsa { bits } => bits,
            KeyType::Ecdsa(c) => c.bits(),
            KeyType::Ed25519 => 256,
        }
    }

    /// Libreswan's name of the key type: `RSA`, `ECDSA` or `EDDSA`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa { .. } => "RSA",
            KeyType::Ecdsa(_) => "ECDSA",
            KeyType::Ed25519 => "EDDSA",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Rsa { bits } => write!(f, "{bits} bit RSA"),
            KeyType::Ecdsa(c) => write!(f, "{} bit ECDSA", c.bits()),
            KeyType::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// A public key with its SubjectPublicKeyInfo encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    spki: Vec<u8>,
    key_type: KeyType,
    /// The subjectPublicKey bits: RSAPublicKey DER, EC point, or Ed25519 key.
    key: Vec<u8>,
    /// RSA modulus and exponent (big-endian, no leading zero), empty for other keys.
    rsa: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, keyid {})", self.key_type, self.keyid())
    }
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(i..).unwrap_or_default().to_vec()
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey> {
        let (_, spki) =
            SubjectPublicKeyInfo::from_der(der).map_err(|e| PkiError::parse("public key", e))?;
        Self::from_x509(&spki)
    }

    pub(crate) fn from_x509(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKey> {
        let oid = spki.algorithm.algorithm.to_id_string();
        let key = spki.subject_public_key.data.to_vec();
        let (key_type, rsa) = match oid.as_str() {
            OID_RSA | OID_RSA_PSS => match spki.parsed() {
                Ok(X509PublicKey::RSA(r)) => {
                    let m = strip_zeros(r.modulus);
                    let bits =
                        m.len() * 8 - m.first().map(|b| b.leading_zeros() as usize).unwrap_or(0);
                    (KeyType::Rsa { bits }, Some((m, strip_zeros(r.exponent))))
                }
                _ => return Err(PkiError::parse("RSA public key", "bad RSAPublicKey")),
            },
            OID_EC => {
                let curve_oid = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                let curve = Curve::from_oid(&curve_oid).ok_or(PkiError::Unsupported {
                    what: "elliptic curve",
                    detail: curve_oid,
                })?;
                (KeyType::Ecdsa(curve), None)
            }
            OID_ED25519 => (KeyType::Ed25519, None),
            _ => {
                return Err(PkiError::Unsupported {
                    what: "public key algorithm",
                    detail: oid,
                })
            }
        };
        Ok(PublicKey {
            spki: spki.raw.to_vec(),
            key_type,
            key,
            rsa,
        })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The subjectPublicKey contents (RSAPublicKey DER, uncompressed EC point, Ed25519 key).
    pub fn key_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The key type and size.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// RSA modulus and public exponent, big-endian without leading zeros.
    pub fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        self.rsa.as_ref().map(|(m, e)| (m.as_slice(), e.as_slice()))
    }

    /// SHA-1 of the DER SubjectPublicKeyInfo: what IKEv2 CERTREQ lists for a trusted CA.
    pub fn spki_sha1(&self) -> [u8; 20] {
        let d = Hash::Sha1.digest(&self.spki);
        let mut out = [0u8; 20];
        out.copy_from_slice(d.get(..20).unwrap_or(&[0u8; 20]));
        out
    }

    /// Libreswan's CKAID: SHA-1 of the RSA modulus, or of the EC point / Ed25519 key.
    pub fn ckaid(&self) -> Vec<u8> {
        match &self.rsa {
            Some((m, _)) => Hash::Sha1.digest(m),
            None => Hash::Sha1.digest(&self.key),
        }
    }

    /// The RFC 3110 form of an RSA key (exponent length, exponent, modulus),
    /// which Libreswan prints in base64 as `0s...` in `leftrsasigkey=`.
    pub fn rfc3110(&self) -> Option<Vec<u8>> {
        let (m, e) = self.rsa.as_ref()?;
        let mut out = Vec::with_capacity(3 + e.len() + m.len());
        match u8::try_from(e.len()) {
            Ok(l) if l > 0 => out.push(l),
            _ => {
                out.push(0);
                out.extend_from_slice(&u16::try_from(e.len()).ok()?.to_be_bytes());
            }
        }
        out.extend_from_slice(e);
        out.extend_from_slice(m);
        Some(out)
    }

    /// Libreswan's short key ID: the first 9 characters of the base64 of the
    /// RFC 3110 form for RSA (e.g. `AQPHFfpyJ`), or of the CKAID for other keys.
    pub fn keyid(&self) -> String {
        let blob = self.rfc3110().unwrap_or_else(|| self.ckaid());
        let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
        b64.chars().take(9).collect()
    }

    fn algorithm(&self, scheme: SignatureScheme) -> Result<&'static dyn VerificationAlgorithm> {
        use Hash::*;
        use SignatureScheme::*;
        let alg: &'static dyn VerificationAlgorithm = match (self.key_type, scheme) {
            (KeyType::Rsa { .. }, RsaPkcs1(Sha1)) => {
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            (KeyType::Rsa { .. }, RsaPkcs1(Sha256)) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (KeyType::Rsa { .. }, RsaPkcs1(Sha384)) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (KeyType::Rsa { .. }, RsaPkcs1(Sha512)) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (KeyType::Rsa { .. }, RsaPss(Sha256)) => &signature::RSA_PSS_2048_8192_SHA256,
            (KeyType::Rsa { .. }, RsaPss(Sha384)) => &signature::RSA_PSS_2048_8192_SHA384,
            (KeyType::Rsa { .. }, RsaPss(Sha512)) => &signature::RSA_PSS_2048_8192_SHA512,
            (KeyType::Ecdsa(Curve::P256), Ecdsa(Sha1)) => &signature::ECDSA_P256_SHA1_ASN1,
            (KeyType::Ecdsa(Curve::P256), Ecdsa(Sha256)) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyType::Ecdsa(Curve::P256), Ecdsa(Sha384)) => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyType::Ecdsa(Curve::P256), Ecdsa(Sha512)) => &signature::ECDSA_P256_SHA512_ASN1,
            (KeyType::Ecdsa(Curve::P384), Ecdsa(Sha256)) => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyType::Ecdsa(Curve::P384), Ecdsa(Sha384)) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyType::Ecdsa(Curve::P384), Ecdsa(Sha512)) => &signature::ECDSA_P384_SHA512_ASN1,
            (KeyType::Ecdsa(Curve::P521), Ecdsa(Sha1)) => &signature::ECDSA_P521_SHA1_ASN1,
            (KeyType::Ecdsa(Curve::P521), Ecdsa(Sha256)) => &signature::ECDSA_P521_SHA256_ASN1,
            (KeyType::Ecdsa(Curve::P521), Ecdsa(Sha384)) => &signature::ECDSA_P521_SHA384_ASN1,
            (KeyType::Ecdsa(Curve::P521), Ecdsa(Sha512)) => &signature::ECDSA_P521_SHA512_ASN1,
            (KeyType::Ecdsa(Curve::P256), EcdsaFixed(Sha256)) => {
                &signature::ECDSA_P256_SHA256_FIXED
            }
            (KeyType::Ecdsa(Curve::P384), EcdsaFixed(Sha384)) => {
                &signature::ECDSA_P384_SHA384_FIXED
            }
            (KeyType::Ecdsa(Curve::P521), EcdsaFixed(Sha512)) => {
                &signature::ECDSA_P521_SHA512_FIXED
            }
            (KeyType::Ed25519, Ed25519) => &signature::ED25519,
            (kt, s) => {
                return Err(PkiError::Unsupported {
                    what: "signature scheme for this key",
                    detail: format!("{s:?} with a {kt} key"),
                })
            }
        };
        Ok(alg)
    }

    /// Verifies `signature` over `message` with this key.
    pub fn verify(&self, scheme: SignatureScheme, message: &[u8], signature: &[u8]) -> Result<()> {
        let alg = self.algorithm(scheme)?;
        UnparsedPublicKey::new(alg, &self.key)
            .verify(message, signature)
            .map_err(|_| {
                PkiError::BadSignature(format!(
                    "{scheme:?} signature does not verify with {} key {}",
                    self.key_type,
                    self.keyid()
                ))
            })
    }
}
