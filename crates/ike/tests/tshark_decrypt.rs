//! An independent decoder agrees with ferroswan's wire format: two
//! ferroswan engines bring up an IKE SA and a Child SA over real UDP
//! between two namespaces while tcpdump captures the veth; the keys
//! `ike::keylog` writes become Wireshark's `ikev2_decryption_table` and
//! `esp_sa` tables in a private configuration directory, and tshark (Debian
//! 4.0) must decrypt IKE_AUTH, show the IDi/IDr/AUTH/SA/TSi/TSr payloads
//! inside and find the integrity checksum correct. Runs with AES-GCM-256
//! and with AES-CBC-256/HMAC-SHA2-256.
//!
//! Needs root, tcpdump and tshark (scripts/install-deps); elsewhere the
//! test is skipped with a message, and under CI=true that is a failure.

mod udp_engine;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg, Secret};
use ike::engine::{Authentication, Connection, EspProposal, Identity, IkeProposal};
use ike::wire::TrafficSelector;
use ike::{keylog, Event};
use testkit::{wait_until, NetPair, Netns, TempDir};
use udp_engine::UdpEngine;

const PSK: &str = "ferroswan-tshark-decrypt-psk-0123456789";
const WAIT: Duration = Duration::from_secs(20);

/// True (after saying why) when the test must be skipped.
fn skip(test: &str) -> bool {
    let why = if !testkit::is_root() {
        "needs root (network namespaces)"
    } else if !testkit::have_program("tshark") || !testkit::have_program("tcpdump") {
        "needs tshark and tcpdump (scripts/install-deps)"
    } else {
        return false;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run in CI: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    true
}

/// tcpdump writing a pcap of the IKE ports; killed on drop.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `ifname` in `ns` and waits until it listens.
    fn start(ns: &Netns, ifname: &str, file: &Path) -> Capture {
        let child = ns
            .command("tcpdump")
            .args(["-U", "-n", "-s0", "-Z", "root", "-i", ifname, "-w"])
            .arg(file)
            .arg("udp port 500 or udp port 4500")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        let mut cap = Capture {
            child,
            file: file.to_path_buf(),
        };
        let said = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = cap.child.stderr.take() {
            let said = said.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut s) = said.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let listening = wait_until(Duration::from_secs(10), "tcpdump listening", || {
            said.lock().is_ok_and(|s| s.contains("listening on"))
        });
        if let Err(e) = listening {
            panic!(
                "{e}; tcpdump said: {}",
                said.lock().map(|s| s.clone()).unwrap_or_default()
            );
        }
        cap
    }

    /// The number of packets in the pcap file so far.
    fn packets(&self) -> usize {
        let Ok(data) = std::fs::read(&self.file) else {
            return 0;
        };
        // 24-byte file header, then per packet a 16-byte record header
        // whose bytes 8..12 are the captured length (host byte order).
        let mut at = 24;
        let mut n = 0;
        while let Some(len) = data.get(at + 8..at + 12) {
            let len = u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if data.len() < at + 16 + len {
                break;
            }
            at += 16 + len;
            n += 1;
        }
        n
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One side's connection.
fn connection(net: &NetPair, west: bool, ike: IkeProposal, esp: EspProposal) -> Connection {
    let (me, peer) = if west {
        (net.west_addr, net.east_addr)
    } else {
        (net.east_addr, net.west_addr)
    };
    let (my_inner, peer_inner) = if west {
        (net.west_inner, net.east_inner)
    } else {
        (net.east_inner, net.west_inner)
    };
    let (my_id, peer_id) = if west {
        ("west.example", "east.example")
    } else {
        ("east.example", "west.example")
    };
    let mut c = Connection::new(
        "tshark",
        SocketAddr::new(IpAddr::V4(me), 500),
        Some(SocketAddr::new(IpAddr::V4(peer), 500)),
        Authentication::Psk(Secret::from_slice(PSK.as_bytes())),
    );
    c.local_id = Some(Identity::Fqdn(my_id.into()));
    c.remote_id = Some(Identity::Fqdn(peer_id.into()));
    c.local_ts = vec![TrafficSelector::from_prefix(IpAddr::V4(my_inner), 32)];
    c.remote_ts = vec![TrafficSelector::from_prefix(IpAddr::V4(peer_inner), 32)];
    c.ike_proposals = vec![ike];
    c.esp_proposals = vec![esp];
    c
}

/// Brings an IKE SA + Child SA up under capture, writes the key tables
/// with `ike::keylog`, and returns tshark's verbose decode.
fn negotiate_and_decode(ike: IkeProposal, esp: EspProposal) -> String {
    let net = NetPair::new().expect("namespaces");
    let dir = TempDir::new("tshark").expect("temp dir");
    let pcap = dir.path().join("ike.pcap");
    let capture = Capture::start(&net.east, &net.east_if, &pcap);

    let west_conn = connection(&net, true, ike.clone(), esp.clone());
    let east_conn = connection(&net, false, ike, esp);
    let (east, _) =
        UdpEngine::start(&net.east, IpAddr::V4(net.east_addr), vec![east_conn]).expect("east");
    let (west, ids) =
        UdpEngine::start(&net.west, IpAddr::V4(net.west_addr), vec![west_conn]).expect("west");
    let conn = *ids.first().expect("one connection");
    let sa = west
        .run(move |e, now| e.initiate(now, conn))
        .expect("engine command")
        .expect("initiate");
    let logs = || format!("---- west:\n{}\n---- east:\n{}", west.log(), east.log());
    let child = match west.wait_event(WAIT, "west's ChildSaUp", |e| {
        matches!(e, Event::ChildSaUp(_))
    }) {
        Ok(Event::ChildSaUp(info)) => info,
        other => panic!("{other:?}\n{}", logs()),
    };
    east.wait_event(WAIT, "east's ChildSaUp", |e| {
        matches!(e, Event::ChildSaUp(_))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs()));

    // IKE_SA_INIT and IKE_AUTH, request and response each.
    wait_until(Duration::from_secs(10), "4 packets in the capture", || {
        capture.packets() >= 4
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    drop(capture);

    let keys = west
        .run(move |e, _| e.ike_sa_keylog(sa))
        .expect("engine command")
        .expect("the IKE SA's keys");
    let ws = dir.path().join("wireshark");
    std::fs::create_dir_all(&ws).expect("wireshark config dir");
    let ike_line = keylog::ikev2_line(&keys).expect("ikev2_decryption_table line");
    std::fs::write(ws.join("ikev2_decryption_table"), ike_line.as_bytes()).expect("write UAT");
    let esp_lines = keylog::esp_sa_lines(&child).expect("esp_sa lines");
    std::fs::write(ws.join("esp_sa"), esp_lines.as_bytes()).expect("write UAT");

    let out = std::process::Command::new("tshark")
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["-o", "esp.enable_encryption_decode:TRUE", "-n", "-V", "-r"])
        .arg(&pcap)
        .output()
        .expect("run tshark");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    // A malformed table makes tshark complain about the UAT file.
    assert!(
        !stderr.contains("ikev2_decryption_table") && !stderr.contains("esp_sa"),
        "tshark rejected a key table: {stderr}"
    );
    stdout
}

/// What must hold of the decode of a successful IKE_AUTH exchange.
fn assert_decrypted(decode: &str, cipher: &str) {
    let count = |s: &str| decode.matches(s).count();
    let ctx = || {
        // The part after IKE_SA_INIT, for the failure message.
        decode
            .find("Exchange type: IKE_AUTH")
            .and_then(|i| decode.get(i..))
            .unwrap_or(decode)
            .to_string()
    };
    assert_eq!(count("Exchange type: IKE_AUTH (35)"), 2, "{}", ctx());
    assert_eq!(count(&format!("<{cipher}>")), 2, "{}", ctx());
    assert_eq!(count("Decrypted Data ("), 2, "{}", ctx());
    for payload in [
        "Payload: Identification - Initiator (35)",
        "Payload: Identification - Responder (36)",
        "Payload: Authentication (39)",
        "Payload: Security Association (33)",
        "Payload: Traffic Selector - Initiator (44)",
        "Payload: Traffic Selector - Responder (45)",
    ] {
        assert!(count(payload) >= 1, "no {payload} in:\n{}", ctx());
    }
    let checks: Vec<&str> = decode
        .lines()
        .filter(|l| l.contains("Integrity Checksum Data"))
        .collect();
    assert_eq!(checks.len(), 2, "{}", ctx());
    assert!(
        checks.iter().all(|l| l.trim_end().ends_with("[correct]")),
        "{checks:?}"
    );
    // The east identity travels in clear only inside SK.
    assert!(decode.contains("east.example"), "{}", ctx());
}

#[test]
fn tshark_decrypts_ike_auth_aes_gcm_256() {
    if skip("tshark_decrypts_ike_auth_aes_gcm_256") {
        return;
    }
    let decode = negotiate_and_decode(
        IkeProposal {
            encr: vec![EncrAlg::AesGcm16_256],
            prf: vec![PrfAlg::HmacSha2_384],
            integ: vec![],
            ke: vec![KeGroup::Curve25519],
            addke: vec![],
        },
        EspProposal {
            encr: vec![EncrAlg::AesGcm16_256],
            integ: vec![],
            ke: vec![],
        },
    );
    assert_decrypted(&decode, "AES-GCM-256 with 16 octet ICV [RFC5282]");
}

#[test]
fn tshark_decrypts_ike_auth_aes_cbc_256_sha2_256() {
    if skip("tshark_decrypts_ike_auth_aes_cbc_256_sha2_256") {
        return;
    }
    let decode = negotiate_and_decode(
        IkeProposal {
            encr: vec![EncrAlg::AesCbc256],
            prf: vec![PrfAlg::HmacSha2_256],
            integ: vec![IntegAlg::HmacSha2_256_128],
            ke: vec![KeGroup::Modp2048],
            addke: vec![],
        },
        EspProposal {
            encr: vec![EncrAlg::AesCbc256],
            integ: vec![IntegAlg::HmacSha2_256_128],
            ke: vec![],
        },
    );
    assert_decrypted(&decode, "AES-CBC-256 [RFC3602]");
}
