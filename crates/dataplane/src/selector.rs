//! Traffic selectors as the data plane uses them (RFC 7296 3.13.1, RFC
//! 4301 4.4.1): a subnet, an IP protocol and a port range, and the
//! protocol/port part of a policy (Libreswan's `leftprotoport=`).

use std::fmt;
use std::net::IpAddr;

use crate::net::{IpNet, PacketInfo};

/// An inclusive port range; [`PortRange::ANY`] is every port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

impl PortRange {
    /// Every port.
    pub const ANY: PortRange = PortRange {
        start: 0,
        end: u16::MAX,
    };

    /// One port.
    pub fn single(port: u16) -> Self {
        PortRange {
            start: port,
            end: port,
        }
    }

    /// Whether this is every port.
    pub fn is_any(&self) -> bool {
        *self == Self::ANY
    }

    /// Whether a packet's port falls in the range: a packet without ports
    /// (another protocol, a later fragment) only matches [`PortRange::ANY`].
    pub fn matches(&self, port: Option<u16>) -> bool {
        match port {
            _ if self.is_any() => true,
            Some(p) => self.start <= p && p <= self.end,
            None => false,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("any")
        } else if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// One end of a traffic selector: addresses, protocol (0 = any) and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// The subnet.
    pub net: IpNet,
    /// IP protocol; 0 is any.
    pub protocol: u8,
    /// Ports (of TCP, UDP, SCTP, UDP-Lite).
    pub ports: PortRange,
}

impl From<IpNet> for Selector {
    fn from(net: IpNet) -> Self {
        Selector {
            net,
            protocol: 0,
            ports: PortRange::ANY,
        }
    }
}

impl Selector {
    /// Whether an address, protocol and port fall inside the selector.
    pub fn matches(&self, addr: IpAddr, protocol: u8, port: Option<u16>) -> bool {
        self.net.contains(addr)
            && (self.protocol == 0 || self.protocol == protocol)
            && self.ports.matches(port)
    }
}

/// The protocol and ports a policy is limited to; [`ProtoPort::ANY`] for
/// all traffic between its subnets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtoPort {
    /// IP protocol; 0 is any.
    pub protocol: u8,
    /// Ports on our side (source ports of outbound packets).
    pub local_ports: PortRange,
    /// Ports on the peer's side (destination ports of outbound packets).
    pub remote_ports: PortRange,
}

impl Default for ProtoPort {
    fn default() -> Self {
        Self::ANY
    }
}

impl ProtoPort {
    /// All traffic.
    pub const ANY: ProtoPort = ProtoPort {
        protocol: 0,
        local_ports: PortRange::ANY,
        remote_ports: PortRange::ANY,
    };

    /// The protocol and ports of a pair of selectors (ours, the peer's).
    pub fn of(local: &Selector, remote: &Selector) -> Self {
        ProtoPort {
            protocol: if local.protocol != 0 {
                local.protocol
            } else {
                remote.protocol
            },
            local_ports: local.ports,
            remote_ports: remote.ports,
        }
    }

    /// Whether this is all traffic.
    pub fn is_any(&self) -> bool {
        *self == Self::ANY
    }

    /// Whether an outbound packet matches.
    pub fn matches_outbound(&self, p: &PacketInfo) -> bool {
        (self.protocol == 0 || self.protocol == p.protocol)
            && self.local_ports.matches(p.src_port)
            && self.remote_ports.matches(p.dst_port)
    }
}

/// Whether an inbound inner packet is covered by an SA's selectors: its
/// source in one of the peer's, its destination in one of ours (every pair
/// of the negotiated sets, RFC 7296 2.9).
pub fn inbound_allowed(local: &[Selector], remote: &[Selector], p: &PacketInfo) -> bool {
    remote
        .iter()
        .any(|r| r.matches(p.src, p.protocol, p.src_port))
        && local
            .iter()
            .any(|l| l.matches(p.dst, p.protocol, p.dst_port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(src: &str, dst: &str, protocol: u8, ports: Option<(u16, u16)>) -> PacketInfo {
        PacketInfo {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol,
            src_port: ports.map(|p| p.0),
            dst_port: ports.map(|p| p.1),
        }
    }

    fn sel(net: &str, protocol: u8, ports: PortRange) -> Selector {
        Selector {
            net: net.parse().unwrap(),
            protocol,
            ports,
        }
    }

    #[test]
    fn ports_and_protocols() {
        assert!(PortRange::ANY.matches(None));
        assert!(PortRange::single(5001).matches(Some(5001)));
        assert!(!PortRange::single(5001).matches(Some(5002)));
        assert!(!PortRange::single(5001).matches(None));
        let tcp5001 = ProtoPort {
            protocol: 6,
            local_ports: PortRange::ANY,
            remote_ports: PortRange::single(5001),
        };
        assert!(tcp5001.matches_outbound(&info("10.1.0.1", "10.2.0.1", 6, Some((40000, 5001)))));
        assert!(!tcp5001.matches_outbound(&info("10.1.0.1", "10.2.0.1", 6, Some((40000, 5002)))));
        assert!(!tcp5001.matches_outbound(&info("10.1.0.1", "10.2.0.1", 17, Some((40000, 5001)))));
        assert!(!tcp5001.matches_outbound(&info("10.1.0.1", "10.2.0.1", 1, None)));
        assert!(ProtoPort::ANY.matches_outbound(&info("10.1.0.1", "10.2.0.1", 1, None)));
        // A range (as a peer may narrow to): both ends inclusive.
        let high = ProtoPort {
            protocol: 17,
            local_ports: PortRange::ANY,
            remote_ports: PortRange {
                start: 1024,
                end: 65535,
            },
        };
        for (port, inside) in [(1023, false), (1024, true), (40000, true), (65535, true)] {
            let p = info("10.1.0.1", "10.2.0.1", 17, Some((5000, port)));
            assert_eq!(high.matches_outbound(&p), inside, "port {port}");
        }
    }

    #[test]
    fn every_negotiated_pair_is_allowed_inbound() {
        // Two subnets on each side: any source of theirs to any of ours.
        let local = [
            sel("10.2.0.0/16", 0, PortRange::ANY),
            sel("10.4.0.0/16", 0, PortRange::ANY),
        ];
        let remote = [
            sel("10.1.0.0/16", 0, PortRange::ANY),
            sel("10.3.0.0/16", 0, PortRange::ANY),
        ];
        for (s, d) in [
            ("10.1.0.1", "10.2.0.1"),
            ("10.3.0.1", "10.2.0.1"),
            ("10.1.0.1", "10.4.0.1"),
            ("10.3.0.1", "10.4.0.1"),
        ] {
            assert!(
                inbound_allowed(&local, &remote, &info(s, d, 1, None)),
                "{s} -> {d}"
            );
        }
        assert!(!inbound_allowed(
            &local,
            &remote,
            &info("10.5.0.1", "10.2.0.1", 1, None)
        ));
        assert!(!inbound_allowed(
            &local,
            &remote,
            &info("10.1.0.1", "10.5.0.1", 1, None)
        ));
        // ICMP only, or TCP to port 5001 only.
        let icmp = [sel("10.2.0.0/16", 1, PortRange::ANY)];
        let peer = [sel("10.1.0.0/16", 1, PortRange::ANY)];
        assert!(inbound_allowed(
            &icmp,
            &peer,
            &info("10.1.0.1", "10.2.0.1", 1, None)
        ));
        assert!(!inbound_allowed(
            &icmp,
            &peer,
            &info("10.1.0.1", "10.2.0.1", 6, Some((1, 2)))
        ));
        let ours = [sel("10.2.0.0/16", 6, PortRange::single(5001))];
        let theirs = [sel("10.1.0.0/16", 6, PortRange::ANY)];
        assert!(inbound_allowed(
            &ours,
            &theirs,
            &info("10.1.0.1", "10.2.0.1", 6, Some((40000, 5001)))
        ));
        assert!(!inbound_allowed(
            &ours,
            &theirs,
            &info("10.1.0.1", "10.2.0.1", 6, Some((40000, 22)))
        ));
    }
}
