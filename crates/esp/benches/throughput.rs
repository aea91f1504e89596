//! Single-core ESP throughput for 1400-byte packets.
//!
//! `cargo bench -p esp --bench throughput` (release). Prints Gbit/s of payload.

use std::time::{Duration, Instant};

use esp::{
    AesKeySize, InboundSa, Integrity, Lifetime, OutboundSa, PacketBuf, SaKeys, SaParams, Transform,
};

const PAYLOAD: usize = 1400;
const BATCH: usize = 4096;
const MIN_TIME: Duration = Duration::from_millis(1500);

fn params(t: Transform) -> SaParams {
    let enc = vec![0x11; t.encryption.key_len()];
    let keys = match t.integrity {
        None => SaKeys::aead(&enc),
        Some(i) => SaKeys::cipher_integrity(&enc, &vec![0x22; i.key_len()]),
    };
    SaParams {
        spi: 0x1234_5678,
        transform: t,
        keys,
        esn: true,
        replay_window: 128,
        lifetime: Lifetime::default(),
    }
}

fn gbps(packets: u64, elapsed: Duration) -> f64 {
    (packets as f64 * PAYLOAD as f64 * 8.0) / elapsed.as_secs_f64() / 1e9
}

fn bench(name: &str, t: Transform) -> Result<(), esp::EspError> {
    let p = params(t);
    // Encrypt: re-encrypt the same buffer, restoring its payload window each time.
    let mut out = OutboundSa::new(&p)?;
    let mut buf = PacketBuf::from_slice(&[0xab; PAYLOAD], 64, 64);
    let hdr = t.header_overhead();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MIN_TIME {
        for _ in 0..BATCH {
            out.encapsulate(&mut buf, 4)?;
            let extra = buf.len() - hdr - PAYLOAD;
            buf.pull_front(hdr);
            buf.trim_back(extra);
        }
        n += BATCH as u64;
    }
    let enc = gbps(n, start.elapsed());

    // Decrypt: a batch of distinct packets, each copied into the work buffer as a
    // socket read would, through a fresh inbound SA per round (replay window).
    let mut wire = Vec::with_capacity(BATCH);
    let mut out = OutboundSa::new(&p)?;
    for _ in 0..BATCH {
        let mut b = PacketBuf::from_slice(&[0xcd; PAYLOAD], 64, 64);
        out.encapsulate(&mut b, 4)?;
        wire.push(b.data().to_vec());
    }
    let mut work = PacketBuf::with_defaults();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MIN_TIME {
        let mut inb = InboundSa::new(&p)?;
        for w in &wire {
            work.reset(64);
            work.writable()[..w.len()].copy_from_slice(w);
            work.set_len(w.len())?;
            inb.decapsulate(&mut work)?;
        }
        n += BATCH as u64;
    }
    let dec = gbps(n, start.elapsed());
    println!("{name:<28} encrypt {enc:6.2} Gbit/s   decrypt {dec:6.2} Gbit/s   (1400-byte packets, one core)");
    Ok(())
}

fn main() -> Result<(), esp::EspError> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    bench("AES-GCM-16-256", Transform::aes_gcm16(AesKeySize::Aes256))?;
    bench("ChaCha20-Poly1305", Transform::chacha20_poly1305())?;
    bench(
        "AES-CBC-256 + HMAC-SHA2-256",
        Transform::aes_cbc(AesKeySize::Aes256, Integrity::HmacSha2_256_128),
    )?;
    Ok(())
}
