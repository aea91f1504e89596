//! NFLOG rules: `nflog-group=N` logs a connection's cleartext traffic
//! (before encryption, after decryption) to NFLOG group N while it is up,
//! and `config setup nflog-all=N` all of the daemon's IPsec traffic, as
//! Libreswan's `addnflog`/`delnflog` do with iptables, so that
//! `tcpdump -i nflog:N` shows it. ferroswan writes nftables rules (`nft`),
//! each connection in a table of its own (`inet ferroswan_nflog_K`, the
//! daemon's in `inet ferroswan_nflog_all`), removed as a whole at `down`
//! (and when the daemon stops). Every rule counts what it logs (`nft list
//! table`).
//!
//! What "IPsec traffic" is depends on the data plane:
//! - XFRM: packets from our subnets to the peer's that an IPsec policy
//!   sends through an SA (`rt ipsec exists`, in the output and forward
//!   hooks), and packets from the peer's subnets to ours that arrived
//!   decrypted (`meta ipsec exists`, input and forward hooks);
//! - userspace: the same subnets, leaving through the data plane's TUN
//!   device (`oifname`) or coming out of it (`iifname`), which is where the
//!   userspace data plane encrypts and decrypts.

use conf::ConnSpec;
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// The table of `nflog-all=`.
pub const ALL_TABLE: &str = "ferroswan_nflog_all";

/// The log prefix of `nflog-all=` (Libreswan's).
pub const ALL_PREFIX: &str = "all-ipsec";

/// An end's subnets, or its host address as a host prefix.
pub fn subnets_of(spec: &ConnSpec, left: bool) -> Vec<(IpAddr, u8)> {
    let end = if left { &spec.left } else { &spec.right };
    if end.subnets.is_empty() {
        host_of(spec, left)
            .map(|a| vec![(a, if a.is_ipv4() { 32 } else { 128 })])
            .unwrap_or_default()
    } else {
        end.subnets.iter().map(|s| (s.addr, s.prefix)).collect()
    }
}

/// An end's host address, when it is one.
pub fn host_of(spec: &ConnSpec, left: bool) -> Option<IpAddr> {
    let end = if left { &spec.left } else { &spec.right };
    match &end.host {
        conf::HostAddr::Addr(a) => Some(*a),
        _ => None,
    }
}

/// A log prefix nft takes: no quotes or backslashes, at most 63 bytes.
fn prefix_text(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    while s.len() > 63 {
        s.pop();
    }
    s
}

/// The rules of one table, by base chain (`input`, `output`, `forward`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    /// (chain, rule) in order.
    pub rules: Vec<(&'static str, String)>,
}

impl RuleSet {
    /// The rules of `chain`, in order.
    pub fn chain<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.rules
            .iter()
            .filter(move |(c, _)| *c == chain)
            .map(|(_, r)| r.as_str())
    }

    /// The nft script that (re)creates `table inet NAME` with these rules.
    pub fn script(&self, table: &str) -> String {
        let mut s =
            format!("table inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{\n");
        for chain in ["input", "output", "forward"] {
            s.push_str(&format!(
                "  chain {chain} {{\n    type filter hook {chain} priority 0; policy accept;\n"
            ));
            for r in self.chain(chain) {
                s.push_str(&format!("    {r}\n"));
            }
            s.push_str("  }\n");
        }
        s.push_str("}\n");
        s
    }
}

/// The match of packets leaving through IPsec (XFRM policy, or the TUN
/// device) and of packets that came in through it.
fn ipsec_matches(tun: Option<&str>) -> (String, String) {
    match tun {
        Some(dev) => (format!("oifname \"{dev}\""), format!("iifname \"{dev}\"")),
        None => ("rt ipsec exists".into(), "meta ipsec exists".into()),
    }
}

/// The rules of connection `spec` (this end left or right) logging to
/// `group`; `tun`: the userspace data plane's TUN device, `None` for XFRM.
pub fn conn_rules(spec: &ConnSpec, this_is_left: bool, group: u16, tun: Option<&str>) -> RuleSet {
    let mine = subnets_of(spec, this_is_left);
    let theirs = subnets_of(spec, !this_is_left);
    let (out, inb) = ipsec_matches(tun);
    let log = format!(
        "counter log prefix \"{}\" group {group}",
        prefix_text(&spec.name)
    );
    let mut rules = Vec::new();
    for (l, lp) in &mine {
        for (r, rp) in &theirs {
            if l.is_ipv4() != r.is_ipv4() {
                continue;
            }
            let ip = if l.is_ipv4() { "ip" } else { "ip6" };
            let outbound = format!("{ip} saddr {l}/{lp} {ip} daddr {r}/{rp} {out} {log}");
            let inbound = format!("{ip} saddr {r}/{rp} {ip} daddr {l}/{lp} {inb} {log}");
            rules.push(("output", outbound.clone()));
            rules.push(("forward", outbound));
            rules.push(("input", inbound.clone()));
            rules.push(("forward", inbound));
        }
    }
    RuleSet { rules }
}

/// The rules of `nflog-all=group`.
pub fn all_rules(group: u16, tun: Option<&str>) -> RuleSet {
    let (out, inb) = ipsec_matches(tun);
    let log = format!("counter log prefix \"{ALL_PREFIX}\" group {group}");
    RuleSet {
        rules: vec![
            ("output", format!("{out} {log}")),
            ("forward", format!("{out} {log}")),
            ("input", format!("{inb} {log}")),
            ("forward", format!("{inb} {log}")),
        ],
    }
}

fn nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running nft (install nftables): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn delete_table(table: &str) -> Result<(), String> {
    nft(&format!(
        "table inet {table} {{}}\ndelete table inet {table}\n"
    ))
}

/// The NFLOG tables ferroswan installed.
#[derive(Debug, Default)]
pub struct NflogRules {
    /// Table per connection name.
    tables: HashMap<String, String>,
    /// Table number per connection name (kept, so a connection always
    /// gets the same table).
    numbers: HashMap<String, u32>,
    next: u32,
    all: bool,
}

impl NflogRules {
    /// The table of connection `conn` (its rules are there while it is up).
    pub fn table_of(&mut self, conn: &str) -> String {
        let n = match self.numbers.get(conn) {
            Some(n) => *n,
            None => {
                self.next += 1;
                self.numbers.insert(conn.to_string(), self.next);
                self.next
            }
        };
        format!("ferroswan_nflog_{n}")
    }

    /// Installs (or replaces) connection `conn`'s rules.
    pub fn add_conn(&mut self, conn: &str, rules: &RuleSet) -> Result<(), String> {
        let table = self.table_of(conn);
        nft(&rules.script(&table))?;
        self.tables.insert(conn.to_string(), table);
        Ok(())
    }

    /// Removes connection `conn`'s rules, if installed.
    pub fn remove_conn(&mut self, conn: &str) -> Result<(), String> {
        match self.tables.remove(conn) {
            Some(t) => delete_table(&t),
            None => Ok(()),
        }
    }

    /// Installs the `nflog-all=` rules.
    pub fn add_all(&mut self, rules: &RuleSet) -> Result<(), String> {
        nft(&rules.script(ALL_TABLE))?;
        self.all = true;
        Ok(())
    }

    /// The tables installed now.
    pub fn installed(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tables.values().cloned().collect();
        if self.all {
            v.push(ALL_TABLE.to_string());
        }
        v.sort();
        v
    }
}

impl Drop for NflogRules {
    /// The daemon stops: its rules go.
    fn drop(&mut self) {
        for t in self.installed() {
            if let Err(e) = delete_table(&t) {
                tracing::warn!("removing NFLOG table {t}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec() -> ConnSpec {
        let c = conf::Config::parse_str(
            "conn t\n\tleft=192.0.2.1\n\tleftsubnet=10.1.0.0/16\n\tright=192.0.2.2\n\
             \tauthby=secret\n\tnflog-group=5\n",
            Path::new("/t/ipsec.conf"),
            &conf::LoadOptions::default(),
        )
        .expect("parses");
        c.conns.first().expect("conn").clone()
    }

    #[test]
    fn xfrm_rules_match_policies_and_secpaths() {
        let s = spec();
        let r = conn_rules(&s, true, 5, None);
        let out: Vec<&str> = r.chain("output").collect();
        assert_eq!(
            out,
            ["ip saddr 10.1.0.0/16 ip daddr 192.0.2.2/32 rt ipsec exists counter log prefix \"t\" group 5"]
        );
        let input: Vec<&str> = r.chain("input").collect();
        assert_eq!(
            input,
            ["ip saddr 192.0.2.2/32 ip daddr 10.1.0.0/16 meta ipsec exists counter log prefix \"t\" group 5"]
        );
        assert_eq!(r.rules.len(), 4, "output, input and forward both ways");
        // From the right end the subnets swap.
        let r = conn_rules(&s, false, 5, Some("ipsec0"));
        assert!(r.rules.iter().any(|(c, x)| *c == "output"
            && x.starts_with("ip saddr 192.0.2.2/32 ip daddr 10.1.0.0/16 oifname \"ipsec0\"")));
        let script = r.script("ferroswan_nflog_1");
        assert!(script
            .starts_with("table inet ferroswan_nflog_1 {}\ndelete table inet ferroswan_nflog_1\n"));
        assert!(script.contains("type filter hook forward priority 0; policy accept;"));
    }

    #[test]
    fn prefixes_are_safe_and_short() {
        assert_eq!(prefix_text("a\"b\\c"), "a_b_c");
        assert_eq!(prefix_text(&"x".repeat(100)).len(), 63);
        assert_eq!(
            all_rules(7, None).rules.first().map(|r| r.1.as_str()),
            Some("rt ipsec exists counter log prefix \"all-ipsec\" group 7")
        );
    }
}
