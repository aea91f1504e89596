//! Shared by the root-level tunnel tests: a ferroswan daemon running
//! inside a test namespace, driven by the real `ipsec` binary.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use testkit::{wait_until, Netns, TempDir};

/// The binary under test.
pub const IPSEC: &str = env!("CARGO_BIN_EXE_ipsec");

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
        Daemon::start_args(ns, conf, secrets, files, &[])
    }

    /// Like [`Daemon::start_with`], with extra `ipsec pluto` arguments.
    pub fn start_args(
        ns: &Netns,
        conf: &str,
        secrets: &str,
        files: &[(&str, &[u8])],
        args: &[&str],
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
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let server = scope.spawn(|| -> Result<(), String> {
            east.enter_current_thread()?;
            let l = TcpListener::bind("10.2.0.1:5001").map_err(|e| e.to_string())?;
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
            let mut s = TcpStream::connect_timeout(
                &SocketAddr::from(([10, 2, 0, 1], 5001)),
                Duration::from_secs(10),
            )
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
