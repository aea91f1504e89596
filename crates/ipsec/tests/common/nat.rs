//! Three namespaces with a masquerading NAT in the middle, for NAT-T tests:
//!
//! ```text
//! west 198.51.100.2 --- 198.51.100.1 [nat] 203.0.113.1 --- 203.0.113.2 east
//! (10.1.0.1 on lo)                                          (10.2.0.1 on lo)
//! ```
//!
//! West reaches east through the NAT (nftables masquerade on the NAT's
//! east side); east sees west's packets coming from 203.0.113.1.

use std::time::Duration;

use testkit::netns::{ip, unique_id};
use testkit::{wait_until, Netns};

/// West's outer address (behind the NAT).
pub const WEST_ADDR: &str = "198.51.100.2";
/// East's outer address (in front of the NAT).
pub const EAST_ADDR: &str = "203.0.113.2";
/// The address east sees west's packets come from.
pub const NAT_PUBLIC: &str = "203.0.113.1";

/// The three namespaces; removed on drop.
pub struct NatTopology {
    /// The unique part of the interface names.
    pub id: String,
    /// Behind the NAT.
    pub west: Netns,
    /// The masquerading router.
    pub nat: Netns,
    /// In front of the NAT.
    pub east: Netns,
}

impl NatTopology {
    /// The NAT's interface towards west (for captures).
    pub fn nat_west_if(&self) -> String {
        format!("nw{}", self.id)
    }

    /// Builds the topology and waits (bounded) until west reaches east.
    pub fn new() -> Result<NatTopology, String> {
        let id = unique_id();
        let t = NatTopology {
            id: id.clone(),
            west: Netns::new("w")?,
            nat: Netns::new("n")?,
            east: Netns::new("e")?,
        };
        let (wi, nwi, nei, ei) = (
            format!("vw{id}"),
            t.nat_west_if(),
            format!("ne{id}"),
            format!("ve{id}"),
        );
        for (end, end_if, nat_if) in [(&t.west, &wi, &nwi), (&t.east, &ei, &nei)] {
            ip(&[
                "link",
                "add",
                end_if,
                "netns",
                end.name(),
                "type",
                "veth",
                "peer",
                "name",
                nat_if,
                "netns",
                t.nat.name(),
            ])?;
        }
        for (ns, ifname, addr) in [
            (&t.west, &wi, "198.51.100.2/24"),
            (&t.nat, &nwi, "198.51.100.1/24"),
            (&t.nat, &nei, "203.0.113.1/24"),
            (&t.east, &ei, "203.0.113.2/24"),
        ] {
            ns.exec_ok(&["ip", "addr", "add", addr, "dev", ifname])?;
            ns.exec_ok(&["ip", "link", "set", ifname, "up"])?;
        }
        t.west
            .exec_ok(&["ip", "route", "add", "default", "via", "198.51.100.1"])?;
        t.west
            .exec_ok(&["ip", "addr", "add", "10.1.0.1/32", "dev", "lo"])?;
        t.east
            .exec_ok(&["ip", "addr", "add", "10.2.0.1/32", "dev", "lo"])?;
        t.nat.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        let rules = format!(
            "table ip nat {{\n chain post {{\n  type nat hook postrouting priority 100;\n  oifname \"{nei}\" masquerade\n }}\n}}\n"
        );
        let file = std::env::temp_dir().join(format!("ferroswan-nat-{id}.nft"));
        std::fs::write(&file, rules).map_err(|e| e.to_string())?;
        let r = t.nat.exec_ok(&["nft", "-f", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        r?;
        wait_until(
            Duration::from_secs(10),
            "west reaching east through the NAT",
            || {
                t.west
                    .exec(&["ping", "-c1", "-W1", EAST_ADDR])
                    .map(|o| o.status.success())
                    .unwrap_or(false)
            },
        )?;
        Ok(t)
    }
}

/// True when nft is installed; otherwise says why the test is skipped (a
/// failure under CI=true) and returns false.
pub fn have_nft(test: &str) -> bool {
    if testkit::have_program("nft") {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: nft is not installed");
    }
    eprintln!("SKIPPED {test}: nft is not installed");
    false
}
