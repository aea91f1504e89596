//! The kernel XFRM backend: SAs, policies, traps and the ACQUIRE/EXPIRE
//! events of the Linux IPsec stack, spoken over `NETLINK_XFRM`.
//!
//! The messages are built by hand on a libc netlink socket rather than with
//! the netlink-packet-xfrm crate: the kernel structures are few and stable,
//! and building them here keeps every buffer that holds key material in a
//! zeroizing allocation and gives ferroswan the extended-ack text of each
//! rejection.
//!
//! [`XfrmKernel`] is the [`crate::Kernel`] trait over all of this, the
//! backend of `protostack=xfrm`.
//!
//! Use [`Xfrm`] for requests (one socket, safe to share between threads),
//! [`XfrmMonitor`] for kernel events, and [`kernel_supports_esp`] at start-up
//! to decide between the XFRM and userspace data planes.
//!
//! ```no_run
//! use dataplane::xfrm::{Xfrm, kernel_supports_esp};
//! let probe = kernel_supports_esp();
//! if !probe.is_supported() {
//!     eprintln!("no kernel ESP: {probe}");
//! }
//! let x = Xfrm::open()?;
//! let spi = x.alloc_spi(&dataplane::xfrm::SpiRequest::esp(
//!     "192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), 7))?;
//! # Ok::<(), dataplane::xfrm::XfrmError>(())
//! ```

mod algo;
mod backend;
mod error;
mod migrate;
mod monitor;
mod policy;
mod probe;
mod routes;
mod sa;
mod socket;
mod translate;
mod types;
mod wire;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use algo::{AeadAlgorithm, CipherAlgorithm, IntegrityAlgorithm, SaCrypto, SecretKey};
pub use backend::{XfrmKernel, XfrmKernelConfig};
pub use error::{Result, XfrmError};
pub use migrate::Migration;
pub use monitor::{Acquire, Expire, PolicyExpire, XfrmEvent, XfrmMonitor};
pub use policy::{Direction, Policy, PolicyAction, PolicyId, PolicyInfo, Template};
pub use probe::{kernel_supports_esp, EspSupport, EspUnsupportedReason};
pub use sa::{Encap, Replay, SaConfig, SaCounters, SaId, SaInfo, SpiRequest};
pub use socket::{bypass_ipsec_policy, enable_espinudp, in_netns};
pub use types::{port_blocks, IpsecProto, Lifetimes, Mark, Mode, Selector, Subnet};

use socket::NlSocket;
use wire::*;

/// How long a request waits for the kernel's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What ferroswan installed through one [`Xfrm`] handle, so that
/// [`Xfrm::flush_installed`] removes exactly that and nothing of others.
#[derive(Debug, Default)]
struct Ledger {
    sas: Vec<SaId>,
    policies: Vec<PolicyId>,
}

/// How much [`Xfrm::flush_installed`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// SAs deleted.
    pub sas: usize,
    /// Policies deleted.
    pub policies: usize,
}

/// A request socket to the kernel's XFRM subsystem (in the network
/// namespace where it was opened).
#[derive(Debug)]
pub struct Xfrm {
    sock: NlSocket,
    seq: AtomicU32,
    /// Serializes request/reply exchanges on the one socket.
    io: Mutex<()>,
    ledger: Mutex<Ledger>,
}

impl Xfrm {
    /// Opens a request socket in the caller's network namespace.
    pub fn open() -> Result<Xfrm> {
        Ok(Xfrm {
            sock: NlSocket::open(0)?,
            seq: AtomicU32::new(1),
            io: Mutex::new(()),
            ledger: Mutex::new(Ledger::default()),
        })
    }

    /// Opens a request socket in the network namespace at `netns`
    /// (e.g. `/run/netns/NAME`); the calling thread stays where it is.
    pub fn open_in_netns(netns: &Path) -> Result<Xfrm> {
        socket::in_netns(netns, Xfrm::open)
    }

    /// Sends one request and collects the messages answering it: data
    /// messages for a GET/ALLOCSPI, until the ack (`dump == false`) or until
    /// `NLMSG_DONE` (`dump == true`).
    fn transact(
        &self,
        op: &dyn Fn() -> String,
        msg: MsgBuilder,
        dump: bool,
    ) -> Result<Vec<(u16, Vec<u8>)>> {
        let _guard = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let bytes = msg.finish(seq);
        self.sock
            .send(&bytes)
            .map_err(|source| XfrmError::Io { op: op(), source })?;
        drop(bytes);
        self.sock
            .set_recv_timeout(Some(REPLY_TIMEOUT))
            .map_err(|source| XfrmError::Io { op: op(), source })?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match self.sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(XfrmError::Timeout {
                        op: op(),
                        seconds: REPLY_TIMEOUT.as_secs(),
                    })
                }
                Err(source) => return Err(XfrmError::Io { op: op(), source }),
            };
            let data = buf.get(..n).unwrap_or(&[]);
            for m in messages(data) {
                if m.seq != seq {
                    continue; // a late answer to an earlier, timed-out request
                }
                match m.msg_type {
                    NLMSG_ERROR => {
                        let e = parse_error(&m).ok_or_else(|| XfrmError::Decode {
                            op: op(),
                            detail: "short NLMSG_ERROR".into(),
                        })?;
                        if e.error == 0 {
                            return Ok(out);
                        }
                        return Err(XfrmError::Kernel {
                            op: op(),
                            errno: -e.error,
                            ext_ack: e.ext_ack,
                        });
                    }
                    NLMSG_DONE => {
                        if dump {
                            return Ok(out);
                        }
                    }
                    t => out.push((t, m.payload.to_vec())),
                }
            }
        }
    }

    /// Removes everything installed through this handle that is still
    /// there: policies first (so no traffic is trapped or leaked in clear),
    /// then SAs. Objects already gone (expired, deleted by others) are skipped.
    pub fn flush_installed(&self) -> Result<FlushReport> {
        let (sas, policies) = {
            let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut l.sas), std::mem::take(&mut l.policies))
        };
        let mut report = FlushReport::default();
        let mut first_err = None;
        for p in &policies {
            match self.delete_policy(p) {
                Ok(()) => report.policies += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        for s in &sas {
            match self.delete_sa(s) {
                Ok(()) => report.sas += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Removes every SA and policy whose reqid lies in `reqids`, whoever
    /// installed it: the clean-up of a restarted daemon, whose ledger is
    /// gone, when it gives its connections reqids from a range of its own
    /// (as pluto does from 16384 up). A policy counts when any of its
    /// templates has such a reqid; shunts (no templates) are not touched.
    pub fn flush_reqids(&self, reqids: std::ops::RangeInclusive<u32>) -> Result<FlushReport> {
        let mut report = FlushReport::default();
        for p in self.list_policies()? {
            if p.templates.iter().any(|t| reqids.contains(&t.reqid)) {
                match self.delete_policy(&p.id()) {
                    Ok(()) => report.policies += 1,
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for s in self.list_sas()? {
            // SPI 0: the kernel's own acquire state; it cannot be deleted by SPI.
            if s.id.spi != 0 && reqids.contains(&s.reqid) {
                match self.delete_sa(&s.id) {
                    Ok(()) => report.sas += 1,
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(report)
    }

    fn remember_sa(&self, id: SaId) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if !l.sas.contains(&id) {
            l.sas.push(id);
        }
    }
    fn forget_sa(&self, id: &SaId) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        l.sas.retain(|s| s != id);
    }
    fn remember_policy(&self, id: PolicyId) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if !l.policies.contains(&id) {
            l.policies.push(id);
        }
    }
    fn forget_policy(&self, id: &PolicyId) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        l.policies.retain(|p| p != id);
    }
}
