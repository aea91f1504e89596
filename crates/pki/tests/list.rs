//! Libreswan list outputs, line by line.

mod common;

use pki::list::{self, PubkeyEntry};
use pki::{CertStore, Id, TimeZone, UnixTime};

fn gmt(p: &common::TestPki, cmd: &str) -> String {
    // openssl prints e.g. "notAfter=Nov 30 06:10:44 2027 GMT"; date(1) reformats it.
    let v = common::run(&p.dir, cmd);
    let v = v.trim().split_once('=').unwrap().1.to_string();
    common::run(&p.dir, &format!("date -u -d '{v}' '+%a %b %d %H:%M:%S %Y'"))
        .trim()
        .to_string()
}

fn store(p: &common::TestPki) -> CertStore {
    let d = common::fresh_dir("list-ipsec.d");
    for sub in ["certs", "cacerts", "private", "crls"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let cp = |from: &str, to: &str| std::fs::copy(p.path(from), d.join(to)).unwrap();
    cp("east.crt", "certs/east");
    cp("ec256.crt", "certs/ec256");
    cp("east.key", "private/east.pem");
    cp("ca.crt", "cacerts/ca");
    cp("ca.crl.pem", "crls/ca.crl");
    CertStore::load_pem_dir(&d).unwrap()
}

#[test]
fn listcerts_and_cacerts() {
    let p = common::pki("list");
    let s = store(p);
    let east_nb = gmt(p, "openssl x509 -in east.crt -noout -startdate");
    let east_na = gmt(p, "openssl x509 -in east.crt -noout -enddate");
    let ec_nb = gmt(p, "openssl x509 -in ec256.crt -noout -startdate");
    let ec_na = gmt(p, "openssl x509 -in ec256.crt -noout -enddate");
    let ec_serial = common::run(&p.dir, "openssl x509 -in ec256.crt -noout -serial");
    let ec_serial = ec_serial
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase();
    let issuer = "C=CA, ST=Ontario, O=Libreswan, CN=Libreswan test CA";
    let expected = vec![
        " ".to_string(),
        "List of X.509 End Certificates:".into(),
        " ".into(),
        "End certificate \"east\" - SN: 0x01".into(),
        "  subject: C=CA, ST=Ontario, O=Libreswan, CN=east.testing.libreswan.org, E=user-east@testing.libreswan.org".into(),
        format!("  issuer: {issuer}"),
        format!("  not before: {east_nb}"),
        format!("  not after: {east_na}"),
        "  2048 bit RSA: has private key".into(),
        " ".into(),
        format!("End certificate \"ec256\" - SN: 0x{ec_serial}"),
        "  subject: C=CA, ST=Ontario, O=Libreswan, CN=ec256.testing.libreswan.org".into(),
        format!("  issuer: {issuer}"),
        format!("  not before: {ec_nb}"),
        format!("  not after: {ec_na}"),
        "  256 bit(other)".into(),
        " ".into(),
    ];
    assert_eq!(list::list_certs(&s), expected);

    let ca = list::list_cacerts(&s);
    assert_eq!(ca[1], "List of X.509 CA Certificates:");
    assert!(
        ca[3].starts_with("Root CA certificate \"ca\" - SN: 0x"),
        "{}",
        ca[3]
    );
    assert_eq!(ca[4], format!("  subject: {issuer}"));
    assert_eq!(ca[5], format!("  issuer: {issuer}"));
    assert_eq!(ca[8], "  2048 bit RSA");
    assert_eq!(ca.len(), 10);
}

#[test]
fn listcrls() {
    let p = common::pki("list");
    let s = store(p);
    let this = gmt(p, "openssl crl -in ca.crl.pem -noout -lastupdate");
    let next = gmt(p, "openssl crl -in ca.crl.pem -noout -nextupdate");
    assert_eq!(
        list::list_crls(&s),
        vec![
            " ".to_string(),
            "List of CRLs:".into(),
            " ".into(),
            " ".into(),
            "issuer: C=CA, ST=Ontario, O=Libreswan, CN=Libreswan test CA".into(),
            "revoked certs: 1".into(),
            format!("updates: this {this}"),
            format!("         next {next}"),
        ]
    );
    let empty = CertStore::new();
    assert_eq!(list::list_crls(&empty), [" ", "List of CRLs:", " "]);
}

#[test]
fn listpubkeys_and_checkpubkeys() {
    let p = common::pki("list");
    let s = store(p);
    let east = &s.cert_by_nickname("east").unwrap().cert;
    let na = east.not_after();
    let installed = UnixTime(1_767_225_600); // Jan 01 00:00:00 UTC 2026
    let entry = PubkeyEntry::from_cert(east, installed, true);
    let keyid = east.public_key().keyid();
    assert_eq!(keyid.len(), 9);
    assert!(keyid.starts_with("AwEAA"), "{keyid}");
    let raw = PubkeyEntry {
        installed,
        key: s
            .cert_by_nickname("ec256")
            .unwrap()
            .cert
            .public_key()
            .clone(),
        id: Id::parse("@road.testing.libreswan.org").unwrap(),
        issuer: None,
        until: None,
        has_private_key: false,
    };
    let now = installed;
    let lines = list::list_pubkeys(&[entry.clone(), raw.clone()], now, TimeZone::Utc);
    assert_eq!(lines[..3], [" ", "List of Public Keys:", " "]);
    assert_eq!(
        lines[3],
        format!(
            "Jan 01 00:00:00 UTC 2026, 2048 RSA Key {keyid} (has private key), until {} ok",
            na.realtime(TimeZone::Utc)
        )
    );
    assert_eq!(lines[4], format!("       DER_ASN1_DN '{}'", east.subject()));
    assert_eq!(lines[5], format!("       Issuer '{}'", east.issuer()));
    assert!(
        lines[6].starts_with("Jan 01 00:00:00 UTC 2026,  256 ECDSA Key "),
        "{}",
        lines[6]
    );
    assert!(
        lines[6].ends_with("(no private key), until --- -- --:--:-- UTC ---- ok (expires never)")
    );
    assert_eq!(lines[7], "       FQDN '@road.testing.libreswan.org'");
    assert_eq!(lines.len(), 8);
    // Local time one hour east of UTC.
    let local = list::list_pubkeys(
        std::slice::from_ref(&entry),
        now,
        TimeZone::Local { offset_secs: 3600 },
    );
    assert!(
        local[3].starts_with("Jan 01 01:00:00 2026, "),
        "{}",
        local[3]
    );

    // --checkpubkeys: nothing now; the certificate shows up near its expiry.
    let w = list::PUBKEY_WARNING_INTERVAL_SECS;
    assert!(list::check_pubkeys(&[entry.clone(), raw.clone()], now, TimeZone::Utc, w).is_empty());
    let soon = na.add_secs(-3 * 86_400 - 5);
    let warn = list::check_pubkeys(&[entry.clone(), raw.clone()], soon, TimeZone::Utc, w);
    assert_eq!(warn.len(), 3);
    assert!(
        warn[0].ends_with(" warning (expires in 3 days)"),
        "{}",
        warn[0]
    );
    let late = list::check_pubkeys(&[entry], na.add_secs(1), TimeZone::Utc, w);
    assert!(late[0].ends_with(" fatal (expired)"));

    let exp = list::expiring_certs(&s, soon, w);
    let names: Vec<&str> = exp.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"east") && !names.contains(&"ca"), "{exp:?}");
}
