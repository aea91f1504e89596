//! Key logs for an independent decoder: an IKE SA's keys as lines of
//! Wireshark's `ikev2_decryption_table` and a Child SA's keys as lines of
//! its `esp_sa` table (both "UAT" files in Wireshark's configuration
//! directory, e.g. `$XDG_CONFIG_HOME/wireshark/`).
//!
//! These lines hold session keys in clear: they are built only when asked
//! for, handed out in [`Zeroizing`] strings, and never logged. The
//! algorithm names are spelled exactly as Wireshark 4.0 spells them.
//!
//! Wireshark 4.0's ESP table has no extended-sequence-number field: with
//! ESN it decrypts ESP but reports the ICV wrong (docs/keylog.md).

use std::fmt::Write as _;
use std::net::IpAddr;

use zeroize::Zeroizing;

use crate::crypto::{EncrAlg, IkeSaKeys, IntegAlg};
use crate::engine::ChildSaInfo;

/// Why keys cannot be written for Wireshark.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeylogError {
    /// Wireshark 4.0 has no decryption for this algorithm.
    #[error("Wireshark cannot decrypt {0}: no key log line written")]
    Unsupported(&'static str),
}

/// The keys of one IKE SA as the engine holds them (zeroized on drop,
/// redacted in Debug through [`IkeSaKeys`]).
#[derive(Debug, Clone)]
pub struct IkeSaKeylog {
    /// The initiator's SPI.
    pub spi_i: [u8; 8],
    /// The responder's SPI.
    pub spi_r: [u8; 8],
    /// The SA's keys and algorithms.
    pub keys: IkeSaKeys,
}

/// Wireshark's name of an IKEv2 encryption algorithm
/// (`ikev2_decryption_table` field "Encryption algorithm").
pub fn ikev2_encr_name(encr: EncrAlg) -> Result<&'static str, KeylogError> {
    match encr {
        EncrAlg::AesCbc128 => Ok("AES-CBC-128 [RFC3602]"),
        EncrAlg::AesCbc256 => Ok("AES-CBC-256 [RFC3602]"),
        EncrAlg::AesGcm16_128 => Ok("AES-GCM-128 with 16 octet ICV [RFC5282]"),
        EncrAlg::AesGcm16_256 => Ok("AES-GCM-256 with 16 octet ICV [RFC5282]"),
        EncrAlg::ChaCha20Poly1305 => Err(KeylogError::Unsupported("ChaCha20-Poly1305")),
    }
}

/// Wireshark's name of an IKEv2 integrity algorithm (`None`: an AEAD).
pub fn ikev2_integ_name(integ: Option<IntegAlg>) -> &'static str {
    match integ {
        None => "NONE [RFC4306]",
        Some(IntegAlg::HmacSha1_96) => "HMAC_SHA1_96 [RFC2404]",
        Some(IntegAlg::HmacSha2_256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(IntegAlg::HmacSha2_384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(IntegAlg::HmacSha2_512_256) => "HMAC_SHA2_512_256 [RFC4868]",
    }
}

/// Wireshark's name of an ESP encryption algorithm (`esp_sa` table).
pub fn esp_encr_name(encr: EncrAlg) -> Result<&'static str, KeylogError> {
    match encr {
        EncrAlg::AesCbc128 | EncrAlg::AesCbc256 => Ok("AES-CBC [RFC3602]"),
        EncrAlg::AesGcm16_128 | EncrAlg::AesGcm16_256 => Ok("AES-GCM with 16 octet ICV [RFC4106]"),
        EncrAlg::ChaCha20Poly1305 => Err(KeylogError::Unsupported("ChaCha20-Poly1305")),
    }
}

/// Wireshark's name of an ESP authentication algorithm (`None`: an AEAD).
pub fn esp_integ_name(integ: Option<IntegAlg>) -> &'static str {
    match integ {
        None => "NULL",
        Some(IntegAlg::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(IntegAlg::HmacSha2_256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(IntegAlg::HmacSha2_384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(IntegAlg::HmacSha2_512_256) => "HMAC-SHA-512-256 [RFC4868]",
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
}

/// One `ikev2_decryption_table` line (with its newline): SPIi, SPIr,
/// SK_ei, SK_er, encryption algorithm, SK_ai, SK_ar, integrity algorithm.
/// Hex fields are unquoted, names quoted; an AEAD's SK_e* include the
/// 4-byte salt and its SK_a* fields are empty.
pub fn ikev2_line(sa: &IkeSaKeylog) -> Result<Zeroizing<String>, KeylogError> {
    let k = &sa.keys;
    let encr = ikev2_encr_name(k.encr)?;
    let mut s = Zeroizing::new(String::with_capacity(256));
    push_hex(&mut s, &sa.spi_i);
    s.push(',');
    push_hex(&mut s, &sa.spi_r);
    s.push(',');
    push_hex(&mut s, k.sk_ei.as_bytes());
    s.push(',');
    push_hex(&mut s, k.sk_er.as_bytes());
    s.push_str(",\"");
    s.push_str(encr);
    s.push_str("\",");
    push_hex(&mut s, k.sk_ai.as_bytes());
    s.push(',');
    push_hex(&mut s, k.sk_ar.as_bytes());
    s.push_str(",\"");
    s.push_str(ikev2_integ_name(k.integ));
    s.push_str("\"\n");
    Ok(s)
}

/// The two `esp_sa` lines of a Child SA (outbound, then inbound), each
/// with its newline: protocol, source, destination, SPI, encryption
/// algorithm, key (with the salt for AES-GCM), authentication algorithm,
/// key. Addresses are the outer ones (the IKE endpoints).
pub fn esp_sa_lines(child: &ChildSaInfo) -> Result<Zeroizing<String>, KeylogError> {
    let encr = esp_encr_name(child.suite.encr)?;
    let integ = esp_integ_name(child.suite.integ);
    let (local, remote) = (child.local.ip(), child.remote.ip());
    let mut s = Zeroizing::new(String::with_capacity(512));
    for (src, dst, spi, keys) in [
        (local, remote, child.outbound_spi, &child.outbound_keys),
        (remote, local, child.inbound_spi, &child.inbound_keys),
    ] {
        let proto = match src {
            IpAddr::V4(_) => "IPv4",
            IpAddr::V6(_) => "IPv6",
        };
        let _ = write!(
            s,
            "\"{proto}\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{encr}\",\"0x"
        );
        push_hex(&mut s, keys.encr_key.as_bytes());
        push_hex(&mut s, keys.salt.as_bytes());
        let _ = write!(s, "\",\"{integ}\",\"");
        if !keys.integ_key.is_empty() {
            s.push_str("0x");
            push_hex(&mut s, keys.integ_key.as_bytes());
        }
        s.push_str("\"\n");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{PrfAlg, Secret};

    fn keys(encr: EncrAlg, integ: Option<IntegAlg>) -> IkeSaKeys {
        let b = |v: u8, n: usize| Secret::new(vec![v; n]);
        let (e, a) = match encr {
            EncrAlg::AesGcm16_256 => (36, 0),
            _ => (32, 32),
        };
        IkeSaKeys {
            prf: PrfAlg::HmacSha2_256,
            encr,
            integ,
            sk_d: b(0xd0, 32),
            sk_ai: b(0xa1, a),
            sk_ar: b(0xa2, a),
            sk_ei: b(0xe1, e),
            sk_er: b(0xe2, e),
            sk_pi: b(0x01, 32),
            sk_pr: b(0x02, 32),
        }
    }

    #[test]
    fn gcm_line_has_salted_keys_and_no_integrity() {
        let sa = IkeSaKeylog {
            spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
            spi_r: [0xff; 8],
            keys: keys(EncrAlg::AesGcm16_256, None),
        };
        let line = ikev2_line(&sa).expect("line");
        let want = format!(
            "0102030405060708,ffffffffffffffff,{},{},\"AES-GCM-256 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"\n",
            "e1".repeat(36),
            "e2".repeat(36)
        );
        assert_eq!(line.as_str(), want);
    }

    #[test]
    fn cbc_line_carries_integrity_keys() {
        let sa = IkeSaKeylog {
            spi_i: [0; 8],
            spi_r: [9; 8],
            keys: keys(EncrAlg::AesCbc256, Some(IntegAlg::HmacSha2_256_128)),
        };
        let line = ikev2_line(&sa).expect("line");
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        assert_eq!(fields.len(), 8);
        assert_eq!(fields[4], "\"AES-CBC-256 [RFC3602]\"");
        assert_eq!(fields[5], "a1".repeat(32));
        assert_eq!(fields[6], "a2".repeat(32));
        assert_eq!(fields[7], "\"HMAC_SHA2_256_128 [RFC4868]\"");
    }

    #[test]
    fn chacha_is_refused_not_mislabelled() {
        let sa = IkeSaKeylog {
            spi_i: [0; 8],
            spi_r: [0; 8],
            keys: keys(EncrAlg::ChaCha20Poly1305, None),
        };
        assert_eq!(
            ikev2_line(&sa).map(|_| ()),
            Err(KeylogError::Unsupported("ChaCha20-Poly1305"))
        );
    }

    #[test]
    fn debug_does_not_show_keys() {
        let sa = IkeSaKeylog {
            spi_i: [0; 8],
            spi_r: [0; 8],
            keys: keys(EncrAlg::AesGcm16_256, None),
        };
        let dbg = format!("{sa:?}");
        assert!(!dbg.contains("225, 225"), "{dbg}"); // 0xe1 bytes
        assert!(!dbg.to_lowercase().contains("e1e1"), "{dbg}");
    }
}
