//! Every supported combination of authentication, cipher and key exchange
//! comes up between two engines, and the child keys agree.

mod common;

use std::time::Duration;

use common::*;
use std::sync::Arc;

use ike::crypto::{EncrAlg, IntegAlg, KeGroup, KeyType, PrfAlg, PrivateKey};
use ike::engine::{Authentication, Identity};

fn suites() -> Vec<(EncrAlg, Option<IntegAlg>, PrfAlg)> {
    vec![
        (EncrAlg::AesGcm16_128, None, PrfAlg::HmacSha2_256),
        (EncrAlg::AesGcm16_256, None, PrfAlg::HmacSha2_512),
        (EncrAlg::ChaCha20Poly1305, None, PrfAlg::HmacSha2_256),
        (
            EncrAlg::AesCbc128,
            Some(IntegAlg::HmacSha2_256_128),
            PrfAlg::HmacSha2_256,
        ),
        (
            EncrAlg::AesCbc256,
            Some(IntegAlg::HmacSha2_384_192),
            PrfAlg::HmacSha2_384,
        ),
        (
            EncrAlg::AesCbc256,
            Some(IntegAlg::HmacSha2_512_256),
            PrfAlg::HmacSha2_512,
        ),
        (
            EncrAlg::AesCbc128,
            Some(IntegAlg::HmacSha1_96),
            PrfAlg::HmacSha1,
        ),
    ]
}

fn groups() -> Vec<KeGroup> {
    vec![
        KeGroup::Modp2048,
        KeGroup::Ecp256,
        KeGroup::Ecp384,
        KeGroup::Ecp521,
        KeGroup::Curve25519,
    ]
}

fn run(auth: Authentication, null_ids: bool) {
    run_with(auth.clone(), auth, null_ids)
}

fn run_with(west: Authentication, east: Authentication, null_ids: bool) {
    for (encr, integ, prf) in suites() {
        for g in groups() {
            let (mut w, mut e) = conns(west.clone());
            e.auth = east.clone();
            if null_ids {
                w.local_id = None;
                w.remote_id = None;
                e.local_id = None;
                e.remote_id = None;
            }
            let p = ike(encr, integ, prf, g);
            w.ike_proposals = vec![p.clone()];
            e.ike_proposals = vec![p];
            w.esp_proposals = vec![esp(encr, integ)];
            e.esp_proposals = vec![esp(encr, integ)];
            let mut pair = Pair::new(w, e);
            pair.initiate();
            pair.run_for(Duration::from_secs(1));
            pair.assert_established();
            let c = Pair::children(&pair.west_events)[0];
            assert_eq!(
                (c.suite.encr, c.suite.integ),
                (encr, integ),
                "{encr:?} {g:?}"
            );
        }
    }
}

#[test]
fn psk_every_cipher_and_group() {
    run(psk(), false);
}

#[test]
fn null_auth_every_cipher_and_group() {
    run(Authentication::Null, true);
}

#[test]
fn null_auth_reports_id_null() {
    let (mut w, mut e) = conns(Authentication::Null);
    w.local_id = None;
    w.remote_id = None;
    e.local_id = None;
    e.remote_id = None;
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let up = pair
        .east_events
        .iter()
        .find_map(|e| match e {
            ike::Event::IkeSaUp(i) => Some(i.remote_id.clone()),
            _ => None,
        })
        .expect("IKE SA up");
    assert_eq!(up, Identity::Null);
}

/// West and east authentication with raw keys of `key_type`.
fn raw_keys(key_type: KeyType) -> (Authentication, Authentication) {
    let gen = || match key_type {
        KeyType::Rsa => PrivateKey::generate_rsa(2048),
        k => PrivateKey::generate(k),
    };
    let w = gen().expect("west key");
    let e = gen().expect("east key");
    let wp = Arc::new(w.public_key().expect("west public key"));
    let ep = Arc::new(e.public_key().expect("east public key"));
    (
        Authentication::RawKey {
            private_key: Arc::new(w),
            peer_public_key: ep,
        },
        Authentication::RawKey {
            private_key: Arc::new(e),
            peer_public_key: wp,
        },
    )
}

#[test]
fn raw_key_signatures_every_key_cipher_and_group() {
    for kt in [
        KeyType::Rsa,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::EcdsaP521,
        KeyType::Ed25519,
    ] {
        let (w, e) = raw_keys(kt);
        run_with(w, e, false);
    }
}

#[test]
fn raw_key_signature_from_the_wrong_key_fails() {
    let (w, _) = raw_keys(KeyType::EcdsaP256);
    let (_, e) = raw_keys(KeyType::EcdsaP256);
    let (mut wc, mut ec) = conns(w);
    ec.auth = e;
    wc.ike_proposals = vec![ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    )];
    ec.ike_proposals = wc.ike_proposals.clone();
    let mut pair = Pair::new(wc, ec);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    assert!(Pair::logs(&pair.east_events)
        .iter()
        .any(|l| l.contains("signature does not verify")));
}

#[test]
fn hybrid_curve25519_mlkem768_over_ike_intermediate() {
    for (encr, integ, prf) in suites() {
        for signatures in [false, true] {
            let (mut w, mut e) = conns(psk());
            if signatures {
                let (wa, ea) = raw_keys(KeyType::EcdsaP256);
                w.auth = wa;
                e.auth = ea;
            }
            let mut p = ike(encr, integ, prf, KeGroup::Curve25519);
            p.addke = vec![vec![KeGroup::MlKem768]];
            w.ike_proposals = vec![p.clone()];
            e.ike_proposals = vec![p];
            w.esp_proposals = vec![esp(encr, integ)];
            e.esp_proposals = vec![esp(encr, integ)];
            let mut pair = Pair::new(w, e);
            pair.initiate();
            pair.run_for(Duration::from_secs(1));
            pair.assert_established();
            // IKE_SA_INIT, IKE_INTERMEDIATE, IKE_AUTH.
            assert_eq!(pair.sent, 6, "{:#?}", Pair::logs(&pair.west_events));
            let up = pair
                .west_events
                .iter()
                .find_map(|e| match e {
                    ike::Event::IkeSaUp(i) => Some(i.suite.clone()),
                    _ => None,
                })
                .expect("IKE SA up");
            assert_eq!(up.addke, vec![KeGroup::MlKem768]);
            assert!(Pair::logs(&pair.east_events)
                .iter()
                .any(|l| l.contains("additional key exchange ML_KEM_768 done")));
        }
    }
}

#[test]
fn hybrid_refused_by_a_responder_without_mlkem() {
    let (mut w, mut e) = conns(psk());
    let mut p = ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    );
    p.addke = vec![vec![KeGroup::MlKem768]];
    w.ike_proposals = vec![p];
    e.ike_proposals = vec![ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    )];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.west_events), 0);
    assert!(Pair::logs(&pair.west_events)
        .iter()
        .any(|l| l.contains("NO_PROPOSAL_CHOSEN")));
}

#[test]
fn signature_auth_is_logged_as_libreswan_does() {
    let (wa, ea) = raw_keys(KeyType::Rsa);
    let (mut w, mut e) = conns(wa);
    e.auth = ea;
    w.ike_proposals = vec![ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    )];
    e.ike_proposals = w.ike_proposals.clone();
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let logs = Pair::logs(&pair.west_events);
    assert!(
        logs.iter().any(|l| l.ends_with(
            "initiator established IKE SA; authenticated peer '2048-bit RSASSA-PSS with SHA2_256' digital signature using preloaded certificate '@east'"
        )),
        "{logs:#?}"
    );
}
