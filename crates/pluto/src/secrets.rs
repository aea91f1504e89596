//! ipsec.secrets in the daemon: loaded at start and on `--rereadsecrets`; a
//! file that fails to load leaves the previous secrets in place.

use conf::secrets::SecretIndex;
use conf::SecretKind;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The daemon's secrets.
#[derive(Debug)]
pub struct SecretsStore {
    path: PathBuf,
    current: Option<conf::Secrets>,
}

impl SecretsStore {
    /// No secrets yet; `path` is read by [`SecretsStore::reload`].
    pub fn new(path: PathBuf) -> Self {
        SecretsStore {
            path,
            current: None,
        }
    }

    /// The secrets file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The loaded secrets, if any.
    pub fn current(&self) -> Option<&conf::Secrets> {
        self.current.as_ref()
    }

    /// Re-reads the file. On success the new secrets replace the old ones
    /// and the warnings are returned; on failure nothing changes.
    pub fn reload(&mut self, local: &[IpAddr]) -> Result<Vec<String>, conf::ConfError> {
        let opts = conf::LoadOptions {
            rootdir: None,
            local_addrs: local.to_vec(),
        };
        let secrets = conf::Secrets::load(&self.path, &opts)?;
        let warnings = secrets.warnings().iter().map(ToString::to_string).collect();
        self.current = Some(secrets);
        Ok(warnings)
    }

    /// One line per PSK/XAUTH record, as `--listpsks` shows it: the kind
    /// and the indices, never the secret.
    pub fn psk_index_lines(&self) -> Vec<String> {
        let Some(s) = &self.current else {
            return Vec::new();
        };
        s.records()
            .iter()
            .filter_map(|r| {
                let kind = match &r.kind {
                    SecretKind::Psk(_) => "PSK",
                    SecretKind::Xauth(_) => "XAUTH",
                    _ => return None,
                };
                let ids: Vec<String> = r
                    .indices
                    .iter()
                    .map(|i| match i {
                        SecretIndex::Id(id) => id.to_string(),
                        SecretIndex::Any => "%any".to_string(),
                    })
                    .collect();
                let ids = if ids.is_empty() {
                    "(none) (none)".to_string()
                } else {
                    ids.join(" ")
                };
                Some(format!("{kind} {ids}"))
            })
            .collect()
    }
}
