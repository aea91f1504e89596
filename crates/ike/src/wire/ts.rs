//! Traffic Selector payloads TSi/TSr (RFC 7296 3.13).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::reader::Reader;
use super::{put_u16, WireError, WireResult};

/// TS type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsType {
    /// TS_IPV4_ADDR_RANGE (7).
    Ipv4Range,
    /// TS_IPV6_ADDR_RANGE (8).
    Ipv6Range,
}

/// One traffic selector: an address range, a port range and an IP protocol
/// (0 = any).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol ID, 0 for any.
    pub ip_protocol: u8,
    /// First port (inclusive).
    pub start_port: u16,
    /// Last port (inclusive).
    pub end_port: u16,
    /// First address (inclusive).
    pub start_addr: IpAddr,
    /// Last address (inclusive); same family as `start_addr`.
    pub end_addr: IpAddr,
}

impl TrafficSelector {
    /// The selector's type, from the address family.
    pub fn ts_type(&self) -> TsType {
        match self.start_addr {
            IpAddr::V4(_) => TsType::Ipv4Range,
            IpAddr::V6(_) => TsType::Ipv6Range,
        }
    }

    /// A selector covering a whole prefix, all protocols and ports.
    pub fn from_prefix(addr: IpAddr, prefix_len: u8) -> Self {
        let (start, end) = match addr {
            IpAddr::V4(a) => {
                let v = u32::from(a);
                let mask = if prefix_len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(prefix_len.min(32)))
                };
                (
                    IpAddr::V4(Ipv4Addr::from(v & mask)),
                    IpAddr::V4(Ipv4Addr::from(v | !mask)),
                )
            }
            IpAddr::V6(a) => {
                let v = u128::from(a);
                let mask = if prefix_len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(prefix_len.min(128)))
                };
                (
                    IpAddr::V6(Ipv6Addr::from(v & mask)),
                    IpAddr::V6(Ipv6Addr::from(v | !mask)),
                )
            }
        };
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: start,
            end_addr: end,
        }
    }

    /// A selector for a single host address.
    pub fn host(addr: IpAddr) -> Self {
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        Self::from_prefix(addr, bits)
    }

    fn decode(r: &mut Reader<'_>) -> WireResult<Self> {
        let ts_type = r.u8()?;
        let ip_protocol = r.u8()?;
        let len = r.u16()? as usize;
        let start_port = r.u16()?;
        let end_port = r.u16()?;
        let (start_addr, end_addr) = match (ts_type, len) {
            (7, 16) => (
                IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
                IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
            ),
            (8, 40) => (
                IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
                IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
            ),
            (7 | 8, l) => return Err(WireError::BadLength("Traffic Selector", l)),
            (t, _) => return Err(WireError::BadValue("TS type", t.into())),
        };
        Ok(TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            start_addr,
            end_addr,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) -> WireResult<()> {
        match (self.start_addr, self.end_addr) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                out.push(7);
                out.push(self.ip_protocol);
                put_u16(out, 16);
                put_u16(out, self.start_port);
                put_u16(out, self.end_port);
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&e.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => {
                out.push(8);
                out.push(self.ip_protocol);
                put_u16(out, 40);
                put_u16(out, self.start_port);
                put_u16(out, self.end_port);
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&e.octets());
            }
            _ => return Err(WireError::BadValue("TS address families differ", 0)),
        }
        Ok(())
    }
}

/// A TSi or TSr payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsPayload {
    /// The selectors.
    pub selectors: Vec<TrafficSelector>,
}

impl TsPayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "TS payload");
        let n = r.u8()?;
        let _reserved = r.take(3)?;
        let mut selectors = Vec::with_capacity((n as usize).min(r.remaining() / 16));
        for _ in 0..n {
            selectors.push(TrafficSelector::decode(&mut r)?);
        }
        if !r.is_empty() {
            return Err(WireError::BadLength("TS payload", body.len()));
        }
        Ok(TsPayload { selectors })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> WireResult<()> {
        let n = u8::try_from(self.selectors.len())
            .map_err(|_| WireError::TooLong("TS payload", self.selectors.len()))?;
        out.push(n);
        out.extend_from_slice(&[0, 0, 0]);
        for ts in &self.selectors {
            ts.encode(out)?;
        }
        Ok(())
    }
}
