//! Kernel events: ACQUIRE (a trap policy caught a packet: start a
//! negotiation) and EXPIRE (an SA reached a soft limit: rekey; or a hard
//! one: it is gone).

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{Result, XfrmError};
use super::policy::{PolicyInfo, Template};
use super::sa::SaInfo;
use super::socket::{self, NlSocket};
use super::types::{IpsecProto, Mark, Selector};
use super::wire::*;

/// An ACQUIRE: outbound traffic matched a policy whose SA is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquire {
    /// Outer destination of the SA the kernel wants (the peer).
    pub dst: Option<IpAddr>,
    /// Outer source of the SA the kernel wants.
    pub src: Option<IpAddr>,
    /// The protocol it wants.
    pub proto: Option<IpsecProto>,
    /// The flow of the packet that triggered it (the selector for the
    /// narrowest tunnel: Libreswan's "acquire" traffic selectors).
    pub selector: Selector,
    /// The policy that trapped the packet (its index names it).
    pub policy: PolicyInfo,
    /// The policy's templates (their reqid names the connection).
    pub templates: Vec<Template>,
    /// Mark of the policy, when it has one.
    pub mark: Option<Mark>,
    /// The kernel's sequence number of this acquire (for the SA's `seq`).
    pub seq: u32,
}

impl Acquire {
    /// The reqid of the first template, i.e. of the connection to negotiate.
    pub fn reqid(&self) -> Option<u32> {
        self.templates.first().map(|t| t.reqid)
    }

    fn decode(p: &[u8]) -> Option<Acquire> {
        let policy = PolicyInfo::decode(p.get(96..264)?, None)?;
        let mut templates = Vec::new();
        let mut mark = None;
        for (kind, v) in attrs(p.get(USER_ACQUIRE_LEN..).unwrap_or(&[])) {
            match kind {
                XFRMA_TMPL => {
                    templates = v
                        .chunks_exact(USER_TMPL_LEN)
                        .filter_map(Template::decode)
                        .collect()
                }
                XFRMA_MARK => mark = Mark::decode(v),
                _ => {}
            }
        }
        // The outer addresses are of the template's family, which may differ
        // from the inner selector's.
        let selector = Selector::decode(p, 40)?;
        let outer_family = templates
            .first()
            .and_then(|t| t.dst.or(t.src))
            .map(|a| family_of(&a))
            .unwrap_or(selector.family().ok()?);
        Some(Acquire {
            dst: get_addr(p, 0, outer_family),
            src: get_addr(p, 24, outer_family),
            proto: get_u8(p, 20).and_then(IpsecProto::from_number),
            selector,
            policy,
            templates,
            mark,
            seq: get_u32(p, 276)?,
        })
    }
}

/// An EXPIRE of an SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expire {
    /// True for a hard expire (the kernel deleted the SA), false for soft (rekey now).
    pub hard: bool,
    /// The SA, with its SPI and counters at expiry.
    pub sa: SaInfo,
}

/// An EXPIRE of a policy (policies with lifetimes; ferroswan's have none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyExpire {
    /// True for a hard expire.
    pub hard: bool,
    /// The policy.
    pub policy: PolicyInfo,
}

/// One event from the kernel's XFRM multicast groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrmEvent {
    /// A trap policy caught a packet.
    Acquire(Acquire),
    /// An SA reached a limit.
    Expire(Expire),
    /// A policy reached a limit.
    PolicyExpire(PolicyExpire),
    /// The socket buffer overflowed (ENOBUFS): events were lost; re-read
    /// the state with [`super::Xfrm::list_sas`].
    Lost,
}

/// A socket subscribed to `XFRMNLGRP_ACQUIRE` and `XFRMNLGRP_EXPIRE`.
///
/// Blocking use: [`XfrmMonitor::recv`]. Async use: register
/// [`AsRawFd::as_raw_fd`] with the reactor (e.g. tokio's `AsyncFd`) and call
/// `recv(Some(Duration::ZERO))` when it is readable.
#[derive(Debug)]
pub struct XfrmMonitor {
    sock: NlSocket,
    pending: VecDeque<XfrmEvent>,
    buf: Vec<u8>,
}

impl XfrmMonitor {
    /// Subscribes in the caller's network namespace.
    pub fn open() -> Result<XfrmMonitor> {
        Ok(XfrmMonitor {
            sock: NlSocket::open(XFRMGRP_ACQUIRE | XFRMGRP_EXPIRE)?,
            pending: VecDeque::new(),
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// Subscribes in the network namespace at `netns` (e.g. `/run/netns/NAME`).
    pub fn open_in_netns(netns: &Path) -> Result<XfrmMonitor> {
        socket::in_netns(netns, XfrmMonitor::open)
    }

    /// Waits up to `timeout` (`None`: forever) for the next event; `Ok(None)`
    /// when none came in time.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Option<XfrmEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(Some(ev));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let io_err = |source| XfrmError::Io {
                op: "receive XFRM events".into(),
                source,
            };
            self.sock.set_recv_timeout(left).map_err(io_err)?;
            let n = match self.sock.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(Some(XfrmEvent::Lost))
                }
                Err(e) => return Err(io_err(e)),
            };
            let data = self.buf.get(..n).unwrap_or(&[]);
            for m in messages(data) {
                if let Some(ev) = decode_event(m.msg_type, m.payload) {
                    self.pending.push_back(ev);
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) && self.pending.is_empty() {
                return Ok(None);
            }
        }
    }

    /// Waits up to `timeout` for an event accepted by `want`, dropping others.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut want: impl FnMut(&XfrmEvent) -> bool,
    ) -> Result<Option<XfrmEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.recv(Some(left))? {
                Some(ev) if want(&ev) => return Ok(Some(ev)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }
}

impl AsRawFd for XfrmMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.raw_fd()
    }
}

/// Decodes one multicast message; `None` for types ferroswan ignores or
/// that do not decode.
pub(crate) fn decode_event(msg_type: u16, p: &[u8]) -> Option<XfrmEvent> {
    match msg_type {
        XFRM_MSG_ACQUIRE => Acquire::decode(p).map(XfrmEvent::Acquire),
        XFRM_MSG_EXPIRE => {
            let sa = SaInfo::decode_at(p, USER_EXPIRE_LEN)?;
            let hard = get_u8(p, USERSA_INFO_LEN)? != 0;
            Some(XfrmEvent::Expire(Expire { hard, sa }))
        }
        XFRM_MSG_POLEXPIRE => {
            let policy = PolicyInfo::decode(p, Some(USERPOLICY_INFO_LEN + 8))?;
            let hard = get_u8(p, USERPOLICY_INFO_LEN)? != 0;
            Some(XfrmEvent::PolicyExpire(PolicyExpire { hard, policy }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_decodes_spi_and_hardness() {
        let mut p = vec![0u8; USER_EXPIRE_LEN];
        put_addr(&mut p, 56, Some("192.0.2.2".parse().expect("addr")));
        put_bytes(&mut p, 72, &0x1234_5678u32.to_be_bytes());
        put_u8(&mut p, 76, 50);
        put_addr(&mut p, 80, Some("192.0.2.1".parse().expect("addr")));
        put_u64(&mut p, 160, 4242);
        put_u16(&mut p, 212, AF_INET);
        put_u8(&mut p, USERSA_INFO_LEN, 1);
        match decode_event(XFRM_MSG_EXPIRE, &p) {
            Some(XfrmEvent::Expire(e)) => {
                assert!(e.hard);
                assert_eq!(e.sa.id.spi, 0x1234_5678);
                assert_eq!(e.sa.counters.bytes, 4242);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(decode_event(XFRM_MSG_EXPIRE, &p[..100]), None);
        assert_eq!(decode_event(XFRM_MSG_ACQUIRE, &p[..100]), None);
    }
}
