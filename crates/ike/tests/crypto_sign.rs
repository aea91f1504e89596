//! Signatures and keys: sign/verify for every scheme and legacy method,
//! key formats round trip, RFC 7427 AlgorithmIdentifier encodings.

use ike::crypto::sign::{decode_digital_signature, encode_digital_signature};
use ike::crypto::{
    CryptoError, KeyType, LegacyAuthMethod, PrivateKey, PublicKey, SignatureHash, SignatureScheme,
};

fn keys() -> Vec<PrivateKey> {
    vec![
        PrivateKey::generate_rsa(2048).unwrap(),
        PrivateKey::generate(KeyType::EcdsaP256).unwrap(),
        PrivateKey::generate(KeyType::EcdsaP384).unwrap(),
        PrivateKey::generate(KeyType::EcdsaP521).unwrap(),
        PrivateKey::generate(KeyType::Ed25519).unwrap(),
    ]
}

const DATA: &[u8] = b"IKE_SA_INIT request | Nr | prf(SK_pi, IDi)";

#[test]
fn every_scheme_signs_and_verifies() {
    for key in keys() {
        let public = key.public_key().unwrap();
        assert_eq!(public.key_type(), key.key_type());
        for scheme in SignatureScheme::ALL {
            if !key.key_type().schemes().contains(&scheme) {
                assert!(key.sign(scheme, DATA).is_err(), "{scheme:?}");
                continue;
            }
            let sig = key.sign(scheme, DATA).unwrap();
            public.verify(scheme, DATA, &sig).unwrap();
            assert_eq!(
                public.verify(scheme, b"other data", &sig),
                Err(CryptoError::BadSignature),
                "{scheme:?}"
            );
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(public.verify(scheme, DATA, &bad).is_err(), "{scheme:?}");
            // Through the AUTH payload encoding and back.
            let auth = encode_digital_signature(scheme, &sig);
            let (parsed, value) = decode_digital_signature(&auth).unwrap();
            assert_eq!(parsed, scheme);
            public.verify(parsed, DATA, value).unwrap();
        }
    }
}

#[test]
fn schemes_do_not_cross_key_types() {
    let rsa = PrivateKey::generate_rsa(2048).unwrap();
    let ec = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let sig = rsa.sign(SignatureScheme::RsaPssSha256, DATA).unwrap();
    let ec_pub = ec.public_key().unwrap();
    assert!(ec_pub
        .verify(SignatureScheme::RsaPssSha256, DATA, &sig)
        .is_err());
    // PSS and PKCS#1 v1.5 signatures are not interchangeable.
    let rsa_pub = rsa.public_key().unwrap();
    assert!(rsa_pub
        .verify(SignatureScheme::RsaPkcs1Sha256, DATA, &sig)
        .is_err());
}

#[test]
fn legacy_methods() {
    for key in keys() {
        let public = key.public_key().unwrap();
        match LegacyAuthMethod::for_key(key.key_type()) {
            Some(method) => {
                let sig = key.sign_legacy(method, DATA).unwrap();
                public.verify_legacy(method, DATA, &sig).unwrap();
                assert!(public.verify_legacy(method, b"x", &sig).is_err());
                assert_eq!(
                    LegacyAuthMethod::from_auth_method(method.auth_method()),
                    Some(method)
                );
                if method != LegacyAuthMethod::Rsa {
                    // RFC 4754: r || s, each the size of the curve order.
                    let coord = public.bits().div_ceil(8);
                    assert_eq!(sig.len(), 2 * coord);
                } else {
                    assert_eq!(sig.len(), 256);
                }
            }
            None => {
                assert!(key
                    .sign_legacy(LegacyAuthMethod::EcdsaP256Sha256, DATA)
                    .is_err());
            }
        }
    }
}

#[test]
fn private_key_formats_round_trip() {
    for key in keys() {
        let der = key.to_pkcs8_der().unwrap();
        let again = PrivateKey::from_pkcs8_der(der.as_bytes()).unwrap();
        assert_eq!(again.public_key().unwrap(), key.public_key().unwrap());
        let pem = key.to_pkcs8_pem().unwrap();
        let text = std::str::from_utf8(pem.as_bytes()).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = PrivateKey::from_pem(text).unwrap();
        assert_eq!(again.public_key().unwrap(), key.public_key().unwrap());
        assert!(!format!("{key:?}").contains(&text[30..60]));
    }
    assert!(PrivateKey::from_pkcs8_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    assert!(
        PrivateKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
}

#[test]
fn public_key_formats_round_trip() {
    for key in keys() {
        let public = key.public_key().unwrap();
        let spki = public.to_spki_der();
        assert_eq!(PublicKey::from_spki_der(&spki).unwrap(), public);
        assert_eq!(PublicKey::from_pem(&public.to_pem()).unwrap(), public);
        let conf = public.to_libreswan();
        assert!(conf.starts_with("0s"));
        assert_eq!(PublicKey::from_libreswan(&conf).unwrap(), public);
        // Truncated input is refused, never a panic.
        for cut in 0..spki.len() {
            assert!(PublicKey::from_spki_der(&spki[..cut]).is_err());
        }
    }
}

#[test]
fn rfc3110_rsa_keys() {
    let key = PrivateKey::generate_rsa(2048).unwrap();
    let public = key.public_key().unwrap();
    let rfc3110 = public.to_rfc3110().unwrap();
    // e = 65537: exponent length 3, then 01 00 01, then the modulus.
    assert_eq!(&rfc3110[..4], &[3, 1, 0, 1]);
    assert_eq!(rfc3110.len(), 4 + 256);
    assert_eq!(PublicKey::from_rfc3110(&rfc3110).unwrap(), public);
    let hexed = format!("0x{}", hex::encode(&rfc3110));
    assert_eq!(PublicKey::from_libreswan(&hexed).unwrap(), public);
    assert!(PublicKey::from_libreswan("AwEAAQ==").is_err());
    assert!(PublicKey::from_rfc3110(&[3, 1, 0]).is_err());
    assert!(PublicKey::from_rfc3110(&[]).is_err());
    // A 1024-bit modulus is refused (RFC 8247).
    let mut small = vec![3, 1, 0, 1];
    small.extend_from_slice(&[0xc1; 128]);
    assert!(PublicKey::from_rfc3110(&small).is_err());
}

/// RFC 7427 Appendix A encodings (A.1.3 sha256WithRSAEncryption, A.3.1
/// ecdsa-with-sha256, A.4.3 RSASSA-PSS with SHA-256) and RFC 8420 2
/// (id-Ed25519).
#[test]
fn algorithm_identifiers_match_the_rfcs() {
    let cases: [(SignatureScheme, &str); 4] = [
        (
            SignatureScheme::RsaPkcs1Sha256,
            "300d06092a864886f70d01010b0500",
        ),
        (SignatureScheme::EcdsaSha256, "300a06082a8648ce3d040302"),
        (
            SignatureScheme::RsaPssSha256,
            "304106092a864886f70d01010a3034a00f300d0609608648016503040201\
             0500a11c301a06092a864886f70d010108300d0609608648016503040201\
             0500a203020120",
        ),
        (SignatureScheme::Ed25519, "300506032b6570"),
    ];
    for (scheme, hex_ai) in cases {
        let expect = hex::decode(hex_ai).unwrap();
        assert_eq!(scheme.algorithm_identifier(), expect, "{scheme:?}");
    }
    for scheme in SignatureScheme::ALL {
        let ai = scheme.algorithm_identifier();
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&ai).unwrap(),
            scheme
        );
    }
    // sha256WithRSAEncryption without the NULL parameter is accepted too.
    let no_null = hex::decode("300b06092a864886f70d01010b").unwrap();
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(&no_null).unwrap(),
        SignatureScheme::RsaPkcs1Sha256
    );
    // sha1WithRSAEncryption is not.
    let sha1 = hex::decode("300d06092a864886f70d0101050500").unwrap();
    assert!(SignatureScheme::from_algorithm_identifier(&sha1).is_err());
    // PSS with a short salt is not.
    let mut short_salt = SignatureScheme::RsaPssSha256.algorithm_identifier();
    let last = short_salt.len() - 1;
    short_salt[last] = 20;
    assert!(SignatureScheme::from_algorithm_identifier(&short_salt).is_err());
    assert!(decode_digital_signature(&[]).is_err());
    assert!(decode_digital_signature(&[40, 0x30]).is_err());
}

#[test]
fn signature_hash_ids() {
    for h in SignatureHash::ALL {
        assert_eq!(SignatureHash::from_id(h.id()), Some(h));
    }
    assert_eq!(SignatureHash::Sha256.id(), 2);
    assert_eq!(SignatureHash::Identity.id(), 5);
    assert_eq!(SignatureScheme::Ed25519.hash(), SignatureHash::Identity);
    assert_eq!(SignatureHash::from_id(0), None);
    let data = SignatureHash::encode_notify(&SignatureHash::SUPPORTED);
    assert_eq!(data, vec![0, 2, 0, 3, 0, 4, 0, 5]);
    assert_eq!(
        SignatureHash::decode_notify(&data).unwrap(),
        SignatureHash::SUPPORTED.to_vec()
    );
    // Unknown identifiers are skipped; odd lengths are malformed.
    assert_eq!(
        SignatureHash::decode_notify(&[0, 9, 0, 1]).unwrap(),
        vec![SignatureHash::Sha1]
    );
    assert_eq!(SignatureHash::decode_notify(&[0, 2, 0]), None);
}

#[test]
fn scheme_choice_follows_the_peer_hashes() {
    use SignatureHash::*;
    assert_eq!(
        KeyType::Rsa.preferred_scheme(&[Sha512, Sha256]),
        Some(SignatureScheme::RsaPssSha256)
    );
    assert_eq!(
        KeyType::Rsa.preferred_scheme(&[Sha384]),
        Some(SignatureScheme::RsaPssSha384)
    );
    assert_eq!(
        KeyType::EcdsaP384.preferred_scheme(&[Sha256, Sha384]),
        Some(SignatureScheme::EcdsaSha384)
    );
    assert_eq!(KeyType::EcdsaP256.preferred_scheme(&[Sha384]), None);
    assert_eq!(
        KeyType::Ed25519.preferred_scheme(&[Identity]),
        Some(SignatureScheme::Ed25519)
    );
    assert_eq!(KeyType::Ed25519.preferred_scheme(&[Sha256]), None);
}

#[test]
fn libreswan_rsasigkey_round_trips_exactly() {
    let text = include_str!("vectors/libreswan_rsasigkey.txt");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("leftrsasigkey = "))
        .unwrap();
    let key = PublicKey::from_libreswan(value).unwrap();
    assert_eq!(key.key_type(), KeyType::Rsa);
    assert_eq!(key.bits(), 2192);
    assert_eq!(&key.to_rfc3110().unwrap()[..2], &[1, 3]);
    assert_eq!(key.to_libreswan(), value);
    let ckaid = text
        .lines()
        .find_map(|l| l.strip_prefix("ckaid = "))
        .unwrap();
    assert_eq!(hex::encode(key.ckaid()), ckaid);
    assert_eq!(PublicKey::from_spki_der(&key.to_spki_der()).unwrap(), key);
}

/// RSASSA-PKCS1-v1_5 is deterministic: the legacy (method 1) signature of
/// a 2192-bit key must equal the independently computed one.
#[test]
fn legacy_rsa_signature_known_answer() {
    let text = include_str!("vectors/rsa2192_pkcs1_sha1.txt");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| hex::decode(v.trim()).unwrap())
            .unwrap()
    };
    let message = field("message = ");
    let signature = field("signature = ");
    let pem = &text[text.find("-----BEGIN").unwrap()..];
    let key = PrivateKey::from_pem(pem).unwrap();
    assert_eq!(key.key_type(), KeyType::Rsa);
    let public = key.public_key().unwrap();
    assert_eq!(public.bits(), 2192);
    let ours = key.sign_legacy(LegacyAuthMethod::Rsa, &message).unwrap();
    assert_eq!(ours, signature);
    public
        .verify_legacy(LegacyAuthMethod::Rsa, &message, &signature)
        .unwrap();
    // The same key through PKCS#8 and the RFC 7427 schemes.
    let again = PrivateKey::from_pkcs8_der(key.to_pkcs8_der().unwrap().as_bytes()).unwrap();
    assert_eq!(
        again.sign_legacy(LegacyAuthMethod::Rsa, &message).unwrap(),
        signature
    );
    let sig = key.sign(SignatureScheme::RsaPkcs1Sha384, &message).unwrap();
    public
        .verify(SignatureScheme::RsaPkcs1Sha384, &message, &sig)
        .unwrap();
}

#[test]
fn key_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PrivateKey>();
    check::<PublicKey>();
    check::<ike::crypto::KeyExchange>();
    check::<ike::crypto::SkCipher>();
    check::<ike::crypto::IkeSaKeys>();
    check::<ike::crypto::ChildKeys>();
}
