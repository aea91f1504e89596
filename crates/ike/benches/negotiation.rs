//! CPU time of one complete IKE SA + Child SA negotiation, both sides, in
//! memory (IKE_SA_INIT + IKE_AUTH, four messages).
//!
//! Run with `cargo bench -p ike --bench negotiation`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg};

/// CPU time consumed by this thread so far (Linux schedstat, ns).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn negotiate(encr: EncrAlg, integ: Option<IntegAlg>, prf: PrfAlg, g: KeGroup) {
    let (mut w, mut e) = conns(psk());
    let p = ike(encr, integ, prf, g);
    w.ike_proposals = vec![p.clone()];
    e.ike_proposals = vec![p];
    w.esp_proposals = vec![esp(encr, integ)];
    e.esp_proposals = vec![esp(encr, integ)];
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.flush();
    assert_eq!(Pair::children(&pair.west_events).len(), 1);
    assert_eq!(Pair::children(&pair.east_events).len(), 1);
}

fn bench(name: &str, n: u32, encr: EncrAlg, integ: Option<IntegAlg>, prf: PrfAlg, g: KeGroup) {
    for _ in 0..n / 10 {
        negotiate(encr, integ, prf, g);
    }
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    for _ in 0..n {
        negotiate(encr, integ, prf, g);
    }
    let wall = t0.elapsed() / n;
    match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) => println!(
            "{name}: {:.1} µs CPU per IKE SA + Child SA (both sides), {:.1} µs wall, {n} runs",
            (b - a).as_secs_f64() * 1e6 / f64::from(n),
            wall.as_secs_f64() * 1e6
        ),
        _ => println!(
            "{name}: {:.1} µs wall per IKE SA + Child SA (both sides), {n} runs",
            wall.as_secs_f64() * 1e6
        ),
    }
}

fn main() {
    bench(
        "Curve25519 + AES-GCM-256 + PSK",
        2000,
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    );
    bench(
        "MODP2048 + AES-CBC-256/HMAC-SHA2-256 + PSK",
        100,
        EncrAlg::AesCbc256,
        Some(IntegAlg::HmacSha2_256_128),
        PrfAlg::HmacSha2_256,
        KeGroup::Modp2048,
    );
}
