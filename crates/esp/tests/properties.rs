//! Property tests: ESP round trips and the replay window against a reference model.

use std::collections::HashSet;

use esp::{
    AesKeySize, EspError, InboundSa, Integrity, Lifetime, OutboundSa, PacketBuf, ReplayWindow,
    SaDb, SaId, SaKeys, SaParams, Transform,
};
use proptest::prelude::*;

fn transform_strategy() -> impl Strategy<Value = Transform> {
    prop_oneof![
        Just(Transform::aes_gcm16(AesKeySize::Aes128)),
        Just(Transform::aes_gcm16(AesKeySize::Aes256)),
        Just(Transform::chacha20_poly1305()),
        Just(Transform::aes_cbc(
            AesKeySize::Aes128,
            Integrity::HmacSha1_96
        )),
        Just(Transform::aes_cbc(
            AesKeySize::Aes256,
            Integrity::HmacSha2_256_128
        )),
        Just(Transform::aes_cbc(
            AesKeySize::Aes256,
            Integrity::HmacSha2_384_192
        )),
        Just(Transform::aes_cbc(
            AesKeySize::Aes128,
            Integrity::HmacSha2_512_256
        )),
    ]
}

fn params(t: Transform, key_byte: u8, esn: bool, window: u32) -> SaParams {
    let enc = vec![key_byte; t.encryption.key_len()];
    let keys = match t.integrity {
        None => SaKeys::aead(&enc),
        Some(i) => SaKeys::cipher_integrity(&enc, &vec![key_byte ^ 0x5a; i.key_len()]),
    };
    SaParams {
        spi: 0x4242_0001,
        transform: t,
        keys,
        esn,
        replay_window: window,
        lifetime: Lifetime::default(),
    }
}

proptest! {
    #[test]
    fn esp_round_trip(t in transform_strategy(), key in any::<u8>(), esn in any::<bool>(),
                      payload in proptest::collection::vec(any::<u8>(), 0..2000), nh in any::<u8>()) {
        let p = params(t, key, esn, 64);
        let mut out = OutboundSa::new(&p).unwrap();
        let mut inb = InboundSa::new(&p).unwrap();
        let mut buf = PacketBuf::from_slice(&payload, 64, 64);
        out.encapsulate(&mut buf, nh).unwrap();
        prop_assert_eq!(buf.len() % 4, 0);
        prop_assert!(buf.data().windows(payload.len().max(1)).all(|w| payload.len() < 16 || w != &payload[..]));
        let d = inb.decapsulate(&mut buf).unwrap();
        prop_assert_eq!(d.next_header, nh);
        prop_assert_eq!(buf.data(), &payload[..]);
    }

    #[test]
    fn tampering_any_byte_is_detected(t in transform_strategy(), payload in proptest::collection::vec(any::<u8>(), 1..300),
                                      pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let p = params(t, 7, false, 64);
        let mut out = OutboundSa::new(&p).unwrap();
        let mut inb = InboundSa::new(&p).unwrap();
        let mut buf = PacketBuf::from_slice(&payload, 64, 64);
        out.encapsulate(&mut buf, 4).unwrap();
        let i = pos.index(buf.len());
        buf.data_mut()[i] ^= flip;
        prop_assert!(inb.decapsulate(&mut buf).is_err());
    }

    /// Non-ESN window against a model: accept iff not seen, not 0 and newer than max - W.
    #[test]
    fn replay_window_matches_model(window in 1u32..300, seqs in proptest::collection::vec(0u32..2000, 1..400)) {
        let mut w = ReplayWindow::new(window, false).unwrap();
        let mut seen = HashSet::new();
        let mut max = 0u64;
        for s in seqs {
            let s64 = u64::from(s);
            let model = s64 != 0 && !seen.contains(&s64) && (s64 > max || s64 + u64::from(window) > max);
            let got = w.check(1, s).ok();
            prop_assert_eq!(got.is_some(), model, "seq {} max {} window {}", s, max, window);
            if let Some(full) = got {
                prop_assert_eq!(full, s64);
                w.update(full);
                seen.insert(s64);
                max = max.max(s64);
            }
        }
    }

    /// ESN: a sender walking across 2^32 with reordering smaller than the window
    /// is reconstructed exactly from the low 32 bits, and duplicates are refused.
    #[test]
    fn esn_inference_matches_model(window in 32u32..1024, start in 0u64..3, base in (1u64 << 32) - 5000..(1u64 << 32) + 100,
                                   steps in proptest::collection::vec((0u64..20, any::<bool>()), 1..500)) {
        let base = base + (start << 32);
        let mut w = ReplayWindow::new(window, true).unwrap();
        // Prime the window far enough into the sequence space (as after normal traffic).
        let first = base - 1000;
        w.update(first);
        let mut seen = HashSet::from([first]);
        let mut max = first;
        for (delta, back) in steps {
            // Send either ahead of the max or a bit behind it (inside the window).
            let seq = if back { max.saturating_sub(delta % u64::from(window)) } else { max + delta };
            let got = w.check(1, seq as u32);
            let model = !seen.contains(&seq) && seq + u64::from(window) > max;
            prop_assert_eq!(got.is_ok(), model, "seq {:#x} max {:#x}", seq, max);
            if let Ok(full) = got {
                prop_assert_eq!(full, seq);
                w.update(full);
                seen.insert(seq);
                max = max.max(seq);
            }
        }
    }
}

#[test]
fn sadb_routes_by_spi_and_reports_events() {
    let t = Transform::aes_gcm16(AesKeySize::Aes256);
    let mut a = params(t, 1, false, 128);
    a.spi = 0x100;
    a.lifetime.soft.packets = Some(2);
    let mut b = params(t, 2, false, 128);
    b.spi = 0x200;
    let mut sender: SaDb<&str, ()> = SaDb::new();
    let mut receiver: SaDb<(), &str> = SaDb::new();
    sender.insert_outbound(SaId(1), OutboundSa::new(&a).unwrap(), "to-a");
    sender.insert_outbound(SaId(2), OutboundSa::new(&b).unwrap(), "to-b");
    receiver.insert_inbound(InboundSa::new(&a).unwrap(), "from-a");
    receiver.insert_inbound(InboundSa::new(&b).unwrap(), "from-b");

    for (id, expect) in [
        (SaId(2), "from-b"),
        (SaId(1), "from-a"),
        (SaId(1), "from-a"),
    ] {
        let mut buf = PacketBuf::from_slice(&[0x45; 40], 64, 64);
        let (_, data) = sender.encapsulate(id, &mut buf, 4).unwrap();
        assert!(data.starts_with("to-"));
        let (d, data) = receiver.decapsulate(&mut buf).unwrap();
        assert_eq!(*data, expect);
        assert_eq!(buf.data(), &[0x45; 40]);
        assert_eq!(d.next_header, 4);
    }
    let ev: Vec<_> = sender.drain_events().collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].sa, esp::SaRef::Outbound(SaId(1)));
    assert_eq!(receiver.drain_events().count(), 1);
    assert_eq!(receiver.inbound_counters(0x100).unwrap().packets, 2);

    let mut buf = PacketBuf::from_slice(&[0, 0, 3, 0, 0, 0, 0, 1, 0, 0], 0, 0);
    assert_eq!(
        receiver.decapsulate(&mut buf).unwrap_err(),
        EspError::UnknownSpi { spi: 0x300 }
    );
    let mut buf = PacketBuf::from_slice(&[1], 64, 64);
    assert_eq!(
        sender.encapsulate(SaId(9), &mut buf, 4).unwrap_err(),
        EspError::UnknownSa { id: 9 }
    );
    assert!(receiver.remove_inbound(0x100).is_some());
    assert_eq!(receiver.len(), (0, 1));
}
