//! The MODP Diffie-Hellman groups 14, 15 and 16 (RFC 3526) on
//! crypto-bigint's constant-time Montgomery arithmetic.

use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::{Limb, Odd, Uint, U2048, U3072, U4096, U512};
use zeroize::Zeroize;

use super::modp_primes::{MODP2048_P, MODP3072_P, MODP4096_P};
use crate::crypto::alg::KeGroup;
use crate::crypto::error::CryptoError;
use crate::crypto::random::Random;
use crate::crypto::secret::Secret;

const P2048: U2048 = U2048::from_be_hex(MODP2048_P);
const P3072: U3072 = U3072::from_be_hex(MODP3072_P);
const P4096: U4096 = U4096::from_be_hex(MODP4096_P);

/// Bytes of the private exponent. RFC 3526 puts the strength of the 4096-bit
/// group at 150-240 bits, so a 512-bit exponent exceeds twice the strength
/// of every group here while costing a quarter of a full-length one.
pub(super) const EXPONENT_LEN: usize = 64;

/// A MODP private exponent.
pub(super) struct ModpPrivate {
    exponent: Secret,
}

/// Generates a private exponent with `rng` and returns it with the public
/// value g^x mod p, big-endian, padded to the length of the prime.
pub(super) fn generate(
    group: KeGroup,
    rng: &mut dyn Random,
) -> Result<(ModpPrivate, Vec<u8>), CryptoError> {
    let mut x = vec![0u8; EXPONENT_LEN];
    loop {
        rng.fill(&mut x);
        // Exponents 0 and 1 give g^x in {1, 2}; redraw (probability 2^-511).
        let small =
            x.iter().take(EXPONENT_LEN - 1).all(|b| *b == 0) && x.last().is_some_and(|b| *b < 2);
        if !small {
            break;
        }
    }
    let private = ModpPrivate {
        exponent: Secret::new(x),
    };
    let mut generator = vec![0u8; group.initiator_public_len()];
    if let Some(last) = generator.last_mut() {
        *last = 2;
    }
    let public = power(group, &generator, &private.exponent)?;
    Ok((private, public.as_bytes().to_vec()))
}

/// Checks the peer's public value y (1 < y < p-1, RFC 7296 2.12 / RFC 8247)
/// and returns y^x mod p, padded to the length of the prime.
pub(super) fn complete(
    group: KeGroup,
    private: &ModpPrivate,
    peer: &[u8],
) -> Result<Secret, CryptoError> {
    if peer.len() != group.initiator_public_len() {
        return Err(CryptoError::InvalidPublicValue {
            group,
            reason: "wrong length",
        });
    }
    let ok = match group {
        KeGroup::Modp2048 => in_range(&P2048, peer),
        KeGroup::Modp3072 => in_range(&P3072, peer),
        KeGroup::Modp4096 => in_range(&P4096, peer),
        _ => return Err(CryptoError::Internal("MODP code called for another group")),
    };
    if !ok {
        return Err(CryptoError::InvalidPublicValue {
            group,
            reason: "not in the range 1 < y < p-1",
        });
    }
    let shared = power(group, peer, &private.exponent)?;
    // With a safe prime and y in range, y^x = 1 only for x a multiple of q.
    let one =
        shared
            .as_bytes()
            .iter()
            .rev()
            .enumerate()
            .all(|(i, b)| if i == 0 { *b == 1 } else { *b == 0 });
    if one {
        return Err(CryptoError::InvalidPublicValue {
            group,
            reason: "shared secret is 1",
        });
    }
    Ok(shared)
}

fn in_range<const L: usize>(p: &Uint<L>, y: &[u8]) -> bool {
    if y.len() != L * Limb::BYTES {
        return false;
    }
    let y = Uint::<L>::from_be_slice(y);
    let p_minus_1 = p.wrapping_sub(&Uint::ONE);
    y > Uint::ONE && y < p_minus_1
}

fn power(group: KeGroup, base: &[u8], exponent: &Secret) -> Result<Secret, CryptoError> {
    match group {
        KeGroup::Modp2048 => power_in(&P2048, base, exponent),
        KeGroup::Modp3072 => power_in(&P3072, base, exponent),
        KeGroup::Modp4096 => power_in(&P4096, base, exponent),
        _ => Err(CryptoError::Internal("MODP code called for another group")),
    }
}

fn power_in<const L: usize>(
    p: &Uint<L>,
    base: &[u8],
    exponent: &Secret,
) -> Result<Secret, CryptoError> {
    if base.len() != L * Limb::BYTES || exponent.len() != EXPONENT_LEN {
        return Err(CryptoError::Internal("MODP operand of the wrong size"));
    }
    let modulus = Option::<Odd<Uint<L>>>::from(Odd::new(*p))
        .ok_or(CryptoError::Internal("MODP prime is even"))?;
    let params = MontyParams::new_vartime(modulus);
    let base = Uint::<L>::from_be_slice(base);
    let mut x = U512::from_be_slice(exponent.as_bytes());
    let mut result = MontyForm::new(&base, params).pow(&x).retrieve();
    x.as_words_mut().zeroize();
    let mut out = Vec::with_capacity(L * Limb::BYTES);
    for w in result.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    result.as_words_mut().zeroize();
    Ok(Secret::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_the_rfc_3526_values() {
        // The first and last words of each prime as printed in RFC 3526.
        for (p, tail) in [
            (MODP2048_P, "15728E5A8AACAA68FFFFFFFFFFFFFFFF"),
            (MODP3072_P, "4B82D120A93AD2CAFFFFFFFFFFFFFFFF"),
            (MODP4096_P, "4DF435C934063199FFFFFFFFFFFFFFFF"),
        ] {
            assert!(p.starts_with("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"));
            assert!(p.ends_with(tail), "{tail}");
        }
        assert_eq!(MODP2048_P.len(), 512);
        assert_eq!(MODP3072_P.len(), 768);
        assert_eq!(MODP4096_P.len(), 1024);
    }

    #[test]
    fn small_exponent_matches_schoolbook() {
        // 2^10 = 1024 and 3^5 = 243 are below p: no reduction happens.
        let mut e = vec![0u8; EXPONENT_LEN];
        e[EXPONENT_LEN - 1] = 10;
        let mut g = vec![0u8; 256];
        g[255] = 2;
        let r = power(KeGroup::Modp2048, &g, &Secret::new(e)).unwrap();
        assert_eq!(&r.as_bytes()[254..], &[4, 0]);
        assert!(r.as_bytes()[..254].iter().all(|b| *b == 0));
    }

    #[test]
    fn range_checks() {
        let group = KeGroup::Modp2048;
        let mut rng = crate::crypto::random::TestRandom::new(1);
        let (private, _) = generate(group, &mut rng).unwrap();
        let mut y = vec![0u8; 256];
        assert!(complete(group, &private, &y).is_err()); // 0
        y[255] = 1;
        assert!(complete(group, &private, &y).is_err()); // 1
        let p = hex::decode(MODP2048_P).unwrap();
        let mut pm1 = p.clone();
        pm1[255] -= 1;
        assert!(complete(group, &private, &pm1).is_err()); // p-1
        assert!(complete(group, &private, &p).is_err()); // p
        assert!(complete(group, &private, &[0xff; 256]).is_err()); // > p
        assert!(complete(group, &private, &y[1..]).is_err()); // short
        let mut pm2 = p;
        pm2[255] -= 2;
        assert!(complete(group, &private, &pm2).is_ok()); // p-2
    }
}
