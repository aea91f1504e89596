//! CREATE_CHILD_SA: Child SA rekey and IKE SA rekey from either end, PFS,
//! INVALID_KE_PAYLOAD, simultaneous rekeys (RFC 7296 2.8), lifetimes.

mod common;

use std::time::Duration;

use common::*;
use ike::crypto::{EncrAlg, KeGroup};
use ike::engine::{ChildSaInfo, IkeSaId, Target};
use ike::Event;

fn rekeyed(events: &[Event]) -> Vec<(ike::engine::ChildSaId, &ChildSaInfo)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaRekeyed { old, new, .. } => Some((*old, &**new)),
            _ => None,
        })
        .collect()
}

fn ike_rekeyed(events: &[Event]) -> Vec<(IkeSaId, IkeSaId)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaRekeyed { old, new } => Some((*old, new.ike_sa)),
            _ => None,
        })
        .collect()
}

fn child_down(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDown { inbound_spi, .. } => Some(*inbound_spi),
            _ => None,
        })
        .collect()
}

fn up(pfs: bool) -> Pair {
    let (mut w, mut e) = conns(psk());
    w.pfs = pfs;
    e.pfs = pfs;
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    pair
}

fn assert_keys_agree(w: &ChildSaInfo, e: &ChildSaInfo) {
    assert_eq!(w.outbound_spi, e.inbound_spi);
    assert_eq!(w.inbound_spi, e.outbound_spi);
    assert_eq!(w.outbound_keys, e.inbound_keys);
    assert_eq!(w.inbound_keys, e.outbound_keys);
}

fn only_ike_sa(engine: &ike::Engine, conn: ike::engine::ConnId) -> IkeSaId {
    let sas = engine.ike_sas_of(conn);
    assert_eq!(sas.len(), 1, "{sas:?}");
    sas[0]
}

#[test]
fn child_rekey_from_either_end_with_and_without_pfs() {
    for (from_west, pfs) in [(true, true), (false, true), (true, false)] {
        let mut pair = up(pfs);
        let old_w = Pair::children(&pair.west_events)[0].clone();
        let old_e = Pair::children(&pair.east_events)[0].clone();
        let now = pair.now;
        if from_west {
            pair.west
                .rekey(now, Target::ChildSa(old_w.child))
                .expect("rekey");
        } else {
            pair.east
                .rekey(now, Target::ChildSa(old_e.child))
                .expect("rekey");
        }
        pair.run_for(Duration::from_secs(1));
        let w = rekeyed(&pair.west_events);
        let e = rekeyed(&pair.east_events);
        assert_eq!(
            (w.len(), e.len()),
            (1, 1),
            "{:#?}",
            Pair::logs(&pair.west_events)
        );
        assert_eq!(w[0].0, old_w.child);
        assert_eq!(e[0].0, old_e.child);
        assert_keys_agree(w[0].1, e[0].1);
        assert_ne!(w[0].1.outbound_keys, old_w.outbound_keys);
        assert_eq!(w[0].1.suite.ke.is_some(), pfs);
        // Each end knows whether it started the rekey, so the responder
        // can keep sending on the old SA until the initiator deletes it.
        let started = |events: &[Event]| {
            events.iter().find_map(|e| match e {
                Event::ChildSaRekeyed { initiator, .. } => Some(*initiator),
                _ => None,
            })
        };
        assert_eq!(started(&pair.west_events), Some(from_west));
        assert_eq!(started(&pair.east_events), Some(!from_west));
        // The old Child SA is gone on both ends, the new one remains.
        assert_eq!(child_down(&pair.west_events), vec![old_w.inbound_spi]);
        assert_eq!(child_down(&pair.east_events), vec![old_e.inbound_spi]);
        let wsa = only_ike_sa(&pair.west, pair.west_conn);
        let esa = only_ike_sa(&pair.east, pair.east_conn);
        assert_eq!(
            pair.west.child_sas(wsa),
            vec![(w[0].1.child, w[0].1.inbound_spi, w[0].1.outbound_spi)]
        );
        assert_eq!(pair.east.child_sas(esa).len(), 1);
    }
}

#[test]
fn ike_rekey_from_either_end_moves_the_children() {
    for from_west in [true, false] {
        let mut pair = up(true);
        let now = pair.now;
        let (sa, engine) = if from_west {
            (only_ike_sa(&pair.west, pair.west_conn), &mut pair.west)
        } else {
            (only_ike_sa(&pair.east, pair.east_conn), &mut pair.east)
        };
        engine.rekey(now, Target::IkeSa(sa)).expect("rekey");
        pair.run_for(Duration::from_secs(1));
        let w = ike_rekeyed(&pair.west_events);
        let e = ike_rekeyed(&pair.east_events);
        assert_eq!(
            (w.len(), e.len()),
            (1, 1),
            "{:#?}",
            Pair::logs(&pair.west_events)
        );
        assert_eq!(Pair::ike_down(&pair.west_events), 0);
        assert_eq!(Pair::ike_down(&pair.east_events), 0);
        let wsa = only_ike_sa(&pair.west, pair.west_conn);
        let esa = only_ike_sa(&pair.east, pair.east_conn);
        assert_eq!(wsa, w[0].1);
        assert_eq!(esa, e[0].1);
        assert_eq!(pair.west.child_sas(wsa).len(), 1);
        assert_eq!(pair.east.child_sas(esa).len(), 1);
        // The new IKE SA works: rekey the child over it, then delete all.
        let child = pair.west.child_sas(wsa)[0].0;
        let now = pair.now;
        pair.west
            .rekey(now, Target::ChildSa(child))
            .expect("child rekey");
        pair.run_for(Duration::from_secs(1));
        assert_eq!(rekeyed(&pair.east_events).len(), 1);
        let now = pair.now;
        pair.east
            .terminate(now, Target::IkeSa(esa))
            .expect("terminate");
        pair.run_for(Duration::from_secs(1));
        assert_eq!(Pair::ike_down(&pair.west_events), 1);
        assert!(pair.west.ike_sas_of(pair.west_conn).is_empty());
    }
}

#[test]
fn pfs_invalid_ke_payload_retry() {
    let (mut w, mut e) = conns(psk());
    let mut wp = esp(EncrAlg::AesGcm16_256, None);
    wp.ke = vec![KeGroup::Ecp256, KeGroup::Curve25519];
    let mut ep = esp(EncrAlg::AesGcm16_256, None);
    ep.ke = vec![KeGroup::Curve25519];
    w.esp_proposals = vec![wp];
    e.esp_proposals = vec![ep];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let child = Pair::children(&pair.west_events)[0].child;
    let now = pair.now;
    pair.west.rekey(now, Target::ChildSa(child)).expect("rekey");
    pair.run_for(Duration::from_secs(1));
    let w = rekeyed(&pair.west_events);
    let e = rekeyed(&pair.east_events);
    assert_eq!((w.len(), e.len()), (1, 1));
    assert_eq!(w[0].1.suite.ke, Some(KeGroup::Curve25519));
    assert_keys_agree(w[0].1, e[0].1);
    assert!(Pair::logs(&pair.west_events)
        .iter()
        .any(|l| l.contains("CREATE_CHILD_SA response contained INVALID_KE_PAYLOAD")));
}

#[test]
fn simultaneous_child_rekey_leaves_one_child_sa() {
    for seed_swap in [false, true] {
        let mut pair = up(true);
        let cw = Pair::children(&pair.west_events)[0].child;
        let ce = Pair::children(&pair.east_events)[0].child;
        let now = pair.now;
        // Both ends start before either request arrives.
        if seed_swap {
            pair.east
                .rekey(now, Target::ChildSa(ce))
                .expect("east rekey");
            pair.west
                .rekey(now, Target::ChildSa(cw))
                .expect("west rekey");
        } else {
            pair.west
                .rekey(now, Target::ChildSa(cw))
                .expect("west rekey");
            pair.east
                .rekey(now, Target::ChildSa(ce))
                .expect("east rekey");
        }
        pair.run_for(Duration::from_secs(2));
        let wsa = only_ike_sa(&pair.west, pair.west_conn);
        let esa = only_ike_sa(&pair.east, pair.east_conn);
        let wc = pair.west.child_sas(wsa);
        let ec = pair.east.child_sas(esa);
        assert_eq!(
            wc.len(),
            1,
            "west: {wc:?} {:#?}",
            Pair::logs(&pair.west_events)
        );
        assert_eq!(
            ec.len(),
            1,
            "east: {ec:?} {:#?}",
            Pair::logs(&pair.east_events)
        );
        // The survivor is the same SA on both ends.
        assert_eq!(wc[0].1, ec[0].2);
        assert_eq!(wc[0].2, ec[0].1);
        assert_ne!(wc[0].0, cw);
        let logs: Vec<String> = Pair::logs(&pair.west_events)
            .into_iter()
            .chain(Pair::logs(&pair.east_events))
            .collect();
        assert!(
            logs.iter().any(|l| l.contains("is redundant; deleting it")),
            "{logs:#?}"
        );
        // Two rekeys reported on each side; three Child SAs down each side
        // (the old one and the redundant one, each from one side's view).
        assert_eq!(rekeyed(&pair.west_events).len(), 2);
        assert_eq!(child_down(&pair.west_events).len(), 2);
        assert_eq!(child_down(&pair.east_events).len(), 2);
    }
}

#[test]
fn simultaneous_ike_rekey_resolves_to_one_ike_sa() {
    for east_first in [false, true] {
        let mut pair = up(true);
        let wsa = only_ike_sa(&pair.west, pair.west_conn);
        let esa = only_ike_sa(&pair.east, pair.east_conn);
        let now = pair.now;
        if east_first {
            pair.east
                .rekey(now, Target::IkeSa(esa))
                .expect("east rekey");
            pair.west
                .rekey(now, Target::IkeSa(wsa))
                .expect("west rekey");
        } else {
            pair.west
                .rekey(now, Target::IkeSa(wsa))
                .expect("west rekey");
            pair.east
                .rekey(now, Target::IkeSa(esa))
                .expect("east rekey");
        }
        pair.run_for(Duration::from_secs(5));
        let logs: Vec<String> = Pair::logs(&pair.west_events)
            .into_iter()
            .chain(Pair::logs(&pair.east_events))
            .collect();
        // Resolved by the nonces (RFC 7296 2.8.2), not by retrying.
        assert!(
            logs.iter()
                .any(|l| l.contains("simultaneous IKE SA rekey: our new IKE SA is redundant")),
            "{logs:#?}"
        );
        assert!(
            !logs.iter().any(|l| l.contains("TEMPORARY_FAILURE")),
            "{logs:#?}"
        );
        let wsa2 = only_ike_sa(&pair.west, pair.west_conn);
        let esa2 = only_ike_sa(&pair.east, pair.east_conn);
        assert_ne!(wsa, wsa2);
        assert_eq!(ike_rekeyed(&pair.west_events), vec![(wsa, wsa2)]);
        assert_eq!(ike_rekeyed(&pair.east_events), vec![(esa, esa2)]);
        assert_eq!(Pair::ike_down(&pair.west_events), 0);
        assert_eq!(Pair::ike_down(&pair.east_events), 0);
        assert_eq!(pair.west.child_sas(wsa2).len(), 1);
        assert_eq!(pair.east.child_sas(esa2).len(), 1);
        // Both ends kept the same IKE SA: it carries a Child SA rekey.
        let child = pair.west.child_sas(wsa2)[0].0;
        let now = pair.now;
        pair.west
            .rekey(now, Target::ChildSa(child))
            .expect("child rekey");
        pair.run_for(Duration::from_secs(5));
        assert_eq!(rekeyed(&pair.east_events).len(), 1);
        assert_eq!(Pair::ike_down(&pair.east_events), 0);
    }
}

#[test]
fn lifetimes_trigger_rekeys() {
    let (mut w, mut e) = conns(psk());
    for c in [&mut w, &mut e] {
        c.child_lifetime = Duration::from_secs(60);
        c.ike_lifetime = Duration::from_secs(200);
        c.rekey_fuzz = 0; // the times below, exactly
    }
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(250));
    // Child SA rekeyed roughly every 45 s, the IKE SA once at 150 s.
    let n = rekeyed(&pair.west_events).len();
    assert!(n >= 4, "child rekeys: {n}");
    assert_eq!(ike_rekeyed(&pair.west_events).len(), 1);
    assert_eq!(Pair::ike_down(&pair.west_events), 0);
    let wsa = only_ike_sa(&pair.west, pair.west_conn);
    let esa = only_ike_sa(&pair.east, pair.east_conn);
    assert_eq!(pair.west.child_sas(wsa).len(), 1);
    assert_eq!(pair.east.child_sas(esa).len(), 1);
}

#[test]
fn rekeyfuzz_spreads_rekey_times_within_libreswan_bounds() {
    let (mut w, mut e) = conns(psk());
    let lifetime = Duration::from_secs(3600);
    let margin = Duration::from_secs(540);
    for c in [&mut w, &mut e] {
        c.child_lifetime = lifetime;
        c.ike_lifetime = lifetime;
        c.rekey_margin = Some(margin);
    }
    let mut pair = Pair::new(w, e);
    let start = pair.now;
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    let wsa = only_ike_sa(&pair.west, pair.west_conn);
    let esa = only_ike_sa(&pair.east, pair.east_conn);
    for _ in 0..7 {
        let now = pair.now;
        pair.west
            .create_child_sa(now, wsa)
            .expect("another Child SA");
        pair.run_for(Duration::from_secs(1));
    }
    // The initiator: between margin and margin + 100% before expiry (all
    // created within the first seconds, which the bounds allow for).
    let early = start + lifetime - 2 * margin;
    let late = start + lifetime - margin + Duration::from_secs(10);
    let mut times: Vec<_> = pair
        .west
        .child_sas(wsa)
        .iter()
        .map(|(id, _, _)| pair.west.child_sa_rekey_at(*id).expect("rekeys"))
        .collect();
    times.push(pair.west.ike_sa_rekey_at(wsa).expect("IKE SA rekeys"));
    assert_eq!(times.len(), 9);
    for t in &times {
        assert!(*t >= early && *t <= late, "{:?}", *t - start);
    }
    // At random: not all the same.
    times.sort();
    times.dedup();
    assert!(times.len() > 4, "{times:?}");
    // The responder: half the margin, no fuzz.
    for (id, _, _) in pair.east.child_sas(esa) {
        let t = pair.east.child_sa_rekey_at(id).expect("rekeys");
        let expected = start + lifetime - margin / 2;
        assert!(
            t >= expected && t <= expected + Duration::from_secs(10),
            "{:?}",
            t - start
        );
    }
    // rekey=no: no rekey time at all.
    let (mut w, e) = conns(psk());
    w.rekey = false;
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    let wsa = only_ike_sa(&pair.west, pair.west_conn);
    assert_eq!(pair.west.ike_sa_rekey_at(wsa), None);
    let child = pair.west.child_sas(wsa)[0].0;
    assert_eq!(pair.west.child_sa_rekey_at(child), None);
}

#[test]
fn refused_rekey_lets_the_child_sa_expire() {
    let (mut w, mut e) = conns(psk());
    w.pfs = true;
    e.pfs = false; // east refuses the KE west's rekey carries
    w.child_lifetime = Duration::from_secs(60);
    e.child_lifetime = Duration::from_secs(1000); // east never rekeys first
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(70));
    assert_eq!(rekeyed(&pair.west_events).len(), 0);
    assert!(Pair::logs(&pair.west_events)
        .iter()
        .any(|l| l.contains("CREATE_CHILD_SA response contained NO_PROPOSAL_CHOSEN")));
    assert!(Pair::logs(&pair.west_events)
        .iter()
        .any(|l| l.contains("lifetime expired")));
    assert_eq!(child_down(&pair.west_events).len(), 1);
    assert_eq!(child_down(&pair.east_events).len(), 1);
    assert_eq!(Pair::ike_down(&pair.west_events), 0);
}

#[test]
fn ike_sa_expires_when_it_cannot_be_rekeyed() {
    let (mut w, mut e) = conns(psk());
    for c in [&mut w, &mut e] {
        c.ike_lifetime = Duration::from_secs(100);
        c.child_lifetime = Duration::from_secs(1000);
    }
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    // From now on every CREATE_CHILD_SA request is lost.
    pair.network = Box::new(|_, _, t| match ike::wire::Message::decode(&t.payload) {
        Ok(m) if m.header.exchange == ike::wire::ExchangeType::CreateChildSa => Fate::Drop,
        _ => Fate::Deliver,
    });
    pair.run_for(Duration::from_secs(200));
    assert_eq!(Pair::ike_down(&pair.west_events), 1);
    assert_eq!(Pair::ike_down(&pair.east_events), 1);
}
