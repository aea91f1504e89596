//! Subnets and the few fields of IP packets the data plane reads.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::DataplaneError;

/// An IPv4 or IPv6 subnet (`10.1.0.0/16`, `2001:db8::/64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// A subnet; host bits of `addr` are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, DataplaneError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(DataplaneError::InvalidSubnet(format!(
                "{addr}/{prefix}: prefix longer than {max}"
            )));
        }
        Ok(IpNet {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// A single host.
    pub fn host(addr: IpAddr) -> Self {
        IpNet {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

/// Clears the host bits of `addr` beyond `prefix`.
pub fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = DataplaneError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DataplaneError::InvalidSubnet(format!("{s}: expected ADDRESS/PREFIX"));
        match s.split_once('/') {
            Some((a, p)) => {
                let addr: IpAddr = a.parse().map_err(|_| bad())?;
                let prefix: u8 = p.parse().map_err(|_| bad())?;
                IpNet::new(addr, prefix)
            }
            None => Ok(IpNet::host(s.parse().map_err(|_| bad())?)),
        }
    }
}

/// Source, destination, protocol and ports of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol (IPv4 protocol / IPv6 first next header).
    pub protocol: u8,
    /// Source port (TCP, UDP, SCTP, UDP-Lite; not in later fragments).
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
}

/// The ports at the start of a transport header of `protocol`.
fn ports(protocol: u8, l4: Option<&[u8]>) -> (Option<u16>, Option<u16>) {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    const SCTP: u8 = 132;
    const UDPLITE: u8 = 136;
    match (protocol, l4.and_then(|h| h.get(..4))) {
        (TCP | UDP | SCTP | UDPLITE, Some(h)) => (
            Some(u16::from_be_bytes([h[0], h[1]])),
            Some(u16::from_be_bytes([h[2], h[3]])),
        ),
        _ => (None, None),
    }
}

/// Reads the addresses of an IPv4 or IPv6 packet; `None` if it is too short or neither.
pub fn packet_info(p: &[u8]) -> Option<PacketInfo> {
    match p.first()? >> 4 {
        4 => {
            let h = p.get(..20)?;
            let ihl = usize::from(h[0] & 0x0f) * 4;
            // Only the first fragment carries the ports.
            let first = u16::from_be_bytes([h[6], h[7]]) & 0x1fff == 0;
            let (src_port, dst_port) = ports(h[9], p.get(ihl..).filter(|_| first && ihl >= 20));
            Some(PacketInfo {
                src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
                dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
                protocol: h[9],
                src_port,
                dst_port,
            })
        }
        6 => {
            let h = p.get(..40)?;
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&h[8..24]);
            d.copy_from_slice(&h[24..40]);
            let (src_port, dst_port) = ports(h[6], p.get(40..));
            Some(PacketInfo {
                src: IpAddr::V6(Ipv6Addr::from(s)),
                dst: IpAddr::V6(Ipv6Addr::from(d)),
                protocol: h[6],
                src_port,
                dst_port,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_contain() {
        let n: IpNet = "10.1.2.3/16".parse().unwrap();
        assert_eq!(n.to_string(), "10.1.0.0/16");
        assert!(n.contains("10.1.255.1".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(!n.contains("2001:db8::1".parse().unwrap()));
        let v6: IpNet = "2001:db8:1::/48".parse().unwrap();
        assert!(v6.contains("2001:db8:1:ffff::9".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn reads_ipv4_and_ipv6_headers() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[9] = 6;
        v4[12..16].copy_from_slice(&[10, 1, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 2, 0, 1]);
        let i = packet_info(&v4).unwrap();
        assert_eq!(i.src, "10.1.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(i.dst, "10.2.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(i.protocol, 6);
        assert_eq!((i.src_port, i.dst_port), (None, None), "no TCP header");
        assert!(packet_info(&v4[..19]).is_none());
        let mut tcp = v4.to_vec();
        tcp.extend_from_slice(&[0x9c, 0x40, 0x13, 0x89]);
        let i = packet_info(&tcp).unwrap();
        assert_eq!((i.src_port, i.dst_port), (Some(40000), Some(5001)));
        // A later fragment has no ports.
        tcp[7] = 8;
        let i = packet_info(&tcp).unwrap();
        assert_eq!((i.src_port, i.dst_port), (None, None));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[6] = 17;
        v6[23] = 1;
        v6[39] = 2;
        let i = packet_info(&v6).unwrap();
        assert_eq!(i.src, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(i.dst, "::2".parse::<IpAddr>().unwrap());
        assert!(packet_info(&[0x20]).is_none());
    }
}
