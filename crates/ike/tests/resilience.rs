//! Loss, duplication and reordering of every message of an exchange;
//! retransmission timing; cached responses.

mod common;

use std::time::Duration;

use common::*;
use ike::EngineConfig;

#[test]
fn each_message_lost_once() {
    for lost in 0..4 {
        let (w, e) = conns(psk());
        let mut pair = Pair::new(w, e);
        pair.network = Box::new(move |_, idx, _| {
            if idx == lost {
                Fate::Drop
            } else {
                Fate::Deliver
            }
        });
        pair.initiate();
        pair.run_for(Duration::from_secs(5));
        pair.assert_established();
        let logs = Pair::logs(&pair.west_events);
        assert!(
            logs.iter()
                .any(|l| l.contains("retransmitting request (attempt 1)")),
            "message {lost}: {logs:#?}"
        );
    }
}

#[test]
fn each_message_duplicated() {
    for dup in 0..4 {
        let (w, e) = conns(psk());
        let mut pair = Pair::new(w, e);
        pair.network = Box::new(move |_, idx, _| {
            if idx == dup {
                Fate::Duplicate
            } else {
                Fate::Deliver
            }
        });
        pair.initiate();
        pair.run_for(Duration::from_secs(5));
        pair.assert_established();
    }
}

#[test]
fn duplicated_request_is_answered_from_the_cache() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    let mut responses: Vec<Vec<u8>> = Vec::new();
    pair.network = Box::new(move |side, idx, t| {
        if side == Side::East {
            responses.push(t.payload.clone());
            // The two answers to the duplicated IKE_AUTH request are
            // byte-identical.
            if responses.len() == 3 {
                assert_eq!(responses[1], responses[2]);
            }
        }
        if idx == 2 {
            Fate::Duplicate
        } else {
            Fate::Deliver
        }
    });
    pair.initiate();
    pair.run_for(Duration::from_secs(5));
    pair.assert_established();
}

#[test]
fn fragments_reordered_and_lost() {
    for (i, fate) in [(2usize, Fate::Delay), (3, Fate::Drop), (2, Fate::Duplicate)] {
        let (mut w, mut e) = conns(psk());
        // A long ID makes IKE_AUTH exceed the fragment size.
        w.local_id = Some(ike::engine::Identity::Fqdn("w".repeat(700)));
        e.remote_id = w.local_id.clone();
        let config = EngineConfig {
            max_message_size: 400,
            ..EngineConfig::default()
        };
        let mut pair = Pair::with_config(w, e, config);
        pair.network = Box::new(move |_, idx, _| {
            if idx == i {
                fate.clone()
            } else {
                Fate::Deliver
            }
        });
        pair.initiate();
        pair.run_for(Duration::from_secs(5));
        pair.assert_established();
        let logs = Pair::logs(&pair.west_events);
        assert!(logs.iter().any(|l| l.contains("fragments")), "{logs:#?}");
    }
}

#[test]
fn retransmission_backs_off_and_gives_up() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    pair.network = Box::new(|side, _, _| {
        if side == Side::West {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let start = pair.now;
    pair.initiate();
    let mut sends = Vec::new();
    loop {
        while pair.west.poll_transmit().is_some() {
            sends.push(pair.now - start);
        }
        match pair.west.poll_timeout() {
            Some(t) => {
                pair.now = t;
                pair.west.handle_timeout(t);
            }
            None => break,
        }
    }
    // 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; given up at 63.5 > 60 s.
    let expect: Vec<Duration> = [0u64, 500, 1500, 3500, 7500, 15500, 31500]
        .iter()
        .map(|m| Duration::from_millis(*m))
        .collect();
    assert_eq!(sends, expect);
    let mut down = 0;
    while let Some(e) = pair.west.poll_event() {
        if let ike::Event::IkeSaDown { reason, .. } = e {
            assert!(reason.contains("timed out"), "{reason}");
            down += 1;
        }
    }
    assert_eq!(down, 1);
}

#[test]
fn half_open_sa_expires() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    // Only IKE_SA_INIT goes through; then west goes silent.
    pair.network = Box::new(|side, idx, _| {
        if side == Side::West && idx > 0 {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    pair.initiate();
    pair.run_for(Duration::from_secs(120));
    let logs = Pair::logs(&pair.east_events);
    assert!(
        logs.iter().any(|l| l.contains("deleting half-open IKE SA")),
        "{logs:#?}"
    );
    assert_eq!(pair.east.poll_timeout(), None);
}
