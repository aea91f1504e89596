//! IKE_SA_INIT + IKE_AUTH + Child SA between two in-memory engines.

mod common;

use std::time::Duration;

use common::*;
use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg};
use ike::engine::Mode;
use ike::Event;

#[test]
fn psk_aes_gcm_256_curve25519_comes_up_and_keys_agree() {
    let (mut w, mut e) = conns(psk());
    let p = ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    );
    w.ike_proposals = vec![p.clone()];
    e.ike_proposals = vec![p];
    w.esp_proposals = vec![esp(EncrAlg::AesGcm16_256, None)];
    e.esp_proposals = vec![esp(EncrAlg::AesGcm16_256, None)];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    // Four messages: IKE_SA_INIT and IKE_AUTH, request and response.
    assert_eq!(pair.sent, 4);
    let w = Pair::children(&pair.west_events)[0];
    assert_eq!(w.suite.encr, EncrAlg::AesGcm16_256);
    assert_eq!(w.outbound_keys.encr_key.len(), 32);
    assert_eq!(w.outbound_keys.salt.len(), 4);
    assert_eq!(w.mode, Mode::Tunnel);
    let logs = Pair::logs(&pair.west_events);
    assert!(logs[0].ends_with("initiating IKEv2 connection"), "{logs:?}");
    assert!(logs
        .iter()
        .any(|l| l.contains("sent IKE_SA_INIT request to 192.0.2.2:500")));
    assert!(logs
        .iter()
        .any(|l| l.contains("initiator established Child SA using #1; IPsec tunnel [10.0.1.0-10.0.1.255:0-65535 0] -> [10.0.2.0-10.0.2.255:0-65535 0]")), "{logs:#?}");
    // Secrets never show in Debug output.
    let dbg = format!("{:?}", pair.west_events);
    assert!(!dbg.contains(&hex::encode(w.outbound_keys.encr_key.as_bytes())));
    // No timers left but none are due within the lifetime.
    assert!(pair.west.is_established(ike::engine::IkeSaId(1)));
    let _ = Event::Log(String::new());
}

#[test]
fn aes_cbc_hmac_sha256_modp2048() {
    let (mut w, mut e) = conns(psk());
    let p = ike(
        EncrAlg::AesCbc256,
        Some(IntegAlg::HmacSha2_256_128),
        PrfAlg::HmacSha2_256,
        KeGroup::Modp2048,
    );
    w.ike_proposals = vec![p.clone()];
    e.ike_proposals = vec![p];
    let c = esp(EncrAlg::AesCbc256, Some(IntegAlg::HmacSha2_256_128));
    w.esp_proposals = vec![c.clone()];
    e.esp_proposals = vec![c];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let w = Pair::children(&pair.west_events)[0];
    assert_eq!(w.suite.integ, Some(IntegAlg::HmacSha2_256_128));
    assert_eq!(w.outbound_keys.integ_key.len(), 32);
}

#[test]
fn default_proposals_come_up() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
}
