//! OCSP requests checked by openssl, and responses made by `openssl ocsp`.

mod common;

use pki::{verify_response, OcspCertStatus, OcspRequest, PkiError, UnixTime};

fn pki() -> &'static common::TestPki {
    common::pki("ocsp")
}

/// Writes `req` as `{name}.req`, has openssl answer it with `signer`, returns the response.
fn respond(name: &str, req: &OcspRequest, signer: &str, extra: &str) -> Vec<u8> {
    let p = pki();
    std::fs::write(p.path(&format!("{name}.req")), req.der()).unwrap();
    common::run(
        &p.dir,
        &format!(
            "openssl ocsp -index index-ca.txt -CA ca.crt -rsigner {signer}.crt -rkey {signer}.key \
             -reqin {name}.req -respout {name}.resp -ndays 1 {extra}"
        ),
    );
    std::fs::read(p.path(&format!("{name}.resp"))).unwrap()
}

#[test]
fn request_is_understood_by_openssl() {
    let p = pki();
    let req = OcspRequest::new(&p.cert("east"), &p.cert("ca"), Some(b"0123456789abcdef")).unwrap();
    std::fs::write(p.path("text.req"), req.der()).unwrap();
    let text = common::run(&p.dir, "openssl ocsp -reqin text.req -req_text -noverify");
    assert!(text.contains("Serial Number: 01"), "{text}");
    assert!(text.contains("Hash Algorithm: sha1"), "{text}");
    assert!(text.contains("OCSP Nonce"), "{text}");
    // The hashes are those openssl computes for the same certificate.
    common::run(
        &p.dir,
        "openssl ocsp -issuer ca.crt -cert east.crt -no_nonce -reqout ossl.req",
    );
    let ossl = std::fs::read(p.path("ossl.req")).unwrap();
    let mine = OcspRequest::new(&p.cert("east"), &p.cert("ca"), None).unwrap();
    assert_eq!(mine.der(), ossl.as_slice());
    assert!(mine
        .get_url("http://192.0.2.254:2560/")
        .starts_with("http://192.0.2.254:2560/MEI"));
}

#[test]
fn good_revoked_unknown() {
    let p = pki();
    let ca = p.cert("ca");
    let now = common::now();

    let req = OcspRequest::new(&p.cert("east"), &ca, Some(b"nonce-east-12345")).unwrap();
    let resp = respond("good", &req, "ca", "");
    let st = verify_response(&resp, &req, &ca, None, now).unwrap();
    assert_eq!(st.status, OcspCertStatus::Good);
    assert!(st.next_update.unwrap() > st.this_update);

    let req = OcspRequest::new(&p.cert("revoked"), &ca, None).unwrap();
    let resp = respond("revoked", &req, "ca", "-resp_key_id");
    match verify_response(&resp, &req, &ca, None, now).unwrap().status {
        OcspCertStatus::Revoked { reason, time } => {
            assert_eq!(reason, Some(1));
            assert!(time <= now);
        }
        s => panic!("unexpected {s:?}"),
    }

    // notca (serial 77) is not in the CA's index.
    let req = OcspRequest::new(&p.cert("notca"), &ca, None).unwrap();
    let resp = respond("unknown", &req, "ca", "");
    assert_eq!(
        verify_response(&resp, &req, &ca, None, now).unwrap().status,
        OcspCertStatus::Unknown
    );
}

#[test]
fn delegated_and_rogue_responders() {
    let p = pki();
    let ca = p.cert("ca");
    let now = common::now();
    let req = OcspRequest::new(&p.cert("west"), &ca, None).unwrap();

    let resp = respond("delegated", &req, "ocsp", "");
    assert_eq!(
        verify_response(&resp, &req, &ca, None, now).unwrap().status,
        OcspCertStatus::Good
    );

    let resp = respond("rogue", &req, "rogueocsp", "");
    let e = verify_response(&resp, &req, &ca, None, now).unwrap_err();
    assert!(
        matches!(e, PkiError::Ocsp(ref m) if m.contains("not certified")),
        "{e}"
    );
    // Trusted explicitly (ocsp-trustname=), the same responder is accepted.
    let rogue = p.cert("rogueocsp");
    verify_response(&resp, &req, &ca, Some(&rogue), now).unwrap();

    // Without the responder certificate in the response it is unknown.
    let resp = respond("nocerts", &req, "ocsp", "-resp_no_certs");
    assert!(verify_response(&resp, &req, &ca, None, now).is_err());
}

#[test]
fn tampered_outdated_and_mismatched() {
    let p = pki();
    let ca = p.cert("ca");
    let now = common::now();
    let req = OcspRequest::new(&p.cert("east"), &ca, None).unwrap();
    let resp = respond("tamper", &req, "ca", "-resp_no_certs");

    // Flip a byte inside the signature (the end of a response without certificates).
    let mut bad = resp.clone();
    let n = bad.len();
    bad[n - 10] ^= 0x01;
    let e = verify_response(&bad, &req, &ca, None, now).unwrap_err();
    assert!(
        matches!(e, PkiError::Ocsp(ref m) if m.contains("signature")),
        "{e}"
    );

    // Two days later the one-day response is outdated.
    let later = UnixTime(now.secs() + 2 * 86_400);
    assert!(verify_response(&resp, &req, &ca, None, later).is_err());

    // The response answers another certificate than asked.
    let other = OcspRequest::new(&p.cert("west"), &ca, None).unwrap();
    let e = verify_response(&resp, &other, &ca, None, now).unwrap_err();
    assert!(
        matches!(e, PkiError::Ocsp(ref m) if m.contains("requested certificate")),
        "{e}"
    );

    // Not an OCSP response at all.
    assert!(verify_response(b"\x30\x03\x0a\x01\x06", &req, &ca, None, now).is_err());
}
