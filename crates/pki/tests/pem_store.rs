//! The PEM `ipsec.d` folder store.

mod common;

use pki::{CertStore, ChainError, Hash, Id, SignatureScheme, ValidationOptions};

#[test]
fn loads_ipsec_d_and_validates_peers() {
    let p = common::pki("pem_store");
    let d = common::fresh_dir("pem_store-ipsec.d");
    for sub in ["certs", "cacerts", "private", "crls"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let cp = |from: &str, to: &str| std::fs::copy(p.path(from), d.join(to)).unwrap();
    cp("east.crt", "certs/east.crt");
    cp("ec256.crt", "certs/ec256.crt");
    cp("ca.crt", "cacerts/ca.crt");
    cp("east.key", "private/east.key");
    cp("ec256.sec1.pem", "private/ec256.pem");
    cp("ca.crl.der", "crls/ca.crl");
    std::fs::write(d.join("certs/garbage.crt"), b"not a certificate").unwrap();

    let store = CertStore::load_pem_dir(&d).unwrap();
    assert_eq!(store.certs().len(), 3);
    assert_eq!(store.warnings().len(), 1, "{:?}", store.warnings());
    assert!(store.warnings()[0].contains("garbage.crt"));
    assert_eq!(store.end_certs().count(), 2);
    assert_eq!(store.ca_certs().count(), 1);
    assert_eq!(store.trust_anchors().len(), 1);
    assert_eq!(store.crls().len(), 1);

    let east = store.cert_by_nickname("east.crt").unwrap();
    assert!(store.cert_by_nickname("west.crt").is_none());
    let key = store.private_key_for(&east.cert).unwrap();
    let sig = key
        .sign(SignatureScheme::RsaPss(Hash::Sha256), b"x")
        .unwrap();
    east.cert
        .public_key()
        .verify(SignatureScheme::RsaPss(Hash::Sha256), b"x", &sig)
        .unwrap();
    assert!(store.has_private_key(&store.cert_by_nickname("ec256.crt").unwrap().cert));

    let id = Id::parse("@east.testing.libreswan.org").unwrap();
    let found: Vec<_> = store.find_by_id(&id).map(|s| s.nickname.clone()).collect();
    assert_eq!(found, ["east.crt"]);

    let opts = ValidationOptions::at(common::now());
    store.validate(&p.cert("west"), &[], &opts).unwrap();
    store
        .validate(&p.cert("leaf"), &[p.cert("sub0")], &opts)
        .unwrap();
    assert!(matches!(
        store.validate(&p.cert("revoked"), &[], &opts),
        Err(ChainError::Revoked { .. })
    ));
    assert!(matches!(
        store.validate(&p.cert("wrongca"), &[], &opts),
        Err(ChainError::UnknownIssuer { .. })
    ));

    assert!(CertStore::load_pem_dir(&d.join("nonexistent")).is_err());
}

#[test]
fn certreq_and_sendca() {
    let p = common::pki("pem_store");
    let d = common::fresh_dir("pem_store-certreq");
    for sub in ["certs", "cacerts"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let cp = |from: &str, to: &str| std::fs::copy(p.path(from), d.join(to)).unwrap();
    cp("ca.crt", "cacerts/ca.crt");
    cp("sub0.crt", "certs/sub0.crt");
    cp("leaf.crt", "certs/leaf.crt");
    let store = CertStore::load_pem_dir(&d).unwrap();
    let ca = p.cert("ca");

    // CERTREQ lists the trusted CA by SHA-1 of its SubjectPublicKeyInfo.
    let cr = store.certreq_authorities();
    assert_eq!(cr, ca.public_key().spki_sha1().to_vec());
    common::run(
        &p.dir,
        "openssl x509 -in ca.crt -noout -pubkey | openssl pkey -pubin -outform DER | openssl sha1 -binary > ca.spki.sha1",
    );
    assert_eq!(cr, std::fs::read(p.path("ca.spki.sha1")).unwrap());
    let asked = store.cas_requested(&[cr.as_slice(), &[0u8; 20]].concat());
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].cert, ca);

    // sendca: the intermediates above leaf, with or without the root.
    let leaf = p.cert("leaf");
    assert_eq!(store.issuer_chain(&leaf, false), [p.cert("sub0")]);
    assert_eq!(
        store.issuer_chain(&leaf, true),
        [p.cert("sub0"), ca.clone()]
    );

    // rightca= against the validated chain.
    let chain = store
        .validate(&leaf, &[], &ValidationOptions::at(common::now()))
        .unwrap();
    let want =
        pki::DistinguishedName::parse("C=CA, ST=Ontario, O=Libreswan, CN=Sub CA zero").unwrap();
    assert!(chain.has_ca(&want));
    let wild = pki::DistinguishedName::parse("C=CA, ST=Ontario, O=Libreswan, CN=*").unwrap();
    assert!(chain.has_ca(&wild));
    let other =
        pki::DistinguishedName::parse("C=CA, ST=Ontario, O=Libreswan, CN=Other test CA").unwrap();
    assert!(!chain.has_ca(&other));
}

#[test]
fn authenticate_peer_cert_payloads() {
    use pki::{DistinguishedName, PeerCertError};
    let p = common::pki("pem_store");
    let d = common::fresh_dir("pem_store-auth");
    std::fs::create_dir_all(d.join("cacerts")).unwrap();
    std::fs::create_dir_all(d.join("crls")).unwrap();
    std::fs::copy(p.path("ca.crt"), d.join("cacerts/ca.crt")).unwrap();
    std::fs::copy(p.path("ca.crl.pem"), d.join("crls/ca.crl")).unwrap();
    let store = CertStore::load_pem_dir(&d).unwrap();
    let opts = ValidationOptions::at(common::now());
    let der = |n: &str| p.cert(n).der().to_vec();

    let (leaf, sub0) = (der("leaf"), der("sub0"));
    let id = Id::parse("@leaf.testing.libreswan.org").unwrap();
    let ok = store
        .authenticate_peer(&[&leaf, &sub0], &id, None, &opts)
        .unwrap();
    assert_eq!(ok.public_key, *p.cert("leaf").public_key());
    assert_eq!(ok.chain.certs.len(), 3);
    assert_eq!(ok.id_wildcards, 0);

    let sub_ca = DistinguishedName::parse("C=CA, ST=Ontario, O=Libreswan, CN=Sub CA zero").unwrap();
    store
        .authenticate_peer(&[&leaf, &sub0], &id, Some(&sub_ca), &opts)
        .unwrap();
    let east = der("east");
    let east_id = Id::parse("@east.testing.libreswan.org").unwrap();
    assert!(matches!(
        store.authenticate_peer(&[&east], &east_id, Some(&sub_ca), &opts),
        Err(PeerCertError::WrongCa { .. })
    ));
    assert!(matches!(
        store.authenticate_peer(&[&east], &id, None, &opts),
        Err(PeerCertError::IdMismatch { .. })
    ));
    assert!(matches!(
        store.authenticate_peer(&[&leaf], &id, None, &opts),
        Err(PeerCertError::Chain(pki::ChainError::UnknownIssuer { .. }))
    ));
    let revoked = der("revoked");
    let e = store
        .authenticate_peer(&[&revoked], &Id::Any, None, &opts)
        .unwrap_err();
    assert!(matches!(
        e,
        PeerCertError::Chain(pki::ChainError::Revoked { .. })
    ));
    assert!(e.to_string().contains("revoked"), "{e}");
    assert!(matches!(
        store.authenticate_peer(&[], &id, None, &opts),
        Err(PeerCertError::NoCertificate)
    ));
    assert!(matches!(
        store.authenticate_peer(&[b"\x30\x00"], &id, None, &opts),
        Err(PeerCertError::Parse(_))
    ));
}
