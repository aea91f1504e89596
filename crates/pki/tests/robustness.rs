//! Whatever a peer or a file supplies, parsing returns an error instead of panicking.

mod common;

use pki::{Certificate, Crl, DistinguishedName, Id, OcspRequest, PrivateKey, UnixTime, ZoneInfo};
use proptest::prelude::*;

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::from_der(&data);
        let _ = Certificate::from_pem_or_der(&data);
        let _ = Crl::from_der(&data);
        let _ = PrivateKey::from_pem_or_der(&data);
        let _ = pki::PublicKey::from_spki_der(&data);
        let _ = DistinguishedName::from_der(&data);
        let _ = ZoneInfo::from_tzif(&data);
        let mut tz = b"TZif2".to_vec();
        tz.extend_from_slice(&data);
        let _ = ZoneInfo::from_tzif(&tz);
    }

    #[test]
    fn random_ldap_replies_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = pki::ldap::message::parse_message(&data);
        let mut r = &data[..];
        while pki::ldap::message::read_message(&mut r, 300).is_ok() {}
        // Behind a valid LDAPMessage header.
        let mut framed = vec![0x30, 0x82];
        framed.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(&data);
        let _ = pki::ldap::message::parse_message(&framed);
    }

    #[test]
    fn random_ldap_urls_and_filters_never_panic(s in "\\PC{0,80}") {
        let _ = pki::ldap::LdapUrl::parse(&s);
        let _ = pki::ldap::LdapUrl::parse(&format!("ldap://{s}"));
        let _ = pki::ldap::Filter::parse(&s);
        let _ = pki::ldap::Filter::parse(&format!("(&(cn={s})"));
    }

    #[test]
    fn random_text_never_panics(s in "\\PC{0,80}") {
        let _ = Id::parse(&s);
        let _ = DistinguishedName::parse(&s);
        let _ = pki::nss::password_from_nsspassword(&s);
        let _ = UnixTime::from_generalized_time(&s);
    }
}

/// Mutations of a real OCSP response and certificate stay errors, not panics.
#[test]
fn mutated_der_never_panics() {
    let p = common::pki("robustness");
    let ca = p.cert("ca");
    let east = p.cert("east");
    let req = OcspRequest::new(&east, &ca, None).unwrap();
    std::fs::write(p.path("r.req"), req.der()).unwrap();
    common::run(
        &p.dir,
        "openssl ocsp -index index-ca.txt -CA ca.crt -rsigner ocsp.crt -rkey ocsp.key -reqin r.req -respout r.resp -ndays 1",
    );
    let resp = std::fs::read(p.path("r.resp")).unwrap();
    let now = common::now();
    assert!(pki::verify_response(&resp, &req, &ca, None, now).is_ok());
    let cert = east.der().to_vec();
    for i in 0..resp.len().max(cert.len()) {
        for flip in [0x01u8, 0x80, 0xff] {
            if let Some(b) = resp.get(i) {
                let mut m = resp.clone();
                m[i] = b ^ flip;
                let _ = pki::verify_response(&m, &req, &ca, None, now);
                let _ = pki::verify_response(&m[..i], &req, &ca, None, now);
            }
            if let Some(b) = cert.get(i) {
                let mut m = cert.clone();
                m[i] = b ^ flip;
                if let Ok(c) = Certificate::from_der(&m) {
                    let _ = c.verify_signed_by(ca.public_key());
                }
            }
        }
    }
}
