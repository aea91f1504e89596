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
    // One folder per call: the tests of this binary run in parallel.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = common::fresh_dir(&format!("list-ipsec.d-{n}"));
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

    let ca_nb = gmt(p, "openssl x509 -in ca.crt -noout -startdate");
    let ca_na = gmt(p, "openssl x509 -in ca.crt -noout -enddate");
    let ca_serial = common::run(&p.dir, "openssl x509 -in ca.crt -noout -serial");
    let ca_serial = ca_serial
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase();
    assert_eq!(
        list::list_cacerts(&s),
        vec![
            " ".to_string(),
            "List of X.509 CA Certificates:".into(),
            " ".into(),
            format!("Root CA certificate \"ca\" - SN: 0x{ca_serial}"),
            format!("  subject: {issuer}"),
            format!("  issuer: {issuer}"),
            format!("  not before: {ca_nb}"),
            format!("  not after: {ca_na}"),
            "  2048 bit RSA".into(),
            " ".into(),
        ]
    );
    // Certificate times are GMT whatever the local zone: nothing in these
    // lists depends on it (no zone parameter), and every time line has
    // Libreswan's "%a %b %d %H:%M:%S %Y" shape.
    for l in list::list_certs(&s)
        .iter()
        .filter(|l| l.starts_with("  not "))
    {
        let t = l.split_once(": ").unwrap().1;
        let parts: Vec<&str> = t.split(' ').collect();
        assert_eq!(parts.len(), 5, "{l}");
        assert_eq!(
            (parts[0].len(), parts[1].len(), parts[2].len()),
            (3, 3, 2),
            "{l}"
        );
        assert_eq!(parts[3].len(), 8, "{l}");
    }
}

#[test]
fn listcrls() {
    let p = common::pki("list");
    let s = store(p);
    let this = gmt(p, "openssl crl -in ca.crl.pem -noout -lastupdate");
    let next = gmt(p, "openssl crl -in ca.crl.pem -noout -nextupdate");
    let ca_crl = vec![
        "issuer: C=CA, ST=Ontario, O=Libreswan, CN=Libreswan test CA".to_string(),
        "revoked certs: 1".into(),
        format!("updates: this {this}"),
        format!("         next {next}"),
    ];
    let mut expected = vec![" ".to_string(), "List of CRLs:".into(), " ".into()];
    expected.extend(ca_crl.clone());
    assert_eq!(list::list_crls(&s), expected);
    let empty = CertStore::new();
    assert_eq!(list::list_crls(&empty), [" ", "List of CRLs:", " "]);

    // Two CRLs: one blank line between them, none after the last.
    common::run(
        &p.dir,
        "CANAME=otherca openssl ca -batch -config ca.cnf -gencrl -crldays 7 -out otherca.crl.pem 2>/dev/null",
    );
    let o_this = gmt(p, "openssl crl -in otherca.crl.pem -noout -lastupdate");
    let o_next = gmt(p, "openssl crl -in otherca.crl.pem -noout -nextupdate");
    let other_crl = vec![
        "issuer: C=CA, ST=Ontario, O=Libreswan, CN=Other test CA".to_string(),
        "revoked certs: 0".into(),
        format!("updates: this {o_this}"),
        format!("         next {o_next}"),
    ];
    let mut s2 = store(p);
    s2.add_cert(
        "otherca",
        p.cert("otherca"),
        pki::Trust {
            trusted_ca: true,
            ..pki::Trust::default()
        },
    );
    s2.add_crl(p.crl("otherca.crl.pem")).unwrap();
    let lines = list::list_crls(&s2);
    let first_is_ca = lines[3].ends_with("CN=Libreswan test CA");
    let (a, b) = if first_is_ca {
        (&ca_crl, &other_crl)
    } else {
        (&other_crl, &ca_crl)
    };
    let mut expected = vec![" ".to_string(), "List of CRLs:".into(), " ".into()];
    expected.extend(a.iter().cloned());
    expected.push(" ".into());
    expected.extend(b.iter().cloned());
    assert_eq!(lines, expected);
}

/// `ipsec auto --listall` of an empty Libreswan 4.10 pluto, from
/// ../shared/reference/peers/captures/libreswan-cli.txt (without the `000 `
/// prefixes); the pre-shared secrets section is pluto's own.
#[test]
fn listall_of_nothing_matches_libreswan() {
    let empty = CertStore::new();
    let now = UnixTime(1_767_225_600);
    let psks = vec![
        "List of Pre-shared secrets (from /tmp/ph-peers/lsw/east/ipsec.secrets)".to_string(),
        " ".into(),
        "    1: PSK (none) (none)".into(),
        " ".into(),
    ];
    let all = list::join_sections([
        list::list_pubkeys(&[], now, TimeZone::Utc),
        psks,
        list::list_certs(&empty),
        list::list_cacerts(&empty),
        list::list_crls(&empty),
    ]);
    assert_eq!(
        all,
        [
            " ",
            "List of Public Keys:",
            " ",
            "List of Pre-shared secrets (from /tmp/ph-peers/lsw/east/ipsec.secrets)",
            " ",
            "    1: PSK (none) (none)",
            " ",
            "List of X.509 End Certificates:",
            " ",
            "List of X.509 CA Certificates:",
            " ",
            "List of CRLs:",
            " ",
        ]
    );
}

/// --listall with certificates: the sections meet with one blank line and
/// keep every line of their own.
#[test]
fn listall_joins_sections() {
    let p = common::pki("list");
    let s = store(p);
    let certs = list::list_certs(&s);
    let cas = list::list_cacerts(&s);
    let crls = list::list_crls(&s);
    let all = list::join_sections([certs.clone(), cas.clone(), crls.clone()]);
    let mut expected = certs.clone();
    expected.extend(cas[1..].iter().cloned());
    expected.extend(crls[1..].iter().cloned());
    assert_eq!(all, expected);
    assert!(all.windows(2).all(|w| !(w[0] == " " && w[1] == " ")));
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
    assert_eq!(
        lines[4],
        format!("       ID_DER_ASN1_DN '{}'", east.subject())
    );
    assert_eq!(lines[5], format!("       Issuer '{}'", east.issuer()));
    // A raw key (leftrsasigkey=/leftpubkey=): no issuer, never expires;
    // Libreswan 4 sizes an ECDSA key by its public point (65 bytes).
    assert_eq!(
        lines[6],
        format!(
            "Jan 01 00:00:00 UTC 2026,  520 ECDSA Key {} (no private key), until --- -- --:--:-- UTC ---- ok (expires never)",
            raw.key.keyid()
        )
    );
    assert_eq!(lines[7], "       ID_FQDN '@road.testing.libreswan.org'");
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

    // The store's certificates as public keys: east (with its private key)
    // and ec256, issued together; near their expiry both are reported (3
    // lines each), long before it neither.
    let from_store = list::cert_pubkeys(&s, installed);
    assert_eq!(from_store.len(), 2);
    assert_eq!(from_store.iter().filter(|e| e.has_private_key).count(), 1);
    assert!(list::check_pubkeys(&from_store, now, TimeZone::Utc, w).is_empty());
    let warn = list::check_pubkeys(&from_store, soon, TimeZone::Utc, w);
    assert_eq!(warn.len(), 6, "{warn:?}");
    assert!(warn.contains(&format!("       ID_DER_ASN1_DN '{}'", east.subject())));
    assert!(warn[0].contains(" warning (expires in "), "{warn:?}");

    let exp = list::expiring_certs(&s, soon, w);
    let names: Vec<&str> = exp.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"east") && !names.contains(&"ca"), "{exp:?}");
}
