//! The userspace data plane's interface set-up, rules and routes through
//! rtnetlink: one NETLINK_ROUTE socket opened where the data plane starts
//! (so it acts in that network namespace from any thread), one request and
//! one acknowledgement per change, no process spawned. Bringing the TUN
//! device up, giving it its addresses and adding the bypass rules used to
//! run `ip` seven times (tens of milliseconds before the first tunnel);
//! through this socket it is a handful of round trips to the kernel.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::net::IpNet;

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const NLM_F_EXCL: u16 = 0x200;
const IFLA_MTU: u16 = 4;
const IFLA_TXQLEN: u16 = 13;
const IFF_UP: u32 = 0x1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_FWMASK: u16 = 16;
const FR_ACT_TO_TBL: u8 = 1;
const FIB_RULE_INVERT: u32 = 0x2;
const RTM_DELROUTE: u16 = 25;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_UNIVERSE: u8 = 0;
/// On delete: match a route of any scope.
const RT_SCOPE_NOWHERE: u8 = 255;
const RTN_UNICAST: u8 = 1;
const RTN_THROW: u8 = 9;

/// A NETLINK_ROUTE socket bound to the network namespace it was opened in.
#[derive(Debug)]
pub struct RouteSocket {
    fd: OwnedFd,
    seq: AtomicU32,
    table: u32,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn push_attr(msg: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    msg.extend_from_slice(&(len as u16).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(data);
    while !msg.len().is_multiple_of(4) {
        msg.push(0);
    }
}

fn addr_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Fills in the netlink header of `msg` (whose first 16 bytes are reserved
/// for it).
fn finish(msg: &mut [u8], kind: u16, flags: u16, seq: u32) {
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
    msg[4..6].copy_from_slice(&kind.to_ne_bytes());
    msg[6..8].copy_from_slice(&flags.to_ne_bytes());
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
}

fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// Builds an RTM_NEWLINK request that sets the MTU and transmit queue
/// length of interface `index` and brings it up (`ip link set ... up`).
fn link_message(seq: u32, index: u32, mtu: u16, txqueuelen: u32) -> Vec<u8> {
    let mut msg = Vec::with_capacity(48);
    msg.extend_from_slice(&[0; 16]);
    // ifinfomsg: family, pad, type, index, flags, change.
    msg.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    msg.extend_from_slice(&index.to_ne_bytes());
    msg.extend_from_slice(&IFF_UP.to_ne_bytes());
    msg.extend_from_slice(&IFF_UP.to_ne_bytes());
    push_attr(&mut msg, IFLA_MTU, &u32::from(mtu).to_ne_bytes());
    push_attr(&mut msg, IFLA_TXQLEN, &txqueuelen.to_ne_bytes());
    finish(&mut msg, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
    msg
}

/// Builds an RTM_NEWADDR request that adds `addr` to interface `index`,
/// replacing it if present (`ip addr replace ADDR dev DEV`).
fn address_message(seq: u32, index: u32, addr: &IpNet) -> Vec<u8> {
    let ip = addr.addr();
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&[0; 16]);
    // ifaddrmsg: family, prefix length, flags, scope, index.
    msg.extend_from_slice(&[family_of(&ip), addr.prefix(), 0, RT_SCOPE_UNIVERSE]);
    msg.extend_from_slice(&index.to_ne_bytes());
    push_attr(&mut msg, IFA_LOCAL, &addr_bytes(&ip));
    push_attr(&mut msg, IFA_ADDRESS, &addr_bytes(&ip));
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    finish(&mut msg, RTM_NEWADDR, flags, seq);
    msg
}

/// Builds an RTM_NEWRULE/RTM_DELRULE request for the rule `not fwmark MARK
/// lookup TABLE pref PREF` of address family `family`.
fn rule_message(kind: u16, flags: u16, seq: u32, family: u8, rule: BypassRule) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&[0; 16]);
    // fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2,
    // action, flags.
    msg.extend_from_slice(&[
        family,
        0,
        0,
        0,
        u8::try_from(rule.table).unwrap_or(0),
        0,
        0,
        FR_ACT_TO_TBL,
    ]);
    msg.extend_from_slice(&FIB_RULE_INVERT.to_ne_bytes());
    push_attr(&mut msg, FRA_PRIORITY, &rule.pref.to_ne_bytes());
    push_attr(&mut msg, FRA_FWMARK, &rule.mark.to_ne_bytes());
    push_attr(&mut msg, FRA_FWMASK, &u32::MAX.to_ne_bytes());
    push_attr(&mut msg, RTA_TABLE, &rule.table.to_ne_bytes());
    finish(&mut msg, kind, flags, seq);
    msg
}

/// The bypass rule of the userspace data plane: packets without `mark` look
/// up routing table `table` first (`ip rule add not fwmark MARK lookup
/// TABLE pref PREF`). The data plane's routes live in that table, and its
/// own sockets carry the mark, so ESP to a peer inside a protected subnet
/// never loops into TUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BypassRule {
    /// The mark of the data plane's own packets.
    pub mark: u32,
    /// The routing table of the data plane's routes.
    pub table: u32,
    /// The rule's preference.
    pub pref: u32,
}

/// Builds an RTM_NEWROUTE/RTM_DELROUTE request for `net` through interface `oif`.
fn route_message(
    table: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    net: &IpNet,
    oif: Option<u32>,
    src: Option<IpAddr>,
) -> Vec<u8> {
    let rtype = if oif.is_some() {
        RTN_UNICAST
    } else {
        RTN_THROW
    };
    let mut msg = Vec::with_capacity(96);
    msg.extend_from_slice(&[0; 16]); // nlmsghdr, filled in below
    let family = if net.addr().is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let scope = if kind == RTM_DELROUTE {
        RT_SCOPE_NOWHERE
    } else if rtype == RTN_UNICAST {
        RT_SCOPE_LINK
    } else {
        RT_SCOPE_UNIVERSE
    };
    msg.extend_from_slice(&[
        family as u8,
        net.prefix(),
        0,
        0,
        u8::try_from(table).unwrap_or(0),
        RTPROT_STATIC,
        scope,
        rtype,
    ]);
    msg.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
    push_attr(&mut msg, RTA_DST, &addr_bytes(&net.addr()));
    if let Some(oif) = oif {
        push_attr(&mut msg, RTA_OIF, &oif.to_ne_bytes());
    }
    push_attr(&mut msg, RTA_TABLE, &table.to_ne_bytes());
    if let Some(s) = src {
        push_attr(&mut msg, RTA_PREFSRC, &addr_bytes(&s));
    }
    finish(&mut msg, kind, flags, seq);
    msg
}

impl RouteSocket {
    /// Opens the socket in the calling thread's network namespace; routes go
    /// into routing table `table`.
    pub fn open(table: u32) -> io::Result<Self> {
        // SAFETY: socket has no pointer arguments.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: `raw` was just returned by socket and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: passes a pointer to a live timeval and its size.
        cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        Ok(RouteSocket {
            fd,
            seq: AtomicU32::new(1),
            table,
        })
    }

    /// Adds (or replaces) the route of `net` through interface `oif`.
    pub fn add_route(&self, net: &IpNet, oif: u32, src: Option<IpAddr>) -> io::Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        self.request(
            &route_message(self.table, RTM_NEWROUTE, flags, seq, net, Some(oif), src),
            seq,
        )
    }

    /// Removes the route of `net` through interface `oif`.
    pub fn remove_route(&self, net: &IpNet, oif: u32) -> io::Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.request(
            &route_message(
                self.table,
                RTM_DELROUTE,
                NLM_F_REQUEST | NLM_F_ACK,
                seq,
                net,
                Some(oif),
                None,
            ),
            seq,
        )
    }

    /// Adds a throw route for `net`: lookups for it leave this table and go
    /// on with the next routing rule (the main table), as a pass shunt wants.
    pub fn add_throw(&self, net: &IpNet) -> io::Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        self.request(
            &route_message(self.table, RTM_NEWROUTE, flags, seq, net, None, None),
            seq,
        )
    }

    /// Removes the throw route for `net`.
    pub fn remove_throw(&self, net: &IpNet) -> io::Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let flags = NLM_F_REQUEST | NLM_F_ACK;
        self.request(
            &route_message(self.table, RTM_DELROUTE, flags, seq, net, None, None),
            seq,
        )
    }

    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Sets the MTU and transmit queue length of interface `index` and
    /// brings it up.
    pub fn link_up(&self, index: u32, mtu: u16, txqueuelen: u32) -> io::Result<()> {
        let seq = self.next_seq();
        self.request(&link_message(seq, index, mtu, txqueuelen), seq)
    }

    /// Adds `addr` to interface `index`, replacing it if present.
    pub fn replace_address(&self, index: u32, addr: &IpNet) -> io::Result<()> {
        let seq = self.next_seq();
        self.request(&address_message(seq, index, addr), seq)
    }

    /// Adds `rule` for IPv4 and IPv6. Idempotent: copies of it left behind
    /// by a data plane that was killed (SIGKILL runs no Drop) are removed
    /// first, so there is exactly one of each afterwards.
    pub fn add_bypass_rules(&self, rule: BypassRule) -> io::Result<()> {
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            // Each delete removes one copy; ENOENT says none is left.
            for _ in 0..16 {
                if self.delete_rule(family, rule).is_err() {
                    break;
                }
            }
            let seq = self.next_seq();
            let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
            self.request(&rule_message(RTM_NEWRULE, flags, seq, family, rule), seq)?;
        }
        Ok(())
    }

    /// Removes the rules of [`RouteSocket::add_bypass_rules`] (both families
    /// are tried; the first error is returned).
    pub fn remove_bypass_rules(&self, rule: BypassRule) -> io::Result<()> {
        let v4 = self.delete_rule(libc::AF_INET as u8, rule);
        let v6 = self.delete_rule(libc::AF_INET6 as u8, rule);
        v4.and(v6)
    }

    /// Makes the kernel split its IPv4 `local` and `main` routing tables
    /// now, by adding `rule` and removing it again. A network namespace
    /// without routing rules of its own keeps local routes inside `main`;
    /// the first rule added splits them, and a packet to a local address
    /// that arrives in that instant finds no local route and is dropped
    /// (counted as IpInAddrErrors). The daemon does this before it listens
    /// for IKE, so the split cannot drop a peer's IKE_SA_INIT when the data
    /// plane adds its rules at the first tunnel. The tables stay split. A
    /// rule already there (EEXIST) means they are split already.
    pub fn split_local_table(&self, rule: BypassRule) -> io::Result<()> {
        let family = libc::AF_INET as u8;
        let seq = self.next_seq();
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        match self.request(&rule_message(RTM_NEWRULE, flags, seq, family, rule), seq) {
            Ok(()) => self.delete_rule(family, rule),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn delete_rule(&self, family: u8, rule: BypassRule) -> io::Result<()> {
        let seq = self.next_seq();
        let flags = NLM_F_REQUEST | NLM_F_ACK;
        self.request(&rule_message(RTM_DELRULE, flags, seq, family, rule), seq)
    }

    fn request(&self, msg: &[u8], seq: u32) -> io::Result<()> {
        // SAFETY: all-zero bytes are a valid sockaddr_nl; the kernel is pid 0.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `msg` is a live slice; `to` is a live sockaddr_nl of the given size.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: `buf` is a live writable buffer of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut off = 0;
            let n = n as usize;
            while off + 16 <= n {
                let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let rseq =
                    u32::from_ne_bytes([buf[off + 8], buf[off + 9], buf[off + 10], buf[off + 11]]);
                if len < 16 || off + len > n {
                    break;
                }
                if kind == NLMSG_ERROR && rseq == seq && len >= 20 {
                    let err = i32::from_ne_bytes([
                        buf[off + 16],
                        buf[off + 17],
                        buf[off + 18],
                        buf[off + 19],
                    ]);
                    return if err == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-err))
                    };
                }
                off += (len + 3) & !3;
            }
        }
    }
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
    // SAFETY: `c` is a NUL-terminated string alive for the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_route_request() {
        let net: IpNet = "10.2.0.0/16".parse().unwrap();
        let m = route_message(
            254,
            RTM_NEWROUTE,
            0x505,
            7,
            &net,
            Some(3),
            Some("10.1.0.1".parse().unwrap()),
        );
        assert_eq!(m.len(), 16 + 12 + 8 + 8 + 8 + 8);
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWROUTE);
        assert_eq!(&m[16..24], &[libc::AF_INET as u8, 16, 0, 0, 254, 4, 253, 1]);
        assert_eq!(&m[28..36], &[8, 0, 1, 0, 10, 2, 0, 0]);
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        let m = route_message(4500, RTM_DELROUTE, 5, 8, &v6, Some(3), None);
        assert_eq!(m.len(), 16 + 12 + 20 + 8 + 8);
        assert_eq!(m[20], 0, "tables above 255 only in RTA_TABLE");
        let throw = route_message(4500, RTM_NEWROUTE, 5, 9, &net, None, None);
        assert_eq!(throw.len(), 16 + 12 + 8 + 8);
        assert_eq!(&throw[22..24], &[RT_SCOPE_UNIVERSE, RTN_THROW]);
    }

    fn attrs(m: &[u8], start: usize) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = start;
        while off + 4 <= m.len() {
            let len = u16::from_ne_bytes([m[off], m[off + 1]]) as usize;
            let kind = u16::from_ne_bytes([m[off + 2], m[off + 3]]);
            out.push((kind, m[off + 4..off + len].to_vec()));
            off += (len + 3) & !3;
        }
        out
    }

    #[test]
    fn builds_link_address_and_rule_requests() {
        let m = link_message(3, 7, 1400, 1000);
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWLINK);
        assert_eq!(u32::from_ne_bytes([m[20], m[21], m[22], m[23]]), 7);
        assert_eq!(u32::from_ne_bytes([m[24], m[25], m[26], m[27]]), IFF_UP);
        assert_eq!(
            attrs(&m, 32),
            vec![
                (IFLA_MTU, 1400u32.to_ne_bytes().to_vec()),
                (IFLA_TXQLEN, 1000u32.to_ne_bytes().to_vec())
            ]
        );

        let a: IpNet = "2001:db8::1/128".parse().unwrap();
        let m = address_message(4, 9, &a);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWADDR);
        assert_eq!(&m[16..20], &[libc::AF_INET6 as u8, 128, 0, 0]);
        let octets = "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        assert_eq!(
            attrs(&m, 24),
            vec![(IFA_LOCAL, octets.to_vec()), (IFA_ADDRESS, octets.to_vec())]
        );

        let rule = BypassRule {
            mark: 0x5f0,
            table: 4500,
            pref: 1000,
        };
        let m = rule_message(RTM_NEWRULE, 0x605, 5, libc::AF_INET as u8, rule);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWRULE);
        assert_eq!(m[20], 0, "table 4500 only in FRA_TABLE");
        assert_eq!(m[23], FR_ACT_TO_TBL);
        assert_eq!(
            u32::from_ne_bytes([m[24], m[25], m[26], m[27]]),
            FIB_RULE_INVERT
        );
        assert_eq!(
            attrs(&m, 28),
            vec![
                (FRA_PRIORITY, 1000u32.to_ne_bytes().to_vec()),
                (FRA_FWMARK, 0x5f0u32.to_ne_bytes().to_vec()),
                (FRA_FWMASK, u32::MAX.to_ne_bytes().to_vec()),
                (RTA_TABLE, 4500u32.to_ne_bytes().to_vec()),
            ]
        );
    }
}
