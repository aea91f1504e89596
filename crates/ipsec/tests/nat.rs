//! Two ferroswan daemons with a NAT between them (a third namespace with
//! nftables masquerade): NAT detection moves IKE to port 4500 and ESP is
//! UDP-encapsulated (RFC 3948); a ping passes through the tunnel.
//!
//! Needs root and nft; skipped with a message elsewhere.

mod common;

use std::time::Duration;

use common::{can_run, wait_ping, Daemon};
use testkit::netns::{ip, unique_id};
use testkit::{wait_until, Netns};

const SECRETS: &str = "@west @east : PSK \"nat test secret, not for production\"\n";

/// west 198.51.100.2 --- 198.51.100.1 [nat] 203.0.113.1 --- 203.0.113.2 east
struct Topology {
    id: String,
    west: Netns,
    nat: Netns,
    east: Netns,
}

fn topology() -> Result<Topology, String> {
    let id = unique_id();
    let t = Topology {
        id: id.clone(),
        west: Netns::new("w")?,
        nat: Netns::new("n")?,
        east: Netns::new("e")?,
    };
    let (wi, nwi, nei, ei) = (
        format!("vw{id}"),
        format!("nw{id}"),
        format!("ne{id}"),
        format!("ve{id}"),
    );
    ip(&[
        "link",
        "add",
        &wi,
        "netns",
        t.west.name(),
        "type",
        "veth",
        "peer",
        "name",
        &nwi,
        "netns",
        t.nat.name(),
    ])?;
    ip(&[
        "link",
        "add",
        &ei,
        "netns",
        t.east.name(),
        "type",
        "veth",
        "peer",
        "name",
        &nei,
        "netns",
        t.nat.name(),
    ])?;
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
                .exec(&["ping", "-c1", "-W1", "203.0.113.2"])
                .map(|o| o.status.success())
                .unwrap_or(false)
        },
    )?;
    Ok(t)
}

#[test]
fn nat_traversal_through_masquerade() {
    if !can_run("nat_traversal_through_masquerade") {
        return;
    }
    if !testkit::have_program("nft") {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("nft is not installed");
        }
        eprintln!("SKIPPED nat_traversal_through_masquerade: nft is not installed");
        return;
    }
    let t = topology().expect("topology");
    let west_conf = "config setup\n\tprotostack=userspace\n\tlogtime=no\n\tkeep-alive=1\n\n\
        conn nat\n\tleft=198.51.100.2\n\tleftid=@west\n\tleftsubnet=10.1.0.0/16\n\
        \tright=203.0.113.2\n\trightid=@east\n\trightsubnet=10.2.0.0/16\n\
        \tauthby=secret\n\tauto=add\n";
    // East does not know where west comes from: %any.
    let east_conf = "config setup\n\tprotostack=userspace\n\tlogtime=no\n\n\
        conn nat\n\tleft=%any\n\tleftid=@west\n\tleftsubnet=10.1.0.0/16\n\
        \tright=203.0.113.2\n\trightid=@east\n\trightsubnet=10.2.0.0/16\n\
        \tauthby=secret\n\tauto=add\n";
    let west = Daemon::start(&t.west, west_conf, SECRETS);
    let east = Daemon::start(&t.east, east_conf, SECRETS);
    let out = west.auto(&["--up", "nat"], 0);
    assert!(out.contains("{ESPinUDP"), "{out}");
    wait_ping(&t.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.log(), east.log()));
    // East saw west behind the NAT's address, on port 4500.
    let s = east.status();
    assert!(s.contains("STATE_V2_ESTABLISHED_CHILD_SA"), "{s}");
    let o = east.ipsec(&["auto", "--status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let ike = doc["states"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["kind"] == "IKE").cloned())
        .expect("an IKE SA");
    assert_eq!(
        ike["remote"]
            .as_str()
            .map(|r| r.starts_with("203.0.113.1:")),
        Some(true),
        "{ike}"
    );
    assert_eq!(ike["nat"], true, "{ike}");
    // West, behind the NAT, sends RFC 3948 keepalives (one 0xFF octet,
    // UDP length 9) to port 4500; keep-alive=1 makes it every second.
    let nat_if = format!("nw{}", t.id);
    let o = t
        .nat
        .exec(&[
            "timeout",
            "10",
            "tcpdump",
            "-i",
            &nat_if,
            "-n",
            "-c",
            "1",
            "udp dst port 4500 and udp[4:2] = 9 and udp[8] = 0xff",
        ])
        .expect("tcpdump");
    assert!(
        o.status.success(),
        "no NAT keepalive seen: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
