//! Host addresses that are not literal: `left=%defaultroute` (the address
//! of the interface the default route leaves by), `leftnexthop=
//! %defaultroute` (that route's gateway) and DNS names as `left=`/`right=`.
//!
//! A connection that uses them is resolved into a copy of its
//! specification with literal addresses ([`resolve_spec`]); the daemon does
//! that on lookup threads ([`crate::resolver`]) and moves the connection
//! to the new addresses ([`crate::lookups`]). The rest of the daemon only
//! ever sees literal addresses.
//!
//! The default route comes from `/proc/net/route` and `/proc/net/ipv6_route`
//! (lowest metric); DNS names from the system resolver (`getaddrinfo`, so
//! `/etc/hosts` too). These functions block: call them off the event loop.

use conf::{ConnSpec, EndSpec, HostAddr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;

/// Why a host could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No default route of the family.
    #[error("{end}=%defaultroute: no {family} default route")]
    NoDefaultRoute {
        /// `left`, `right`, `leftnexthop` ...
        end: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// The default route's interface has no usable address.
    #[error("{end}=%defaultroute: the default route's interface {ifname} has no {family} address")]
    NoInterfaceAddress {
        /// `left`, `right`.
        end: String,
        /// The interface.
        ifname: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// The default route has no gateway (`leftnexthop=%defaultroute`).
    #[error("{end}=%defaultroute: the default route (dev {ifname}) has no gateway")]
    NoGateway {
        /// `leftnexthop` or `rightnexthop`.
        end: String,
        /// The interface.
        ifname: String,
    },
    /// The routing table could not be read.
    #[error("{end}=%defaultroute: cannot read {path}: {source}")]
    RouteTable {
        /// `left`, `right` ...
        end: String,
        /// The file.
        path: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// With its new addresses the connection no longer orients.
    #[error("with its hosts resolved again: {0}")]
    Orientation(String),
    /// The lookup took longer than [`crate::resolver::LOOKUP_TIMEOUT`].
    #[error("no answer from the resolver within {secs}s (hosts {hosts})")]
    Timeout {
        /// The connection's hosts as written.
        hosts: String,
        /// The timeout.
        secs: u64,
    },
    /// No lookup thread could be started.
    #[error("cannot start a host lookup thread: {0}")]
    Thread(String),
    /// A DNS name did not resolve.
    #[error("{end}={name}: cannot resolve the host name: {reason}")]
    Dns {
        /// `left` or `right`.
        end: String,
        /// The name.
        name: String,
        /// The resolver's answer.
        reason: String,
    },
}

/// A default route: its interface and gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    /// The interface it leaves by.
    pub ifname: String,
    /// The gateway (`None` for a route straight onto the link).
    pub gateway: Option<IpAddr>,
    /// Its metric (the lowest wins).
    pub metric: u32,
}

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
const RTF_REJECT: u32 = 0x200;

/// The IPv4 default route with the lowest metric in `/proc/net/route` text.
pub fn parse_ipv4_default(text: &str) -> Option<DefaultRoute> {
    let mut best: Option<DefaultRoute> = None;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(ifname), Some(dest), Some(gw), Some(flags), Some(metric), Some(mask)) =
            (f.first(), f.get(1), f.get(2), f.get(3), f.get(6), f.get(7))
        else {
            continue;
        };
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(dest), Some(gw), Some(flags), Some(mask)) =
            (hex(dest), hex(gw), hex(flags), hex(mask))
        else {
            continue;
        };
        let Ok(metric) = metric.parse::<u32>() else {
            continue;
        };
        if dest != 0 || mask != 0 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
            continue;
        }
        // The kernel prints the address as the number in host byte order.
        let gateway = (flags & RTF_GATEWAY != 0 && gw != 0)
            .then(|| IpAddr::V4(Ipv4Addr::from(gw.to_ne_bytes())));
        if best.as_ref().is_none_or(|b| metric < b.metric) {
            best = Some(DefaultRoute {
                ifname: (*ifname).to_string(),
                gateway,
                metric,
            });
        }
    }
    best
}

/// The IPv6 default route with the lowest metric in `/proc/net/ipv6_route`
/// text (the kernel's unreachable routes on `lo` left out).
pub fn parse_ipv6_default(text: &str) -> Option<DefaultRoute> {
    let mut best: Option<DefaultRoute> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(plen), Some(nh), Some(metric), Some(flags), Some(ifname)) =
            (f.first(), f.get(1), f.get(4), f.get(5), f.get(8), f.get(9))
        else {
            continue;
        };
        let (Ok(dest), Ok(plen), Ok(nh), Ok(metric), Ok(flags)) = (
            u128::from_str_radix(dest, 16),
            u8::from_str_radix(plen, 16),
            u128::from_str_radix(nh, 16),
            u32::from_str_radix(metric, 16),
            u32::from_str_radix(flags, 16),
        ) else {
            continue;
        };
        if dest != 0 || plen != 0 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
            continue;
        }
        if *ifname == "lo" {
            continue;
        }
        let gateway = (flags & RTF_GATEWAY != 0 && nh != 0).then(|| IpAddr::V6(Ipv6Addr::from(nh)));
        if best.as_ref().is_none_or(|b| metric < b.metric) {
            best = Some(DefaultRoute {
                ifname: (*ifname).to_string(),
                gateway,
                metric,
            });
        }
    }
    best
}

fn family_name(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// This host's default route of a family.
pub fn default_route(v6: bool, end: &str) -> Result<DefaultRoute, ResolveError> {
    let path = if v6 {
        "/proc/net/ipv6_route"
    } else {
        "/proc/net/route"
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // No IPv6 in the kernel: no IPv6 default route.
        Err(e) if v6 && e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ResolveError::RouteTable {
                end: end.to_string(),
                path,
                source,
            })
        }
    };
    let route = if v6 {
        parse_ipv6_default(&text)
    } else {
        parse_ipv4_default(&text)
    };
    route.ok_or(ResolveError::NoDefaultRoute {
        end: end.to_string(),
        family: family_name(v6),
    })
}

/// The address `%defaultroute` stands for: the one the kernel uses on the
/// default route's interface to reach its gateway (the interface's first
/// address without a gateway, or when that fails).
pub fn default_route_address(v6: bool, end: &str) -> Result<IpAddr, ResolveError> {
    let route = default_route(v6, end)?;
    let on_interface: Vec<IpAddr> = crate::interfaces::scan()
        .map(|v| {
            v.into_iter()
                .filter(|a| a.name == route.ifname && a.addr.is_ipv6() == v6)
                .map(|a| a.addr)
                .collect()
        })
        .unwrap_or_default();
    let via_gateway = route.gateway.and_then(|gw| {
        let scope = std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", route.ifname))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0);
        let (any, target): (SocketAddr, SocketAddr) = match gw {
            IpAddr::V4(a) => (
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                SocketAddr::from((a, 9)),
            ),
            IpAddr::V6(a) => (
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
                SocketAddr::V6(std::net::SocketAddrV6::new(a, 9, 0, scope)),
            ),
        };
        // connect(2) on UDP sends nothing; it only picks the source.
        let s = UdpSocket::bind(any).ok()?;
        s.connect(target).ok()?;
        s.local_addr().ok().map(|a| a.ip())
    });
    match via_gateway {
        Some(a) if on_interface.is_empty() || on_interface.contains(&a) => Ok(a),
        _ => on_interface
            .first()
            .copied()
            .ok_or(ResolveError::NoInterfaceAddress {
                end: end.to_string(),
                ifname: route.ifname,
                family: family_name(v6),
            }),
    }
}

/// Resolves a DNS name, preferring `v6` (or IPv4 when `None`) among its
/// addresses.
pub fn resolve_name(name: &str, v6: Option<bool>, end: &str) -> Result<IpAddr, ResolveError> {
    let err = |reason: String| ResolveError::Dns {
        end: end.to_string(),
        name: name.to_string(),
        reason,
    };
    let addrs: Vec<IpAddr> = (name, 0u16)
        .to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
        .map(|a| a.ip())
        .collect();
    let want_v6 = v6.unwrap_or(false);
    addrs
        .iter()
        .find(|a| a.is_ipv6() == want_v6)
        .or_else(|| if v6.is_none() { addrs.first() } else { None })
        .copied()
        .ok_or_else(|| {
            err(if addrs.is_empty() {
                "no address".to_string()
            } else {
                format!("no {} address", family_name(want_v6))
            })
        })
}

/// Whether a host needs resolving.
fn unresolved(h: &HostAddr) -> bool {
    matches!(
        h,
        HostAddr::DefaultRoute
            | HostAddr::DefaultRoute4
            | HostAddr::DefaultRoute6
            | HostAddr::Dns(_)
    )
}

/// Whether a connection names a host by `%defaultroute` or DNS.
pub fn needs_resolving(spec: &ConnSpec) -> bool {
    [&spec.left, &spec.right]
        .iter()
        .any(|e| unresolved(&e.host) || e.nexthop.as_ref().is_some_and(unresolved))
}

/// The family a host asks for: `Some(true)` for IPv6.
fn family_of(h: &HostAddr) -> Option<bool> {
    match h {
        HostAddr::Addr(a) => Some(a.is_ipv6()),
        other => other.is_v6(),
    }
}

fn resolve_host(
    h: &HostAddr,
    other: &HostAddr,
    end: &str,
) -> Result<Option<HostAddr>, ResolveError> {
    // Plain %defaultroute and DNS names follow the other end's family.
    let v6 = family_of(h).or_else(|| family_of(other));
    Ok(Some(match h {
        HostAddr::DefaultRoute | HostAddr::DefaultRoute4 | HostAddr::DefaultRoute6 => {
            HostAddr::Addr(default_route_address(v6.unwrap_or(false), end)?)
        }
        HostAddr::Dns(name) => HostAddr::Addr(resolve_name(name, v6, end)?),
        _ => return Ok(None),
    }))
}

fn resolve_nexthop(
    h: &HostAddr,
    host: &HostAddr,
    end: &str,
) -> Result<Option<HostAddr>, ResolveError> {
    let v6 = family_of(h).or_else(|| family_of(host)).unwrap_or(false);
    match h {
        HostAddr::DefaultRoute | HostAddr::DefaultRoute4 | HostAddr::DefaultRoute6 => {
            let r = default_route(v6, end)?;
            match r.gateway {
                Some(g) => Ok(Some(HostAddr::Addr(g))),
                None => Err(ResolveError::NoGateway {
                    end: end.to_string(),
                    ifname: r.ifname,
                }),
            }
        }
        HostAddr::Dns(name) => Ok(Some(HostAddr::Addr(resolve_name(name, Some(v6), end)?))),
        _ => Ok(None),
    }
}

/// A copy of `spec` with every `%defaultroute` and DNS name of its hosts
/// and next hops replaced by an address.
pub fn resolve_spec(spec: &ConnSpec) -> Result<ConnSpec, ResolveError> {
    let mut out = spec.clone();
    let resolve_end =
        |end: &EndSpec, other: &EndSpec, side: &str| -> Result<EndSpec, ResolveError> {
            let mut e = end.clone();
            if let Some(h) = resolve_host(&end.host, &other.host, side)? {
                e.host = h;
            }
            if let Some(nh) = &end.nexthop {
                if let Some(n) = resolve_nexthop(nh, &e.host, &format!("{side}nexthop"))? {
                    e.nexthop = Some(n);
                }
            }
            Ok(e)
        };
    out.left = resolve_end(&spec.left, &spec.right, "left")?;
    out.right = resolve_end(&spec.right, &spec.left, "right")?;
    Ok(out)
}

/// Whether two specifications have the same hosts and next hops.
pub fn same_hosts(a: &ConnSpec, b: &ConnSpec) -> bool {
    a.left.host == b.left.host
        && a.right.host == b.right.host
        && a.left.nexthop == b.left.nexthop
        && a.right.nexthop == b.right.nexthop
}

/// At `--add`: `spec` with its hosts resolved when it names them by
/// `%defaultroute` or DNS (the same `Arc` otherwise).
pub fn resolved(spec: &Arc<ConnSpec>) -> Result<Arc<ConnSpec>, ResolveError> {
    if needs_resolving(spec) {
        Ok(Arc::new(resolve_spec(spec)?))
    } else {
        Ok(spec.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_default_route_with_the_lowest_metric() {
        let text =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
            eth1\t00000000\t0102000A\t0003\t0\t0\t200\t00000000\t0\t0\t0\n\
            eth0\t00000000\tFE0200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
            wg0\t00000000\t00000000\t0001\t0\t0\t300\t00000000\t0\t0\t0\n";
        let r = parse_ipv4_default(text).expect("a default route");
        assert_eq!(r.ifname, "eth0");
        assert_eq!(r.metric, 100);
        if cfg!(target_endian = "little") {
            assert_eq!(r.gateway, Some("192.0.2.254".parse().unwrap()));
        }
        assert_eq!(parse_ipv4_default("Iface\n"), None);
        // A route without a gateway (dev only).
        let dev =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
            wg0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n";
        let r = parse_ipv4_default(dev).expect("a default route");
        assert_eq!((r.ifname.as_str(), r.gateway), ("wg0", None));
    }

    #[test]
    fn ipv6_default_route_skips_unreachable_on_lo() {
        let text = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n\
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n";
        let r = parse_ipv6_default(text).expect("a default route");
        assert_eq!(r.ifname, "eth0");
        assert_eq!(r.gateway, Some("fe80::1".parse().unwrap()));
        assert_eq!(r.metric, 0x400);
        assert_eq!(parse_ipv6_default(text.lines().next().unwrap()), None);
    }

    #[test]
    fn names_resolve_and_bad_names_say_so() {
        let a = resolve_name("localhost", Some(false), "right").expect("localhost");
        assert_eq!(a, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let e = resolve_name("no-such-host.invalid", None, "right")
            .expect_err("an .invalid name")
            .to_string();
        assert!(
            e.starts_with("right=no-such-host.invalid: cannot resolve the host name: "),
            "{e}"
        );
    }

    #[test]
    fn only_defaultroute_and_names_need_resolving() {
        for (h, yes) in [
            ("192.0.2.1", false),
            ("%any", false),
            ("%defaultroute", true),
            ("%defaultroute6", true),
            ("vpn.example.com", true),
        ] {
            assert_eq!(unresolved(&HostAddr::parse(h).unwrap()), yes, "{h}");
        }
    }
}
