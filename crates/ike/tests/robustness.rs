//! The engine survives arbitrary and mutated datagrams: no panic, and an
//! established SA stays up.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (w, e) = conns(psk());
        let mut pair = Pair::new(w, e);
        let now = pair.now;
        pair.east.handle_datagram(now, east_addr(), west_addr(), &data);
        pair.west.handle_datagram(now, west_addr(), east_addr(), &data);
    }

    #[test]
    fn mutated_exchange_messages_never_panic(which in 0usize..4, at in any::<usize>(), val in any::<u8>()) {
        let (w, e) = conns(psk());
        let mut pair = Pair::new(w, e);
        pair.network = Box::new(move |_, idx, t| {
            if idx == which {
                let mut p = t.payload.clone();
                let i = at % p.len();
                p[i] = val;
                return Fate::Replace(p);
            }
            Fate::Deliver
        });
        pair.initiate();
        pair.run_for(Duration::from_secs(2));
    }
}

#[test]
fn corrupted_packets_for_an_established_sa_are_ignored() {
    let (w, e) = conns(psk());
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    // Rekey, corrupting every west request once: east must ignore the
    // forgeries (bad ICV) and the retransmissions must complete the rekey.
    let child = Pair::children(&pair.west_events)[0].child;
    let now = pair.now;
    pair.west
        .rekey(now, ike::Target::ChildSa(child))
        .expect("rekey");
    let mut seen = std::collections::HashSet::new();
    let start = pair.sent;
    pair.network = Box::new(move |side, idx, t| {
        if side == Side::West && idx >= start && seen.insert(t.payload.clone()) {
            let mut p = t.payload.clone();
            let n = p.len();
            p[n - 1] ^= 1;
            return Fate::Replace(p);
        }
        Fate::Deliver
    });
    pair.run_for(Duration::from_secs(5));
    assert!(pair
        .east_events
        .iter()
        .any(|e| matches!(e, ike::Event::ChildSaRekeyed { .. })));
    assert!(Pair::logs(&pair.east_events)
        .iter()
        .any(|l| l.contains("dropping CREATE_CHILD_SA message")));
    assert_eq!(Pair::ike_down(&pair.east_events), 0);
}
