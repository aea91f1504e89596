//! TCP encapsulation of IKE and ESP (RFC 8229) between two ferroswan
//! daemons (userspace data plane), with nftables dropping every UDP
//! packet between the peers: `enable-tcp=yes` against `listen-tcp=yes`
//! carries IKE and ESP on TCP port 4500 only; `enable-tcp=fallback` moves
//! to TCP when UDP is blocked and stays on UDP otherwise; a responder that
//! does not listen on TCP makes `--up` fail quickly; garbage on the TCP
//! port closes that stream only.
//!
//! Needs root, nft and tcpdump; skipped with a message elsewhere.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::nat::have_nft;
use common::{can_run, tcp_echo, tun_config, wait_ping, Capture, Daemon};
use testkit::{NetPair, Netns};

const SECRETS: &str = "@west @east : PSK \"tcp test secret, not for production\"\n";

/// Drops every UDP packet in and out of `ns` (IKE on 500/4500 and
/// ESP-in-UDP cannot pass); raw ESP is dropped too.
fn block_udp(ns: &Netns) {
    let rules = "table inet ferroswan_tcp_test {\n\
        chain in { type filter hook input priority 0; meta l4proto { udp, esp } drop; }\n\
        chain out { type filter hook output priority 0; meta l4proto { udp, esp } drop; }\n\
        }\n";
    let mut c = ns.command("nft");
    c.args(["-f", "-"]).stdin(std::process::Stdio::piped());
    let mut child = c.spawn().expect("nft");
    if let Some(mut i) = child.stdin.take() {
        i.write_all(rules.as_bytes()).expect("nft rules");
    }
    assert!(child.wait().expect("nft").success(), "nft failed");
}

fn unblock_udp(ns: &Netns) {
    ns.exec_ok(&["nft", "delete", "table", "inet", "ferroswan_tcp_test"])
        .expect("nft delete");
}

fn ready(test: &str) -> bool {
    can_run(test) && have_nft(test)
}

/// 256 KiB with a marker that must never appear on the wire.
fn payload() -> (Vec<u8>, &'static [u8]) {
    let marker: &[u8] = b"FERROSWAN-TCP-CLEARTEXT-";
    let mut data = Vec::new();
    while data.len() < 256 * 1024 {
        data.extend_from_slice(marker);
        data.extend_from_slice(format!("{:08}", data.len()).as_bytes());
    }
    data.truncate(256 * 1024);
    (data, marker)
}

/// Average ping RTT in ms over `n` pings (`ping -q` summary).
fn ping_rtt(ns: &Netns, src: &str, dst: &str, n: u32) -> Option<f64> {
    let o = ns
        .exec(&[
            "ping",
            "-q",
            "-c",
            &n.to_string(),
            "-i",
            "0.05",
            "-I",
            src,
            dst,
        ])
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // rtt min/avg/max/mdev = 0.041/0.052/0.070/0.008 ms
    let stats = text.lines().find(|l| l.contains("min/avg/max"))?;
    let nums = stats.split('=').nth(1)?;
    nums.trim().split('/').nth(1)?.parse().ok()
}

/// Times a TCP echo of `data` through the tunnel; returns Mbit/s (both
/// directions counted once: the bytes go there and back).
fn transfer_rate(net: &NetPair, data: &[u8]) -> f64 {
    let t = Instant::now();
    let back = tcp_echo(&net.west, &net.east, data);
    let secs = t.elapsed().as_secs_f64();
    assert!(back == data, "the echoed bytes differ");
    (2 * data.len() * 8) as f64 / secs / 1e6
}

/// Every IP packet in a tcpdump decode is TCP with port 4500 on one side.
fn only_tcp_4500(text: &str) -> Result<(), String> {
    let mut seen = 0;
    for l in text.lines().filter(|l| l.contains(" IP ")) {
        seen += 1;
        let tcp = l.contains("Flags [");
        let port = l.contains(".4500 >") || l.contains(".4500:");
        if !tcp || !port || l.contains("UDP") || l.contains("ESP") {
            return Err(format!("not TCP port 4500: {l}\n{text}"));
        }
    }
    match seen {
        0 => Err(format!("nothing captured:\n{text}")),
        _ => Ok(()),
    }
}

#[test]
fn ike_and_esp_over_tcp_only() {
    if !ready("ike_and_esp_over_tcp_only") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    block_udp(&net.east);
    // The same connection on both sides (as users write it), east listens.
    let west = Daemon::start(&net.west, &tun_config("", "\tenable-tcp=yes\n"), SECRETS);
    let east = Daemon::start(
        &net.east,
        &tun_config("\tlisten-tcp=yes\n", "\tenable-tcp=yes\n"),
        SECRETS,
    );
    let cap = Capture::start(&net.east, &net.east_if);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("established Child SA"), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.log(), east.log()));
    wait_ping(&net.east, "10.2.0.1", "10.1.0.1").expect("ping east -> west");
    let (data, marker) = payload();
    let rate = transfer_rate(&net, &data);
    let rtt = ping_rtt(&net.west, "10.1.0.1", "10.2.0.1", 20);
    eprintln!("TCP encapsulation: ping RTT avg {rtt:?} ms, 256 KiB echo {rate:.1} Mbit/s");
    let (raw, text) = cap.stop();
    only_tcp_4500(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !raw.windows(marker.len()).any(|w| w == marker),
        "the inner cleartext appears on the veth"
    );
    for (side, d) in [("west", &west), ("east", &east)] {
        let s = d.status();
        assert!(
            s.contains(":4500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA)")
                && s.contains(" TCP;"),
            "{side}:\n{s}"
        );
        assert!(s.contains("STATE_V2_ESTABLISHED_CHILD_SA"), "{side}:\n{s}");
        let t = d.trafficstatus();
        assert!(!t.contains("inBytes=0,"), "{side} counted no traffic:\n{t}");
    }
    let s = west.status();
    assert!(s.contains("iketcp:yes; iketcp-port:4500;"), "{s}");
    // The responder rekeys the IKE SA and the Child SA: its requests go
    // back on the stream the initiator opened.
    for what in ["--rekey-ike", "--rekey-ipsec"] {
        let o = east.ipsec(&["whack", "--name", "tun", what]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    testkit::wait_until(Duration::from_secs(10), "the rekeyed SAs", || {
        let s = west.status();
        !s.contains("newest IKE SA: #1;")
            && s.contains("IKE SAs: total(1),")
            && s.contains("IPsec SAs: total(1),")
            && !s.contains("newest IPsec SA: #2;")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.status(), east.log()));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the rekeys");
    // --down deletes the SAs over the stream, then west closes it.
    assert_eq!(streams_4500(&net.west), 1);
    west.auto(&["--down", "tun"], 0);
    testkit::wait_until(Duration::from_secs(10), "the stream to close", || {
        streams_4500(&net.west) == 0
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    assert!(!east.status().contains("STATE_V2_ESTABLISHED_IKE_SA"));
}

/// Established TCP connections to or from port 4500 in `ns`.
fn streams_4500(ns: &Netns) -> usize {
    let o = ns
        .exec(&[
            "ss",
            "-Htn",
            "state",
            "established",
            "( sport = :4500 or dport = :4500 )",
        ])
        .expect("ss");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn fallback_uses_udp_when_it_works_and_tcp_when_it_is_blocked() {
    if !ready("fallback_uses_udp_when_it_works_and_tcp_when_it_is_blocked") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let west = Daemon::start(
        &net.west,
        &tun_config("", "\tenable-tcp=fallback\n"),
        SECRETS,
    );
    let east = Daemon::start(&net.east, &tun_config("\tlisten-tcp=yes\n", ""), SECRETS);
    // UDP open: IKE and ESP stay on UDP.
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("sent IKE_SA_INIT request to 192.0.2.2:500"),
        "{out}"
    );
    assert!(!out.contains("over TCP"), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping over UDP");
    let s = west.status();
    assert!(!s.contains(" TCP;"), "{s}");
    let (data, _) = payload();
    let udp_rate = transfer_rate(&net, &data);
    let udp_rtt = ping_rtt(&net.west, "10.1.0.1", "10.2.0.1", 20);
    west.auto(&["--down", "tun"], 0);

    // UDP blocked: the same --up moves to TCP.
    block_udp(&net.east);
    let t = Instant::now();
    let out = west.auto(&["--up", "tun"], 0);
    let took = t.elapsed();
    assert!(
        out.contains("no answer to IKE_SA_INIT over UDP; retrying over TCP"),
        "{out}"
    );
    assert!(out.contains("established Child SA"), "{out}");
    assert!(took < Duration::from_secs(15), "fallback took {took:?}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.log(), east.log()));
    let s = west.status();
    assert!(s.contains(" TCP;"), "{s}");
    let tcp_rate = transfer_rate(&net, &data);
    let tcp_rtt = ping_rtt(&net.west, "10.1.0.1", "10.2.0.1", 20);
    eprintln!(
        "UDP: ping RTT avg {udp_rtt:?} ms, 256 KiB echo {udp_rate:.1} Mbit/s; \
         TCP: ping RTT avg {tcp_rtt:?} ms, 256 KiB echo {tcp_rate:.1} Mbit/s"
    );
    // Allowed again, a new --up starts over UDP.
    west.auto(&["--down", "tun"], 0);
    unblock_udp(&net.east);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(!out.contains("over TCP"), "{out}");
}

#[test]
fn tcp_towards_a_peer_without_listen_tcp_fails_quickly() {
    if !ready("tcp_towards_a_peer_without_listen_tcp_fails_quickly") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let west = Daemon::start(&net.west, &tun_config("", "\tenable-tcp=yes\n"), SECRETS);
    let _east = Daemon::start(&net.east, &tun_config("", ""), SECRETS);
    let t = Instant::now();
    let out = west.auto(&["--up", "tun"], 56);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(
        out.contains("cannot open TCP to 192.0.2.2:4500") && out.contains("listen-tcp=yes"),
        "{out}"
    );
}

/// Opens a TCP connection to east's port 4500 from west, sends `bytes`
/// (then half-closes when `finish`), and says whether east closed the
/// stream within a few seconds.
fn east_closes(net: &NetPair, bytes: &[u8], finish: bool) -> bool {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<bool, String> {
            net.west.enter_current_thread()?;
            let addr = SocketAddr::from(([192, 0, 2, 2], 4500));
            let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            c.write_all(bytes).map_err(|e| e.to_string())?;
            if finish {
                c.shutdown(std::net::Shutdown::Write)
                    .map_err(|e| e.to_string())?;
            }
            let mut buf = [0u8; 64];
            Ok(match c.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            })
        })
        .join()
        .expect("client thread")
        .unwrap_or_else(|e| panic!("client: {e}"))
    })
}

#[test]
fn garbage_on_the_tcp_port_closes_that_stream_only() {
    if !ready("garbage_on_the_tcp_port_closes_that_stream_only") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    block_udp(&net.east);
    let west = Daemon::start(&net.west, &tun_config("", "\tenable-tcp=yes\n"), SECRETS);
    let east = Daemon::start(&net.east, &tun_config("\tlisten-tcp=yes\n", ""), SECRETS);
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping over TCP");
    // A wrong prefix.
    assert!(east_closes(&net, b"GET / HTTP/1.0\r\n\r\n", false));
    // The right prefix, then a length over the limit.
    assert!(east_closes(&net, b"IKETCP\xff\xff", false));
    // The right prefix, then a frame shorter than announced, then the end.
    let mut truncated = b"IKETCP\x01\x00".to_vec();
    truncated.extend_from_slice(&[0u8; 40]);
    assert!(east_closes(&net, &truncated, true));
    // A length shorter than the length field (RFC 8229: fatal).
    assert!(east_closes(&net, b"IKETCP\x00\x01", false));
    let log = east.log();
    assert!(
        log.contains("does not start with the IKETCP prefix"),
        "{log}"
    );
    assert!(log.contains("longer than the limit"), "{log}");
    assert!(log.contains("stream ended inside a frame"), "{log}");
    // The tunnel's own stream is untouched.
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the garbage");
    assert!(east.status().contains("STATE_V2_ESTABLISHED_CHILD_SA"));
}

#[test]
fn a_broken_stream_is_opened_again_by_the_initiator() {
    if !ready("a_broken_stream_is_opened_again_by_the_initiator") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    block_udp(&net.east);
    let west = Daemon::start(
        &net.west,
        &tun_config(
            "",
            "\tenable-tcp=yes\n\tdpddelay=1s\n\tretransmit-timeout=20s\n",
        ),
        SECRETS,
    );
    let east = Daemon::start(&net.east, &tun_config("\tlisten-tcp=yes\n", ""), SECRETS);
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping over TCP");
    // East answers west's next segment with a reset: west's stream breaks.
    let rst = "table inet ferroswan_tcp_rst {\n\
        chain in { type filter hook input priority -10; tcp dport 4500 reject with tcp reset; }\n\
        }\n";
    let mut c = net.east.command("nft");
    c.args(["-f", "-"]).stdin(std::process::Stdio::piped());
    let mut child = c.spawn().expect("nft");
    if let Some(mut i) = child.stdin.take() {
        i.write_all(rst.as_bytes()).expect("nft rules");
    }
    assert!(child.wait().expect("nft").success());
    testkit::wait_until(Duration::from_secs(20), "west's stream to break", || {
        let _ = common::ping_once(&net.west, "10.1.0.1", "10.2.0.1");
        west.log().contains("stream closed") || west.log().contains("closing the stream")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    net.east
        .exec_ok(&["nft", "delete", "table", "inet", "ferroswan_tcp_rst"])
        .expect("nft delete");
    // The next liveness check opens a new stream; traffic flows again.
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.log(), east.log()));
    wait_ping(&net.east, "10.2.0.1", "10.1.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.log(), east.log()));
    let connects = west.log().matches("connected from").count();
    assert!(connects >= 2, "{}", west.log());
    assert!(west.status().contains("STATE_V2_ESTABLISHED_CHILD_SA"));
}

#[test]
fn ike_and_esp_over_tcp_between_ipv6_addresses() {
    if !ready("ike_and_esp_over_tcp_between_ipv6_addresses") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    common::add_ipv6_outer_addresses(&net);
    block_udp(&net.east);
    let v6 = |c: String| {
        c.replace("\tleft=192.0.2.1\n", "\tleft=2001:db8:6::1\n")
            .replace("\tright=192.0.2.2\n", "\tright=2001:db8:6::2\n")
    };
    let west = Daemon::start(
        &net.west,
        &v6(tun_config("", "\tenable-tcp=yes\n")),
        SECRETS,
    );
    let east = Daemon::start(
        &net.east,
        &v6(tun_config("\tlisten-tcp=yes\n", "")),
        SECRETS,
    );
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("sent IKE_SA_INIT request to [2001:db8:6::2]:4500"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.log(), east.log()));
    assert!(east.status().contains(" TCP;"), "{}", east.status());
}

#[test]
fn tcp_remoteport_reaches_the_peer_on_another_port() {
    if !ready("tcp_remoteport_reaches_the_peer_on_another_port") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    block_udp(&net.east);
    // East listens on 4500; TCP to its port 443 is redirected there (as a
    // firewall in front of a responder would).
    let rules = "table ip ferroswan_tcp_redirect {\n\
        chain pre { type nat hook prerouting priority -100; tcp dport 443 redirect to :4500; }\n\
        }\n";
    let mut c = net.east.command("nft");
    c.args(["-f", "-"]).stdin(std::process::Stdio::piped());
    let mut child = c.spawn().expect("nft");
    if let Some(mut i) = child.stdin.take() {
        i.write_all(rules.as_bytes()).expect("nft rules");
    }
    assert!(child.wait().expect("nft").success());
    let west = Daemon::start(
        &net.west,
        &tun_config("", "\tenable-tcp=yes\n\ttcp-remoteport=443\n"),
        SECRETS,
    );
    let east = Daemon::start(&net.east, &tun_config("\tlisten-tcp=yes\n", ""), SECRETS);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("sent IKE_SA_INIT request to 192.0.2.2:443"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.log(), east.log()));
    assert!(west.log().contains("TCP 192.0.2.2:443: connected from"));
    assert!(west.status().contains("iketcp:yes; iketcp-port:443;"));
}
