//! Every error-notify path of IKE_SA_INIT and IKE_AUTH.

mod common;

use std::time::Duration;

use common::*;
use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg, Secret};
use ike::engine::{Authentication, Identity, Mode};
use ike::wire::TrafficSelector;
use ike::Event;

fn any_log(events: &[Event], needle: &str) -> bool {
    Pair::logs(events).iter().any(|l| l.contains(needle))
}

#[test]
fn wrong_psk_fails_authentication_on_both_sides() {
    let (w, mut e) = conns(psk());
    e.auth = Authentication::Psk(Secret::from_slice(b"another secret"));
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert_eq!(Pair::ike_up(&pair.west_events), 0);
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    assert!(any_log(&pair.east_events, "sending AUTHENTICATION_FAILED"));
    assert!(any_log(&pair.west_events, "AUTHENTICATION_FAILED"));
    assert_eq!(Pair::ike_down(&pair.west_events), 1);
    assert_eq!(pair.west.poll_timeout(), None, "no SA left on west");
    assert_eq!(pair.east.poll_timeout(), None, "no SA left on east");
}

#[test]
fn unknown_peer_id_fails_authentication() {
    let (mut w, e) = conns(psk());
    w.local_id = Some(Identity::Fqdn("mallory".into()));
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert_eq!(Pair::ike_up(&pair.east_events), 0);
    assert!(any_log(
        &pair.east_events,
        "no connection matches peer ID_FQDN '@mallory'"
    ));
    assert!(any_log(&pair.west_events, "AUTHENTICATION_FAILED"));
}

#[test]
fn responder_with_wrong_id_is_rejected_by_initiator() {
    let (mut w, mut e) = conns(psk());
    w.remote_id = None; // expects the responder's IP address as its ID
    e.local_id = Some(Identity::Fqdn("east".into()));
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert_eq!(Pair::ike_up(&pair.west_events), 0);
    assert!(any_log(&pair.west_events, "does not match rightid"));
}

#[test]
fn no_common_ike_proposal() {
    let (mut w, mut e) = conns(psk());
    w.ike_proposals = vec![ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    )];
    e.ike_proposals = vec![ike(
        EncrAlg::AesCbc128,
        Some(IntegAlg::HmacSha2_256_128),
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    )];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert!(any_log(&pair.east_events, "sending NO_PROPOSAL_CHOSEN"));
    assert!(any_log(
        &pair.west_events,
        "IKE_SA_INIT response contained NO_PROPOSAL_CHOSEN"
    ));
    assert_eq!(Pair::ike_down(&pair.west_events), 1);
    assert_eq!(pair.east.poll_timeout(), None, "responder kept no state");
}

#[test]
fn no_common_esp_proposal_keeps_the_ike_sa() {
    let (mut w, mut e) = conns(psk());
    w.esp_proposals = vec![esp(EncrAlg::AesGcm16_256, None)];
    e.esp_proposals = vec![esp(EncrAlg::AesCbc128, Some(IntegAlg::HmacSha2_256_128))];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert_eq!(Pair::ike_up(&pair.west_events), 1);
    assert_eq!(Pair::ike_up(&pair.east_events), 1);
    assert!(Pair::children(&pair.west_events).is_empty());
    assert!(Pair::children(&pair.east_events).is_empty());
    assert!(any_log(
        &pair.west_events,
        "rejected the Child SA with NO_PROPOSAL_CHOSEN"
    ));
}

#[test]
fn ts_unacceptable_keeps_the_ike_sa() {
    let (w, mut e) = conns(psk());
    e.remote_ts = vec![TrafficSelector::from_prefix(
        "10.9.0.0".parse().unwrap(),
        16,
    )];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert_eq!(Pair::ike_up(&pair.west_events), 1);
    assert!(Pair::children(&pair.east_events).is_empty());
    assert!(any_log(&pair.east_events, "sending TS_UNACCEPTABLE"));
    assert!(any_log(
        &pair.west_events,
        "rejected the Child SA with TS_UNACCEPTABLE"
    ));
}

#[test]
fn responder_narrows_traffic_selectors() {
    let (mut w, mut e) = conns(psk());
    w.local_ts = vec![TrafficSelector::from_prefix("10.0.0.0".parse().unwrap(), 8)];
    w.remote_ts = vec![TrafficSelector::from_prefix("10.0.0.0".parse().unwrap(), 8)];
    e.remote_ts = vec![TrafficSelector::from_prefix(
        "10.0.1.0".parse().unwrap(),
        24,
    )];
    e.local_ts = vec![TrafficSelector::from_prefix(
        "10.0.2.0".parse().unwrap(),
        24,
    )];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    pair.assert_established();
    let c = Pair::children(&pair.west_events)[0];
    assert_eq!(
        c.local_ts,
        vec![TrafficSelector::from_prefix(
            "10.0.1.0".parse().unwrap(),
            24
        )]
    );
    assert_eq!(
        c.remote_ts,
        vec![TrafficSelector::from_prefix(
            "10.0.2.0".parse().unwrap(),
            24
        )]
    );
}

#[test]
fn transport_mode_both_ends() {
    let (mut w, mut e) = conns(psk());
    w.mode = Mode::Transport;
    e.mode = Mode::Transport;
    w.local_ts.clear();
    w.remote_ts.clear();
    e.local_ts.clear();
    e.remote_ts.clear();
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    pair.assert_established();
    let c = Pair::children(&pair.east_events)[0];
    assert_eq!(c.mode, Mode::Transport);
    assert_eq!(c.local_ts, vec![TrafficSelector::host(east_addr().ip())]);
    assert!(any_log(&pair.west_events, "IPsec transport mode"));
}

#[test]
fn transport_initiator_refused_by_tunnel_responder() {
    let (mut w, e) = conns(psk());
    w.mode = Mode::Transport;
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert!(Pair::children(&pair.west_events).is_empty());
    assert!(any_log(&pair.west_events, "peer refused transport mode"));
    // The initiator then deletes the IKE SA; the responder follows.
    assert_eq!(Pair::ike_down(&pair.east_events), 1);
}

#[test]
fn tunnel_initiator_refused_by_transport_responder() {
    let (w, mut e) = conns(psk());
    e.mode = Mode::Transport;
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    assert!(Pair::children(&pair.west_events).is_empty());
    assert!(any_log(&pair.east_events, "sending NO_PROPOSAL_CHOSEN"));
}

#[test]
fn garbage_is_dropped() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    let now = pair.now;
    pair.east
        .handle_datagram(now, east_addr(), west_addr(), &[1, 2, 3]);
    pair.east
        .handle_datagram(now, east_addr(), west_addr(), &[0u8; 28]);
    assert!(pair.east.poll_transmit().is_none());
    assert!(any_log(
        &{
            let mut v = Vec::new();
            while let Some(e) = pair.east.poll_event() {
                v.push(e);
            }
            v
        },
        "dropping packet from 192.0.2.1:500"
    ));
}

#[test]
fn unsupported_critical_payload_is_refused() {
    use ike::wire::{ExchangeType, Header, Message, NotifyType, Payload, IKEV2_VERSION};
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    let m = Message {
        header: Header {
            spi_i: [7; 8],
            spi_r: [0; 8],
            next_payload: 0,
            version: IKEV2_VERSION,
            exchange: ExchangeType::IkeSaInit,
            initiator: true,
            version_flag: false,
            response: false,
            message_id: 0,
            length: 0,
        },
        payloads: vec![
            Payload::Unknown {
                kind: 190,
                body: vec![1, 2, 3, 4],
            },
            Payload::Nonce(vec![9; 32]),
        ],
    };
    let mut bytes = m.encode().expect("encodes");
    bytes[28 + 1] |= 0x80; // critical
    let now = pair.now;
    pair.east
        .handle_datagram(now, east_addr(), west_addr(), &bytes);
    let reply = pair.east.poll_transmit().expect("a reply");
    let r = Message::decode(&reply.payload).expect("decodes");
    let n = r
        .notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD)
        .expect("UNSUPPORTED_CRITICAL_PAYLOAD");
    assert_eq!(n.data, vec![190]);
    assert!(r.header.response);
    assert_eq!(pair.east.poll_timeout(), None, "no state kept");
}
