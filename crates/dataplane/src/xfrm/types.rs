//! The vocabulary shared by SAs and policies: subnets, traffic selectors,
//! modes, marks and lifetimes, with their kernel encodings.

use std::fmt;
use std::net::IpAddr;

use super::error::{Result, XfrmError};
use super::wire::*;

/// An IP subnet (address + prefix length), e.g. `198.51.100.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length (0..=32 for IPv4, 0..=128 for IPv6).
    pub prefix_len: u8,
}

impl Subnet {
    /// A subnet; fails when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Subnet> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(XfrmError::Invalid {
                what: "subnet",
                detail: format!("prefix /{prefix_len} is longer than {max} bits for {addr}"),
            });
        }
        Ok(Subnet { addr, prefix_len })
    }

    /// A single host (/32 or /128).
    pub fn host(addr: IpAddr) -> Subnet {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        Subnet { addr, prefix_len }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl std::str::FromStr for Subnet {
    type Err = XfrmError;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = |detail: String| XfrmError::Invalid {
            what: "subnet",
            detail,
        };
        match s.split_once('/') {
            Some((a, p)) => {
                let addr: IpAddr = a
                    .parse()
                    .map_err(|_| bad(format!("{a:?} is not an IP address")))?;
                let prefix_len: u8 = p
                    .parse()
                    .map_err(|_| bad(format!("{p:?} is not a prefix length")))?;
                Subnet::new(addr, prefix_len)
            }
            None => {
                let addr: IpAddr = s
                    .parse()
                    .map_err(|_| bad(format!("{s:?} is not an IP address")))?;
                Ok(Subnet::host(addr))
            }
        }
    }
}

/// An XFRM traffic selector: which packets an SA or policy covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Source subnet.
    pub src: Subnet,
    /// Destination subnet.
    pub dst: Subnet,
    /// IP protocol number (0 = any).
    pub proto: u8,
    /// Source port (ICMP: type); `None` = any.
    pub src_port: Option<u16>,
    /// Destination port (ICMP: code); `None` = any.
    pub dst_port: Option<u16>,
}

impl Selector {
    /// A selector for all traffic between two subnets.
    pub fn new(src: Subnet, dst: Subnet) -> Selector {
        Selector {
            src,
            dst,
            proto: 0,
            src_port: None,
            dst_port: None,
        }
    }

    /// The address family, checking that both ends agree.
    pub(crate) fn family(&self) -> Result<u16> {
        let f = family_of(&self.src.addr);
        if f != family_of(&self.dst.addr) {
            return Err(XfrmError::Invalid {
                what: "selector",
                detail: format!("mixes address families: {} and {}", self.src, self.dst),
            });
        }
        Ok(f)
    }

    /// Encodes `struct xfrm_selector`.
    pub(crate) fn encode(&self) -> Result<[u8; SELECTOR_LEN]> {
        let family = self.family()?;
        let mut b = [0u8; SELECTOR_LEN];
        put_addr(&mut b, 0, Some(self.dst.addr));
        put_addr(&mut b, 16, Some(self.src.addr));
        if let Some(p) = self.dst_port {
            put_bytes(&mut b, 32, &p.to_be_bytes());
            put_bytes(&mut b, 34, &[0xff, 0xff]);
        }
        if let Some(p) = self.src_port {
            put_bytes(&mut b, 36, &p.to_be_bytes());
            put_bytes(&mut b, 38, &[0xff, 0xff]);
        }
        put_u16(&mut b, 40, family);
        put_u8(&mut b, 42, self.dst.prefix_len);
        put_u8(&mut b, 43, self.src.prefix_len);
        put_u8(&mut b, 44, self.proto);
        Ok(b)
    }

    /// Decodes `struct xfrm_selector` at `off`.
    pub(crate) fn decode(buf: &[u8], off: usize) -> Option<Selector> {
        let family = get_u16(buf, off + 40)?;
        let dst = get_addr(buf, off, family)?;
        let src = get_addr(buf, off + 16, family)?;
        let dport_mask = get_be16(buf, off + 34)?;
        let sport_mask = get_be16(buf, off + 38)?;
        Some(Selector {
            src: Subnet {
                addr: src,
                prefix_len: get_u8(buf, off + 43)?,
            },
            dst: Subnet {
                addr: dst,
                prefix_len: get_u8(buf, off + 42)?,
            },
            proto: get_u8(buf, off + 44)?,
            src_port: if sport_mask != 0 {
                get_be16(buf, off + 36)
            } else {
                None
            },
            dst_port: if dport_mask != 0 {
                get_be16(buf, off + 32)
            } else {
                None
            },
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.src, self.dst)?;
        if self.proto != 0 {
            write!(f, " proto {}", self.proto)?;
        }
        if let Some(p) = self.src_port {
            write!(f, " sport {p}")?;
        }
        if let Some(p) = self.dst_port {
            write!(f, " dport {p}")?;
        }
        Ok(())
    }
}

/// The IPsec protocol of an SA or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpsecProto {
    /// Encapsulating Security Payload (IP protocol 50).
    Esp,
    /// Authentication Header (IP protocol 51).
    Ah,
}

impl IpsecProto {
    pub(crate) fn number(self) -> u8 {
        match self {
            IpsecProto::Esp => libc::IPPROTO_ESP as u8,
            IpsecProto::Ah => libc::IPPROTO_AH as u8,
        }
    }
    pub(crate) fn from_number(n: u8) -> Option<IpsecProto> {
        match i32::from(n) {
            libc::IPPROTO_ESP => Some(IpsecProto::Esp),
            libc::IPPROTO_AH => Some(IpsecProto::Ah),
            _ => None,
        }
    }
}

impl fmt::Display for IpsecProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpsecProto::Esp => "esp",
            IpsecProto::Ah => "ah",
        })
    }
}

/// Tunnel or transport mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Transport mode (`XFRM_MODE_TRANSPORT`).
    Transport,
    /// Tunnel mode (`XFRM_MODE_TUNNEL`).
    Tunnel,
}

impl Mode {
    pub(crate) fn number(self) -> u8 {
        match self {
            Mode::Transport => 0,
            Mode::Tunnel => 1,
        }
    }
    pub(crate) fn from_number(n: u8) -> Option<Mode> {
        match n {
            0 => Some(Mode::Transport),
            1 => Some(Mode::Tunnel),
            _ => None,
        }
    }
}

/// An XFRM mark (`value` under `mask`), as set by `mark=` in ipsec.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    /// The mark value.
    pub value: u32,
    /// The mask applied before comparing.
    pub mask: u32,
}

impl Mark {
    pub(crate) fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        put_u32(&mut b, 0, self.value);
        put_u32(&mut b, 4, self.mask);
        b
    }
    pub(crate) fn decode(b: &[u8]) -> Option<Mark> {
        Some(Mark {
            value: get_u32(b, 0)?,
            mask: get_u32(b, 4)?,
        })
    }
}

/// Soft and hard limits of an SA (`struct xfrm_lifetime_cfg`); `None` is no limit.
///
/// Reaching a soft limit sends an EXPIRE (soft) event, the signal to rekey;
/// a hard limit deletes the SA and sends an EXPIRE (hard) event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// Soft limit on bytes.
    pub soft_bytes: Option<u64>,
    /// Hard limit on bytes.
    pub hard_bytes: Option<u64>,
    /// Soft limit on packets.
    pub soft_packets: Option<u64>,
    /// Hard limit on packets.
    pub hard_packets: Option<u64>,
    /// Soft limit in seconds since the SA was added.
    pub soft_add_seconds: Option<u64>,
    /// Hard limit in seconds since the SA was added.
    pub hard_add_seconds: Option<u64>,
    /// Soft limit in seconds since the SA was first used.
    pub soft_use_seconds: Option<u64>,
    /// Hard limit in seconds since the SA was first used.
    pub hard_use_seconds: Option<u64>,
}

impl Lifetimes {
    /// Encodes `struct xfrm_lifetime_cfg` (volume limits default to
    /// `XFRM_INF`, time limits to 0 = none, as iproute2 does).
    pub(crate) fn encode(&self) -> [u8; LIFETIME_CFG_LEN] {
        let mut b = [0u8; LIFETIME_CFG_LEN];
        let vol = |v: Option<u64>| v.unwrap_or(XFRM_INF);
        let time = |v: Option<u64>| v.unwrap_or(0);
        put_u64(&mut b, 0, vol(self.soft_bytes));
        put_u64(&mut b, 8, vol(self.hard_bytes));
        put_u64(&mut b, 16, vol(self.soft_packets));
        put_u64(&mut b, 24, vol(self.hard_packets));
        put_u64(&mut b, 32, time(self.soft_add_seconds));
        put_u64(&mut b, 40, time(self.hard_add_seconds));
        put_u64(&mut b, 48, time(self.soft_use_seconds));
        put_u64(&mut b, 56, time(self.hard_use_seconds));
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_round_trips_through_kernel_layout() {
        let mut sel = Selector::new(
            "198.51.100.0/24".parse().expect("subnet"),
            "203.0.113.7".parse().expect("subnet"),
        );
        sel.proto = 17;
        sel.dst_port = Some(4500);
        let b = sel.encode().expect("encodes");
        // dport in network order at offset 32, family at 40.
        assert_eq!(&b[32..36], &[0x11, 0x94, 0xff, 0xff]);
        assert_eq!(get_u16(&b, 40), Some(AF_INET));
        assert_eq!(Selector::decode(&b, 0), Some(sel));
    }

    #[test]
    fn mixed_families_and_long_prefixes_are_rejected() {
        let sel = Selector::new(
            "192.0.2.0/24".parse().expect("subnet"),
            "2001:db8::/32".parse().expect("subnet"),
        );
        assert!(sel.encode().is_err());
        assert!("192.0.2.0/33".parse::<Subnet>().is_err());
        assert!("2001:db8::/129".parse::<Subnet>().is_err());
        assert!("nonsense/8".parse::<Subnet>().is_err());
    }
}
