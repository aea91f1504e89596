//! Routes of the XFRM data plane: the remote subnet of a tunnel is routed
//! the way the peer is reached (same gateway and interface), with
//! Libreswan's `leftsourceip` as the source address.
//!
//! Routes are managed with iproute2's `ip route` (run as `ip -n NAME` when
//! the data plane serves a named network namespace): the kernel picks the
//! gateway and interface with `ip route get`, exactly as the routing table
//! would, and the same commands show up in a user's `ip route` output.

use std::net::IpAddr;
use std::process::Command;

use crate::error::{DataplaneError, Result};
use crate::net::IpNet;

/// A route ferroswan added and removes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The destination subnet (the remote traffic selector).
    pub(crate) dst: IpNet,
    /// The gateway, when the peer is not on-link.
    pub(crate) via: Option<IpAddr>,
    /// The outgoing interface.
    pub(crate) dev: String,
    /// The preferred source address (`leftsourceip`).
    pub(crate) src: Option<IpAddr>,
}

impl Route {
    fn args(&self, verb: &str) -> Vec<String> {
        let mut a = vec!["route".to_string(), verb.to_string(), self.dst.to_string()];
        if let Some(via) = self.via {
            a.push("via".into());
            a.push(via.to_string());
        }
        a.push("dev".into());
        a.push(self.dev.clone());
        if verb != "del" {
            if let Some(src) = self.src {
                a.push("src".into());
                a.push(src.to_string());
            }
        }
        a
    }
}

/// Runs `ip [-n NETNS] ARGS`, returning its stdout or a command error.
fn ip(netns: Option<&str>, args: &[String]) -> Result<String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| DataplaneError::io("running `ip` (iproute2) for an XFRM route", e))?;
    if !out.status.success() {
        let ns = netns.map(|n| format!("-n {n} ")).unwrap_or_default();
        return Err(DataplaneError::Command {
            command: format!("ip {ns}{}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How the kernel reaches `target` now: `(gateway, interface)`; `None` when
/// it is a local address or unreachable.
pub(crate) fn lookup(netns: Option<&str>, target: IpAddr) -> Option<(Option<IpAddr>, String)> {
    let out = ip(netns, &["route".into(), "get".into(), target.to_string()]).ok()?;
    parse_route_get(&out)
}

/// Parses the first line of `ip route get`.
fn parse_route_get(out: &str) -> Option<(Option<IpAddr>, String)> {
    let line = out.lines().next()?;
    let words: Vec<&str> = line.split_whitespace().collect();
    if matches!(
        words.first().copied(),
        Some("local" | "unreachable" | "blackhole" | "prohibit" | "broadcast" | "multicast")
    ) {
        return None;
    }
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    let dev = after("dev")?;
    if dev == "lo" {
        return None;
    }
    let via = after("via").and_then(|v| v.parse().ok());
    Some((via, dev.to_string()))
}

/// Adds `route`. Returns `false` (and changes nothing) when a route to the
/// same destination exists already: it is not ferroswan's to remove.
pub(crate) fn add(netns: Option<&str>, route: &Route) -> Result<bool> {
    match ip(netns, &route.args("add")) {
        Ok(_) => Ok(true),
        Err(DataplaneError::Command { stderr, .. }) if stderr.contains("File exists") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes `route`; a route already gone is not an error.
pub(crate) fn remove(netns: Option<&str>, route: &Route) -> Result<()> {
    match ip(netns, &route.args("del")) {
        Ok(_) => Ok(()),
        Err(DataplaneError::Command { stderr, .. })
            if stderr.contains("No such process") || stderr.contains("not found") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_get_output_is_parsed() {
        let gw = "10.2.0.1 via 192.0.2.2 dev vl src 192.0.2.1 uid 0 \n    cache \n";
        assert_eq!(
            parse_route_get(gw),
            Some((Some("192.0.2.2".parse().expect("addr")), "vl".to_string()))
        );
        let onlink = "192.0.2.2 dev vl src 192.0.2.1 uid 0\n";
        assert_eq!(parse_route_get(onlink), Some((None, "vl".to_string())));
        assert_eq!(
            parse_route_get("local 127.0.0.1 dev lo src 127.0.0.1 uid 0"),
            None
        );
        assert_eq!(parse_route_get(""), None);
    }

    #[test]
    fn route_commands_name_gateway_device_and_source() {
        let r = Route {
            dst: IpNet::new("10.2.0.0".parse().expect("addr"), 24).expect("net"),
            via: Some("192.0.2.2".parse().expect("addr")),
            dev: "vl".into(),
            src: Some("10.1.0.1".parse().expect("addr")),
        };
        assert_eq!(
            r.args("add").join(" "),
            "route add 10.2.0.0/24 via 192.0.2.2 dev vl src 10.1.0.1"
        );
        assert_eq!(
            r.args("del").join(" "),
            "route del 10.2.0.0/24 via 192.0.2.2 dev vl"
        );
    }
}
