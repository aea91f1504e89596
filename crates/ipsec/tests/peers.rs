//! Two ferroswan daemons in two network namespaces: several connections
//! to the same peer, and peers named by `%defaultroute` or a DNS name.
//!
//! Needs root (CI runs as root); skipped with a message elsewhere.

mod common;

use std::time::Duration;

use common::{can_run, ping_once, wait_ping, Daemon};
use testkit::{wait_until, NetPair};

const SECRETS: &str = "@west @east : PSK \"peers test secret, not for production\"\n";

/// `conn NAME` between west and east for these subnets.
fn conn(name: &str, left: &str, right: &str, leftsubnet: &str, rightsubnet: &str) -> String {
    format!(
        "conn {name}\n\
         \tleft={left}\n\
         \tleftid=@west\n\
         \tleftsubnet={leftsubnet}\n\
         \tright={right}\n\
         \trightid=@east\n\
         \trightsubnet={rightsubnet}\n\
         \tauthby=secret\n\
         \tauto=add\n\n"
    )
}

fn setup() -> String {
    "config setup\n\tprotostack=userspace\n\tlogtime=no\n\n".to_string()
}

/// Counts of IKE and IPsec SAs in `ipsec auto --status`.
fn totals(d: &Daemon) -> (String, String) {
    let s = d.status();
    let grab = |key: &str| {
        s.split(key)
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap_or("?")
            .to_string()
    };
    (grab("IKE SAs: total("), grab("IPsec SAs: total("))
}

#[test]
fn two_connections_to_the_same_peer_both_stay_up() {
    if !can_run("two_connections_to_the_same_peer_both_stay_up") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    net.west
        .exec_ok(&["ip", "addr", "add", "10.3.0.1/32", "dev", "lo"])
        .expect("second inner address");
    net.east
        .exec_ok(&["ip", "addr", "add", "10.4.0.1/32", "dev", "lo"])
        .expect("second inner address");
    let conf = format!(
        "{}{}{}",
        setup(),
        conn(
            "one",
            "192.0.2.1",
            "192.0.2.2",
            "10.1.0.0/16",
            "10.2.0.0/16"
        ),
        conn(
            "two",
            "192.0.2.1",
            "192.0.2.2",
            "10.3.0.0/16",
            "10.4.0.0/16"
        ),
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    // One after the other, then a third IKE SA while both are up, and
    // finally both at once from a fresh start.
    west.auto(&["--up", "one"], 0);
    west.auto(&["--up", "two"], 0);
    for d in [&west, &east] {
        assert_eq!(totals(d), ("2".into(), "2".into()), "{}", d.log());
    }
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through one");
    wait_ping(&net.west, "10.3.0.1", "10.4.0.1").expect("ping through two");
    // Both still up once the traffic passed: nothing deleted either.
    for d in [&west, &east] {
        assert_eq!(totals(d), ("2".into(), "2".into()), "{}", d.log());
        let log = d.log();
        assert!(!log.contains("INITIAL_CONTACT"), "{log}");
        assert!(!log.contains("deleting"), "{log}");
    }
    assert!(ping_once(&net.west, "10.1.0.1", "10.2.0.1"));

    // Both at once (no IKE SA yet on either side).
    west.auto(&["--down", "one"], 0);
    west.auto(&["--down", "two"], 0);
    for d in [&west, &east] {
        wait_until(Duration::from_secs(10), "no SAs", || {
            totals(d) == ("0".into(), "0".into())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    }
    west.auto(&["--asynchronous", "--up", "one"], 0);
    west.auto(&["--asynchronous", "--up", "two"], 0);
    for d in [&west, &east] {
        wait_until(Duration::from_secs(20), "both tunnels", || {
            totals(d) == ("2".into(), "2".into())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    }
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through one");
    wait_ping(&net.west, "10.3.0.1", "10.4.0.1").expect("ping through two");
    for d in [&west, &east] {
        assert_eq!(totals(d), ("2".into(), "2".into()), "{}", d.log());
        assert!(!d.log().contains("INITIAL_CONTACT"), "{}", d.log());
    }
}
