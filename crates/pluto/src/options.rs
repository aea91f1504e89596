//! Command-line options of `ipsec pluto`.

use std::path::{Path, PathBuf};

/// The daemon's usage text (`ipsec pluto --help`).
pub const USAGE: &str = "\
Usage: pluto [--help] [--version]
\t[--config <filename>] [--nofork] [--stderrlog] [--logfile <filename>]
\t[--log-no-time] [--log-no-append]
\t[--rundir <path>] [--ctlsocket <file>]
\t[--secretsfile <secrets-file>] [--ipsecdir <ipsec-dir>] [--nssdir <path>]
\t[--keylog-dir <path>]
";

/// Where the configuration lives by default.
pub const DEFAULT_CONFIG: &str = "/etc/ipsec.conf";
/// Where the secrets live by default.
pub const DEFAULT_SECRETS: &str = "/etc/ipsec.secrets";
/// Default `ipsecdir`.
pub const DEFAULT_IPSECDIR: &str = "/etc/ipsec.d";
/// Default NSS database directory.
pub const DEFAULT_NSSDIR: &str = "/var/lib/ipsec/nss";

/// A wrong call of `ipsec pluto`.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// An option that `ipsec pluto` does not know.
    #[error("unknown option \"{0}\"")]
    UnknownOption(String),
    /// An `--impair` that ferroswan does not implement.
    #[error("impairment \"{0}\" is not supported (ferroswan knows only omit-v2-ike-auth-child and none)")]
    UnsupportedImpairment(String),
    /// An option that needs a value was last.
    #[error("option \"{0}\" needs an argument")]
    MissingValue(String),
    /// A stray argument.
    #[error("unexpected argument \"{0}\"")]
    Unexpected(String),
}

/// The daemon's options, as given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlutoOptions {
    /// `--help` was given.
    pub help: bool,
    /// `--version` was given.
    pub version: bool,
    /// `--nofork`: stay in the foreground.
    pub nofork: bool,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--secretsfile FILE`.
    pub secretsfile: Option<PathBuf>,
    /// `--ipsecdir DIR`.
    pub ipsecdir: Option<PathBuf>,
    /// `--nssdir DIR`.
    pub nssdir: Option<PathBuf>,
    /// `--rundir DIR`.
    pub rundir: Option<PathBuf>,
    /// `--ctlsocket FILE`.
    pub ctlsocket: Option<PathBuf>,
    /// `--logfile FILE`.
    pub logfile: Option<PathBuf>,
    /// `--stderrlog`: log to stderr (also when a logfile is configured).
    pub stderrlog: bool,
    /// `--log-no-time`: no timestamps in the log.
    pub log_no_time: bool,
    /// `--log-no-append`: truncate the log file at start.
    pub log_no_append: bool,
    /// `--keylog-dir DIR`: append SA keys to Wireshark's decryption
    /// tables in DIR (debugging only; see [`crate::keylog`]).
    pub keylog_dir: Option<PathBuf>,
    /// `--ike-socket-bufsize BYTES`: the IKE sockets' buffers (overrides
    /// `config setup ike-socket-bufsize=`).
    pub ike_socket_bufsize: Option<String>,
    /// `--impair omit-v2-ike-auth-child`: every IKE SA this daemon
    /// initiates is childless (RFC 6023), as with Libreswan 4's test
    /// impairment of the same name, the only way Libreswan 4 initiates a
    /// childless IKE SA (Libreswan 5 has `childless=` for that).
    pub omit_ike_auth_child: bool,
}

/// Options of Libreswan's pluto that ferroswan accepts and ignores (with a
/// value).
const IGNORED_WITH_VALUE: &[&str] = &[
    "--dumpdir",
    "--statsbin",
    "--dnssec-rootkey-file",
    "--dnssec-trusted",
    "--nhelpers",
    "--listen",
    "--virtual-private",
    "--keep-alive",
    "--vendorid",
];
/// Options of Libreswan's pluto that ferroswan accepts and ignores.
const IGNORED_FLAGS: &[&str] = &["--no-dnssec", "--use-xfrm", "--uniqueids", "--log-no-ip"];

impl PlutoOptions {
    /// Parses the arguments after `pluto` (program name excluded).
    /// `--opt=value` and `--opt value` are both accepted.
    pub fn parse<I, S>(args: I) -> Result<Self, UsageError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut opts = PlutoOptions::default();
        let mut it = args.into_iter().map(Into::into);
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |flag: &str| -> Result<String, UsageError> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => it
                        .next()
                        .ok_or_else(|| UsageError::MissingValue(flag.to_string())),
                }
            };
            match flag.as_str() {
                "--help" => opts.help = true,
                "--version" => opts.version = true,
                "--nofork" => opts.nofork = true,
                "--stderrlog" => opts.stderrlog = true,
                "--log-no-time" => opts.log_no_time = true,
                "--log-no-append" => opts.log_no_append = true,
                "--config" => opts.config = Some(value(&flag)?.into()),
                "--secretsfile" => opts.secretsfile = Some(value(&flag)?.into()),
                "--ipsecdir" => opts.ipsecdir = Some(value(&flag)?.into()),
                "--nssdir" => opts.nssdir = Some(value(&flag)?.into()),
                "--rundir" => opts.rundir = Some(value(&flag)?.into()),
                "--ctlsocket" => opts.ctlsocket = Some(value(&flag)?.into()),
                "--logfile" => opts.logfile = Some(value(&flag)?.into()),
                "--keylog-dir" => opts.keylog_dir = Some(value(&flag)?.into()),
                "--ike-socket-bufsize" => opts.ike_socket_bufsize = Some(value(&flag)?),
                "--impair" => match value(&flag)?.as_str() {
                    "omit-v2-ike-auth-child" => opts.omit_ike_auth_child = true,
                    "none" => opts.omit_ike_auth_child = false,
                    other => return Err(UsageError::UnsupportedImpairment(other.to_string())),
                },
                f if IGNORED_WITH_VALUE.contains(&f) => {
                    value(f)?;
                }
                f if IGNORED_FLAGS.contains(&f) => {}
                f if f.starts_with('-') => return Err(UsageError::UnknownOption(arg)),
                _ => return Err(UsageError::Unexpected(arg)),
            }
        }
        Ok(opts)
    }

    /// The run directory: `--rundir`, else `/run/pluto`.
    pub fn rundir(&self) -> PathBuf {
        self.rundir
            .clone()
            .unwrap_or_else(|| PathBuf::from(control::DEFAULT_RUNDIR))
    }

    /// The control socket: `--ctlsocket`, else `RUNDIR/pluto.ctl`.
    pub fn ctlsocket(&self) -> PathBuf {
        self.ctlsocket
            .clone()
            .unwrap_or_else(|| self.rundir().join("pluto.ctl"))
    }

    /// The pid file: `RUNDIR/pluto.pid`.
    pub fn pidfile(&self) -> PathBuf {
        self.rundir().join("pluto.pid")
    }

    /// The configuration file: `--config`, else `/etc/ipsec.conf`.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }

    /// Whether the configuration file was named explicitly (then it must exist).
    pub fn config_explicit(&self) -> bool {
        self.config.is_some()
    }

    /// Resolves a possibly relative path against the working directory, so the
    /// daemon's paths stay right whatever it does later.
    pub fn absolute(path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rundir_sets_socket_and_pidfile() {
        let o = PlutoOptions::parse(["--nofork", "--rundir", "/tmp/x"]).unwrap();
        assert!(o.nofork);
        assert_eq!(o.ctlsocket(), PathBuf::from("/tmp/x/pluto.ctl"));
        assert_eq!(o.pidfile(), PathBuf::from("/tmp/x/pluto.pid"));
        let o = PlutoOptions::parse(["--rundir=/tmp/x", "--ctlsocket", "/tmp/y.ctl"]).unwrap();
        assert_eq!(o.ctlsocket(), PathBuf::from("/tmp/y.ctl"));
        assert_eq!(o.pidfile(), PathBuf::from("/tmp/x/pluto.pid"));
    }

    #[test]
    fn keylog_dir() {
        let o = PlutoOptions::parse(["--keylog-dir", "/tmp/keys"]).unwrap();
        assert_eq!(o.keylog_dir, Some(PathBuf::from("/tmp/keys")));
        assert!(PlutoOptions::parse(["--keylog-dir"]).is_err());
        assert_eq!(PlutoOptions::default().keylog_dir, None);
    }

    #[test]
    fn impair_omit_ike_auth_child() {
        let o = PlutoOptions::parse(["--impair", "omit-v2-ike-auth-child"]).unwrap();
        assert!(o.omit_ike_auth_child);
        let o =
            PlutoOptions::parse(["--impair=omit-v2-ike-auth-child", "--impair", "none"]).unwrap();
        assert!(!o.omit_ike_auth_child);
        assert!(!PlutoOptions::default().omit_ike_auth_child);
        assert!(matches!(
            PlutoOptions::parse(["--impair", "revival"]),
            Err(UsageError::UnsupportedImpairment(i)) if i == "revival"
        ));
        assert!(PlutoOptions::parse(["--impair"]).is_err());
    }

    #[test]
    fn defaults() {
        let o = PlutoOptions::parse(Vec::<String>::new()).unwrap();
        assert_eq!(o.ctlsocket(), PathBuf::from("/run/pluto/pluto.ctl"));
        assert_eq!(o.config_path(), PathBuf::from("/etc/ipsec.conf"));
        assert!(!o.config_explicit());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            PlutoOptions::parse(["--bogus"]),
            Err(UsageError::UnknownOption(_))
        ));
        assert!(matches!(
            PlutoOptions::parse(["--config"]),
            Err(UsageError::MissingValue(_))
        ));
        assert!(matches!(
            PlutoOptions::parse(["stray"]),
            Err(UsageError::Unexpected(_))
        ));
        let o = PlutoOptions::parse(["--no-dnssec", "--dumpdir", "/d", "--stderrlog"]).unwrap();
        assert!(o.stderrlog);
    }
}
