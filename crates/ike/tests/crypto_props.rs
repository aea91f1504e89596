//! Property tests: whatever a peer or a file sends, the crypto module's
//! parsers and checks return an error or a value, never a panic; valid
//! inputs round-trip.

use ike::crypto::sign::decode_digital_signature;
use ike::crypto::{
    EncrAlg, IntegAlg, KeGroup, KeyExchange, PrivateKey, PublicKey, Secret, SignatureScheme,
    SkCipher, TestRandom,
};
use proptest::prelude::*;

fn cipher(encr: EncrAlg, integ: Option<IntegAlg>) -> SkCipher {
    let e = Secret::new(vec![0x11; encr.keymat_len()]);
    let a = Secret::new(vec![0x22; integ.map_or(0, |i| i.key_len())]);
    SkCipher::new(encr, integ, &e, &a).unwrap()
}

proptest! {
    #[test]
    fn sk_decrypt_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200),
                               aad in proptest::collection::vec(any::<u8>(), 0..40)) {
        for (encr, integ) in [
            (EncrAlg::AesGcm16_256, None),
            (EncrAlg::ChaCha20Poly1305, None),
            (EncrAlg::AesCbc128, Some(IntegAlg::HmacSha2_256_128)),
        ] {
            // Random bytes essentially never carry a valid ICV.
            prop_assert!(cipher(encr, integ).decrypt(&aad, &body).is_err());
        }
    }

    #[test]
    fn sk_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..300),
                     aad in proptest::collection::vec(any::<u8>(), 0..40),
                     seed in any::<u64>()) {
        let mut rng = TestRandom::new(seed);
        for (encr, integ) in [
            (EncrAlg::AesGcm16_128, None),
            (EncrAlg::AesCbc256, Some(IntegAlg::HmacSha2_512_256)),
        ] {
            let c = cipher(encr, integ);
            let body = c.encrypt(&aad, &plain, &mut rng).unwrap();
            prop_assert_eq!(body.len(), c.encrypted_len(plain.len()));
            prop_assert_eq!(c.decrypt(&aad, &body).unwrap(), plain.clone());
        }
    }

    #[test]
    fn peer_key_exchange_data_never_panics(data in proptest::collection::vec(any::<u8>(), 0..140),
                                           seed in any::<u64>()) {
        let mut rng = TestRandom::new(seed);
        for group in [KeGroup::Ecp256, KeGroup::Ecp521, KeGroup::Curve25519] {
            let (state, _) = KeyExchange::generate(group, &mut rng).unwrap();
            let _ = state.complete(&data);
        }
        let _ = KeyExchange::encapsulate(KeGroup::MlKem768, &data);
    }

    #[test]
    fn key_and_signature_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = PublicKey::from_spki_der(&data);
        let _ = PublicKey::from_rfc3110(&data);
        let _ = PublicKey::from_pkcs1_der(&data);
        let _ = PrivateKey::from_der(&data);
        let _ = SignatureScheme::from_algorithm_identifier(&data);
        let _ = decode_digital_signature(&data);
        let text = String::from_utf8_lossy(&data);
        let _ = PublicKey::from_libreswan(&format!("0s{text}"));
        let _ = PublicKey::from_pem(&format!("-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----\n"));
    }

    /// Mutating any byte of a valid AlgorithmIdentifier yields an error or
    /// a scheme, and the canonical encodings always parse back.
    #[test]
    fn algorithm_identifier_mutations(index in any::<prop::sample::Index>(), value in any::<u8>()) {
        for scheme in SignatureScheme::ALL {
            let mut ai = scheme.algorithm_identifier();
            let i = index.index(ai.len());
            ai[i] = value;
            let _ = SignatureScheme::from_algorithm_identifier(&ai);
            prop_assert_eq!(
                SignatureScheme::from_algorithm_identifier(&scheme.algorithm_identifier()).unwrap(),
                scheme
            );
        }
    }
}
