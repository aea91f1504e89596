//! Protection of the Encrypted payload (SK, RFC 7296 3.14) and the
//! Encrypted Fragment payload (SKF, RFC 7383): AES-GCM-16 (RFC 5282),
//! ChaCha20-Poly1305 (RFC 7634), and AES-CBC (RFC 3602) with HMAC
//! integrity (RFC 4868, RFC 2404).
//!
//! # What the caller passes as `aad`
//!
//! For every algorithm, `aad` is **every octet of the IKE message before
//! the IV**: the IKE header, any payloads preceding the SK payload, and the
//! SK payload's 4-octet generic header (for SKF, its 8-octet header:
//! generic header, Fragment Number and Total Fragments). The Length fields
//! in the IKE header and in the SK/SKF payload header must already hold
//! their final values, i.e. they count the IV, ciphertext and ICV:
//! compute them with [`SkCipher::encrypted_len`] before calling
//! [`SkCipher::encrypt`].
//!
//! - AEAD (RFC 5282 5.1, RFC 7634 4): these octets are the Additional
//!   Authenticated Data; the nonce is salt (from SK_e) || IV.
//! - AES-CBC + HMAC (RFC 7296 3.14): the ICV is the truncated HMAC with SK_a
//!   of `aad || IV || ciphertext`, that is, of the whole message up to the
//!   ICV.
//!
//! # Body layout
//!
//! `encrypt` returns, and `decrypt` takes, the SK payload body after its
//! generic header: IV || ciphertext || ICV, where the ciphertext covers
//! plaintext || padding || Pad Length (1 octet). The plaintext is the
//! inner payloads (whose type is in the SK header's Next Payload field).

use std::fmt;

use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128,
    AES_256,
};
use aws_lc_rs::{aead, constant_time, hmac};

use super::alg::{EncrAlg, IntegAlg};
use super::error::CryptoError;
use super::random::Random;
use super::secret::Secret;

enum Kind {
    Aead {
        key: aead::LessSafeKey,
        salt: [u8; 4],
    },
    Cbc(Box<CbcKeys>),
}

struct CbcKeys {
    encrypt: EncryptingKey,
    decrypt: DecryptingKey,
    mac: hmac::Key,
    integ: IntegAlg,
}

/// The cipher for one direction of an IKE SA, built from that direction's
/// SK_e and SK_a.
pub struct SkCipher {
    encr: EncrAlg,
    integ: Option<IntegAlg>,
    kind: Kind,
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl SkCipher {
    /// A cipher from SK_e (key || salt for an AEAD) and SK_a (empty for an
    /// AEAD). `integ` must be `None` for an AEAD and `Some` for AES-CBC.
    pub fn new(
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        sk_e: &Secret,
        sk_a: &Secret,
    ) -> Result<SkCipher, CryptoError> {
        if sk_e.len() != encr.keymat_len() {
            return Err(CryptoError::InvalidLength {
                what: "SK_e",
                expected: encr.keymat_len(),
                got: sk_e.len(),
            });
        }
        let kind = match (encr, integ) {
            (EncrAlg::AesGcm16_128 | EncrAlg::AesGcm16_256 | EncrAlg::ChaCha20Poly1305, None) => {
                let alg = match encr {
                    EncrAlg::AesGcm16_128 => &aead::AES_128_GCM,
                    EncrAlg::AesGcm16_256 => &aead::AES_256_GCM,
                    _ => &aead::CHACHA20_POLY1305,
                };
                let (k, s) = sk_e.as_bytes().split_at(encr.key_len());
                let unbound = aead::UnboundKey::new(alg, k)
                    .map_err(|_| CryptoError::Internal("AEAD key rejected"))?;
                let mut salt = [0u8; 4];
                salt.copy_from_slice(s);
                Kind::Aead {
                    key: aead::LessSafeKey::new(unbound),
                    salt,
                }
            }
            (EncrAlg::AesCbc128 | EncrAlg::AesCbc256, Some(integ)) => {
                if sk_a.len() != integ.key_len() {
                    return Err(CryptoError::InvalidLength {
                        what: "SK_a",
                        expected: integ.key_len(),
                        got: sk_a.len(),
                    });
                }
                let alg = if encr == EncrAlg::AesCbc128 {
                    &AES_128
                } else {
                    &AES_256
                };
                let cbc_key = |()| {
                    UnboundCipherKey::new(alg, sk_e.as_bytes())
                        .map_err(|_| CryptoError::Internal("AES key rejected"))
                };
                let encrypt = EncryptingKey::cbc(cbc_key(())?)
                    .map_err(|_| CryptoError::Internal("AES-CBC key rejected"))?;
                let decrypt = DecryptingKey::cbc(cbc_key(())?)
                    .map_err(|_| CryptoError::Internal("AES-CBC key rejected"))?;
                Kind::Cbc(Box::new(CbcKeys {
                    encrypt,
                    decrypt,
                    mac: hmac::Key::new(integ.hmac_algorithm(), sk_a.as_bytes()),
                    integ,
                }))
            }
            (_, Some(_)) => {
                return Err(CryptoError::InvalidAlgorithms(
                    "an AEAD cipher is negotiated without an integrity algorithm",
                ))
            }
            (_, None) => {
                return Err(CryptoError::InvalidAlgorithms(
                    "AES-CBC protects IKE messages only with an integrity algorithm",
                ))
            }
        };
        Ok(SkCipher { encr, integ, kind })
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> EncrAlg {
        self.encr
    }

    /// The integrity algorithm (`None` for an AEAD).
    pub fn integ(&self) -> Option<IntegAlg> {
        self.integ
    }

    /// The IV length: 16 for AES-CBC, 8 for the AEADs.
    pub fn iv_len(&self) -> usize {
        self.encr.iv_len()
    }

    /// The ICV length: the AEAD tag (16) or the truncated HMAC.
    pub fn icv_len(&self) -> usize {
        match self.integ {
            Some(i) => i.icv_len(),
            None => self.encr.aead_icv_len(),
        }
    }

    /// The block size that plaintext || padding || Pad Length is a multiple
    /// of: 16 for AES-CBC, 1 for the AEADs (ferroswan sends no padding with
    /// them; it accepts any).
    pub fn block_len(&self) -> usize {
        self.encr.block_len()
    }

    /// The padding [`SkCipher::encrypt`] adds to `plaintext_len` bytes, not
    /// counting the Pad Length octet.
    pub fn padding_len(&self, plaintext_len: usize) -> usize {
        let b = self.block_len();
        (b - (plaintext_len + 1) % b) % b
    }

    /// The length of the SK payload body (IV || ciphertext || ICV) that
    /// [`SkCipher::encrypt`] produces for `plaintext_len` bytes.
    pub fn encrypted_len(&self, plaintext_len: usize) -> usize {
        self.iv_len() + plaintext_len + self.padding_len(plaintext_len) + 1 + self.icv_len()
    }

    /// The largest body overhead for any plaintext: IV, ICV, Pad Length and
    /// the most padding (block size - 1).
    pub fn overhead(&self) -> usize {
        self.iv_len() + self.icv_len() + self.block_len()
    }

    /// The most plaintext whose encrypted body fits in `body_len` bytes
    /// (0 if none fits); for sizing IKE fragments (RFC 7383).
    pub fn max_plaintext_for(&self, body_len: usize) -> usize {
        let avail = body_len.saturating_sub(self.iv_len() + self.icv_len());
        let b = self.block_len();
        (avail - avail % b).saturating_sub(1)
    }

    /// Encrypts `plaintext` with a fresh IV from `rng` and returns IV ||
    /// ciphertext || ICV. `aad`: see the [module documentation](self).
    pub fn encrypt(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn Random,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut iv = vec![0u8; self.iv_len()];
        rng.fill(&mut iv);
        self.encrypt_with_iv(aad, plaintext, &iv)
    }

    /// [`SkCipher::encrypt`] with a given IV, for known-answer tests. The
    /// IV must never repeat under one key (for the AEADs that would be
    /// catastrophic); outside tests use `encrypt`.
    pub fn encrypt_with_iv(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        iv: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if iv.len() != self.iv_len() {
            return Err(CryptoError::InvalidLength {
                what: "IV",
                expected: self.iv_len(),
                got: iv.len(),
            });
        }
        let pad = self.padding_len(plaintext.len());
        let total = self.encrypted_len(plaintext.len());
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(iv);
        out.extend_from_slice(plaintext);
        // RFC 7296 3.14: the padding may hold any value; ferroswan sends
        // zeros.
        out.resize(out.len() + pad, 0);
        out.push(pad as u8);
        let iv_len = self.iv_len();
        match &self.kind {
            Kind::Aead { key, salt } => {
                let nonce = aead_nonce(salt, iv)?;
                let body = out
                    .get_mut(iv_len..)
                    .ok_or(CryptoError::Internal("body shorter than the IV"))?;
                let tag = key
                    .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), body)
                    .map_err(|_| CryptoError::Internal("AEAD seal failed"))?;
                out.extend_from_slice(tag.as_ref());
            }
            Kind::Cbc(cbc) => {
                let iv16: [u8; 16] = iv
                    .try_into()
                    .map_err(|_| CryptoError::Internal("CBC IV length"))?;
                let body = out
                    .get_mut(iv_len..)
                    .ok_or(CryptoError::Internal("body shorter than the IV"))?;
                cbc.encrypt
                    .less_safe_encrypt(body, EncryptionContext::Iv128(iv16.into()))
                    .map_err(|_| CryptoError::Internal("AES-CBC encryption failed"))?;
                let mut ctx = hmac::Context::with_key(&cbc.mac);
                ctx.update(aad);
                ctx.update(&out);
                let tag = ctx.sign();
                let icv = tag
                    .as_ref()
                    .get(..cbc.integ.icv_len())
                    .ok_or(CryptoError::Internal("HMAC shorter than the ICV"))?;
                out.extend_from_slice(icv);
            }
        }
        Ok(out)
    }

    /// Verifies the ICV (in constant time) and decrypts the SK payload body
    /// IV || ciphertext || ICV, returning the plaintext without padding and
    /// Pad Length. `aad`: see the [module documentation](self).
    pub fn decrypt(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let min = iv_len + icv_len + self.block_len().max(1);
        if body.len() < min {
            return Err(CryptoError::MalformedCiphertext(
                "shorter than IV, one block and ICV",
            ));
        }
        let (iv, rest) = body.split_at(iv_len);
        let (ciphertext, icv) = rest.split_at(rest.len() - icv_len);
        let mut plain = match &self.kind {
            Kind::Aead { key, salt } => {
                let nonce = aead_nonce(salt, iv)?;
                let mut buf = rest.to_vec();
                let len = key
                    .open_in_place(nonce, aead::Aad::from(aad), &mut buf)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?
                    .len();
                buf.truncate(len);
                buf
            }
            Kind::Cbc(cbc) => {
                if ciphertext.len() % 16 != 0 {
                    return Err(CryptoError::MalformedCiphertext(
                        "AES-CBC ciphertext is not a multiple of 16 octets",
                    ));
                }
                let mut ctx = hmac::Context::with_key(&cbc.mac);
                ctx.update(aad);
                ctx.update(iv);
                ctx.update(ciphertext);
                let tag = ctx.sign();
                let expect = tag
                    .as_ref()
                    .get(..cbc.integ.icv_len())
                    .ok_or(CryptoError::Internal("HMAC shorter than the ICV"))?;
                constant_time::verify_slices_are_equal(expect, icv)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?;
                let iv16: [u8; 16] = iv
                    .try_into()
                    .map_err(|_| CryptoError::Internal("CBC IV length"))?;
                let mut buf = ciphertext.to_vec();
                let len = cbc
                    .decrypt
                    .decrypt(&mut buf, DecryptionContext::Iv128(iv16.into()))
                    .map_err(|_| CryptoError::MalformedCiphertext("AES-CBC decryption failed"))?
                    .len();
                buf.truncate(len);
                buf
            }
        };
        let pad_len = match plain.last() {
            Some(p) => usize::from(*p),
            None => return Err(CryptoError::MalformedCiphertext("empty plaintext")),
        };
        if pad_len + 1 > plain.len() {
            return Err(CryptoError::MalformedCiphertext(
                "Pad Length exceeds the decrypted data",
            ));
        }
        plain.truncate(plain.len() - pad_len - 1);
        Ok(plain)
    }
}

fn aead_nonce(salt: &[u8; 4], iv: &[u8]) -> Result<aead::Nonce, CryptoError> {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n.get_mut(4..)
        .filter(|s| s.len() == iv.len())
        .ok_or(CryptoError::Internal("AEAD IV length"))?
        .copy_from_slice(iv);
    Ok(aead::Nonce::assume_unique_for_key(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::random::TestRandom;

    fn cipher(encr: EncrAlg, integ: Option<IntegAlg>) -> SkCipher {
        let e = Secret::new((0..encr.keymat_len() as u8).collect());
        let a = Secret::new((0..integ.map_or(0, |i| i.key_len()) as u8).collect());
        SkCipher::new(encr, integ, &e, &a).unwrap()
    }

    #[test]
    fn sizes_agree_with_output() {
        let mut rng = TestRandom::new(3);
        for (encr, integ) in [
            (EncrAlg::AesGcm16_256, None),
            (EncrAlg::AesCbc128, Some(IntegAlg::HmacSha2_256_128)),
        ] {
            let c = cipher(encr, integ);
            for n in 0..40 {
                let body = c.encrypt(b"hdr", &vec![7; n], &mut rng).unwrap();
                assert_eq!(body.len(), c.encrypted_len(n));
                assert!(c.max_plaintext_for(body.len()) >= n);
                assert!(c.encrypted_len(c.max_plaintext_for(body.len())) <= body.len());
                assert!(body.len() <= n + c.overhead());
            }
        }
    }
}
