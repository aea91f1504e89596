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
    /// The bits of `src_port` compared (`0xffff`: that port only; a
    /// [`port_blocks`] mask: an aligned block of ports). Ignored without
    /// `src_port`.
    pub src_port_mask: u16,
    /// Destination port (ICMP: code); `None` = any.
    pub dst_port: Option<u16>,
    /// The bits of `dst_port` compared, as `src_port_mask`.
    pub dst_port_mask: u16,
}

impl Selector {
    /// A selector for all traffic between two subnets.
    pub fn new(src: Subnet, dst: Subnet) -> Selector {
        Selector {
            src,
            dst,
            proto: 0,
            src_port: None,
            src_port_mask: 0xffff,
            dst_port: None,
            dst_port_mask: 0xffff,
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
            put_bytes(&mut b, 32, &(p & self.dst_port_mask).to_be_bytes());
            put_bytes(&mut b, 34, &self.dst_port_mask.to_be_bytes());
        }
        if let Some(p) = self.src_port {
            put_bytes(&mut b, 36, &(p & self.src_port_mask).to_be_bytes());
            put_bytes(&mut b, 38, &self.src_port_mask.to_be_bytes());
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
            src_port_mask: if sport_mask != 0 { sport_mask } else { 0xffff },
            dst_port: if dport_mask != 0 {
                get_be16(buf, off + 32)
            } else {
                None
            },
            dst_port_mask: if dport_mask != 0 { dport_mask } else { 0xffff },
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.src, self.dst)?;
        if self.proto != 0 {
            write!(f, " proto {}", self.proto)?;
        }
        for (what, port, mask) in [
            ("sport", self.src_port, self.src_port_mask),
            ("dport", self.dst_port, self.dst_port_mask),
        ] {
            match port {
                Some(p) if mask == 0xffff => write!(f, " {what} {p}")?,
                Some(p) => write!(f, " {what} {}/0x{mask:04x}", p & mask)?,
                None => {}
            }
        }
        Ok(())
    }
}

/// The aligned blocks of ports that make up the range `start..=end`, each
/// as (first port, mask), fewest possible, in ascending order: what one
/// XFRM selector per block needs to cover the range (a selector matches a
/// port under a mask, not a range). `0..=65535` is one block of mask 0
/// (any port); a single port is one block of mask `0xffff`; an empty range
/// (`start > end`) has no blocks. A range has at most 30 blocks.
pub fn port_blocks(start: u16, end: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let (mut lo, hi) = (u32::from(start), u32::from(end));
    while lo <= hi {
        // The largest power-of-two block aligned at `lo` that fits.
        let mut size: u32 = if lo == 0 {
            1 << 16
        } else {
            1 << lo.trailing_zeros()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        let mask = !(size - 1) & 0xffff;
        out.push((lo as u16, mask as u16));
        lo += size;
    }
    out
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
    fn port_ranges_split_into_aligned_blocks() {
        assert_eq!(port_blocks(0, 65535), vec![(0, 0)]);
        assert_eq!(port_blocks(443, 443), vec![(443, 0xffff)]);
        assert_eq!(port_blocks(5, 4), vec![]);
        assert_eq!(
            port_blocks(1024, 65535),
            vec![
                (1024, 0xfc00),
                (2048, 0xf800),
                (4096, 0xf000),
                (8192, 0xe000),
                (16384, 0xc000),
                (32768, 0x8000)
            ]
        );
        assert_eq!(
            port_blocks(5000, 5010),
            vec![(5000, 0xfff8), (5008, 0xfffe), (5010, 0xffff)]
        );
        assert_eq!(port_blocks(65535, 65535), vec![(65535, 0xffff)]);
        // The worst case: 1..=65534.
        assert_eq!(port_blocks(1, 65534).len(), 30);
    }

    #[test]
    fn a_masked_port_reaches_the_kernel_layout() {
        let mut sel = Selector::new(
            "198.51.100.0/24".parse().expect("subnet"),
            "203.0.113.7".parse().expect("subnet"),
        );
        sel.proto = 6;
        sel.src_port = Some(1024);
        sel.src_port_mask = 0xfc00;
        let b = sel.encode().expect("encodes");
        assert_eq!(&b[36..40], &[0x04, 0x00, 0xfc, 0x00]);
        assert_eq!(&b[32..36], &[0, 0, 0, 0], "any destination port");
        assert_eq!(Selector::decode(&b, 0), Some(sel));
        assert_eq!(
            sel.to_string(),
            "198.51.100.0/24 -> 203.0.113.7/32 proto 6 sport 1024/0xfc00"
        );
    }

    proptest::proptest! {
        /// The blocks cover exactly the range, without overlap, in order,
        /// and no two neighbours could merge into one block.
        #[test]
        fn port_blocks_cover_the_range_exactly(a in 0u16..=65535, b in 0u16..=65535) {
            let (start, end) = (a.min(b), a.max(b));
            let blocks = port_blocks(start, end);
            proptest::prop_assert!(!blocks.is_empty() && blocks.len() <= 30);
            let mut next = u32::from(start);
            for (port, mask) in &blocks {
                let size = u32::from(!*mask) + 1;
                // Aligned: the block's first port has no bits outside the mask.
                proptest::prop_assert_eq!(port & !mask, 0);
                proptest::prop_assert_eq!(u32::from(*port), next);
                next += size;
                // Every port of the block matches it, the ones around do not.
                proptest::prop_assert_eq!(
                    (u32::from(*port) + size - 1) as u16 & mask, *port
                );
            }
            proptest::prop_assert_eq!(next, u32::from(end) + 1);
            // Minimal: each port matches exactly one block.
            for p in [start, end, start.wrapping_add((end - start) / 2)] {
                let hits = blocks.iter().filter(|(port, mask)| p & mask == *port).count();
                proptest::prop_assert_eq!(hits, 1);
            }
            for w in blocks.windows(2) {
                if let [(p1, m1), (p2, m2)] = w {
                    // Two equal neighbours that start aligned to twice their size
                    // would have been one block.
                    let size = u32::from(!*m1) + 1;
                    let mergeable = m1 == m2 && u32::from(*p1) % (2 * size) == 0;
                    proptest::prop_assert!(!mergeable, "{:?} and {:?} merge", (p1, m1), (p2, m2));
                }
            }
        }
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
