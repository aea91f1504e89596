//! The daemon's log: `tracing` to a log file, to stderr, or to syslog
//! (`/dev/log`), with or without timestamps (`logtime=`), appending or not
//! (`logappend=`). As Libreswan's pluto: `logfile=` wins; without it the
//! log goes to syslog, or to stderr with `--stderrlog` (and when there is no
//! syslog socket).

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// Where and how to log.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// Log file.
    pub logfile: Option<PathBuf>,
    /// Syslog socket to log to (when there is no log file and no `--stderrlog`).
    pub syslog: Option<PathBuf>,
    /// Also log to stderr (`--stderrlog`).
    pub stderr_too: bool,
    /// Timestamps on every line.
    pub logtime: bool,
    /// Append to the log file instead of truncating it.
    pub logappend: bool,
    /// `plutodebug=` (anything but `none` or empty turns on debug lines).
    pub debug: bool,
}

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open log file {path}: {source}")]
pub struct LogError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// One place log lines go.
#[derive(Debug)]
enum Sink {
    File(Mutex<std::fs::File>),
    Stderr,
    Syslog(UnixDatagram),
}

/// The log's destinations; hands `tracing` a writer per event.
#[derive(Clone, Debug)]
pub struct Destinations {
    sinks: Arc<Vec<Sink>>,
}

/// Writes one formatted event to every destination.
pub struct EventWriter {
    sinks: Arc<Vec<Sink>>,
    level: Level,
}

/// syslog severity of a tracing level (facility `daemon`).
fn syslog_priority(level: Level) -> u8 {
    const DAEMON: u8 = 3 << 3;
    DAEMON
        + match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            _ => 7,
        }
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for sink in self.sinks.iter() {
            match sink {
                Sink::File(f) => {
                    let mut f = f
                        .lock()
                        .map_err(|_| std::io::Error::other("log file lock poisoned"))?;
                    f.write_all(buf)?;
                }
                Sink::Stderr => std::io::stderr().write_all(buf)?,
                Sink::Syslog(sock) => {
                    let text = String::from_utf8_lossy(buf);
                    let msg = format!(
                        "<{}>pluto[{}]: {}",
                        syslog_priority(self.level),
                        std::process::id(),
                        text.trim_end()
                    );
                    // A full or vanished syslog never stops the daemon.
                    let _ = sock.send(msg.as_bytes());
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Destinations {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            sinks: self.sinks.clone(),
            level: Level::INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> EventWriter {
        EventWriter {
            sinks: self.sinks.clone(),
            level: *meta.level(),
        }
    }
}

fn open(path: &Path, append: bool) -> Result<std::fs::File, LogError> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    o.open(path).map_err(|source| LogError {
        path: path.to_path_buf(),
        source,
    })
}

impl Destinations {
    /// Opens the destinations the settings name; a syslog socket that
    /// cannot be reached falls back to stderr.
    pub fn open(settings: &LogSettings) -> Result<Destinations, LogError> {
        let mut sinks = Vec::new();
        if let Some(p) = &settings.logfile {
            sinks.push(Sink::File(Mutex::new(open(p, settings.logappend)?)));
        } else if let Some(path) = &settings.syslog {
            let sock = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s));
            match sock {
                Ok(s) => sinks.push(Sink::Syslog(s)),
                Err(e) => {
                    eprintln!(
                        "pluto: cannot log to syslog ({}: {e}); logging to stderr",
                        path.display()
                    );
                    sinks.push(Sink::Stderr);
                }
            }
        }
        if sinks.is_empty() || settings.stderr_too {
            sinks.push(Sink::Stderr);
        }
        Ok(Destinations {
            sinks: Arc::new(sinks),
        })
    }
}

/// Installs the global subscriber. Only the first call in a process has an
/// effect.
pub fn init(settings: &LogSettings) -> Result<(), LogError> {
    let dest = Destinations::open(settings)?;
    let level = if settings.debug {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false)
        .with_writer(dest);
    let result = if settings.logtime {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
    // A subscriber set earlier (tests) stays in place.
    let _ = result;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_lines_carry_priority_and_tag() {
        let dir = std::env::temp_dir().join(format!("ferroswan-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        let dest = Destinations::open(&LogSettings {
            syslog: Some(path.clone()),
            ..LogSettings::default()
        })
        .unwrap();
        let mut w = dest.make_writer();
        w.level = Level::WARN;
        w.write_all(b"WARN something odd\n").unwrap();
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(
            got,
            format!("<28>pluto[{}]: WARN something odd", std::process::id())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_and_fallbacks() {
        let dir = std::env::temp_dir().join(format!("ferroswan-logfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pluto.log");
        std::fs::write(&file, "old\n").unwrap();
        let dest = Destinations::open(&LogSettings {
            logfile: Some(file.clone()),
            logappend: false,
            ..LogSettings::default()
        })
        .unwrap();
        dest.make_writer().write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new\n");
        // No syslog socket: stderr.
        let dest = Destinations::open(&LogSettings {
            syslog: Some(dir.join("missing.sock")),
            ..LogSettings::default()
        })
        .unwrap();
        assert!(matches!(dest.sinks.as_slice(), [Sink::Stderr]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
