//! The negotiable algorithms, with their IANA IKEv2 transform IDs
//! (RFC 7296 3.3.2 and the IANA "IKEv2 Transform Type" registries), their
//! sizes, and the names Libreswan prints for them.

use std::fmt;

/// Transform Type 1: encryption algorithms for the SK payload and for ESP.
///
/// Each variant fixes the key length, so an AES transform corresponds to
/// one (Transform ID, Key Length attribute) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EncrAlg {
    /// ENCR_AES_CBC (12), 128-bit key (RFC 3602).
    AesCbc128,
    /// ENCR_AES_CBC (12), 256-bit key.
    AesCbc256,
    /// ENCR_AES_GCM_16 (20), 128-bit key, 16-octet ICV (RFC 5282, RFC 4106).
    AesGcm16_128,
    /// ENCR_AES_GCM_16 (20), 256-bit key.
    AesGcm16_256,
    /// ENCR_CHACHA20_POLY1305 (28), 256-bit key, no Key Length attribute
    /// (RFC 7634).
    ChaCha20Poly1305,
}

impl EncrAlg {
    /// Every supported encryption algorithm.
    pub const ALL: [EncrAlg; 5] = [
        EncrAlg::AesCbc128,
        EncrAlg::AesCbc256,
        EncrAlg::AesGcm16_128,
        EncrAlg::AesGcm16_256,
        EncrAlg::ChaCha20Poly1305,
    ];

    /// The IANA Transform ID (ENCR_AES_CBC 12, ENCR_AES_GCM_16 20,
    /// ENCR_CHACHA20_POLY1305 28).
    pub const fn transform_id(self) -> u16 {
        match self {
            EncrAlg::AesCbc128 | EncrAlg::AesCbc256 => 12,
            EncrAlg::AesGcm16_128 | EncrAlg::AesGcm16_256 => 20,
            EncrAlg::ChaCha20Poly1305 => 28,
        }
    }

    /// The value of the Key Length transform attribute (type 14), in bits,
    /// or `None` when the transform must be sent without one (ChaCha20).
    pub const fn key_length_attribute(self) -> Option<u16> {
        match self {
            EncrAlg::AesCbc128 | EncrAlg::AesGcm16_128 => Some(128),
            EncrAlg::AesCbc256 | EncrAlg::AesGcm16_256 => Some(256),
            EncrAlg::ChaCha20Poly1305 => None,
        }
    }

    /// The algorithm for a received Transform ID and Key Length attribute,
    /// or `None` if ferroswan does not support that combination (AES
    /// without a Key Length attribute, ChaCha20 with one, unknown IDs).
    pub const fn from_id(id: u16, key_bits: Option<u16>) -> Option<EncrAlg> {
        match (id, key_bits) {
            (12, Some(128)) => Some(EncrAlg::AesCbc128),
            (12, Some(256)) => Some(EncrAlg::AesCbc256),
            (20, Some(128)) => Some(EncrAlg::AesGcm16_128),
            (20, Some(256)) => Some(EncrAlg::AesGcm16_256),
            (28, None) => Some(EncrAlg::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// Whether this is a combined-mode (AEAD) cipher, negotiated without an
    /// integrity transform.
    pub const fn is_aead(self) -> bool {
        !matches!(self, EncrAlg::AesCbc128 | EncrAlg::AesCbc256)
    }

    /// The cipher key length in bytes, without salt.
    pub const fn key_len(self) -> usize {
        match self {
            EncrAlg::AesCbc128 | EncrAlg::AesGcm16_128 => 16,
            EncrAlg::AesCbc256 | EncrAlg::AesGcm16_256 | EncrAlg::ChaCha20Poly1305 => 32,
        }
    }

    /// The salt taken from the key material after the key: 4 bytes for
    /// AES-GCM (RFC 5282 7.1, RFC 4106 8.1) and ChaCha20-Poly1305 (RFC 7634
    /// 4), none for AES-CBC.
    pub const fn salt_len(self) -> usize {
        if self.is_aead() {
            4
        } else {
            0
        }
    }

    /// Bytes of key material this algorithm takes from prf+: the SK_e
    /// length, or the ESP encryption KEYMAT per direction (key || salt).
    pub const fn keymat_len(self) -> usize {
        self.key_len() + self.salt_len()
    }

    /// The length of the IV carried in each encrypted payload: 16 for
    /// AES-CBC, 8 for AES-GCM and ChaCha20-Poly1305.
    pub const fn iv_len(self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// The length of the AEAD authentication tag (16), or 0 for AES-CBC
    /// (whose ICV comes from the integrity algorithm).
    pub const fn aead_icv_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            0
        }
    }

    /// The cipher block size that plaintext + padding + pad length must be a
    /// multiple of: 16 for AES-CBC, 1 for the AEADs (which are stream
    /// ciphers underneath, so no padding is needed).
    pub const fn block_len(self) -> usize {
        if self.is_aead() {
            1
        } else {
            16
        }
    }

    /// The name Libreswan prints, e.g. `AES_GCM_16_256`.
    pub const fn name(self) -> &'static str {
        match self {
            EncrAlg::AesCbc128 => "AES_CBC_128",
            EncrAlg::AesCbc256 => "AES_CBC_256",
            EncrAlg::AesGcm16_128 => "AES_GCM_16_128",
            EncrAlg::AesGcm16_256 => "AES_GCM_16_256",
            EncrAlg::ChaCha20Poly1305 => "CHACHA20_POLY1305",
        }
    }

    /// Parses a name as printed by [`EncrAlg::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<EncrAlg> {
        EncrAlg::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for EncrAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Transform Type 2: pseudorandom functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrfAlg {
    /// PRF_HMAC_SHA1 (2), RFC 2104.
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5), RFC 4868.
    HmacSha2_256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha2_384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha2_512,
}

impl PrfAlg {
    /// Every supported PRF.
    pub const ALL: [PrfAlg; 4] = [
        PrfAlg::HmacSha1,
        PrfAlg::HmacSha2_256,
        PrfAlg::HmacSha2_384,
        PrfAlg::HmacSha2_512,
    ];

    /// The IANA Transform ID.
    pub const fn transform_id(self) -> u16 {
        match self {
            PrfAlg::HmacSha1 => 2,
            PrfAlg::HmacSha2_256 => 5,
            PrfAlg::HmacSha2_384 => 6,
            PrfAlg::HmacSha2_512 => 7,
        }
    }

    /// The PRF for a Transform ID, if supported.
    pub const fn from_id(id: u16) -> Option<PrfAlg> {
        match id {
            2 => Some(PrfAlg::HmacSha1),
            5 => Some(PrfAlg::HmacSha2_256),
            6 => Some(PrfAlg::HmacSha2_384),
            7 => Some(PrfAlg::HmacSha2_512),
            _ => None,
        }
    }

    /// The output length in bytes, which is also the preferred key length:
    /// the length of SK_d, SK_pi and SK_pr (RFC 7296 2.14).
    pub const fn output_len(self) -> usize {
        match self {
            PrfAlg::HmacSha1 => 20,
            PrfAlg::HmacSha2_256 => 32,
            PrfAlg::HmacSha2_384 => 48,
            PrfAlg::HmacSha2_512 => 64,
        }
    }

    /// The name Libreswan prints, e.g. `HMAC_SHA2_256`.
    pub const fn name(self) -> &'static str {
        match self {
            PrfAlg::HmacSha1 => "HMAC_SHA1",
            PrfAlg::HmacSha2_256 => "HMAC_SHA2_256",
            PrfAlg::HmacSha2_384 => "HMAC_SHA2_384",
            PrfAlg::HmacSha2_512 => "HMAC_SHA2_512",
        }
    }

    /// Parses a name as printed by [`PrfAlg::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<PrfAlg> {
        PrfAlg::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn hmac_algorithm(self) -> aws_lc_rs::hmac::Algorithm {
        match self {
            PrfAlg::HmacSha1 => aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            PrfAlg::HmacSha2_256 => aws_lc_rs::hmac::HMAC_SHA256,
            PrfAlg::HmacSha2_384 => aws_lc_rs::hmac::HMAC_SHA384,
            PrfAlg::HmacSha2_512 => aws_lc_rs::hmac::HMAC_SHA512,
        }
    }
}

impl fmt::Display for PrfAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Transform Type 3: integrity algorithms (for AES-CBC; an AEAD is
/// negotiated without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegAlg {
    /// AUTH_HMAC_SHA1_96 (2), RFC 2404.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12), RFC 4868.
    HmacSha2_256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha2_384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha2_512_256,
}

impl IntegAlg {
    /// Every supported integrity algorithm.
    pub const ALL: [IntegAlg; 4] = [
        IntegAlg::HmacSha1_96,
        IntegAlg::HmacSha2_256_128,
        IntegAlg::HmacSha2_384_192,
        IntegAlg::HmacSha2_512_256,
    ];

    /// The IANA Transform ID.
    pub const fn transform_id(self) -> u16 {
        match self {
            IntegAlg::HmacSha1_96 => 2,
            IntegAlg::HmacSha2_256_128 => 12,
            IntegAlg::HmacSha2_384_192 => 13,
            IntegAlg::HmacSha2_512_256 => 14,
        }
    }

    /// The integrity algorithm for a Transform ID, if supported.
    pub const fn from_id(id: u16) -> Option<IntegAlg> {
        match id {
            2 => Some(IntegAlg::HmacSha1_96),
            12 => Some(IntegAlg::HmacSha2_256_128),
            13 => Some(IntegAlg::HmacSha2_384_192),
            14 => Some(IntegAlg::HmacSha2_512_256),
            _ => None,
        }
    }

    /// The key length in bytes (SK_ai/SK_ar, and ESP integrity KEYMAT).
    pub const fn key_len(self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 20,
            IntegAlg::HmacSha2_256_128 => 32,
            IntegAlg::HmacSha2_384_192 => 48,
            IntegAlg::HmacSha2_512_256 => 64,
        }
    }

    /// The truncated ICV length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 12,
            IntegAlg::HmacSha2_256_128 => 16,
            IntegAlg::HmacSha2_384_192 => 24,
            IntegAlg::HmacSha2_512_256 => 32,
        }
    }

    /// The name Libreswan prints, e.g. `HMAC_SHA2_256_128`.
    pub const fn name(self) -> &'static str {
        match self {
            IntegAlg::HmacSha1_96 => "HMAC_SHA1_96",
            IntegAlg::HmacSha2_256_128 => "HMAC_SHA2_256_128",
            IntegAlg::HmacSha2_384_192 => "HMAC_SHA2_384_192",
            IntegAlg::HmacSha2_512_256 => "HMAC_SHA2_512_256",
        }
    }

    /// Parses a name as printed by [`IntegAlg::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<IntegAlg> {
        IntegAlg::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn hmac_algorithm(self) -> aws_lc_rs::hmac::Algorithm {
        match self {
            IntegAlg::HmacSha1_96 => aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            IntegAlg::HmacSha2_256_128 => aws_lc_rs::hmac::HMAC_SHA256,
            IntegAlg::HmacSha2_384_192 => aws_lc_rs::hmac::HMAC_SHA384,
            IntegAlg::HmacSha2_512_256 => aws_lc_rs::hmac::HMAC_SHA512,
        }
    }
}

impl fmt::Display for IntegAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Transform Type 4: key exchange methods (Diffie-Hellman groups, and
/// ML-KEM per RFC 9370 / draft-ietf-ipsecme-ikev2-mlkem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeGroup {
    /// 2048-bit MODP group (14), RFC 3526.
    Modp2048,
    /// 3072-bit MODP group (15), RFC 3526.
    Modp3072,
    /// 4096-bit MODP group (16), RFC 3526.
    Modp4096,
    /// 256-bit random ECP group (19), RFC 5903.
    Ecp256,
    /// 384-bit random ECP group (20), RFC 5903.
    Ecp384,
    /// 521-bit random ECP group (21), RFC 5903.
    Ecp521,
    /// Curve25519 (31), RFC 8031.
    Curve25519,
    /// ML-KEM-768 (36), FIPS 203, IANA "ml-kem-768".
    MlKem768,
}

impl KeGroup {
    /// Every supported key exchange method.
    pub const ALL: [KeGroup; 8] = [
        KeGroup::Modp2048,
        KeGroup::Modp3072,
        KeGroup::Modp4096,
        KeGroup::Ecp256,
        KeGroup::Ecp384,
        KeGroup::Ecp521,
        KeGroup::Curve25519,
        KeGroup::MlKem768,
    ];

    /// The IANA Transform ID, also the Diffie-Hellman Group Num of the KE
    /// payload.
    pub const fn transform_id(self) -> u16 {
        match self {
            KeGroup::Modp2048 => 14,
            KeGroup::Modp3072 => 15,
            KeGroup::Modp4096 => 16,
            KeGroup::Ecp256 => 19,
            KeGroup::Ecp384 => 20,
            KeGroup::Ecp521 => 21,
            KeGroup::Curve25519 => 31,
            KeGroup::MlKem768 => 36,
        }
    }

    /// The method for a Transform ID / group number, if supported.
    pub const fn from_id(id: u16) -> Option<KeGroup> {
        match id {
            14 => Some(KeGroup::Modp2048),
            15 => Some(KeGroup::Modp3072),
            16 => Some(KeGroup::Modp4096),
            19 => Some(KeGroup::Ecp256),
            20 => Some(KeGroup::Ecp384),
            21 => Some(KeGroup::Ecp521),
            31 => Some(KeGroup::Curve25519),
            36 => Some(KeGroup::MlKem768),
            _ => None,
        }
    }

    /// Whether this is a KEM (the two sides send different kinds of data)
    /// rather than a Diffie-Hellman group.
    pub const fn is_kem(self) -> bool {
        matches!(self, KeGroup::MlKem768)
    }

    /// The length of the initiator's Key Exchange Data: the public value
    /// of a Diffie-Hellman group, or the ML-KEM encapsulation key (1184).
    pub const fn initiator_public_len(self) -> usize {
        match self {
            KeGroup::Modp2048 => 256,
            KeGroup::Modp3072 => 384,
            KeGroup::Modp4096 => 512,
            KeGroup::Ecp256 => 64,
            KeGroup::Ecp384 => 96,
            KeGroup::Ecp521 => 132,
            KeGroup::Curve25519 => 32,
            KeGroup::MlKem768 => 1184,
        }
    }

    /// The length of the responder's Key Exchange Data: the same as the
    /// initiator's for Diffie-Hellman, the ML-KEM ciphertext (1088) for a
    /// KEM.
    pub const fn responder_public_len(self) -> usize {
        match self {
            KeGroup::MlKem768 => 1088,
            other => other.initiator_public_len(),
        }
    }

    /// The length of the shared secret: the modulus length for MODP, the
    /// x coordinate for ECP (RFC 5903 7), 32 for Curve25519 and ML-KEM.
    pub const fn shared_secret_len(self) -> usize {
        match self {
            KeGroup::Modp2048 => 256,
            KeGroup::Modp3072 => 384,
            KeGroup::Modp4096 => 512,
            KeGroup::Ecp256 => 32,
            KeGroup::Ecp384 => 48,
            KeGroup::Ecp521 => 66,
            KeGroup::Curve25519 | KeGroup::MlKem768 => 32,
        }
    }

    /// The name Libreswan prints (`MODP2048`, `DH19`, `DH31`,
    /// `ML_KEM_768`).
    pub const fn name(self) -> &'static str {
        match self {
            KeGroup::Modp2048 => "MODP2048",
            KeGroup::Modp3072 => "MODP3072",
            KeGroup::Modp4096 => "MODP4096",
            KeGroup::Ecp256 => "DH19",
            KeGroup::Ecp384 => "DH20",
            KeGroup::Ecp521 => "DH21",
            KeGroup::Curve25519 => "DH31",
            KeGroup::MlKem768 => "ML_KEM_768",
        }
    }

    /// Parses a name: the printed one ([`KeGroup::name`]) or the usual
    /// aliases (`dh14`, `ecp256`, `ecp_256`, `curve25519`, `x25519`,
    /// `mlkem768`, ...), case-insensitively.
    pub fn from_name(name: &str) -> Option<KeGroup> {
        let n = name.to_ascii_lowercase().replace(['_', '-'], "");
        Some(match n.as_str() {
            "modp2048" | "dh14" => KeGroup::Modp2048,
            "modp3072" | "dh15" => KeGroup::Modp3072,
            "modp4096" | "dh16" => KeGroup::Modp4096,
            "dh19" | "ecp256" => KeGroup::Ecp256,
            "dh20" | "ecp384" => KeGroup::Ecp384,
            "dh21" | "ecp521" => KeGroup::Ecp521,
            "dh31" | "curve25519" | "x25519" => KeGroup::Curve25519,
            "mlkem768" => KeGroup::MlKem768,
            _ => return None,
        })
    }
}

impl fmt::Display for KeGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for a in EncrAlg::ALL {
            assert_eq!(
                EncrAlg::from_id(a.transform_id(), a.key_length_attribute()),
                Some(a)
            );
            assert_eq!(EncrAlg::from_name(a.name()), Some(a));
        }
        for a in PrfAlg::ALL {
            assert_eq!(PrfAlg::from_id(a.transform_id()), Some(a));
            assert_eq!(PrfAlg::from_name(a.name()), Some(a));
        }
        for a in IntegAlg::ALL {
            assert_eq!(IntegAlg::from_id(a.transform_id()), Some(a));
            assert_eq!(IntegAlg::from_name(a.name()), Some(a));
        }
        for g in KeGroup::ALL {
            assert_eq!(KeGroup::from_id(g.transform_id()), Some(g));
            assert_eq!(KeGroup::from_name(g.name()), Some(g));
        }
    }

    #[test]
    fn key_length_attribute_rules() {
        assert_eq!(EncrAlg::from_id(12, None), None);
        assert_eq!(EncrAlg::from_id(20, Some(192)), None);
        assert_eq!(EncrAlg::from_id(28, Some(256)), None);
        assert_eq!(EncrAlg::from_id(3, Some(128)), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(EncrAlg::AesGcm16_256.keymat_len(), 36);
        assert_eq!(EncrAlg::ChaCha20Poly1305.keymat_len(), 36);
        assert_eq!(EncrAlg::AesCbc128.keymat_len(), 16);
        assert_eq!(IntegAlg::HmacSha2_512_256.icv_len(), 32);
        assert_eq!(KeGroup::from_name("ecp_384"), Some(KeGroup::Ecp384));
        assert_eq!(KeGroup::from_name("mlkem768"), Some(KeGroup::MlKem768));
        assert_eq!(KeGroup::from_id(22), None);
    }
}
