//! The default proposals (`ike=` and `esp=` unset) are Libreswan 5's, in
//! Libreswan's order (docs/design.md, "Default proposals"). This pins the
//! list: a change to it must be deliberate and documented.

mod common;

use ike::crypto::{EncrAlg, KeGroup, PrfAlg};
use ike::engine::{
    default_esp_proposals, default_ike_proposals, EspProposal, IkeProposal, DEFAULT_IKE_GROUPS,
};
use ike::Event;

/// A proposal in `ipsec algparse` spelling: ENCR-PRF+PRF[-INTEG+INTEG]-KE+KE.
fn ike_text(p: &IkeProposal) -> String {
    let join = |names: Vec<&str>| names.join("+");
    let mut parts = vec![
        join(p.encr.iter().map(|a| a.name()).collect()),
        join(p.prf.iter().map(|a| a.name()).collect()),
    ];
    if !p.integ.is_empty() {
        parts.push(join(p.integ.iter().map(|a| a.name()).collect()));
    }
    parts.push(join(p.ke.iter().map(|a| a.name()).collect()));
    parts.join("-")
}

fn esp_text(p: &EspProposal) -> String {
    let join = |names: Vec<&str>| names.join("+");
    let mut parts = vec![join(p.encr.iter().map(|a| a.name()).collect())];
    if !p.integ.is_empty() {
        parts.push(join(p.integ.iter().map(|a| a.name()).collect()));
    }
    if !p.ke.is_empty() {
        parts.push(join(p.ke.iter().map(|a| a.name()).collect()));
    }
    parts.join("-")
}

#[test]
fn default_ike_proposals_are_libreswan_5s() {
    let groups = "DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048";
    let want = [
        format!("AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-{groups}"),
        format!("AES_GCM_16_128-HMAC_SHA2_512+HMAC_SHA2_256-{groups}"),
        format!("CHACHA20_POLY1305-HMAC_SHA2_512+HMAC_SHA2_256-{groups}"),
        format!(
            "AES_CBC_256-HMAC_SHA2_512+HMAC_SHA2_256-HMAC_SHA2_512_256+HMAC_SHA2_256_128-{groups}"
        ),
        format!(
            "AES_CBC_128-HMAC_SHA2_512+HMAC_SHA2_256-HMAC_SHA2_512_256+HMAC_SHA2_256_128-{groups}"
        ),
    ];
    let got: Vec<String> = default_ike_proposals().iter().map(ike_text).collect();
    assert_eq!(got, want);
    assert!(default_ike_proposals().iter().all(|p| p.addke.is_empty()));
    assert_eq!(DEFAULT_IKE_GROUPS.first(), Some(&KeGroup::Ecp256));
}

#[test]
fn default_esp_proposals_are_libreswan_5s() {
    let want = [
        "AES_GCM_16_256",
        "AES_GCM_16_128",
        "CHACHA20_POLY1305",
        "AES_CBC_256-HMAC_SHA2_512_256+HMAC_SHA2_256_128",
        "AES_CBC_128-HMAC_SHA2_512_256+HMAC_SHA2_256_128",
    ];
    let got: Vec<String> = default_esp_proposals().iter().map(esp_text).collect();
    assert_eq!(got, want);
}

/// Two engines with nothing configured agree on the first default of
/// each list, with no INVALID_KE_PAYLOAD round trip (the initiator's KE
/// payload carries the first default group).
#[test]
fn defaults_negotiate_their_first_choice() {
    let (west, east) = common::conns(common::psk());
    assert!(west.ike_proposals.is_empty() && west.esp_proposals.is_empty());
    let mut pair = common::Pair::new(west, east);
    pair.initiate();
    pair.flush();
    pair.assert_established();
    let suite = pair
        .west_events
        .iter()
        .find_map(|e| match e {
            Event::IkeSaUp(i) => Some(i.suite.clone()),
            _ => None,
        })
        .expect("IkeSaUp");
    assert_eq!(
        (suite.encr, suite.prf, suite.integ, suite.ke),
        (
            EncrAlg::AesGcm16_256,
            PrfAlg::HmacSha2_512,
            None,
            KeGroup::Ecp256
        )
    );
    let child = common::Pair::children(&pair.west_events);
    let first = child.first().expect("ChildSaUp");
    assert_eq!(
        (first.suite.encr, first.suite.integ),
        (EncrAlg::AesGcm16_256, None)
    );
    let logs = common::Pair::logs(&pair.west_events).join("\n");
    assert!(!logs.contains("INVALID_KE"), "{logs}");
}
