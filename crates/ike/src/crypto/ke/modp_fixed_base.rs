//! Fixed-base exponentiation for the MODP generator 2: the public value
//! g^x from a table of g^(d * 16^w), one multiplication per 4-bit window
//! of the exponent instead of a square-and-multiply chain. Each window's
//! entry is picked by a constant-time scan of its whole row, so neither
//! timing nor memory access depends on the exponent.

use crypto_bigint::modular::{MontyForm, MontyParams};
use crypto_bigint::subtle::{ConditionallySelectable, ConstantTimeEq};
use crypto_bigint::{Odd, Uint};

/// The table for one group, in Montgomery form.
pub(super) struct FixedBase<const L: usize> {
    params: MontyParams<L>,
    /// rows[w][d] = 2^(d * 16^w).
    rows: Vec<[Uint<L>; 16]>,
}

impl<const L: usize> FixedBase<L> {
    /// Builds the table for exponents of up to `exponent_bits` bits modulo
    /// the odd prime `p`.
    pub(super) fn new(p: &Uint<L>, exponent_bits: u32) -> Option<Self> {
        let modulus = Option::<Odd<Uint<L>>>::from(Odd::new(*p))?;
        let params = MontyParams::new_vartime(modulus);
        let windows = exponent_bits.div_ceil(4) as usize;
        let one = MontyForm::one(params);
        let mut base = MontyForm::new(&Uint::from_u8(2), params);
        let mut rows = Vec::with_capacity(windows);
        for _ in 0..windows {
            let mut row = [*one.as_montgomery(); 16];
            let mut acc = one;
            for entry in row.iter_mut() {
                *entry = *acc.as_montgomery();
                acc *= &base;
            }
            rows.push(row);
            // acc = base^16: the base of the next window.
            base = acc;
        }
        Some(FixedBase { params, rows })
    }

    /// 2^x mod p for the big-endian exponent `x`, of which only the low
    /// 4 * rows bits are used.
    pub(super) fn pow(&self, exponent: &[u8]) -> Uint<L> {
        let mut acc = MontyForm::one(self.params);
        for (w, row) in self.rows.iter().enumerate() {
            let byte = exponent
                .len()
                .checked_sub(1 + w / 2)
                .and_then(|i| exponent.get(i))
                .copied()
                .unwrap_or(0);
            let nibble = if w % 2 == 0 { byte & 0x0f } else { byte >> 4 };
            let mut selected = Uint::<L>::ZERO;
            for (d, entry) in (0u8..).zip(row.iter()) {
                selected.conditional_assign(entry, d.ct_eq(&nibble));
            }
            acc *= MontyForm::from_montgomery(selected, self.params);
        }
        acc.retrieve()
    }
}
