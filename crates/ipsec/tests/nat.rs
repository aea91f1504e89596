//! Two ferroswan daemons with a NAT between them (a third namespace with
//! nftables masquerade): NAT detection moves IKE to port 4500 and ESP is
//! UDP-encapsulated (RFC 3948); a ping passes through the tunnel.
//!
//! Needs root and nft; skipped with a message elsewhere.

mod common;

use common::nat::{have_nft, NatTopology};
use common::{can_run, wait_ping, Daemon};

const SECRETS: &str = "@west @east : PSK \"nat test secret, not for production\"\n";

#[test]
fn nat_traversal_through_masquerade() {
    if !can_run("nat_traversal_through_masquerade") {
        return;
    }
    if !have_nft("nat_traversal_through_masquerade") {
        return;
    }
    let t = NatTopology::new().expect("topology");
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
    let nat_if = t.nat_west_if();
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
