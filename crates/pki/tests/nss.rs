//! Reading NSS databases made by certutil and pk12util.

mod common;

use std::path::{Path, PathBuf};

use pki::{Hash, Id, KeyType, NssDb, PkiError, SignatureScheme, ValidationOptions};

fn pki() -> &'static common::TestPki {
    common::pki("nss")
}

/// Builds an NSS database with east (RSA) and ec256 (ECDSA) and their keys,
/// the CA as "CT,,", and west as a certificate without key.
fn make_db(name: &str, password: Option<&str>) -> PathBuf {
    let p = pki();
    let db = common::fresh_dir(name);
    let d = db.display();
    let pwfile = db.join("pw");
    std::fs::write(&pwfile, password.unwrap_or("")).unwrap();
    let pw = pwfile.display();
    let init = match password {
        None => format!("certutil -N -d sql:{d} --empty-password"),
        Some(_) => format!("certutil -N -d sql:{d} -f {pw}"),
    };
    common::run(&p.dir, &init);
    for k in ["east", "ec256"] {
        common::run(
            &p.dir,
            &format!(
                "openssl pkcs12 -export -in {k}.crt -inkey {k}.key -name {k} -out {name}-{k}.p12 -passout pass:p12 \
                 && pk12util -i {name}-{k}.p12 -d sql:{d} -W p12 -k {pw}"
            ),
        );
    }
    common::run(
        &p.dir,
        &format!("certutil -A -d sql:{d} -f {pw} -n ca -t CT,, -i ca.crt"),
    );
    common::run(
        &p.dir,
        &format!("certutil -A -d sql:{d} -f {pw} -n west -t P,, -i west.crt"),
    );
    db
}

fn check_db(db: &Path, password: &str) {
    let p = pki();
    let nss = NssDb::open(&PathBuf::from(format!("sql:{}", db.display()))).unwrap();
    let certs = nss.certificates().unwrap();
    let mut names: Vec<&str> = certs.iter().map(|(n, _, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["ca", "east", "ec256", "west"]);

    let store = nss.load(Some(password)).unwrap();
    let ca = store.cert_by_nickname("ca").unwrap();
    assert!(ca.trust.trusted_ca && !ca.trust.trusted_peer);
    assert_eq!(ca.cert, p.cert("ca"));
    let west = store.cert_by_nickname("west").unwrap();
    assert!(west.trust.trusted_peer && !west.trust.trusted_ca);
    assert!(!store.has_private_key(&west.cert));

    let keys = nss.private_keys(password).unwrap();
    assert_eq!(keys.len(), 2);
    for (nick, scheme) in [
        ("east", SignatureScheme::RsaPss(Hash::Sha256)),
        ("ec256", SignatureScheme::Ecdsa(Hash::Sha256)),
    ] {
        let sc = store.cert_by_nickname(nick).unwrap();
        assert_eq!(sc.cert, p.cert(nick));
        let key = store
            .private_key_for(&sc.cert)
            .unwrap_or_else(|| panic!("{nick} key"));
        let sig = key.sign(scheme, b"AUTH payload").unwrap();
        sc.cert
            .public_key()
            .verify(scheme, b"AUTH payload", &sig)
            .unwrap();
        let k = keys.iter().find(|k| k.label == nick).unwrap();
        assert_eq!(k.ckaid, sc.cert.public_key().ckaid(), "{nick} CKAID");
        // leftckaid= with a prefix of the CKAID finds the same key.
        let by_ckaid = store.private_key_by_ckaid(&k.ckaid[..4]).unwrap();
        assert_eq!(by_ckaid.public_key(), sc.cert.public_key());
    }
    assert!(store
        .private_key_by_ckaid(&[0xde, 0xad, 0xbe, 0xef])
        .is_none());
    // certutil -K lists the same CKAIDs.
    let listing = common::run(
        &p.dir,
        &format!("certutil -K -d sql:{} -f {}/pw", db.display(), db.display()),
    );
    for k in &keys {
        assert!(listing.contains(&hex::encode(&k.ckaid)), "{listing}");
    }
    assert_eq!(
        store.private_key_for(&p.cert("east")).unwrap().key_type(),
        KeyType::Rsa { bits: 2048 }
    );

    // The database's CA validates peer certificates.
    let opts = ValidationOptions::at(common::now());
    store.validate(&p.cert("ec384"), &[], &opts).unwrap();
    assert!(store.validate(&p.cert("wrongca"), &[], &opts).is_err());
    let id = Id::parse("@ec256.testing.libreswan.org").unwrap();
    assert_eq!(store.find_by_id(&id).count(), 1);

    // Certificates without a password.
    let no_keys = nss.load(None).unwrap();
    assert_eq!(no_keys.certs().len(), 4);
    assert!(no_keys.private_keys().is_empty());
}

#[test]
fn empty_password_database() {
    let db = make_db("nss-empty", None);
    check_db(&db, "");
    let nss = NssDb::open(&db).unwrap();
    assert!(matches!(
        nss.check_password("wrong"),
        Err(PkiError::BadPassword(_))
    ));
}

#[test]
fn password_database() {
    let db = make_db("nss-password", Some("s3cret pass"));
    check_db(&db, "s3cret pass");
    let nss = NssDb::open(&db).unwrap();
    assert!(matches!(
        nss.private_keys(""),
        Err(PkiError::BadPassword(_))
    ));
    assert!(matches!(
        nss.check_password("s3cret"),
        Err(PkiError::BadPassword(_))
    ));
    nss.check_password("s3cret pass").unwrap();
}

#[test]
fn missing_database() {
    let dir = common::fresh_dir("nss-missing");
    assert!(matches!(NssDb::open(&dir), Err(PkiError::Nss { .. })));
}
