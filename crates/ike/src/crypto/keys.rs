//! The key schedule: SKEYSEED and the seven IKE SA keys (RFC 7296 2.14),
//! the IKE SA rekey (2.18), Child SA KEYMAT (2.17), and the additional key
//! exchanges of RFC 9370.

use std::fmt;

use super::alg::{EncrAlg, IntegAlg, PrfAlg};
use super::error::CryptoError;
use super::secret::Secret;
use super::sk::SkCipher;

/// Checks that an integrity algorithm is present exactly when the cipher
/// is not an AEAD (RFC 5282 8: an AEAD proposal has no integrity
/// transform; AES-CBC needs one to protect IKE messages).
fn check_ike_suite(encr: EncrAlg, integ: Option<IntegAlg>) -> Result<(), CryptoError> {
    match (encr.is_aead(), integ) {
        (true, Some(_)) => Err(CryptoError::InvalidAlgorithms(
            "an AEAD cipher is negotiated without an integrity algorithm",
        )),
        (false, None) => Err(CryptoError::InvalidAlgorithms(
            "AES-CBC protects IKE messages only with an integrity algorithm",
        )),
        _ => Ok(()),
    }
}

fn concat_parts<'a>(shared: &'a [&'a Secret], rest: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut v: Vec<&[u8]> = shared.iter().map(|s| s.as_bytes()).collect();
    v.extend_from_slice(rest);
    v
}

/// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 2.14). The nonces are the
/// payload contents, without the generic payload header.
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], shared: &Secret) -> Secret {
    let mut key = Vec::with_capacity(ni.len() + nr.len());
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    prf.prf(&key, shared.as_bytes())
}

/// The SKEYSEED of a new IKE SA made by rekeying (RFC 7296 2.18),
/// SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), and with RFC 9370
/// additional key exchanges prf(SK_d (old), g^ir (new) | SK(1) | ... |
/// SK(n) | Ni | Nr). `old_prf` is the PRF of the IKE SA being rekeyed:
/// the exchange belongs to it. `shared` lists g^ir (new) then SK(1)...
pub fn rekey_skeyseed(
    old_prf: PrfAlg,
    old_sk_d: &Secret,
    shared: &[&Secret],
    ni: &[u8],
    nr: &[u8],
) -> Secret {
    old_prf.prf_parts(old_sk_d.as_bytes(), &concat_parts(shared, &[ni, nr]))
}

/// The SKEYSEED after an additional key exchange in IKE_INTERMEDIATE
/// (RFC 9370 2.2.2): SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr), with
/// the nonces of IKE_SA_INIT.
pub fn intermediate_skeyseed(
    prf: PrfAlg,
    previous_sk_d: &Secret,
    shared: &Secret,
    ni: &[u8],
    nr: &[u8],
) -> Secret {
    prf.prf_parts(previous_sk_d.as_bytes(), &[shared.as_bytes(), ni, nr])
}

/// The keys of an IKE SA and the algorithms they belong to.
///
/// "i" keys protect and authenticate what the original initiator of the
/// IKE SA sends; "r" keys what the original responder sends (roles do not
/// swap when the SA is rekeyed by the other side: the new SA's initiator
/// is whoever initiated the rekey).
#[derive(Clone)]
pub struct IkeSaKeys {
    /// The PRF.
    pub prf: PrfAlg,
    /// The encryption algorithm of the SK payload.
    pub encr: EncrAlg,
    /// The integrity algorithm, `None` with an AEAD.
    pub integ: Option<IntegAlg>,
    /// SK_d: keys Child SAs and the next IKE SA.
    pub sk_d: Secret,
    /// SK_ai: integrity key for messages from the initiator (empty with an
    /// AEAD).
    pub sk_ai: Secret,
    /// SK_ar: integrity key for messages from the responder.
    pub sk_ar: Secret,
    /// SK_ei: encryption key (and salt, for an AEAD) for messages from the
    /// initiator.
    pub sk_ei: Secret,
    /// SK_er: encryption key (and salt) for messages from the responder.
    pub sk_er: Secret,
    /// SK_pi: for the initiator's AUTH payload (RFC 7296 2.15).
    pub sk_pi: Secret,
    /// SK_pr: for the responder's AUTH payload.
    pub sk_pr: Secret,
}

impl fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeSaKeys")
            .field("prf", &self.prf)
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl IkeSaKeys {
    /// The total length of {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi |
    /// SK_pr}.
    pub const fn keymat_len(prf: PrfAlg, encr: EncrAlg, integ: Option<IntegAlg>) -> usize {
        let integ_len = match integ {
            Some(i) => i.key_len(),
            None => 0,
        };
        3 * prf.output_len() + 2 * integ_len + 2 * encr.keymat_len()
    }

    /// The keys of a new IKE SA from IKE_SA_INIT: SKEYSEED = prf(Ni | Nr,
    /// g^ir), then prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) split in order.
    /// The SPIs are the 8 bytes of the IKE header, initiator's first.
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        prf: PrfAlg,
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        shared: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<IkeSaKeys, CryptoError> {
        let seed = skeyseed(prf, ni, nr, shared);
        Self::from_skeyseed(prf, encr, integ, &seed, ni, nr, spi_i, spi_r)
    }

    /// The keys of the IKE SA that replaces `self` after a CREATE_CHILD_SA
    /// IKE SA rekey (RFC 7296 2.18). `shared` is g^ir (new), followed by
    /// the secrets of any RFC 9370 additional key exchanges; `ni`/`nr` and
    /// the SPIs are those of the rekey exchange (`spi_i` the SPI the rekey
    /// initiator chose).
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekey(
        &self,
        prf: PrfAlg,
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        shared: &[&Secret],
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<IkeSaKeys, CryptoError> {
        let seed = rekey_skeyseed(self.prf, &self.sk_d, shared, ni, nr);
        Self::from_skeyseed(prf, encr, integ, &seed, ni, nr, spi_i, spi_r)
    }

    /// The keys after an additional key exchange in IKE_INTERMEDIATE
    /// (RFC 9370 2.2.2): SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr),
    /// then prf+(SKEYSEED(n), Ni | Nr | SPIi | SPIr) with the same
    /// algorithms, nonces and SPIs as IKE_SA_INIT.
    pub fn derive_additional(
        &self,
        shared: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<IkeSaKeys, CryptoError> {
        let seed = intermediate_skeyseed(self.prf, &self.sk_d, shared, ni, nr);
        Self::from_skeyseed(self.prf, self.encr, self.integ, &seed, ni, nr, spi_i, spi_r)
    }

    /// Splits prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) into the seven keys.
    #[allow(clippy::too_many_arguments)]
    pub fn from_skeyseed(
        prf: PrfAlg,
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        skeyseed: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<IkeSaKeys, CryptoError> {
        check_ike_suite(encr, integ)?;
        let total = Self::keymat_len(prf, encr, integ);
        let keymat = prf.prf_plus_parts(
            skeyseed.as_bytes(),
            &[ni, nr, spi_i.as_slice(), spi_r.as_slice()],
            total,
        )?;
        let mut split = Splitter::new(&keymat);
        let integ_len = integ.map_or(0, IntegAlg::key_len);
        Ok(IkeSaKeys {
            prf,
            encr,
            integ,
            sk_d: split.take(prf.output_len())?,
            sk_ai: split.take(integ_len)?,
            sk_ar: split.take(integ_len)?,
            sk_ei: split.take(encr.keymat_len())?,
            sk_er: split.take(encr.keymat_len())?,
            sk_pi: split.take(prf.output_len())?,
            sk_pr: split.take(prf.output_len())?,
        })
    }

    /// The cipher protecting messages sent by the original initiator
    /// (SK_ei, SK_ai): the initiator encrypts with it, the responder
    /// decrypts with it.
    pub fn initiator_cipher(&self) -> Result<SkCipher, CryptoError> {
        SkCipher::new(self.encr, self.integ, &self.sk_ei, &self.sk_ai)
    }

    /// The cipher protecting messages sent by the original responder
    /// (SK_er, SK_ar).
    pub fn responder_cipher(&self) -> Result<SkCipher, CryptoError> {
        SkCipher::new(self.encr, self.integ, &self.sk_er, &self.sk_ar)
    }

    /// The keys of a Child SA created under this IKE SA (RFC 7296 2.17).
    /// See [`ChildKeys::derive`].
    pub fn child_keys(
        &self,
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        pfs_shared: &[&Secret],
        ni: &[u8],
        nr: &[u8],
    ) -> Result<ChildKeys, CryptoError> {
        ChildKeys::derive(self.prf, &self.sk_d, encr, integ, pfs_shared, ni, nr)
    }
}

/// Takes consecutive slices of key material.
struct Splitter<'a> {
    rest: &'a [u8],
}

impl<'a> Splitter<'a> {
    fn new(keymat: &'a Secret) -> Self {
        Splitter {
            rest: keymat.as_bytes(),
        }
    }

    fn take(&mut self, len: usize) -> Result<Secret, CryptoError> {
        if len > self.rest.len() {
            return Err(CryptoError::Internal("key material shorter than its parts"));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(Secret::from_slice(head))
    }
}

/// The keys of one direction of a Child SA (one ESP SA).
#[derive(Clone, PartialEq, Eq)]
pub struct EspKeys {
    /// The cipher key, without salt.
    pub encr_key: Secret,
    /// The 4-byte salt of AES-GCM / ChaCha20-Poly1305 (empty for
    /// AES-CBC).
    pub salt: Secret,
    /// The integrity key (empty with an AEAD or without integrity).
    pub integ_key: Secret,
}

impl EspKeys {
    /// The encryption key material as the kernel's XFRM wants it for
    /// rfc4106(gcm(aes)) and rfc7539esp(chacha20,poly1305): key || salt.
    pub fn encr_keymat(&self) -> Secret {
        Secret::concat(&[&self.encr_key, &self.salt])
    }
}

impl fmt::Debug for EspKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EspKeys")
            .field("encr_key", &self.encr_key)
            .field("salt", &self.salt)
            .field("integ_key", &self.integ_key)
            .finish()
    }
}

/// The keys of a Child SA, both directions.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildKeys {
    /// The ESP encryption algorithm.
    pub encr: EncrAlg,
    /// The ESP integrity algorithm (`None` with an AEAD).
    pub integ: Option<IntegAlg>,
    /// Keys of the SA carrying traffic from the initiator of the exchange
    /// that created the Child SA to its responder (the initiator's
    /// outbound SA, the responder's inbound one).
    pub initiator_to_responder: EspKeys,
    /// Keys of the SA from the responder to the initiator.
    pub responder_to_initiator: EspKeys,
}

impl fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildKeys")
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl ChildKeys {
    /// The KEYMAT length for one direction.
    pub const fn keymat_len_per_direction(encr: EncrAlg, integ: Option<IntegAlg>) -> usize {
        encr.keymat_len()
            + match integ {
                Some(i) => i.key_len(),
                None => 0,
            }
    }

    /// KEYMAT = prf+(SK_d, Ni | Nr), or with PFS prf+(SK_d, g^ir (new) |
    /// Ni | Nr) (RFC 7296 2.17), and with RFC 9370 additional key exchanges
    /// prf+(SK_d, g^ir (new) | SK(1) | ... | SK(n) | Ni | Nr). `pfs_shared`
    /// is empty without PFS. `ni`/`nr` are the nonces of the exchange that
    /// creates the Child SA (those of IKE_SA_INIT for the Child SA of
    /// IKE_AUTH). The first keys are for the initiator-to-responder SA, each
    /// direction taking the encryption key (then salt) before the
    /// integrity key.
    pub fn derive(
        prf: PrfAlg,
        sk_d: &Secret,
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        pfs_shared: &[&Secret],
        ni: &[u8],
        nr: &[u8],
    ) -> Result<ChildKeys, CryptoError> {
        if encr.is_aead() && integ.is_some() {
            return Err(CryptoError::InvalidAlgorithms(
                "an AEAD cipher is negotiated without an integrity algorithm",
            ));
        }
        let per_dir = Self::keymat_len_per_direction(encr, integ);
        let keymat = prf.prf_plus_parts(
            sk_d.as_bytes(),
            &concat_parts(pfs_shared, &[ni, nr]),
            2 * per_dir,
        )?;
        let mut split = Splitter::new(&keymat);
        let integ_len = integ.map_or(0, IntegAlg::key_len);
        let mut one = || -> Result<EspKeys, CryptoError> {
            Ok(EspKeys {
                encr_key: split.take(encr.key_len())?,
                salt: split.take(encr.salt_len())?,
                integ_key: split.take(integ_len)?,
            })
        };
        let initiator_to_responder = one()?;
        let responder_to_initiator = one()?;
        Ok(ChildKeys {
            encr,
            integ,
            initiator_to_responder,
            responder_to_initiator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_keys_split_in_rfc_order() {
        let shared = Secret::from_slice(&[7; 32]);
        let (ni, nr) = ([1u8; 32], [2u8; 32]);
        let (spi_i, spi_r) = ([3u8; 8], [4u8; 8]);
        let prf = PrfAlg::HmacSha2_256;
        let encr = EncrAlg::AesCbc256;
        let integ = Some(IntegAlg::HmacSha2_256_128);
        let k = IkeSaKeys::derive(prf, encr, integ, &shared, &ni, &nr, &spi_i, &spi_r).unwrap();
        let seed = skeyseed(prf, &ni, &nr, &shared);
        let mut s = Vec::new();
        s.extend_from_slice(&ni);
        s.extend_from_slice(&nr);
        s.extend_from_slice(&spi_i);
        s.extend_from_slice(&spi_r);
        let all = prf.prf_plus(seed.as_bytes(), &s, 32 * 7).unwrap();
        let b = all.as_bytes();
        assert_eq!(k.sk_d.as_bytes(), &b[0..32]);
        assert_eq!(k.sk_ai.as_bytes(), &b[32..64]);
        assert_eq!(k.sk_ar.as_bytes(), &b[64..96]);
        assert_eq!(k.sk_ei.as_bytes(), &b[96..128]);
        assert_eq!(k.sk_er.as_bytes(), &b[128..160]);
        assert_eq!(k.sk_pi.as_bytes(), &b[160..192]);
        assert_eq!(k.sk_pr.as_bytes(), &b[192..224]);
    }

    #[test]
    fn aead_keys_carry_salt_and_no_integrity_key() {
        let shared = Secret::from_slice(&[9; 32]);
        let k = IkeSaKeys::derive(
            PrfAlg::HmacSha2_512,
            EncrAlg::AesGcm16_256,
            None,
            &shared,
            &[1; 16],
            &[2; 16],
            &[3; 8],
            &[4; 8],
        )
        .unwrap();
        assert_eq!(k.sk_ei.len(), 36);
        assert!(k.sk_ai.is_empty());
        assert_eq!(k.sk_pr.len(), 64);
        let c = k
            .child_keys(EncrAlg::AesGcm16_128, None, &[], &[1; 16], &[2; 16])
            .unwrap();
        assert_eq!(c.initiator_to_responder.encr_key.len(), 16);
        assert_eq!(c.initiator_to_responder.salt.len(), 4);
        assert_ne!(c.initiator_to_responder, c.responder_to_initiator);
    }

    #[test]
    fn invalid_suites_are_rejected() {
        let shared = Secret::from_slice(&[9; 32]);
        let r = IkeSaKeys::derive(
            PrfAlg::HmacSha2_256,
            EncrAlg::AesCbc128,
            None,
            &shared,
            &[1; 16],
            &[2; 16],
            &[3; 8],
            &[4; 8],
        );
        assert!(matches!(r, Err(CryptoError::InvalidAlgorithms(_))));
    }

    #[test]
    fn pfs_changes_child_keys() {
        let sk_d = Secret::from_slice(&[5; 32]);
        let g = Secret::from_slice(&[6; 32]);
        let a = ChildKeys::derive(
            PrfAlg::HmacSha2_256,
            &sk_d,
            EncrAlg::AesCbc128,
            Some(IntegAlg::HmacSha1_96),
            &[],
            &[1; 16],
            &[2; 16],
        )
        .unwrap();
        let b = ChildKeys::derive(
            PrfAlg::HmacSha2_256,
            &sk_d,
            EncrAlg::AesCbc128,
            Some(IntegAlg::HmacSha1_96),
            &[&g],
            &[1; 16],
            &[2; 16],
        )
        .unwrap();
        assert_ne!(a, b);
        assert_eq!(a.initiator_to_responder.integ_key.len(), 20);
    }
}
