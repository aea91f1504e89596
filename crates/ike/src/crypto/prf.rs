//! prf and prf+ (RFC 7296 2.13).

use aws_lc_rs::hmac;

use super::alg::PrfAlg;
use super::error::CryptoError;
use super::secret::Secret;

impl PrfAlg {
    /// prf(key, data).
    pub fn prf(self, key: &[u8], data: &[u8]) -> Secret {
        self.prf_parts(key, &[data])
    }

    /// prf(key, part0 | part1 | ...), without building the concatenation.
    pub fn prf_parts(self, key: &[u8], parts: &[&[u8]]) -> Secret {
        let k = hmac::Key::new(self.hmac_algorithm(), key);
        let mut ctx = hmac::Context::with_key(&k);
        for p in parts {
            ctx.update(p);
        }
        Secret::from_slice(ctx.sign().as_ref())
    }

    /// The most prf+ can produce: 255 blocks (the counter is one octet).
    pub const fn prf_plus_max_len(self) -> usize {
        255 * self.output_len()
    }

    /// prf+(key, seed) truncated to `len` bytes:
    /// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Result<Secret, CryptoError> {
        self.prf_plus_parts(key, &[seed], len)
    }

    /// prf+ with the seed given as the concatenation of `seed_parts`.
    pub fn prf_plus_parts(
        self,
        key: &[u8],
        seed_parts: &[&[u8]],
        len: usize,
    ) -> Result<Secret, CryptoError> {
        if len > self.prf_plus_max_len() {
            return Err(CryptoError::PrfPlusTooLong {
                requested: len,
                max: self.prf_plus_max_len(),
            });
        }
        let k = hmac::Key::new(self.hmac_algorithm(), key);
        let mut previous: Option<hmac::Tag> = None;
        let mut counter: u8 = 1;
        let mut produced = Vec::with_capacity(len + self.output_len());
        while produced.len() < len {
            let mut ctx = hmac::Context::with_key(&k);
            if let Some(t) = &previous {
                ctx.update(t.as_ref());
            }
            for p in seed_parts {
                ctx.update(p);
            }
            ctx.update(&[counter]);
            let t = ctx.sign();
            produced.extend_from_slice(t.as_ref());
            previous = Some(t);
            counter = counter.wrapping_add(1);
        }
        // The capacity was reserved up front, so no reallocation left a
        // stray copy of the key material behind; truncating keeps the
        // tail inside the buffer that Secret zeroizes.
        let mut out = Secret::new(produced);
        out.truncate(len);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_plus_is_chained_prf() {
        let alg = PrfAlg::HmacSha2_256;
        let key = b"key";
        let seed = b"seed";
        let out = alg.prf_plus(key, seed, 70).unwrap();
        let t1 = alg.prf_parts(key, &[seed, &[1]]);
        let t2 = alg.prf_parts(key, &[t1.as_bytes(), seed, &[2]]);
        let t3 = alg.prf_parts(key, &[t2.as_bytes(), seed, &[3]]);
        let mut expect = t1.as_bytes().to_vec();
        expect.extend_from_slice(t2.as_bytes());
        expect.extend_from_slice(&t3.as_bytes()[..6]);
        assert_eq!(out.as_bytes(), &expect[..]);
    }

    #[test]
    fn prf_plus_limit() {
        let alg = PrfAlg::HmacSha1;
        assert!(alg.prf_plus(b"k", b"s", 255 * 20).is_ok());
        assert!(matches!(
            alg.prf_plus(b"k", b"s", 255 * 20 + 1),
            Err(CryptoError::PrfPlusTooLong { .. })
        ));
    }
}
