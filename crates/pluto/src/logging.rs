//! The daemon's log: `tracing` to stderr or to a log file, with or without
//! timestamps (`logtime=`), appending or not (`logappend=`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where and how to log.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// Log file; `None` logs to stderr.
    pub logfile: Option<PathBuf>,
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

#[derive(Clone)]
struct Tee {
    file: Option<Arc<Mutex<std::fs::File>>>,
    stderr: bool,
}

impl std::io::Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &self.file {
            let mut f = f
                .lock()
                .map_err(|_| std::io::Error::other("log file lock poisoned"))?;
            f.write_all(buf)?;
        }
        if self.stderr {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

/// Installs the global subscriber. Only the first call in a process has an
/// effect.
pub fn init(settings: &LogSettings) -> Result<(), LogError> {
    let file = match &settings.logfile {
        Some(p) => Some(Arc::new(Mutex::new(open(p, settings.logappend)?))),
        None => None,
    };
    let stderr = file.is_none() || settings.stderr_too;
    let tee = Tee { file, stderr };
    let level = if settings.debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || tee.clone());
    let result = if settings.logtime {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
    // A subscriber set earlier (tests) stays in place.
    let _ = result;
    Ok(())
}
