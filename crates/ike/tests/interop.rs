//! Interoperability with strongSwan 5.9.8's charon and Libreswan 4.10's
//! pluto over real UDP in network namespaces (crates/ike/interop/*.sh).
//! strongSwan (also both sides' default proposals, where strongSwan's
//! INVALID_KE_PAYLOAD makes ferroswan retry with Curve25519): ferroswan as
//! initiator and responder, PSK with AES-GCM-256/Curve25519 and with
//! AES-CBC-256/HMAC-SHA2-256/MODP2048, plus Child SA and IKE SA rekeys and
//! delete both ways. strongSwan's log must show the SAs established.
//!
//! Needs root, iproute2 and strongSwan (see ../shared/reference/peers).
//! Elsewhere it is skipped with a message; under CI=true a missing
//! prerequisite is a failure.

use std::path::Path;
use std::process::Command;

fn prerequisites(files: &[&str]) -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".into());
    }
    for p in files {
        if !Path::new(p).exists() {
            return Err(format!(
                "{p} missing (see ../shared/reference/peers/install-peers.sh)"
            ));
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../../../shared/reference/peers/lib.sh");
    if !shared.exists() {
        return Err(format!("{} missing", shared.display()));
    }
    Ok(())
}

/// Runs `script` with `args`; expects `passes` PASS lines.
fn run_script(name: &str, files: &[&str], script: &str, args: &[&str], passes: usize) {
    if let Err(why) = prerequisites(files) {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} cannot run in CI: {why}");
        }
        eprintln!("SKIPPED {name}: {why}");
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join(script);
    // `cargo test -p ike` builds the examples before running the tests.
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../target"));
    let bin = target.join("debug/examples/udp_peer");
    assert!(
        bin.exists(),
        "{} missing: build it with `cargo build -p ike --examples`",
        bin.display()
    );
    let out = Command::new("timeout")
        .arg("600")
        .arg(&script)
        .args(args)
        .env("BIN", &bin)
        .output()
        .expect("run the interop script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "interop failed:\n{stdout}");
    assert_eq!(stdout.matches("PASS").count(), passes, "{stdout}");
}

#[test]
fn strongswan_interop() {
    run_script(
        "strongswan_interop",
        &["/usr/lib/ipsec/charon", "/usr/sbin/swanctl"],
        "interop/strongswan.sh",
        &["gcm", "cbc", "default"],
        12,
    );
}

/// Libreswan 4.10 (IKE SA only: this kernel has no ESP for its Child SA),
/// PSK, authby=null and raw RSA keys (RFC 7427 RSASSA-PSS), both roles.
#[test]
fn libreswan_interop() {
    run_script(
        "libreswan_interop",
        &["/opt/ph-libreswan/usr/libexec/ipsec/pluto"],
        "interop/libreswan.sh",
        &[],
        6,
    );
}
