//! Interface set-up by running iproute2's `ip` once at start (link up,
//! MTU, queue length, addresses); routes go through rtnetlink (`rtnl`).
//! Commands act in the calling thread's network namespace.

use std::process::Command;

use crate::error::{DataplaneError, Result};
use crate::net::IpNet;

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| DataplaneError::io("running `ip` (iproute2)", e))?;
    if !out.status.success() {
        return Err(DataplaneError::Command {
            command: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Sets the MTU and transmit queue length of `dev` and brings it up.
pub fn link_up(dev: &str, mtu: u16, txqueuelen: u32) -> Result<()> {
    ip(&[
        "link",
        "set",
        "dev",
        dev,
        "mtu",
        &mtu.to_string(),
        "txqueuelen",
        &txqueuelen.to_string(),
        "up",
    ])
}

/// Adds an address to `dev` (replacing it if present).
pub fn add_address(dev: &str, addr: &IpNet) -> Result<()> {
    ip(&["addr", "replace", &addr.to_string(), "dev", dev])
}

/// Runs several `ip` commands at once (they are independent of each
/// other); the results in the order of `commands`.
fn ip_concurrently(commands: &[Vec<String>]) -> Vec<Result<()>> {
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            Command::new("ip")
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect();
    children
        .into_iter()
        .zip(commands)
        .map(|(child, args)| {
            let out = child
                .and_then(|c| c.wait_with_output())
                .map_err(|e| DataplaneError::io("running `ip` (iproute2)", e))?;
            if !out.status.success() {
                return Err(DataplaneError::Command {
                    command: format!("ip {}", args.join(" ")),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
            Ok(())
        })
        .collect()
}

/// The `ip rule` arguments of the bypass rule of one family (`-4`/`-6`).
fn bypass_rule(family: &str, verb: &str, mark: u32, table: u32, pref: u32) -> Vec<String> {
    [
        family,
        "rule",
        verb,
        "not",
        "fwmark",
        &format!("{mark:#x}"),
        "lookup",
        &table.to_string(),
        "pref",
        &pref.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Sends packets without `mark` to routing table `table` first (`ip rule add
/// not fwmark MARK lookup TABLE pref PREF`), for IPv4 and IPv6: the data
/// plane's routes live in that table, and its own sockets carry the mark so
/// ESP to a peer inside a protected subnet never loops into TUN.
pub fn add_bypass_rules(mark: u32, table: u32, pref: u32) -> Result<()> {
    // Idempotent: a rule left behind by a data plane that was killed
    // (SIGKILL runs no Drop) would make the add fail, or double: remove
    // it first (twice per family, as a second one may linger). The two
    // families' commands run side by side.
    for _ in 0..2 {
        let _ = ip_concurrently(&[
            bypass_rule("-4", "del", mark, table, pref),
            bypass_rule("-6", "del", mark, table, pref),
        ]);
    }
    ip_concurrently(&[
        bypass_rule("-4", "add", mark, table, pref),
        bypass_rule("-6", "add", mark, table, pref),
    ])
    .into_iter()
    .collect()
}

/// Removes the rules of [`add_bypass_rules`] (both families are tried).
pub fn remove_bypass_rules(mark: u32, table: u32, pref: u32) -> Result<()> {
    let mut result = Ok(());
    for family in ["-4", "-6"] {
        let r = ip(&[
            family,
            "rule",
            "del",
            "not",
            "fwmark",
            &format!("{mark:#x}"),
            "lookup",
            &table.to_string(),
            "pref",
            &pref.to_string(),
        ]);
        if r.is_err() {
            result = r;
        }
    }
    result
}
