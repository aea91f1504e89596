//! Two engines authenticating with X.509 certificates through
//! `ike::certs::PkiCertAuth`: a test CA made with openssl at test time (the
//! script of crate pki's tests), PEM `ipsec.d` folders and an NSS database
//! made with certutil/pk12util; revoked, expired, wrongly issued and
//! ID-mismatched peers refused with AUTHENTICATION_FAILED.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use common::*;
use ike::certs::{CertAuthSettings, PeerCa, PkiCertAuth, SendCa, SendCert, SignMethod};
use ike::crypto::SignatureScheme;
use ike::engine::{Authentication, CertAuth, Identity, PeerAuthHints};
use pki::{CertStore, Id, NssDb};

fn run(dir: &Path, cmd: &str) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{cmd} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The test PKI (CA "ca", end certificates west, east, ec256, ec384, ec521,
/// ed, revoked, expired, wrongca (from "otherca"), a CRL revoking
/// "revoked"), generated once per test binary.
fn pki_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = fresh_dir("ike-cert-auth-pki");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pki/tests/common/mkpki.sh");
        run(&dir, &format!("bash {}", script.display()));
        dir
    })
}

/// An `ipsec.d` folder with the CA, one end certificate and its key, and
/// optionally the CA's CRL and more trusted CAs.
fn ipsec_d(name: &str, cert: &str, crl: bool, extra_cas: &[&str]) -> Arc<RwLock<CertStore>> {
    let p = pki_dir();
    // Tests run in parallel and several build a folder for the same
    // certificate: each call gets its own directory.
    static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = fresh_dir(&format!("ike-cert-auth-{name}-{n}"));
    for sub in ["cacerts", "certs", "private", "crls"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    for ca in std::iter::once(&"ca").chain(extra_cas) {
        std::fs::copy(
            p.join(format!("{ca}.crt")),
            d.join(format!("cacerts/{ca}.crt")),
        )
        .unwrap();
    }
    std::fs::copy(
        p.join(format!("{cert}.crt")),
        d.join(format!("certs/{cert}")),
    )
    .unwrap();
    std::fs::copy(
        p.join(format!("{cert}.key")),
        d.join(format!("private/{cert}.key")),
    )
    .unwrap();
    if crl {
        std::fs::copy(p.join("ca.crl.pem"), d.join("crls/ca.crl.pem")).unwrap();
    }
    let store = CertStore::load_pem_dir(&d).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    Arc::new(RwLock::new(store))
}

/// One end's certificate authentication and its ID (`leftid=%fromcert`).
fn end(
    store: Arc<RwLock<CertStore>>,
    cert: &str,
    settings: CertAuthSettings,
) -> (Arc<PkiCertAuth>, Identity) {
    let auth = PkiCertAuth::new(store, cert, settings).unwrap();
    let id = auth.local_identity(&Id::FromCert).unwrap();
    (Arc::new(auth), id)
}

fn settings() -> CertAuthSettings {
    CertAuthSettings {
        peer_ca: Some(PeerCa::Same),
        crl_strict: false,
        ..CertAuthSettings::default()
    }
}

/// A peer that announced SHA2-256/384/512 and sent a CERTREQ naming no CA.
fn asked() -> PeerAuthHints {
    PeerAuthHints {
        signature_hashes: vec![2, 3, 4],
        certificate_request: Some(Vec::new()),
    }
}

/// West (initiator) and east (responder) with certificates; each expects the
/// other's `%fromcert` ID.
fn pair_with(
    west: (Arc<PkiCertAuth>, Identity),
    east: (Arc<PkiCertAuth>, Identity),
) -> (Pair, Arc<PkiCertAuth>, Arc<PkiCertAuth>) {
    let (wa, wid) = west;
    let (ea, eid) = east;
    let (mut w, mut e) = conns(Authentication::Certificate(wa.clone()));
    e.auth = Authentication::Certificate(ea.clone());
    w.local_id = Some(wid.clone());
    w.remote_id = Some(eid.clone());
    e.local_id = Some(eid);
    e.remote_id = Some(wid);
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(2));
    (pair, wa, ea)
}

fn established(west: &str, east: &str, ws: CertAuthSettings, es: CertAuthSettings) {
    let w = end(ipsec_d(&format!("w-{west}"), west, true, &[]), west, ws);
    let e = end(ipsec_d(&format!("e-{east}"), east, true, &[]), east, es);
    let (pair, _, _) = pair_with(w, e);
    pair.assert_established();
}

#[test]
fn rsa_2048_certificates_from_pem_folders() {
    established("west", "east", settings(), settings());
}

#[test]
fn ecdsa_p256_and_ed25519_certificates() {
    established("ec256", "ed", settings(), settings());
    established("ed", "ec256", settings(), settings());
}

#[test]
fn ecdsa_p384_and_p521_certificates() {
    established("ec384", "ec521", settings(), settings());
}

#[test]
fn rsa_pkcs1_and_legacy_rsa_method_1() {
    let w = CertAuthSettings {
        sign_method: SignMethod::RsaSha1,
        ..settings()
    };
    let e = CertAuthSettings {
        sign_method: SignMethod::DigitalSignatureWith(SignatureScheme::RsaPkcs1Sha512),
        ..settings()
    };
    established("west", "east", w, e);
}

#[test]
fn fqdn_ids_matched_against_subject_alt_name() {
    let ws = CertAuthSettings {
        peer_id: Id::parse("@east.testing.libreswan.org").unwrap(),
        ..settings()
    };
    let es = CertAuthSettings {
        peer_id: Id::parse("@west.testing.libreswan.org").unwrap(),
        ..settings()
    };
    let (wa, _) = end(ipsec_d("fqdn-w", "west", false, &[]), "west", ws);
    let (ea, _) = end(ipsec_d("fqdn-e", "east", false, &[]), "east", es);
    let wid = Identity::Fqdn("west.testing.libreswan.org".into());
    let eid = Identity::Fqdn("east.testing.libreswan.org".into());
    let (pair, _, _) = pair_with((wa, wid), (ea, eid));
    pair.assert_established();
}

#[test]
fn certreq_names_the_trusted_ca_and_sendca_sends_chain() {
    let p = pki_dir();
    let ca = pki::Certificate::from_pem_or_der(&std::fs::read(p.join("ca.crt")).unwrap())
        .unwrap()
        .remove(0);
    let (a, _) = end(
        ipsec_d("certreq", "west", false, &["otherca"]),
        "west",
        settings(),
    );
    // rightca=%same: only the issuer of west's certificate.
    assert_eq!(
        a.certificate_request(),
        ca.public_key().spki_sha1().to_vec()
    );
    assert_eq!(
        a.local_certificates(&asked()).len(),
        1,
        "sendca=issuer omits the root"
    );
    let all = CertAuthSettings {
        peer_ca: None,
        send_ca: SendCa::All,
        ..settings()
    };
    let (a, _) = end(
        ipsec_d("certreq2", "west", false, &["otherca"]),
        "west",
        all,
    );
    assert_eq!(a.certificate_request().len(), 40, "both trusted CAs");
    let chain = a.local_certificates(&asked());
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], ca.der());
    let never = CertAuthSettings {
        send_cert: SendCert::Never,
        ..settings()
    };
    let (a, _) = end(ipsec_d("certreq3", "west", false, &[]), "west", never);
    assert!(a.local_certificates(&asked()).is_empty());
}

/// West presents `cert`; east refuses it: east logs `why` and answers
/// AUTHENTICATION_FAILED, which west logs.
fn rejected(name: &str, cert: &str, east_cas: &[&str], east: CertAuthSettings, why: &str) {
    let w = end(
        ipsec_d(&format!("rw-{name}"), cert, false, &[]),
        cert,
        settings(),
    );
    let e = end(
        ipsec_d(&format!("re-{name}"), "east", true, east_cas),
        "east",
        east,
    );
    let (pair, _, _) = pair_with(w, e);
    assert_eq!(Pair::ike_up(&pair.west_events), 0);
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    let east_logs = Pair::logs(&pair.east_events);
    assert!(
        east_logs
            .iter()
            .any(|l| l.contains(why) && l.contains("sending AUTHENTICATION_FAILED")),
        "east logs lack {why:?}: {east_logs:#?}"
    );
    let west_logs = Pair::logs(&pair.west_events);
    assert!(
        west_logs
            .iter()
            .any(|l| l.contains("AUTHENTICATION_FAILED")),
        "{west_logs:#?}"
    );
}

#[test]
fn revoked_peer_certificate_is_refused() {
    rejected(
        "revoked",
        "revoked",
        &[],
        settings(),
        "X509: certificate \"C=CA, ST=Ontario, O=Libreswan, CN=revoked.testing.libreswan.org\" (serial 0x",
    );
    rejected("revoked2", "revoked", &[], settings(), "was revoked at");
}

#[test]
fn expired_peer_certificate_is_refused() {
    rejected("expired", "expired", &[], settings(), "expired at");
}

#[test]
fn wrongly_issued_peer_certificate_is_refused() {
    // Issued by a CA east does not trust.
    rejected(
        "wrongca",
        "wrongca",
        &[],
        settings(),
        "has an unknown issuer \"C=CA, ST=Ontario, O=Libreswan, CN=Other test CA\"",
    );
    // Issued by a trusted CA, but not the one rightca= requires.
    rejected(
        "wrongca2",
        "wrongca",
        &["otherca"],
        settings(),
        "is not issued under CA \"C=CA, ST=Ontario, O=Libreswan, CN=Libreswan test CA\"",
    );
}

#[test]
fn id_mismatch_is_refused() {
    // West claims an FQDN its certificate does not carry.
    let (wa, _) = end(ipsec_d("idm-w", "west", false, &[]), "west", settings());
    let (ea, eid) = end(ipsec_d("idm-e", "east", false, &[]), "east", settings());
    let wid = Identity::Fqdn("road.testing.libreswan.org".into());
    let (pair, _, _) = pair_with((wa, wid), (ea, eid));
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    let logs = Pair::logs(&pair.east_events);
    assert!(
        logs.iter().any(|l| l
            .contains("does not prove the peer's ID \"@road.testing.libreswan.org\"")
            && l.contains("AUTHENTICATION_FAILED")),
        "{logs:#?}"
    );

    // West's certificate proves its ID, but east expects another peer.
    let es = CertAuthSettings {
        peer_id: Id::parse("@road.testing.libreswan.org").unwrap(),
        ..settings()
    };
    let w = end(ipsec_d("idm2-w", "west", false, &[]), "west", settings());
    let e = end(ipsec_d("idm2-e", "east", false, &[]), "east", es);
    let (pair, _, _) = pair_with(w, e);
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    let logs = Pair::logs(&pair.east_events);
    assert!(
        logs.iter()
            .any(|l| l.contains("does not prove the configured peer ID")),
        "{logs:#?}"
    );
}

#[test]
fn crl_strict_refuses_without_a_crl() {
    let strict = CertAuthSettings {
        crl_strict: true,
        ..settings()
    };
    let w = end(ipsec_d("strict-w", "west", false, &[]), "west", settings());
    let e = end(
        ipsec_d("strict-e", "east", false, &[]),
        "east",
        strict.clone(),
    );
    let (pair, _, _) = pair_with(w, e);
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    let logs = Pair::logs(&pair.east_events);
    assert!(logs.iter().any(|l| l.contains("(crl-strict)")), "{logs:#?}");
    // With the CA's CRL loaded the same peer is accepted.
    established("west", "east", settings(), strict);
}

#[test]
fn certificates_from_an_nss_database() {
    let p = pki_dir();
    let db = fresh_dir("ike-cert-auth-nss");
    let d = db.display();
    let pw = db.join("pw");
    std::fs::write(&pw, "").unwrap();
    let pw = pw.display();
    run(p, &format!("certutil -N -d sql:{d} --empty-password"));
    for k in ["west", "ec256"] {
        run(
            p,
            &format!(
                "openssl pkcs12 -export -in {k}.crt -inkey {k}.key -name {k} -out nss-{k}.p12 \
                 -passout pass:p12 && pk12util -i nss-{k}.p12 -d sql:{d} -W p12 -k {pw}"
            ),
        );
    }
    run(
        p,
        &format!("certutil -A -d sql:{d} -f {pw} -n ca -t CT,, -i ca.crt"),
    );
    let nss = NssDb::open(&db).unwrap();
    let store = Arc::new(RwLock::new(nss.load(Some("")).unwrap()));
    let w = end(store.clone(), "west", settings());
    let e = end(store, "ec256", settings());
    let (pair, wa, _) = pair_with(w, e);
    pair.assert_established();
    assert!(matches!(
        wa.local_identity(&Id::FromCert),
        Some(Identity::DerAsn1Dn(_))
    ));
}

#[test]
fn setup_errors_are_clear() {
    let store = ipsec_d("setup", "ec256", false, &[]);
    let err = PkiCertAuth::new(store.clone(), "nope", settings()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "leftcert=\"nope\": no certificate with this nickname in the store"
    );
    let rsa1 = CertAuthSettings {
        sign_method: SignMethod::RsaSha1,
        ..settings()
    };
    let err = PkiCertAuth::new(store, "ec256", rsa1).unwrap_err();
    assert!(err
        .to_string()
        .contains("cannot sign with RSA Digital Signature"));
}

/// East with an OCSP cache (`ocsp-enable=yes`) holding `status` for west's
/// certificate, if any.
fn with_ocsp(name: &str, status: Option<pki::OcspCertStatus>, strict: bool) -> Pair {
    let p = pki_dir();
    let read = |n: &str| {
        pki::Certificate::from_pem_or_der(&std::fs::read(p.join(format!("{n}.crt"))).unwrap())
            .unwrap()
            .remove(0)
    };
    let mut cache = pki::OcspCache::default();
    let now = pki::UnixTime::now();
    if let Some(status) = status {
        let id = pki::CertId::new(&read("west"), &read("ca")).unwrap();
        let answer = pki::OcspStatus {
            status,
            this_update: now,
            next_update: Some(now.add_secs(3600)),
            produced_at: now,
        };
        cache.insert(id, answer, now);
    }
    let w = end(
        ipsec_d(&format!("{name}-w"), "west", false, &[]),
        "west",
        settings(),
    );
    let (ea, eid) = end(
        ipsec_d(&format!("{name}-e"), "east", false, &[]),
        "east",
        settings(),
    );
    let ea = Arc::try_unwrap(ea)
        .unwrap()
        .with_ocsp_cache(Arc::new(RwLock::new(cache)), strict);
    pair_with(w, (Arc::new(ea), eid)).0
}

#[test]
fn ocsp_answers_in_the_cache_are_honoured() {
    let revoked = pki::OcspCertStatus::Revoked {
        time: pki::UnixTime::now(),
        reason: None,
    };
    let pair = with_ocsp("ocsp-revoked", Some(revoked), false);
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    let logs = Pair::logs(&pair.east_events);
    assert!(
        logs.iter()
            .any(|l| l.contains("CN=west.testing.libreswan.org\" (serial 0x")
                && l.contains("(OCSP)")
                && l.contains("AUTHENTICATION_FAILED")),
        "{logs:#?}"
    );

    let pair = with_ocsp("ocsp-strict", None, true);
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    let logs = Pair::logs(&pair.east_events);
    assert!(
        logs.iter().any(|l| l.contains("(ocsp-strict)")),
        "{logs:#?}"
    );

    with_ocsp("ocsp-good", Some(pki::OcspCertStatus::Good), true).assert_established();
    with_ocsp("ocsp-none", None, false).assert_established();
}

#[test]
fn verify_checks_the_signature_over_the_octets() {
    use ike::wire::AuthMethod;
    let (wa, wid) = end(ipsec_d("sig-w", "ec256", false, &[]), "ec256", settings());
    let (ea, _) = end(ipsec_d("sig-e", "east", false, &[]), "east", settings());
    let id = wid.to_payload();
    let certs = wa.local_certificates(&asked());
    let octets = b"the InitiatorSignedOctets".to_vec();
    let (method, sig) = wa.sign(&asked(), &octets).unwrap();
    assert_eq!(method, AuthMethod::DigitalSignature);
    ea.verify(&id, &certs, AuthMethod::DigitalSignature, &octets, &sig)
        .unwrap();
    let err = ea
        .verify(
            &id,
            &certs,
            AuthMethod::DigitalSignature,
            b"other octets",
            &sig,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("signature does not verify"),
        "{err}"
    );
    // ECDSA method 9 (r || s) from an older peer.
    let key =
        pki::PrivateKey::from_pem_or_der(&std::fs::read(pki_dir().join("ec256.key")).unwrap())
            .unwrap();
    let legacy = key
        .sign(pki::SignatureScheme::EcdsaFixed(pki::Hash::Sha256), &octets)
        .unwrap();
    assert_eq!(legacy.len(), 64);
    ea.verify(&id, &certs, AuthMethod::from_u8(9), &octets, &legacy)
        .unwrap();
    // The method must fit the key: RSA (1) with an ECDSA certificate.
    let err = ea
        .verify(&id, &certs, AuthMethod::from_u8(1), &octets, &legacy)
        .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    // No CERT payload and no trusted peer certificate.
    let err = ea
        .verify(&id, &[], AuthMethod::DigitalSignature, &octets, &sig)
        .unwrap_err();
    assert!(err.to_string().contains("sent no certificate"), "{err}");
}

/// The RFC 7427 hash follows the peer's SIGNATURE_HASH_ALGORITHMS; with
/// none usable, the key type's legacy AUTH method is used.
#[test]
fn sign_negotiates_the_signature_hash() {
    use ike::wire::AuthMethod;
    let (rsa, rid) = end(ipsec_d("hash-rsa", "west", false, &[]), "west", settings());
    let (ec, eid) = end(ipsec_d("hash-ec", "ec256", false, &[]), "ec256", settings());
    let (east, _) = end(ipsec_d("hash-e", "east", false, &[]), "east", settings());
    let octets = b"the InitiatorSignedOctets".to_vec();
    let hints = |hashes: &[u16]| PeerAuthHints {
        signature_hashes: hashes.to_vec(),
        certificate_request: None,
    };
    let scheme_of = |data: &[u8]| {
        ike::crypto::sign::decode_digital_signature(data)
            .map(|(s, _)| s)
            .unwrap()
    };
    // RSA: RSASSA-PSS with the best hash the peer takes.
    for (hashes, want) in [
        (&[2u16, 3, 4][..], SignatureScheme::RsaPssSha256),
        (&[4][..], SignatureScheme::RsaPssSha512),
        (&[3, 4][..], SignatureScheme::RsaPssSha384),
    ] {
        let (method, data) = rsa.sign(&hints(hashes), &octets).unwrap();
        assert_eq!(method, AuthMethod::DigitalSignature);
        assert_eq!(scheme_of(&data), want, "peer hashes {hashes:?}");
        let certs = rsa.local_certificates(&asked());
        east.verify(&rid.to_payload(), &certs, method, &octets, &data)
            .unwrap();
    }
    // No announcement (or only SHA-1): RSA method 1, ECDSA method 9.
    for hashes in [&[][..], &[1u16][..]] {
        let (method, data) = rsa.sign(&hints(hashes), &octets).unwrap();
        assert_eq!(method, AuthMethod::RsaSig);
        let certs = rsa.local_certificates(&asked());
        east.verify(&rid.to_payload(), &certs, method, &octets, &data)
            .unwrap();
    }
    let (method, data) = ec.sign(&hints(&[]), &octets).unwrap();
    assert_eq!(method, AuthMethod::from_u8(9));
    assert_eq!(data.len(), 64);
    let certs = ec.local_certificates(&asked());
    east.verify(&eid.to_payload(), &certs, method, &octets, &data)
        .unwrap();
    let (method, data) = ec.sign(&hints(&[4, 2]), &octets).unwrap();
    assert_eq!(method, AuthMethod::DigitalSignature);
    assert_eq!(scheme_of(&data), SignatureScheme::EcdsaSha256);
    // A configured scheme the peer did not announce is an error.
    let forced = CertAuthSettings {
        sign_method: SignMethod::DigitalSignatureWith(SignatureScheme::RsaPkcs1Sha512),
        ..settings()
    };
    let (rsa512, _) = end(ipsec_d("hash-forced", "west", false, &[]), "west", forced);
    let err = rsa512.sign(&hints(&[2]), &octets).unwrap_err();
    assert!(err.to_string().contains("does not accept"), "{err}");
    let (_, data) = rsa512.sign(&hints(&[2, 4]), &octets).unwrap();
    assert_eq!(scheme_of(&data), SignatureScheme::RsaPkcs1Sha512);
}

/// `sendcert=ifasked` sends the chain only to a peer that sent a CERTREQ.
#[test]
fn sendcert_ifasked_follows_the_peers_certreq() {
    let ifasked = CertAuthSettings {
        send_cert: SendCert::IfAsked,
        ..settings()
    };
    let (a, _) = end(
        ipsec_d("ifasked", "west", false, &[]),
        "west",
        ifasked.clone(),
    );
    let unasked = PeerAuthHints {
        signature_hashes: vec![2],
        certificate_request: None,
    };
    assert!(a.local_certificates(&unasked).is_empty());
    assert_eq!(a.local_certificates(&asked()).len(), 1);
    let named = PeerAuthHints {
        signature_hashes: vec![2],
        certificate_request: Some(vec![[7u8; 20]]),
    };
    assert_eq!(a.local_certificates(&named).len(), 1);
    // In an exchange: both ends send CERTREQ (the responder in its
    // IKE_SA_INIT response, the initiator in IKE_AUTH), so both send
    // their certificates and the IKE SA comes up.
    established("west", "east", ifasked.clone(), ifasked);
}
