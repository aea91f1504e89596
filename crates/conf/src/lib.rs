//! ferroswan crate `conf`: `ipsec.conf` and `ipsec.secrets` as Libreswan reads them.
//!
//! The loader works in three steps:
//! 1. [`parser`] turns files into sections of `key=value` entries (with
//!    `include`, comments, quoting and the keyword table applied), every entry
//!    carrying its file and line;
//! 2. [`resolve`] expands `conn %default` and `also=` for each connection;
//! 3. [`conn`] turns the resolved keys into a typed [`ConnSpec`].
//!
//! [`Secrets`] reads `ipsec.secrets(5)`.

pub mod addr;
pub mod conn;
mod end;
pub mod error;
pub mod keywords;
mod lexer;
pub mod parser;
mod policy;
mod print;
pub mod proposal;
pub mod resolve;
pub mod secrets;
pub mod setup;
pub mod values;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use addr::{HostAddr, Id, ProtoPort, Selector, Subnet};
pub use conn::{
    AuthBy, Auto, ConnSpec, ConnType, DpdAction, Encapsulation, EndSpec, Esn, Fragmentation,
    IkeVersion, Orientation, PubKeySpec, SendCert, Shunt,
};
pub use error::{ConfError, Diagnostic};
pub use proposal::{EspProposals, IkeProposals};
pub use secrets::{Psk, SecretIndex, SecretKind, SecretRecord, Secrets};
pub use setup::{Protostack, SetupConfig};

/// How to load a configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Resolve absolute `include` paths under this directory, as a chroot
    /// would (`ipsec addconn --rootdir`).
    pub rootdir: Option<PathBuf>,
    /// The addresses of this host, used to orient connections and to resolve
    /// `%defaultroute`. Empty means "unknown".
    pub local_addrs: Vec<IpAddr>,
}

/// A connection that was in the configuration but could not be resolved
/// (Libreswan's "failed to add connection"). The rest of the file loads.
#[derive(Debug)]
pub struct ConnFailure {
    /// The connection's name.
    pub name: String,
    /// Why it failed; names file and line.
    pub error: ConfError,
}

/// A loaded `ipsec.conf`.
#[derive(Debug)]
pub struct Config {
    /// The `config setup` section.
    pub setup: SetupConfig,
    /// Every connection in file order (`%default` excluded, `also=` targets included).
    pub conns: Vec<ConnSpec>,
    /// Connections present in the file that could not be resolved.
    pub failed: Vec<ConnFailure>,
    /// Warnings (obsolete keywords, duplicates, ignored `x-` keys, ...).
    pub warnings: Vec<Diagnostic>,
    /// Every file read, in the order read.
    pub files: Vec<PathBuf>,
}

impl Config {
    /// Loads `path` and everything it includes.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Config, ConfError> {
        let raw = parser::parse_file(path, opts)?;
        Self::from_raw(raw, opts)
    }

    /// Parses `text` as if it were the file `name` (includes are resolved
    /// relative to `name`).
    pub fn parse_str(text: &str, name: &Path, opts: &LoadOptions) -> Result<Config, ConfError> {
        let raw = parser::parse_text(text, name, opts)?;
        Self::from_raw(raw, opts)
    }

    fn from_raw(raw: parser::RawConfig, opts: &LoadOptions) -> Result<Config, ConfError> {
        let mut warnings = raw.warnings.clone();
        let setup = SetupConfig::from_raw(&raw, &mut warnings)?;
        let mut conns = Vec::new();
        let mut failed = Vec::new();
        for (name, res) in resolve::resolve_all(&raw, &mut warnings) {
            match res.and_then(|r| ConnSpec::from_resolved(&r, opts, &mut warnings)) {
                Ok(c) => conns.push(c),
                Err(error) => failed.push(ConnFailure { name, error }),
            }
        }
        Ok(Config {
            setup,
            conns,
            failed,
            warnings,
            files: raw.files,
        })
    }

    /// A connection by name or by one of its `connalias=` names.
    pub fn conn(&self, name: &str) -> Option<&ConnSpec> {
        self.conns.iter().find(|c| c.name == name).or_else(|| {
            self.conns
                .iter()
                .find(|c| c.aliases.iter().any(|a| a == name))
        })
    }

    /// Why the connection `name` failed to load, if it is one of the failed ones.
    pub fn conn_error(&self, name: &str) -> Option<&ConfError> {
        self.failed
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.error)
    }

    /// The configuration as `ipsec.conf` text: `config setup` and every
    /// connection fully resolved (no `also=`, no `%default`). Parsing it
    /// again gives the same connections.
    pub fn to_ipsec_conf(&self) -> String {
        print::config_to_string(self)
    }
}
