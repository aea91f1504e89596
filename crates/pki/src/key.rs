//! Private keys (PKCS#8, PKCS#1 RSA, RFC 5915 EC; DER or PEM) and signing
//! through aws-lc-rs. Key material is zeroized on drop and never printed.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use crate::error::{PkiError, Result};
use crate::pubkey::{Curve, Hash, KeyType, PublicKey, SignatureScheme};

/// How an EC key's DER is encoded (kept to re-create the key for another hash).
#[derive(Clone, Copy)]
enum EcFormat {
    Pkcs8,
    Sec1,
}

enum Inner {
    Rsa {
        pair: RsaKeyPair,
        /// The PKCS#1 RSAPrivateKey, kept for SHA-1 signatures (IKEv2 auth
        /// method 1), which aws-lc-rs does not make.
        pkcs1: Zeroizing<Vec<u8>>,
    },
    Ecdsa {
        curve: Curve,
        der: Zeroizing<Vec<u8>>,
        format: EcFormat,
    },
    Ed25519(Ed25519KeyPair),
}

/// A private key that signs with RSA (PKCS#1 v1.5 or PSS), ECDSA or Ed25519.
pub struct PrivateKey {
    inner: Inner,
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({}, keyid {}, <redacted>)",
            self.public.key_type(),
            self.public.keyid()
        )
    }
}

fn ec_signing_alg(
    curve: Curve,
    hash: Hash,
    fixed: bool,
) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    Some(match (curve, hash, fixed) {
        (Curve::P256, Hash::Sha256, false) => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        (Curve::P256, Hash::Sha256, true) => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        (Curve::P384, Hash::Sha384, false) => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        (Curve::P384, Hash::Sha384, true) => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        (Curve::P521, Hash::Sha256, false) => &signature::ECDSA_P521_SHA256_ASN1_SIGNING,
        (Curve::P521, Hash::Sha384, false) => &signature::ECDSA_P521_SHA384_ASN1_SIGNING,
        (Curve::P521, Hash::Sha512, false) => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        (Curve::P521, Hash::Sha512, true) => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        _ => return None,
    })
}

fn default_hash(curve: Curve) -> Hash {
    match curve {
        Curve::P256 => Hash::Sha256,
        Curve::P384 => Hash::Sha384,
        Curve::P521 => Hash::Sha512,
    }
}

fn load_ec(
    curve: Curve,
    hash: Hash,
    fixed: bool,
    der: &[u8],
    format: EcFormat,
) -> Result<EcdsaKeyPair> {
    let alg = ec_signing_alg(curve, hash, fixed).ok_or_else(|| PkiError::Unsupported {
        what: "ECDSA signing",
        detail: format!("{curve:?} with {hash:?}"),
    })?;
    match format {
        EcFormat::Pkcs8 => EcdsaKeyPair::from_pkcs8(alg, der),
        EcFormat::Sec1 => EcdsaKeyPair::from_private_key_der(alg, der),
    }
    .map_err(|e| PkiError::parse("EC private key", e))
}

fn spki_of<T: AsDer<aws_lc_rs::encoding::PublicKeyX509Der<'static>>>(k: &T) -> Result<PublicKey> {
    let der = k.as_der().map_err(|e| PkiError::parse("public key", e))?;
    PublicKey::from_spki_der(der.as_ref())
}

impl PrivateKey {
    /// Reads a private key from DER or PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`,
    /// `EC PRIVATE KEY`). Encrypted PEM/PKCS#8 is not supported.
    pub fn from_pem_or_der(data: &[u8]) -> Result<PrivateKey> {
        if crate::pem::is_pem(data) {
            let blocks = crate::pem::decode_all(data)?;
            for b in &blocks {
                match b.label.as_str() {
                    "PRIVATE KEY" => return Self::from_pkcs8(&b.der),
                    "RSA PRIVATE KEY" => return Self::from_rsa_der(&b.der),
                    "EC PRIVATE KEY" => return Self::from_ec_der(&b.der),
                    "ENCRYPTED PRIVATE KEY" => {
                        return Err(PkiError::Unsupported {
                            what: "private key",
                            detail: "encrypted PKCS#8 (decrypt it first, or use the NSS database)"
                                .into(),
                        })
                    }
                    _ => {}
                }
            }
            return Err(PkiError::parse("private key", "no private key PEM block"));
        }
        Self::from_pkcs8(data)
            .or_else(|_| Self::from_rsa_der(data))
            .or_else(|_| Self::from_ec_der(data))
    }

    /// Reads a PKCS#8 PrivateKeyInfo (RSA, EC, Ed25519).
    pub fn from_pkcs8(der: &[u8]) -> Result<PrivateKey> {
        if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            return Self::rsa(k, crate::rsa_legacy::pkcs1_from_pkcs8(der)?);
        }
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            if let Ok(k) = load_ec(curve, default_hash(curve), false, der, EcFormat::Pkcs8) {
                let public = spki_of(k.public_key())?;
                return Ok(PrivateKey {
                    inner: Inner::Ecdsa {
                        curve,
                        der: Zeroizing::new(der.to_vec()),
                        format: EcFormat::Pkcs8,
                    },
                    public,
                });
            }
        }
        if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let public = spki_of(k.public_key())?;
            return Ok(PrivateKey {
                inner: Inner::Ed25519(k),
                public,
            });
        }
        Err(PkiError::parse(
            "private key",
            "not a PKCS#8 RSA, ECDSA (P-256/384/521) or Ed25519 key",
        ))
    }

    /// Reads a PKCS#1 RSAPrivateKey.
    pub fn from_rsa_der(der: &[u8]) -> Result<PrivateKey> {
        Self::rsa(
            RsaKeyPair::from_der(der).map_err(|e| PkiError::parse("RSA private key", e))?,
            Zeroizing::new(der.to_vec()),
        )
    }

    /// Reads an RFC 5915 ECPrivateKey (its curve parameters must be present).
    pub fn from_ec_der(der: &[u8]) -> Result<PrivateKey> {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            if let Ok(k) = load_ec(curve, default_hash(curve), false, der, EcFormat::Sec1) {
                let public = spki_of(k.public_key())?;
                if public.key_type() != KeyType::Ecdsa(curve) {
                    continue;
                }
                return Ok(PrivateKey {
                    inner: Inner::Ecdsa {
                        curve,
                        der: Zeroizing::new(der.to_vec()),
                        format: EcFormat::Sec1,
                    },
                    public,
                });
            }
        }
        Err(PkiError::parse(
            "EC private key",
            "not a P-256/384/521 ECPrivateKey",
        ))
    }

    fn rsa(pair: RsaKeyPair, pkcs1: Zeroizing<Vec<u8>>) -> Result<PrivateKey> {
        let public = spki_of(pair.public_key())?;
        Ok(PrivateKey {
            inner: Inner::Rsa { pair, pkcs1 },
            public,
        })
    }

    /// The key's DER, to hand it to another crypto layer (the IKE engine's
    /// raw-key signatures): the PKCS#1 RSAPrivateKey, or the EC key as it
    /// was read (PKCS#8 or SEC1 ECPrivateKey); `None` for Ed25519, whose
    /// key pair keeps no DER.
    pub fn to_der(&self) -> Option<Zeroizing<Vec<u8>>> {
        match &self.inner {
            Inner::Rsa { pkcs1, .. } => Some(pkcs1.clone()),
            Inner::Ecdsa { der, .. } => Some(der.clone()),
            Inner::Ed25519(_) => None,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Key type and size.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// Signs `message` with `scheme`.
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match (&self.inner, scheme) {
            (Inner::Rsa { pkcs1, .. }, SignatureScheme::RsaPkcs1(Hash::Sha1)) => {
                let sig = crate::rsa_legacy::sign_pkcs1_sha1(pkcs1, message)?;
                // Check the result with the public key before it leaves.
                self.public
                    .verify(scheme, message, &sig)
                    .map_err(|e| PkiError::Sign(format!("SHA-1 signature self-check: {e}")))?;
                Ok(sig)
            }
            (
                Inner::Rsa { pair: k, .. },
                SignatureScheme::RsaPkcs1(h) | SignatureScheme::RsaPss(h),
            ) => {
                let pss = matches!(scheme, SignatureScheme::RsaPss(_));
                let enc: &'static dyn signature::RsaEncoding = match (pss, h) {
                    (false, Hash::Sha256) => &signature::RSA_PKCS1_SHA256,
                    (false, Hash::Sha384) => &signature::RSA_PKCS1_SHA384,
                    (false, Hash::Sha512) => &signature::RSA_PKCS1_SHA512,
                    (true, Hash::Sha256) => &signature::RSA_PSS_SHA256,
                    (true, Hash::Sha384) => &signature::RSA_PSS_SHA384,
                    (true, Hash::Sha512) => &signature::RSA_PSS_SHA512,
                    _ => {
                        return Err(PkiError::Unsupported {
                            what: "RSA signing",
                            detail: format!("{scheme:?}"),
                        })
                    }
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(enc, &rng, message, &mut sig)
                    .map_err(|e| PkiError::Sign(e.to_string()))?;
                Ok(sig)
            }
            (
                Inner::Ecdsa { curve, der, format },
                SignatureScheme::Ecdsa(h) | SignatureScheme::EcdsaFixed(h),
            ) => {
                let fixed = matches!(scheme, SignatureScheme::EcdsaFixed(_));
                let k = load_ec(*curve, h, fixed, der, *format)?;
                k.sign(&rng, message)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|e| PkiError::Sign(e.to_string()))
            }
            (Inner::Ed25519(k), SignatureScheme::Ed25519) => Ok(k.sign(message).as_ref().to_vec()),
            _ => Err(PkiError::Unsupported {
                what: "signature scheme for this key",
                detail: format!("{scheme:?} with a {} key", self.key_type()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_der_gives_back_what_reads_the_same_key() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = PrivateKey::from_pkcs8(pkcs8.as_ref()).unwrap();
        let der = key.to_der().unwrap();
        assert_eq!(der.as_slice(), pkcs8.as_ref());
        let again = PrivateKey::from_pem_or_der(&der).unwrap();
        assert!(again.public_key() == key.public_key());
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = PrivateKey::from_pkcs8(ed.as_ref()).unwrap();
        assert!(ed.to_der().is_none());
    }
}
