//! RSASSA-PKCS1-v1_5 with SHA-1 (IKEv2 authentication method 1, "RSA Digital
//! Signature", for older peers), computed with constant-time Montgomery
//! exponentiation because aws-lc-rs only verifies SHA-1 signatures.

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use zeroize::{Zeroize, Zeroizing};

use crate::der::{tag, Reader};
use crate::error::{PkiError, Result};
use crate::pubkey::Hash;

/// DER DigestInfo header for SHA-1 (RFC 8017 9.2 note 1).
const SHA1_DIGEST_INFO: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];

/// The PKCS#1 RSAPrivateKey inside a PKCS#8 PrivateKeyInfo.
pub(crate) fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mut info = Reader::new(pkcs8, "PKCS#8 private key").nested(tag::SEQUENCE)?;
    info.expect(tag::INTEGER)?;
    info.expect(tag::SEQUENCE)?;
    Ok(Zeroizing::new(
        info.expect(tag::OCTET_STRING)?.value.to_vec(),
    ))
}

fn unsigned(v: &[u8]) -> &[u8] {
    let i = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    v.get(i..).unwrap_or_default()
}

/// Signs `message` with the PKCS#1 RSAPrivateKey `pkcs1`.
pub(crate) fn sign_pkcs1_sha1(pkcs1: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    let mut key = Reader::new(pkcs1, "RSA private key").nested(tag::SEQUENCE)?;
    key.expect(tag::INTEGER)?;
    let n = unsigned(key.expect(tag::INTEGER)?.value);
    key.expect(tag::INTEGER)?;
    let d = unsigned(key.expect(tag::INTEGER)?.value);
    let k = n.len();
    let t_len = SHA1_DIGEST_INFO.len() + 20;
    if k < t_len + 11 {
        return Err(PkiError::Sign("RSA modulus too short for SHA-1".into()));
    }
    // EM = 0x00 || 0x01 || PS (0xff...) || 0x00 || DigestInfo || H
    let mut em = vec![0xffu8; k];
    if let Some(b) = em.get_mut(0) {
        *b = 0;
    }
    if let Some(b) = em.get_mut(1) {
        *b = 1;
    }
    let t_start = k - t_len;
    if let Some(b) = em.get_mut(t_start - 1) {
        *b = 0;
    }
    let mut t = SHA1_DIGEST_INFO.to_vec();
    t.extend(Hash::Sha1.digest(message));
    em.get_mut(t_start..)
        .ok_or_else(|| PkiError::Sign("bad encoding length".into()))?
        .copy_from_slice(&t);

    let bits = u32::try_from(k.div_ceil(8) * 64)
        .map_err(|_| PkiError::Sign("RSA modulus too large".into()))?;
    let bad = |_| PkiError::Sign("RSA key does not fit".into());
    let n_int = BoxedUint::from_be_slice(n, bits).map_err(bad)?;
    let n_odd = Option::<Odd<BoxedUint>>::from(Odd::new(n_int))
        .ok_or_else(|| PkiError::Sign("RSA modulus is even".into()))?;
    let mut d_int = BoxedUint::from_be_slice(d, bits).map_err(bad)?;
    let m_int = BoxedUint::from_be_slice(&em, bits).map_err(bad)?;
    let params = BoxedMontyParams::new(n_odd);
    let mut s_int = BoxedMontyForm::new(m_int, params).pow(&d_int).retrieve();
    d_int.zeroize();
    let bytes = s_int.to_be_bytes();
    s_int.zeroize();
    let sig = bytes
        .get(bytes.len().saturating_sub(k)..)
        .ok_or_else(|| PkiError::Sign("bad signature length".into()))?
        .to_vec();
    Ok(sig)
}
