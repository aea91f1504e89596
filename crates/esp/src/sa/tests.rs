use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext, UnboundCipherKey, AES_256};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::*;
use crate::transform::{AesKeySize, Integrity};

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).unwrap()
}

fn params(transform: Transform, spi: u32, esn: bool) -> SaParams {
    let enc: Vec<u8> = (0..transform.encryption.key_len() as u8).collect();
    let keys = match transform.integrity {
        None => SaKeys::aead(&enc),
        Some(i) => {
            SaKeys::cipher_integrity(&enc, &(100..100 + i.key_len() as u8).collect::<Vec<_>>())
        }
    };
    SaParams {
        spi,
        transform,
        keys,
        esn,
        replay_window: 128,
        lifetime: Lifetime::default(),
    }
}

fn all_transforms() -> Vec<Transform> {
    let mut v = vec![
        Transform::aes_gcm16(AesKeySize::Aes128),
        Transform::aes_gcm16(AesKeySize::Aes256),
        Transform::chacha20_poly1305(),
    ];
    for size in [AesKeySize::Aes128, AesKeySize::Aes256] {
        for i in [
            Integrity::HmacSha1_96,
            Integrity::HmacSha2_256_128,
            Integrity::HmacSha2_384_192,
            Integrity::HmacSha2_512_256,
        ] {
            v.push(Transform::aes_cbc(size, i));
        }
    }
    v
}

const RFC7634_KEYMAT: &str =
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3";
const RFC7634_PLAIN: &str = "45000054a6f2000040 01e778c6336405c0000205 08005b7a3a080000553bec10 0007362708090a0b0c0d0e0f10111213
    1415161718191a1b1c1d1e1f20212223 2425262728292a2b2c2d2e2f30313233 34353637";
const RFC7634_ESP: &str = "01020304 00000005 1011121314151617
    24039428b97f417e3c13753a4f05087b 67c352e6a7fab1b982d466ef407ae5c6 14ee8099d52844eb61aa95dfab4c02f7
    2aa71e7c4c4f64c9befe2facc638e8f3 cbec163fac469b502773f6fb94e664da 9165b82829f641e0
    76aaa8266b7fb0f7b11b369907e1ad43";

fn rfc7634_params() -> SaParams {
    SaParams {
        spi: 0x0102_0304,
        transform: Transform::chacha20_poly1305(),
        keys: SaKeys::aead(&hex(RFC7634_KEYMAT)),
        esn: false,
        replay_window: 128,
        lifetime: Lifetime::default(),
    }
}

#[test]
fn rfc7634_appendix_a_decapsulates() {
    let mut sa = InboundSa::new(&rfc7634_params()).unwrap();
    let mut buf = PacketBuf::from_slice(&hex(RFC7634_ESP), 0, 0);
    let d = sa.decapsulate(&mut buf).unwrap();
    assert_eq!(d.seq, 5);
    assert_eq!(d.next_header, NEXT_HEADER_IPV4);
    assert_eq!(buf.data(), &hex(RFC7634_PLAIN)[..]);
    assert_eq!(sa.counters().packets, 1);
    assert_eq!(sa.counters().bytes, 84);
}

#[test]
fn rfc7634_appendix_a_encapsulates() {
    let mut sa = OutboundSa::new(&rfc7634_params()).unwrap();
    sa.set_last_seq(4);
    let mut buf = PacketBuf::from_slice(&hex(RFC7634_PLAIN), 64, 64);
    let iv = [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17];
    let r = sa
        .encapsulate_inner(&mut buf, NEXT_HEADER_IPV4, Some(iv))
        .unwrap();
    assert_eq!(r.seq, 5);
    assert_eq!(buf.data(), &hex(RFC7634_ESP)[..]);
}

#[test]
fn gcm_matches_aws_lc_primitive_with_rfc4106_layout() {
    for (size, alg) in [
        (AesKeySize::Aes128, &aead::AES_128_GCM),
        (AesKeySize::Aes256, &aead::AES_256_GCM),
    ] {
        for esn in [false, true] {
            let p = params(Transform::aes_gcm16(size), 0xdead_beef, esn);
            let mut sa = OutboundSa::new(&p).unwrap();
            let start = if esn { 0x1_ffff_fffe } else { 41 };
            sa.set_last_seq(start);
            let seq = start + 1;
            let payload: Vec<u8> = (0..77u8).collect();
            let mut buf = PacketBuf::from_slice(&payload, 64, 64);
            sa.encapsulate(&mut buf, 6).unwrap();

            // Independent construction: nonce = salt || seq, AAD = SPI || [seq-hi ||] seq-lo.
            let keymat = p.keys.encryption();
            let (k, salt) = keymat.split_at(keymat.len() - 4);
            let key = LessSafeKey::new(UnboundKey::new(alg, k).unwrap());
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(salt);
            nonce[4..].copy_from_slice(&seq.to_be_bytes());
            let mut aad = 0xdead_beefu32.to_be_bytes().to_vec();
            if esn {
                aad.extend_from_slice(&((seq >> 32) as u32).to_be_bytes());
            }
            aad.extend_from_slice(&(seq as u32).to_be_bytes());
            let pad = 1usize; // 77 + 1 + 2 = 80, a multiple of 4
            let mut plain = payload.clone();
            plain.extend((1..=pad as u8).collect::<Vec<_>>());
            plain.push(pad as u8);
            plain.push(6);
            key.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut plain,
            )
            .unwrap();
            let mut expected = 0xdead_beefu32.to_be_bytes().to_vec();
            expected.extend_from_slice(&(seq as u32).to_be_bytes());
            expected.extend_from_slice(&seq.to_be_bytes());
            expected.extend_from_slice(&plain);
            assert_eq!(buf.data(), &expected[..], "size {size:?} esn {esn}");
        }
    }
}

#[test]
fn cbc_hmac_matches_aws_lc_primitives() {
    for esn in [false, true] {
        let t = Transform::aes_cbc(AesKeySize::Aes256, Integrity::HmacSha2_256_128);
        let p = params(t, 0x0000_1234, esn);
        let mut sa = OutboundSa::new(&p).unwrap();
        sa.set_last_seq(if esn { 0x2_0000_0009 } else { 9 });
        let payload: Vec<u8> = (0..100u8).collect();
        let mut buf = PacketBuf::from_slice(&payload, 64, 64);
        sa.encapsulate(&mut buf, 4).unwrap();
        let data = buf.data().to_vec();
        // 100 + 2 -> 112: 10 bytes of padding.
        assert_eq!(data.len(), 8 + 16 + 112 + 16);
        assert_eq!(&data[4..8], &0x0000_000au32.to_be_bytes());
        let covered = &data[..data.len() - 16];
        let key = hmac::Key::new(hmac::HMAC_SHA256, p.keys.integrity());
        let mut input = covered.to_vec();
        if esn {
            input.extend_from_slice(&2u32.to_be_bytes());
        }
        let tag = hmac::sign(&key, &input);
        assert_eq!(&data[data.len() - 16..], &tag.as_ref()[..16], "esn {esn}");
        let dkey =
            DecryptingKey::cbc(UnboundCipherKey::new(&AES_256, p.keys.encryption()).unwrap())
                .unwrap();
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&data[8..24]);
        let mut ct = data[24..24 + 112].to_vec();
        let plain = dkey
            .decrypt(&mut ct, DecryptionContext::Iv128(FixedLength::from(iv)))
            .unwrap();
        assert_eq!(&plain[..100], &payload[..]);
        assert_eq!(&plain[100..110], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(&plain[110..], &[10, 4]);
    }
}

#[test]
fn round_trip_every_transform_and_tamper_detection() {
    for t in all_transforms() {
        for esn in [false, true] {
            let p = params(t, 0x1000_0001, esn);
            let mut out = OutboundSa::new(&p).unwrap();
            let mut inb = InboundSa::new(&p).unwrap();
            for len in [0usize, 1, 15, 16, 17, 1400] {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let mut buf = PacketBuf::from_slice(&payload, 64, 64);
                out.encapsulate(&mut buf, 17).unwrap();
                let wire = buf.data().to_vec();
                // Flip each of a few positions: header, IV, ciphertext, ICV.
                for pos in [0usize, 5, 9, wire.len() / 2, wire.len() - 1] {
                    let mut bad = wire.clone();
                    bad[pos] ^= 0x40;
                    let mut b = PacketBuf::from_slice(&bad, 0, 0);
                    assert!(
                        inb.decapsulate(&mut b).is_err(),
                        "{t:?} esn {esn} pos {pos}"
                    );
                }
                let mut b = PacketBuf::from_slice(&wire, 0, 0);
                let d = inb.decapsulate(&mut b).unwrap();
                assert_eq!(d.next_header, 17);
                assert_eq!(b.data(), &payload[..], "{t:?} esn {esn} len {len}");
                // The same packet again is a replay.
                let mut b = PacketBuf::from_slice(&wire, 0, 0);
                assert!(matches!(
                    inb.decapsulate(&mut b),
                    Err(EspError::Replay { .. })
                ));
            }
            let c = inb.counters();
            assert_eq!(c.packets, 6);
            assert_eq!(c.replay_errors, 6);
            assert!(c.auth_errors + c.decode_errors >= 24, "{c:?}");
        }
    }
}

#[test]
fn wrong_key_fails_auth() {
    let t = Transform::aes_gcm16(AesKeySize::Aes256);
    let p = params(t, 7, false);
    let mut other = p.clone();
    other.keys = SaKeys::aead(&[9u8; 36]);
    let mut out = OutboundSa::new(&p).unwrap();
    let mut inb = InboundSa::new(&other).unwrap();
    let mut buf = PacketBuf::from_slice(b"hello", 64, 64);
    out.encapsulate(&mut buf, 4).unwrap();
    assert_eq!(inb.decapsulate(&mut buf), Err(EspError::Auth { spi: 7 }));
    assert_eq!(inb.counters().auth_errors, 1);
    // A forged packet must not move the window: the genuine seq 1 still passes.
    assert_eq!(inb.replay_window().top(), 0);
}

#[test]
fn esn_wrap_across_2_pow_32() {
    let p = params(Transform::chacha20_poly1305(), 0x55, true);
    let mut out = OutboundSa::new(&p).unwrap();
    let mut inb = InboundSa::new(&p).unwrap();
    // The receiver first sees an early packet, as it would in a real SA.
    out.set_last_seq(999);
    let mut buf = PacketBuf::from_slice(b"early", 64, 64);
    out.encapsulate(&mut buf, 4).unwrap();
    assert_eq!(inb.decapsulate(&mut buf).unwrap().seq, 1000);
    out.set_last_seq(u64::from(u32::MAX) - 3);
    let mut wires = Vec::new();
    for _ in 0..8 {
        let mut buf = PacketBuf::from_slice(b"payload", 64, 64);
        out.encapsulate(&mut buf, 4).unwrap();
        wires.push(buf.data().to_vec());
    }
    // Deliver the first four after jumping the receiver to just before the wrap.
    let mut seqs = Vec::new();
    for w in wires.iter().rev().skip(4).rev() {
        let mut b = PacketBuf::from_slice(w, 0, 0);
        seqs.push(inb.decapsulate(&mut b).unwrap().seq);
    }
    for w in wires.iter().skip(4) {
        let mut b = PacketBuf::from_slice(w, 0, 0);
        seqs.push(inb.decapsulate(&mut b).unwrap().seq);
    }
    let first = u64::from(u32::MAX) - 2;
    assert_eq!(seqs, (first..first + 8).collect::<Vec<_>>());
    assert!(inb.replay_window().top() > u64::from(u32::MAX));
}

#[test]
fn sequence_overflow_without_esn() {
    let p = params(Transform::aes_gcm16(AesKeySize::Aes128), 9, false);
    let mut out = OutboundSa::new(&p).unwrap();
    out.set_last_seq(u64::from(u32::MAX) - 1);
    let mut buf = PacketBuf::from_slice(b"x", 64, 64);
    assert_eq!(
        out.encapsulate(&mut buf, 4).unwrap().seq,
        u64::from(u32::MAX)
    );
    let mut buf = PacketBuf::from_slice(b"x", 64, 64);
    assert_eq!(
        out.encapsulate(&mut buf, 4),
        Err(EspError::SequenceOverflow { spi: 9 })
    );
    assert_eq!(buf.data(), b"x", "a refused packet is left untouched");
}

#[test]
fn hard_lifetime_stops_traffic() {
    let mut p = params(Transform::aes_gcm16(AesKeySize::Aes128), 9, false);
    p.lifetime.soft.packets = Some(2);
    p.lifetime.hard.packets = Some(3);
    let mut out = OutboundSa::new(&p).unwrap();
    let mut expiries = Vec::new();
    for _ in 0..3 {
        let mut buf = PacketBuf::from_slice(b"x", 64, 64);
        expiries.push(out.encapsulate(&mut buf, 4).unwrap().expiry);
    }
    assert_eq!(expiries, vec![None, Some(Expiry::Soft), Some(Expiry::Hard)]);
    let mut buf = PacketBuf::from_slice(b"x", 64, 64);
    assert_eq!(
        out.encapsulate(&mut buf, 4),
        Err(EspError::HardExpired { spi: 9 })
    );
}

#[test]
fn bad_padding_and_short_packets_are_decode_errors() {
    let p = params(Transform::aes_gcm16(AesKeySize::Aes128), 3, false);
    let mut inb = InboundSa::new(&p).unwrap();
    let mut b = PacketBuf::from_slice(&[0, 0, 0, 3, 0, 0, 0, 1, 1, 2], 0, 0);
    assert!(matches!(
        inb.decapsulate(&mut b),
        Err(EspError::Malformed { .. })
    ));
    // Build a packet with wrong padding content using the raw primitive.
    let keymat = p.keys.encryption();
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &keymat[..16]).unwrap());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&keymat[16..]);
    nonce[4..].copy_from_slice(&1u64.to_be_bytes());
    let mut plain = vec![0xaa, 9, 9, 2, 4, 0, 0, 0];
    plain.truncate(5);
    plain.extend_from_slice(&[5, 2, 4]); // pad bytes must be 1, 2
    let aad = [0, 0, 0, 3, 0, 0, 0, 1];
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&aad),
        &mut plain,
    )
    .unwrap();
    let mut wire = aad.to_vec();
    wire.extend_from_slice(&1u64.to_be_bytes());
    wire.extend_from_slice(&plain);
    let mut b = PacketBuf::from_slice(&wire, 0, 0);
    assert!(matches!(
        inb.decapsulate(&mut b),
        Err(EspError::Malformed { .. })
    ));
    assert_eq!(inb.counters().decode_errors, 2);
}

#[test]
fn invalid_keys_and_transforms_are_refused() {
    let mut p = params(Transform::aes_gcm16(AesKeySize::Aes256), 1, false);
    p.keys = SaKeys::aead(&[0u8; 32]);
    assert!(matches!(
        OutboundSa::new(&p),
        Err(EspError::KeyLength { .. })
    ));
    p.transform = Transform {
        encryption: crate::transform::Encryption::AesCbc(AesKeySize::Aes128),
        integrity: None,
    };
    assert!(matches!(
        InboundSa::new(&p),
        Err(EspError::InvalidTransform(_))
    ));
    let p = params(Transform::chacha20_poly1305(), 1, false);
    let dbg = format!("{p:?}");
    assert!(
        dbg.contains("redacted") && !dbg.contains("[0, 1, 2"),
        "{dbg}"
    );
}
