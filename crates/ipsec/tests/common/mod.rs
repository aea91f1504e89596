//! Shared by the root-level tunnel tests: a ferroswan daemon running
//! inside a test namespace, driven by the real `ipsec` binary.

#![allow(dead_code)]

pub mod nat;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use testkit::{wait_until, NetPair, Netns, TempDir};

/// The binary under test.
pub const IPSEC: &str = env!("CARGO_BIN_EXE_ipsec");

/// `conn NAME` between west (`@west`) and east (`@east`) with a PSK, for
/// these subnets, with `extra` lines (each `\tkey=value\n`) and
/// `auto=add`.
pub fn conn(name: &str, left: &str, right: &str, subnets: (&str, &str), extra: &str) -> String {
    format!(
        "conn {name}\n\
         \tleft={left}\n\
         \tleftid=@west\n\
         \tleftsubnet={}\n\
         \tright={right}\n\
         \trightid=@east\n\
         \trightsubnet={}\n\
         \tauthby=secret\n\
         {extra}\
         \tauto=add\n\n",
        subnets.0, subnets.1
    )
}

/// A configuration with the userspace data plane, `setup` lines in
/// `config setup`, and connection `tun` (192.0.2.1 10.1.0.0/16 <->
/// 192.0.2.2 10.2.0.0/16, PSK) with `extra` lines.
pub fn tun_config(setup: &str, extra: &str) -> String {
    format!(
        "config setup\n\tprotostack=userspace\n\tlogtime=no\n{setup}\n{}",
        conn(
            "tun",
            "192.0.2.1",
            "192.0.2.2",
            ("10.1.0.0/16", "10.2.0.0/16"),
            extra
        )
    )
}

/// Gives the pair's veths 2001:db8:6::1 (west) and ::2 (east) and waits
/// (bounded) until IPv6 passes between them.
pub fn add_ipv6_outer_addresses(net: &NetPair) {
    for (ns, ifname, a) in [
        (&net.west, &net.west_if, "2001:db8:6::1/64"),
        (&net.east, &net.east_if, "2001:db8:6::2/64"),
    ] {
        ns.exec_ok(&["ip", "addr", "add", a, "dev", ifname, "nodad"])
            .expect("IPv6 address");
    }
    wait_until(
        Duration::from_secs(10),
        "IPv6 between the namespaces",
        || {
            net.west
                .exec(&["ping", "-6", "-c1", "-W1", "2001:db8:6::2"])
                .map(|o| o.status.success())
                .unwrap_or(false)
        },
    )
    .expect("IPv6 link");
}

/// True when the test can run here (root); prints why not otherwise.
pub fn can_run(test: &str) -> bool {
    !testkit::skip_unless_root(test)
}

/// A `ipsec pluto --nofork` in a namespace, killed on drop.
pub struct Daemon {
    /// Its state directory: ipsec.conf, ipsec.secrets, run/, pluto.log.
    pub dir: TempDir,
    ns: String,
    child: Option<Child>,
}

impl Daemon {
    /// Starts a daemon in `ns` with this configuration and secrets, and
    /// waits (bounded) for its control socket.
    pub fn start(ns: &Netns, conf: &str, secrets: &str) -> Daemon {
        Daemon::start_with(ns, conf, secrets, &[])
    }

    /// Like [`Daemon::start`], with extra files (path relative to the
    /// state directory, e.g. `ipsec.d/private/west.pem`) written first.
    pub fn start_with(ns: &Netns, conf: &str, secrets: &str, files: &[(&str, &[u8])]) -> Daemon {
        Daemon::start_args::<&str>(ns, conf, secrets, files, &[])
    }

    /// Like [`Daemon::start_with`], with extra `ipsec pluto` arguments
    /// (e.g. `--keylog-dir DIR`).
    pub fn start_args<A: AsRef<std::ffi::OsStr>>(
        ns: &Netns,
        conf: &str,
        secrets: &str,
        files: &[(&str, &[u8])],
        args: &[A],
    ) -> Daemon {
        let dir = TempDir::new("pluto").expect("temporary directory");
        let d = dir.path().to_path_buf();
        for (rel, data) in files {
            let p = d.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("create dir");
            }
            std::fs::write(&p, data).expect("write file");
        }
        std::fs::write(d.join("ipsec.conf"), conf).expect("write ipsec.conf");
        std::fs::write(d.join("ipsec.secrets"), secrets).expect("write ipsec.secrets");
        std::fs::create_dir_all(d.join("run")).expect("run dir");
        let child = ns
            .command(IPSEC)
            .arg("pluto")
            .arg("--nofork")
            .arg("--rundir")
            .arg(d.join("run"))
            .arg("--config")
            .arg(d.join("ipsec.conf"))
            .arg("--secretsfile")
            .arg(d.join("ipsec.secrets"))
            .arg("--ipsecdir")
            .arg(d.join("ipsec.d"))
            .arg("--nssdir")
            .arg(d.join("nss"))
            .arg("--logfile")
            .arg(d.join("pluto.log"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ipsec pluto");
        let daemon = Daemon {
            dir,
            ns: ns.name().to_string(),
            child: Some(child),
        };
        let sock = daemon.socket();
        if let Err(e) = wait_until(Duration::from_secs(20), "pluto's control socket", || {
            sock.exists()
        }) {
            panic!("{e}\n{}", daemon.log());
        }
        // The socket is bound before start-up ends; the first answer comes
        // once it has (IKE sockets open, connections loaded), so a test's
        // first packet never meets a closed port.
        if let Err(e) = wait_until(Duration::from_secs(20), "pluto's first answer", || {
            daemon.ipsec(&["auto", "--status"]).status.success()
        }) {
            panic!("{e}\n{}", daemon.log());
        }
        daemon
    }

    /// Kills the daemon with SIGKILL (a peer that vanishes).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/pluto.ctl")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pluto.log")).unwrap_or_default()
    }

    /// Runs `ipsec ARGS` against this daemon (in its namespace).
    pub fn ipsec(&self, args: &[&str]) -> Output {
        let mut c = std::process::Command::new("ip");
        // Bounded: a request the daemon never answers fails the test
        // (timeout's status 124) instead of hanging it.
        c.args(["netns", "exec", &self.ns, "timeout", "60", IPSEC])
            .args(args)
            .env("IPSEC_RUNDIR", self.dir.path().join("run"))
            .env("IPSEC_CONFS", self.dir.path())
            .stdin(Stdio::null());
        c.output().expect("run ipsec")
    }

    /// `ipsec auto ARGS`, asserting the exit status; returns stdout.
    #[track_caller]
    pub fn auto(&self, args: &[&str], status: i32) -> String {
        let mut all = vec!["auto"];
        all.extend_from_slice(args);
        let o = self.ipsec(&all);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(
            o.status.code(),
            Some(status),
            "ipsec auto {}:\nstdout:\n{out}\nstderr:\n{}\nlog:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
        out
    }

    /// `ipsec auto --status`.
    pub fn status(&self) -> String {
        String::from_utf8_lossy(&self.ipsec(&["auto", "--status"]).stdout).into_owned()
    }

    /// `ipsec whack --trafficstatus`.
    pub fn trafficstatus(&self) -> String {
        String::from_utf8_lossy(&self.ipsec(&["whack", "--trafficstatus"]).stdout).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var("FERROSWAN_SHOW_PLUTO_LOG").is_ok() {
            eprintln!("---- pluto log ({}) ----\n{}", self.ns, self.log());
        }
    }
}

/// Pings `dst` from `src` inside `ns` once (1 s timeout).
pub fn ping_once(ns: &Netns, src: &str, dst: &str) -> bool {
    ns.exec(&["ping", "-c1", "-W1", "-I", src, dst])
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Waits (bounded) until a ping from `src` to `dst` inside `ns` passes.
pub fn wait_ping(ns: &Netns, src: &str, dst: &str) -> Result<Duration, String> {
    wait_until(
        Duration::from_secs(20),
        &format!("ping {src} -> {dst}"),
        || ping_once(ns, src, dst),
    )
}

/// A TCP transfer from west to east 10.2.0.1:5001 through the tunnel:
/// `data` goes east, east sends it back; returns what came back. Each end
/// runs on a thread entered into its namespace.
pub fn tcp_echo(west: &Netns, east: &Netns, data: &[u8]) -> Vec<u8> {
    tcp_echo_to(west, east, SocketAddr::from(([10, 2, 0, 1], 5001)), data)
}

/// A TCP transfer from `client` to a server listening on `server_addr` in
/// `server`: `data` goes there and comes back; returns what came back.
pub fn tcp_echo_to(
    client: &Netns,
    server: &Netns,
    server_addr: SocketAddr,
    data: &[u8],
) -> Vec<u8> {
    let (west, east) = (client, server);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let server = scope.spawn(|| -> Result<(), String> {
            east.enter_current_thread()?;
            let l = TcpListener::bind(server_addr).map_err(|e| e.to_string())?;
            let _ = ready_tx.send(());
            let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(|e| e.to_string())?;
            let mut got = Vec::new();
            s.read_to_end(&mut got).map_err(|e| e.to_string())?;
            s.write_all(&got).map_err(|e| e.to_string())?;
            Ok(())
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("TCP server ready");
        let client = scope.spawn(|| -> Result<Vec<u8>, String> {
            west.enter_current_thread()?;
            let mut s = TcpStream::connect_timeout(&server_addr, Duration::from_secs(10))
                .map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(|e| e.to_string())?;
            s.write_all(data).map_err(|e| e.to_string())?;
            s.shutdown(std::net::Shutdown::Write)
                .map_err(|e| e.to_string())?;
            let mut back = Vec::new();
            s.read_to_end(&mut back).map_err(|e| e.to_string())?;
            Ok(back)
        });
        let back = client.join().expect("client thread").expect("client");
        server.join().expect("server thread").expect("server");
        back
    })
}

/// A key pair made by openssl: the private key (PEM, PKCS#8) and the
/// public key as `0s` base64 SubjectPublicKeyInfo (ipsec.conf) and as PEM.
pub struct KeyPair {
    /// `openssl genpkey` output.
    pub private_pem: Vec<u8>,
    /// `0s` + base64 DER SubjectPublicKeyInfo, for `leftpubkey=`.
    pub public_0s: String,
    /// The same public key as a PEM `PUBLIC KEY` block.
    pub public_pem: String,
}

/// Makes a key pair with `openssl genpkey ALGORITHM` in `dir`.
pub fn keypair(dir: &std::path::Path, name: &str, algorithm: &[&str]) -> KeyPair {
    let pem = dir.join(format!("{name}.pem"));
    let mut args = vec!["genpkey"];
    args.extend_from_slice(algorithm);
    let pem_s = pem.to_string_lossy().into_owned();
    args.extend_from_slice(&["-out", &pem_s]);
    let o = std::process::Command::new("openssl")
        .args(&args)
        .output()
        .expect("openssl genpkey");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("openssl pkey -in \"$1\" -pubout -outform DER | openssl base64 -A")
        .arg("sh")
        .arg(&pem)
        .output()
        .expect("openssl pkey");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b64 = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let mut public_pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        public_pem.push_str(&String::from_utf8_lossy(line));
        public_pem.push('\n');
    }
    public_pem.push_str("-----END PUBLIC KEY-----\n");
    KeyPair {
        private_pem: std::fs::read(&pem).expect("pem"),
        public_0s: format!("0s{b64}"),
        public_pem,
    }
}

/// tcpdump on an interface, writing a pcap; stopped on drop.
pub struct Capture {
    child: Option<Child>,
    file: std::path::PathBuf,
    _dir: TempDir,
}

impl Capture {
    pub fn start(ns: &Netns, ifname: &str) -> Capture {
        let dir = TempDir::new("pcap").expect("temporary directory");
        let file = dir.path().join("veth.pcap");
        let mut child = ns
            .command("tcpdump")
            .args([
                "-i",
                ifname,
                "-n",
                "-U",
                "--immediate-mode",
                "-s",
                "0",
                "-w",
            ])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        // tcpdump says "listening on ..." once it captures.
        let mut err = child.stderr.take().expect("tcpdump stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut seen = String::new();
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.push_str(&String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])));
                if seen.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("tcpdump started listening");
        Capture {
            child: Some(child),
            file,
            _dir: dir,
        }
    }

    /// tcpdump's decode of what was captured so far.
    pub fn text(&self) -> String {
        std::process::Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&self.file)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Waits (bounded) until the decode shows every one of `needles`
    /// (packets reach the file a little after they crossed the wire).
    pub fn wait_for(&self, needles: &[&str]) -> Result<(), String> {
        wait_until(Duration::from_secs(10), "the capture", || {
            let t = self.text();
            needles.iter().all(|n| t.contains(n))
        })
        .map(|_| ())
        .map_err(|e| format!("{e}: {needles:?} not in\n{}", self.text()))
    }

    /// Stops the capture and returns (raw pcap bytes, tcpdump's decode).
    pub fn stop(mut self) -> (Vec<u8>, String) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let raw = std::fs::read(&self.file).unwrap_or_default();
        let text = std::process::Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&self.file)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        (raw, text)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Adds the second inner addresses of tests with two subnet pairs:
/// 10.3.0.1 on west's loopback and 10.4.0.1 on east's.
pub fn add_second_inner_addresses(net: &NetPair) {
    for (ns, addr) in [(&net.west, "10.3.0.1/32"), (&net.east, "10.4.0.1/32")] {
        ns.exec_ok(&["ip", "addr", "add", addr, "dev", "lo"])
            .expect("second inner address");
    }
}
