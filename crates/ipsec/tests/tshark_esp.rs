//! An independent decoder agrees with ferroswan's ESP: two daemons with
//! `ipsec pluto --keylog-dir DIR` bring a tunnel up, tcpdump captures the
//! outer traffic while pings cross it, and tshark (Wireshark's own ESP
//! code) decrypts the capture with the `esp_sa` table west wrote: it must
//! show the inner ICMP echo requests and replies with the inner addresses,
//! and every ICV it checks must be correct. Raw ESP and ESP-in-UDP
//! (`encapsulation=yes`), AES-GCM-256 and AES-CBC-256 + HMAC-SHA2-256.
//!
//! `esn=no`: Wireshark 4.0's ESP table has no ESN field, so with ESN it
//! would decrypt but call every ICV wrong (docs/keylog.md).
//!
//! Needs root, tcpdump and tshark (Debian packages); skipped with a
//! message without root.

mod common;

use std::ffi::OsStr;
use std::process::Command;

use common::{can_run, wait_ping, Capture, Daemon};
use testkit::{NetPair, TempDir};

const SECRETS: &str = "@west @east : PSK \"tshark esp test secret, not for production\"\n";

fn conf(esp: &str, encapsulation: &str) -> String {
    format!(
        "config setup\n\
         \tprotostack=userspace\n\
         \tlogtime=no\n\
         \n\
         conn tun\n\
         \tleft=192.0.2.1\n\
         \tleftid=@west\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright=192.0.2.2\n\
         \trightid=@east\n\
         \trightsubnet=10.2.0.0/16\n\
         \tauthby=secret\n\
         \tesp={esp}\n\
         \tesn=no\n\
         \tencapsulation={encapsulation}\n\
         \tauto=add\n"
    )
}

/// One packet as tshark decoded it: the inner addresses, the ICMP type
/// and the ICV verdicts tshark reported.
#[derive(Debug)]
struct Decoded {
    line: String,
}

impl Decoded {
    fn field(&self, i: usize) -> &str {
        self.line.split('\t').nth(i).unwrap_or("")
    }
}

/// Runs the whole case: tunnel up, capture while pinging, tshark decrypts.
fn esp_decrypts(esp: &str, encapsulation: &str, wire: &str, esp_name: &str) {
    let net = NetPair::new().expect("namespaces");
    let ws = TempDir::new("wsconf").expect("temporary directory");
    // Wireshark reads $XDG_CONFIG_HOME/wireshark/esp_sa.
    let keylog = ws.path().join("wireshark");
    let conf = conf(esp, encapsulation);
    let west = Daemon::start_args(
        &net.west,
        &conf,
        SECRETS,
        &[],
        &[OsStr::new("--keylog-dir"), keylog.as_os_str()],
    );
    let _east = Daemon::start(&net.east, &conf, SECRETS);

    let cap = Capture::start(&net.east, &net.east_if);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("established Child SA"), "{out}");
    assert!(out.contains(esp_name), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    let ping = net
        .west
        .command("ping")
        .args([
            "-c", "3", "-i", "0.2", "-W", "2", "-I", "10.1.0.1", "10.2.0.1",
        ])
        .output()
        .expect("run ping");
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    cap.wait_for(&[wire]).expect("ESP on the wire");
    let pcap = ws.path().join("outer.pcap");
    let (raw, text) = cap.stop();
    std::fs::write(&pcap, raw).expect("write pcap");
    assert!(
        !text.contains("10.1.0.1") && !text.contains("ICMP echo"),
        "cleartext on the wire:\n{text}"
    );

    let table = std::fs::read_to_string(keylog.join("esp_sa")).expect("west wrote esp_sa");
    assert_eq!(table.lines().count(), 2, "one line per direction");

    let out = Command::new("tshark")
        .env("XDG_CONFIG_HOME", ws.path())
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-o",
            "esp.enable_encryption_decode:TRUE",
            "-o",
            "esp.enable_authentication_check:TRUE",
            "-Y",
            "esp",
            "-T",
            "fields",
            "-E",
            "occurrence=l",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "icmp.type",
            "-e",
            "esp.icv_good",
            "-e",
            "esp.icv_bad",
            "-e",
            "esp.pad_len",
        ])
        .output()
        .expect("tshark (Debian package tshark) runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packets: Vec<Decoded> = stdout
        .lines()
        .map(|l| Decoded {
            line: l.to_string(),
        })
        .collect();
    let requests = packets
        .iter()
        .filter(|p| p.field(0) == "10.1.0.1" && p.field(1) == "10.2.0.1" && p.field(2) == "8")
        .count();
    let replies = packets
        .iter()
        .filter(|p| p.field(0) == "10.2.0.1" && p.field(1) == "10.1.0.1" && p.field(2) == "0")
        .count();
    assert!(
        requests >= 3 && replies >= 3,
        "tshark decrypted {requests} echo requests and {replies} replies:\n{stdout}\nwire:\n{text}"
    );
    // Every ESP packet's ICV was checked, and found correct.
    let checked = packets.iter().filter(|p| p.field(3) == "1").count();
    assert!(
        packets
            .iter()
            .all(|p| p.field(3) == "1" && p.field(4) != "1"),
        "ICV not verified on every packet ({checked} of {}):\n{stdout}",
        packets.len()
    );
}

#[test]
fn raw_esp_aes_gcm_decrypts_in_tshark() {
    if !can_run("raw_esp_aes_gcm_decrypts_in_tshark") {
        return;
    }
    esp_decrypts("aes_gcm256", "no", "ESP(spi=0x", "AES_GCM_16_256");
}

#[test]
fn raw_esp_aes_cbc_sha256_decrypts_in_tshark() {
    if !can_run("raw_esp_aes_cbc_sha256_decrypts_in_tshark") {
        return;
    }
    esp_decrypts("aes256-sha2_256", "no", "ESP(spi=0x", "AES_CBC_256");
}

#[test]
fn esp_in_udp_aes_gcm_decrypts_in_tshark() {
    if !can_run("esp_in_udp_aes_gcm_decrypts_in_tshark") {
        return;
    }
    esp_decrypts(
        "aes_gcm256",
        "yes",
        "UDP-encap: ESP(spi=0x",
        "AES_GCM_16_256",
    );
}

#[test]
fn esp_in_udp_aes_cbc_sha256_decrypts_in_tshark() {
    if !can_run("esp_in_udp_aes_cbc_sha256_decrypts_in_tshark") {
        return;
    }
    esp_decrypts(
        "aes256-sha2_256",
        "yes",
        "UDP-encap: ESP(spi=0x",
        "AES_CBC_256",
    );
}
