//! Errors of the data plane.

use thiserror::Error;

/// Why a data plane operation failed.
#[derive(Debug, Error)]
pub enum DataplaneError {
    /// An ESP SA could not be keyed.
    #[error("ESP SA: {0}")]
    Esp(#[from] esp::EspError),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An `ip` command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its standard error.
        stderr: String,
    },
    /// A subnet could not be parsed or is invalid.
    #[error("invalid subnet {0}")]
    InvalidSubnet(String),
    /// No SA pair with this id.
    #[error("no SA pair with id {0}")]
    UnknownSa(u64),
    /// No policy with this id.
    #[error("no policy with id {0}")]
    UnknownPolicy(u64),
    /// A policy refers to an SA pair that is not installed.
    #[error("policy {policy} protects with SA pair {sa}, which is not installed")]
    PolicyWithoutSa {
        /// The policy id.
        policy: u64,
        /// The missing SA pair id.
        sa: u64,
    },
    /// An outbound SA with this SPI is already installed towards this peer.
    #[error(
        "outbound SPI {spi:#010x} to {remote} is already installed; installing it again would restart \
         its sequence numbers and reuse nonces (rekey with new SPIs, move it with update_sa_endpoints)"
    )]
    OutboundSpiInUse {
        /// The SPI.
        spi: u32,
        /// The peer.
        remote: std::net::IpAddr,
    },
    /// An SPI is already in use.
    #[error("SPI {0:#010x} is already in use by another inbound SA")]
    SpiInUse(u32),
    /// The feature is not built yet in this backend.
    #[error("not supported by the {backend} data plane yet: {what}")]
    Unsupported {
        /// Which backend.
        backend: &'static str,
        /// What is missing and what to use instead.
        what: &'static str,
    },
    /// The worker thread is gone (it failed or was shut down).
    #[error("the userspace data plane worker has stopped")]
    WorkerGone,
}

impl DataplaneError {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        DataplaneError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DataplaneError>;
