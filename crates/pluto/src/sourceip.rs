//! `leftsourceip=` as Libreswan's default `ipsec _updown` handles it (when
//! `leftupdown=` is unset): on `route`/`up` the address is added to this
//! host (`lo`, as a host address) unless it already is one of its
//! addresses, and the data plane's routes to the peer's subnets carry it
//! as their source (`Policy::route_source`), so traffic from the gateway
//! itself leaves from inside the tunnel's subnet and through the tunnel;
//! on `unroute` an address ferroswan added is removed again once no
//! connection uses it, and when the daemon stops.

use crate::daemon::Pluto;
use dataplane::Selector;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// The device source addresses are added to.
const DEVICE: &str = "lo";

/// The source addresses ferroswan added, and the connections using each.
#[derive(Debug, Default)]
pub struct SourceIps {
    added: HashMap<IpAddr, HashSet<String>>,
}

fn host_prefix(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(_) => format!("{addr}/32"),
        IpAddr::V6(_) => format!("{addr}/128"),
    }
}

fn ip_addr(verb: &str, addr: IpAddr) -> Result<(), String> {
    let prefix = host_prefix(addr);
    let mut args = vec!["addr", verb, prefix.as_str(), "dev", DEVICE];
    if addr.is_ipv6() && verb == "add" {
        args.push("nodad");
    }
    crate::iproute::ip(&args).map(|_| ())
}

/// Whether `addr` is one of this host's addresses now.
fn is_local(addr: IpAddr) -> bool {
    crate::interfaces::scan()
        .map(|v| v.iter().any(|a| a.addr == addr))
        .unwrap_or(false)
}

impl SourceIps {
    /// Connection `conn` is routed or up with source address `addr`: adds
    /// it to the host unless it is there. Returns whether ferroswan added
    /// it now.
    pub fn route(&mut self, conn: &str, addr: IpAddr) -> Result<bool, String> {
        if let Some(users) = self.added.get_mut(&addr) {
            users.insert(conn.to_string());
            return Ok(false);
        }
        if is_local(addr) {
            return Ok(false);
        }
        ip_addr("add", addr)?;
        self.added
            .insert(addr, std::iter::once(conn.to_string()).collect());
        Ok(true)
    }

    /// Connection `conn` is unrouted: removes `addr` when ferroswan added
    /// it and no other connection uses it. Returns whether it was removed.
    pub fn unroute(&mut self, conn: &str, addr: IpAddr) -> Result<bool, String> {
        let Some(users) = self.added.get_mut(&addr) else {
            return Ok(false);
        };
        users.remove(conn);
        if !users.is_empty() {
            return Ok(false);
        }
        self.added.remove(&addr);
        ip_addr("del", addr)?;
        Ok(true)
    }

    /// The addresses ferroswan added (for status and tests).
    pub fn added(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.added.keys().copied().collect();
        v.sort();
        v
    }
}

impl Drop for SourceIps {
    fn drop(&mut self) {
        for addr in self.added.keys() {
            if let Err(e) = ip_addr("del", *addr) {
                tracing::warn!("removing source address {addr}: {e}");
            }
        }
    }
}

impl Pluto {
    /// The source address of the data plane's routes for connection
    /// `name`: its `leftsourceip=` (added to the host first when the
    /// default updown applies, [`crate::sourceip`]), else an address of
    /// this host inside its local subnets.
    pub(crate) fn route_source(&mut self, name: &str, local: &[Selector]) -> Option<IpAddr> {
        if let Some((sourceip, default_updown)) = self.sourceip_of(name) {
            if default_updown {
                match self.wire.sourceips.route(name, sourceip) {
                    Ok(true) => tracing::info!("\"{name}\": added source address {sourceip}"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("\"{name}\": leftsourceip={sourceip}: {e}"),
                }
            }
            let usable = self.wire.sourceips.added().contains(&sourceip)
                || crate::interfaces::scan().is_ok_and(|v| v.iter().any(|a| a.addr == sourceip));
            if usable {
                return Some(sourceip);
            }
            tracing::warn!(
                "\"{name}\": leftsourceip={sourceip} is not an address of this host; routes without it"
            );
        }
        self.interfaces
            .iter()
            .map(|i| i.addr)
            .find(|a| local.iter().any(|s| s.net.contains(*a)))
    }

    /// The local end's `sourceip=`, and whether the default updown (no
    /// `updown=` of ours) handles it.
    pub(crate) fn sourceip_of(&self, name: &str) -> Option<(IpAddr, bool)> {
        let c = self.db.get(name)?;
        let me = if c.info.this_is_left {
            &c.spec.left
        } else {
            &c.spec.right
        };
        let default_updown = me.updown.as_deref().is_none_or(|u| u.trim().is_empty());
        me.sourceip.map(|a| (a, default_updown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_prefixes() {
        assert_eq!(host_prefix("10.1.0.254".parse().unwrap()), "10.1.0.254/32");
        assert_eq!(
            host_prefix("2001:db8::1".parse().unwrap()),
            "2001:db8::1/128"
        );
    }

    #[test]
    fn an_address_of_the_host_is_left_alone() {
        let mut s = SourceIps::default();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(s.route("a", lo), Ok(false));
        assert!(s.added().is_empty());
        assert_eq!(s.unroute("a", lo), Ok(false));
    }
}
