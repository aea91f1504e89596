//! Two ferroswan daemons in two network namespaces: what goes through a
//! tunnel and what does not. A `type=passthrough` connection for a subnet
//! inside the tunnel's, `leftprotoport=`/`rightprotoport=` (only some
//! traffic in ESP, the rest in the clear) and several subnets on each side
//! (every pair of selectors works).
//!
//! Needs root (CI runs as root); skipped with a message elsewhere.

mod common;

use common::{
    add_second_inner_addresses, can_run, ping_once, tcp_echo, wait_ping, Capture, Daemon,
};
use testkit::NetPair;

const SECRETS: &str = "@west @east : PSK \"selectors test secret, not for production\"\n";

/// `conn tun` between west and east, with extra lines, and more conns.
fn conf(tun_extra: &str, more: &str) -> String {
    format!(
        "config setup\n\
         \tprotostack=userspace\n\
         \tlogtime=no\n\
         \n\
         conn tun\n\
         \tleft=192.0.2.1\n\
         \tleftid=@west\n\
         \tright=192.0.2.2\n\
         \trightid=@east\n\
         \tauthby=secret\n\
         \tauto=add\n\
         {tun_extra}\n\
         {more}"
    )
}

/// Routes in the main tables so that what leaves in the clear arrives:
/// west reaches 10.2.0.0/16 and 10.4.0.0/16 via east, east 10.1.0.0/16 and
/// 10.3.0.0/16 via west.
fn clear_routes(net: &NetPair) {
    for (ns, nets, via) in [
        (&net.west, ["10.2.0.0/16", "10.4.0.0/16"], "192.0.2.2"),
        (&net.east, ["10.1.0.0/16", "10.3.0.0/16"], "192.0.2.1"),
    ] {
        for n in nets {
            ns.exec_ok(&["ip", "route", "add", n, "via", via])
                .expect("route for clear traffic");
        }
    }
}

/// The TCP transfer of `tcp_echo` (to 10.2.0.1:5001) with a marker that
/// shows on the wire only in the clear.
fn marked_data() -> (Vec<u8>, &'static [u8]) {
    let marker: &'static [u8] = b"FERROSWAN-SELECTOR-CLEARTEXT-";
    let mut data = Vec::new();
    while data.len() < 64 * 1024 {
        data.extend_from_slice(marker);
        data.extend_from_slice(format!("{:08}", data.len()).as_bytes());
    }
    (data, marker)
}

fn contains(raw: &[u8], needle: &[u8]) -> bool {
    raw.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn passthrough_inside_a_tunnel_goes_in_the_clear() {
    if !can_run("passthrough_inside_a_tunnel_goes_in_the_clear") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    net.east
        .exec_ok(&["ip", "addr", "add", "10.2.3.1/32", "dev", "lo"])
        .expect("address in the passthrough subnet");
    clear_routes(&net);
    let conf = conf(
        "\tleftsubnet=10.1.0.0/16\n\trightsubnet=10.2.0.0/16\n",
        "conn clear\n\
         \tleft=192.0.2.1\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright=192.0.2.2\n\
         \trightsubnet=10.2.3.0/24\n\
         \ttype=passthrough\n\
         \tauthby=never\n\
         \tauto=route\n",
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    for d in [&west, &east] {
        assert!(
            d.status().contains("\"clear\": ") && d.status().contains("prospective erouted"),
            "{}",
            d.status()
        );
    }
    west.auto(&["--up", "tun"], 0);
    let cap = Capture::start(&net.east, &net.east_if);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    // 10.2.3.0/24 is inside the tunnel's 10.2.0.0/16 but passes in the
    // clear, both ways (east's answers come from 10.2.3.1).
    wait_ping(&net.west, "10.1.0.1", "10.2.3.1").expect("ping in the clear");
    cap.wait_for(&[
        "ESP(spi=0x",
        "10.1.0.1 > 10.2.3.1: ICMP echo request",
        "10.2.3.1 > 10.1.0.1: ICMP echo reply",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let (_, text) = cap.stop();
    assert!(text.contains("ESP(spi=0x"), "no ESP:\n{text}");
    assert!(
        text.contains("10.1.0.1 > 10.2.3.1: ICMP echo request"),
        "{text}"
    );
    assert!(
        text.contains("10.2.3.1 > 10.1.0.1: ICMP echo reply"),
        "{text}"
    );
    assert!(
        !text.contains("10.2.0.1"),
        "tunnel traffic in the clear:\n{text}"
    );
    // The tunnel still carries the rest, both ways.
    assert!(ping_once(&net.east, "10.2.0.1", "10.1.0.1"));
}

/// `leftprotoport`/`rightprotoport`: `esp_ping` says whether ping goes in
/// ESP (else TCP to port 5001 does, and ping goes in the clear).
fn protoport_tunnel(leftprotoport: &str, rightprotoport: &str, esp_ping: bool) {
    let net = NetPair::new().expect("namespaces");
    clear_routes(&net);
    let conf = conf(
        &format!(
            "\tleftsubnet=10.1.0.0/16\n\trightsubnet=10.2.0.0/16\n\
             \tleftprotoport={leftprotoport}\n\trightprotoport={rightprotoport}\n"
        ),
        "",
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("established Child SA"), "{out}");
    let cap = Capture::start(&net.east, &net.east_if);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping");
    let (data, marker) = marked_data();
    let back = tcp_echo(&net.west, &net.east, &data);
    assert!(back == data, "the TCP transfer came back different");
    // TCP's closing segments go last (in ESP or in the clear).
    let fin = if esp_ping {
        "10.2.0.1.5001 > 10.1.0.1"
    } else {
        "ESP(spi=0x"
    };
    let echo = if esp_ping {
        "ESP(spi=0x"
    } else {
        "10.2.0.1 > 10.1.0.1: ICMP echo reply"
    };
    cap.wait_for(&[fin, echo]).unwrap_or_else(|e| panic!("{e}"));
    let (raw, text) = cap.stop();
    assert!(text.contains("ESP(spi=0x"), "nothing in ESP:\n{text}");
    let ping_clear = text.contains("10.1.0.1 > 10.2.0.1: ICMP echo request");
    let tcp_clear = contains(&raw, marker);
    assert_eq!(ping_clear, !esp_ping, "{text}");
    assert_eq!(tcp_clear, esp_ping, "{text}");
    let t = west.trafficstatus();
    assert!(!t.contains("outBytes=0,"), "nothing counted in ESP:\n{t}");
}

#[test]
fn protoport_tcp_port_only_through_the_tunnel() {
    if !can_run("protoport_tcp_port_only_through_the_tunnel") {
        return;
    }
    protoport_tunnel("tcp", "tcp/5001", false);
}

#[test]
fn protoport_icmp_only_through_the_tunnel() {
    if !can_run("protoport_icmp_only_through_the_tunnel") {
        return;
    }
    protoport_tunnel("icmp", "icmp", true);
}

#[test]
fn every_pair_of_several_subnets_passes() {
    if !can_run("every_pair_of_several_subnets_passes") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    add_second_inner_addresses(&net);
    let conf = conf(
        "\tleftsubnet=10.1.0.0/16,10.3.0.0/16\n\trightsubnet=10.2.0.0/16,10.4.0.0/16\n",
        "",
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("established Child SA"), "{out}");
    let cap = Capture::start(&net.east, &net.east_if);
    // One Child SA carries all four pairs, both ways.
    for (src, dst) in [
        ("10.1.0.1", "10.2.0.1"),
        ("10.3.0.1", "10.4.0.1"),
        ("10.1.0.1", "10.4.0.1"),
        ("10.3.0.1", "10.2.0.1"),
    ] {
        wait_ping(&net.west, src, dst).unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
        let back = ping_once(&net.east, dst, src);
        assert!(back, "{dst} -> {src}\n{}", east.log());
    }
    cap.wait_for(&["ESP(spi=0x"])
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, text) = cap.stop();
    assert!(text.contains("ESP(spi=0x"), "no ESP:\n{text}");
    for a in ["10.1.0.1", "10.2.0.1", "10.3.0.1", "10.4.0.1"] {
        assert!(!text.contains(a), "{a} in the clear:\n{text}");
    }
    assert!(
        east.status().contains("IPsec SAs: total(1)"),
        "{}",
        east.status()
    );
}

/// The addresses on `lo` in a namespace.
fn lo_addresses(ns: &testkit::Netns) -> String {
    ns.exec_ok(&["ip", "-o", "addr", "show", "dev", "lo"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn leftsourceip_carries_the_gateways_own_traffic() {
    if !can_run("leftsourceip_carries_the_gateways_own_traffic") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // West has no address inside its subnet: only leftsourceip gives it one.
    net.west
        .exec_ok(&["ip", "addr", "del", "10.1.0.1/32", "dev", "lo"])
        .expect("remove the inner address");
    let conf = conf(
        "\tleftsubnet=10.1.0.0/16\n\trightsubnet=10.2.0.0/16\n\tleftsourceip=10.1.0.254\n",
        "",
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    assert!(!lo_addresses(&net.west).contains("10.1.0.254"));
    west.auto(&["--up", "tun"], 0);
    assert!(
        lo_addresses(&net.west).contains("inet 10.1.0.254/32"),
        "{}",
        lo_addresses(&net.west)
    );
    // A ping from the gateway itself, no source given: it leaves from
    // 10.1.0.254, through the tunnel.
    let cap = Capture::start(&net.east, &net.east_if);
    testkit::wait_until(std::time::Duration::from_secs(20), "ping 10.2.0.1", || {
        net.west
            .exec(&["ping", "-c1", "-W1", "10.2.0.1"])
            .is_ok_and(|o| o.status.success())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    cap.wait_for(&["ESP(spi=0x"])
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, text) = cap.stop();
    assert!(!text.contains("ICMP"), "ping in the clear:\n{text}");
    let t = west.trafficstatus();
    assert!(!t.contains("outBytes=0,"), "{t}");
    // --down takes the address away again.
    west.auto(&["--down", "tun"], 0);
    assert!(
        !lo_addresses(&net.west).contains("10.1.0.254"),
        "{}",
        lo_addresses(&net.west)
    );
}

#[test]
fn ipv6_traffic_outside_the_protoport_goes_in_the_clear() {
    if !can_run("ipv6_traffic_outside_the_protoport_goes_in_the_clear") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // IPv6 inside (and on the veth, for what leaves in the clear), an
    // IPv4 tunnel that carries only TCP.
    for (ns, ifname, inner, outer, peer_net, peer_outer) in [
        (
            &net.west,
            &net.west_if,
            "2001:db8:1::1/128",
            "2001:db8:ff::1/64",
            "2001:db8:2::/64",
            "2001:db8:ff::2",
        ),
        (
            &net.east,
            &net.east_if,
            "2001:db8:2::1/128",
            "2001:db8:ff::2/64",
            "2001:db8:1::/64",
            "2001:db8:ff::1",
        ),
    ] {
        ns.exec_ok(&["ip", "addr", "add", inner, "dev", "lo", "nodad"])
            .expect("inner IPv6 address");
        ns.exec_ok(&["ip", "addr", "add", outer, "dev", ifname, "nodad"])
            .expect("outer IPv6 address");
        ns.exec_ok(&["ip", "-6", "route", "add", peer_net, "via", peer_outer])
            .expect("IPv6 route for clear traffic");
    }
    let conf = conf(
        "\tleftsubnet=2001:db8:1::/64\n\trightsubnet=2001:db8:2::/64\n\
         \tleftprotoport=tcp\n\trightprotoport=tcp/5001\n",
        "",
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "tun"], 0);
    let cap = Capture::start(&net.east, &net.east_if);
    testkit::wait_until(std::time::Duration::from_secs(20), "ping6", || {
        net.west
            .exec(&[
                "ping",
                "-6",
                "-c1",
                "-W1",
                "-I",
                "2001:db8:1::1",
                "2001:db8:2::1",
            ])
            .is_ok_and(|o| o.status.success())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    // Both directions leave through the data plane's TUN (the routes to
    // the subnets point there) and in the clear through its raw socket.
    cap.wait_for(&[
        "2001:db8:1::1 > 2001:db8:2::1: ICMP6, echo request",
        "2001:db8:2::1 > 2001:db8:1::1: ICMP6, echo reply",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    drop(cap);
}
