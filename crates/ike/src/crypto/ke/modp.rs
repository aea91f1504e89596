//! The MODP Diffie-Hellman groups 14, 15 and 16 (RFC 3526) on
//! crypto-bigint's constant-time Montgomery arithmetic.

use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::{Limb, Odd, Uint, U2048, U3072, U4096, U512};
use zeroize::Zeroize;

use std::sync::OnceLock;

use super::modp_fixed_base::FixedBase;
use super::modp_primes::{MODP2048_P, MODP3072_P, MODP4096_P};
use crate::crypto::alg::KeGroup;
use crate::crypto::error::CryptoError;
use crate::crypto::random::Random;
use crate::crypto::secret::Secret;

const P2048: U2048 = U2048::from_be_hex(MODP2048_P);
const P3072: U3072 = U3072::from_be_hex(MODP3072_P);
const P4096: U4096 = U4096::from_be_hex(MODP4096_P);

/// Bytes of the stored private exponent (the largest exponent below).
pub(super) const EXPONENT_LEN: usize = 64;

/// The length in bits of the private exponent: at least twice the
/// security strength of the group (NIST SP 800-56A rev. 3 5.6.1.1.4 for
/// the safe-prime groups: 112, 128 and 152 bits for MODP 2048, 3072 and
/// 4096; RFC 3526 asks for 2x its own, wider, estimates too), rounded up.
/// Shorter exponents make each exponentiation proportionally cheaper than
/// a full-length one.
fn exponent_bits(group: KeGroup) -> u32 {
    match group {
        KeGroup::Modp2048 => 256,
        KeGroup::Modp3072 => 320,
        _ => 384,
    }
}

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
    let random_bytes = (exponent_bits(group) / 8) as usize;
    let start = EXPONENT_LEN - random_bytes;
    loop {
        if let Some(low) = x.get_mut(start..) {
            rng.fill(low);
        }
        // Exponents 0 and 1 give g^x in {1, 2}; redraw (probability 2^-255).
        let small =
            x.iter().take(EXPONENT_LEN - 1).all(|b| *b == 0) && x.last().is_some_and(|b| *b < 2);
        if !small {
            break;
        }
    }
    let private = ModpPrivate {
        exponent: Secret::new(x),
    };
    let public = generator_power(group, &private.exponent)?;
    Ok((private, public))
}

static FIXED_2048: OnceLock<Option<FixedBase<{ U2048::LIMBS }>>> = OnceLock::new();
static FIXED_3072: OnceLock<Option<FixedBase<{ U3072::LIMBS }>>> = OnceLock::new();
static FIXED_4096: OnceLock<Option<FixedBase<{ U4096::LIMBS }>>> = OnceLock::new();

/// g^x mod p with the group's fixed-base table (built on first use).
fn generator_power(group: KeGroup, exponent: &Secret) -> Result<Vec<u8>, CryptoError> {
    let bits = exponent_bits(group);
    let no_table = CryptoError::Internal("MODP fixed-base table");
    match group {
        KeGroup::Modp2048 => FIXED_2048
            .get_or_init(|| FixedBase::new(&P2048, bits))
            .as_ref()
            .map(|t| to_be_bytes(&t.pow(exponent.as_bytes())))
            .ok_or(no_table),
        KeGroup::Modp3072 => FIXED_3072
            .get_or_init(|| FixedBase::new(&P3072, bits))
            .as_ref()
            .map(|t| to_be_bytes(&t.pow(exponent.as_bytes())))
            .ok_or(no_table),
        KeGroup::Modp4096 => FIXED_4096
            .get_or_init(|| FixedBase::new(&P4096, bits))
            .as_ref()
            .map(|t| to_be_bytes(&t.pow(exponent.as_bytes())))
            .ok_or(no_table),
        _ => Err(CryptoError::Internal("MODP code called for another group")),
    }
}

fn to_be_bytes<const L: usize>(v: &Uint<L>) -> Vec<u8> {
    let mut out = Vec::with_capacity(L * Limb::BYTES);
    for w in v.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
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
        KeGroup::Modp2048 => power_in(&P2048, base, exponent, exponent_bits(group)),
        KeGroup::Modp3072 => power_in(&P3072, base, exponent, exponent_bits(group)),
        KeGroup::Modp4096 => power_in(&P4096, base, exponent, exponent_bits(group)),
        _ => Err(CryptoError::Internal("MODP code called for another group")),
    }
}

fn power_in<const L: usize>(
    p: &Uint<L>,
    base: &[u8],
    exponent: &Secret,
    bits: u32,
) -> Result<Secret, CryptoError> {
    if base.len() != L * Limb::BYTES || exponent.len() != EXPONENT_LEN {
        return Err(CryptoError::Internal("MODP operand of the wrong size"));
    }
    let modulus = Option::<Odd<Uint<L>>>::from(Odd::new(*p))
        .ok_or(CryptoError::Internal("MODP prime is even"))?;
    let params = MontyParams::new_vartime(modulus);
    let base = Uint::<L>::from_be_slice(base);
    let mut x = U512::from_be_slice(exponent.as_bytes());
    // Only the low `bits` bits of the exponent are non-zero (generate
    // draws no more); the loop length depends on the group alone.
    let mut result = MontyForm::new(&base, params)
        .pow_bounded_exp(&x, bits)
        .retrieve();
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

    /// 2^x mod p for a full-width exponent of each bound, computed
    /// independently with Python's pow(2, x, p): catches an exponentiation
    /// that ignores the exponent's top bits.
    #[test]
    fn bounded_exponent_known_answers() {
        let cases: [(KeGroup, u8, usize, &str); 2] = [
            (
                KeGroup::Modp2048,
                0xa5,
                32,
                concat!(
                    "774b5ba20d2a34c1311a0027c8b49244442b57138edc77c719295dde9eb5d2bc",
                    "87323680e105c1329321854c65bedf8f6f72493d875054447cfcd118ae8e163f",
                    "4312619d17fccdf37b982cdba2b9cc1e06d695799373cfc57614184519623921",
                    "74fab7d29efe97f7ac1e8874a4abd30bc6a24bf6d3be93b1f724e40dcf25e386",
                    "bf56683acf20bdc6b4236e58767abb4abc4b3c5390761ccf28fc0a7b644c764e",
                    "82fe0fcc25a3be0eb8e1b8a11cc1bd839ae50d6c34966c5d957456d4e13ffcee",
                    "e0cb84c529fc8edb03f7545ef554d6d36ed285ed778bcb5e490147033e1a76d6",
                    "3c34e064533cbe7e98744b96fedde7e70fe19bb43d2339f0233209488ea89c20",
                ),
            ),
            (
                KeGroup::Modp4096,
                0xc3,
                48,
                concat!(
                    "ad1b0200f55de2785b8c23856f5b6035736e32e4434e412b3be3c2b0f1b60989",
                    "ccfbc16ce76ccaa890e694aa5365bf848669ba71a797a26cd470bb54eb04eb0d",
                    "5dbd359e64153e7664f62ea3d5d9c03015a086b78df5110843643ab58a1b1fe2",
                    "64a47fd6777f905a3aa971206713b4909995c4ce591588f5880811d5a2b891f2",
                    "42aa72641cb4fe9f302eae3767ebdca56fc40ffd075beba712675e99d5521406",
                    "a6cafba771ced9ad8e14a8b8ed5eeb8c1194cf874b111a0d18713b3093be9731",
                    "ae99ef0f0a4493f81858497a3050587908f98f8d6afa50ce69ff47e538d95056",
                    "dae4321a3b7e3be8548c20dde737e0573e679f62e9e09df3b850b8b0081ec12e",
                    "c4f3394bfc5186a01eb18cbec6fa7bcfea3ccb3d7bb81bd940ac907bc400bf95",
                    "d55a8eb6a4e3d0b850ddf46cb2fa186bacc47e4ee7230c7e9a4431e4f02a9652",
                    "7999aa97c2cba15d36047dd36c19794e0b7f94fea304df1b93f540078ce56149",
                    "de381bd8312bb4e6da539ec931438859985d78e83e0d5a6636a39ed5f9517155",
                    "a8997252bcd3b5a480a8d31020cb62ea70e9a31f0cb8165a9ba9edbc82553880",
                    "6ab9322f3a97c4808238a3b2828158a95c303481cc792a984aa0ae481e2c966a",
                    "10015d03eb3040886767386ea1793275b45861be684ede7538b76c8486fce511",
                    "913677ea3dec69aa806c5825ae46e0d9862bd4b8867d03d4608e422653f4e6d6",
                ),
            ),
        ];
        for (group, byte, len, expect) in cases {
            let mut e = vec![0u8; EXPONENT_LEN];
            for b in &mut e[EXPONENT_LEN - len..] {
                *b = byte;
            }
            let mut g = vec![0u8; group.initiator_public_len()];
            *g.last_mut().unwrap() = 2;
            let e = Secret::new(e);
            let r = power(group, &g, &e).unwrap();
            assert_eq!(hex::encode(r.as_bytes()), expect, "{group}");
            let fixed = generator_power(group, &e).unwrap();
            assert_eq!(hex::encode(fixed), expect, "{group} fixed base");
        }
    }

    #[test]
    fn generated_exponents_respect_the_bound() {
        let mut rng = crate::crypto::random::TestRandom::new(4);
        for group in [KeGroup::Modp2048, KeGroup::Modp3072, KeGroup::Modp4096] {
            let (private, _) = generate(group, &mut rng).unwrap();
            let used = (exponent_bits(group) / 8) as usize;
            let bytes = private.exponent.as_bytes();
            assert!(bytes[..EXPONENT_LEN - used].iter().all(|b| *b == 0));
            assert!(bytes[EXPONENT_LEN - used..].iter().any(|b| *b != 0));
        }
    }
}
