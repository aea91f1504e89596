//! Benchmark: 10,000 generated connections added to a running daemon, then
//! the time of `ipsec auto --status` (target: under 200 ms) and of
//! `--status --json`. Run with `cargo bench -p ipsec --bench status`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const IPSEC: &str = env!("CARGO_BIN_EXE_ipsec");
const CONNS: usize = 10_000;
const RUNS: usize = 7;

struct Cleanup {
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn generate(path: &Path) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::from("config setup\n\tlogtime=no\n\n");
    for i in 0..CONNS {
        let (a, b) = (i / 250, i % 250 + 1);
        let _ = write!(
            text,
            "conn bench{i:05}\n\tleft=192.0.2.1\n\tleftid=@west{i}\n\tleftsubnet=10.{a}.{b}.0/24\n\
             \tright=198.51.{a}.{b}\n\trightid=@east{i}\n\trightsubnet=10.100.{b}.0/24\n\
             \tauthby=secret\n\tauto=add\n\n"
        );
    }
    std::fs::write(path, text)
}

/// CPU time (user + system) the process has used, from /proc (clock ticks
/// of 10 ms, Linux's USER_HZ).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("ferroswan-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut guard = Cleanup {
        dir: dir.clone(),
        child: None,
    };
    let empty = dir.join("empty.conf");
    std::fs::write(&empty, "config setup\n\tlogtime=no\n").expect("write config");
    std::fs::write(dir.join("ipsec.secrets"), ": PSK \"bench-secret-1234\"\n").expect("secrets");
    let big = dir.join("big.conf");
    generate(&big).expect("generate config");
    let child = Command::new(IPSEC)
        .args(["pluto", "--nofork", "--rundir"])
        .arg(dir.join("run"))
        .arg("--config")
        .arg(&empty)
        .arg("--secretsfile")
        .arg(dir.join("ipsec.secrets"))
        .arg("--logfile")
        .arg(dir.join("pluto.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pluto");
    let pid = child.id();
    guard.child = Some(child);
    let sock = dir.join("run/pluto.ctl");
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "pluto did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sock_s = sock.display().to_string();

    let cpu0 = cpu_time(pid);
    let t = Instant::now();
    let o = Command::new(IPSEC)
        .args(["addconn", "--ctlsocket", &sock_s, "--autoall", "--config"])
        .arg(&big)
        .output()
        .expect("addconn");
    let load = t.elapsed();
    let load_cpu = cpu_time(pid).saturating_sub(cpu0);
    assert!(
        o.status.success(),
        "addconn failed: {}",
        String::from_utf8_lossy(&o.stdout)
    );

    let cpu1 = cpu_time(pid);
    let mut text_times = Vec::new();
    let mut lines = 0;
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let o = Command::new(IPSEC)
            .args(["auto", "--ctlsocket", &sock_s, "--status"])
            .output()
            .expect("status");
        text_times.push(t.elapsed());
        assert!(o.status.success());
        bytes = o.stdout.len();
        lines = o.stdout.iter().filter(|b| **b == b'\n').count();
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains(&format!(
            "Total IPsec connections: loaded {CONNS}, active 0"
        )));
    }
    let status_cpu = cpu_time(pid).saturating_sub(cpu1) / RUNS as u32;
    let mut json_times = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let o = Command::new(IPSEC)
            .args(["auto", "--ctlsocket", &sock_s, "--status", "--json"])
            .output()
            .expect("status --json");
        json_times.push(t.elapsed());
        assert!(o.status.success());
    }
    let _ = Command::new(IPSEC)
        .args(["whack", "--ctlsocket", &sock_s, "--shutdown"])
        .output();
    let text_med = median(text_times.clone());
    println!("ferroswan status benchmark ({CONNS} connections, {RUNS} runs each)");
    println!(
        "  load {CONNS} connections (ipsec addconn --autoall): {:.1} ms (target < 1000 ms)",
        load.as_secs_f64() * 1e3
    );
    println!(
        "    of which daemon CPU (load, validate, add): {:.0} ms",
        load_cpu.as_secs_f64() * 1e3
    );
    println!(
        "  ipsec auto --status: median {:.1} ms, min {:.1} ms ({lines} lines, {bytes} bytes) (target < 200 ms)",
        text_med.as_secs_f64() * 1e3,
        text_times.iter().min().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "    daemon CPU per status (render): {:.0} ms",
        status_cpu.as_secs_f64() * 1e3
    );
    println!(
        "  ipsec auto --status --json: median {:.1} ms",
        median(json_times).as_secs_f64() * 1e3
    );
}
