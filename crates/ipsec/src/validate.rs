//! Loading and checking the configuration on the client side, before
//! anything is sent (and for `--showonly` and `addconn --checkconfig`).

use crate::client::{EXIT_CONFIG, EXIT_UNKNOWN_NAME};
use std::path::{Path, PathBuf};

/// Loads the configuration; on failure prints the diagnostic (file:line)
/// on stderr and returns the exit status 3.
pub fn load(path: &Path, rootdir: Option<&Path>, verbose: bool) -> Result<conf::Config, i32> {
    if verbose {
        eprintln!("opening file: {}", path.display());
    }
    let opts = conf::LoadOptions {
        rootdir: rootdir.map(Path::to_path_buf),
        local_addrs: Vec::new(),
    };
    match conf::Config::load(path, &opts) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            Ok(c)
        }
        Err(e) => {
            eprintln!("ipsec: cannot load {}: {e}", path.display());
            Err(EXIT_CONFIG)
        }
    }
}

/// Checks that every name designates a connection that loaded: 21 for an
/// unknown name, 3 for a connection with errors.
pub fn check_names(config: &conf::Config, names: &[String]) -> Result<(), i32> {
    for name in names {
        if let Some(e) = config.conn_error(name) {
            eprintln!("conn '{name}': {e}");
            return Err(EXIT_CONFIG);
        }
        if config.conn(name).is_none() {
            eprintln!("conn '{name}': not found (tried aliases)");
            return Err(EXIT_UNKNOWN_NAME);
        }
    }
    Ok(())
}

/// Checks that the daemon would accept adding the named connections:
/// ferroswan speaks IKEv2 only, so an IKEv1 connection is refused with the
/// daemon's status (`RC_FATAL`, 56).
pub fn check_addable(config: &conf::Config, names: &[String]) -> Result<(), i32> {
    for name in names {
        let ikev1 = config
            .conns
            .iter()
            .filter(|c| &c.name == name || c.aliases.iter().any(|a| a == name))
            .find(|c| c.ike_version == conf::IkeVersion::V1);
        if let Some(c) = ikev1 {
            eprintln!(
                "conn '{}': IKEv1 is not supported (ferroswan speaks IKEv2 only; use keyexchange=ikev2)",
                c.name
            );
            return Err(i32::from(control::Rc::FATAL.code()));
        }
    }
    Ok(())
}

/// Reports every connection that failed to load; 3 if there is one.
pub fn check_all(config: &conf::Config) -> Result<(), i32> {
    let mut rc = Ok(());
    for f in &config.failed {
        eprintln!("conn '{}': {}", f.name, f.error);
        rc = Err(EXIT_CONFIG);
    }
    rc
}

/// An absolute version of `path` (the daemon may run elsewhere).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}
