//! The userspace data plane proven in network namespaces, without IKE: two
//! namespaces joined by a veth, one data plane in each with mirrored static
//! SAs, traffic through the tunnel, and tcpdump on the veth showing ESP only.
//!
//! Needs root, `ip`, `ping` and `tcpdump`; without root each test says so and skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dataplane::{
    enter_netns, Encapsulation, Kernel, KernelEvent, Mode, Policy, PolicyAction, PolicyId, SaId,
    SaPair, UdpSource, Userspace, UserspaceConfig,
};
use esp::{AesKeySize, Lifetime, SaKeys, SaParams, Transform};

const MARKER: &[u8] = b"FERROSWAN-CLEARTEXT-MARKER-0123456789|";
const STATIC_BIN: &str = env!("CARGO_BIN_EXE_ferroswan-dataplane-static");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: this test needs root (network namespaces, TUN)");
            return;
        }
    };
}

fn run(cmd: &[&str]) {
    let out = Command::new(cmd[0]).args(&cmd[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth (192.0.2.1 west, 192.0.2.2 east); removed on drop
/// together with every process started in them.
struct Pair {
    west: String,
    east: String,
    veth_west: String,
    children: Vec<Child>,
    files: Vec<PathBuf>,
    /// Tunnel endpoints on 2001:db8::1/2 instead of 192.0.2.1/2.
    outer_v6: bool,
}

impl Pair {
    fn new() -> Pair {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{}", std::process::id() % 100_000, n);
        let p = Pair {
            west: format!("fsw{tag}"),
            east: format!("fse{tag}"),
            veth_west: format!("vw{tag}"),
            children: Vec::new(),
            files: Vec::new(),
            outer_v6: false,
        };
        let veth_east = format!("ve{tag}");
        run(&["ip", "netns", "add", &p.west]);
        run(&["ip", "netns", "add", &p.east]);
        run(&[
            "ip",
            "link",
            "add",
            &p.veth_west,
            "netns",
            &p.west,
            "type",
            "veth",
            "peer",
            "name",
            &veth_east,
            "netns",
            &p.east,
        ]);
        for (ns, dev, addr) in [
            (&p.west, &p.veth_west, "192.0.2.1/24"),
            (&p.east, &veth_east, "192.0.2.2/24"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            let v6 = if addr.starts_with("192.0.2.1") {
                "2001:db8::1/64"
            } else {
                "2001:db8::2/64"
            };
            run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // The veth pair comes up asynchronously: until it carries packets,
        // the first ones sent into a tunnel wait or are lost, and a test's
        // first ping would be late. Wait (bounded) until a plain ping
        // crosses it, which also resolves the peer's link-layer address.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !p
            .exec(&p.west, &["ping", "-c1", "-W1", "192.0.2.2"])
            .status
            .success()
        {
            assert!(Instant::now() < deadline, "the veth pair never came up");
        }
        p
    }

    fn spawn(&mut self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// Starts a static-tunnel data plane; waits (bounded) for it to say `ready`.
    fn start_dataplane(&mut self, west: bool, extra: &[&str]) -> (usize, mpsc::Receiver<String>) {
        let k1 = "11".repeat(36);
        let k2 = "22".repeat(36);
        let (ns, args) = if west {
            (
                self.west.clone(),
                vec![
                    "--tun",
                    "fsw0",
                    "--tun-addr",
                    "10.1.0.1/32",
                    "--local",
                    "192.0.2.1",
                    "--remote",
                    "192.0.2.2",
                    "--local-net",
                    "10.1.0.0/16",
                    "--remote-net",
                    "10.2.0.0/16",
                    "--spi-in",
                    "1001",
                    "--spi-out",
                    "2002",
                    "--key-in",
                    &k2,
                    "--key-out",
                    &k1,
                ]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            )
        } else {
            (
                self.east.clone(),
                vec![
                    "--tun",
                    "fse0",
                    "--tun-addr",
                    "10.2.0.1/32",
                    "--local",
                    "192.0.2.2",
                    "--remote",
                    "192.0.2.1",
                    "--local-net",
                    "10.2.0.0/16",
                    "--remote-net",
                    "10.1.0.0/16",
                    "--spi-in",
                    "2002",
                    "--spi-out",
                    "1001",
                    "--key-in",
                    &k1,
                    "--key-out",
                    &k2,
                ]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            )
        };
        let mut args = args;
        if self.outer_v6 {
            for a in args.iter_mut() {
                if a == "192.0.2.1" {
                    *a = "2001:db8::1".into();
                } else if a == "192.0.2.2" {
                    *a = "2001:db8::2".into();
                }
            }
        }
        let mut all: Vec<&str> = vec![STATIC_BIN];
        all.extend(args.iter().map(String::as_str));
        all.extend_from_slice(extra);
        let i = self.spawn(&ns, &all);
        let lines = line_channel(self.children[i].stdout.take().unwrap());
        let first = lines.recv_timeout(Duration::from_secs(20));
        if first.as_ref().map(|l| l.starts_with("ready")) != Ok(true) {
            let mut err = String::new();
            if let Some(mut e) = self.children[i].stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("data plane did not start: {first:?} {err}");
        }
        (i, lines)
    }

    /// Starts tcpdump on the west veth writing to a file; waits until it listens.
    fn start_capture(&mut self) -> (usize, PathBuf) {
        let file = std::env::temp_dir().join(format!("{}.pcap", self.west));
        self.files.push(file.clone());
        let f = file.to_string_lossy().into_owned();
        let i = self.spawn(
            &self.west.clone(),
            &[
                "tcpdump",
                "-i",
                &self.veth_west.clone(),
                "-U",
                "-n",
                "-w",
                &f,
            ],
        );
        let lines = line_channel(self.children[i].stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) if l.contains("listening on") => break,
                Ok(_) => continue,
                Err(e) => panic!("tcpdump did not start: {e}"),
            }
        }
        (i, file)
    }

    /// Ends a child by closing its stdin (data planes) or SIGTERM (tcpdump), bounded.
    fn stop(&mut self, i: usize, terminate: bool) {
        let child = &mut self.children[i];
        drop(child.stdin.take());
        if terminate {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn exec(&self, ns: &str, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .output()
            .unwrap()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for c in &mut self.children {
            drop(c.stdin.take());
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.west])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.east])
            .status();
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn line_channel(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    rx
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut i = 0u32;
    while v.len() < len {
        v.extend_from_slice(MARKER);
        v.extend_from_slice(&i.to_be_bytes());
        v.push(salt);
        i += 1;
    }
    v.truncate(len);
    v
}

/// `recv_from` that goes on after a signal (a socket read timeout makes
/// Linux return EINTR instead of restarting the call).
fn recv_from_retrying(sock: &std::net::UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    loop {
        match sock.recv_from(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r.unwrap(),
        }
    }
}

/// A TCP transfer through the tunnel: west sends `up` bytes to east, east checks
/// them and sends `down` bytes back, west checks those.
fn tcp_transfer(west: &str, east: &str, up: usize, down: usize) {
    tcp_transfer_between(west, east, "10.1.0.1", "10.2.0.1", up, down);
}

/// [`tcp_transfer`] between given addresses (client `client_ip`, server `server_ip`).
fn tcp_transfer_between(
    west: &str,
    east: &str,
    client_ip: &str,
    server_ip: &str,
    up: usize,
    down: usize,
) {
    let server_addr: SocketAddr = format!("{server_ip}:5001").parse().unwrap();
    let client_ip: IpAddr = client_ip.parse().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let east = east.to_string();
    let server = std::thread::spawn(move || {
        enter_netns(&east).unwrap();
        let l = TcpListener::bind(server_addr).unwrap();
        ready_tx.send(()).unwrap();
        let (mut s, peer) = l.accept().unwrap();
        assert_eq!(peer.ip(), client_ip);
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), up, "bytes west -> east");
        assert!(got == pattern(up, 1), "west -> east data corrupted");
        s.write_all(&pattern(down, 2)).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let west = west.to_string();
    let client = std::thread::spawn(move || {
        enter_netns(&west).unwrap();
        let mut s = TcpStream::connect_timeout(&server_addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(&pattern(up, 1)).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), down, "bytes east -> west");
        assert!(got == pattern(down, 2), "east -> west data corrupted");
    });
    client.join().unwrap();
    server.join().unwrap();
}

fn tcpdump_count(file: &std::path::Path, filter: &str) -> usize {
    let out = Command::new("tcpdump")
        .args(["-r", &file.to_string_lossy(), "-n"])
        .args(filter.split_whitespace())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn counters_line(lines: &mpsc::Receiver<String>) -> String {
    lines
        .recv_timeout(Duration::from_secs(10))
        .expect("data plane printed its counters")
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| {
            kv.strip_prefix(&format!("{name}="))
                .map(|v| v.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{name} in {line}"))
}

/// One ESP SA as Wireshark's `esp_sa` table describes it.
struct WiresharkSa {
    src: &'static str,
    dst: &'static str,
    spi: u32,
    encryption: &'static str,
    key: String,
    authentication: &'static str,
    auth_key: String,
}

/// Decodes `pcap` with tshark (an independent ESP implementation) using
/// `sas`; returns the summary lines of the ICMP packets it decrypted.
fn tshark_icmp(pcap: &std::path::Path, sas: &[WiresharkSa]) -> Vec<String> {
    let conf = pcap.with_extension("wsconf");
    std::fs::create_dir_all(conf.join("wireshark")).unwrap();
    let mut table = String::new();
    for sa in sas {
        let proto = if sa.src.contains(':') { "IPv6" } else { "IPv4" };
        let auth_key = if sa.auth_key.is_empty() {
            String::new()
        } else {
            format!("0x{}", sa.auth_key)
        };
        table.push_str(&format!(
            "\"{proto}\",\"{}\",\"{}\",\"0x{:08x}\",\"{}\",\"0x{}\",\"{}\",\"{auth_key}\"\n",
            sa.src, sa.dst, sa.spi, sa.encryption, sa.key, sa.authentication
        ));
    }
    std::fs::write(conf.join("wireshark/esp_sa"), table).unwrap();
    let out = Command::new("tshark")
        .env("XDG_CONFIG_HOME", &conf)
        .args([
            "-r",
            &pcap.to_string_lossy(),
            "-n",
            "-o",
            "esp.enable_encryption_decode:TRUE",
            "-Y",
            "icmp",
        ])
        .output();
    let _ = std::fs::remove_dir_all(&conf);
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(String::from)
            .collect(),
        Err(e) => panic!("tshark (Debian package tshark) is needed: {e}"),
    }
}

fn tunnel_carries_traffic(extra: &[&str], wire_filter: &str) -> (Pair, PathBuf) {
    tunnel_pair_traffic(Pair::new(), extra, wire_filter)
}

fn tunnel_pair_traffic(mut p: Pair, extra: &[&str], wire_filter: &str) -> (Pair, PathBuf) {
    let (cap, pcap) = p.start_capture();
    let (w, wlines) = p.start_dataplane(true, extra);
    let (e, elines) = p.start_dataplane(false, extra);

    let ping = p.exec(
        &p.west,
        &[
            "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "10.1.0.1", "10.2.0.1",
        ],
    );
    assert!(
        ping.status.success(),
        "ping through the tunnel: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    tcp_transfer(&p.west, &p.east, 3 << 20, 1 << 20);

    p.stop(w, false);
    p.stop(e, false);
    p.stop(cap, true);
    let wc = counters_line(&wlines);
    let ec = counters_line(&elines);
    // Every byte went through ESP: at least the TCP payload each way.
    assert!(field(&wc, "out_bytes") > 3 << 20, "{wc}");
    assert!(field(&ec, "out_bytes") > 1 << 20, "{ec}");
    assert!(field(&wc, "in_packets") > 0 && field(&ec, "in_packets") > 0);
    assert_eq!(field(&ec, "auth_errors"), 0, "{ec}");
    assert_eq!(field(&wc, "auth_errors"), 0, "{wc}");

    // The wire carries ESP (in UDP) and never the inner packets or the cleartext.
    // (With UDP GSO the capture sees super-packets of up to 64 ESP datagrams.)
    let esp = tcpdump_count(&pcap, wire_filter);
    assert!(esp > 50, "only {esp} ESP packets on the veth");
    assert_eq!(
        tcpdump_count(&pcap, "net 10.0.0.0/8"),
        0,
        "inner addresses on the wire"
    );
    assert_eq!(
        tcpdump_count(&pcap, "icmp or tcp"),
        0,
        "cleartext ICMP/TCP on the wire"
    );
    let raw = std::fs::read(&pcap).unwrap();
    assert!(
        !contains(&raw, MARKER),
        "the cleartext marker appears on the wire"
    );
    (p, pcap)
}

/// The ping requests and replies of a capture, decrypted by tshark.
fn assert_tshark_sees_pings(pcap: &std::path::Path, sas: &[WiresharkSa]) {
    let lines = tshark_icmp(pcap, sas);
    let requests = lines
        .iter()
        .filter(|l| l.contains("10.1.0.1 → 10.2.0.1") && l.contains("Echo (ping) request"))
        .count();
    let replies = lines
        .iter()
        .filter(|l| l.contains("10.2.0.1 → 10.1.0.1") && l.contains("Echo (ping) reply"))
        .count();
    assert!(
        requests >= 3 && replies >= 3,
        "tshark decrypted {requests} requests and {replies} replies: {lines:?}"
    );
}

#[test]
fn esp_in_udp_tunnel_carries_ping_and_tcp() {
    require_root!();
    let (_p, pcap) = tunnel_carries_traffic(&[], "udp port 4500");
    let gcm = |src, dst, spi, key: &str| WiresharkSa {
        src,
        dst,
        spi,
        encryption: "AES-GCM with 16 octet ICV [RFC4106]",
        key: key.repeat(36),
        authentication: "NULL",
        auth_key: String::new(),
    };
    assert_tshark_sees_pings(
        &pcap,
        &[
            gcm("192.0.2.1", "192.0.2.2", 0x2002, "11"),
            gcm("192.0.2.2", "192.0.2.1", 0x1001, "22"),
        ],
    );
}

#[test]
fn esp_in_udp_over_ipv6_carries_ping_and_tcp() {
    require_root!();
    let mut p = Pair::new();
    p.outer_v6 = true;
    tunnel_pair_traffic(
        p,
        &[
            "--cipher",
            "aes-gcm-128",
            "--key-in",
            &"55".repeat(20),
            "--key-out",
            &"55".repeat(20),
        ],
        "ip6 and udp port 4500",
    );
}

#[test]
fn raw_esp_tunnel_carries_ping_and_tcp() {
    require_root!();
    tunnel_carries_traffic(
        &["--raw", "--cipher", "chacha20-poly1305", "--no-offload"],
        "ip proto 50",
    );
}

#[test]
fn cbc_sha256_tunnel_with_esn_carries_ping_and_tcp() {
    require_root!();
    let ik = "33".repeat(32);
    let (_p, pcap) = tunnel_carries_traffic(
        &[
            "--cipher",
            "aes-cbc-256-sha256",
            "--key-in",
            &"44".repeat(32),
            "--key-out",
            &"44".repeat(32),
            "--integ-in",
            &ik,
            "--integ-out",
            &ik,
            "--esn",
        ],
        "udp port 4500",
    );
    let cbc = |src, dst, spi| WiresharkSa {
        src,
        dst,
        spi,
        encryption: "AES-CBC [RFC3602]",
        key: "44".repeat(32),
        authentication: "HMAC-SHA-256-128 [RFC4868]",
        auth_key: "33".repeat(32),
    };
    assert_tshark_sees_pings(
        &pcap,
        &[
            cbc("192.0.2.1", "192.0.2.2", 0x2002),
            cbc("192.0.2.2", "192.0.2.1", 0x1001),
        ],
    );
}

/// A tunnel-mode SA pair carried in ESP-in-UDP (port 4500 both ends)
/// between `local` and `remote`, for traffic between the selectors.
fn udp_tunnel_pair(
    id: u64,
    outbound: SaParams,
    inbound: SaParams,
    (local, remote): (&str, &str),
    local_ts: dataplane::Selector,
    remote_ts: dataplane::Selector,
) -> SaPair {
    SaPair {
        id: SaId(id),
        outbound,
        inbound,
        mode: Mode::Tunnel,
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        encapsulation: Encapsulation::Udp {
            local_port: 4500,
            remote_port: 4500,
        },
        local_ts: vec![local_ts],
        remote_ts: vec![remote_ts],
    }
}

/// The selector of subnet `net`.
fn sel(net: &str) -> dataplane::Selector {
    dataplane::Selector::from(net.parse::<dataplane::IpNet>().unwrap())
}

fn params(spi: u32, key: u8) -> SaParams {
    SaParams {
        spi,
        transform: Transform::aes_gcm16(AesKeySize::Aes128),
        keys: SaKeys::aead(&[key; 20]),
        esn: false,
        replay_window: 128,
        lifetime: Lifetime::default(),
    }
}

/// The Kernel API in process: trap policies report acquires, drop shunts drop,
/// lifetimes expire, bad installs are refused with clear errors.
#[test]
fn kernel_api_trap_drop_and_expire() {
    require_root!();
    let p = Pair::new();
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let west = p.west.clone();
    // The moved SA sends to 192.0.2.2:4501: listen there in the east namespace.
    let east = p.east.clone();
    let (bound_tx, bound_rx) = mpsc::channel();
    let listener = std::thread::spawn(move || {
        enter_netns(&east).unwrap();
        let sock = std::net::UdpSocket::bind("192.0.2.2:4501").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        bound_tx.send(()).unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = recv_from_retrying(&sock, &mut buf);
        let keepalive = buf[..n].to_vec();
        let (n, from) = recv_from_retrying(&sock, &mut buf);
        (keepalive, buf[..n.min(4)].to_vec(), from)
    });
    bound_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let dp_thread = std::thread::spawn(move || {
        enter_netns(&west).unwrap();
        let mut cfg = UserspaceConfig::new("fst0");
        cfg.tun_addresses = vec!["10.1.0.1/32".parse().unwrap()];
        cfg.udp = UdpSource::Bind("192.0.2.1:4500".parse().unwrap());
        let mut dp = Userspace::new(cfg).unwrap();
        assert_eq!(dp.name(), "userspace");
        let spi = dp.allocate_spi().unwrap();
        assert!(spi >= 0x100);
        assert_ne!(dp.allocate_spi().unwrap(), spi);

        let mut outbound = params(0x2222, 1);
        outbound.lifetime.soft.packets = Some(2);
        outbound.lifetime.hard.packets = Some(3);
        let pair = udp_tunnel_pair(
            7,
            outbound,
            params(spi, 2),
            ("192.0.2.1", "192.0.2.2"),
            sel("10.1.0.0/16"),
            sel("10.2.0.0/16"),
        );
        let mut raw = pair.clone();
        raw.id = SaId(9);
        raw.encapsulation = Encapsulation::None;
        let err = dp.install_sa_pair(raw).unwrap_err().to_string();
        assert!(err.contains("raw_esp"), "{err}");
        let mut same_spi = pair.clone();
        same_spi.id = SaId(8);
        same_spi.outbound.spi = 0x3333;
        let again = pair.clone();
        dp.install_sa_pair(pair).unwrap();
        let err = dp.install_sa_pair(same_spi).unwrap_err().to_string();
        assert!(err.contains("already in use"), "{err}");
        // The same outbound SA again would restart its sequence numbers: refused.
        let err = dp.install_sa_pair(again).unwrap_err().to_string();
        assert!(err.contains("reuse nonces"), "{err}");
        // Moving it (a NAT mapping change) keeps it.
        dp.update_sa_endpoints(
            SaId(7),
            "192.0.2.2".parse().unwrap(),
            Encapsulation::Udp {
                local_port: 4500,
                remote_port: 4501,
            },
        )
        .unwrap();
        assert!(dp
            .update_sa_endpoints(SaId(70), "192.0.2.2".parse().unwrap(), Encapsulation::None)
            .is_err());
        dp.send_nat_keepalive("192.0.2.2:4501".parse().unwrap())
            .unwrap();
        let dangling = Policy {
            id: PolicyId(99),
            local: "10.1.0.0/16".parse().unwrap(),
            remote: "10.9.0.0/16".parse().unwrap(),
            action: PolicyAction::Protect(SaId(42)),
            route_source: None,
            route_via: None,
            protoport: dataplane::ProtoPort::ANY,
        };
        assert!(dp.install_policy(dangling).is_err());
        let src = Some("10.1.0.1".parse().unwrap());
        for (id, remote, action) in [
            (1, "10.2.0.0/16", PolicyAction::Protect(SaId(7))),
            (2, "10.3.0.0/16", PolicyAction::Trap { hold: false }),
            (3, "10.4.0.0/16", PolicyAction::Drop),
            (4, "10.2.5.0/24", PolicyAction::Pass),
        ] {
            dp.install_policy(Policy {
                id: PolicyId(id),
                local: "10.1.0.0/16".parse().unwrap(),
                remote: remote.parse().unwrap(),
                action,
                route_source: src,
                route_via: None,
                protoport: dataplane::ProtoPort::ANY,
            })
            .unwrap();
        }
        tx.send(()).unwrap();
        // Gather events until the pings below are done, then report what the data plane saw.
        let mut acquire = None;
        let mut expiries = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut done = false;
        while Instant::now() < deadline {
            let event = dp.wait_event(Duration::from_millis(100));
            if event.is_none() && done {
                break;
            }
            done = done || done_rx.try_recv().is_ok();
            match event {
                Some(KernelEvent::Acquire {
                    policy, src, dst, ..
                }) => acquire = Some((policy, src, dst)),
                Some(KernelEvent::Expire {
                    sa,
                    inbound,
                    expiry,
                }) => expiries.push((sa, inbound, expiry)),
                Some(other) => panic!("unexpected event {other:?}"),
                None => {}
            }
        }
        assert!(dp.event_fd().is_some());
        assert_eq!(dp.poll_event(), None, "all events were taken");
        let stats = dp.stats().unwrap();
        let counters = dp.counters(SaId(7)).unwrap();
        let routes = || {
            let out = Command::new("ip")
                .args(["route", "show", "table", "4500"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let before = routes();
        assert!(
            before.contains("10.3.0.0/16")
                && before.contains("10.2.0.0/16 dev fst0 proto static scope link src 10.1.0.1"),
            "{before}"
        );
        assert!(
            before.contains("throw 10.2.5.0/24"),
            "a pass shunt leaves the table: {before}"
        );
        dp.remove_policy(PolicyId(4)).unwrap();
        dp.remove_policy(PolicyId(2)).unwrap();
        let after = routes();
        assert!(
            !after.contains("10.3.0.0/16")
                && !after.contains("10.2.5.0/24")
                && after.contains("10.2.0.0/16"),
            "{after}"
        );
        dp.remove_sa_pair(SaId(7)).unwrap();
        assert!(dp.counters(SaId(7)).is_err());
        (acquire, expiries, stats, counters)
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap();
    // Trapped, dropped, and protected (to a peer that has no data plane: it goes out as ESP).
    let _ = p.exec(&p.west, &["ping", "-c", "1", "-W", "1", "10.3.0.1"]);
    let _ = p.exec(&p.west, &["ping", "-c", "1", "-W", "1", "10.4.0.1"]);
    let _ = p.exec(
        &p.west,
        &["ping", "-c", "4", "-i", "0.2", "-W", "1", "10.2.0.1"],
    );
    done_tx.send(()).unwrap();
    let (acquire, expiries, stats, counters) = dp_thread.join().unwrap();
    let (keepalive, spi, from) = listener.join().unwrap();
    assert_eq!(keepalive, vec![0xff], "RFC 3948 NAT keepalive");
    assert_eq!(
        spi,
        0x2222u32.to_be_bytes(),
        "ESP of the moved SA arrives on the new port"
    );
    assert_eq!(from, "192.0.2.1:4500".parse::<SocketAddr>().unwrap());
    let (policy, src, dst) = acquire.expect("an acquire for the trap policy");
    assert_eq!(policy, PolicyId(2));
    assert_eq!(src, "10.1.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(dst, "10.3.0.1".parse::<IpAddr>().unwrap());
    assert!(stats.trapped >= 1, "{stats:?}");
    assert!(stats.shunt_drops >= 1, "{stats:?}");
    assert_eq!(counters.outbound.packets, 3, "hard limit of 3 packets");
    assert!(
        stats.encap_errors >= 1,
        "packets after the hard expiry are refused: {stats:?}"
    );
    assert_eq!(
        expiries,
        vec![
            (SaId(7), false, esp::Expiry::Soft),
            (SaId(7), false, esp::Expiry::Hard)
        ]
    );
}

/// `--ondemand` in the data plane: a holding trap reports an acquire for the
/// first packet, keeps it, and sends it once the SA and protecting policy
/// are installed, so a single ping gets its answer.
#[test]
fn holding_trap_releases_first_packet_once_sa_is_up() {
    require_root!();
    let mut p = Pair::new();
    let (_east, _lines) = p.start_dataplane(false, &[]);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let west = p.west.clone();
    let dp_thread = std::thread::spawn(move || {
        enter_netns(&west).unwrap();
        let mut cfg = UserspaceConfig::new("fsh0");
        cfg.tun_addresses = vec!["10.1.0.1/32".parse().unwrap()];
        cfg.udp = UdpSource::Bind("192.0.2.1:4500".parse().unwrap());
        let mut dp = Userspace::new(cfg).unwrap();
        let policy = |action| Policy {
            id: PolicyId(1),
            local: "10.1.0.0/16".parse().unwrap(),
            remote: "10.2.0.0/16".parse().unwrap(),
            action,
            route_source: Some("10.1.0.1".parse().unwrap()),
            route_via: None,
            protoport: dataplane::ProtoPort::ANY,
        };
        dp.install_policy(policy(PolicyAction::Trap { hold: true }))
            .unwrap();
        ready_tx.send(()).unwrap();
        let acquire = loop {
            match dp.wait_event(Duration::from_secs(20)) {
                Some(KernelEvent::Acquire { policy, dst, .. }) => break (policy, dst),
                Some(_) => continue,
                None => panic!("no acquire for the trapped ping"),
            }
        };
        // What IKE would do now: install the negotiated SAs and protect.
        let gcm256 = |spi, key: u8| SaParams {
            spi,
            transform: Transform::aes_gcm16(AesKeySize::Aes256),
            keys: SaKeys::aead(&[key; 36]),
            esn: false,
            replay_window: 128,
            lifetime: Lifetime::default(),
        };
        dp.install_sa_pair(udp_tunnel_pair(
            1,
            gcm256(0x2002, 0x11),
            gcm256(0x1001, 0x22),
            ("192.0.2.1", "192.0.2.2"),
            sel("10.1.0.0/16"),
            sel("10.2.0.0/16"),
        ))
        .unwrap();
        dp.install_policy(policy(PolicyAction::Protect(SaId(1))))
            .unwrap();
        done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        (acquire, dp.stats().unwrap(), dp.counters(SaId(1)).unwrap())
    });
    ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let ping = p.exec(&p.west, &["ping", "-c", "1", "-W", "10", "10.2.0.1"]);
    done_tx.send(()).unwrap();
    let ((policy, dst), stats, counters) = dp_thread.join().unwrap();
    assert!(
        ping.status.success(),
        "the held echo request was released and answered: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert_eq!(policy, PolicyId(1));
    assert_eq!(dst, "10.2.0.1".parse::<IpAddr>().unwrap());
    assert!(stats.held >= 1 && stats.released >= 1, "{stats:?}");
    assert!(
        counters.outbound.packets >= 1 && counters.inbound.packets >= 1,
        "{counters:?}"
    );
}

/// Many tunnels: 500 SA pairs and policies (each with its route) go in and
/// out quickly, and lookups stay correct. Prints the install rate.
#[test]
fn five_hundred_tunnels_install_and_remove() {
    require_root!();
    let p = Pair::new();
    let west = p.west.clone();
    std::thread::spawn(move || {
        enter_netns(&west).unwrap();
        let mut cfg = UserspaceConfig::new("fsm0");
        cfg.udp = UdpSource::Bind("192.0.2.1:4500".parse().unwrap());
        let mut dp = Userspace::new(cfg).unwrap();
        let n = 500u64;
        let start = Instant::now();
        for i in 0..n {
            let spi = dp.allocate_spi().unwrap();
            let remote: dataplane::IpNet = format!("10.100.{}.{}/32", i / 250, i % 250 + 1)
                .parse()
                .unwrap();
            dp.install_sa_pair(udp_tunnel_pair(
                i,
                params(0x10_0000 + i as u32, 1),
                params(spi, 2),
                ("192.0.2.1", "192.0.2.2"),
                sel("10.1.0.0/16"),
                dataplane::Selector::from(remote),
            ))
            .unwrap();
            dp.install_policy(Policy {
                id: PolicyId(i),
                local: "10.1.0.0/16".parse().unwrap(),
                remote,
                action: PolicyAction::Protect(SaId(i)),
                route_source: None,
                route_via: None,
                protoport: dataplane::ProtoPort::ANY,
            })
            .unwrap();
        }
        let installed = start.elapsed();
        let out = Command::new("ip")
            .args(["route", "show", "table", "4500", "dev", "fsm0"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            n as usize
        );
        for i in 0..n {
            assert_eq!(dp.counters(SaId(i)).unwrap().outbound.packets, 0);
        }
        let start = Instant::now();
        for i in 0..n {
            dp.remove_policy(PolicyId(i)).unwrap();
            dp.remove_sa_pair(SaId(i)).unwrap();
        }
        let removed = start.elapsed();
        let out = Command::new("ip")
            .args(["route", "show", "table", "4500", "dev", "fsm0"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 0);
        eprintln!(
            "{n} SA pairs + policies + routes installed in {:?} ({:.0}/s), removed in {:?}",
            installed,
            n as f64 / installed.as_secs_f64(),
            removed
        );
    })
    .join()
    .unwrap();
}

/// Transport mode (`type=transport`), host to host: the peers' own addresses
/// are protected; ping and TCP between 192.0.2.1 and 192.0.2.2 go through
/// ESP-in-UDP and the veth never carries them in the clear.
#[test]
fn transport_mode_protects_host_to_host_traffic() {
    require_root!();
    let mut p = Pair::new();
    let (cap, pcap) = p.start_capture();
    let transport = ["--transport", "--local-net", "", "--remote-net", ""];
    let mut west_args: Vec<&str> = transport.to_vec();
    west_args[2] = "192.0.2.1/32";
    west_args[4] = "192.0.2.2/32";
    let mut east_args: Vec<&str> = transport.to_vec();
    east_args[2] = "192.0.2.2/32";
    east_args[4] = "192.0.2.1/32";
    let (w, wlines) = p.start_dataplane(true, &west_args);
    let (e, _elines) = p.start_dataplane(false, &east_args);
    let ping = p.exec(
        &p.west,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.2"],
    );
    assert!(
        ping.status.success(),
        "ping in transport mode: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    tcp_transfer_between(&p.west, &p.east, "192.0.2.1", "192.0.2.2", 2 << 20, 1 << 20);
    p.stop(w, false);
    p.stop(e, false);
    p.stop(cap, true);
    let wc = counters_line(&wlines);
    assert!(field(&wc, "out_bytes") > 2 << 20, "{wc}");
    assert!(field(&wc, "in_bytes") > 1 << 20, "{wc}");
    assert!(tcpdump_count(&pcap, "udp port 4500") > 20);
    assert_eq!(
        tcpdump_count(&pcap, "icmp or tcp"),
        0,
        "cleartext on the wire"
    );
    assert!(
        !contains(&std::fs::read(&pcap).unwrap(), MARKER),
        "cleartext marker on the wire"
    );
}

/// Several ESP-in-UDP sockets, one per local address (as pluto hands
/// them over): a socket added after start is read (IKE on it comes up
/// with its address), and an SA's ESP leaves from the socket of the SA's
/// local address, not from the interface's first address.
#[test]
fn esp_leaves_from_the_socket_of_the_sa_local_address() {
    require_root!();
    let p = Pair::new();
    run(&[
        "ip",
        "-n",
        &p.west,
        "addr",
        "add",
        "192.0.2.11/24",
        "dev",
        &p.veth_west,
    ]);
    let (bound_tx, bound_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (installed_tx, installed_rx) = mpsc::channel::<()>();
    let east = p.east.clone();
    let peer = std::thread::spawn(move || {
        enter_netns(&east).unwrap();
        let sock = std::net::UdpSocket::bind("192.0.2.2:4500").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        bound_tx.send(()).unwrap();
        ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        // IKE (non-ESP marker) to the second address.
        sock.send_to(b"\0\0\0\0hello", "192.0.2.11:4500").unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = recv_from_retrying(&sock, &mut buf);
        (from, buf[..n.min(4)].to_vec())
    });
    bound_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let west = p.west.clone();
    let dp_thread = std::thread::spawn(move || {
        enter_netns(&west).unwrap();
        let mut cfg = UserspaceConfig::new("fsm0");
        cfg.tun_addresses = vec!["10.1.0.1/32".parse().unwrap()];
        let first = std::net::UdpSocket::bind("192.0.2.1:4500").unwrap();
        cfg.udp = UdpSource::Sockets(vec![first]);
        let mut dp = Userspace::new(cfg).unwrap();
        let second = std::net::UdpSocket::bind("192.0.2.11:4500").unwrap();
        dp.add_udp_socket(second).unwrap();
        assert_eq!(
            dp.udp_local_addrs(),
            vec![
                "192.0.2.1:4500".parse::<SocketAddr>().unwrap(),
                "192.0.2.11:4500".parse().unwrap()
            ]
        );
        dp.install_sa_pair(udp_tunnel_pair(
            1,
            params(0x2002, 1),
            params(0x1001, 2),
            ("192.0.2.11", "192.0.2.2"),
            sel("10.1.0.0/16"),
            sel("10.2.0.0/16"),
        ))
        .unwrap();
        dp.install_policy(Policy {
            id: PolicyId(1),
            local: "10.1.0.0/16".parse().unwrap(),
            remote: "10.2.0.0/16".parse().unwrap(),
            action: PolicyAction::Protect(SaId(1)),
            route_source: Some("10.1.0.1".parse().unwrap()),
            route_via: None,
            protoport: dataplane::ProtoPort::ANY,
        })
        .unwrap();
        // A round trip to the worker: it has the socket, SA and policy.
        dp.stats().unwrap();
        ready_tx.send(()).unwrap();
        installed_tx.send(()).unwrap();
        let ike = match dp.wait_event(Duration::from_secs(20)) {
            Some(KernelEvent::IkeDatagram {
                local,
                remote,
                message,
            }) => (local, remote, message),
            Some(other) => panic!("unexpected event {other:?}"),
            None => panic!("no IKE datagram from the added socket"),
        };
        done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        (ike, dp.counters(SaId(1)).unwrap())
    });
    // Wait for the data plane, then send one packet into the tunnel (no
    // answer comes: the peer is a plain socket).
    installed_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let _ = p.exec(&p.west, &["ping", "-c", "1", "-W", "1", "10.2.0.1"]);
    let (from, spi) = peer.join().unwrap();
    done_tx.send(()).unwrap();
    let ((local, remote, message), counters) = dp_thread.join().unwrap();
    assert_eq!(local, "192.0.2.11:4500".parse::<SocketAddr>().unwrap());
    assert_eq!(remote, "192.0.2.2:4500".parse::<SocketAddr>().unwrap());
    assert_eq!(message, b"hello");
    assert_eq!(from, "192.0.2.11:4500".parse::<SocketAddr>().unwrap());
    assert_eq!(spi, 0x2002u32.to_be_bytes());
    assert!(counters.outbound.packets >= 1, "{counters:?}");
}

/// An `EspSink` standing for a TCP stream (RFC 8229): it hands each
/// outbound ESP packet straight to the other data plane's injector.
struct ToPeer {
    peer: dataplane::EspInjector,
    sent: std::sync::Arc<AtomicUsize>,
}

impl dataplane::EspSink for ToPeer {
    fn send_esp(&self, packet: &[u8]) -> bool {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.peer.inject(packet.to_vec())
    }
}

/// ESP over a TCP stream's hand-over: outbound ESP of a pair with a TCP
/// sink goes to the sink (not the UDP socket), ESP injected from a stream
/// is decrypted like ESP-in-UDP; pings pass with nothing on the veth.
#[test]
fn tcp_sink_and_injector_carry_esp_between_two_data_planes() {
    require_root!();
    let mut p = Pair::new();
    let (cap, pcap) = p.start_capture();
    let gcm = |spi, key: u8| SaParams {
        spi,
        transform: Transform::aes_gcm16(AesKeySize::Aes128),
        keys: SaKeys::aead(&[key; 20]),
        esn: false,
        replay_window: 128,
        lifetime: Lifetime::default(),
    };
    let (inj_tx, inj_rx) = mpsc::channel();
    let mut peer_txs = Vec::new();
    let mut done_txs = Vec::new();
    let mut threads = Vec::new();
    for (i, ns) in [p.west.clone(), p.east.clone()].into_iter().enumerate() {
        let (peer_tx, peer_rx) = mpsc::channel::<dataplane::EspInjector>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        peer_txs.push(peer_tx);
        done_txs.push(done_tx);
        let inj_tx = inj_tx.clone();
        let (me, peer) = if i == 0 { (1u8, 2u8) } else { (2, 1) };
        let (out_spi, in_spi, out_key, in_key) = if i == 0 {
            (0x2002, 0x1001, 0x11, 0x22)
        } else {
            (0x1001, 0x2002, 0x22, 0x11)
        };
        threads.push(std::thread::spawn(move || {
            enter_netns(&ns).unwrap();
            let mut cfg = UserspaceConfig::new("fsk0");
            cfg.tun_addresses = vec![format!("10.{me}.0.1/32").parse().unwrap()];
            cfg.udp = UdpSource::Bind(format!("192.0.2.{me}:4500").parse().unwrap());
            let mut dp = Userspace::new(cfg).unwrap();
            inj_tx.send((i, dp.esp_injector().unwrap())).unwrap();
            let peer_injector = peer_rx.recv_timeout(Duration::from_secs(20)).unwrap();
            let net = |n: u8| {
                dataplane::Selector::from(
                    format!("10.{n}.0.0/16")
                        .parse::<dataplane::IpNet>()
                        .unwrap(),
                )
            };
            dp.install_sa_pair(udp_tunnel_pair(
                1,
                gcm(out_spi, out_key),
                gcm(in_spi, in_key),
                (&format!("192.0.2.{me}"), &format!("192.0.2.{peer}")),
                net(me),
                net(peer),
            ))
            .unwrap();
            let sent = std::sync::Arc::new(AtomicUsize::new(0));
            dp.set_tcp_sink(
                SaId(1),
                std::sync::Arc::new(ToPeer {
                    peer: peer_injector,
                    sent: sent.clone(),
                }),
            )
            .unwrap();
            assert!(dp
                .set_tcp_sink(
                    SaId(9),
                    std::sync::Arc::new(ToPeer {
                        peer: dp.esp_injector().unwrap(),
                        sent: sent.clone(),
                    }),
                )
                .is_err());
            dp.install_policy(Policy {
                id: PolicyId(1),
                local: format!("10.{me}.0.0/16").parse().unwrap(),
                remote: format!("10.{peer}.0.0/16").parse().unwrap(),
                action: PolicyAction::Protect(SaId(1)),
                route_source: Some(format!("10.{me}.0.1").parse().unwrap()),
                route_via: None,
                protoport: dataplane::ProtoPort::ANY,
            })
            .unwrap();
            inj_tx.send((i + 10, dp.esp_injector().unwrap())).unwrap();
            done_rx.recv_timeout(Duration::from_secs(60)).unwrap();
            (
                sent.load(Ordering::SeqCst),
                dp.counters(SaId(1)).unwrap(),
                dp.stats().unwrap(),
            )
        }));
    }
    let mut injectors = [None, None];
    for _ in 0..2 {
        let (i, inj) = inj_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        injectors[i] = Some(inj);
    }
    let [west_inj, east_inj] = injectors;
    peer_txs[0].send(east_inj.unwrap()).unwrap();
    peer_txs[1].send(west_inj.unwrap()).unwrap();
    for _ in 0..2 {
        inj_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    }
    let ping = p.exec(
        &p.west,
        &[
            "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "10.1.0.1", "10.2.0.1",
        ],
    );
    for d in &done_txs {
        d.send(()).unwrap();
    }
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    p.stop(cap, true);
    assert!(
        ping.status.success(),
        "ping over the sinks: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    for (sent, counters, stats) in &results {
        assert!(*sent >= 3, "{sent} packets to the sink; {stats:?}");
        assert!(
            counters.outbound.packets >= 3 && counters.inbound.packets >= 3,
            "{counters:?}"
        );
        assert_eq!(stats.esp_tx as usize, *sent, "{stats:?}");
    }
    assert_eq!(
        tcpdump_count(&pcap, "esp or udp port 4500"),
        0,
        "ESP went over the veth instead of the sinks"
    );
}

/// `split_local_routing_table` leaves no rule behind, can run again, and
/// keeps a bypass rule that is already there (a data plane's own).
#[test]
fn splitting_the_local_table_leaves_the_rules_as_they_were() {
    require_root!();
    let p = Pair::new();
    let rules = |p: &Pair| {
        String::from_utf8_lossy(&p.exec(&p.west, &["ip", "-4", "rule", "show"]).stdout).into_owned()
    };
    let before = rules(&p);
    let west = p.west.clone();
    let split = move || {
        let west = west.clone();
        std::thread::spawn(move || {
            enter_netns(&west).unwrap();
            dataplane::split_local_routing_table(&UserspaceConfig::new("fst0"))
        })
        .join()
        .unwrap()
    };
    split().expect("split");
    split().expect("split again");
    assert_eq!(rules(&p), before, "a rule was left behind");
    // With the bypass rule present (table 4500, pref 100), it stays.
    run(&[
        "ip", "-n", &p.west, "rule", "add", "not", "fwmark", "0x4500", "lookup", "4500", "pref",
        "100",
    ]);
    split().expect("split with the rule there");
    let after = rules(&p);
    assert!(
        after.contains("100:\tnot from all fwmark 0x4500 lookup 4500"),
        "{after}"
    );
}

/// Whether a UDP socket is bound to `port` in namespace `ns` (`ss`).
fn udp_port_open(p: &Pair, ns: &str, port: u16) -> bool {
    let out = p.exec(ns, &["ss", "-ulnH"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.contains(&format!(":{port} ")))
}

/// A socket handed to the data plane and removed again is closed (the
/// worker's copy too), removing it again says there is none, and the next
/// socket handed over takes its slot.
#[test]
fn a_removed_udp_socket_is_closed_and_its_slot_used_again() {
    require_root!();
    let p = Pair::new();
    let west = p.west.clone();
    let (to_test, from_dp) = mpsc::channel::<&'static str>();
    let (to_dp, from_test) = mpsc::channel::<()>();
    let dp_thread = std::thread::spawn(move || {
        enter_netns(&west).unwrap();
        let mut cfg = UserspaceConfig::new("fsr0");
        cfg.udp = UdpSource::Sockets(vec![std::net::UdpSocket::bind("192.0.2.1:4500").unwrap()]);
        let mut dp = Userspace::new(cfg).unwrap();
        let second: SocketAddr = "192.0.2.1:4501".parse().unwrap();
        dp.add_udp_socket(std::net::UdpSocket::bind(second).unwrap())
            .unwrap();
        to_test.send("added").unwrap();
        from_test.recv().unwrap();
        assert!(dp.remove_udp_socket(second).unwrap(), "removed");
        assert!(
            !dp.remove_udp_socket(second).unwrap(),
            "nothing left to remove"
        );
        to_test.send("removed").unwrap();
        from_test.recv().unwrap();
        dp.add_udp_socket(std::net::UdpSocket::bind("192.0.2.1:4502").unwrap())
            .unwrap();
        assert_eq!(
            dp.udp_local_addrs(),
            vec![
                "192.0.2.1:4500".parse::<SocketAddr>().unwrap(),
                "192.0.2.1:4502".parse().unwrap()
            ]
        );
        to_test.send("added again").unwrap();
        from_test.recv().unwrap();
    });
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(from_dp.recv_timeout(Duration::from_secs(20)), Ok("added"));
    assert!(udp_port_open(&p, &p.west, 4501));
    to_dp.send(()).unwrap();
    assert_eq!(from_dp.recv_timeout(Duration::from_secs(20)), Ok("removed"));
    // The test's and the control side's copies are gone at once; the
    // worker closes its own when it takes the command.
    wait_for("port 4501 still open", &|| {
        !udp_port_open(&p, &p.west, 4501)
    });
    assert!(udp_port_open(&p, &p.west, 4500));
    to_dp.send(()).unwrap();
    assert_eq!(
        from_dp.recv_timeout(Duration::from_secs(20)),
        Ok("added again")
    );
    assert!(udp_port_open(&p, &p.west, 4502));
    to_dp.send(()).unwrap();
    dp_thread.join().unwrap();
}
