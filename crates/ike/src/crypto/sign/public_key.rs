//! Public keys: the formats they arrive in, and verification.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature as sig;

use super::{
    rejected, KeyType, LegacyAuthMethod, SignatureScheme, OID_EC_PUBLIC_KEY, OID_ED25519,
    OID_RSASSA_PSS, OID_RSA_ENCRYPTION,
};
use crate::crypto::der::{self, Reader, BIT_STRING, NULL, OID, SEQUENCE};
use crate::crypto::error::CryptoError;

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { key_type: KeyType, point: Vec<u8> },
    Ed25519(Vec<u8>),
}

/// A public key for verifying AUTH payloads.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: PublicInner,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_type", &self.key_type())
            .field("bits", &self.bits())
            .finish()
    }
}

impl PublicKey {
    /// An RSA key from its modulus and public exponent (big-endian).
    /// Moduli below 2048 bits are refused (RFC 8247).
    pub fn from_rsa_components(n: &[u8], e: &[u8]) -> Result<PublicKey, CryptoError> {
        let strip = |v: &[u8]| {
            let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
            v.get(start..).unwrap_or_default().to_vec()
        };
        let (n, e) = (strip(n), strip(e));
        if n.len() < 256 || n.len() > 1024 {
            return Err(rejected("RSA modulus must have 2048 to 8192 bits"));
        }
        if e.is_empty() || e.len() > 8 || e.last().is_none_or(|b| b & 1 == 0) {
            return Err(rejected(
                "RSA public exponent must be odd and at most 64 bits",
            ));
        }
        Ok(PublicKey {
            inner: PublicInner::Rsa { n, e },
        })
    }

    /// An RSA key from a PKCS#1 RSAPublicKey.
    pub fn from_pkcs1_der(der_bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        let mut outer = Reader::new(der_bytes);
        let mut seq = Reader::new(outer.read(SEQUENCE)?);
        let n = seq.read_unsigned()?;
        let e = seq.read_unsigned()?;
        if !seq.is_empty() || !outer.is_empty() {
            return Err(rejected("trailing data after RSAPublicKey"));
        }
        Self::from_rsa_components(n, e)
    }

    /// An ECDSA key from its point: x || y (as in IKE) or the SEC1
    /// uncompressed form 0x04 || x || y. The point is checked when used.
    pub fn from_ec_point(key_type: KeyType, point: &[u8]) -> Result<PublicKey, CryptoError> {
        let coord = match key_type {
            KeyType::EcdsaP256 => 32,
            KeyType::EcdsaP384 => 48,
            KeyType::EcdsaP521 => 66,
            _ => return Err(rejected("not an ECDSA key type")),
        };
        let point = if point.len() == 2 * coord {
            let mut v = Vec::with_capacity(2 * coord + 1);
            v.push(0x04);
            v.extend_from_slice(point);
            v
        } else if point.len() == 2 * coord + 1 && point.first() == Some(&0x04) {
            point.to_vec()
        } else {
            return Err(rejected("EC point has the wrong length or is compressed"));
        };
        let key = PublicKey {
            inner: PublicInner::Ec { key_type, point },
        };
        Ok(key)
    }

    /// An Ed25519 key from its 32 bytes.
    pub fn from_ed25519(bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        if bytes.len() != 32 {
            return Err(rejected("Ed25519 public key must be 32 bytes"));
        }
        Ok(PublicKey {
            inner: PublicInner::Ed25519(bytes.to_vec()),
        })
    }

    /// A SubjectPublicKeyInfo (RFC 5280): rsaEncryption (or id-RSASSA-PSS),
    /// id-ecPublicKey with a named curve, or Ed25519.
    pub fn from_spki_der(der_bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        let mut outer = Reader::new(der_bytes);
        let mut spki = Reader::new(outer.read(SEQUENCE)?);
        if !outer.is_empty() {
            return Err(rejected("trailing data after SubjectPublicKeyInfo"));
        }
        let mut alg = Reader::new(spki.read(SEQUENCE)?);
        let oid = alg.read(OID)?;
        let bits = spki.read(BIT_STRING)?;
        let key = match bits.split_first() {
            Some((0, k)) => k,
            _ => return Err(rejected("public key BIT STRING with unused bits")),
        };
        if oid == OID_RSA_ENCRYPTION || oid == OID_RSASSA_PSS {
            Self::from_pkcs1_der(key)
        } else if oid == OID_EC_PUBLIC_KEY {
            let curve = alg.read(OID)?;
            let key_type = [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::EcdsaP521]
                .into_iter()
                .find(|k| k.curve_oid() == Some(curve))
                .ok_or(CryptoError::Unsupported(
                    "EC curves other than P-256/384/521",
                ))?;
            Self::from_ec_point(key_type, key)
        } else if oid == OID_ED25519 {
            Self::from_ed25519(key)
        } else {
            Err(CryptoError::Unsupported(
                "public key algorithms other than RSA, ECDSA and Ed25519",
            ))
        }
    }

    /// PEM "PUBLIC KEY" (SubjectPublicKeyInfo) or "RSA PUBLIC KEY" (PKCS#1).
    pub fn from_pem(text: &str) -> Result<PublicKey, CryptoError> {
        let (label, der_bytes) = der::pem_decode(text)?;
        match label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(der_bytes.as_bytes()),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(der_bytes.as_bytes()),
            _ => Err(CryptoError::KeyRejected(format!(
                "PEM block \"{label}\" is not a public key"
            ))),
        }
    }

    /// An RSA key in the DNS KEY format of RFC 3110 2: exponent length (1
    /// octet, or 0 then 2 octets), exponent, modulus.
    pub fn from_rfc3110(bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        let short = || rejected("RFC 3110 key is truncated");
        let (&first, rest) = bytes.split_first().ok_or_else(short)?;
        let (e_len, rest) = if first != 0 {
            (usize::from(first), rest)
        } else {
            let (len, rest) = rest.split_at_checked(2).ok_or_else(short)?;
            let len = len
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, rest)
        };
        let (e, n) = rest.split_at_checked(e_len).ok_or_else(short)?;
        Self::from_rsa_components(n, e)
    }

    /// A key as written in ipsec.conf: Libreswan's `leftrsasigkey=` (RFC
    /// 3110) or `leftpubkey=` (SubjectPublicKeyInfo) value, encoded as
    /// `0s` base64 or `0x` hex. A value whose bytes parse as a
    /// SubjectPublicKeyInfo is taken as one, otherwise as RFC 3110.
    pub fn from_libreswan(value: &str) -> Result<PublicKey, CryptoError> {
        let v = value.trim();
        let bytes = if let Some(b64) = v.strip_prefix("0s") {
            der::base64_decode(b64)?
        } else if let Some(h) = v.strip_prefix("0x") {
            let digits: String = h
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '_')
                .collect();
            hex::decode(digits).map_err(|_| rejected("invalid hex in public key"))?
        } else {
            return Err(rejected(
                "public key value must start with 0s (base64) or 0x (hex)",
            ));
        };
        if bytes.first() == Some(&SEQUENCE) {
            if let Ok(k) = Self::from_spki_der(&bytes) {
                return Ok(k);
            }
        }
        Self::from_rfc3110(&bytes)
    }

    /// The kind of key.
    pub fn key_type(&self) -> KeyType {
        match &self.inner {
            PublicInner::Rsa { .. } => KeyType::Rsa,
            PublicInner::Ec { key_type, .. } => *key_type,
            PublicInner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The key size in bits (modulus or curve size).
    pub fn bits(&self) -> usize {
        match &self.inner {
            PublicInner::Rsa { n, .. } => {
                let lead = n.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
                (n.len().saturating_sub(1)) * 8 + lead
            }
            PublicInner::Ec { key_type, .. } => match key_type {
                KeyType::EcdsaP256 => 256,
                KeyType::EcdsaP384 => 384,
                _ => 521,
            },
            PublicInner::Ed25519(_) => 256,
        }
    }

    /// The CKAID by which Libreswan names the key (`leftckaid=`, `ipsec
    /// showhostkey`): NSS's key ID, the SHA-1 of the RSA modulus (without
    /// leading zeros) or of the EC public value (0x04 || x || y), or of the
    /// raw Ed25519 key.
    pub fn ckaid(&self) -> [u8; 20] {
        let bytes: &[u8] = match &self.inner {
            PublicInner::Rsa { n, .. } => n,
            PublicInner::Ec { point, .. } => point,
            PublicInner::Ed25519(k) => k,
        };
        let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
        let mut out = [0u8; 20];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> Vec<u8> {
        let (alg, key) = match &self.inner {
            PublicInner::Rsa { n, e } => {
                let mut a = der::tlv(OID, OID_RSA_ENCRYPTION);
                a.extend_from_slice(&der::tlv(NULL, &[]));
                let mut k = der::unsigned_integer(n);
                k.extend_from_slice(&der::unsigned_integer(e));
                (a, der::tlv(SEQUENCE, &k))
            }
            PublicInner::Ec { key_type, point } => {
                let mut a = der::tlv(OID, OID_EC_PUBLIC_KEY);
                a.extend_from_slice(&der::tlv(OID, key_type.curve_oid().unwrap_or_default()));
                (a, point.clone())
            }
            PublicInner::Ed25519(k) => (der::tlv(OID, OID_ED25519), k.clone()),
        };
        let mut bits = Vec::with_capacity(key.len() + 1);
        bits.push(0);
        bits.extend_from_slice(&key);
        let mut c = der::tlv(SEQUENCE, &alg);
        c.extend_from_slice(&der::tlv(BIT_STRING, &bits));
        der::tlv(SEQUENCE, &c)
    }

    /// The PEM "PUBLIC KEY" block.
    pub fn to_pem(&self) -> String {
        der::pem_encode("PUBLIC KEY", &self.to_spki_der())
    }

    /// The RFC 3110 encoding of an RSA key (`None` for other types).
    pub fn to_rfc3110(&self) -> Option<Vec<u8>> {
        match &self.inner {
            PublicInner::Rsa { n, e } => {
                let mut out = Vec::with_capacity(3 + e.len() + n.len());
                if e.len() < 256 {
                    out.push(e.len() as u8);
                } else {
                    out.push(0);
                    out.extend_from_slice(&(e.len() as u16).to_be_bytes());
                }
                out.extend_from_slice(e);
                out.extend_from_slice(n);
                Some(out)
            }
            _ => None,
        }
    }

    /// The value for ipsec.conf: `0s` + base64 of RFC 3110 for RSA
    /// (`leftrsasigkey=`), of the SubjectPublicKeyInfo otherwise
    /// (`leftpubkey=`).
    pub fn to_libreswan(&self) -> String {
        let bytes = self.to_rfc3110().unwrap_or_else(|| self.to_spki_der());
        format!("0s{}", der::base64_encode(&bytes))
    }

    /// Verifies an RFC 7427 signature value over `data`.
    pub fn verify(
        &self,
        scheme: SignatureScheme,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if !scheme.works_with(self.key_type()) {
            return Err(CryptoError::KeyRejected(format!(
                "a {:?} key cannot verify {}",
                self.key_type(),
                scheme.name()
            )));
        }
        let ok = match &self.inner {
            PublicInner::Rsa { n, e } => {
                let params: &sig::RsaParameters = match scheme {
                    SignatureScheme::RsaPkcs1Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    SignatureScheme::RsaPkcs1Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    SignatureScheme::RsaPkcs1Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    SignatureScheme::RsaPssSha256 => &sig::RSA_PSS_2048_8192_SHA256,
                    SignatureScheme::RsaPssSha384 => &sig::RSA_PSS_2048_8192_SHA384,
                    _ => &sig::RSA_PSS_2048_8192_SHA512,
                };
                sig::RsaPublicKeyComponents { n, e }
                    .verify(params, data, signature)
                    .is_ok()
            }
            PublicInner::Ec { key_type, point } => {
                use SignatureScheme::{EcdsaSha256, EcdsaSha384};
                let alg: &sig::EcdsaVerificationAlgorithm = match (key_type, scheme) {
                    (KeyType::EcdsaP256, EcdsaSha256) => &sig::ECDSA_P256_SHA256_ASN1,
                    (KeyType::EcdsaP256, EcdsaSha384) => &sig::ECDSA_P256_SHA384_ASN1,
                    (KeyType::EcdsaP256, _) => &sig::ECDSA_P256_SHA512_ASN1,
                    (KeyType::EcdsaP384, EcdsaSha256) => &sig::ECDSA_P384_SHA256_ASN1,
                    (KeyType::EcdsaP384, EcdsaSha384) => &sig::ECDSA_P384_SHA384_ASN1,
                    (KeyType::EcdsaP384, _) => &sig::ECDSA_P384_SHA512_ASN1,
                    (_, EcdsaSha256) => &sig::ECDSA_P521_SHA256_ASN1,
                    (_, EcdsaSha384) => &sig::ECDSA_P521_SHA384_ASN1,
                    _ => &sig::ECDSA_P521_SHA512_ASN1,
                };
                sig::UnparsedPublicKey::new(alg, point)
                    .verify(data, signature)
                    .is_ok()
            }
            PublicInner::Ed25519(k) => sig::UnparsedPublicKey::new(&sig::ED25519, k)
                .verify(data, signature)
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Verifies a signature of a legacy auth method (1, 9, 10, 11).
    pub fn verify_legacy(
        &self,
        method: LegacyAuthMethod,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if LegacyAuthMethod::for_key(self.key_type()) != Some(method) {
            return Err(CryptoError::KeyRejected(format!(
                "a {:?} key cannot verify auth method {}",
                self.key_type(),
                method.auth_method()
            )));
        }
        let ok = match &self.inner {
            PublicInner::Rsa { n, e } => sig::RsaPublicKeyComponents { n, e }
                .verify(
                    &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    data,
                    signature,
                )
                .is_ok(),
            PublicInner::Ec { key_type, point } => {
                let alg: &sig::EcdsaVerificationAlgorithm = match key_type {
                    KeyType::EcdsaP256 => &sig::ECDSA_P256_SHA256_FIXED,
                    KeyType::EcdsaP384 => &sig::ECDSA_P384_SHA384_FIXED,
                    _ => &sig::ECDSA_P521_SHA512_FIXED,
                };
                sig::UnparsedPublicKey::new(alg, point)
                    .verify(data, signature)
                    .is_ok()
            }
            PublicInner::Ed25519(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }
}
