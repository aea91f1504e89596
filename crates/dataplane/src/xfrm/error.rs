//! Errors of the XFRM backend, with the kernel's errno mapped to advice a
//! user can act on.

use std::io;
use std::path::PathBuf;

/// An error from the XFRM netlink backend.
#[derive(Debug, thiserror::Error)]
pub enum XfrmError {
    /// The `NETLINK_XFRM` socket could not be opened or bound.
    #[error(
        "cannot open an XFRM netlink socket: {source} (does the kernel have CONFIG_XFRM_USER?)"
    )]
    Open {
        /// The socket, setsockopt or bind error.
        source: io::Error,
    },
    /// Sending to or receiving from the netlink socket failed.
    #[error("XFRM netlink I/O failed during {op}: {source}")]
    Io {
        /// What ferroswan was doing.
        op: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The kernel rejected a request.
    #[error("{op} failed: {}{}{}", errno_text(*.errno), ext_ack_text(.ext_ack), hint(*.errno))]
    Kernel {
        /// What ferroswan asked for (e.g. "add SA esp spi 0x1001 to 192.0.2.2").
        op: String,
        /// The positive errno the kernel returned.
        errno: i32,
        /// The kernel's extended-ack message, when it gave one.
        ext_ack: Option<String>,
    },
    /// No reply arrived in time.
    #[error("{op}: no reply from the kernel within {seconds} s")]
    Timeout {
        /// What ferroswan was doing.
        op: String,
        /// How long it waited.
        seconds: u64,
    },
    /// A reply from the kernel could not be decoded.
    #[error("{op}: malformed reply from the kernel: {detail}")]
    Decode {
        /// What ferroswan was doing.
        op: String,
        /// What was wrong with it.
        detail: String,
    },
    /// A request was not well formed (checked before it reaches the kernel).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// Which part of the request.
        what: &'static str,
        /// Why it is invalid.
        detail: String,
    },
    /// A network namespace could not be entered.
    #[error("cannot enter network namespace {path}: {source}")]
    Netns {
        /// The namespace file (e.g. /run/netns/NAME).
        path: PathBuf,
        /// The open or setns error.
        source: io::Error,
    },
}

impl XfrmError {
    /// The kernel's errno, for [`XfrmError::Kernel`] (and I/O errors that carry one).
    pub fn errno(&self) -> Option<i32> {
        match self {
            XfrmError::Kernel { errno, .. } => Some(*errno),
            XfrmError::Io { source, .. } | XfrmError::Open { source } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when the SA or policy does not exist (ENOENT/ESRCH).
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(libc::ENOENT) | Some(libc::ESRCH))
    }

    /// True when the SA or policy already exists (EEXIST).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// True when the kernel cannot build this SA because it lacks the ESP/AH
    /// protocol (EPROTONOSUPPORT) or a crypto algorithm (ENOSYS/ENOENT on the
    /// algorithm), the conditions that make pluto fall back to userspace.
    pub fn is_unsupported_by_kernel(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::EPROTONOSUPPORT) | Some(libc::ENOSYS) | Some(libc::ENOPROTOOPT)
        )
    }
}

fn errno_text(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    // io::Error appends " (os error N)"; keep the name and the number.
    text.replace(" (os error ", " (errno ")
}

fn ext_ack_text(ext_ack: &Option<String>) -> String {
    match ext_ack {
        Some(m) => format!(": kernel says \"{m}\""),
        None => String::new(),
    }
}

fn hint(errno: i32) -> &'static str {
    match errno {
        libc::EPROTONOSUPPORT => {
            " (the kernel has no ESP/AH transform: CONFIG_INET_ESP/CONFIG_INET6_ESP or the esp4/esp6 modules are missing; use protostack=userspace)"
        }
        libc::ENOSYS => {
            " (the kernel lacks the requested crypto algorithm or ESP support; check /proc/crypto and the esp4/esp6 modules)"
        }
        libc::EEXIST => " (it already exists)",
        libc::ENOENT | libc::ESRCH => " (no such SA or policy)",
        libc::EPERM | libc::EACCES => " (needs CAP_NET_ADMIN: run as root)",
        libc::EINVAL => " (the kernel found the request inconsistent)",
        _ => "",
    }
}

/// Result type of the XFRM backend.
pub type Result<T> = std::result::Result<T, XfrmError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_error_names_errno_ext_ack_and_hint() {
        let e = XfrmError::Kernel {
            op: "add SA esp spi 0x00001001 to 192.0.2.2".into(),
            errno: libc::EPROTONOSUPPORT,
            ext_ack: Some("Requested type not found".into()),
        };
        let s = e.to_string();
        assert!(
            s.starts_with("add SA esp spi 0x00001001 to 192.0.2.2 failed: "),
            "{s}"
        );
        assert!(s.contains("errno 93"), "{s}");
        assert!(s.contains("Requested type not found"), "{s}");
        assert!(s.contains("no ESP/AH transform"), "{s}");
        assert!(e.is_unsupported_by_kernel());
        assert!(!e.is_not_found());
    }
}
