//! The Libreswan harness works on this machine: strongSwan's charon in one
//! namespace and Libreswan's pluto in the other establish a childless IKE
//! SA (RFC 6023), with either side initiating. Libreswan cannot install
//! Child SAs on this kernel (no ESP in XFRM), so the IKE SA is the proof.
//! If this fails, every Libreswan interop test would fail for reasons that
//! are not ferroswan's.

use std::time::Duration;
use testkit::{
    skip_unless_root, wait_until, Charon, CharonConn, Libreswan, LibreswanConn, NetPair,
};

const PSK: &str = "libreswan-harness-psk-0123456789";

fn prerequisites(test: &str) -> bool {
    if skip_unless_root(test) {
        return false;
    }
    assert!(
        Charon::available(),
        "charon/swanctl not installed (scripts/install-deps)"
    );
    assert!(
        Libreswan::available(),
        "Libreswan not unpacked in {} (scripts/install-deps)",
        testkit::libreswan::libreswan_root().display()
    );
    true
}

/// charon in west (childless), pluto in east, connection "t" on both.
fn pair(lsw_args: &[&str]) -> (NetPair, Charon, Libreswan) {
    let net = NetPair::new().expect("namespaces");
    let (w, e) = (net.west_addr.to_string(), net.east_addr.to_string());
    let mut wc = CharonConn::psk("t", &w, &e, "west.example", "east.example");
    wc.proposals = "aes256gcm16-prfsha384-x25519".to_string();
    wc.childless = true;
    let charon = Charon::start(&net.west, &[wc], PSK).expect("west charon");
    let conn = LibreswanConn::psk("t", &e, &w, "@east.example", "@west.example");
    let pluto =
        Libreswan::start_with_args(&net.east, &[conn], &format!(": PSK \"{PSK}\"\n"), lsw_args)
            .expect("east pluto");
    (net, charon, pluto)
}

#[test]
fn strongswan_initiates_childless_ike_sa_to_libreswan() {
    if !prerequisites("strongswan_initiates_childless_ike_sa_to_libreswan") {
        return;
    }
    let (_net, charon, pluto) = pair(&[]);
    let status = pluto.status();
    assert!(status.contains("\"t\": 192.0.2.2"), "{status}");
    charon
        .swanctl(&["--initiate", "--ike", "t", "--timeout", "20"])
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", charon.log(), pluto.log()));
    wait_until(Duration::from_secs(10), "pluto's IKE SA", || {
        pluto.ike_sa_established("t")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", pluto.log()));
    let sas = charon.list_sas();
    assert!(sas.contains("ESTABLISHED"), "{sas}");
    let log = pluto.log();
    assert!(
        log.contains("responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@west.example'"),
        "{log}"
    );
    let status = pluto.status();
    println!("{status}");
    assert!(status.contains("STATE_V2_ESTABLISHED_IKE_SA"), "{status}");
    assert!(status.contains("IKE SAs: total(1)"), "{status}");

    // Libreswan tears it down and tells charon.
    let down = pluto.down("t").expect("ipsec auto --down");
    assert!(down.success(), "{}", down.text());
    wait_until(Duration::from_secs(10), "charon to drop the IKE SA", || {
        !charon.list_sas().contains("ESTABLISHED")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", charon.log()));
    assert!(!pluto.ike_sa_established("t"), "{}", pluto.showstates());
}

#[test]
fn libreswan_initiates_childless_ike_sa_to_strongswan() {
    if !prerequisites("libreswan_initiates_childless_ike_sa_to_strongswan") {
        return;
    }
    // Libreswan 4.10 has no childless option for an initiator; its test
    // impairment omits the Child SA payloads from IKE_AUTH.
    let (_net, charon, pluto) = pair(&["--impair", "omit-v2-ike-auth-child"]);
    let up = pluto.up("t").expect("ipsec auto --up");
    println!("{}", up.text());
    assert!(up.success(), "{}\n{}", up.text(), pluto.log());
    assert!(
        up.text().contains("initiator established IKE SA"),
        "{}",
        up.text()
    );
    assert!(pluto.ike_sa_established("t"), "{}", pluto.showstates());
    wait_until(Duration::from_secs(10), "charon's IKE SA", || {
        charon.list_sas().contains("ESTABLISHED")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", charon.log()));
    println!("{}", pluto.status());
}

#[test]
fn unknown_connection_reports_failure_exit_status() {
    if !prerequisites("unknown_connection_reports_failure_exit_status") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let pluto = Libreswan::start_psk(&net.east, &[], PSK).expect("pluto");
    let out = pluto.up("no-such-conn").expect("ipsec auto --up");
    assert!(!out.success(), "{}", out.text());
    let bad = pluto.auto(&["--bogus"]).expect("ipsec auto --bogus");
    assert_eq!(bad.code(), Some(2), "{}", bad.text());
    assert!(bad.stderr.contains("unknown option"), "{}", bad.text());
}
