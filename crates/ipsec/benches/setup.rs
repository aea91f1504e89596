//! Benchmark: the speed of tunnel setup. N tunnels (IKE SA + Child SA,
//! Curve25519, AES-GCM-256, PSK, one connection per tunnel, a distinct /32
//! on each side per connection) between two ferroswan daemons in two
//! network namespaces, serially (one `--up` at a time, waiting for it) and
//! all at once (`--asynchronous`, then until the responder's JSON status
//! shows N established Child SAs), beside a strongSwan pair (two charons,
//! `swanctl --initiate`) measured the same way in the same run.
//!
//! Every run starts on fresh namespaces and freshly started daemons.
//!
//! Run with `cargo bench -p ipsec --bench setup` (as root). Environment:
//! `BENCH_N` (default 500; 20 is the smoke check), `BENCH_RUNS` (runs per
//! mode, default 3; the ratios use the median), `BENCH_SW=0` skips
//! strongSwan, `BENCH_TIMEOUT` (seconds per run, default 120).

use std::io::{BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use control::{read_reply, write_request, ReplyLine, Request, StatusKind};
use testkit::{wait_until, Charon, CharonConn, NetPair, Netns, TempDir};

const IPSEC: &str = env!("CARGO_BIN_EXE_ipsec");
const PSK: &str = "setup benchmark secret, not for production";
/// ferroswan's spelling of strongSwan's `aes256gcm16-prfsha384-x25519`.
const IKE: &str = "aes_gcm256-sha2_384;dh31";
const ESP: &str = "aes_gcm256";
const SW_IKE: &str = "aes256gcm16-prfsha384-x25519";
const SW_ESP: &str = "aes256gcm16";

type Result<T> = std::result::Result<T, String>;

/// The inner address of connection `i` (1-based) on side `net` (201 west,
/// 202 east): 10.NET.x.y, 250 per /24.
fn inner(net: u32, i: usize) -> String {
    format!("10.{net}.{}.{}", i / 250, i % 250 + 1)
}

/// Both ferroswan daemons load the same file; each orients itself.
fn ferroswan_conf(pair: &NetPair, n: usize) -> String {
    use std::fmt::Write as _;
    let logtime = if std::env::var_os("BENCH_SHOW_LOG").is_some() {
        "yes"
    } else {
        "no"
    };
    // BENCH_IKE_BUFSIZE: the daemons' ike-socket-bufsize= (default: theirs).
    let bufsize = std::env::var("BENCH_IKE_BUFSIZE")
        .map(|b| format!("\tike-socket-bufsize={b}\n"))
        .unwrap_or_default();
    let mut s = format!("config setup\n\tprotostack=userspace\n\tlogtime={logtime}\n{bufsize}\n");
    for i in 1..=n {
        let _ = write!(
            s,
            "conn bench-{i}\n\tleft={}\n\tleftid=@west-{i}\n\tleftsubnet={}/32\n\
             \tright={}\n\trightid=@east\n\trightsubnet={}/32\n\
             \tauthby=secret\n\tike={IKE}\n\tesp={ESP}\n\tauto=add\n\n",
            pair.west_addr,
            inner(201, i),
            pair.east_addr,
            inner(202, i)
        );
    }
    s
}

/// Adds the N inner /32 addresses on each side's loopback.
fn add_inner_addrs(pair: &NetPair, n: usize) -> Result<()> {
    for (ns, net) in [(&pair.west, 201), (&pair.east, 202)] {
        let mut batch = String::new();
        for i in 1..=n {
            batch.push_str(&format!("addr add {}/32 dev lo\n", inner(net, i)));
        }
        let mut child = ns
            .command("ip")
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("ip -batch: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(batch.as_bytes())
                .map_err(|e| format!("ip -batch: {e}"))?;
        }
        let st = child.wait().map_err(|e| format!("ip -batch: {e}"))?;
        if !st.success() {
            return Err(format!("ip -batch in {} failed", ns.name()));
        }
    }
    Ok(())
}

/// utime + stime of a process (all its threads), from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 of the line are 12th and 13th after the name.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// UDP RcvbufErrors of a namespace (datagrams dropped for a full buffer).
fn udp_rcvbuf_errors(ns: &Netns) -> u64 {
    let Ok(o) = ns.exec(&["cat", "/proc/net/snmp"]) else {
        return 0;
    };
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(head), Some(vals)) = (udp.next(), udp.next()) else {
        return 0;
    };
    head.split_whitespace()
        .zip(vals.split_whitespace())
        .find(|(k, _)| *k == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// A `ipsec pluto --nofork` in a namespace, killed on drop.
struct Pluto {
    dir: TempDir,
    child: Option<Child>,
    pid: u32,
}

impl Pluto {
    fn start(ns: &Netns, conf: &str, n: usize) -> Result<Pluto> {
        let dir = TempDir::new("setup").map_err(|e| e.to_string())?;
        let d = dir.path().to_path_buf();
        std::fs::write(d.join("ipsec.conf"), conf).map_err(|e| e.to_string())?;
        std::fs::write(d.join("ipsec.secrets"), format!(": PSK \"{PSK}\"\n"))
            .map_err(|e| e.to_string())?;
        std::fs::create_dir_all(d.join("run")).map_err(|e| e.to_string())?;
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start ipsec pluto: {e}"))?;
        // `ip netns exec` execs the program: the child is pluto itself.
        let pid = child.id();
        let p = Pluto {
            dir,
            child: Some(child),
            pid,
        };
        let want = format!("Total IPsec connections: loaded {n},");
        wait_until(
            Duration::from_secs(60),
            "pluto loading its connections",
            || {
                p.request(&Request::Status {
                    kind: StatusKind::Full,
                    json: false,
                })
                .map(|(_, text)| text.contains(&want))
                .unwrap_or(false)
            },
        )
        .map_err(|e| format!("{e}\n{}", p.log_tail()))?;
        Ok(p)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/pluto.ctl")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("pluto.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let keep = std::env::var("BENCH_SHOW_LOG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        lines[lines.len().saturating_sub(keep)..].join("\n")
    }

    /// How many IKE requests this daemon retransmitted (a lost datagram
    /// costs a 0.5 s retransmit timer and shows in the run's total).
    fn retransmits(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("pluto.log"))
            .map(|log| log.matches("retransmitting request").count())
            .unwrap_or(0)
    }

    /// One request over the control socket: (failed?, reply text).
    fn request(&self, req: &Request) -> Result<(bool, String)> {
        let mut s = UnixStream::connect(self.socket()).map_err(|e| format!("connect: {e}"))?;
        send_and_read(&mut s, req)
    }

    fn cpu(&self) -> Duration {
        cpu_time(self.pid)
    }

    /// Established Child SAs from `ipsec briefstatus`'s counts, cheap
    /// enough to poll while the tunnels come up (the JSON status of N
    /// tunnels is about 2.8 KB each and would hold the event loop).
    fn established_children(&self) -> Result<usize> {
        let (_, text) = self.request(&Request::Status {
            kind: StatusKind::Brief,
            json: false,
        })?;
        text.lines()
            .find_map(|l| {
                let rest = l.split("IPsec SAs: total(").nth(1)?;
                rest.split(')').next()?.parse().ok()
            })
            .ok_or_else(|| format!("no IPsec SA count in briefstatus: {text}"))
    }

    /// Established (IKE SAs, Child SAs) from the JSON status.
    fn established(&self) -> Result<(usize, usize, usize)> {
        let (_, text) = self.request(&Request::Status {
            kind: StatusKind::Full,
            json: true,
        })?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("status JSON: {e}"))?;
        let states = doc["states"].as_array().cloned().unwrap_or_default();
        let count = |kind: &str, state: &str| {
            states
                .iter()
                .filter(|s| s["kind"] == kind && s["state"] == state)
                .count()
        };
        Ok((
            count("IKE", "STATE_V2_ESTABLISHED_IKE_SA"),
            count("CHILD", "STATE_V2_ESTABLISHED_CHILD_SA"),
            text.len(),
        ))
    }
}

impl Drop for Pluto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Connects to the control socket and writes `req`; the reply is read later.
fn send_request(sock: &Path, req: &Request, timeout: Duration) -> Result<UnixStream> {
    let mut s = UnixStream::connect(sock).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write_request(&mut s, req).map_err(|e| e.to_string())?;
    Ok(s)
}

fn send_and_read(s: &mut UnixStream, req: &Request) -> Result<(bool, String)> {
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write_request(s, req).map_err(|e| format!("send: {e}"))?;
    read_back(s)
}

fn read_back(s: &UnixStream) -> Result<(bool, String)> {
    let mut text = String::new();
    let rc = read_reply(&mut BufReader::new(s), |line| {
        if let Some(t) = line.display(false) {
            text.push_str(&t);
            text.push('\n');
        } else if let ReplyLine::Verbose { text: t, .. } = line {
            text.push_str(t);
            text.push('\n');
        }
    })
    .map_err(|e| format!("reply: {e}"))?;
    Ok((rc.is_failure(), text))
}

fn initiate(name: String, asynchronous: bool) -> Request {
    Request::Initiate {
        name,
        remote_host: None,
        asynchronous,
    }
}

/// How one run went.
#[derive(Default)]
struct Run {
    implementation: &'static str,
    mode: &'static str,
    total: Duration,
    /// Per-tunnel latency (serial runs only).
    lat: Vec<Duration>,
    cpu_ini: Duration,
    cpu_resp: Duration,
    est_ini: usize,
    est_resp: usize,
    failed: usize,
    /// UDP receive-buffer drops in the (initiator, responder) namespace.
    rcvbuf_drops: (u64, u64),
    /// IKE requests retransmitted by (initiator, responder).
    retransmits: (usize, usize),
    note: String,
}

impl Run {
    fn rate(&self, n: usize) -> f64 {
        n.min(self.est_resp) as f64 / self.total.as_secs_f64().max(1e-9)
    }

    fn pct(&self, p: f64) -> Option<f64> {
        let mut v = self.lat.clone();
        v.sort();
        let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(idx).map(|d| d.as_secs_f64() * 1e3)
    }

    fn print(&self, n: usize) {
        let ms = |x: Option<f64>| {
            x.map(|v| format!("{v:6.2}"))
                .unwrap_or_else(|| "     -".into())
        };
        let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
        println!(
            "{:<10} {:<34} {:8.3} {:9.1} {} {} {:6.2} {:6.2} {:6.2}  {:>4}/{:<4} {:>3} {:>9}  {}",
            self.implementation,
            self.mode,
            self.total.as_secs_f64(),
            self.rate(n),
            ms(self.pct(0.5)),
            ms(self.pct(0.95)),
            per(self.cpu_ini),
            per(self.cpu_resp),
            per(self.cpu_ini + self.cpu_resp),
            self.est_ini,
            self.est_resp,
            self.failed,
            format!("{}/{}", self.rcvbuf_drops.0, self.rcvbuf_drops.1),
            self.note
        );
    }
}

#[derive(Clone, Copy, PartialEq)]
enum FsMode {
    /// One `ipsec auto --up` process at a time.
    SerialCli,
    /// One blocking Initiate on the control socket at a time.
    SerialSocket,
    /// N `ipsec auto --asynchronous --up` processes started at once.
    ParallelCli,
    /// N asynchronous Initiates on the control socket, back to back.
    ParallelSocket,
    /// N blocking Initiates on N control sockets, all sent before the
    /// first reply is read; ends with the last reply.
    ParallelBlocking,
}

impl FsMode {
    /// The name `BENCH_MODES` selects it by.
    fn key(self) -> &'static str {
        match self {
            FsMode::SerialCli => "serial-cli",
            FsMode::SerialSocket => "serial-socket",
            FsMode::ParallelCli => "parallel-cli",
            FsMode::ParallelSocket => "parallel-socket",
            FsMode::ParallelBlocking => "parallel-blocking",
        }
    }
}

fn ipsec_cmd(sock: &Path) -> Command {
    let mut c = Command::new(IPSEC);
    c.arg("auto")
        .arg("--ctlsocket")
        .arg(sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Polls the responder until it shows `n` established Child SAs (or the
/// deadline passes); returns the instant it saw them and how many polls.
fn poll_responder(east: &Pluto, n: usize, deadline: Instant) -> (Instant, usize) {
    let mut polls = 0;
    loop {
        polls += 1;
        if let Ok(child) = east.established_children() {
            if child >= n {
                return (Instant::now(), polls);
            }
        }
        if Instant::now() >= deadline {
            return (Instant::now(), polls);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn ferroswan_run(n: usize, mode: FsMode, timeout: Duration, last: bool) -> Result<(Run, String)> {
    let pair = NetPair::new()?;
    add_inner_addrs(&pair, n)?;
    let conf = ferroswan_conf(&pair, n);
    let west = Pluto::start(&pair.west, &conf, n)?;
    let east = Pluto::start(&pair.east, &conf, n)?;
    let sock = west.socket();
    let drops0 = (udp_rcvbuf_errors(&pair.west), udp_rcvbuf_errors(&pair.east));
    let (w0, e0) = (west.cpu(), east.cpu());
    let mut run = Run {
        implementation: "ferroswan",
        ..Run::default()
    };
    let deadline = Instant::now() + timeout;
    let t0 = Instant::now();
    match mode {
        FsMode::SerialCli | FsMode::SerialSocket => {
            run.mode = if mode == FsMode::SerialCli {
                "serial: ipsec auto --up"
            } else {
                "serial: control socket, blocking"
            };
            // The control-socket mode keeps one connection for all N
            // requests, as a vici client does.
            let mut conn = match mode {
                FsMode::SerialSocket => {
                    Some(UnixStream::connect(&sock).map_err(|e| format!("connect: {e}"))?)
                }
                _ => None,
            };
            for i in 1..=n {
                if Instant::now() >= deadline {
                    run.failed += n + 1 - i;
                    break;
                }
                let a = Instant::now();
                let ok = match conn.as_mut() {
                    None => ipsec_cmd(&sock)
                        .args(["--up", &format!("bench-{i}")])
                        .status()
                        .map(|s| s.success())
                        .unwrap_or(false),
                    Some(c) => send_and_read(c, &initiate(format!("bench-{i}"), false))
                        .map(|(failed, _)| !failed)
                        .unwrap_or(false),
                };
                run.lat.push(a.elapsed());
                if !ok {
                    run.failed += 1;
                }
            }
            run.total = t0.elapsed();
        }
        FsMode::ParallelCli => {
            run.mode = "all at once: ipsec auto --async --up";
            let mut children = Vec::with_capacity(n);
            for i in 1..=n {
                match ipsec_cmd(&sock)
                    .args(["--asynchronous", "--up", &format!("bench-{i}")])
                    .spawn()
                {
                    Ok(c) => children.push(c),
                    Err(_) => run.failed += 1,
                }
            }
            let issued = t0.elapsed();
            for mut c in children {
                if !c.wait().map(|s| s.success()).unwrap_or(false) {
                    run.failed += 1;
                }
            }
            let (end, polls) = poll_responder(&east, n, deadline);
            run.total = end - t0;
            run.note = format!(
                "spawned in {:.3}s, {polls} status polls",
                issued.as_secs_f64()
            );
        }
        FsMode::ParallelSocket => {
            run.mode = "all at once: control socket, async";
            // All N asynchronous requests are written (one connection
            // each) before the first acknowledgement is read, as a client
            // issuing non-blocking initiates at once does.
            let mut socks = Vec::with_capacity(n);
            for i in 1..=n {
                match send_request(&sock, &initiate(format!("bench-{i}"), true), timeout) {
                    Ok(s) => socks.push(s),
                    Err(_) => run.failed += 1,
                }
            }
            for s in &socks {
                if !matches!(read_back(s), Ok((false, _))) {
                    run.failed += 1;
                }
            }
            let issued = t0.elapsed();
            let (end, polls) = poll_responder(&east, n, deadline);
            run.total = end - t0;
            run.note = format!(
                "issued in {:.3}s, {polls} status polls",
                issued.as_secs_f64()
            );
        }
        FsMode::ParallelBlocking => {
            run.mode = "all at once: N sockets, blocking";
            let mut socks = Vec::with_capacity(n);
            for i in 1..=n {
                match send_request(&sock, &initiate(format!("bench-{i}"), false), timeout) {
                    Ok(s) => socks.push(s),
                    Err(_) => run.failed += 1,
                }
            }
            let issued = t0.elapsed();
            for s in &socks {
                if !matches!(read_back(s), Ok((false, _))) {
                    run.failed += 1;
                }
            }
            run.total = t0.elapsed();
            run.note = format!(
                "sent in {:.3}s; end = last --up reply",
                issued.as_secs_f64()
            );
        }
    }
    run.cpu_ini = west.cpu().saturating_sub(w0);
    run.cpu_resp = east.cpu().saturating_sub(e0);
    run.rcvbuf_drops = (
        udp_rcvbuf_errors(&pair.west).saturating_sub(drops0.0),
        udp_rcvbuf_errors(&pair.east).saturating_sub(drops0.1),
    );
    run.retransmits = (west.retransmits(), east.retransmits());
    if run.retransmits != (0, 0) {
        run.note = format!(
            "{}; retransmits {}/{}",
            run.note, run.retransmits.0, run.retransmits.1
        );
    }
    // Counted after the clock stopped; the serial runs wait for each SA.
    let _ = wait_until(Duration::from_secs(10), "all Child SAs on both", || {
        matches!(east.established(), Ok((_, c, _)) if c >= n)
            && matches!(west.established(), Ok((_, c, _)) if c >= n)
    });
    let (_, wc, _) = west.established()?;
    let t = Instant::now();
    let (_, ec, bytes) = east.established()?;
    let status_ms = t.elapsed().as_secs_f64() * 1e3;
    run.est_ini = wc;
    run.est_resp = ec;
    let mut extra = String::new();
    if last {
        let src = inner(201, n);
        let dst = inner(202, n);
        let ping = pair
            .west
            .exec(&["ping", "-c1", "-W2", "-I", &src, &dst])
            .map(|o| o.status.success())
            .unwrap_or(false);
        extra = format!(
            "responder JSON status with {ec} Child SAs: {bytes} bytes, {status_ms:.1} ms; \
             ping {src} -> {dst} through bench-{n}: {}",
            if ping { "OK" } else { "FAILED" }
        );
    }
    if run.est_resp < n || run.failed > 0 || std::env::var_os("BENCH_SHOW_LOG").is_some() {
        eprintln!(
            "ferroswan {}: {} failed, {}/{} established\ninitiator log tail:\n{}\nresponder log tail:\n{}",
            run.mode,
            run.failed,
            run.est_ini,
            run.est_resp,
            west.log_tail(),
            east.log_tail()
        );
    }
    Ok((run, extra))
}

fn charon_conns(pair: &NetPair, n: usize, west: bool) -> Vec<CharonConn> {
    (1..=n)
        .map(|i| {
            let name = format!("bench-{i}");
            let (wid, eid) = (format!("west-{i}@bench"), "east@bench".to_string());
            let (w, e) = (pair.west_addr.to_string(), pair.east_addr.to_string());
            let mut c = if west {
                CharonConn::psk(&name, &w, &e, &wid, &eid)
            } else {
                CharonConn::psk(&name, &e, &w, &eid, &wid)
            };
            c.proposals = SW_IKE.into();
            c.esp_proposals = SW_ESP.into();
            let (wts, ets) = (
                format!("{}/32", inner(201, i)),
                format!("{}/32", inner(202, i)),
            );
            (c.local_ts, c.remote_ts) = if west { (wts, ets) } else { (ets, wts) };
            c
        })
        .collect()
}

fn charon_pid(c: &Charon) -> u32 {
    std::fs::read_to_string(c.dir().join("run/charon.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn swanctl_initiate(c: &Charon, i: usize, wait: bool) -> Command {
    let name = format!("bench-{i}");
    let mut cmd = Command::new("swanctl");
    cmd.arg("--initiate")
        .arg("--uri")
        .arg(format!("unix://{}", c.dir().join("charon.vici").display()))
        .args(["--ike", &name, "--child", &name, "--timeout"])
        // A negative timeout: vici answers at once and keeps no worker
        // thread waiting (charon has 16 by default).
        .arg(if wait { "30" } else { "-1" })
        .env("STRONGSWAN_CONF", c.dir().join("strongswan.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// (established IKE SAs, installed Child SAs) from `swanctl --list-sas`.
fn charon_established(c: &Charon) -> (usize, usize) {
    let text = c.list_sas();
    let ike = text
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(", ESTABLISHED,"))
        .count();
    let child = text.lines().filter(|l| l.contains(", INSTALLED,")).count();
    (ike, child)
}

fn strongswan_run(n: usize, parallel: bool, timeout: Duration) -> Result<Run> {
    let pair = NetPair::new()?;
    add_inner_addrs(&pair, n)?;
    let secrets = format!("    ike-bench {{\n        secret = \"{PSK}\"\n    }}\n");
    let west = Charon::start_with_secrets(&pair.west, &charon_conns(&pair, n, true), &secrets)?;
    let east = Charon::start_with_secrets(&pair.east, &charon_conns(&pair, n, false), &secrets)?;
    let (wp, ep) = (charon_pid(&west), charon_pid(&east));
    let drops0 = (udp_rcvbuf_errors(&pair.west), udp_rcvbuf_errors(&pair.east));
    let (w0, e0) = (cpu_time(wp), cpu_time(ep));
    let mut run = Run {
        implementation: "strongSwan",
        ..Run::default()
    };
    let t0 = Instant::now();
    let deadline = t0 + timeout;
    if parallel {
        run.mode = "all at once: swanctl --initiate -t -1";
        let mut children = Vec::with_capacity(n);
        for i in 1..=n {
            match swanctl_initiate(&west, i, false).spawn() {
                Ok(c) => children.push(c),
                Err(_) => run.failed += 1,
            }
        }
        let issued = t0.elapsed();
        for mut c in children {
            if !c.wait().map(|s| s.success()).unwrap_or(false) {
                run.failed += 1;
            }
        }
        let mut polls = 0;
        while Instant::now() < deadline {
            polls += 1;
            if charon_established(&east).1 >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        run.total = t0.elapsed();
        run.note = format!(
            "spawned in {:.3}s, {polls} list-sas polls",
            issued.as_secs_f64()
        );
    } else {
        run.mode = "serial: swanctl --initiate";
        for i in 1..=n {
            let a = Instant::now();
            let ok = swanctl_initiate(&west, i, true)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            run.lat.push(a.elapsed());
            if !ok {
                run.failed += 1;
            }
        }
        run.total = t0.elapsed();
    }
    run.cpu_ini = cpu_time(wp).saturating_sub(w0);
    run.cpu_resp = cpu_time(ep).saturating_sub(e0);
    run.rcvbuf_drops = (
        udp_rcvbuf_errors(&pair.west).saturating_sub(drops0.0),
        udp_rcvbuf_errors(&pair.east).saturating_sub(drops0.1),
    );
    run.est_ini = charon_established(&west).1;
    run.est_resp = charon_established(&east).1;
    Ok(run)
}

/// Median wall time of `runs` spawns of `ipsec --version` (process start,
/// dynamic loading, exit: what every `ipsec auto` call pays).
fn spawn_cost(runs: usize) -> Duration {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let _ = Command::new(IPSEC)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            t.elapsed()
        })
        .collect();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    if !testkit::is_root() {
        eprintln!("the setup benchmark needs root (network namespaces); skipped");
        return;
    }
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0 && n <= 60_000)
        .unwrap_or(500);
    let timeout = Duration::from_secs(
        std::env::var("BENCH_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    );
    let with_sw =
        std::env::var("BENCH_SW").map(|v| v != "0").unwrap_or(true) && Charon::available();
    // strongSwan as the reference figures were taken: file log level 0.
    if std::env::var_os("FERROSWAN_CHARON_LOGLEVEL").is_none() {
        std::env::set_var("FERROSWAN_CHARON_LOGLEVEL", "0");
    }
    let cpus = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(0);
    println!(
        "setup benchmark: N={n} tunnels (IKE SA + Child SA, one connection each, /32 <-> /32), \
         IKE {IKE} (strongSwan {SW_IKE}), ESP {ESP}, PSK; {cpus} CPUs; load avg before: {}",
        loadavg()
    );
    let spawn = spawn_cost(30);
    println!(
        "{:<10} {:<34} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6} {:>6}  {:>9} {:>3} {:>9}",
        "impl",
        "mode",
        "total s",
        "setups/s",
        "p50ms",
        "p95ms",
        "cpuI",
        "cpuR",
        "cpu",
        "est I/R",
        "err",
        "drops I/R"
    );
    println!(
        "{:<46}(cpu = daemon utime+stime ms per SA: initiator, responder, both)",
        ""
    );
    let mut runs: Vec<Run> = Vec::new();
    let mut extra = String::new();
    let modes = [
        FsMode::SerialCli,
        FsMode::SerialSocket,
        FsMode::ParallelCli,
        FsMode::ParallelSocket,
        FsMode::ParallelBlocking,
    ];
    let only = std::env::var("BENCH_MODES").unwrap_or_default();
    // BENCH_RUNS: runs per mode (default 3, as the reference figures);
    // the ratios below use each mode's median run.
    let repeat: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r| r > 0 && r <= 50)
        .unwrap_or(3);
    let mut all: Vec<Run> = Vec::new();
    for (k, mode) in modes.iter().enumerate() {
        if !only.is_empty() && !only.split(',').any(|m| m == mode.key()) {
            continue;
        }
        for r in 0..repeat {
            let last = k + 1 == modes.len() && r + 1 == repeat;
            match ferroswan_run(n, *mode, timeout, last) {
                Ok((run, x)) => {
                    run.print(n);
                    all.push(run);
                    if !x.is_empty() {
                        extra = x;
                    }
                }
                Err(e) => println!("ferroswan run failed: {e}"),
            }
        }
    }
    if with_sw {
        for parallel in [false, true] {
            let key = if parallel { "sw-parallel" } else { "sw-serial" };
            if !only.is_empty() && !only.split(',').any(|m| m == key) {
                continue;
            }
            for _ in 0..repeat {
                match strongswan_run(n, parallel, timeout) {
                    Ok(r) => {
                        r.print(n);
                        all.push(r);
                    }
                    Err(e) => println!("strongSwan run failed: {e}"),
                }
            }
        }
    } else {
        println!("strongSwan: skipped (BENCH_SW=0 or charon/swanctl not installed)");
    }
    // The median run of each (implementation, mode), in the order run.
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in &all {
        if !keys.contains(&(r.implementation, r.mode)) {
            keys.push((r.implementation, r.mode));
        }
    }
    if repeat > 1 {
        println!("median of {repeat} runs [min-max setups/s]:");
    }
    for (imp, mode) in keys {
        let mut same: Vec<Run> = Vec::new();
        let mut rest: Vec<Run> = Vec::new();
        for r in all.drain(..) {
            if r.implementation == imp && r.mode == mode {
                same.push(r);
            } else {
                rest.push(r);
            }
        }
        all = rest;
        same.sort_by(|a, b| a.rate(n).total_cmp(&b.rate(n)));
        let (lo, hi) = (same[0].rate(n), same[same.len() - 1].rate(n));
        let failed = same.iter().any(|r| r.est_resp < n || r.failed > 0);
        let median = same.swap_remove(same.len() / 2);
        if repeat > 1 {
            println!(
                "  {imp:<10} {mode:<34} {:9.1} [{lo:.1}-{hi:.1}]",
                median.rate(n)
            );
        }
        let mut median = median;
        if failed {
            median.failed = median.failed.max(1);
        }
        runs.push(median);
    }
    let find = |imp: &str, mode: &str| {
        runs.iter()
            .find(|r| r.implementation == imp && r.mode.starts_with(mode))
    };
    println!("{extra}");
    if let (Some(cli), Some(sock)) = (
        find("ferroswan", "serial: ipsec"),
        find("ferroswan", "serial: control"),
    ) {
        let (c50, s50) = (cli.pct(0.5).unwrap_or(0.0), sock.pct(0.5).unwrap_or(0.0));
        println!(
            "where the serial time goes (p50): ipsec auto --up {c50:.2} ms = daemon round trip \
             (IKE_SA_INIT + IKE_AUTH + data plane, control socket) {s50:.2} ms + `ipsec` process \
             {:.2} ms; spawn+exit of `ipsec --version` alone: {:.2} ms",
            c50 - s50,
            spawn.as_secs_f64() * 1e3
        );
    }
    for (label, fs, sw) in [
        ("serial", "serial: ipsec", "serial"),
        ("serial, no process per --up", "serial: control", "serial"),
        ("all at once", "all at once: ipsec", "all at once"),
        (
            "all at once, control socket",
            "all at once: control",
            "all at once",
        ),
        (
            "all at once, N blocking sockets",
            "all at once: N sockets",
            "all at once",
        ),
    ] {
        if let (Some(f), Some(s)) = (find("ferroswan", fs), find("strongSwan", sw)) {
            let (fc, sc) = (f.cpu_ini + f.cpu_resp, s.cpu_ini + s.cpu_resp);
            let cpu = if fc.is_zero() || sc.is_zero() {
                "CPU ratio n/a (below the clock tick)".to_string()
            } else {
                format!(
                    "{:.2}x less CPU per SA",
                    sc.as_secs_f64() / fc.as_secs_f64()
                )
            };
            println!(
                "ratio ferroswan/strongSwan, {label}: {:.2}x setups/s ({:.1} vs {:.1}), {cpu}",
                f.rate(n) / s.rate(n).max(1e-9),
                f.rate(n),
                s.rate(n),
            );
        }
    }
    println!("load avg after: {}", loadavg());
    if runs.iter().any(|r| r.est_resp < n || r.failed > 0) {
        println!("WARNING: some runs did not establish all {n} tunnels (see above)");
        std::process::exit(1);
    }
}
