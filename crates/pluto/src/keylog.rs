//! `ipsec pluto --keylog-dir DIR`: a debugging aid that appends every IKE
//! SA's and Child SA's keys, as they come up, to Wireshark's decryption
//! tables `DIR/ikev2_decryption_table` and `DIR/esp_sa` (point Wireshark's
//! configuration directory at DIR's parent, e.g. `XDG_CONFIG_HOME`, or copy
//! the files). The files hold session keys: they are created with mode
//! 0600, and the keys never go to the log.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ike::engine::{Engine, Event, IkeSaId};
use ike::keylog;

/// Where the key tables go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLog {
    dir: PathBuf,
}

impl KeyLog {
    /// Key tables in `dir` (created when the first key is written).
    pub fn new(dir: PathBuf) -> KeyLog {
        KeyLog { dir }
    }

    /// Writes the keys `ev` brings up, if any; failures are logged (without
    /// keys) and otherwise ignored, as befits a debugging aid.
    pub fn record(&self, engine: &Engine, ev: &Event) {
        match ev {
            Event::IkeSaUp(info) => self.ike_sa(engine, info.ike_sa),
            Event::IkeSaRekeyed { new, .. } => self.ike_sa(engine, new.ike_sa),
            Event::ChildSaUp(info) | Event::ChildSaRekeyed { new: info, .. } => {
                match keylog::esp_sa_lines(info) {
                    Ok(lines) => self.append("esp_sa", lines.as_bytes()),
                    Err(e) => tracing::warn!("keylog: Child SA #{}: {e}", info.child.0),
                }
            }
            _ => {}
        }
    }

    fn ike_sa(&self, engine: &Engine, id: IkeSaId) {
        let Some(keys) = engine.ike_sa_keylog(id) else {
            tracing::warn!("keylog: IKE SA #{}: no keys", id.0);
            return;
        };
        match keylog::ikev2_line(&keys) {
            Ok(line) => self.append("ikev2_decryption_table", line.as_bytes()),
            Err(e) => tracing::warn!("keylog: IKE SA #{}: {e}", id.0),
        }
    }

    fn append(&self, name: &str, bytes: &[u8]) {
        let path = self.dir.join(name);
        if let Err(e) = append_private(&self.dir, &path, bytes) {
            tracing::warn!("keylog: cannot write {}: {e}", path.display());
        }
    }
}

fn append_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_a_private_file() {
        let dir = std::env::temp_dir().join(format!("ferroswan-keylog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = KeyLog::new(dir.clone());
        log.append("esp_sa", b"one\n");
        log.append("esp_sa", b"two\n");
        let path = dir.join("esp_sa");
        let text = std::fs::read_to_string(&path).expect("written");
        let mode = std::fs::metadata(&path).map(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o777
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(text, "one\ntwo\n");
        assert_eq!(mode.ok(), Some(0o600));
    }
}
