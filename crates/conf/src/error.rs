//! Diagnostics and errors, always with the file and line they come from.

use std::fmt;
use std::path::PathBuf;

/// A message about a place in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line (0 when the message is about the whole file).
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// A new diagnostic.
    pub fn new(file: impl Into<PathBuf>, line: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// Why a configuration or secrets file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// A file could not be read.
    #[error("{diag}: {source}")]
    Io {
        /// Where (the file, and the `include` line when included).
        diag: Diagnostic,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A syntax error.
    #[error("{0}")]
    Syntax(Diagnostic),
    /// A keyword not in Libreswan's table.
    #[error("{0}")]
    UnknownKeyword(Diagnostic),
    /// A value that does not fit its keyword.
    #[error("{0}")]
    BadValue(Diagnostic),
    /// `include` problems (depth, glob).
    #[error("{0}")]
    Include(Diagnostic),
    /// `also=` problems: loops, missing targets, conflicting values.
    #[error("{0}")]
    Also(Diagnostic),
    /// The connection cannot be oriented or is inconsistent.
    #[error("{0}")]
    Conn(Diagnostic),
    /// Neither end of the connection is an address of this host (Libreswan
    /// still loads such a connection, "unoriented").
    #[error("{0}")]
    Unoriented(Diagnostic),
    /// `ipsec.secrets` problems.
    #[error("{0}")]
    Secrets(Diagnostic),
}

impl ConfError {
    /// The file:line diagnostic this error carries.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            ConfError::Io { diag, .. } => Some(diag),
            ConfError::Syntax(d)
            | ConfError::UnknownKeyword(d)
            | ConfError::BadValue(d)
            | ConfError::Include(d)
            | ConfError::Also(d)
            | ConfError::Conn(d)
            | ConfError::Unoriented(d)
            | ConfError::Secrets(d) => Some(d),
        }
    }
}
