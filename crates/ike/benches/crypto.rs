//! The cost of the expensive crypto operations of an IKE SA negotiation.
//! Run with `cargo bench -p ike --bench crypto`; prints microseconds per
//! operation (mean over a fixed number of iterations, after a warm-up):
//! the CPU time of the benchmark thread (from Linux's
//! /proc/thread-self/schedstat, so other load on the machine does not
//! count) and the wall-clock time.

use std::hint::black_box;
use std::time::Instant;

use ike::crypto::{
    EncrAlg, IkeSaKeys, KeGroup, KeyExchange, LegacyAuthMethod, PrfAlg, PrivateKey, Secret,
    SignatureScheme, SystemRandom,
};

/// Nanoseconds this thread has run on a CPU, if the kernel tells.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn measure(name: &str, iterations: u32, mut op: impl FnMut()) {
    for _ in 0..iterations.div_ceil(10) {
        op();
    }
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    let wall = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    let cpu = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!("{:>10.1}", (b - a) as f64 / 1e3 / f64::from(iterations)),
        _ => format!("{:>10}", "n/a"),
    };
    println!("{name:<52} {cpu} {wall:>10.1}");
}

/// One complete exchange: the initiator's key generation, the responder's
/// side (key generation and shared secret, or encapsulation) and the
/// initiator's shared secret.
fn exchange(group: KeGroup) {
    let mut rng = SystemRandom;
    let (initiator, ke_i) =
        KeyExchange::generate(group, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let (ke_r, shared_r) =
        KeyExchange::respond(group, &ke_i, &mut rng).unwrap_or_else(|e| panic!("{e}"));
    let shared_i = initiator.complete(&ke_r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shared_i, shared_r);
    black_box(shared_i);
}

fn main() {
    println!("ferroswan ike crypto benchmark (both sides of each exchange)");
    println!("{:<52} {:>10} {:>10}", "operation", "CPU us", "wall us");
    for (group, n) in [
        (KeGroup::Curve25519, 2000),
        (KeGroup::Ecp256, 1000),
        (KeGroup::Ecp384, 200),
        (KeGroup::MlKem768, 1000),
        (KeGroup::Modp2048, 50),
        (KeGroup::Modp3072, 20),
    ] {
        measure(&format!("key exchange {group}"), n, || exchange(group));
    }

    let rsa = PrivateKey::generate_rsa(2048).unwrap_or_else(|e| panic!("{e}"));
    let rsa_pub = rsa.public_key().unwrap_or_else(|e| panic!("{e}"));
    let data = vec![0x5au8; 600];
    for scheme in [
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPssSha256,
    ] {
        let sig = rsa.sign(scheme, &data).unwrap_or_else(|e| panic!("{e}"));
        measure(&format!("RSA-2048 sign {}", scheme.name()), 200, || {
            black_box(rsa.sign(scheme, &data).unwrap_or_else(|e| panic!("{e}")));
        });
        measure(&format!("RSA-2048 verify {}", scheme.name()), 2000, || {
            rsa_pub
                .verify(scheme, &data, &sig)
                .unwrap_or_else(|e| panic!("{e}"));
        });
    }
    measure(
        "RSA-2048 sign legacy method 1 (SHA-1, crypto-bigint)",
        20,
        || {
            black_box(
                rsa.sign_legacy(LegacyAuthMethod::Rsa, &data)
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        },
    );
    let ed = PrivateKey::generate(ike::crypto::KeyType::Ed25519).unwrap_or_else(|e| panic!("{e}"));
    measure("Ed25519 sign", 2000, || {
        black_box(
            ed.sign(SignatureScheme::Ed25519, &data)
                .unwrap_or_else(|e| panic!("{e}")),
        );
    });
    let ec =
        PrivateKey::generate(ike::crypto::KeyType::EcdsaP256).unwrap_or_else(|e| panic!("{e}"));
    measure("ECDSA P-256 sign", 2000, || {
        black_box(
            ec.sign(SignatureScheme::EcdsaSha256, &data)
                .unwrap_or_else(|e| panic!("{e}")),
        );
    });

    let shared = Secret::new(vec![7; 32]);
    measure(
        "IKE SA key schedule (HMAC-SHA2-256, AES-GCM-256)",
        5000,
        || {
            let keys = IkeSaKeys::derive(
                PrfAlg::HmacSha2_256,
                EncrAlg::AesGcm16_256,
                None,
                &shared,
                &[1; 32],
                &[2; 32],
                &[3; 8],
                &[4; 8],
            )
            .unwrap_or_else(|e| panic!("{e}"));
            black_box(keys);
        },
    );
    let keys = IkeSaKeys::derive(
        PrfAlg::HmacSha2_256,
        EncrAlg::AesGcm16_256,
        None,
        &shared,
        &[1; 32],
        &[2; 32],
        &[3; 8],
        &[4; 8],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cipher = keys.initiator_cipher().unwrap_or_else(|e| panic!("{e}"));
    let plain = vec![0u8; 1000];
    measure("SK encrypt + decrypt 1000 bytes AES-GCM-256", 5000, || {
        let body = cipher
            .encrypt(b"header", &plain, &mut SystemRandom)
            .unwrap_or_else(|e| panic!("{e}"));
        black_box(
            cipher
                .decrypt(b"header", &body)
                .unwrap_or_else(|e| panic!("{e}")),
        );
    });
}
