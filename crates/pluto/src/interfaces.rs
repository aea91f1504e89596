//! The host's interface addresses: what `--ready` (`whack --listen`) records
//! as the addresses IKE listens on, and what orients connections.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One interface address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct InterfaceAddr {
    /// Interface name (`lo`, `eth0`).
    pub name: String,
    /// The address.
    pub addr: IpAddr,
}

/// Why the interfaces could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list the interface addresses: {0}")]
pub struct ScanError(#[from] std::io::Error);

/// Lists the addresses of the interfaces that are up, IPv4 and IPv6
/// (link-local IPv6 addresses are left out, as pluto does).
pub fn scan() -> Result<Vec<InterfaceAddr>, ScanError> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocates into `ifap`;
    // on success we walk it read-only and free it exactly once below.
    let rc = unsafe { libc::getifaddrs(&mut ifap) };
    if rc != 0 {
        return Err(ScanError(std::io::Error::last_os_error()));
    }
    let mut cur = ifap;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list getifaddrs returned,
        // which stays valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() || !up {
            continue;
        }
        // SAFETY: ifa_name is a non-null NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points to a sockaddr whose family
        // field is always readable.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let addr = if family == libc::AF_INET {
            // SAFETY: the family is AF_INET, so the sockaddr is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        } else if family == libc::AF_INET6 {
            // SAFETY: the family is AF_INET6, so the sockaddr is a sockaddr_in6.
            let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            let a = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            if is_link_local(&a) {
                continue;
            }
            IpAddr::V6(a)
        } else {
            continue;
        };
        out.push(InterfaceAddr { name, addr });
    }
    // SAFETY: `ifap` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifap) };
    out.sort();
    out.dedup();
    Ok(out)
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80)
}

/// Parses `/proc/net/if_inet6` text (used to cross-check [`scan`] in tests
/// and available where getifaddrs is not).
pub fn parse_if_inet6(text: &str) -> Vec<InterfaceAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(hex), Some(name)) = (fields.first(), fields.get(5)) else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let Ok(bits) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        let a = Ipv6Addr::from(bits);
        if is_link_local(&a) {
            continue;
        }
        out.push(InterfaceAddr {
            name: (*name).to_string(),
            addr: IpAddr::V6(a),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_loopback() {
        let addrs = scan().unwrap();
        assert!(
            addrs
                .iter()
                .any(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{addrs:?}"
        );
    }

    #[test]
    fn if_inet6_parsing() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
                    fe800000000000000000000000000001 02 40 20 80     eth0\n\
                    20010db8000000000000000000000001 02 40 00 80     eth0\n\
                    garbage\n";
        let v = parse_if_inet6(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(v[1].name, "eth0");
        if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
            let scanned = scan().unwrap();
            for a in parse_if_inet6(&text).into_iter().filter(|a| a.name == "lo") {
                assert!(scanned.contains(&a), "{a:?} missing from getifaddrs");
            }
        }
    }
}
