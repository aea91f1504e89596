//! The IKE ports: UDP 500 and 4500 bound on each local address (`listen=`
//! restricts them), found at start-up and again at `ipsec auto --ready`;
//! replies and ESP-in-UDP leave from the address the peer used; IKE on
//! port 4500 is answered from start-up, before any tunnel exists.
//!
//! Needs root (CI runs as root); skipped with a message elsewhere.

mod common;

use std::time::Duration;

use common::{add_second_inner_addresses, can_run, conn, wait_ping, Capture, Daemon};
use testkit::{wait_until, NetPair, Netns};

const SECRETS: &str = "@west @east : PSK \"ports test secret, not for production\"\n";

fn setup(extra: &str) -> String {
    format!("config setup\n\tprotostack=userspace\n\tlogtime=no\n{extra}\n")
}

/// The local `address:port`s of the UDP sockets `ss -ulpn` lists in `ns`.
fn udp_sockets(ns: &Netns) -> Vec<String> {
    let o = ns.exec_ok(&["ss", "-ulpnH"]).expect("ss -ulpn");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

/// Asserts that `ns` has exactly these IKE sockets (ports 500 and 4500).
#[track_caller]
fn assert_ike_sockets(ns: &Netns, want: &[&str], d: &Daemon) {
    let mut got: Vec<String> = udp_sockets(ns)
        .into_iter()
        .filter(|s| s.ends_with(":500") || s.ends_with(":4500"))
        .collect();
    got.sort();
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "IKE sockets in {}\nlog:\n{}", ns.name(), d.log());
}

/// Adds `addr/24` to the namespace's veth.
fn add_address(ns: &Netns, ifname: &str, addr: &str) {
    ns.exec_ok(&["ip", "addr", "add", &format!("{addr}/24"), "dev", ifname])
        .expect("second outer address");
}

#[test]
fn ports_500_and_4500_on_each_address_and_only_listen() {
    if !can_run("ports_500_and_4500_on_each_address_and_only_listen") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    add_address(&net.west, &net.west_if, "192.0.2.11");
    let conf = setup("");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    // Loopback is an interface address too; no wildcard socket.
    assert_ike_sockets(
        &net.west,
        &[
            "127.0.0.1:500",
            "127.0.0.1:4500",
            "192.0.2.1:500",
            "192.0.2.1:4500",
            "192.0.2.11:500",
            "192.0.2.11:4500",
            "10.1.0.1:500",
            "10.1.0.1:4500",
            "[::1]:500",
            "[::1]:4500",
        ],
        &west,
    );
    drop(west);
    let conf = setup("\tlisten=192.0.2.11\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    assert_ike_sockets(&net.west, &["192.0.2.11:500", "192.0.2.11:4500"], &west);
}

#[test]
fn a_second_address_answers_from_itself_on_4500() {
    if !can_run("a_second_address_answers_from_itself_on_4500") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    add_address(&net.west, &net.west_if, "192.0.2.11");
    let conf = format!(
        "{}{}",
        setup(""),
        conn(
            "second",
            "192.0.2.11",
            "192.0.2.2",
            ("10.1.0.0/16", "10.2.0.0/16"),
            "\tencapsulation=yes\n"
        )
    );
    let cap = Capture::start(&net.east, &net.east_if);
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    east.auto(&["--up", "second"], 0);
    wait_ping(&net.east, "10.2.0.1", "10.1.0.1").expect("ping through the tunnel");
    // West's ESP-in-UDP (the ping's replies) leaves from the address the
    // tunnel uses, not from the first address of the interface.
    cap.wait_for(&["192.0.2.11.4500 > 192.0.2.2.4500"])
        .unwrap_or_else(|e| panic!("{e}\nwest log:\n{}", west.log()));
    let (_, text) = cap.stop();
    let wrong: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("192.0.2.1.4500 >") || l.contains("192.0.2.1.500 >"))
        .collect();
    assert!(
        wrong.is_empty(),
        "west answered from its other address:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn ike_on_4500_is_answered_right_after_start_up() {
    if !can_run("ike_on_4500_is_answered_right_after_start_up") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let west_conf = format!(
        "{}{}",
        setup(""),
        conn(
            "natport",
            "192.0.2.1",
            "192.0.2.2",
            ("10.1.0.0/16", "10.2.0.0/16"),
            ""
        )
    );
    // East reaches west on port 4500 from its first message.
    let east_conf = format!(
        "{}{}",
        setup(""),
        conn(
            "natport",
            "192.0.2.1",
            "192.0.2.2",
            ("10.1.0.0/16", "10.2.0.0/16"),
            "\tleftikeport=4500\n"
        )
    );
    let cap = Capture::start(&net.east, &net.east_if);
    let west = Daemon::start(&net.west, &west_conf, SECRETS);
    let east = Daemon::start(&net.east, &east_conf, SECRETS);
    // West has no tunnel yet, so no data plane: its daemon answers 4500.
    assert!(
        !west.log().contains("using the userspace data plane"),
        "the data plane opened before any tunnel:\n{}",
        west.log()
    );
    east.auto(&["--up", "natport"], 0);
    wait_ping(&net.east, "10.2.0.1", "10.1.0.1").expect("ping through the tunnel");
    cap.wait_for(&[
        "192.0.2.2.4500 > 192.0.2.1.4500: NONESP-encap",
        "192.0.2.1.4500 > 192.0.2.2.4500: NONESP-encap",
    ])
    .unwrap_or_else(|e| panic!("{e}\nwest log:\n{}", west.log()));
}

#[test]
fn ready_binds_a_new_address() {
    if !can_run("ready_binds_a_new_address") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    add_second_inner_addresses(&net);
    let conf = format!(
        "{}{}{}",
        setup(""),
        conn(
            "first",
            "192.0.2.1",
            "192.0.2.2",
            ("10.1.0.0/16", "10.2.0.0/16"),
            "\tencapsulation=yes\n"
        ),
        conn(
            "later",
            "192.0.2.21",
            "192.0.2.2",
            ("10.3.0.0/16", "10.4.0.0/16"),
            "\tencapsulation=yes\n"
        )
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    // A tunnel first, so west's data plane runs when the address comes.
    east.auto(&["--up", "first"], 0);
    wait_ping(&net.east, "10.2.0.1", "10.1.0.1").expect("ping through the first tunnel");
    assert!(
        !udp_sockets(&net.west)
            .iter()
            .any(|s| s.starts_with("192.0.2.21:")),
        "bound before the address exists"
    );
    add_address(&net.west, &net.west_if, "192.0.2.21");
    west.auto(&["--ready"], 0);
    let want = ["192.0.2.21:500", "192.0.2.21:4500"];
    wait_until(Duration::from_secs(10), "the new address bound", || {
        let got = udp_sockets(&net.west);
        want.iter().all(|w| got.iter().any(|g| g == w))
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", udp_sockets(&net.west), west.log()));
    // The connection on the new address could not be oriented at start;
    // --ready orients it, --replace loads it into the engine.
    west.auto(&["--replace", "later"], 0);
    let cap = Capture::start(&net.east, &net.east_if);
    east.auto(&["--up", "later"], 0);
    wait_ping(&net.east, "10.4.0.1", "10.3.0.1").expect("ping through the second tunnel");
    cap.wait_for(&["192.0.2.21.4500 > 192.0.2.2.4500"])
        .unwrap_or_else(|e| panic!("{e}\nwest log:\n{}", west.log()));
}

/// A host with more addresses than the userspace data plane could poll
/// (300 on its loopback, as a gateway with many service addresses has):
/// IKE sockets on every one, and a tunnel still comes up, because the data
/// plane takes only the port-4500 sockets its Child SAs use.
#[test]
fn many_addresses_leave_the_data_plane_room() {
    if !can_run("many_addresses_leave_the_data_plane_room") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let mut batch = String::new();
    for i in 0..300u32 {
        batch.push_str(&format!(
            "addr add 10.77.{}.{}/32 dev lo\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let file = std::env::temp_dir().join(format!("ferroswan-addrs-{}", std::process::id()));
    std::fs::write(&file, batch).expect("ip batch file");
    let added = net.west.exec_ok(&["ip", "-batch", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    added.expect("300 addresses on lo");
    let conf = format!(
        "{}{}",
        setup(""),
        conn(
            "many",
            "192.0.2.1",
            "192.0.2.2",
            ("10.1.0.0/16", "10.2.0.0/16"),
            "\tencapsulation=yes\n"
        )
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    let sockets = udp_sockets(&net.west);
    assert!(
        sockets.iter().any(|s| s == "10.77.1.50:4500"),
        "no IKE socket on the 300th address: {} sockets",
        sockets.len()
    );
    west.auto(&["--up", "many"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\nwest log:\n{}", west.log()));
}
