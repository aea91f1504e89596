//! Round trips of the crypto module: both sides of every key exchange agree,
//! every SK cipher decrypts what it encrypts and rejects tampering.

use ike::crypto::{
    ChildKeys, CryptoError, EncrAlg, IkeSaKeys, IntegAlg, KeGroup, KeyExchange, PrfAlg, Secret,
    SkCipher, TestRandom,
};

#[test]
fn every_group_agrees() {
    let mut rng = TestRandom::new(42);
    for group in KeGroup::ALL {
        let (initiator, ke_i) = KeyExchange::generate(group, &mut rng).unwrap();
        assert_eq!(ke_i.len(), group.initiator_public_len(), "{group}");
        let (ke_r, shared_r) = KeyExchange::respond(group, &ke_i, &mut rng).unwrap();
        assert_eq!(ke_r.len(), group.responder_public_len(), "{group}");
        let shared_i = initiator.complete(&ke_r).unwrap();
        assert_eq!(shared_i, shared_r, "{group}");
        assert_eq!(shared_i.len(), group.shared_secret_len(), "{group}");
        assert!(shared_i.as_bytes().iter().any(|b| *b != 0), "{group}");
    }
}

#[test]
fn diffie_hellman_is_deterministic_with_test_random() {
    for group in KeGroup::ALL.into_iter().filter(|g| !g.is_kem()) {
        let (_, a) = KeyExchange::generate(group, &mut TestRandom::new(1)).unwrap();
        let (_, b) = KeyExchange::generate(group, &mut TestRandom::new(1)).unwrap();
        let (_, c) = KeyExchange::generate(group, &mut TestRandom::new(2)).unwrap();
        assert_eq!(a, b, "{group}");
        assert_ne!(a, c, "{group}");
    }
}

#[test]
fn mlkem_encapsulate_decapsulate() {
    let mut rng = TestRandom::new(5);
    let (initiator, ek) = KeyExchange::generate(KeGroup::MlKem768, &mut rng).unwrap();
    let (ct, ss_r) = KeyExchange::encapsulate(KeGroup::MlKem768, &ek).unwrap();
    let ss_i = initiator.decapsulate(&ct).unwrap();
    assert_eq!(ss_i, ss_r);
    // A modified ciphertext gives a different key (implicit rejection).
    let mut bad = ct.clone();
    bad[10] ^= 1;
    assert_ne!(initiator.decapsulate(&bad).unwrap(), ss_r);
    assert!(initiator.decapsulate(&ct[1..]).is_err());
    assert!(KeyExchange::encapsulate(KeGroup::MlKem768, &ek[1..]).is_err());
    // FIPS 203 7.2 modulus check: a coefficient of 4095 >= q is refused.
    let mut noncanonical = ek.clone();
    noncanonical[0] = 0xff;
    noncanonical[1] |= 0x0f;
    assert!(KeyExchange::encapsulate(KeGroup::MlKem768, &noncanonical).is_err());
    assert!(matches!(
        KeyExchange::encapsulate(KeGroup::Curve25519, &[9; 32]),
        Err(CryptoError::WrongKeyExchangeKind { .. })
    ));
}

#[test]
fn bad_peer_values_are_rejected() {
    let mut rng = TestRandom::new(9);
    for group in KeGroup::ALL {
        let (state, public) = KeyExchange::generate(group, &mut rng).unwrap();
        let short = &public[..public.len() - 1];
        assert!(state.complete(short).is_err(), "{group} short");
        assert!(state.complete(&[]).is_err(), "{group} empty");
    }
    // ECP: a point not on the curve.
    for group in [KeGroup::Ecp256, KeGroup::Ecp384, KeGroup::Ecp521] {
        let (state, mut public) = KeyExchange::generate(group, &mut rng).unwrap();
        let last = public.len() - 1;
        public[last] ^= 1;
        assert!(
            matches!(
                state.complete(&public),
                Err(CryptoError::InvalidPublicValue { .. })
            ),
            "{group}"
        );
        assert!(state.complete(&vec![0; public.len()]).is_err(), "{group}");
    }
    // X25519: low-order points give an all-zero result (RFC 7748 6.1).
    let (state, _) = KeyExchange::generate(KeGroup::Curve25519, &mut rng).unwrap();
    assert!(state.complete(&[0; 32]).is_err());
    let mut one = [0u8; 32];
    one[0] = 1;
    assert!(state.complete(&one).is_err());
}

fn suites() -> Vec<(EncrAlg, Option<IntegAlg>)> {
    let mut v = vec![
        (EncrAlg::AesGcm16_128, None),
        (EncrAlg::AesGcm16_256, None),
        (EncrAlg::ChaCha20Poly1305, None),
    ];
    for encr in [EncrAlg::AesCbc128, EncrAlg::AesCbc256] {
        for integ in IntegAlg::ALL {
            v.push((encr, Some(integ)));
        }
    }
    v
}

#[test]
fn sk_cipher_round_trip_and_tamper_detection() {
    let mut rng = TestRandom::new(77);
    for (encr, integ) in suites() {
        let shared = Secret::from_slice(&[0x5a; 32]);
        let keys = IkeSaKeys::derive(
            PrfAlg::HmacSha2_256,
            encr,
            integ,
            &shared,
            &[1; 32],
            &[2; 32],
            &[3; 8],
            &[4; 8],
        )
        .unwrap();
        let send = keys.initiator_cipher().unwrap();
        let recv = keys.initiator_cipher().unwrap();
        let other = keys.responder_cipher().unwrap();
        let aad = b"IKE header and SK payload header";
        for len in [0usize, 1, 15, 16, 17, 100, 1000] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let body = send.encrypt(aad, &plain, &mut rng).unwrap();
            assert_eq!(body.len(), send.encrypted_len(len));
            assert_eq!(recv.decrypt(aad, &body).unwrap(), plain, "{encr} {integ:?}");
            // The other direction's keys do not open it.
            assert!(other.decrypt(aad, &body).is_err());
            // Any flipped bit in IV, ciphertext or ICV is detected.
            for pos in [0, send.iv_len(), body.len() - 1] {
                let mut bad = body.clone();
                bad[pos] ^= 0x80;
                assert_eq!(
                    recv.decrypt(aad, &bad),
                    Err(CryptoError::IntegrityCheckFailed),
                    "{encr} {integ:?} pos {pos}"
                );
            }
            // So is a change of the authenticated header.
            assert_eq!(
                recv.decrypt(b"IKE header and SK payload headeR", &body),
                Err(CryptoError::IntegrityCheckFailed)
            );
            // Truncation never panics.
            for cut in 0..body.len().min(40) {
                assert!(recv.decrypt(aad, &body[..cut]).is_err());
            }
        }
    }
}

#[test]
fn sk_cipher_rejects_wrong_key_sizes_and_suites() {
    let e = Secret::from_slice(&[1; 32]);
    let a = Secret::from_slice(&[2; 32]);
    assert!(SkCipher::new(EncrAlg::AesGcm16_256, None, &e, &Secret::default()).is_err());
    assert!(SkCipher::new(EncrAlg::AesCbc256, None, &e, &a).is_err());
    assert!(SkCipher::new(
        EncrAlg::AesGcm16_128,
        Some(IntegAlg::HmacSha2_256_128),
        &Secret::from_slice(&[1; 20]),
        &a
    )
    .is_err());
    assert!(SkCipher::new(EncrAlg::AesCbc256, Some(IntegAlg::HmacSha2_512_256), &e, &a).is_err());
    assert!(SkCipher::new(EncrAlg::AesCbc256, Some(IntegAlg::HmacSha2_256_128), &e, &a).is_ok());
}

#[test]
fn both_sides_derive_the_same_keys() {
    let mut rng = TestRandom::new(11);
    let group = KeGroup::Curve25519;
    let (i_state, ke_i) = KeyExchange::generate(group, &mut rng).unwrap();
    let (ke_r, g_ir_r) = KeyExchange::respond(group, &ke_i, &mut rng).unwrap();
    let g_ir_i = i_state.complete(&ke_r).unwrap();
    let (ni, nr, spi_i, spi_r) = ([0x11; 32], [0x22; 32], [1u8; 8], [2u8; 8]);
    let prf = PrfAlg::HmacSha2_256;
    let encr = EncrAlg::AesGcm16_256;
    let ki = IkeSaKeys::derive(prf, encr, None, &g_ir_i, &ni, &nr, &spi_i, &spi_r).unwrap();
    let kr = IkeSaKeys::derive(prf, encr, None, &g_ir_r, &ni, &nr, &spi_i, &spi_r).unwrap();
    assert_eq!(ki.sk_pr, kr.sk_pr);
    let body = ki
        .initiator_cipher()
        .unwrap()
        .encrypt(b"h", b"IDi AUTH SA TSi TSr", &mut rng)
        .unwrap();
    assert_eq!(
        kr.initiator_cipher().unwrap().decrypt(b"h", &body).unwrap(),
        b"IDi AUTH SA TSi TSr"
    );
    let ci = ki
        .child_keys(EncrAlg::AesGcm16_128, None, &[], &ni, &nr)
        .unwrap();
    let cr = ChildKeys::derive(prf, &kr.sk_d, EncrAlg::AesGcm16_128, None, &[], &ni, &nr).unwrap();
    assert_eq!(ci, cr);
    // Rekey of the IKE SA: both sides agree; the new keys differ.
    let g = Secret::from_slice(&[3; 32]);
    let (n2i, n2r, s2i, s2r) = ([5; 32], [6; 32], [7u8; 8], [8u8; 8]);
    let ri = ki
        .derive_rekey(prf, encr, None, &[&g], &n2i, &n2r, &s2i, &s2r)
        .unwrap();
    let rr = kr
        .derive_rekey(prf, encr, None, &[&g], &n2i, &n2r, &s2i, &s2r)
        .unwrap();
    assert_eq!(ri.sk_d, rr.sk_d);
    assert_ne!(ri.sk_d, ki.sk_d);
    // RFC 9370 additional key exchange.
    let ai = ki.derive_additional(&g, &ni, &nr, &spi_i, &spi_r).unwrap();
    assert_ne!(ai.sk_ei, ki.sk_ei);
    assert_eq!(
        ai.sk_ei,
        kr.derive_additional(&g, &ni, &nr, &spi_i, &spi_r)
            .unwrap()
            .sk_ei
    );
}
