//! Errors of the `pki` crate.

use std::path::PathBuf;

/// An error while reading, parsing or using certificates, keys, CRLs and stores.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A DER or PEM object could not be parsed.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// What was being parsed ("certificate", "CRL", "private key", ...).
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A file or folder of a store could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An algorithm (signature, key, curve, cipher) ferroswan does not support.
    #[error("unsupported {what}: {detail}")]
    Unsupported {
        /// What kind of algorithm.
        what: &'static str,
        /// Its OID or name.
        detail: String,
    },
    /// A signature did not verify.
    #[error("signature verification failed: {0}")]
    BadSignature(String),
    /// Signing with a private key failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The NSS database could not be used.
    #[error("NSS database {path}: {reason}")]
    Nss {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The password for an NSS database or an encrypted key is wrong.
    #[error("wrong password for {0}")]
    BadPassword(String),
    /// An object asked for by name is not in the store.
    #[error("no {what} named \"{name}\"")]
    NotFound {
        /// What kind of object.
        what: &'static str,
        /// The nickname, file or ID asked for.
        name: String,
    },
    /// An ID string (leftid=, rightid=) could not be parsed.
    #[error("invalid ID \"{id}\": {reason}")]
    BadId {
        /// The ID as written.
        id: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An OCSP request or response could not be built or used.
    #[error("OCSP: {0}")]
    Ocsp(String),
}

impl PkiError {
    pub(crate) fn parse(what: &'static str, reason: impl std::fmt::Display) -> Self {
        PkiError::Parse {
            what,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PkiError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the `pki` crate.
pub type Result<T> = std::result::Result<T, PkiError>;
