//! ferroswan's daemon against strongSwan's charon (kernel-libipsec, so it
//! carries ESP in userspace), each in its own namespace: a ping through the
//! tunnel with ferroswan as initiator and as responder, for PSK with
//! AES-GCM-256/Curve25519 and with AES-CBC-256/HMAC-SHA2-256/MODP2048.
//!
//! Needs root and strongSwan (charon, swanctl); skipped with a message
//! elsewhere, a failure under CI=true.

mod common;

use std::time::Duration;

use common::{can_run, tcp_echo, wait_ping, Daemon};
use testkit::{wait_until, Charon, CharonConn, NetPair};

const PSK: &str = "interop secret 0123456789abcdef";

/// One proposal set in both spellings.
struct Suite {
    ike: &'static str,
    esp: &'static str,
    sw_ike: &'static str,
    sw_esp: &'static str,
    /// What ferroswan's progress line names.
    cipher: &'static str,
}

const GCM: Suite = Suite {
    ike: "aes_gcm256-sha2_256;dh31",
    esp: "aes_gcm256",
    sw_ike: "aes256gcm16-prfsha256-x25519",
    sw_esp: "aes256gcm16",
    cipher: "cipher=AES_GCM_16_256",
};

const CBC: Suite = Suite {
    ike: "aes256-sha2_256-modp2048",
    esp: "aes256-sha2_256",
    sw_ike: "aes256-sha256-modp2048",
    sw_esp: "aes256-sha256",
    cipher: "cipher=AES_CBC_256",
};

fn prerequisites(test: &str) -> bool {
    if !can_run(test) {
        return false;
    }
    if !Charon::available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: strongSwan (charon, swanctl) is not installed");
        }
        eprintln!("SKIPPED {test}: strongSwan (charon, swanctl) is not installed");
        return false;
    }
    true
}

/// ferroswan on west, charon on east.
fn setup(suite: &Suite) -> (NetPair, Daemon, Charon) {
    let net = NetPair::new().expect("namespaces");
    let conf = format!(
        "config setup\n\
         \tprotostack=userspace\n\
         \tlogtime=no\n\
         \n\
         conn sw\n\
         \tleft={}\n\
         \tleftid=west@test\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright={}\n\
         \trightid=east@test\n\
         \trightsubnet=10.2.0.0/16\n\
         \tauthby=secret\n\
         \tike={}\n\
         \tesp={}\n\
         \tauto=add\n",
        net.west_addr, net.east_addr, suite.ike, suite.esp
    );
    let west = Daemon::start(
        &net.west,
        &conf,
        &format!("west@test east@test : PSK \"{PSK}\"\n"),
    );
    let mut c = CharonConn::psk(
        "sw",
        &net.east_addr.to_string(),
        &net.west_addr.to_string(),
        "east@test",
        "west@test",
    );
    c.proposals = suite.sw_ike.to_string();
    c.esp_proposals = suite.sw_esp.to_string();
    c.local_ts = "10.2.0.0/16".to_string();
    c.remote_ts = "10.1.0.0/16".to_string();
    let east = Charon::start(&net.east, &[c], PSK).expect("charon");
    (net, west, east)
}

fn ferroswan_initiates(suite: &Suite) {
    let (net, west, east) = setup(suite);
    let out = west.auto(&["--up", "sw"], 0);
    assert!(out.contains(suite.cipher), "{out}");
    assert!(out.contains("established Child SA"), "{out}");
    // strongSwan fakes a NAT (kernel-libipsec): ESP-in-UDP on 4500.
    assert!(out.contains("{ESPinUDP"), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", east.list_sas(), west.log()));
    let sas = east.list_sas();
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}"
    );
    // A TCP transfer (west -> east 10.2.0.1:5001 and back) arrives intact.
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    assert!(
        tcp_echo(&net.west, &net.east, &data) == data,
        "TCP bytes differ"
    );
    // ferroswan counted the traffic.
    assert!(!west.trafficstatus().contains("inBytes=0,"));
    // --down deletes the SAs on strongSwan too.
    west.auto(&["--down", "sw"], 0);
    wait_until(Duration::from_secs(10), "strongSwan without SAs", || {
        !east.list_sas().contains("ESTABLISHED")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", east.list_sas()));
}

fn ferroswan_responds(suite: &Suite) {
    let (net, west, east) = setup(suite);
    east.swanctl(&["--initiate", "--child", "sw", "--timeout", "20"])
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", east.log(), west.log()));
    wait_until(Duration::from_secs(10), "ferroswan's Child SA", || {
        west.status().contains("STATE_V2_ESTABLISHED_CHILD_SA")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    wait_ping(&net.east, "10.2.0.1", "10.1.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", east.list_sas(), west.status()));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping from the ferroswan side");
    let s = west.status();
    assert!(s.contains("STATE_V2_ESTABLISHED_IKE_SA"), "{s}");
    // strongSwan deletes: ferroswan removes the SAs.
    east.swanctl(&["--terminate", "--ike", "sw", "--timeout", "10"])
        .expect("terminate");
    wait_until(Duration::from_secs(10), "ferroswan without SAs", || {
        west.status().contains("IPsec SAs: total(0)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.status()));
}

#[test]
fn strongswan_ferroswan_initiates_gcm_x25519() {
    if prerequisites("strongswan_ferroswan_initiates_gcm_x25519") {
        ferroswan_initiates(&GCM);
    }
}

#[test]
fn strongswan_ferroswan_initiates_cbc_sha256_modp2048() {
    if prerequisites("strongswan_ferroswan_initiates_cbc_sha256_modp2048") {
        ferroswan_initiates(&CBC);
    }
}

#[test]
fn strongswan_ferroswan_responds_gcm_x25519() {
    if prerequisites("strongswan_ferroswan_responds_gcm_x25519") {
        ferroswan_responds(&GCM);
    }
}

#[test]
fn strongswan_ferroswan_responds_cbc_sha256_modp2048() {
    if prerequisites("strongswan_ferroswan_responds_cbc_sha256_modp2048") {
        ferroswan_responds(&CBC);
    }
}
