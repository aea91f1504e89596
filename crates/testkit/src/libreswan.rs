//! Libreswan's pluto as a test peer, inside a network namespace.
//!
//! Debian's libreswan package conflicts with strongSwan's, so it is not
//! installed but unpacked into [`LIBRESWAN_ROOT`] (`scripts/install-deps`).
//! Every command runs through `ip netns exec`, which gives it a private
//! mount namespace; in there, and only there:
//!
//! - `/usr/libexec` and `/usr/sbin` are read-only overlays with the unpacked
//!   Libreswan on top (pluto has `/usr/libexec/ipsec/addconn` compiled in,
//!   and `/usr/sbin/ipsec` must be Libreswan's, not strongswan-starter's);
//! - `/etc/ipsec.conf`, `/etc/ipsec.secrets` and `/etc/ipsec.d`, where the
//!   host has them, are bind mounts of this peer's own files;
//! - `IPSEC_RUNDIR` points at the peer's run directory, so `ipsec auto` and
//!   `ipsec whack` talk to this pluto's control socket.
//!
//! pluto itself gets `--config --secretsfile --ipsecdir --nssdir --rundir
//! --logfile --dumpdir --nofork --no-dnssec`, all under the peer's temporary
//! directory, with its own NSS database made by `ipsec initnss`. Nothing of
//! the host is written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::netns::Netns;
use crate::tempdir::TempDir;
use crate::wait::wait_until;

/// Where `scripts/install-deps` unpacks Libreswan (override with
/// `FERROSWAN_LIBRESWAN_ROOT`).
pub const LIBRESWAN_ROOT: &str = "/opt/ferroswan-libreswan";

/// How long one `ipsec` command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The script that sets up the private file-system view, then execs the
/// command: `sh -c SCRIPT fs-lsw DIR ROOT CMD...`.
const VIEW_SCRIPT: &str = r#"d=$1 root=$2; shift 2
mount -t overlay fs-lsw-libexec -o "lowerdir=$root/usr/libexec:/usr/libexec" /usr/libexec || exit 125
mount -t overlay fs-lsw-sbin -o "lowerdir=$root/usr/sbin:/usr/sbin" /usr/sbin || exit 125
for f in ipsec.conf ipsec.secrets ipsec.d; do
    if [ -e "/etc/$f" ]; then mount --bind "$d/$f" "/etc/$f" || exit 125; fi
done
exec "$@""#;

/// The unpacked Libreswan in use.
pub fn libreswan_root() -> PathBuf {
    std::env::var_os("FERROSWAN_LIBRESWAN_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(LIBRESWAN_ROOT))
}

/// One ipsec.conf `conn` section (IKEv2). `left` is always this pluto.
#[derive(Debug, Clone)]
pub struct LibreswanConn {
    /// `conn NAME`.
    pub name: String,
    /// `left=` (this pluto's address).
    pub left: String,
    /// `right=` (the peer's address, or `%any`).
    pub right: String,
    /// `leftid=`.
    pub leftid: String,
    /// `rightid=`.
    pub rightid: String,
    /// `leftsubnet=`, when set.
    pub leftsubnet: Option<String>,
    /// `rightsubnet=`, when set.
    pub rightsubnet: Option<String>,
    /// `authby=` (`secret`, `rsasig`, ...).
    pub authby: String,
    /// `ike=`, Libreswan spelling; empty leaves Libreswan's default.
    pub ike: String,
    /// `esp=`, Libreswan spelling; empty leaves Libreswan's default.
    pub esp: String,
    /// `leftrsasigkey=`, when set.
    pub leftrsasigkey: Option<String>,
    /// `rightrsasigkey=`, when set.
    pub rightrsasigkey: Option<String>,
    /// Extra `key=value` lines for the section, without indentation.
    pub extra: Vec<String>,
}

impl LibreswanConn {
    /// An IKEv2 PSK connection with AES-GCM-256 / SHA2-384 / Curve25519
    /// for IKE and AES-GCM-256 for ESP, `auto=ignore`.
    pub fn psk(name: &str, left: &str, right: &str, leftid: &str, rightid: &str) -> Self {
        LibreswanConn {
            name: name.to_string(),
            left: left.to_string(),
            right: right.to_string(),
            leftid: leftid.to_string(),
            rightid: rightid.to_string(),
            leftsubnet: None,
            rightsubnet: None,
            authby: "secret".to_string(),
            ike: "aes_gcm256-sha2_384-dh31".to_string(),
            esp: "aes_gcm256".to_string(),
            leftrsasigkey: None,
            rightrsasigkey: None,
            extra: Vec::new(),
        }
    }

    /// The same connection with raw RSA keys (`authby=rsasig`).
    pub fn with_rsa(mut self, leftrsasigkey: &str, rightrsasigkey: &str) -> Self {
        self.authby = "rsasig".to_string();
        self.leftrsasigkey = Some(leftrsasigkey.to_string());
        self.rightrsasigkey = Some(rightrsasigkey.to_string());
        self
    }

    /// The `conn` section as ipsec.conf text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "conn {}", self.name);
        let mut line = |k: &str, v: &str| {
            let _ = writeln!(out, "\t{k}={v}");
        };
        line("ikev2", "yes");
        line("auto", "ignore");
        line("authby", &self.authby);
        line("left", &self.left);
        line("leftid", &self.leftid);
        line("right", &self.right);
        line("rightid", &self.rightid);
        if let Some(s) = &self.leftsubnet {
            line("leftsubnet", s);
        }
        if let Some(s) = &self.rightsubnet {
            line("rightsubnet", s);
        }
        if let Some(k) = &self.leftrsasigkey {
            line("leftrsasigkey", k);
        }
        if let Some(k) = &self.rightrsasigkey {
            line("rightrsasigkey", k);
        }
        if !self.ike.is_empty() {
            line("ike", &self.ike);
        }
        if !self.esp.is_empty() {
            line("esp", &self.esp);
        }
        for e in &self.extra {
            let _ = writeln!(out, "\t{e}");
        }
        out.push('\n');
        out
    }
}

/// What an `ipsec` command printed and how it exited.
#[derive(Debug, Clone)]
pub struct LswOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl LswOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout followed by stderr.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Ok with the output when it exited 0, else an error with all of it.
    pub fn ok(self) -> Result<LswOutput, String> {
        if self.success() {
            Ok(self)
        } else {
            Err(format!(
                "`{}` exited with {}:\n{}",
                self.command,
                self.status,
                self.text()
            ))
        }
    }
}

/// A running pluto, stopped on drop.
#[derive(Debug)]
pub struct Libreswan {
    dir: TempDir,
    child: Option<Child>,
    ns_name: String,
    root: PathBuf,
}

impl Libreswan {
    /// True when the unpacked Libreswan (pluto and `ipsec`) is present.
    pub fn available() -> bool {
        let root = libreswan_root();
        root.join("usr/libexec/ipsec/pluto").exists()
            && root.join("usr/sbin/ipsec").exists()
            && crate::have_program("ip")
    }

    /// The Libreswan version (`Libreswan 4.10`), from `pluto --version`.
    pub fn version() -> Result<String, String> {
        let pluto = libreswan_root().join("usr/libexec/ipsec/pluto");
        let out = Command::new(&pluto)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", pluto.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let mut words = text.split_whitespace();
        match (words.next(), words.next()) {
            (Some(name), Some(version)) => Ok(format!("{name} {version}")),
            _ => Err(format!("unexpected pluto --version output: {text}")),
        }
    }

    /// Starts pluto inside `ns` with `conns` in its ipsec.conf and `secrets`
    /// as its ipsec.secrets (e.g. `: PSK "..."`), waits for its control
    /// socket, and runs `ipsec auto --add` for every connection.
    pub fn start(ns: &Netns, conns: &[LibreswanConn], secrets: &str) -> Result<Libreswan, String> {
        Libreswan::start_with_args(ns, conns, secrets, &[])
    }

    /// Like [`Libreswan::start`] with the secret `: PSK "psk"`.
    pub fn start_psk(ns: &Netns, conns: &[LibreswanConn], psk: &str) -> Result<Libreswan, String> {
        Libreswan::start(ns, conns, &format!(": PSK \"{psk}\"\n"))
    }

    /// Like [`Libreswan::start`] with extra pluto arguments (e.g.
    /// `--impair omit-v2-ike-auth-child`).
    pub fn start_with_args(
        ns: &Netns,
        conns: &[LibreswanConn],
        secrets: &str,
        pluto_args: &[&str],
    ) -> Result<Libreswan, String> {
        let mut lsw = Libreswan::prepare(ns, secrets)?;
        lsw.launch(pluto_args)?;
        for c in conns {
            lsw.add(c)?;
        }
        Ok(lsw)
    }

    /// Makes the directories, ipsec.conf (only `config setup` so far),
    /// ipsec.secrets and the NSS database, without starting pluto; then
    /// [`Libreswan::newhostkey`] can run before [`Libreswan::launch`].
    pub fn prepare(ns: &Netns, secrets: &str) -> Result<Libreswan, String> {
        Libreswan::prepare_conf(ns, &Libreswan::config_setup(), secrets)
    }

    /// The `config setup` section [`Libreswan::prepare`] writes: no log
    /// appending, no DNSSEC, `plutodebug=` from `FERROSWAN_PLUTODEBUG`
    /// (default `none`). A whole ipsec.conf given to
    /// [`Libreswan::prepare_conf`] can start with it.
    pub fn config_setup() -> String {
        let debug = std::env::var("FERROSWAN_PLUTODEBUG").unwrap_or_else(|_| "none".into());
        format!("config setup\n\tlogappend=no\n\tdnssec-enable=no\n\tplutodebug={debug}\n\n")
    }

    /// Like [`Libreswan::prepare`] with `ipsec_conf` as the whole
    /// ipsec.conf (its connections are added with [`Libreswan::add_loaded`]).
    pub fn prepare_conf(ns: &Netns, ipsec_conf: &str, secrets: &str) -> Result<Libreswan, String> {
        let root = libreswan_root();
        if !Libreswan::available() {
            return Err(format!(
                "Libreswan is not unpacked in {} (run scripts/install-deps as root)",
                root.display()
            ));
        }
        let dir = TempDir::new("libreswan").map_err(|e| e.to_string())?;
        let d = dir.path().to_path_buf();
        for sub in [
            "run",
            "nss",
            "ipsec.d/policies",
            "ipsec.d/cacerts",
            "ipsec.d/crls",
        ] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| format!("{sub}: {e}"))?;
        }
        std::fs::write(d.join("ipsec.conf"), ipsec_conf).map_err(|e| format!("ipsec.conf: {e}"))?;
        write_private(&d.join("ipsec.secrets"), secrets)?;
        let lsw = Libreswan {
            dir,
            child: None,
            ns_name: ns.name().to_string(),
            root,
        };
        let nss = d.join("nss");
        lsw.ipsec(&["initnss", "--nssdir", &nss.to_string_lossy()])?
            .ok()
            .map_err(|e| format!("ipsec initnss: {e}"))?;
        Ok(lsw)
    }

    /// Starts pluto (prepared by [`Libreswan::prepare`]) and waits for its
    /// control socket.
    pub fn launch(&mut self, pluto_args: &[&str]) -> Result<(), String> {
        if self.child.is_some() {
            return Err("pluto is already running".into());
        }
        let d = self.dir.path().to_path_buf();
        let p = |s: &str| d.join(s).to_string_lossy().into_owned();
        let stdout = std::fs::File::create(d.join("pluto.stdout")).map_err(|e| e.to_string())?;
        let stderr = stdout.try_clone().map_err(|e| e.to_string())?;
        let mut argv: Vec<String> = [
            "/usr/libexec/ipsec/pluto",
            "--nofork",
            "--no-dnssec",
            "--config",
            &p("ipsec.conf"),
            "--secretsfile",
            &p("ipsec.secrets"),
            "--ipsecdir",
            &p("ipsec.d"),
            "--nssdir",
            &p("nss"),
            "--rundir",
            &p("run"),
            "--dumpdir",
            &p("run"),
            "--logfile",
            &p("pluto.log"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(pluto_args.iter().map(|s| s.to_string()));
        let child = self
            .view_command(&argv)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting pluto: {e}"))?;
        self.child = Some(child);
        let ctl = d.join("run/pluto.ctl");
        let mut exited = None;
        let waited = wait_until(Duration::from_secs(20), "pluto's control socket", || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                exited = Some(status);
                return true;
            }
            ctl.exists()
        });
        if let Some(status) = exited {
            self.child = None;
            return Err(format!("pluto exited with {status}:\n{}", self.log()));
        }
        waited.map_err(|e| format!("{e}\n{}", self.log()))?;
        Ok(())
    }

    /// The peer's state directory (ipsec.conf, ipsec.secrets, nss/, run/,
    /// pluto.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The namespace pluto runs in.
    pub fn netns(&self) -> &str {
        &self.ns_name
    }

    /// A `Command` running `argv` in the namespace with Libreswan's view.
    fn view_command(&self, argv: &[String]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns_name, "env"])
            .arg(format!("IPSEC_RUNDIR={}", d.join("run").display()))
            .arg(format!("IPSEC_NSSDIR={}", d.join("nss").display()))
            .args(["sh", "-c", VIEW_SCRIPT, "fs-lsw"])
            .arg(d)
            .arg(&self.root)
            .args(argv);
        c
    }

    /// Runs `argv` in the namespace with Libreswan's file-system view,
    /// killed after [`COMMAND_TIMEOUT`]; returns its output whatever the
    /// exit status.
    pub fn exec(&self, argv: &[&str]) -> Result<LswOutput, String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let command = argv.join(" ");
        let out_path = self.dir.path().join(format!("cmd-{}.out", next_id()));
        let err_path = out_path.with_extension("err");
        let stdout = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let stderr = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
        let mut child = self
            .view_command(&argv)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{command}: {e}"))?;
        let mut status = None;
        let waited = wait_until(COMMAND_TIMEOUT, &command, || match child.try_wait() {
            Ok(Some(s)) => {
                status = Some(s);
                true
            }
            Ok(None) => false,
            Err(_) => true,
        });
        let status = match status {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(waited
                    .err()
                    .unwrap_or_else(|| format!("{command}: wait failed")));
            }
        };
        let read = |p: &Path| {
            let text = std::fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let _ = std::fs::remove_file(p);
            text
        };
        Ok(LswOutput {
            command,
            status,
            stdout: read(&out_path),
            stderr: read(&err_path),
        })
    }

    /// Libreswan's `ipsec ARGS`.
    pub fn ipsec(&self, args: &[&str]) -> Result<LswOutput, String> {
        let mut argv = vec!["/usr/sbin/ipsec"];
        argv.extend_from_slice(args);
        self.exec(&argv)
    }

    /// `ipsec auto --config IPSEC.CONF ARGS` (e.g. `["--up", "name"]`).
    pub fn auto(&self, args: &[&str]) -> Result<LswOutput, String> {
        let conf = self.dir.path().join("ipsec.conf");
        let conf = conf.to_string_lossy();
        let mut argv = vec!["auto", "--config", &conf];
        argv.extend_from_slice(args);
        self.ipsec(&argv)
    }

    /// `ipsec whack ARGS`.
    pub fn whack(&self, args: &[&str]) -> Result<LswOutput, String> {
        let mut argv = vec!["whack"];
        argv.extend_from_slice(args);
        self.ipsec(&argv)
    }

    /// Appends `conn` to ipsec.conf and runs `ipsec auto --add NAME`; an
    /// error unless that exits 0.
    pub fn add(&self, conn: &LibreswanConn) -> Result<LswOutput, String> {
        let path = self.dir.path().join("ipsec.conf");
        let mut text = std::fs::read_to_string(&path).map_err(|e| format!("ipsec.conf: {e}"))?;
        text.push_str(&conn.render());
        std::fs::write(&path, text).map_err(|e| format!("ipsec.conf: {e}"))?;
        self.auto(&["--add", &conn.name])?.ok()
    }

    /// `ipsec auto --add NAME` for a connection already in ipsec.conf; an
    /// error unless that exits 0.
    pub fn add_loaded(&self, name: &str) -> Result<LswOutput, String> {
        self.auto(&["--add", name])?.ok()
    }

    /// `ipsec auto --up NAME` (waits for the exchange, as `auto` does).
    pub fn up(&self, name: &str) -> Result<LswOutput, String> {
        self.auto(&["--up", name])
    }

    /// `ipsec auto --down NAME`.
    pub fn down(&self, name: &str) -> Result<LswOutput, String> {
        self.auto(&["--down", name])
    }

    /// `ipsec auto --status` output (or the error, as text).
    pub fn status(&self) -> String {
        match self.auto(&["--status"]) {
            Ok(o) => o.text(),
            Err(e) => e,
        }
    }

    /// `ipsec showstates` output: one line per IKE SA / Child SA.
    pub fn showstates(&self) -> String {
        match self.ipsec(&["showstates"]) {
            Ok(o) => o.text(),
            Err(e) => e,
        }
    }

    /// True when `ipsec showstates` lists an established IKE SA of `conn`.
    pub fn ike_sa_established(&self, conn: &str) -> bool {
        let quoted = format!("\"{conn}\"");
        self.showstates()
            .lines()
            .any(|l| l.contains(&quoted) && l.contains("STATE_V2_ESTABLISHED_IKE_SA"))
    }

    /// Generates an RSA host key in this pluto's NSS database (`ipsec
    /// newhostkey`) and returns its CKAID.
    pub fn newhostkey(&self) -> Result<String, String> {
        let nss = self.dir.path().join("nss");
        let out = self
            .ipsec(&["newhostkey", "--nssdir", &nss.to_string_lossy()])?
            .ok()?;
        let text = out.text();
        text.split_whitespace()
            .skip_while(|w| *w != "CKAID")
            .nth(1)
            .filter(|c| c.len() == 40 && c.chars().all(|ch| ch.is_ascii_hexdigit()))
            .map(str::to_string)
            .ok_or_else(|| format!("no CKAID in `ipsec newhostkey` output:\n{text}"))
    }

    /// The `leftrsasigkey=` value (`0s...`) of the NSS key with `ckaid`,
    /// from `ipsec showhostkey --left --ckaid CKAID`.
    pub fn showhostkey_left(&self, ckaid: &str) -> Result<String, String> {
        let nss = self.dir.path().join("nss");
        let out = self
            .ipsec(&[
                "showhostkey",
                "--nssdir",
                &nss.to_string_lossy(),
                "--left",
                "--ckaid",
                ckaid,
            ])?
            .ok()?;
        let text = out.text();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("leftrsasigkey="))
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("no leftrsasigkey= in `ipsec showhostkey` output:\n{text}"))
    }

    /// pluto's log so far (its stdout/stderr, then its log file).
    pub fn log(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "{}{}",
            read(self.dir.path().join("pluto.stdout")),
            read(self.dir.path().join("pluto.log"))
        )
    }

    /// True while pluto runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Libreswan {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `ip netns exec` and `sh` exec into pluto: the child is pluto.
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on our own child's pid, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let stopped = wait_until(Duration::from_secs(5), "pluto to stop", || {
                !matches!(child.try_wait(), Ok(None))
            });
            if stopped.is_err() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if std::env::var_os("FERROSWAN_SHOW_PLUTO_LOG").is_some() {
            eprintln!("---- pluto log ({})\n{}", self.ns_name, self.log());
        }
    }
}

fn next_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}
