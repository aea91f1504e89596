//! Every supported combination of authentication, cipher and key exchange
//! comes up between two engines, and the child keys agree.

mod common;

use std::time::Duration;

use common::*;
use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg};
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
    for (encr, integ, prf) in suites() {
        for g in groups() {
            let (mut w, mut e) = conns(auth.clone());
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
