//! The start-up probe: can this kernel install ESP SAs at all?

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::algo::{CipherAlgorithm, IntegrityAlgorithm, SaCrypto, SecretKey};
use super::error::XfrmError;
use super::sa::{Replay, SaConfig, SaId, SpiRequest};
use super::types::{IpsecProto, Lifetimes, Mode};
use super::Xfrm;

/// Why the kernel cannot carry ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspUnsupportedReason {
    /// No `NETLINK_XFRM` at all (CONFIG_XFRM_USER missing).
    NoXfrmNetlink,
    /// XFRM works but the ESP transform is missing (CONFIG_INET_ESP / esp4).
    NoEsp,
    /// ESP exists but not the probe's crypto (AES-CBC + HMAC-SHA2-256).
    MissingAlgorithm,
    /// Not allowed to change XFRM state (needs CAP_NET_ADMIN).
    NotPermitted,
    /// Anything else; the detail says what.
    Other,
}

/// The answer of [`kernel_supports_esp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EspSupport {
    /// An ESP SA could be installed (and was removed again).
    Supported,
    /// It could not.
    Unsupported {
        /// The class of failure.
        reason: EspUnsupportedReason,
        /// The kernel's error, for the log line.
        detail: String,
    },
}

impl EspSupport {
    /// True when the kernel installed the probe SA.
    pub fn is_supported(&self) -> bool {
        matches!(self, EspSupport::Supported)
    }

    /// The reason, when unsupported.
    pub fn reason(&self) -> Option<EspUnsupportedReason> {
        match self {
            EspSupport::Supported => None,
            EspSupport::Unsupported { reason, .. } => Some(*reason),
        }
    }

    fn from_error(e: &XfrmError) -> EspSupport {
        let reason = match e {
            XfrmError::Open { .. } => EspUnsupportedReason::NoXfrmNetlink,
            _ => match e.errno() {
                Some(libc::EPROTONOSUPPORT) => EspUnsupportedReason::NoEsp,
                Some(libc::ENOSYS) | Some(libc::ENOENT) => EspUnsupportedReason::MissingAlgorithm,
                Some(libc::EPERM) | Some(libc::EACCES) => EspUnsupportedReason::NotPermitted,
                _ => EspUnsupportedReason::Other,
            },
        };
        EspSupport::Unsupported {
            reason,
            detail: e.to_string(),
        }
    }
}

impl fmt::Display for EspSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EspSupport::Supported => f.write_str("the kernel supports ESP"),
            EspSupport::Unsupported { reason, detail } => {
                let what = match reason {
                    EspUnsupportedReason::NoXfrmNetlink => {
                        "the kernel has no XFRM netlink interface"
                    }
                    EspUnsupportedReason::NoEsp => "the kernel has no ESP transform",
                    EspUnsupportedReason::MissingAlgorithm => "the kernel lacks the crypto for ESP",
                    EspUnsupportedReason::NotPermitted => "not permitted to install SAs",
                    EspUnsupportedReason::Other => "the kernel refused an ESP SA",
                };
                write!(f, "{what}: {detail}")
            }
        }
    }
}

/// Probes the kernel of the caller's network namespace: opens an XFRM
/// socket, allocates an SPI, completes it as an AES-CBC/HMAC-SHA2-256 ESP SA
/// between loopback addresses (no policy refers to it, so no traffic is
/// affected) and deletes it again.
pub fn kernel_supports_esp() -> EspSupport {
    match Xfrm::open() {
        Ok(x) => x.probe_esp(),
        Err(e) => EspSupport::from_error(&e),
    }
}

impl Xfrm {
    /// [`kernel_supports_esp`] on this handle's network namespace.
    pub fn probe_esp(&self) -> EspSupport {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let spi = match self.alloc_spi(&SpiRequest {
            min: 0xfe00_0000,
            max: 0xfeff_ffff,
            ..SpiRequest::esp(lo, lo, 0)
        }) {
            Ok(spi) => spi,
            Err(e) => return EspSupport::from_error(&e),
        };
        let sa = SaConfig {
            src: lo,
            dst: lo,
            spi,
            proto: IpsecProto::Esp,
            mode: Mode::Tunnel,
            reqid: 0,
            selector: None,
            crypto: SaCrypto::CipherAuth {
                cipher: CipherAlgorithm::AesCbc,
                cipher_key: SecretKey::new(&[0x5a; 16]),
                integrity: IntegrityAlgorithm::HmacSha256_128,
                integrity_key: SecretKey::new(&[0xa5; 32]),
            },
            replay: Replay::default(),
            encap: None,
            lifetimes: Lifetimes::default(),
            mark: None,
        };
        let result = self.update_sa(&sa);
        let id = SaId {
            dst: lo,
            spi,
            proto: IpsecProto::Esp,
            mark: None,
        };
        // Remove the probe SA (or the larval one when the update failed).
        let cleanup = self.delete_sa(&id);
        match (result, cleanup) {
            (Ok(()), Ok(())) => EspSupport::Supported,
            (Ok(()), Err(e)) => EspSupport::Unsupported {
                reason: EspUnsupportedReason::Other,
                detail: format!("the probe SA was installed but could not be removed: {e}"),
            },
            (Err(e), _) => EspSupport::from_error(&e),
        }
    }
}
