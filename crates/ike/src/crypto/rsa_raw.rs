//! RSASSA-PKCS1-v1_5 with SHA-1 for the legacy IKEv2 "RSA Digital
//! Signature" authentication method (1), which Libreswan and strongSwan
//! compute over SHA-1. aws-lc-rs verifies such signatures but offers no way
//! to make them, so the private-key operation is done here with
//! crypto-bigint's constant-time Montgomery exponentiation, and every
//! signature is checked with the public key before it is used.

use aws_lc_rs::digest;
use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::{Limb, Odd, Uint, U2048, U3072, U4096};
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
    let mut d_padded = Secret::new(vec![0u8; k]);
    if let Some(dst) = d_padded.as_bytes_mut().get_mut(k - d.len()..) {
        dst.copy_from_slice(d);
    }
    match k {
        256 => power::<{ U2048::LIMBS }>(n, &em, &d_padded),
        384 => power::<{ U3072::LIMBS }>(n, &em, &d_padded),
        512 => power::<{ U4096::LIMBS }>(n, &em, &d_padded),
        _ => Err(CryptoError::Unsupported(
            "legacy RSA signatures (auth method 1) with keys other than 2048, 3072 or 4096 bits",
        )),
    }
}

fn power<const L: usize>(n: &[u8], m: &[u8], d: &Secret) -> Result<Vec<u8>, CryptoError> {
    let bytes = L * Limb::BYTES;
    if n.len() != bytes || m.len() != bytes || d.len() != bytes {
        return Err(CryptoError::Internal("RSA operand size"));
    }
    let modulus = Option::<Odd<Uint<L>>>::from(Odd::new(Uint::<L>::from_be_slice(n)))
        .ok_or_else(|| CryptoError::KeyRejected("RSA modulus is even".into()))?;
    let params = MontyParams::new_vartime(modulus);
    let base = Uint::<L>::from_be_slice(m);
    let mut exponent = Uint::<L>::from_be_slice(d.as_bytes());
    let s = MontyForm::new(&base, params).pow(&exponent).retrieve();
    exponent.as_words_mut().zeroize();
    let mut out = Vec::with_capacity(bytes);
    for w in s.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    Ok(out)
}
