//! strongSwan's charon as a test peer, inside a network namespace.
//!
//! Each charon gets a self-contained `strongswan.conf` (kernel-libipsec, so
//! it carries ESP in userspace through a TUN device on this kernel without
//! ESP), its own vici socket and log file, and a private `/run` (charon's pid
//! file path is compiled in) through a bind mount inside the mount namespace
//! that `ip netns exec` creates.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::netns::Netns;
use crate::tempdir::TempDir;
use crate::wait::wait_until;

/// Where Debian installs charon.
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// One swanctl connection with one child (or none, when `childless`).
#[derive(Debug, Clone)]
pub struct CharonConn {
    /// Connection (and child) name.
    pub name: String,
    /// `local_addrs`.
    pub local_addrs: String,
    /// `remote_addrs`.
    pub remote_addrs: String,
    /// IKE `proposals`, strongSwan spelling.
    pub proposals: String,
    /// Child `esp_proposals`, strongSwan spelling.
    pub esp_proposals: String,
    /// Local identity.
    pub local_id: String,
    /// Remote identity.
    pub remote_id: String,
    /// Local auth round: `psk`, `pubkey`, ...
    pub local_auth: String,
    /// Remote auth round.
    pub remote_auth: String,
    /// Child `local_ts`.
    pub local_ts: String,
    /// Child `remote_ts`.
    pub remote_ts: String,
    /// Child `mode` (`tunnel`, `transport`).
    pub mode: String,
    /// No Child SA in IKE_AUTH (`childless = force`).
    pub childless: bool,
    /// Extra lines for the connection section (e.g. `dpd_delay = 2s`).
    pub extra: String,
    /// Extra lines for the `local` section (e.g. `pubkeys = west.pem`).
    pub local_extra: String,
    /// Extra lines for the `remote` section.
    pub remote_extra: String,
    /// Extra lines for the child section (e.g. `rekey_time = 5s`).
    pub child_extra: String,
}

impl CharonConn {
    /// A PSK tunnel connection with strongSwan's defaults for the rest.
    pub fn psk(name: &str, local: &str, remote: &str, local_id: &str, remote_id: &str) -> Self {
        CharonConn {
            name: name.to_string(),
            local_addrs: local.to_string(),
            remote_addrs: remote.to_string(),
            proposals: "aes256gcm16-prfsha256-x25519".to_string(),
            esp_proposals: "aes256gcm16".to_string(),
            local_id: local_id.to_string(),
            remote_id: remote_id.to_string(),
            local_auth: "psk".to_string(),
            remote_auth: "psk".to_string(),
            local_ts: "dynamic".to_string(),
            remote_ts: "dynamic".to_string(),
            mode: "tunnel".to_string(),
            childless: false,
            extra: String::new(),
            local_extra: String::new(),
            remote_extra: String::new(),
            child_extra: String::new(),
        }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "    {} {{", self.name);
        let _ = writeln!(out, "        version = 2");
        let _ = writeln!(out, "        local_addrs = {}", self.local_addrs);
        let _ = writeln!(out, "        remote_addrs = {}", self.remote_addrs);
        let _ = writeln!(out, "        proposals = {}", self.proposals);
        let _ = writeln!(out, "        dpd_delay = 0");
        if self.childless {
            let _ = writeln!(out, "        childless = force");
        }
        out.push_str(&self.extra);
        let _ = writeln!(
            out,
            "        local {{\n            auth = {}\n            id = {}\n{}        }}",
            self.local_auth, self.local_id, self.local_extra
        );
        let _ = writeln!(
            out,
            "        remote {{\n            auth = {}\n            id = {}\n{}        }}",
            self.remote_auth, self.remote_id, self.remote_extra
        );
        if !self.childless {
            let _ = writeln!(out, "        children {{\n            {} {{", self.name);
            let _ = writeln!(out, "                local_ts = {}", self.local_ts);
            let _ = writeln!(out, "                remote_ts = {}", self.remote_ts);
            let _ = writeln!(
                out,
                "                esp_proposals = {}",
                self.esp_proposals
            );
            let _ = writeln!(out, "                mode = {}", self.mode);
            let _ = writeln!(out, "                start_action = none");
            out.push_str(&self.child_extra);
            let _ = writeln!(out, "            }}\n        }}");
        }
        let _ = writeln!(out, "    }}");
    }
}

/// A running charon, stopped on drop.
#[derive(Debug)]
pub struct Charon {
    dir: TempDir,
    child: Option<Child>,
    ns_name: String,
}

impl Charon {
    /// True when charon and swanctl are installed.
    pub fn available() -> bool {
        Path::new(CHARON).exists() && crate::have_program("swanctl")
    }

    /// Starts charon inside `ns` with `conns` and the PSK `psk` for every
    /// identity, waits for its vici socket, and loads the connections.
    pub fn start(ns: &Netns, conns: &[CharonConn], psk: &str) -> Result<Charon, String> {
        Charon::start_with_secrets(
            ns,
            conns,
            &format!("    ike-test {{\n        secret = \"{psk}\"\n    }}\n"),
        )
    }

    /// Like [`Charon::start`] with a raw swanctl `secrets { }` body.
    pub fn start_with_secrets(
        ns: &Netns,
        conns: &[CharonConn],
        secrets: &str,
    ) -> Result<Charon, String> {
        let dir = TempDir::new("charon").map_err(|e| e.to_string())?;
        let d = dir.path().to_path_buf();
        std::fs::create_dir_all(d.join("run")).map_err(|e| e.to_string())?;
        for sub in [
            "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private",
            "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12",
        ] {
            std::fs::create_dir_all(d.join("swanctl").join(sub)).map_err(|e| e.to_string())?;
        }
        let level = std::env::var("FERROSWAN_CHARON_LOGLEVEL").unwrap_or_else(|_| "2".into());
        std::fs::write(d.join("strongswan.conf"), strongswan_conf(&d, &level))
            .map_err(|e| e.to_string())?;
        let mut sw = String::from("connections {\n");
        for c in conns {
            c.render(&mut sw);
        }
        sw.push_str("}\nsecrets {\n");
        sw.push_str(secrets);
        sw.push_str("}\n");
        std::fs::write(d.join("swanctl/swanctl.conf"), sw).map_err(|e| e.to_string())?;

        let stdout = std::fs::File::create(d.join("charon.stdout")).map_err(|e| e.to_string())?;
        let stderr = stdout.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "sh", "-c"])
            .arg("mount --bind \"$1/run\" /run || exit 1; exec env STRONGSWAN_CONF=\"$1/strongswan.conf\" \"$2\"")
            .args(["charon-launcher"])
            .arg(&d)
            .arg(CHARON)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting charon: {e}"))?;
        let charon = Charon {
            dir,
            child: Some(child),
            ns_name: ns.name().to_string(),
        };
        let vici = d.join("charon.vici");
        // The socket file appears at bind(), before charon listens: wait
        // until a connection is accepted, or swanctl may be refused.
        if let Err(e) = wait_until(Duration::from_secs(20), "charon's vici socket", || {
            std::os::unix::net::UnixStream::connect(&vici).is_ok()
        }) {
            return Err(format!("{e}\n{}", charon.log()));
        }
        charon.swanctl(&[
            "--load-all",
            "--noprompt",
            "--file",
            &d.join("swanctl/swanctl.conf").to_string_lossy(),
        ])?;
        Ok(charon)
    }

    /// The charon's state directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `swanctl CMD --uri ... ARGS` (the command option comes first).
    pub fn swanctl(&self, args: &[&str]) -> Result<String, String> {
        let out = self.swanctl_output(args)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("swanctl {}: {text}", args.join(" ")))
        }
    }

    /// Runs swanctl and returns its raw output whatever the exit status.
    pub fn swanctl_output(&self, args: &[&str]) -> Result<Output, String> {
        let (cmd, rest) = args.split_first().ok_or("empty swanctl command")?;
        let uri = format!("unix://{}", self.dir.path().join("charon.vici").display());
        Command::new("swanctl")
            .arg(cmd)
            .arg("--uri")
            .arg(uri)
            .args(rest)
            .env("STRONGSWAN_CONF", self.dir.path().join("strongswan.conf"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("swanctl: {e}"))
    }

    /// `swanctl --list-sas` output.
    pub fn list_sas(&self) -> String {
        self.swanctl(&["--list-sas"]).unwrap_or_else(|e| e)
    }

    /// The charon log so far.
    pub fn log(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "{}{}",
            read(self.dir.path().join("charon.stdout")),
            read(self.dir.path().join("charon.log"))
        )
    }

    /// The namespace charon runs in.
    pub fn netns(&self) -> &str {
        &self.ns_name
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        let pidfile = self.dir.path().join("run/charon.pid");
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // SAFETY: kill(2) on charon's pid; harmless if it already exited.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("FERROSWAN_SHOW_CHARON_LOG").is_some() {
            eprintln!("---- charon log ({})\n{}", self.ns_name, self.log());
        }
    }
}

fn strongswan_conf(d: &Path, level: &str) -> String {
    let d = d.display();
    format!(
        r#"charon {{
    load_modular = no
    load = random nonce openssl kdf pem pkcs1 pkcs8 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
    install_virtual_ip = no
    block_threshold = 1000000
    cookie_threshold = 1000000
    cookie_threshold_ip = 1000000
    retransmit_tries = 3
    retransmit_timeout = 1.0
    plugins {{
        vici {{
            socket = unix://{d}/charon.vici
        }}
        kernel-libipsec {{
            allow_peer_ts = no
        }}
    }}
    filelog {{
        main {{
            path = {d}/charon.log
            time_format = %H:%M:%S
            default = {level}
            ike_name = yes
            flush_line = yes
            append = no
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
}}
swanctl {{
    load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey
}}
"#
    )
}
