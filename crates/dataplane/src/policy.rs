//! The outbound policy table: longest-prefix match on the destination,
//! then the source subnet. One hash lookup per distinct prefix length,
//! never a scan over all policies.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::kernel::{Policy, PolicyId};
use crate::net::{mask, PacketInfo};

#[derive(Debug)]
struct Bucket {
    prefix: u8,
    ipv4: bool,
    by_remote: HashMap<IpAddr, Vec<Policy>>,
}

/// Policies by remote subnet, searched longest prefix first.
#[derive(Debug, Default)]
pub struct PolicyTable {
    buckets: Vec<Bucket>,
    by_id: HashMap<PolicyId, Policy>,
}

impl PolicyTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a policy; returns the one replaced.
    pub fn insert(&mut self, policy: Policy) -> Option<Policy> {
        let old = self.remove(policy.id);
        let ipv4 = policy.remote.addr().is_ipv4();
        let prefix = policy.remote.prefix();
        let pos = match self
            .buckets
            .iter()
            .position(|b| b.prefix == prefix && b.ipv4 == ipv4)
        {
            Some(p) => p,
            None => {
                self.buckets.push(Bucket {
                    prefix,
                    ipv4,
                    by_remote: HashMap::new(),
                });
                self.buckets.sort_by_key(|b| std::cmp::Reverse(b.prefix));
                self.buckets
                    .iter()
                    .position(|b| b.prefix == prefix && b.ipv4 == ipv4)
                    .unwrap_or(0)
            }
        };
        if let Some(bucket) = self.buckets.get_mut(pos) {
            let list = bucket.by_remote.entry(policy.remote.addr()).or_default();
            list.push(policy);
            // Narrower local subnets first; among equals, those limited to
            // a protocol or ports before those for all traffic.
            list.sort_by_key(|p| (std::cmp::Reverse(p.local.prefix()), p.protoport.is_any()));
        }
        self.by_id.insert(policy.id, policy);
        old
    }

    /// Removes a policy.
    pub fn remove(&mut self, id: PolicyId) -> Option<Policy> {
        let policy = self.by_id.remove(&id)?;
        let ipv4 = policy.remote.addr().is_ipv4();
        for b in &mut self.buckets {
            if b.prefix == policy.remote.prefix() && b.ipv4 == ipv4 {
                if let Some(list) = b.by_remote.get_mut(&policy.remote.addr()) {
                    list.retain(|p| p.id != id);
                    if list.is_empty() {
                        b.by_remote.remove(&policy.remote.addr());
                    }
                }
            }
        }
        self.buckets.retain(|b| !b.by_remote.is_empty());
        Some(policy)
    }

    /// A policy by id.
    pub fn get(&self, id: PolicyId) -> Option<&Policy> {
        self.by_id.get(&id)
    }

    /// All policies (in no order).
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.by_id.values()
    }

    /// The policy for an outbound packet: the longest remote prefix that
    /// holds the destination, then the narrowest local subnet that holds
    /// the source and whose protocol and ports fit.
    pub fn lookup(&self, packet: &PacketInfo) -> Option<&Policy> {
        let (src, dst) = (packet.src, packet.dst);
        let ipv4 = dst.is_ipv4();
        for b in self.buckets.iter().filter(|b| b.ipv4 == ipv4) {
            if let Some(list) = b.by_remote.get(&mask(dst, b.prefix)) {
                if let Some(p) = list
                    .iter()
                    .find(|p| p.local.contains(src) && p.protoport.matches_outbound(packet))
                {
                    return Some(p);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{PolicyAction, SaId};

    fn pol(id: u64, local: &str, remote: &str, action: PolicyAction) -> Policy {
        Policy {
            id: PolicyId(id),
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            action,
            route_source: None,
            route_via: None,
            protoport: crate::selector::ProtoPort::ANY,
        }
    }

    fn packet(src: &str, dst: &str) -> PacketInfo {
        PacketInfo {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: 1,
            src_port: None,
            dst_port: None,
        }
    }

    #[test]
    fn longest_prefix_then_source() {
        let mut t = PolicyTable::new();
        t.insert(pol(
            1,
            "10.1.0.0/16",
            "10.2.0.0/16",
            PolicyAction::Protect(SaId(1)),
        ));
        t.insert(pol(2, "10.1.0.0/16", "10.2.3.0/24", PolicyAction::Drop));
        t.insert(pol(3, "10.9.0.0/16", "10.2.3.0/24", PolicyAction::Pass));
        t.insert(pol(
            4,
            "0.0.0.0/0",
            "0.0.0.0/0",
            PolicyAction::Trap { hold: false },
        ));
        assert_eq!(
            t.lookup(&packet("10.1.0.1", "10.2.0.9")).unwrap().id,
            PolicyId(1)
        );
        assert_eq!(
            t.lookup(&packet("10.1.0.1", "10.2.3.9")).unwrap().id,
            PolicyId(2)
        );
        assert_eq!(
            t.lookup(&packet("10.9.0.1", "10.2.3.9")).unwrap().id,
            PolicyId(3)
        );
        assert_eq!(
            t.lookup(&packet("10.7.0.1", "10.2.3.9")).unwrap().id,
            PolicyId(4)
        );
        assert!(t.lookup(&packet("2001:db8::1", "2001:db8::2")).is_none());
        t.remove(PolicyId(2));
        assert_eq!(
            t.lookup(&packet("10.1.0.1", "10.2.3.9")).unwrap().id,
            PolicyId(1)
        );
        // Replacing keeps one entry.
        t.insert(pol(1, "10.1.0.0/16", "10.2.0.0/16", PolicyAction::Drop));
        assert_eq!(
            t.lookup(&packet("10.1.0.1", "10.2.0.9")).unwrap().action,
            PolicyAction::Drop
        );
        assert_eq!(t.iter().count(), 3);
    }

    #[test]
    fn protocol_and_ports_narrow_a_policy() {
        use crate::selector::{PortRange, ProtoPort};
        let mut t = PolicyTable::new();
        // TCP to port 5001 through the tunnel, a pass shunt for one source
        // subnet; everything else is covered by nothing.
        let mut tcp = pol(
            1,
            "10.1.0.0/16",
            "10.2.0.0/16",
            PolicyAction::Protect(SaId(1)),
        );
        tcp.protoport = ProtoPort {
            protocol: 6,
            local_ports: PortRange::ANY,
            remote_ports: PortRange::single(5001),
        };
        t.insert(tcp);
        t.insert(pol(2, "10.1.3.0/24", "10.2.0.0/16", PolicyAction::Pass));
        let tcp_to = |src: &str, port: u16| PacketInfo {
            protocol: 6,
            src_port: Some(40000),
            dst_port: Some(port),
            ..packet(src, "10.2.0.1")
        };
        assert_eq!(t.lookup(&tcp_to("10.1.0.1", 5001)).unwrap().id, PolicyId(1));
        assert!(t.lookup(&tcp_to("10.1.0.1", 5002)).is_none());
        assert!(t.lookup(&packet("10.1.0.1", "10.2.0.1")).is_none());
        assert_eq!(t.lookup(&tcp_to("10.1.3.1", 5001)).unwrap().id, PolicyId(2));
        // Same subnets, one policy for TCP and one for everything: the
        // narrower one wins for TCP.
        t.insert(pol(3, "10.1.0.0/16", "10.2.0.0/16", PolicyAction::Drop));
        assert_eq!(t.lookup(&tcp_to("10.1.0.1", 5001)).unwrap().id, PolicyId(1));
        assert_eq!(t.lookup(&tcp_to("10.1.0.1", 22)).unwrap().id, PolicyId(3));
    }
}
