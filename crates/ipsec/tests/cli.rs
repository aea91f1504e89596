//! Drives the real `ipsec` binary against a real `ipsec pluto` in a
//! temporary run directory. Runs as root (CI does); the non-root check
//! runs the client as `nobody` through `setpriv`.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const IPSEC: &str = env!("CARGO_BIN_EXE_ipsec");
const PSK_SECRET: &str = "correct-horse-battery-staple";

const CONF: &str = "\
config setup
\tlogtime=no
\tuniqueids=yes

conn west-east
\tleft=203.0.113.1
\tleftid=@west
\tleftsubnet=10.1.0.0/16
\tright=203.0.113.2
\trightid=@east
\trightsubnet=10.2.0.0/16
\tauthby=secret
\tike=aes_gcm256-sha2_384;dh19
\tauto=ignore

conn loop
\tleft=127.0.0.1
\tright=203.0.113.9
\trightid=@peer
\tauthby=rsasig
\trightrsasigkey=0sAwEAAc3oZxwAAQID
\tauto=add

conn routed
\tleft=127.0.0.1
\tright=203.0.113.10
\tauthby=rsasig
\trightrsasigkey=0sAwEAAc3oZxwAAQID
\tauto=route

conn old
\tleft=203.0.113.1
\tright=203.0.113.2
\tauthby=secret
\tkeyexchange=ikev1
\tauto=ignore
";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p =
            std::env::temp_dir().join(format!("ferroswan-cli-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running daemon in its own directory; stopped and removed on drop.
struct Daemon {
    dir: TempDir,
    child: Option<Child>,
}

impl Daemon {
    fn start(tag: &str) -> Daemon {
        let dir = TempDir::new(tag);
        let d = &dir.0;
        std::fs::write(d.join("ipsec.conf"), CONF).unwrap();
        std::fs::write(
            d.join("ipsec.secrets"),
            format!("@west @east : PSK \"{PSK_SECRET}\"\n: PSK \"another-long-secret\"\n"),
        )
        .unwrap();
        std::fs::create_dir_all(d.join("ipsec.d")).unwrap();
        let child = Command::new(IPSEC)
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
            .unwrap();
        let mut daemon = Daemon {
            dir,
            child: Some(child),
        };
        daemon.wait_ready();
        daemon
    }

    fn dir(&self) -> &Path {
        &self.dir.0
    }

    fn socket(&self) -> PathBuf {
        self.dir().join("run/pluto.ctl")
    }

    fn pidfile(&self) -> PathBuf {
        self.dir().join("run/pluto.pid")
    }

    /// Polls (bounded) until the socket accepts a connection.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                let log = std::fs::read_to_string(self.dir().join("pluto.log")).unwrap_or_default();
                panic!("pluto exited during start-up: {status}\n{log}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("pluto did not open its socket within 20s");
    }

    /// Runs `ipsec ARGS` against this daemon's socket.
    fn ipsec(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(IPSEC);
        cmd.env("IPSEC_RUNDIR", self.dir().join("run"))
            .env("IPSEC_CONFS", self.dir());
        cmd.args(args).output().unwrap()
    }

    /// Polls (bounded) until the daemon exited; returns its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("pluto did not exit within 10s");
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn expect(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        out(o),
        err(o)
    );
}

#[test]
fn every_auto_operation() {
    let mut d = Daemon::start("ops");
    let mut all_output = String::new();
    let mut run = |args: &[&str], code: i32| -> Output {
        let o = d.ipsec(args);
        expect(&o, code);
        all_output.push_str(&out(&o));
        all_output.push_str(&err(&o));
        o
    };

    // Start-up handled auto=add and auto=route (the route fails: raw-key
    // authentication cannot load the private key yet). Nothing here opens
    // a data plane in the host's namespace.
    let o = run(&["auto", "--status"], 0);
    let s = out(&o);
    assert!(
        s.contains("000 \"loop\": 127.0.0.1...203.0.113.9[@peer]; unrouted; eroute owner: #0"),
        "{s}"
    );
    assert!(s.contains("000 \"loop\":     oriented;"), "{s}");
    assert!(s.contains("000 \"routed\": "), "{s}");
    assert!(
        s.contains("000 Total IPsec connections: loaded 2, active 0"),
        "{s}"
    );
    assert!(
        s.contains("000 IKE SAs: total(0), half-open(0), open(0), authenticated(0), anonymous(0)")
    );
    assert!(s.contains("000 interface lo UDP 127.0.0.1:500"), "{s}");
    assert!(s.contains("000 config setup options:"));
    let log = std::fs::read_to_string(d.dir().join("pluto.log")).unwrap();
    assert!(
        log.contains("\"routed\": cannot route: not implemented yet"),
        "{log}"
    );

    // add, duplicate add, status line.
    let o = run(&["auto", "--add", "west-east"], 0);
    assert_eq!(out(&o), "");
    let o = run(&["auto", "--add", "west-east"], 20);
    assert!(
        out(&o).contains("020 \"west-east\": attempt to redefine connection"),
        "{}",
        out(&o)
    );
    let o = run(&["auto", "--status"], 0);
    let s = out(&o);
    assert!(
        s.contains("000 \"west-east\": 10.1.0.0/16===203.0.113.1[@west]...203.0.113.2[@east]===10.2.0.0/16; unrouted; eroute owner: #0"),
        "{s}"
    );
    assert!(
        s.contains("000 \"west-east\":   IKE algorithms: AES_GCM_16_256-HMAC_SHA2_384-DH19"),
        "{s}"
    );
    let serial_before = s
        .lines()
        .find(|l| l.starts_with("000 \"west-east\":   newest IKE SA"))
        .unwrap()
        .to_string();

    // replace: same name, new serial.
    run(&["auto", "--replace", "west-east"], 0);
    let s = out(&run(&["auto", "--status"], 0));
    let serial_after = s
        .lines()
        .find(|l| l.starts_with("000 \"west-east\":   newest IKE SA"))
        .unwrap()
        .to_string();
    assert_ne!(serial_before, serial_after);

    // delete, and unknown names.
    run(&["auto", "--delete", "west-east"], 0);
    let o = run(&["auto", "--delete", "west-east"], 21);
    assert!(
        out(&o).contains("021 no connection named \"west-east\""),
        "{}",
        out(&o)
    );
    let o = run(&["auto", "--add", "nosuch"], 21);
    assert!(err(&o).contains("conn 'nosuch': not found (tried aliases)"));
    let o = run(&["auto", "--up", "nosuch"], 21);
    assert!(out(&o).contains("no connection named \"nosuch\""));

    // Raw-key authentication cannot load the private key yet: --up and
    // --route say so (57); --down and --unroute have nothing to remove.
    for (op, what) in [("--up", "initiate"), ("--route", "route")] {
        let o = run(&["auto", op, "loop"], 57);
        assert!(
            out(&o).contains(&format!("\"loop\": cannot {what}: not implemented yet")),
            "{op}: {}",
            out(&o)
        );
    }
    let o = run(&["auto", "--down", "loop"], 0);
    assert!(
        out(&o).contains("\"loop\": no IKE SA to delete"),
        "{}",
        out(&o)
    );
    run(&["auto", "--unroute", "loop"], 0);
    let o = run(&["auto", "--asynchronous", "--up", "loop"], 57);
    assert!(out(&o).contains("not implemented yet"));
    // --start = add + up: the add happens, the up fails (neither end of
    // west-east is this host).
    let o = run(&["auto", "--start", "west-east"], 56);
    assert!(
        out(&o).contains("\"west-east\": cannot initiate: cannot orient"),
        "{}",
        out(&o)
    );
    assert!(out(&run(&["auto", "--status"], 0)).contains("\"west-east\": 10.1.0.0/16"));
    run(&["auto", "--delete", "west-east"], 0);
    // --ondemand = add + route.
    let o = run(&["auto", "--ondemand", "west-east"], 25);
    assert!(
        out(&o).contains("cannot route: cannot orient"),
        "{}",
        out(&o)
    );
    run(&["auto", "--delete", "west-east"], 0);

    // IKEv1 is refused.
    // IKEv1: the CLI refuses it before sending (also with --showonly) ...
    let o = run(&["auto", "--add", "old"], 56);
    assert!(err(&o).contains("IKEv1 is not supported"), "{}", err(&o));
    let o = run(&["auto", "--showonly", "--add", "old"], 56);
    assert_eq!(out(&o), "");
    // ... and the daemon refuses it too (addconn sends it unchecked).
    let o = run(&["addconn", "old"], 56);
    assert!(
        out(&o).contains("\"old\": failed to add connection: IKEv1 is not supported"),
        "{}",
        out(&o)
    );

    // JSON status.
    run(&["auto", "--add", "west-east"], 0);
    let o = run(&["auto", "--status", "--json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&out(&o)).expect("status JSON parses");
    assert_eq!(doc["schema"], "ferroswan-status/1");
    let conns = doc["connections"].as_array().unwrap();
    let names: Vec<&str> = conns.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["loop", "routed", "west-east"]);
    let we = &conns[2];
    assert_eq!(we["routing"], "unrouted");
    assert_eq!(we["local"]["subnets"][0], "10.1.0.0/16");
    assert_eq!(we["remote"]["id"], "@east");
    assert_eq!(doc["totals"]["connections_loaded"], 3);
    assert!(
        we["origin"].as_str().unwrap().ends_with("ipsec.conf:5"),
        "{}",
        we["origin"]
    );
    assert_eq!(doc["ike_sas"]["total"], 0);
    let o = d.ipsec(&["whack", "--status", "--json"]);
    expect(&o, 0);
    assert!(serde_json::from_str::<serde_json::Value>(&out(&o)).is_ok());

    // rereadsecrets: good file, then a broken one (the old secrets stay).
    let o = run(&["auto", "--rereadsecrets"], 0);
    assert!(out(&o).contains("002 loading secrets from"), "{}", out(&o));
    let o = run(&["auto", "--listpubkeys"], 0);
    let s = out(&o);
    assert!(s.contains("000 List of Public Keys:"), "{s}");
    assert!(s.contains("RSA Key 0x"), "{s}");
    assert!(s.contains("ID_FQDN '@peer'"), "{s}");
    assert!(s.contains("000 List of Pre-shared secrets (from "), "{s}");
    assert!(s.contains(": PSK @west @east"), "{s}");
    assert!(s.contains(": PSK (none) (none)"), "{s}");
    std::fs::write(
        d.dir().join("ipsec.secrets"),
        ": PSK \"fine-secret-here\"\n@x : BOGUS \"zz\"\n",
    )
    .unwrap();
    let o = run(&["auto", "--rereadsecrets"], 56);
    assert!(out(&o).contains("ipsec.secrets:2"), "{}", out(&o));
    assert!(out(&o).contains("keeping the previous secrets"));
    let s = out(&run(&["auto", "--listpubkeys"], 0));
    assert!(
        s.contains(": PSK @west @east"),
        "previous secrets kept: {s}"
    );
    std::fs::write(
        d.dir().join("ipsec.secrets"),
        ": PSK \"fine-secret-here\"\n",
    )
    .unwrap();
    run(&["auto", "--rereadsecrets"], 0);
    let s = out(&run(&["auto", "--listpubkeys"], 0));
    assert!(!s.contains("@west @east"), "{s}");

    // Every list operation.
    for (op, header) in [
        ("--listcerts", "000 List of X.509 End Certificates:"),
        ("--listcacerts", "000 List of X.509 CA Certificates:"),
        ("--listcrls", "000 List of CRLs:"),
    ] {
        let o = run(&["auto", "--utc", op], 0);
        assert!(out(&o).contains(header), "{op}: {}", out(&o));
    }
    // --checkpubkeys lists only keys about to expire, without a header.
    let o = run(&["auto", "--utc", "--checkpubkeys"], 0);
    assert_eq!(out(&o), "", "nothing expires: nothing printed");
    let s = out(&run(&["auto", "--listall"], 0));
    assert!(
        s.starts_with("000  \n000 List of Public Keys:\n000  \n"),
        "{s}"
    );
    assert!(
        s.ends_with(
            "000     1: PSK (none) (none)\n000  \n\
             000 List of X.509 End Certificates:\n000  \n\
             000 List of X.509 CA Certificates:\n000  \n\
             000 List of CRLs:\n000  \n"
        ),
        "{s}"
    );
    for header in [
        "List of Public Keys:",
        "List of Pre-shared secrets",
        "List of X.509 End Certificates:",
        "List of X.509 CA Certificates:",
        "List of CRLs:",
    ] {
        assert!(s.contains(header), "{header}: {s}");
    }
    assert!(out(&run(&["auto", "--purgeocsp"], 0)).contains("List of CRLs:"));
    run(&["auto", "--rereadcerts"], 0);
    run(&["auto", "--fetchcrls"], 0);
    run(&["auto", "--rereadall"], 0);
    let o = run(&["auto", "--ready"], 0);
    assert!(
        out(&o).contains("interface addresses to listen on"),
        "{}",
        out(&o)
    );

    // Libreswan 5 spellings.
    run(&["delete", "west-east"], 0);
    run(&["add", "west-east"], 0);
    assert!(out(&run(&["status"], 0)).contains("\"west-east\":"));
    assert!(out(&run(&["briefstatus"], 0)).contains("IPsec SAs: total(0)"));

    // The secret never shows.
    assert!(!all_output.contains(PSK_SECRET));
    assert!(!all_output.contains("fine-secret-here"));

    // whack --shutdown: clean exit, socket and pid file removed.
    assert!(d.pidfile().exists());
    let o = d.ipsec(&["whack", "--shutdown"]);
    expect(&o, 0);
    assert_eq!(d.wait_exit(), Some(0));
    assert!(!d.socket().exists());
    assert!(!d.pidfile().exists());
    let log = std::fs::read_to_string(d.dir().join("pluto.log")).unwrap();
    assert!(!log.contains(PSK_SECRET));
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut d = Daemon::start("term");
    assert!(d.pidfile().exists());
    let pid = std::fs::read_to_string(d.pidfile()).unwrap();
    assert_eq!(pid.trim(), d.pid().to_string());
    // A second daemon on the same run directory refuses to start and
    // leaves the first one's socket and pid file alone.
    let o = Command::new(IPSEC)
        .args(["pluto", "--nofork", "--stderrlog", "--rundir"])
        .arg(d.dir().join("run"))
        .arg("--config")
        .arg(d.dir().join("ipsec.conf"))
        .output()
        .unwrap();
    expect(&o, 10);
    assert!(err(&o).contains("already running"), "{}", err(&o));
    assert!(d.socket().exists() && d.pidfile().exists());
    expect(&d.ipsec(&["auto", "--status"]), 0);
    let st = Command::new("kill")
        .args(["-TERM", &d.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(d.wait_exit(), Some(0));
    assert!(!d.socket().exists());
    assert!(!d.pidfile().exists());
}

#[test]
fn daemon_not_running_is_33() {
    let dir = TempDir::new("norun");
    let sock = dir.0.join("pluto.ctl");
    let o = Command::new(IPSEC)
        .args(["auto", "--ctlsocket"])
        .arg(&sock)
        .arg("--status")
        .output()
        .unwrap();
    expect(&o, 33);
    assert!(err(&o).contains(&sock.display().to_string()), "{}", err(&o));
    let o = Command::new(IPSEC)
        .args(["whack", "--ctlsocket"])
        .arg(&sock)
        .arg("--listall")
        .output()
        .unwrap();
    expect(&o, 33);
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn non_root_peer_is_refused() {
    if !running_as_root() {
        eprintln!("SKIPPED non_root_peer_is_refused: needs root (to run a client as nobody)");
        return;
    }
    let d = Daemon::start("nobody");
    let as_nobody = |args: &[&str]| -> Output {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", IPSEC])
            .args(args)
            .arg("--ctlsocket")
            .arg(d.socket())
            .output()
            .unwrap()
    };
    // Mode 0600: nobody cannot even connect.
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let o = as_nobody(&["auto", "--status"]);
    expect(&o, 33);
    assert!(err(&o).contains("Permission denied"), "{}", err(&o));
    // Even with the socket opened up, the credential check refuses.
    std::fs::set_permissions(d.dir().join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody(&["auto", "--status"]);
    expect(&o, 50);
    assert!(
        out(&o).contains("permission denied: uid 65534"),
        "{}",
        out(&o)
    );
    // Root still gets answers.
    expect(&d.ipsec(&["auto", "--status"]), 0);
}

fn raw_exchange(sock: &Path, bytes: &[u8], close: bool) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    if close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn malformed_requests_do_not_hurt() {
    let d = Daemon::start("garbage");
    let sock = d.socket();
    let r = raw_exchange(&sock, b"GET / HTTP/1.0\r\n\r\n", true);
    assert!(r.contains("bad magic") && r.ends_with("=050\n"), "{r}");
    let mut oversized = b"FSW1".to_vec();
    oversized.extend_from_slice(&(100u32 * 1024 * 1024).to_be_bytes());
    let r = raw_exchange(&sock, &oversized, true);
    assert!(
        r.contains("oversized request") && r.ends_with("=050\n"),
        "{r}"
    );
    let mut truncated = b"FSW1".to_vec();
    truncated.extend_from_slice(&100u32.to_be_bytes());
    truncated.extend_from_slice(b"{\"op\":");
    let r = raw_exchange(&sock, &truncated, true);
    assert!(
        r.contains("truncated request") && r.ends_with("=050\n"),
        "{r}"
    );
    let mut bad_json = b"FSW1".to_vec();
    bad_json.extend_from_slice(&9u32.to_be_bytes());
    bad_json.extend_from_slice(b"{\"op\":1}");
    bad_json.push(b' ');
    let r = raw_exchange(&sock, &bad_json, true);
    assert!(
        r.contains("malformed request") && r.ends_with("=050\n"),
        "{r}"
    );
    // An idle client does not block others.
    let _idle = UnixStream::connect(&sock).unwrap();
    let o = d.ipsec(&["auto", "--status"]);
    expect(&o, 0);
    assert!(out(&o).contains("Total IPsec connections: loaded 2"));
    // After a reply's final line the connection takes another request;
    // garbage after it gets an error and the connection closes.
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    for _ in 0..2 {
        let req = control::Request::Status {
            kind: control::StatusKind::Brief,
            json: false,
        };
        control::write_request(&mut s, &req).unwrap();
        let mut text = String::new();
        let rc = control::read_reply(&mut reader, |l| text.push_str(&format!("{l:?}\n")))
            .expect("a whole reply");
        assert_eq!(rc, control::Rc::OK, "{text}");
        assert!(text.contains("IKE SAs: total(0)"), "{text}");
    }
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.ends_with("=050\n"), "{rest}");
}

#[test]
fn showonly_validates_the_configuration() {
    let dir = TempDir::new("showonly");
    let good = dir.0.join("good.conf");
    std::fs::write(&good, CONF).unwrap();
    let bad = dir.0.join("bad.conf");
    std::fs::write(
        &bad,
        "conn x\n\tleft=203.0.113.1\n\tright=203.0.113.2\n\tfrobnicate=yes\n",
    )
    .unwrap();
    let sock = dir.0.join("pluto.ctl");
    let sock_s = sock.display().to_string();
    let run = |args: &[&str]| {
        Command::new(IPSEC)
            .args(args)
            .env("IPSEC_RUNDIR", &dir.0)
            .output()
            .unwrap()
    };
    let good_s = good.display().to_string();
    let o = run(&[
        "auto",
        "--showonly",
        "--config",
        &good_s,
        "--start",
        "west-east",
    ]);
    expect(&o, 0);
    assert_eq!(
        out(&o),
        format!(
            "ipsec addconn --ctlsocket {sock_s} --config {good_s} west-east\n\
             ipsec whack --ctlsocket {sock_s} --name west-east --initiate\n"
        )
    );
    let o = run(&["auto", "-n", "--config", &good_s, "--replace", "west-east"]);
    expect(&o, 0);
    assert_eq!(out(&o).lines().count(), 2);
    let o = run(&["auto", "--showonly", "--config", &good_s, "west-east", "up"]);
    expect(&o, 0);
    assert_eq!(
        err(&o),
        "ipsec auto: warning: obsolete command syntax used\n"
    );
    assert_eq!(
        out(&o),
        format!("ipsec whack --ctlsocket {sock_s} --name west-east --initiate\n")
    );
    let o = run(&["auto", "--dry-run", "--config", &good_s, "--up", "nosuch"]);
    expect(&o, 21);
    let bad_s = bad.display().to_string();
    let o = run(&["auto", "--showonly", "--config", &bad_s, "--add", "x"]);
    expect(&o, 3);
    assert!(err(&o).contains("bad.conf:4"), "{}", err(&o));
    assert_eq!(out(&o), "");
    let o = run(&["auto", "--showonly", "--status"]);
    expect(&o, 0);
    assert_eq!(
        out(&o),
        format!("ipsec whack --ctlsocket {sock_s} --status\n")
    );

    // addconn --checkconfig, no daemon needed.
    expect(&run(&["addconn", "--config", &good_s, "--checkconfig"]), 0);
    let o = run(&["addconn", "--config", &bad_s, "--checkconfig"]);
    expect(&o, 3);
    assert!(err(&o).contains("bad.conf:4"));
}

#[test]
fn addconn_autoall_and_rootdir() {
    let d = Daemon::start("addconn");
    let conf = d.dir().join("ipsec.conf").display().to_string();
    let o = d.ipsec(&["addconn", "--config", &conf, "--autoall"]);
    // loop and routed are loaded already (auto=add/route at start-up).
    expect(&o, 20);
    let o = d.ipsec(&["addconn", "--config", &conf, "west-east"]);
    expect(&o, 0);
    let o = d.ipsec(&["addconn", "--config", &conf, "nosuch"]);
    expect(&o, 21);
    // --rootdir: absolute includes resolve under the root.
    let root = TempDir::new("root");
    std::fs::create_dir_all(root.0.join("etc/ipsec.d")).unwrap();
    std::fs::write(
        root.0.join("etc/ipsec.d/extra.conf"),
        "conn extra\n\tleft=203.0.113.1\n\tright=203.0.113.2\n\tauthby=secret\n",
    )
    .unwrap();
    let main = root.0.join("main.conf");
    std::fs::write(&main, "include /etc/ipsec.d/*.conf\n").unwrap();
    let main_s = main.display().to_string();
    let root_s = root.0.display().to_string();
    let o = d.ipsec(&[
        "addconn",
        "--config",
        &main_s,
        "--rootdir",
        &root_s,
        "--checkconfig",
        "extra",
    ]);
    expect(&o, 0);
    let o = d.ipsec(&[
        "addconn",
        "--config",
        &main_s,
        "--rootdir",
        &root_s,
        "extra",
    ]);
    expect(&o, 0);
    assert!(out(&d.ipsec(&["auto", "--status"])).contains("\"extra\": 203.0.113.1...203.0.113.2"));
}

#[test]
fn usage_texts_and_exit_statuses() {
    let run = |args: &[&str]| Command::new(IPSEC).args(args).output().unwrap();
    let o = run(&["auto", "--help"]);
    expect(&o, 0);
    assert!(out(&o).starts_with(
        "Usage:\n\tipsec auto [--showonly] [--asynchronous] --up connectionname \\\n"
    ));
    assert!(out(&o).ends_with(
        "\tother options: [--config ipsecconfigfile] [--verbose] \\\n\t\t[--ctlsocket <file>]\n"
    ));
    for args in [
        &["auto"][..],
        &["auto", "--add"],
        &["auto", "--up", "a", "b"],
        &["auto", "--add", "--delete", "x"],
    ] {
        let o = run(args);
        expect(&o, 2);
        assert!(err(&o).starts_with("Usage:\n"), "{args:?}");
        assert_eq!(out(&o), "");
    }
    let o = run(&["auto", "--bogus"]);
    expect(&o, 2);
    assert_eq!(err(&o), "ipsec auto: unknown option \"--bogus\"\n");
    let o = run(&[]);
    expect(&o, 2);
    assert!(err(&o).starts_with("Usage: ipsec {command} [argument] ...>\n"));
    let o = run(&["--version"]);
    expect(&o, 0);
    assert!(out(&o).starts_with("ferroswan "));
    expect(&run(&["--help"]), 0);
    expect(&run(&["whack", "--help"]), 0);
    expect(&run(&["addconn", "--help"]), 0);
    expect(&run(&["pluto", "--help"]), 0);
}

/// Stops a background daemon (by its pid file) when the test ends.
struct KillByPidFile(PathBuf);

impl Drop for KillByPidFile {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
    }
}

fn wait_gone(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(Instant::now() < deadline, "{} still there", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn start_restart_stop() {
    let dir = TempDir::new("start");
    let conf = dir.0.join("ipsec.conf");
    std::fs::write(&conf, CONF).unwrap();
    let run_dir = dir.0.join("run");
    let pidfile = run_dir.join("pluto.pid");
    let _guard = KillByPidFile(pidfile.clone());
    let daemon_args = |cmd: &str| {
        let mut c = Command::new(IPSEC);
        c.arg(cmd)
            .arg("--rundir")
            .arg(&run_dir)
            .arg("--config")
            .arg(&conf)
            .arg("--logfile")
            .arg(dir.0.join("pluto.log"));
        c.output().unwrap()
    };
    expect(&daemon_args("start"), 0);
    let first = std::fs::read_to_string(&pidfile).unwrap();
    let status = Command::new(IPSEC)
        .args(["status"])
        .env("IPSEC_RUNDIR", &run_dir)
        .output()
        .unwrap();
    expect(&status, 0);
    assert!(out(&status).contains("\"loop\":"));
    expect(&daemon_args("restart"), 0);
    let second = std::fs::read_to_string(&pidfile).unwrap();
    assert_ne!(first, second);
    let o = Command::new(IPSEC)
        .args(["stop"])
        .env("IPSEC_RUNDIR", &run_dir)
        .output()
        .unwrap();
    expect(&o, 0);
    wait_gone(&run_dir.join("pluto.ctl"));
    wait_gone(&pidfile);
}
