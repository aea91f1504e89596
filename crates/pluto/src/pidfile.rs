//! The pid file: written at start, removed at exit.

use std::path::{Path, PathBuf};

/// Why the pid file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// A live process holds the pid file.
    #[error("pluto is already running (pid {pid} in {path})")]
    Running {
        /// The other daemon's pid.
        pid: u32,
        /// The pid file.
        path: PathBuf,
    },
    /// Writing failed.
    #[error("cannot write pid file {path}: {source}")]
    Io {
        /// The pid file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The pid file; removed on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid to `path`, unless another live process
    /// holds it.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                let alive = pid != std::process::id()
                    && Path::new(&format!("/proc/{pid}")).exists()
                    && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                        .map(|c| c.contains("pluto"))
                        .unwrap_or(false);
                if alive {
                    return Err(PidFileError::Running {
                        pid,
                        path: path.to_path_buf(),
                    });
                }
            }
        }
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| PidFileError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
        }
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|source| {
            PidFileError::Io {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_removed() {
        let dir = std::env::temp_dir().join(format!("ferroswan-pid-{}", std::process::id()));
        let path = dir.join("pluto.pid");
        {
            let _g = PidFile::create(&path).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.trim(), std::process::id().to_string());
            // Our own pid in the file is not "another daemon".
            let _g2 = PidFile::create(&path).unwrap();
        }
        assert!(!path.exists());
        let _ = std::fs::remove_dir(&dir);
    }
}
