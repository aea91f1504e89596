//! RSASSA-PKCS1-v1_5 with SHA-1 for the legacy IKEv2 "RSA Digital
//! Signature" authentication method (1), which Libreswan and strongSwan
//! compute over SHA-1. aws-lc-rs verifies such signatures but offers no way
//! to make them, so the private-key operation is done here with
//! crypto-bigint's constant-time Montgomery exponentiation, and every
//! signature is checked with the public key before it is used.

use aws_lc_rs::digest;
use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::{Limb, Odd, Uint, U2048, U3072, U4096, U8192};
use zeroize::Zeroize;

use super::der::{Reader, SEQUENCE};
use super::error::CryptoError;
use super::secret::Secret;

/// DigestInfo prefix for SHA-1 (RFC 8017 9.2, note 1).
const SHA1_DIGEST_INFO: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];

/// Signs `data` with the RSAPrivateKey (PKCS#1 DER) `key`.
pub(super) fn sign_pkcs1_sha1(key: &Secret, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut outer = Reader::new(key.as_bytes());
    let mut fields = Reader::new(outer.read(SEQUENCE)?);
    let _version = fields.read_unsigned()?;
    let n = fields.read_unsigned()?;
    let _e = fields.read_unsigned()?;
    let d = fields.read_unsigned()?;
    let k = n.len();
    if d.len() > k {
        return Err(CryptoError::KeyRejected(
            "RSA private exponent longer than the modulus".into(),
        ));
    }
    let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    // EM = 0x00 || 0x01 || PS (0xff...) || 0x00 || DigestInfo || H
    let t_len = SHA1_DIGEST_INFO.len() + hash.as_ref().len();
    if k < t_len + 11 {
        return Err(CryptoError::KeyRejected("RSA modulus too short".into()));
    }
    let mut em = Vec::with_capacity(k);
    em.push(0x00);
    em.push(0x01);
    em.resize(k - t_len - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(&SHA1_DIGEST_INFO);
    em.extend_from_slice(hash.as_ref());
    // The Montgomery arithmetic runs in the next supported width; the
    // modulus may be smaller than the width (e.g. Libreswan's 2192-bit
    // test keys).
    match k {
        0..=256 => power::<{ U2048::LIMBS }>(n, &em, d),
        257..=384 => power::<{ U3072::LIMBS }>(n, &em, d),
        385..=512 => power::<{ U4096::LIMBS }>(n, &em, d),
        513..=1024 => power::<{ U8192::LIMBS }>(n, &em, d),
        _ => Err(CryptoError::Unsupported("RSA keys above 8192 bits")),
    }
}

/// Left-pads big-endian `v` to `width` bytes.
fn padded(v: &[u8], width: usize) -> Result<Secret, CryptoError> {
    let mut out = Secret::new(vec![0u8; width]);
    let start = width
        .checked_sub(v.len())
        .ok_or(CryptoError::Internal("RSA operand wider than its type"))?;
    if let Some(dst) = out.as_bytes_mut().get_mut(start..) {
        dst.copy_from_slice(v);
    }
    Ok(out)
}

fn power<const L: usize>(n: &[u8], m: &[u8], d: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let width = L * Limb::BYTES;
    let k = n.len();
    let n_w = padded(n, width)?;
    let m_w = padded(m, width)?;
    let d_w = padded(d, width)?;
    let modulus = Option::<Odd<Uint<L>>>::from(Odd::new(Uint::<L>::from_be_slice(n_w.as_bytes())))
        .ok_or_else(|| CryptoError::KeyRejected("RSA modulus is even".into()))?;
    let params = MontyParams::new_vartime(modulus);
    let base = Uint::<L>::from_be_slice(m_w.as_bytes());
    let mut exponent = Uint::<L>::from_be_slice(d_w.as_bytes());
    let s = MontyForm::new(&base, params).pow(&exponent).retrieve();
    exponent.as_words_mut().zeroize();
    let mut out = Vec::with_capacity(width);
    for w in s.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    // s < n, so the bytes above the modulus length are zero.
    Ok(out.split_off(width - k))
}
