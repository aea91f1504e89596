//! The `NETLINK_XFRM` socket (the kernel boundary: all `unsafe` of the XFRM
//! backend lives here) and entering a network namespace to open one.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use super::error::{Result, XfrmError};

const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_CAP_ACK: libc::c_int = 10;

/// A bound netlink socket of family `NETLINK_XFRM`.
#[derive(Debug)]
pub(crate) struct NlSocket {
    fd: OwnedFd,
}

impl NlSocket {
    /// Opens and binds a socket; `groups` is the legacy multicast bitmask
    /// (0 for a request socket).
    pub(crate) fn open(groups: u32) -> Result<NlSocket> {
        // SAFETY: plain socket(2) call with constant arguments; the returned
        // descriptor is checked and immediately owned by an OwnedFd.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_XFRM,
            )
        };
        if raw < 0 {
            return Err(XfrmError::Open {
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Best effort: extended acks give readable kernel messages, capped
        // acks keep error replies small. Old kernels lack them; not fatal.
        let _ = set_int_opt(fd.as_raw_fd(), libc::SOL_NETLINK, NETLINK_EXT_ACK, 1);
        let _ = set_int_opt(fd.as_raw_fd(), libc::SOL_NETLINK, NETLINK_CAP_ACK, 1);
        let _ = set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20);

        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_nl of `len` bytes for the call.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                len,
            )
        };
        if rc < 0 {
            return Err(XfrmError::Open {
                source: io::Error::last_os_error(),
            });
        }
        Ok(NlSocket { fd })
    }

    /// Sends one datagram to the kernel.
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain old data; all-zero addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: `buf` is valid for reads of its length, `addr` for its size.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    0,
                    (&addr as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receives one datagram into `buf`; a timeout shows as `WouldBlock`/`TimedOut`.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Sets the receive timeout (`None` blocks forever).
    pub(crate) fn set_recv_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let tv = match timeout {
            Some(d) => libc::timeval {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                // At least 1 us so a zero duration does not mean "forever".
                tv_usec: (d.subsec_micros() as libc::suseconds_t).max(if d.as_secs() == 0 {
                    1
                } else {
                    0
                }),
            },
            None => libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
        };
        // SAFETY: `tv` is a valid timeval for the duration of the call.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a valid c_int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a helper thread that has entered the network namespace at
/// `path` (e.g. `/run/netns/NAME`). Sockets opened by `f` stay in that
/// namespace after the thread ends; the calling thread is not moved.
pub fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let ns = File::open(path).map_err(|source| XfrmError::Netns {
        path: path.to_path_buf(),
        source,
    })?;
    std::thread::scope(|s| {
        let handle = s.spawn(move || {
            // SAFETY: setns(2) on a descriptor we own; it moves only this
            // short-lived helper thread, never the caller's threads.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc < 0 {
                return Err(XfrmError::Netns {
                    path: path.to_path_buf(),
                    source: io::Error::last_os_error(),
                });
            }
            f()
        });
        handle.join().unwrap_or_else(|_| {
            Err(XfrmError::Netns {
                path: path.to_path_buf(),
                source: io::Error::other("the helper thread panicked"),
            })
        })
    })
}

/// Enables ESP-in-UDP decapsulation (RFC 3948, `UDP_ENCAP_ESPINUDP`) on a
/// UDP socket, normally pluto's port-4500 IKE socket: the kernel then hands
/// ESP packets arriving on it to XFRM and non-ESP (IKE) packets to the socket.
pub fn enable_espinudp(socket: &impl AsRawFd) -> Result<()> {
    const UDP_ENCAP: libc::c_int = 100;
    set_int_opt(
        socket.as_raw_fd(),
        libc::IPPROTO_UDP,
        UDP_ENCAP,
        libc::c_int::from(super::wire::UDP_ENCAP_ESPINUDP),
    )
    .map_err(|source| XfrmError::Io {
        op: "setsockopt(UDP_ENCAP, UDP_ENCAP_ESPINUDP)".into(),
        source,
    })
}

/// Exempts a socket from every IPsec policy, in and out (a per-socket
/// `XFRM_POLICY_ALLOW` without templates, as Libreswan gives its IKE
/// sockets): IKE and NAT-T keepalives to a peer whose address lies inside
/// a protected or trapped subnet (host-to-host, `rightsubnet=0.0.0.0/0`)
/// then never go into the tunnel they negotiate.
pub fn bypass_ipsec_policy(socket: &impl AsRawFd) -> Result<()> {
    let fd = socket.as_raw_fd();
    let io_err = |op: &str, source| XfrmError::Io {
        op: op.into(),
        source,
    };
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` and `len` are valid for writes of their sizes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io_err("getsockopt(SO_DOMAIN)", io::Error::last_os_error()));
    }
    let (level, opt) = match domain {
        libc::AF_INET => (libc::IPPROTO_IP, libc::IP_XFRM_POLICY),
        libc::AF_INET6 => (libc::IPPROTO_IPV6, libc::IPV6_XFRM_POLICY),
        other => {
            return Err(XfrmError::Invalid {
                what: "socket",
                detail: format!("address family {other} is neither IPv4 nor IPv6"),
            })
        }
    };
    // struct xfrm_userpolicy_info: selector (family at 40), lifetimes,
    // priority, index, dir at 160, action at 161 (0 = allow).
    let mut info = [0u8; super::wire::USERPOLICY_INFO_LEN];
    super::wire::put_u16(&mut info, 40, domain as u16);
    for dir in [0u8, 1u8] {
        super::wire::put_u8(&mut info, 160, dir);
        // SAFETY: `info` is a valid xfrm_userpolicy_info buffer of its length.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                opt,
                info.as_ptr().cast(),
                info.len() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io_err(
                "setsockopt(IP_XFRM_POLICY) for an IPsec bypass",
                io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}
