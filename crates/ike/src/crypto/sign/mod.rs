//! Signatures for IKE_AUTH with raw keys: RFC 7427 Digital Signature
//! authentication (method 14: RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-2,
//! ECDSA with DER ECDSA-Sig-Value, Ed25519 per RFC 8420), and the legacy
//! methods RSA Digital Signature (1, PKCS#1 v1.5 over SHA-1, as Libreswan
//! and strongSwan compute it) and ECDSA with SHA-256/384/512 on P-256/384/521
//! (9, 10, 11; RFC 4754 r || s).
//!
//! Keys: private keys from PKCS#8 (DER or PEM), also PKCS#1 "RSA PRIVATE
//! KEY" and SEC1 "EC PRIVATE KEY"; public keys from SubjectPublicKeyInfo
//! (DER or PEM), RFC 3110 RSA keys and Libreswan's `leftrsasigkey=0s...` /
//! `leftpubkey=0s...` values.
//!
//! What is signed (the SignedOctets of RFC 7296 2.15) is built by the
//! caller, see [`super::auth::signed_octets`].

mod private_key;
mod public_key;

use aws_lc_rs::signature as sig;

use super::der::{self, Reader, NULL, OID, SEQUENCE};
use super::error::CryptoError;

pub use private_key::PrivateKey;
pub use public_key::PublicKey;

// Object identifiers (DER contents).
pub(super) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(super) const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
pub(super) const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
pub(super) const OID_SHA256_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
pub(super) const OID_SHA384_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
pub(super) const OID_SHA512_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(super) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(super) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(super) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
pub(super) const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
pub(super) const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
pub(super) const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
pub(super) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
pub(super) const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
pub(super) const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
pub(super) const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

/// The hash algorithms of the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427
/// 4, IANA "IKEv2 Hash Algorithms"; Identity from RFC 8420).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignatureHash {
    /// SHA1 (1).
    Sha1,
    /// SHA2-256 (2).
    Sha256,
    /// SHA2-384 (3).
    Sha384,
    /// SHA2-512 (4).
    Sha512,
    /// Identity (5): the signature scheme hashes internally (Ed25519).
    Identity,
}

impl SignatureHash {
    /// Every hash algorithm ferroswan knows.
    pub const ALL: [SignatureHash; 5] = [
        SignatureHash::Sha1,
        SignatureHash::Sha256,
        SignatureHash::Sha384,
        SignatureHash::Sha512,
        SignatureHash::Identity,
    ];

    /// The hash algorithm identifier carried in the notify (2 octets each).
    pub const fn id(self) -> u16 {
        match self {
            SignatureHash::Sha1 => 1,
            SignatureHash::Sha256 => 2,
            SignatureHash::Sha384 => 3,
            SignatureHash::Sha512 => 4,
            SignatureHash::Identity => 5,
        }
    }

    /// The hash algorithm for an identifier, if known.
    pub const fn from_id(id: u16) -> Option<SignatureHash> {
        match id {
            1 => Some(SignatureHash::Sha1),
            2 => Some(SignatureHash::Sha256),
            3 => Some(SignatureHash::Sha384),
            4 => Some(SignatureHash::Sha512),
            5 => Some(SignatureHash::Identity),
            _ => None,
        }
    }

    /// The hash algorithms ferroswan can sign and verify with, as sent in
    /// its SIGNATURE_HASH_ALGORITHMS notify (SHA-1 is not offered).
    pub const SUPPORTED: [SignatureHash; 4] = [
        SignatureHash::Sha256,
        SignatureHash::Sha384,
        SignatureHash::Sha512,
        SignatureHash::Identity,
    ];

    /// The notification data of SIGNATURE_HASH_ALGORITHMS: each
    /// identifier as two octets, in order.
    pub fn encode_notify(hashes: &[SignatureHash]) -> Vec<u8> {
        hashes.iter().flat_map(|h| h.id().to_be_bytes()).collect()
    }

    /// The hash algorithms listed in received SIGNATURE_HASH_ALGORITHMS
    /// data, skipping identifiers ferroswan does not know. `None` if the
    /// data is not a whole number of two-octet identifiers.
    pub fn decode_notify(data: &[u8]) -> Option<Vec<SignatureHash>> {
        if !data.len().is_multiple_of(2) {
            return None;
        }
        Some(
            data.chunks_exact(2)
                .filter_map(|c| {
                    let id = u16::from_be_bytes([*c.first()?, *c.get(1)?]);
                    SignatureHash::from_id(id)
                })
                .collect(),
        )
    }
}

/// An RFC 7427 signature scheme. For ECDSA the curve is that of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignatureScheme {
    /// sha256WithRSAEncryption (RSASSA-PKCS1-v1_5).
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption.
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption.
    RsaPkcs1Sha512,
    /// RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt length 32.
    RsaPssSha256,
    /// RSASSA-PSS, SHA-384, MGF1 with SHA-384, salt length 48.
    RsaPssSha384,
    /// RSASSA-PSS, SHA-512, MGF1 with SHA-512, salt length 64.
    RsaPssSha512,
    /// ecdsa-with-SHA256, DER ECDSA-Sig-Value.
    EcdsaSha256,
    /// ecdsa-with-SHA384.
    EcdsaSha384,
    /// ecdsa-with-SHA512.
    EcdsaSha512,
    /// Ed25519 (RFC 8420), over the whole SignedOctets.
    Ed25519,
}

impl SignatureScheme {
    /// Every scheme.
    pub const ALL: [SignatureScheme; 10] = [
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPkcs1Sha384,
        SignatureScheme::RsaPkcs1Sha512,
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
        SignatureScheme::EcdsaSha256,
        SignatureScheme::EcdsaSha384,
        SignatureScheme::EcdsaSha512,
        SignatureScheme::Ed25519,
    ];

    /// The hash, as negotiated by SIGNATURE_HASH_ALGORITHMS.
    pub const fn hash(self) -> SignatureHash {
        match self {
            SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPssSha256
            | SignatureScheme::EcdsaSha256 => SignatureHash::Sha256,
            SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPssSha384
            | SignatureScheme::EcdsaSha384 => SignatureHash::Sha384,
            SignatureScheme::RsaPkcs1Sha512
            | SignatureScheme::RsaPssSha512
            | SignatureScheme::EcdsaSha512 => SignatureHash::Sha512,
            SignatureScheme::Ed25519 => SignatureHash::Identity,
        }
    }

    /// A short name for logs, e.g. `RSASSA-PSS SHA2_256`.
    pub const fn name(self) -> &'static str {
        match self {
            SignatureScheme::RsaPkcs1Sha256 => "RSASSA-PKCS1-v1_5 SHA2_256",
            SignatureScheme::RsaPkcs1Sha384 => "RSASSA-PKCS1-v1_5 SHA2_384",
            SignatureScheme::RsaPkcs1Sha512 => "RSASSA-PKCS1-v1_5 SHA2_512",
            SignatureScheme::RsaPssSha256 => "RSASSA-PSS SHA2_256",
            SignatureScheme::RsaPssSha384 => "RSASSA-PSS SHA2_384",
            SignatureScheme::RsaPssSha512 => "RSASSA-PSS SHA2_512",
            SignatureScheme::EcdsaSha256 => "ECDSA SHA2_256",
            SignatureScheme::EcdsaSha384 => "ECDSA SHA2_384",
            SignatureScheme::EcdsaSha512 => "ECDSA SHA2_512",
            SignatureScheme::Ed25519 => "Ed25519",
        }
    }

    /// Whether a key of `key_type` can make and check this scheme.
    pub const fn works_with(self, key_type: KeyType) -> bool {
        match self {
            SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPkcs1Sha512
            | SignatureScheme::RsaPssSha256
            | SignatureScheme::RsaPssSha384
            | SignatureScheme::RsaPssSha512 => matches!(key_type, KeyType::Rsa),
            SignatureScheme::EcdsaSha256
            | SignatureScheme::EcdsaSha384
            | SignatureScheme::EcdsaSha512 => matches!(
                key_type,
                KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521
            ),
            SignatureScheme::Ed25519 => matches!(key_type, KeyType::Ed25519),
        }
    }

    /// The DER AlgorithmIdentifier sent in the AUTH payload (RFC 7427 3,
    /// the encodings of its Appendix A; RFC 8420 for Ed25519).
    pub fn algorithm_identifier(self) -> Vec<u8> {
        let with_null = |oid: &[u8]| {
            let mut c = der::tlv(OID, oid);
            c.extend_from_slice(&der::tlv(NULL, &[]));
            der::tlv(SEQUENCE, &c)
        };
        let bare = |oid: &[u8]| der::tlv(SEQUENCE, &der::tlv(OID, oid));
        let pss = |hash_oid: &[u8], salt: u8| {
            let hash = with_null(hash_oid);
            let mut mgf = der::tlv(OID, OID_MGF1);
            mgf.extend_from_slice(&hash);
            let mut params = der::tlv(0xa0, &hash);
            params.extend_from_slice(&der::tlv(0xa1, &der::tlv(SEQUENCE, &mgf)));
            params.extend_from_slice(&der::tlv(0xa2, &der::unsigned_integer(&[salt])));
            let mut c = der::tlv(OID, OID_RSASSA_PSS);
            c.extend_from_slice(&der::tlv(SEQUENCE, &params));
            der::tlv(SEQUENCE, &c)
        };
        match self {
            SignatureScheme::RsaPkcs1Sha256 => with_null(OID_SHA256_RSA),
            SignatureScheme::RsaPkcs1Sha384 => with_null(OID_SHA384_RSA),
            SignatureScheme::RsaPkcs1Sha512 => with_null(OID_SHA512_RSA),
            SignatureScheme::RsaPssSha256 => pss(OID_SHA256, 32),
            SignatureScheme::RsaPssSha384 => pss(OID_SHA384, 48),
            SignatureScheme::RsaPssSha512 => pss(OID_SHA512, 64),
            SignatureScheme::EcdsaSha256 => bare(OID_ECDSA_SHA256),
            SignatureScheme::EcdsaSha384 => bare(OID_ECDSA_SHA384),
            SignatureScheme::EcdsaSha512 => bare(OID_ECDSA_SHA512),
            SignatureScheme::Ed25519 => bare(OID_ED25519),
        }
    }

    /// The scheme of a received AlgorithmIdentifier. The parameters of
    /// RSASSA-PSS must name the same SHA-2 hash for the message and MGF1
    /// and a salt as long as the hash (what ferroswan can verify);
    /// hash-algorithm parameters may be NULL or absent.
    pub fn from_algorithm_identifier(der_bytes: &[u8]) -> Result<SignatureScheme, CryptoError> {
        let unsupported = || CryptoError::Unsupported("signature AlgorithmIdentifier");
        let mut outer = Reader::new(der_bytes);
        let mut ai = Reader::new(outer.read(SEQUENCE)?);
        if !outer.is_empty() {
            return Err(unsupported());
        }
        let oid = ai.read(OID)?;
        let no_params = |ai: &mut Reader<'_>| -> Result<(), CryptoError> {
            if ai.peek_tag() == Some(NULL) {
                ai.read(NULL)?;
            }
            if ai.is_empty() {
                Ok(())
            } else {
                Err(unsupported())
            }
        };
        let scheme = match oid {
            _ if oid == OID_SHA256_RSA => SignatureScheme::RsaPkcs1Sha256,
            _ if oid == OID_SHA384_RSA => SignatureScheme::RsaPkcs1Sha384,
            _ if oid == OID_SHA512_RSA => SignatureScheme::RsaPkcs1Sha512,
            _ if oid == OID_ECDSA_SHA256 => SignatureScheme::EcdsaSha256,
            _ if oid == OID_ECDSA_SHA384 => SignatureScheme::EcdsaSha384,
            _ if oid == OID_ECDSA_SHA512 => SignatureScheme::EcdsaSha512,
            _ if oid == OID_ED25519 => SignatureScheme::Ed25519,
            _ if oid == OID_RSASSA_PSS => {
                let scheme = parse_pss_params(ai.read(SEQUENCE)?)?;
                if !ai.is_empty() {
                    return Err(unsupported());
                }
                return Ok(scheme);
            }
            _ => return Err(unsupported()),
        };
        no_params(&mut ai)?;
        Ok(scheme)
    }
}

/// Reads a hash AlgorithmIdentifier (OID with NULL or absent parameters).
fn read_hash_alg(r: &mut Reader<'_>) -> Result<&'static str, CryptoError> {
    let mut ai = Reader::new(r.read(SEQUENCE)?);
    let oid = ai.read(OID)?;
    if ai.peek_tag() == Some(NULL) {
        ai.read(NULL)?;
    }
    if !ai.is_empty() {
        return Err(CryptoError::Unsupported("hash algorithm parameters"));
    }
    match oid {
        _ if oid == OID_SHA256 => Ok("sha256"),
        _ if oid == OID_SHA384 => Ok("sha384"),
        _ if oid == OID_SHA512 => Ok("sha512"),
        _ => Err(CryptoError::Unsupported(
            "RSASSA-PSS with a hash other than SHA-2",
        )),
    }
}

fn parse_pss_params(params: &[u8]) -> Result<SignatureScheme, CryptoError> {
    let mut r = Reader::new(params);
    // All three fields have SHA-1 defaults; ferroswan needs them explicit.
    let hash = read_hash_alg(&mut Reader::new(r.read(0xa0)?))?;
    let mut mgf_outer = Reader::new(r.read(0xa1)?);
    let mut mgf = Reader::new(mgf_outer.read(SEQUENCE)?);
    if mgf.read(OID)? != OID_MGF1 {
        return Err(CryptoError::Unsupported(
            "RSASSA-PSS mask generation other than MGF1",
        ));
    }
    let mgf_hash = read_hash_alg(&mut mgf)?;
    let mut salt_r = Reader::new(r.read(0xa2)?);
    let salt = salt_r.read_unsigned()?;
    if r.peek_tag() == Some(0xa3) {
        let mut trailer = Reader::new(r.read(0xa3)?);
        if trailer.read_unsigned()? != [1] {
            return Err(CryptoError::Unsupported("RSASSA-PSS trailer field"));
        }
    }
    if !r.is_empty() || hash != mgf_hash {
        return Err(CryptoError::Unsupported(
            "RSASSA-PSS with different message and MGF1 hashes",
        ));
    }
    let (scheme, salt_len) = match hash {
        "sha256" => (SignatureScheme::RsaPssSha256, 32u8),
        "sha384" => (SignatureScheme::RsaPssSha384, 48),
        _ => (SignatureScheme::RsaPssSha512, 64),
    };
    if salt != [salt_len] {
        return Err(CryptoError::Unsupported(
            "RSASSA-PSS with a salt length other than the hash length",
        ));
    }
    Ok(scheme)
}

/// The Authentication Data of an AUTH payload with method 14 (Digital
/// Signature, RFC 7427 3): ASN.1 Length (1 octet) || AlgorithmIdentifier ||
/// Signature Value.
pub fn encode_digital_signature(scheme: SignatureScheme, signature: &[u8]) -> Vec<u8> {
    let ai = scheme.algorithm_identifier();
    let mut out = Vec::with_capacity(1 + ai.len() + signature.len());
    out.push(ai.len() as u8);
    out.extend_from_slice(&ai);
    out.extend_from_slice(signature);
    out
}

/// Splits method-14 Authentication Data into its scheme and signature
/// value.
pub fn decode_digital_signature(auth_data: &[u8]) -> Result<(SignatureScheme, &[u8]), CryptoError> {
    let (&len, rest) = auth_data.split_first().ok_or(CryptoError::Unsupported(
        "empty Digital Signature authentication data",
    ))?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(CryptoError::KeyRejected(
            "AlgorithmIdentifier longer than the AUTH payload".into(),
        ));
    }
    let (ai, signature) = rest.split_at(len);
    Ok((SignatureScheme::from_algorithm_identifier(ai)?, signature))
}

/// The legacy signature authentication methods of RFC 7296 and RFC 4754.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyAuthMethod {
    /// RSA Digital Signature (1): RSASSA-PKCS1-v1_5 over SHA-1.
    Rsa,
    /// ECDSA with SHA-256 on the P-256 curve (9), r || s.
    EcdsaP256Sha256,
    /// ECDSA with SHA-384 on the P-384 curve (10).
    EcdsaP384Sha384,
    /// ECDSA with SHA-512 on the P-521 curve (11).
    EcdsaP521Sha512,
}

impl LegacyAuthMethod {
    /// The Auth Method number of the AUTH payload.
    pub const fn auth_method(self) -> u8 {
        match self {
            LegacyAuthMethod::Rsa => 1,
            LegacyAuthMethod::EcdsaP256Sha256 => 9,
            LegacyAuthMethod::EcdsaP384Sha384 => 10,
            LegacyAuthMethod::EcdsaP521Sha512 => 11,
        }
    }

    /// The method for an Auth Method number, if it is one of these.
    pub const fn from_auth_method(method: u8) -> Option<LegacyAuthMethod> {
        match method {
            1 => Some(LegacyAuthMethod::Rsa),
            9 => Some(LegacyAuthMethod::EcdsaP256Sha256),
            10 => Some(LegacyAuthMethod::EcdsaP384Sha384),
            11 => Some(LegacyAuthMethod::EcdsaP521Sha512),
            _ => None,
        }
    }

    /// The legacy method for a key (the one a key of this type uses).
    pub const fn for_key(key_type: KeyType) -> Option<LegacyAuthMethod> {
        match key_type {
            KeyType::Rsa => Some(LegacyAuthMethod::Rsa),
            KeyType::EcdsaP256 => Some(LegacyAuthMethod::EcdsaP256Sha256),
            KeyType::EcdsaP384 => Some(LegacyAuthMethod::EcdsaP384Sha384),
            KeyType::EcdsaP521 => Some(LegacyAuthMethod::EcdsaP521Sha512),
            KeyType::Ed25519 => None,
        }
    }
}

/// The kind of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA (2048 bits or more).
    Rsa,
    /// ECDSA on P-256.
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// ECDSA on P-521.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// The RFC 7427 schemes a key of this type signs with, best first.
    /// RSA keys prefer RSASSA-PSS, as Libreswan does.
    pub fn schemes(self) -> &'static [SignatureScheme] {
        match self {
            KeyType::Rsa => &[
                SignatureScheme::RsaPssSha256,
                SignatureScheme::RsaPssSha384,
                SignatureScheme::RsaPssSha512,
                SignatureScheme::RsaPkcs1Sha256,
                SignatureScheme::RsaPkcs1Sha384,
                SignatureScheme::RsaPkcs1Sha512,
            ],
            KeyType::EcdsaP256 => &[SignatureScheme::EcdsaSha256],
            KeyType::EcdsaP384 => &[SignatureScheme::EcdsaSha384],
            KeyType::EcdsaP521 => &[SignatureScheme::EcdsaSha512],
            KeyType::Ed25519 => &[SignatureScheme::Ed25519],
        }
    }

    /// The RFC 7427 scheme to sign with when the peer announced
    /// `peer_hashes` in SIGNATURE_HASH_ALGORITHMS: the first of
    /// [`KeyType::schemes`] whose hash the peer accepts.
    pub fn preferred_scheme(self, peer_hashes: &[SignatureHash]) -> Option<SignatureScheme> {
        self.schemes()
            .iter()
            .copied()
            .find(|s| peer_hashes.contains(&s.hash()))
    }

    pub(super) fn curve_oid(self) -> Option<&'static [u8]> {
        match self {
            KeyType::EcdsaP256 => Some(OID_P256),
            KeyType::EcdsaP384 => Some(OID_P384),
            KeyType::EcdsaP521 => Some(OID_P521),
            _ => None,
        }
    }

    pub(super) fn ecdsa_signing(
        self,
    ) -> Option<(
        &'static sig::EcdsaSigningAlgorithm,
        &'static sig::EcdsaSigningAlgorithm,
    )> {
        match self {
            KeyType::EcdsaP256 => Some((
                &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            )),
            KeyType::EcdsaP384 => Some((
                &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            )),
            KeyType::EcdsaP521 => Some((
                &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
                &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
            )),
            _ => None,
        }
    }
}

pub(super) fn rejected(what: &str) -> CryptoError {
    CryptoError::KeyRejected(what.to_string())
}
