//! Certificate parsing, chain validation, ID matching and private keys against
//! a PKI made by openssl at test time.

mod common;

use std::net::IpAddr;

use pki::{
    validate_chain, ChainError, CrlStore, Curve, GeneralName, Hash, Id, KeyType, SignatureScheme,
    ValidationOptions,
};

fn pki() -> &'static common::TestPki {
    common::pki("x509")
}

fn opts() -> ValidationOptions {
    ValidationOptions::at(common::now())
}

#[test]
fn parses_fields() {
    let p = pki();
    let east = p.cert("east");
    assert_eq!(
        east.subject().to_string(),
        "C=CA, ST=Ontario, O=Libreswan, CN=east.testing.libreswan.org, E=user-east@testing.libreswan.org"
    );
    assert_eq!(
        east.issuer().to_string(),
        "C=CA, ST=Ontario, O=Libreswan, CN=Libreswan test CA"
    );
    assert_eq!(east.version(), 3);
    assert_eq!(east.serial_hex(), "0x01");
    let sans = east.subject_alt_names();
    assert!(sans.contains(&GeneralName::Dns("east.testing.libreswan.org".into())));
    assert!(sans.contains(&GeneralName::Email("east@testing.libreswan.org".into())));
    assert!(sans.contains(&GeneralName::Ip("192.0.2.23".parse::<IpAddr>().unwrap())));
    assert!(sans.contains(&GeneralName::Ip("2001:db8::23".parse::<IpAddr>().unwrap())));
    let ku = east.key_usage().unwrap();
    assert!(ku.digital_signature && ku.key_encipherment && !ku.key_cert_sign);
    let eku = east.extended_key_usage().unwrap();
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(east.basic_constraints().map(|b| b.ca), Some(false));
    assert!(!east.is_ca());
    assert_eq!(
        east.crl_distribution_points(),
        ["http://192.0.2.254/revoked.crl".to_string()]
    );
    assert_eq!(east.ocsp_uris(), ["http://192.0.2.254:2560".to_string()]);
    assert_eq!(east.public_key().key_type(), KeyType::Rsa { bits: 2048 });
    assert!(east.subject_key_id().is_some());
    assert!(east.not_before() < east.not_after());

    // Cross-check the fingerprint and the SPKI against openssl.
    let fp = common::run(
        &p.dir,
        "openssl x509 -in east.crt -noout -fingerprint -sha1",
    );
    let fp = fp
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(hex::encode(east.sha1_fingerprint()), fp);
    common::run(&p.dir, "openssl x509 -in east.crt -noout -pubkey | openssl pkey -pubin -outform DER -out east.spki");
    assert_eq!(
        east.public_key().spki_der(),
        std::fs::read(p.path("east.spki")).unwrap().as_slice()
    );

    let ca = p.cert("ca");
    assert!(ca.is_ca() && ca.is_self_signed());
    assert_eq!(ca.basic_constraints().unwrap().path_len, None);
    assert_eq!(
        p.cert("sub0").basic_constraints().unwrap().path_len,
        Some(0)
    );
    assert_eq!(
        p.cert("ec256").public_key().key_type(),
        KeyType::Ecdsa(Curve::P256)
    );
    assert_eq!(
        p.cert("ec384").public_key().key_type(),
        KeyType::Ecdsa(Curve::P384)
    );
    assert_eq!(
        p.cert("ec521").public_key().key_type(),
        KeyType::Ecdsa(Curve::P521)
    );
    assert_eq!(p.cert("ed").public_key().key_type(), KeyType::Ed25519);
    assert_eq!(
        p.cert("pss").signature_scheme().unwrap(),
        SignatureScheme::RsaPss(Hash::Sha256)
    );
    assert_eq!(
        p.cert("wrongca").signature_scheme().unwrap(),
        SignatureScheme::Ecdsa(Hash::Sha256)
    );
}

#[test]
fn chain_success_for_each_key_type() {
    let p = pki();
    let anchors = [p.cert("ca")];
    for name in ["east", "west", "ec256", "ec384", "ec521", "ed", "pss"] {
        let chain = validate_chain(&p.cert(name), &[], &anchors, None, &opts())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(chain.certs.len(), 2);
        assert_eq!(chain.anchor().unwrap(), &anchors[0]);
    }
    // Through an intermediate (pathlen 0 allows an end certificate below it).
    let chain =
        validate_chain(&p.cert("leaf"), &[p.cert("sub0")], &anchors, None, &opts()).unwrap();
    assert_eq!(chain.certs.len(), 3);
}

#[test]
fn chain_failures() {
    let p = pki();
    let anchors = [p.cert("ca")];
    let v = |name: &str, inter: &[pki::Certificate]| {
        validate_chain(&p.cert(name), inter, &anchors, None, &opts()).unwrap_err()
    };
    assert!(
        matches!(v("expired", &[]), ChainError::Expired { .. }),
        "{}",
        v("expired", &[])
    );
    assert!(matches!(v("future", &[]), ChainError::NotYetValid { .. }));
    assert!(matches!(
        v("wrongca", &[]),
        ChainError::UnknownIssuer { .. }
    ));
    assert!(matches!(v("leaf", &[]), ChainError::UnknownIssuer { .. }));
    assert!(matches!(
        v("notca", &[p.cert("east")]),
        ChainError::NotCa { .. }
    ));
    assert!(matches!(v("nosig", &[]), ChainError::KeyUsage { .. }));
    match v("deep", &[p.cert("sub0"), p.cert("sub1")]) {
        ChainError::PathTooLong {
            path_len,
            needed,
            subject,
        } => {
            assert_eq!((path_len, needed), (0, 1));
            assert!(subject.contains("Sub CA zero"));
        }
        e => panic!("unexpected {e}"),
    }
    // Same issuer name, other key: the signature does not verify.
    let impostor =
        pki::Certificate::from_pem_or_der(&std::fs::read(p.path("impostor/ca.crt")).unwrap())
            .unwrap()
            .remove(0);
    let e = validate_chain(&p.cert("east"), &[], &[impostor], None, &opts()).unwrap_err();
    assert!(matches!(e, ChainError::BadSignature { .. }), "{e}");
    // Critical extensions ferroswan does not enforce are refused, whether in
    // the end certificate (policies) or in an intermediate (name constraints).
    match v("policy", &[]) {
        ChainError::UnhandledCriticalExtension { oid, .. } => assert_eq!(oid, "2.5.29.32"),
        e => panic!("unexpected {e}"),
    }
    assert_eq!(
        p.cert("subnc").unhandled_critical_extensions(),
        ["2.5.29.30".to_string()]
    );
    match v("nc", &[p.cert("subnc")]) {
        ChainError::UnhandledCriticalExtension { oid, subject } => {
            assert_eq!(oid, "2.5.29.30");
            assert!(subject.contains("name constraints"));
        }
        e => panic!("unexpected {e}"),
    }
    // Too many CAs.
    let mut o = opts();
    o.max_ca_path_len = 1;
    let e = validate_chain(&p.cert("leaf"), &[p.cert("sub0")], &anchors, None, &o).unwrap_err();
    assert!(matches!(e, ChainError::ChainTooLong { .. }), "{e}");
    // Validity is checked against the clock passed in.
    let mut o = opts();
    o.time = pki::UnixTime(1_590_000_000); // 2020-05-20
    let chain = validate_chain(&p.cert("expired"), &[], &anchors, None, &o);
    // The CA itself is not valid yet at that time.
    assert!(matches!(chain, Err(ChainError::NotYetValid { .. })));
}

#[test]
fn crl_revocation() {
    let p = pki();
    let ca = p.cert("ca");
    let crl = p.crl("ca.crl.pem");
    let der_crl = p.crl("ca.crl.der");
    assert_eq!(crl.der(), der_crl.der());
    assert_eq!(crl.issuer().to_string(), ca.subject().to_string());
    assert_eq!(crl.revoked().len(), 1);
    assert_eq!(crl.revoked()[0].reason, Some(1));
    assert!(crl.next_update().unwrap() > crl.this_update());
    crl.verify_signed_by(ca.public_key()).unwrap();
    assert!(crl.find(p.cert("revoked").serial()).is_some());
    assert!(crl.find(p.cert("east").serial()).is_none());

    let mut store = CrlStore::new();
    let impostor_crl = p.crl("impostor.crl.pem");
    assert!(store.insert(impostor_crl, &ca).is_err());
    assert!(store.insert(crl, &ca).unwrap());
    let anchors = [ca.clone()];
    let e = validate_chain(&p.cert("revoked"), &[], &anchors, Some(&store), &opts()).unwrap_err();
    match e {
        ChainError::Revoked { serial, reason, .. } => {
            assert_eq!(serial, p.cert("revoked").serial_hex());
            assert_eq!(reason, Some(1));
        }
        e => panic!("unexpected {e}"),
    }
    validate_chain(&p.cert("east"), &[], &anchors, Some(&store), &opts()).unwrap();
    // crl-strict: no CRL of sub0 means the leaf is refused.
    let mut o = opts();
    o.crl_strict = true;
    let e = validate_chain(
        &p.cert("leaf"),
        &[p.cert("sub0")],
        &anchors,
        Some(&store),
        &o,
    )
    .unwrap_err();
    assert!(matches!(e, ChainError::NoCurrentCrl { .. }), "{e}");
}

#[test]
fn id_matching() {
    let p = pki();
    let east = p.cert("east");
    let yes = [
        "%any",
        "%fromcert",
        "@east.testing.libreswan.org",
        "@EAST.testing.libreswan.org",
        "east@testing.libreswan.org",
        "192.0.2.23",
        "2001:db8::23",
        "C=CA, ST=Ontario, O=Libreswan, CN=east.testing.libreswan.org, E=user-east@testing.libreswan.org",
        "c=ca,st=ontario,o=libreswan,cn=East.Testing.Libreswan.org,e=user-east@testing.libreswan.org",
        "C=CA, ST=*, O=Libreswan, CN=east.testing.libreswan.org, E=*",
        "CN=east.testing.libreswan.org, C=CA, ST=Ontario, O=Libreswan, E=user-east@testing.libreswan.org",
    ];
    for id in yes {
        assert!(
            Id::parse(id).unwrap().matches_cert(&east),
            "{id} should match"
        );
    }
    let no = [
        "@west.testing.libreswan.org",
        "west@testing.libreswan.org",
        "user-east@testing.libreswan.org",
        "192.0.2.45",
        "2001:db8::45",
        "C=CA, ST=Ontario, O=Libreswan, CN=west.testing.libreswan.org, E=user-east@testing.libreswan.org",
        "C=CA, ST=Ontario, O=Libreswan, CN=east.testing.libreswan.org",
    ];
    for id in no {
        assert!(
            !Id::parse(id).unwrap().matches_cert(&east),
            "{id} should not match"
        );
    }
    let wild = Id::parse("C=CA, ST=*, O=Libreswan, CN=east.testing.libreswan.org, E=*").unwrap();
    assert_eq!(wild.match_cert_wildcards(&east), Some(2));
    assert!(Id::from_cert(&east).matches_cert(&east));
    // The ID payload a peer sends for %fromcert carries the subject's DER.
    let (t, data) = Id::from_cert(&east).to_payload().unwrap();
    assert_eq!(
        (t, data.as_slice()),
        (9, east.subject().der.as_deref().unwrap())
    );
    assert!(Id::from_payload(t, &data).unwrap().matches_cert(&east));
    assert!(Id::from_payload(2, b"east.testing.libreswan.org")
        .unwrap()
        .matches_cert(&east));
    assert!(Id::from_payload(1, &[192, 0, 2, 23])
        .unwrap()
        .matches_cert(&east));
    assert!(!Id::from_cert(&east).matches_cert(&p.cert("west")));
}

#[test]
fn private_keys_sign_and_verify() {
    let p = pki();
    let msg = b"IKE_AUTH octets";
    let cases: &[(&str, &str, &[SignatureScheme])] = &[
        (
            "east.key",
            "east",
            &[
                SignatureScheme::RsaPkcs1(Hash::Sha1),
                SignatureScheme::RsaPkcs1(Hash::Sha256),
                SignatureScheme::RsaPkcs1(Hash::Sha512),
                SignatureScheme::RsaPss(Hash::Sha256),
                SignatureScheme::RsaPss(Hash::Sha384),
            ],
        ),
        (
            "east.rsa.pem",
            "east",
            &[SignatureScheme::RsaPkcs1(Hash::Sha384)],
        ),
        (
            "east.p8.pem",
            "east",
            &[SignatureScheme::RsaPss(Hash::Sha512)],
        ),
        (
            "ec256.key",
            "ec256",
            &[
                SignatureScheme::Ecdsa(Hash::Sha256),
                SignatureScheme::EcdsaFixed(Hash::Sha256),
            ],
        ),
        (
            "ec256.sec1.pem",
            "ec256",
            &[SignatureScheme::Ecdsa(Hash::Sha256)],
        ),
        (
            "ec384.key",
            "ec384",
            &[SignatureScheme::Ecdsa(Hash::Sha384)],
        ),
        (
            "ec521.key",
            "ec521",
            &[
                SignatureScheme::Ecdsa(Hash::Sha512),
                SignatureScheme::Ecdsa(Hash::Sha256),
            ],
        ),
        ("ed.key", "ed", &[SignatureScheme::Ed25519]),
    ];
    for (file, cert, schemes) in cases {
        let key = p.key(file);
        let cert = p.cert(cert);
        assert_eq!(key.public_key(), cert.public_key(), "{file}");
        assert_eq!(key.key_type(), cert.public_key().key_type());
        assert!(!format!("{key:?}").contains("BEGIN"));
        for s in *schemes {
            let sig = key.sign(*s, msg).unwrap();
            cert.public_key().verify(*s, msg, &sig).unwrap();
            assert!(
                cert.public_key().verify(*s, b"other", &sig).is_err(),
                "{file} {s:?}"
            );
        }
    }
    // A scheme that does not fit the key is an error, not a signature.
    assert!(p
        .key("ed.key")
        .sign(SignatureScheme::RsaPss(Hash::Sha256), msg)
        .is_err());
    // SHA-1 PKCS#1 v1.5 (IKEv2 auth method 1) is deterministic: the same
    // bytes as openssl's.
    let sig = p
        .key("east.rsa.pem")
        .sign(SignatureScheme::RsaPkcs1(Hash::Sha1), msg)
        .unwrap();
    std::fs::write(p.path("msg1.bin"), msg).unwrap();
    common::run(
        &p.dir,
        "openssl dgst -sha1 -sign east.key -out msg1.sig msg1.bin",
    );
    assert_eq!(sig, std::fs::read(p.path("msg1.sig")).unwrap());
    // Cross-check with openssl: a signature made by ferroswan verifies there.
    let key = p.key("ec384.key");
    let sig = key.sign(SignatureScheme::Ecdsa(Hash::Sha384), msg).unwrap();
    std::fs::write(p.path("msg.bin"), msg).unwrap();
    std::fs::write(p.path("msg.sig"), sig).unwrap();
    let out = common::run(
        &p.dir,
        "openssl x509 -in ec384.crt -noout -pubkey > ec384.pub && openssl dgst -sha384 -verify ec384.pub -signature msg.sig msg.bin",
    );
    assert!(out.contains("Verified OK"));
}
