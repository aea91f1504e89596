//! CPU time of one complete IKE SA + Child SA negotiation, both sides, in
//! memory (IKE_SA_INIT + IKE_AUTH, four messages).
//!
//! Run with `cargo bench -p ike --bench negotiation`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use std::sync::Arc;

use common::*;
use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg, PrivateKey};
use ike::engine::Authentication;

/// CPU time consumed by this thread so far (Linux schedstat, ns).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

type Suite = (EncrAlg, Option<IntegAlg>, PrfAlg, KeGroup);

fn negotiate(auth: &(Authentication, Authentication), (encr, integ, prf, g): Suite) {
    let (mut w, mut e) = conns(auth.0.clone());
    e.auth = auth.1.clone();
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

fn bench(name: &str, n: u32, auth: &(Authentication, Authentication), suite: Suite) {
    for _ in 0..n / 10 {
        negotiate(auth, suite);
    }
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    for _ in 0..n {
        negotiate(auth, suite);
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

fn rsa_pair() -> Option<(Authentication, Authentication)> {
    let w = PrivateKey::generate_rsa(2048).ok()?;
    let e = PrivateKey::generate_rsa(2048).ok()?;
    let wp = Arc::new(w.public_key().ok()?);
    let ep = Arc::new(e.public_key().ok()?);
    Some((
        Authentication::RawKey {
            private_key: Arc::new(w),
            peer_public_key: ep,
        },
        Authentication::RawKey {
            private_key: Arc::new(e),
            peer_public_key: wp,
        },
    ))
}

fn main() {
    let psk = (psk(), psk());
    bench(
        "Curve25519 + AES-GCM-256 + PSK",
        2000,
        &psk,
        (
            EncrAlg::AesGcm16_256,
            None,
            PrfAlg::HmacSha2_256,
            KeGroup::Curve25519,
        ),
    );
    let cbc = (
        EncrAlg::AesCbc256,
        Some(IntegAlg::HmacSha2_256_128),
        PrfAlg::HmacSha2_256,
        KeGroup::Modp2048,
    );
    bench("MODP2048 + AES-CBC-256/HMAC-SHA2-256 + PSK", 100, &psk, cbc);
    match rsa_pair() {
        Some(rsa) => bench(
            "MODP2048 + AES-CBC-256/HMAC-SHA2-256 + RSA-2048",
            100,
            &rsa,
            cbc,
        ),
        None => println!("RSA-2048 key generation failed; RSA benchmark skipped"),
    }
    let mut hybrid = ike(
        EncrAlg::AesGcm16_256,
        None,
        PrfAlg::HmacSha2_256,
        KeGroup::Curve25519,
    );
    hybrid.addke = vec![vec![KeGroup::MlKem768]];
    let t0 = Instant::now();
    let cpu0 = thread_cpu();
    let n = 500u32;
    for _ in 0..n {
        let (mut w, mut e) = conns(psk.0.clone());
        w.ike_proposals = vec![hybrid.clone()];
        e.ike_proposals = vec![hybrid.clone()];
        let mut pair = Pair::new(w, e);
        pair.initiate();
        pair.flush();
        assert_eq!(Pair::children(&pair.east_events).len(), 1);
    }
    if let (Some(a), Some(b)) = (cpu0, thread_cpu()) {
        println!(
            "Curve25519 + ML-KEM-768 + AES-GCM-256 + PSK: {:.1} µs CPU per IKE SA + Child SA (both sides), {:.1} µs wall, {n} runs",
            (b - a).as_secs_f64() * 1e6 / f64::from(n),
            t0.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
    }
}
