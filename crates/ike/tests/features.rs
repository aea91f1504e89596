//! INVALID_KE_PAYLOAD retry, cookies, delete, liveness, childless.

mod common;

use std::time::Duration;

use common::*;
use ike::crypto::{EncrAlg, KeGroup, PrfAlg};
use ike::engine::{IkeSaId, Target};
use ike::{EngineConfig, Event};

fn any_log(events: &[Event], needle: &str) -> bool {
    Pair::logs(events).iter().any(|l| l.contains(needle))
}

fn child_down(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::ChildSaDown { .. }))
        .count()
}

#[test]
fn invalid_ke_payload_retry_with_the_group_the_responder_wants() {
    let (mut w, mut e) = conns(psk());
    let mut p = ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    );
    p.ke = vec![KeGroup::Curve25519, KeGroup::Ecp384];
    w.ike_proposals = vec![p];
    e.ike_proposals = vec![ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Ecp384,
    )];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(2));
    pair.assert_established();
    assert!(any_log(
        &pair.east_events,
        "sending INVALID_KE_PAYLOAD for DH20"
    ));
    assert!(any_log(
        &pair.west_events,
        "INVALID_KE_PAYLOAD; resending with DH20"
    ));
    // INIT, INVALID_KE, INIT, INIT response, AUTH, AUTH response.
    assert_eq!(pair.sent, 6);
    let up = pair
        .west_events
        .iter()
        .find_map(|e| match e {
            Event::IkeSaUp(i) => Some(i.suite.ke),
            _ => None,
        })
        .expect("IKE SA up");
    assert_eq!(up, KeGroup::Ecp384);
}

#[test]
fn cookie_demanded_above_threshold_and_initiator_retries() {
    let (w, e) = conns(psk());
    let config = EngineConfig {
        cookie_threshold: 0,
        ..EngineConfig::default()
    };
    let mut pair = Pair::with_config(w, e, config);
    pair.initiate();
    pair.run_for(Duration::from_secs(2));
    pair.assert_established();
    assert!(any_log(&pair.west_events, "received COOKIE"));
    assert_eq!(pair.sent, 6);
}

#[test]
fn wrong_cookie_is_refused() {
    let (w, e) = conns(psk());
    let config = EngineConfig {
        cookie_threshold: 0,
        ..EngineConfig::default()
    };
    let mut pair = Pair::with_config(w, e, config);
    // Corrupt the cookie west echoes: east answers with a cookie again and
    // never creates state.
    pair.network = Box::new(|side, idx, t| {
        let _ = (side, idx, t);
        Fate::Deliver
    });
    pair.initiate();
    let now = pair.now;
    let first = pair.west.poll_transmit().expect("IKE_SA_INIT");
    pair.east
        .handle_datagram(now, first.remote, first.local, &first.payload);
    let cookie_reply = pair.east.poll_transmit().expect("cookie reply");
    pair.west.handle_datagram(
        now,
        cookie_reply.remote,
        cookie_reply.local,
        &cookie_reply.payload,
    );
    let mut with_cookie = pair
        .west
        .poll_transmit()
        .expect("retry with cookie")
        .payload;
    // The cookie notify is the first payload: its data starts at 28 + 8.
    with_cookie[28 + 8 + 3] ^= 0xff;
    pair.east
        .handle_datagram(now, east_addr(), west_addr(), &with_cookie);
    let again = pair.east.poll_transmit().unwrap_or_else(|| {
        panic!(
            "{:?}",
            std::iter::from_fn(|| pair.east.poll_event()).collect::<Vec<_>>()
        )
    });
    let m = ike::wire::Message::decode(&again.payload).expect("decodes");
    assert!(m.notify(ike::wire::NotifyType::COOKIE).is_some());
    assert_eq!(m.header.spi_r, [0; 8]);
    assert_eq!(pair.east.poll_timeout(), None, "no half-open state");
}

fn established() -> Pair {
    let (mut w, mut e) = conns(psk());
    w.dpd_delay = None;
    e.dpd_delay = None;
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    pair
}

#[test]
fn delete_ike_sa_from_the_initiator() {
    let mut pair = established();
    let now = pair.now;
    pair.west
        .terminate(now, Target::IkeSa(IkeSaId(1)))
        .expect("terminate");
    pair.run_for(Duration::from_secs(1));
    for ev in [&pair.west_events, &pair.east_events] {
        assert_eq!(Pair::ike_down(ev), 1);
        assert_eq!(child_down(ev), 1);
    }
    assert!(any_log(&pair.east_events, "received Delete for the IKE SA"));
    assert_eq!(pair.west.poll_timeout(), None);
    assert_eq!(pair.east.poll_timeout(), None);
}

#[test]
fn delete_ike_sa_from_the_responder() {
    let mut pair = established();
    let now = pair.now;
    let conn = pair.east_conn;
    pair.east
        .terminate(now, Target::Connection(conn))
        .expect("terminate");
    pair.run_for(Duration::from_secs(1));
    for ev in [&pair.west_events, &pair.east_events] {
        assert_eq!(Pair::ike_down(ev), 1);
        assert_eq!(child_down(ev), 1);
    }
    assert!(pair.west.ike_sas_of(pair.west_conn).is_empty());
}

#[test]
fn delete_child_sa_only() {
    let mut pair = established();
    let child = Pair::children(&pair.west_events)[0].child;
    let now = pair.now;
    pair.west
        .terminate(now, Target::ChildSa(child))
        .expect("terminate");
    pair.run_for(Duration::from_secs(1));
    for ev in [&pair.west_events, &pair.east_events] {
        assert_eq!(child_down(ev), 1);
        assert_eq!(Pair::ike_down(ev), 0);
    }
    assert!(pair.west.is_established(IkeSaId(1)));
}

#[test]
fn liveness_keeps_a_healthy_sa_and_kills_a_dead_one() {
    let (mut w, e) = conns(psk());
    w.dpd_delay = Some(Duration::from_secs(10));
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(35));
    pair.assert_established();
    assert_eq!(Pair::ike_down(&pair.west_events), 0);
    let before = pair.sent;
    assert!(before >= 4 + 6, "liveness exchanges ran: {before}");
    // Now the peer disappears.
    pair.network = Box::new(|side, _, _| {
        if side == Side::West {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    pair.run_for(Duration::from_secs(120));
    assert_eq!(Pair::ike_down(&pair.west_events), 1);
    assert!(any_log(
        &pair.west_events,
        "liveness check request timed out"
    ));
}

#[test]
fn childless_ike_sa() {
    let (mut w, mut e) = conns(psk());
    w.childless = true;
    e.childless = true;
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.west_events), 1);
    assert_eq!(Pair::ike_up(&pair.east_events), 1);
    assert!(Pair::children(&pair.west_events).is_empty());
    assert!(Pair::children(&pair.east_events).is_empty());
    assert!(any_log(&pair.east_events, "creating childless SA"));
    // A Child SA later, with CREATE_CHILD_SA.
    let sa = pair.west.ike_sas_of(pair.west_conn)[0];
    let now = pair.now;
    pair.west.create_child_sa(now, sa).expect("create child");
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
}

/// RFC 6023: the responder announces CHILDLESS_IKEV2_SUPPORTED in its
/// IKE_SA_INIT response even when the request did not (strongSwan's
/// `childless = force` sends none and gives up without the answer).
#[test]
fn responder_announces_childless_support_unasked() {
    let (w, e) = conns(psk());
    assert!(!w.childless && !e.childless);
    let mut pair = Pair::new(w, e);
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let record = seen.clone();
    pair.network = Box::new(move |side, _, t| {
        if let Ok(m) = ike::wire::Message::decode(&t.payload) {
            if m.header.exchange == ike::wire::ExchangeType::IkeSaInit {
                let childless = m
                    .notify(ike::wire::NotifyType::CHILDLESS_IKEV2_SUPPORTED)
                    .is_some();
                record.borrow_mut().push((side, childless));
            }
        }
        Fate::Deliver
    });
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    assert_eq!(
        *seen.borrow(),
        [(Side::West, false), (Side::East, true)],
        "IKE_SA_INIT request without, response with CHILDLESS_IKEV2_SUPPORTED"
    );
}

fn prefix(addr: &str, len: u8) -> ike::wire::TrafficSelector {
    ike::wire::TrafficSelector::from_prefix(addr.parse().expect("address"), len)
}

/// A new Child SA the peer asks for on an existing IKE SA belongs to the
/// connection whose selectors fit (another subnet pair to the same peer
/// with the same IDs), not only to the IKE SA's own connection: strongSwan
/// asks so for the second child of a connection, and got TS_UNACCEPTABLE.
#[test]
fn create_child_sa_for_another_connection_to_the_same_peer() {
    let (mut w, e) = conns(psk());
    // West: a childless IKE SA, then one Child SA for the second pair.
    w.childless = true;
    w.local_ts = vec![prefix("10.0.3.0", 24)];
    w.remote_ts = vec![prefix("10.0.4.0", 24)];
    let mut second = e.clone();
    second.name = "second".into();
    second.local_ts = vec![prefix("10.0.4.0", 24)];
    second.remote_ts = vec![prefix("10.0.3.0", 24)];
    let mut pair = Pair::new(w, e);
    let second = pair.east.add_connection(second).expect("second connection");
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    // East put the childless IKE SA on its first connection.
    let ike_conn = pair.east_events.iter().find_map(|e| match e {
        Event::IkeSaUp(i) => Some(i.conn),
        _ => None,
    });
    assert_eq!(ike_conn, Some(pair.east_conn));
    let sa = pair.west.ike_sas_of(pair.west_conn)[0];
    let now = pair.now;
    pair.west.create_child_sa(now, sa).expect("create child");
    pair.run_for(Duration::from_secs(1));
    let east_children = Pair::children(&pair.east_events);
    assert_eq!(
        east_children.len(),
        1,
        "{:?}",
        Pair::logs(&pair.east_events)
    );
    assert_eq!(east_children[0].conn, second);
    assert_eq!(east_children[0].local_ts, [prefix("10.0.4.0", 24)]);
    assert_eq!(Pair::children(&pair.west_events).len(), 1);
    // Its rekey stays on that connection, and so does its end.
    let child = east_children[0].child;
    let now = pair.now;
    pair.east
        .rekey(now, Target::ChildSa(child))
        .expect("rekey the Child SA");
    pair.run_for(Duration::from_secs(1));
    let rekeyed = pair.east_events.iter().find_map(|e| match e {
        Event::ChildSaRekeyed { new, .. } => Some((new.conn, new.child)),
        _ => None,
    });
    let Some((conn, new_child)) = rekeyed else {
        panic!("no rekey: {:?}", Pair::logs(&pair.east_events));
    };
    assert_eq!(conn, second);
    let now = pair.now;
    pair.east
        .terminate(now, Target::ChildSa(new_child))
        .expect("delete the Child SA");
    pair.run_for(Duration::from_secs(1));
    let down: Vec<_> = pair
        .east_events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDown { conn, child, .. } if *child == new_child => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(down, [second]);
}

#[test]
fn initial_contact_replaces_the_old_ike_sa_after_a_peer_restart() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w.clone(), e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    // West restarts: a new engine with no memory of the IKE SA.
    let mut fresh = ike::Engine::new(
        EngineConfig::default(),
        Box::new(ike::crypto::TestRandom::new(99)),
    );
    pair.west_conn = fresh.add_connection(w).expect("connection");
    pair.west = fresh;
    pair.west_events.clear();
    pair.east_events.clear();
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.east_events), 1);
    assert_eq!(Pair::ike_down(&pair.east_events), 1);
    assert_eq!(child_down(&pair.east_events), 1);
    assert!(any_log(&pair.east_events, "INITIAL_CONTACT from the peer"));
    assert_eq!(pair.east.ike_sas_of(pair.east_conn).len(), 1);
    let id = pair.east.ike_sas_of(pair.east_conn)[0];
    let info = pair.east.ike_sa_info(id).expect("established");
    assert_eq!(info.remote_id, ike::engine::Identity::Fqdn("west".into()));
}

#[test]
fn nat_port_float_follows_the_peer() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    // West's IKE_AUTH request arrives from another source port, as a NAT
    // would map it: east answers there and keeps using it.
    let nat: std::net::SocketAddr = "192.0.2.1:61000".parse().unwrap();
    pair.initiate();
    let now = pair.now;
    let t = pair.west.poll_transmit().expect("IKE_SA_INIT");
    pair.east.handle_datagram(now, east_addr(), nat, &t.payload);
    let r = pair.east.poll_transmit().expect("response");
    assert_eq!(r.remote, nat);
    pair.west
        .handle_datagram(now, west_addr(), east_addr(), &r.payload);
    let auth = pair.west.poll_transmit().expect("IKE_AUTH");
    pair.east
        .handle_datagram(now, east_addr(), nat, &auth.payload);
    let r = pair.east.poll_transmit().expect("IKE_AUTH response");
    assert_eq!(r.remote, nat);
    pair.west
        .handle_datagram(now, west_addr(), east_addr(), &r.payload);
    let mut east = Vec::new();
    while let Some(e) = pair.east.poll_event() {
        east.push(e);
    }
    let c = Pair::children(&east);
    assert_eq!(c.len(), 1);
    assert!(c[0].nat.remote_behind_nat, "east sees west behind a NAT");
    assert_eq!(c[0].remote, nat);
}

#[test]
fn ipv6_endpoints_and_selectors() {
    let west: std::net::SocketAddr = "[2001:db8::1]:500".parse().unwrap();
    let east: std::net::SocketAddr = "[2001:db8::2]:500".parse().unwrap();
    let mut w = ike::engine::Connection::new("v6", west, Some(east), psk());
    let mut e = ike::engine::Connection::new("v6", east, Some(west), psk());
    w.local_ts = vec![ike::wire::TrafficSelector::from_prefix(
        "2001:db8:1::".parse().unwrap(),
        48,
    )];
    w.remote_ts = vec![ike::wire::TrafficSelector::from_prefix(
        "2001:db8:2::".parse().unwrap(),
        48,
    )];
    e.local_ts = w.remote_ts.clone();
    e.remote_ts = w.local_ts.clone();
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let up = pair
        .east_events
        .iter()
        .find_map(|e| match e {
            Event::IkeSaUp(i) => Some(i.remote_id.clone()),
            _ => None,
        })
        .expect("up");
    assert_eq!(
        up,
        ike::engine::Identity::Address("2001:db8::1".parse().unwrap())
    );
}

#[test]
fn road_warrior_responder_accepts_any_address_by_id() {
    let (w, mut e) = conns(psk());
    e.remote_addr = None; // right=%any
    e.remote_ts.clear(); // the peer's own address
    let mut w = w;
    w.local_ts.clear();
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let c = Pair::children(&pair.east_events)[0];
    assert_eq!(
        c.remote_ts,
        vec![ike::wire::TrafficSelector::host(west_addr().ip())]
    );
    // East cannot initiate a %any connection.
    let now = pair.now;
    assert!(matches!(
        pair.east.initiate(now, pair.east_conn),
        Err(ike::EngineError::NoRemoteAddress(_))
    ));
}

#[test]
fn responder_picks_the_connection_whose_subnets_fit() {
    use ike::wire::TrafficSelector;
    let (w, e) = conns(psk());
    // East has two connections to west with the same IDs but different
    // subnets; west asks for the second one's.
    let mut e1 = e.clone();
    e1.name = "westnet-eastnet-a".into();
    e1.local_ts = vec![TrafficSelector::from_prefix(
        "10.0.9.0".parse().unwrap(),
        24,
    )];
    let mut pair = Pair::new(w, e1);
    let second = pair.east.add_connection(e).expect("second connection");
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let c = Pair::children(&pair.east_events)[0];
    assert_eq!(c.conn, second);
}

#[test]
fn initial_contact_only_for_the_first_ike_sa_with_a_peer() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    // A second IKE SA to the same peer must not carry INITIAL_CONTACT,
    // or the peer would drop the first.
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.east_events), 2);
    assert_eq!(Pair::ike_down(&pair.east_events), 0);
    assert_eq!(pair.east.ike_sas_of(pair.east_conn).len(), 2);
}

/// A second west/east connection pair between the same peers and IDs,
/// for other subnets (10.0.3.0/24 <-> 10.0.4.0/24).
fn second_conns() -> (ike::engine::Connection, ike::engine::Connection) {
    use ike::wire::TrafficSelector;
    let (mut w, mut e) = conns(psk());
    let net3 = TrafficSelector::from_prefix("10.0.3.0".parse().unwrap(), 24);
    let net4 = TrafficSelector::from_prefix("10.0.4.0".parse().unwrap(), 24);
    w.name = "second".into();
    w.local_ts = vec![net3.clone()];
    w.remote_ts = vec![net4.clone()];
    e.name = "second".into();
    e.local_ts = vec![net4];
    e.remote_ts = vec![net3];
    (w, e)
}

#[test]
fn a_second_connection_to_the_same_peer_keeps_the_first() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    let (w2, e2) = second_conns();
    let west2 = pair.west.add_connection(w2).expect("west second");
    let east2 = pair.east.add_connection(e2).expect("east second");
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    // The second IKE SA carries no INITIAL_CONTACT: east, which drops
    // every IKE SA of a peer that sends one, keeps the first.
    let now = pair.now;
    pair.west.initiate(now, west2).expect("initiate second");
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.east_events), 2);
    assert_eq!(Pair::ike_down(&pair.east_events), 0);
    assert!(!any_log(&pair.east_events, "INITIAL_CONTACT"));
    assert_eq!(pair.east.ike_sas_of(pair.east_conn).len(), 1);
    assert_eq!(pair.east.ike_sas_of(east2).len(), 1);
    assert_eq!(Pair::children(&pair.east_events).len(), 2);
}

#[test]
fn connections_initiated_together_keep_each_other() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    let (w2, e2) = second_conns();
    let west2 = pair.west.add_connection(w2).expect("west second");
    let east2 = pair.east.add_connection(e2).expect("east second");
    // Both negotiations run at once: neither may send INITIAL_CONTACT,
    // since the other may already be established on the peer.
    pair.initiate();
    let now = pair.now;
    pair.west.initiate(now, west2).expect("initiate second");
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.east_events), 2);
    assert_eq!(Pair::ike_down(&pair.east_events), 0);
    assert_eq!(pair.east.ike_sas_of(pair.east_conn).len(), 1);
    assert_eq!(pair.east.ike_sas_of(east2).len(), 1);
}

#[test]
fn initial_contact_clears_every_connection_of_a_restarted_peer() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w.clone(), e);
    let (w2, e2) = second_conns();
    let west2 = pair.west.add_connection(w2.clone()).expect("west second");
    let east2 = pair.east.add_connection(e2).expect("east second");
    pair.initiate();
    let now = pair.now;
    pair.west.initiate(now, west2).expect("initiate second");
    pair.run_for(Duration::from_secs(1));
    assert_eq!(Pair::ike_up(&pair.east_events), 2);
    // West restarts and brings up only the first connection: its
    // INITIAL_CONTACT tells east that west holds no other IKE SA.
    let mut fresh = ike::Engine::new(
        EngineConfig::default(),
        Box::new(ike::crypto::TestRandom::new(77)),
    );
    pair.west_conn = fresh.add_connection(w).expect("connection");
    fresh.add_connection(w2).expect("second connection");
    pair.west = fresh;
    pair.west_events.clear();
    pair.east_events.clear();
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    assert!(any_log(&pair.east_events, "INITIAL_CONTACT from the peer"));
    assert_eq!(Pair::ike_down(&pair.east_events), 2);
    assert_eq!(pair.east.ike_sas_of(pair.east_conn).len(), 1);
    assert!(pair.east.ike_sas_of(east2).is_empty());
}

#[test]
fn engine_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<ike::Engine>();
    assert_send::<ike::Event>();
}

#[test]
fn cookie_secrets_rotate() {
    use std::time::Duration as D;
    for (wait, accepted) in [
        (D::from_secs(200), true),
        (D::from_secs(400), true),
        (D::from_secs(700), false),
    ] {
        let (w, e) = conns(psk());
        let config = EngineConfig {
            cookie_threshold: 0,
            ..EngineConfig::default()
        };
        let mut pair = Pair::with_config(w, e, config);
        pair.initiate();
        let now = pair.now;
        let first = pair.west.poll_transmit().expect("IKE_SA_INIT");
        pair.east
            .handle_datagram(now, first.remote, first.local, &first.payload);
        let cookie = pair.east.poll_transmit().expect("cookie");
        pair.west
            .handle_datagram(now, cookie.remote, cookie.local, &cookie.payload);
        let retry = pair.west.poll_transmit().expect("retry with the cookie");
        // The retry arrives late, after the secret changed (once, or twice).
        let later = now + wait;
        pair.east
            .handle_datagram(later, retry.remote, retry.local, &retry.payload);
        let answer = pair.east.poll_transmit().expect("an answer");
        let m = ike::wire::Message::decode(&answer.payload).expect("decodes");
        let asked_again = m.notify(ike::wire::NotifyType::COOKIE).is_some();
        assert_eq!(!asked_again, accepted, "after {wait:?}");
    }
}
