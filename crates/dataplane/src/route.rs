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

/// Sends packets without `mark` to routing table `table` first (`ip rule add
/// not fwmark MARK lookup TABLE pref PREF`), for IPv4 and IPv6: the data
/// plane's routes live in that table, and its own sockets carry the mark so
/// ESP to a peer inside a protected subnet never loops into TUN.
pub fn add_bypass_rules(mark: u32, table: u32, pref: u32) -> Result<()> {
    // Idempotent: a rule left by a data plane that died is replaced, not doubled.
    let _ = remove_bypass_rules(mark, table, pref);
    for family in ["-4", "-6"] {
        // The same rule left behind by a data plane that was killed
        // (SIGKILL runs no Drop) would make the add fail: remove it first.
        let _ = ip(&[
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
        ip(&[
            family,
            "rule",
            "add",
            "not",
            "fwmark",
            &format!("{mark:#x}"),
            "lookup",
            &table.to_string(),
            "pref",
            &pref.to_string(),
        ])?;
    }
    Ok(())
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
