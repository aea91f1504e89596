//! Two ferroswan daemons in two network namespaces (userspace data plane):
//! `ipsec auto --add` + `--up`, ping and a TCP transfer through the tunnel,
//! tcpdump on the veth sees only ESP, `--down` on one side removes the SAs
//! on both, and `--route` + a packet triggers the negotiation.
//!
//! Needs root (CI runs as root); skipped with a message elsewhere.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{can_run, keypair, ping_once, tcp_echo, wait_ping, Capture, Daemon};
use testkit::{wait_until, NetPair, Netns, TempDir};

const SECRETS: &str = "@west @east : PSK \"tunnel test secret, not for production\"\n";

/// The configuration both sides load (each orients itself).
fn conf(extra: &str) -> String {
    format!(
        "config setup\n\
         \tprotostack=userspace\n\
         \tlogtime=no\n\
         \n\
         conn tun\n\
         \tleft=192.0.2.1\n\
         \tleftid=@west\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright=192.0.2.2\n\
         \trightid=@east\n\
         \trightsubnet=10.2.0.0/16\n\
         \tauthby=secret\n\
         \tauto=add\n\
         {extra}"
    )
}

fn pair() -> (NetPair, Daemon, Daemon) {
    let net = NetPair::new().expect("namespaces");
    let conf = conf("");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    (net, west, east)
}

#[test]
fn up_ping_tcp_esp_only_and_down_on_both() {
    if !can_run("up_ping_tcp_esp_only_and_down_on_both") {
        return;
    }
    let (net, west, east) = pair();
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("181 \"tun\" #1: initiating IKEv2 connection"),
        "{out}"
    );
    assert!(
        out.contains("sent IKE_SA_INIT request to 192.0.2.2:500"),
        "{out}"
    );
    assert!(
        out.contains("182 \"tun\" #1: sent IKE_AUTH request {cipher="),
        "{out}"
    );
    assert!(
        out.contains("004 \"tun\" #2: initiator established Child SA using #1; IPsec tunnel [10.1.0.0/16===10.2.0.0/16] {ESP"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");

    // TCP through the tunnel while tcpdump watches the veth.
    let cap = Capture::start(&net.east, &net.east_if);
    let marker = b"FERROSWAN-CLEARTEXT-MARKER-";
    let mut data = Vec::new();
    while data.len() < 512 * 1024 {
        data.extend_from_slice(marker);
        data.extend_from_slice(format!("{:08}", data.len()).as_bytes());
    }
    let back = tcp_echo(&net.west, &net.east, &data);
    assert_eq!(back.len(), data.len(), "bytes echoed");
    assert!(back == data, "the echoed bytes differ");
    let (raw, text) = cap.stop();
    assert!(text.contains("ESP(spi=0x"), "no ESP on the veth:\n{text}");
    assert!(
        !raw.windows(marker.len()).any(|w| w == marker),
        "the inner cleartext appears on the veth"
    );
    assert!(
        !text.contains("10.1.0.1") && !text.contains("10.2.0.1"),
        "inner addresses on the veth:\n{text}"
    );

    // Both sides show the SAs; the responder too.
    for (side, d) in [("west", &west), ("east", &east)] {
        let s = d.status();
        assert!(
            s.contains("STATE_V2_ESTABLISHED_IKE_SA (established IKE SA)"),
            "{side}:\n{s}"
        );
        assert!(
            s.contains("STATE_V2_ESTABLISHED_CHILD_SA (established Child SA)"),
            "{side}:\n{s}"
        );
        assert!(
            s.contains("IPsec SAs: total(1), authenticated(1), anonymous(0)"),
            "{side}:\n{s}"
        );
        assert!(s.contains("erouted"), "{side}:\n{s}");
        let t = d.trafficstatus();
        assert!(t.contains("\"tun\", type=ESP"), "{side}:\n{t}");
        assert!(!t.contains("inBytes=0,"), "{side} counted no traffic:\n{t}");
    }
    let e = east.status();
    assert!(e.contains("[10.2.0.0/16===10.1.0.0/16]"), "{e}");
    assert!(e.contains("; erouted; eroute owner: #2"), "{e}");
    // The JSON status lists the same SAs.
    let o = east.ipsec(&["auto", "--status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status JSON parses");
    let states = doc["states"].as_array().expect("states array");
    assert!(
        states
            .iter()
            .any(|s| s["kind"] == "IKE" && s["state"] == "STATE_V2_ESTABLISHED_IKE_SA"),
        "{doc}"
    );
    assert!(
        states.iter().any(|s| s["kind"] == "CHILD"
            && s["tunnel"] == "10.2.0.0/16===10.1.0.0/16"
            && s["in_bytes"].as_u64().is_some_and(|b| b > 0)),
        "{doc}"
    );
    assert_eq!(doc["ipsec_sas"]["total"], 1, "{doc}");
    let brief =
        String::from_utf8_lossy(&east.ipsec(&["whack", "--briefstatus"]).stdout).into_owned();
    assert!(brief.contains("IKE SAs: total(1)"), "{brief}");
    // briefstatus counts without building the states: the same totals as
    // the full status.
    let full = east.status();
    for line in brief.lines().filter(|l| l.contains("SAs: total(")) {
        assert!(full.contains(line), "{line} not in:\n{full}");
    }
    let states =
        String::from_utf8_lossy(&east.ipsec(&["whack", "--showstates"]).stdout).into_owned();
    assert!(
        states.contains("#2: \"tun\":500 STATE_V2_ESTABLISHED_CHILD_SA"),
        "{states}"
    );

    // --down on west removes the SAs on both ends.
    west.auto(&["--down", "tun"], 0);
    for (side, d) in [("west", &west), ("east", &east)] {
        wait_until(
            Duration::from_secs(10),
            &format!("{side} without SAs"),
            || {
                let s = d.status();
                s.contains("IKE SAs: total(0)") && s.contains("IPsec SAs: total(0)")
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", d.status()));
        assert!(d.status().contains("; unrouted;"), "{side}");
    }
    assert!(!ping_once(&net.west, "10.1.0.1", "10.2.0.1"));
}

#[test]
fn route_then_traffic_triggers_the_negotiation() {
    if !can_run("route_then_traffic_triggers_the_negotiation") {
        return;
    }
    let (net, west, east) = pair();
    west.auto(&["--route", "tun"], 0);
    let s = west.status();
    assert!(s.contains("; prospective erouted;"), "{s}");
    assert!(s.contains("IKE SAs: total(0)"), "{s}");
    // The first packets hit the trap and start IKE; pings pass once the
    // Child SA is up.
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the acquire");
    let s = west.status();
    assert!(s.contains("STATE_V2_ESTABLISHED_CHILD_SA"), "{s}");
    assert!(s.contains("; erouted;"), "{s}");
    assert!(east.status().contains("STATE_V2_ESTABLISHED_CHILD_SA"));
    // --unroute refuses while the SA protects; --down goes back to the trap.
    west.auto(&["--unroute", "tun"], 26);
    west.auto(&["--down", "tun"], 0);
    wait_until(Duration::from_secs(10), "west back to its trap", || {
        west.status().contains("; prospective erouted;")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.status()));
    west.auto(&["--unroute", "tun"], 0);
    assert!(west.status().contains("; unrouted;"));
}

/// `leftnexthop=`/`rightnexthop=` and no route to the remote subnet in the
/// main table: the trap routes it (userspace: into the data plane's TUN,
/// table 4500), the first packet starts IKE and pings pass.
#[test]
fn route_with_a_nexthop_needs_no_route_to_the_remote_subnet() {
    if !can_run("route_with_a_nexthop_needs_no_route_to_the_remote_subnet") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = conf("\tleftnexthop=192.0.2.2\n\trightnexthop=192.0.2.1\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    let main = |ns: &Netns| {
        let o = ns
            .command("ip")
            .args(["route", "show", "table", "main", "match", "10.2.0.1"])
            .output()
            .expect("ip route");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(
        main(&net.west).trim().is_empty(),
        "west has a route: {}",
        main(&net.west)
    );
    west.auto(&["--route", "tun"], 0);
    east.auto(&["--route", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the acquire");
    let s = west.status();
    assert!(s.contains("STATE_V2_ESTABLISHED_CHILD_SA"), "{s}");
    assert!(s.contains("; erouted;"), "{s}");
    assert!(main(&net.west).trim().is_empty(), "{}", main(&net.west));
}

#[test]
fn up_fails_with_a_nonzero_status() {
    if !can_run("up_fails_with_a_nonzero_status") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let west = Daemon::start(&net.west, &conf(""), SECRETS);
    // East has another secret: IKE_AUTH fails.
    let _east = Daemon::start(
        &net.east,
        &conf(""),
        "@west @east : PSK \"a different secret altogether\"\n",
    );
    let o = west.ipsec(&["auto", "--up", "tun"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("sent IKE_AUTH request"), "{out}");
    assert!(west.status().contains("IPsec SAs: total(0)"));
}

#[test]
fn asynchronous_up_and_auto_start() {
    if !can_run("asynchronous_up_and_auto_start") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let east = Daemon::start(&net.east, &conf(""), SECRETS);
    // West brings the tunnel up by itself at start-up.
    let west = Daemon::start(
        &net.west,
        &conf("").replace("\tauto=add\n", "\tauto=start\n"),
        SECRETS,
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("auto=start tunnel");
    west.auto(&["--down", "tun"], 0);
    wait_until(Duration::from_secs(10), "east without SAs", || {
        east.status().contains("IPsec SAs: total(0)")
    })
    .expect("down");
    let out = west.auto(&["--asynchronous", "--up", "tun"], 0);
    assert!(out.contains("initiating IKEv2 connection"), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("asynchronous --up");
}

/// `--asynchronous --up` sends the IKE_SA_INIT at once, not at the first
/// retransmission: with a 30 s retransmit interval the tunnel must still
/// come up well before the first retransmission would have gone out.
#[test]
fn asynchronous_up_sends_at_once() {
    if !can_run("asynchronous_up_sends_at_once") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = conf("\tretransmit-interval=30000ms\n");
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    let west = Daemon::start(&net.west, &conf, SECRETS);
    west.auto(&["--asynchronous", "--up", "tun"], 0);
    wait_until(Duration::from_secs(15), "the asynchronous tunnel", || {
        ping_once(&net.west, "10.1.0.1", "10.2.0.1")
    })
    .expect("--asynchronous --up waited for a retransmission");
}

#[test]
fn child_sa_rekey_under_traffic_loses_no_ping() {
    if !can_run("child_sa_rekey_under_traffic_loses_no_ping") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // A 12 s lifetime: the initiator rekeys the Child SA after 9 s.
    let conf = conf("\tsalifetime=12s\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    let first = newest_ipsec_sa(&west.status());
    // 60 pings, one every 250 ms, across the rekey.
    let ping = net
        .west
        .command("ping")
        .args([
            "-c", "60", "-i", "0.25", "-W", "1", "-I", "10.1.0.1", "10.2.0.1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ping");
    wait_until(Duration::from_secs(30), "a rekeyed Child SA", || {
        let n = newest_ipsec_sa(&west.status());
        n.is_some() && n != first
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    let out = ping.wait_with_output().expect("ping output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 0% packet loss"),
        "pings lost across the rekey:\n{text}\n{}",
        west.log()
    );
    // The old Child SA is gone on both sides; one pair remains.
    for d in [&west, &east] {
        wait_until(Duration::from_secs(10), "one Child SA", || {
            d.status().contains("IPsec SAs: total(1)")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", d.status()));
    }
}

/// The `newest IPsec SA: #N` of the connection.
fn newest_ipsec_sa(status: &str) -> Option<u64> {
    let rest = status.split("newest IPsec SA: #").nth(1)?;
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    n.parse().ok().filter(|n| *n != 0)
}

#[test]
fn drop_shunt_blocks_until_unrouted() {
    if !can_run("drop_shunt_blocks_until_unrouted") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = conf(
        "\n\
         conn block\n\
         \tleft=192.0.2.1\n\
         \tright=192.0.2.2\n\
         \ttype=drop\n\
         \tauthby=never\n\
         \tauto=route\n",
    );
    assert!(ping_once(&net.west, "192.0.2.1", "192.0.2.2"));
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let s = west.status();
    assert!(
        s.contains("\"block\": ") && s.contains("prospective erouted"),
        "{s}"
    );
    assert!(!ping_once(&net.west, "192.0.2.1", "192.0.2.2"));
    // A drop shunt blocks only its own traffic: IKE still reaches the peer.
    let east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "tun"], 0);
    // Both ends drop (east loaded the same auto=route shunt).
    west.auto(&["--unroute", "block"], 0);
    assert!(!ping_once(&net.west, "192.0.2.1", "192.0.2.2"));
    east.auto(&["--unroute", "block"], 0);
    assert!(west
        .status()
        .contains("\"block\": 192.0.2.1...192.0.2.2; unrouted;"));
    wait_ping(&net.west, "192.0.2.1", "192.0.2.2").expect("ping after --unroute");
}

#[test]
fn remote_host_overrides_the_peer() {
    if !can_run("remote_host_overrides_the_peer") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // West's configuration names a peer that does not exist.
    let west_conf = conf("").replace("\tright=192.0.2.2\n", "\tright=198.51.100.99\n");
    let west = Daemon::start(&net.west, &west_conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf(""), SECRETS);
    let out = west.auto(&["--up", "tun", "--remote-host", "192.0.2.2"], 0);
    assert!(
        out.contains("sent IKE_SA_INIT request to 192.0.2.2:500"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping");
}

#[test]
fn explicit_protostack_xfrm_refuses_to_start() {
    if !can_run("explicit_protostack_xfrm_refuses_to_start") {
        return;
    }
    let ns = Netns::new("x").expect("namespace");
    let dir = TempDir::new("xfrm").expect("temporary directory");
    let conf = conf("").replace("protostack=userspace", "protostack=xfrm");
    std::fs::write(dir.path().join("ipsec.conf"), conf).expect("conf");
    std::fs::write(dir.path().join("ipsec.secrets"), SECRETS).expect("secrets");
    let out = ns
        .command(common::IPSEC)
        .arg("pluto")
        .arg("--nofork")
        .arg("--stderrlog")
        .arg("--rundir")
        .arg(dir.path().join("run"))
        .arg("--config")
        .arg(dir.path().join("ipsec.conf"))
        .arg("--secretsfile")
        .arg(dir.path().join("ipsec.secrets"))
        .stdin(Stdio::null())
        .output()
        .expect("run pluto");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("protostack=xfrm: "), "{err}");
    assert!(err.contains("use protostack=userspace"), "{err}");
}

#[test]
fn ipv6_outer_addresses() {
    if !can_run("ipv6_outer_addresses") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    common::add_ipv6_outer_addresses(&net);
    let conf = conf("")
        .replace("\tleft=192.0.2.1\n", "\tleft=2001:db8:6::1\n")
        .replace("\tright=192.0.2.2\n", "\tright=2001:db8:6::2\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("sent IKE_SA_INIT request to [2001:db8:6::2]:500"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("IPv4 in IPv6 tunnel");
    assert!(east.status().contains("STATE_V2_ESTABLISHED_CHILD_SA"));
}

#[test]
fn ike_sa_rekey_keeps_the_tunnel() {
    if !can_run("ike_sa_rekey_keeps_the_tunnel") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // A 12 s IKE SA lifetime: the initiator rekeys it after 9 s.
    let conf = conf("\tikelifetime=12s\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    wait_until(Duration::from_secs(30), "a rekeyed IKE SA", || {
        let s = west.status();
        s.contains("newest IKE SA: #") && !s.contains("newest IKE SA: #1;")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    for d in [&west, &east] {
        wait_until(Duration::from_secs(10), "one IKE SA", || {
            let s = d.status();
            s.contains("IKE SAs: total(1)") && s.contains("IPsec SAs: total(1)")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", d.status()));
    }
    assert!(ping_once(&net.west, "10.1.0.1", "10.2.0.1"));
    // The Child SA now belongs to the new IKE SA: --down still deletes it
    // on both ends.
    west.auto(&["--down", "tun"], 0);
    wait_until(Duration::from_secs(10), "east without SAs", || {
        east.status().contains("IPsec SAs: total(0)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", east.status()));
}

#[test]
fn delete_and_replace_tear_the_tunnel_down_first() {
    if !can_run("delete_and_replace_tear_the_tunnel_down_first") {
        return;
    }
    let (net, west, east) = pair();
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    west.auto(&["--replace", "tun"], 0);
    wait_until(Duration::from_secs(10), "east without SAs", || {
        east.status().contains("IPsec SAs: total(0)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", east.status()));
    assert!(west.status().contains("IPsec SAs: total(0)"));
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up again");
    west.auto(&["--delete", "tun"], 0);
    wait_until(Duration::from_secs(10), "east without SAs", || {
        east.status().contains("IPsec SAs: total(0)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", east.status()));
    assert!(!ping_once(&net.west, "10.1.0.1", "10.2.0.1"));
    west.auto(&["--up", "tun"], 21);
}

#[test]
fn dpd_notices_a_dead_peer_and_holds() {
    if !can_run("dpd_notices_a_dead_peer_and_holds") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // auto=route: Libreswan 5 derives dpdaction=hold from it.
    let conf =
        conf("\tdpddelay=1s\n\tretransmit-timeout=3s\n").replace("\tauto=add\n", "\tauto=route\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let mut east = Daemon::start(&net.east, &conf, SECRETS);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("DPD=active"), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    // The peer vanishes; its data plane (and so its TUN) goes with it.
    east.kill();
    wait_until(
        Duration::from_secs(20),
        "west noticing the dead peer",
        || {
            let s = west.status();
            s.contains("IKE SAs: total(0)") && s.contains("IPsec SAs: total(0)")
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    let s = west.status();
    assert!(s.contains("; prospective erouted;"), "dpdaction=hold:\n{s}");
    assert!(west.log().contains("DPD: the peer is dead; dpdaction=hold"));
}

#[test]
fn updown_script_runs_with_pluto_environment() {
    if !can_run("updown_script_runs_with_pluto_environment") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let dir = TempDir::new("updown").expect("temporary directory");
    let record = dir.path().join("verbs.txt");
    let script = dir.path().join("updown.sh");
    // It records its environment and then fails: the failure is logged,
    // not fatal.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$PLUTO_VERB $PLUTO_CONNECTION $PLUTO_ME $PLUTO_PEER $PLUTO_MY_CLIENT $PLUTO_PEER_CLIENT $PLUTO_PEER_ID\" >> {}\nexit 3\n",
            record.display()
        ),
    )
    .expect("script");
    let west_conf = conf(&format!("\tleftupdown=\"/bin/sh {}\"\n", script.display()));
    let west = Daemon::start(&net.west, &west_conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf(""), SECRETS);
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up despite the failing script");
    west.auto(&["--down", "tun"], 0);
    let read = || std::fs::read_to_string(&record).unwrap_or_default();
    wait_until(Duration::from_secs(10), "four updown calls", || {
        read().lines().count() >= 4
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", read(), west.log()));
    let lines: Vec<String> = read().lines().map(str::to_string).collect();
    let tail = "tun 192.0.2.1 192.0.2.2 10.1.0.0/16 10.2.0.0/16 @east";
    assert_eq!(
        lines,
        [
            format!("route-client {tail}"),
            format!("up-client {tail}"),
            format!("down-client {tail}"),
            format!("unroute-client {tail}"),
        ]
    );
    wait_until(Duration::from_secs(5), "the failure in the log", || {
        west.log().contains("updown script")
    })
    .expect("logged");
    assert!(
        west.log().contains("up-client failed (exit status: 3)"),
        "{}",
        west.log()
    );
}

#[test]
fn auto_start_retries_until_the_peer_answers() {
    if !can_run("auto_start_retries_until_the_peer_answers") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = conf("\tretransmit-timeout=2s\n");
    let west = Daemon::start(
        &net.west,
        &conf.replace("\tauto=add\n", "\tauto=start\n"),
        SECRETS,
    );
    // No peer yet: the first attempt gives up and is scheduled again.
    wait_until(Duration::from_secs(20), "a scheduled retry", || {
        west.log().contains("\"tun\": will try again in")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    assert!(west.log().contains("\"tun\": reviving the connection"));
}

fn raw_key_tunnel(authby: &str, algorithm: &[&str]) {
    let dir = TempDir::new("keys").expect("temporary directory");
    let west_keys = keypair(dir.path(), "west", algorithm);
    let east_keys = keypair(dir.path(), "east", algorithm);
    let (west_pub, east_pub) = (&west_keys.public_0s, &east_keys.public_0s);
    let conf = conf("")
        .replace("\tauthby=secret\n", &format!("\tauthby={authby}\n"))
        .replace(
            "\tauto=add\n",
            &format!("\tauto=add\n\tleftpubkey={west_pub}\n\trightpubkey={east_pub}\n"),
        );
    let net = NetPair::new().expect("namespaces");
    let west = Daemon::start_with(
        &net.west,
        &conf,
        "",
        &[("ipsec.d/private/west.pem", &west_keys.private_pem)],
    );
    let east = Daemon::start_with(
        &net.east,
        &conf,
        "",
        &[("ipsec.d/private/east.pem", &east_keys.private_pem)],
    );
    let out = west.auto(&["--up", "tun"], 0);
    // Libreswan's wording for signature authentication with a raw key:
    // "authenticated peer '<key> digital signature' using preloaded
    // certificate '@east'".
    assert!(
        out.contains("initiator established IKE SA; authenticated peer")
            && out.contains("using preloaded certificate '@east'"),
        "{authby}: {out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping");
    assert!(east.status().contains("STATE_V2_ESTABLISHED_CHILD_SA"));
}

#[test]
fn raw_ecdsa_keys() {
    if !can_run("raw_ecdsa_keys") || !testkit::have_program("openssl") {
        return;
    }
    raw_key_tunnel(
        "ecdsa",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
}

#[test]
fn raw_rsa_keys() {
    if !can_run("raw_rsa_keys") || !testkit::have_program("openssl") {
        return;
    }
    raw_key_tunnel(
        "rsasig",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
}

#[test]
fn transport_mode_host_to_host_cbc_with_esn() {
    if !can_run("transport_mode_host_to_host_cbc_with_esn") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = "config setup\n\tprotostack=userspace\n\tlogtime=no\n\n\
        conn host\n\tleft=192.0.2.1\n\tleftid=@west\n\tright=192.0.2.2\n\trightid=@east\n\
        \ttype=transport\n\tauthby=secret\n\tesp=aes256-sha2_256\n\tesn=yes\n\tauto=add\n";
    let west = Daemon::start(&net.west, conf, SECRETS);
    let east = Daemon::start(&net.east, conf, SECRETS);
    let out = west.auto(&["--up", "host"], 0);
    assert!(out.contains("IPsec transport"), "{out}");
    assert!(out.contains("xfrm=AES_CBC_256-HMAC_SHA2_256_128"), "{out}");
    wait_ping(&net.west, "192.0.2.1", "192.0.2.2").expect("ping in transport mode");
    // The pings went through ESP: both sides counted them.
    for d in [&west, &east] {
        let t = d.trafficstatus();
        assert!(t.contains("\"host\", type=ESP"), "{t}");
        assert!(!t.contains("inBytes=0,"), "{t}");
    }
    let o = east.ipsec(&["auto", "--status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let child = doc["states"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["kind"] == "CHILD").cloned())
        .expect("a Child SA");
    assert_eq!(child["tunnel"], "192.0.2.2/32===192.0.2.1/32", "{child}");
    assert_eq!(child["esn"], true, "{child}");
    assert_eq!(
        child["encapsulation"], "none",
        "raw ESP without NAT: {child}"
    );
}

#[test]
fn restarted_peer_replaces_the_old_sas() {
    if !can_run("restarted_peer_replaces_the_old_sas") {
        return;
    }
    let (net, west, mut east) = pair();
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    // East restarts without telling west, and brings the tunnel up again.
    east.kill();
    let east = Daemon::start(&net.east, &conf(""), SECRETS);
    east.auto(&["--up", "tun"], 0);
    wait_until(
        Duration::from_secs(10),
        "west keeping only the new SAs",
        || {
            let s = west.status();
            s.contains("IKE SAs: total(1)") && s.contains("IPsec SAs: total(1)")
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", west.status()));
    // INITIAL_CONTACT (or, without it, uniqueids=yes) removed the old SAs.
    let log = west.log();
    assert!(
        log.contains("#1: INITIAL_CONTACT from the peer: deleting this IKE SA")
            || log.contains("#1: uniqueids: replaced by #3"),
        "{log}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping over the new SAs");
}

#[test]
fn ipv6_subnets_inside_an_ipv4_tunnel() {
    if !can_run("ipv6_subnets_inside_an_ipv4_tunnel") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    for (ns, a) in [
        (&net.west, "2001:db8:1::1/128"),
        (&net.east, "2001:db8:2::1/128"),
    ] {
        ns.exec_ok(&["ip", "addr", "add", a, "dev", "lo", "nodad"])
            .expect("inner IPv6 address");
    }
    let conf = conf("")
        .replace(
            "\tleftsubnet=10.1.0.0/16\n",
            "\tleftsubnet=2001:db8:1::/64\n",
        )
        .replace(
            "\trightsubnet=10.2.0.0/16\n",
            "\trightsubnet=2001:db8:2::/64\n",
        );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("IPsec tunnel [2001:db8:1::/64===2001:db8:2::/64]"),
        "{out}"
    );
    wait_until(
        Duration::from_secs(20),
        "IPv6 ping through the tunnel",
        || {
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
                .map(|o| o.status.success())
                .unwrap_or(false)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
}

#[test]
fn shutdown_deletes_the_sas_on_the_peer() {
    if !can_run("shutdown_deletes_the_sas_on_the_peer") {
        return;
    }
    let (net, west, east) = pair();
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    let o = west.ipsec(&["whack", "--shutdown"]);
    assert_eq!(o.status.code(), Some(0));
    wait_until(Duration::from_secs(10), "east without SAs", || {
        east.status().contains("IPsec SAs: total(0)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", east.status()));
}

#[test]
fn up_twice_replaces_the_sas() {
    if !can_run("up_twice_replaces_the_sas") {
        return;
    }
    // The second IKE SA carries no INITIAL_CONTACT (west already has one
    // with east), so east keeps the old one until it is deleted: the
    // Deletes are answered, nothing waits for a retransmit timeout.
    let net = NetPair::new().expect("namespaces");
    let conf = conf("");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "tun"], 0);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("004 \"tun\" #4: initiator established Child SA using #3"),
        "{out}"
    );
    let s = west.status();
    assert!(
        s.contains("#1: \"tun\":500 STATE_V2_IKE_SA_DELETE (deleting IKE SA)")
            || s.contains("IKE SAs: total(1)"),
        "{s}"
    );
    for d in [&west, &east] {
        wait_until(Duration::from_secs(10), "only the new SAs", || {
            let s = d.status();
            s.contains("IKE SAs: total(1)") && s.contains("IPsec SAs: total(1)")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", d.status()));
    }
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping over the new SAs");
    for d in [&west, &east] {
        let log = d.log();
        assert!(!log.contains("INITIAL_CONTACT"), "{log}");
        assert!(!log.contains("timed out"), "{log}");
    }
}

#[test]
fn rekey_no_lets_the_child_sa_expire() {
    if !can_run("rekey_no_lets_the_child_sa_expire") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = conf("\tsalifetime=5s\n\trekey=no\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    // No rekey: after its 5 s lifetime the Child SA is gone, none replaced it.
    wait_until(Duration::from_secs(20), "the Child SA expired", || {
        west.status().contains("IPsec SAs: total(0)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    assert!(!west.log().contains("rekeyed Child SA"), "{}", west.log());
}

#[test]
fn rekeymargin_sets_when_the_child_sa_rekeys() {
    if !can_run("rekeymargin_sets_when_the_child_sa_rekeys") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // An hour's lifetime with a margin of 59 min 57 s: rekey after 3 s.
    let conf = conf("\tsalifetime=1h\n\trekeymargin=3597s\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let _east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "tun"], 0);
    wait_until(Duration::from_secs(20), "a rekeyed Child SA", || {
        west.log().contains("rekeyed Child SA")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the rekey");
}

#[test]
fn ondemand_adds_routes_and_the_first_packet_brings_it_up() {
    if !can_run("ondemand_adds_routes_and_the_first_packet_brings_it_up") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = conf("").replace("\tauto=add\n", "\tauto=ignore\n");
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    east.auto(&["--add", "tun"], 0);
    west.auto(&["--ondemand", "tun"], 0);
    assert!(west.status().contains("; prospective erouted;"));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the acquire");
    assert!(west.status().contains("; erouted; eroute owner: #2"));
}

/// `--impair omit-v2-ike-auth-child` (Libreswan 4's way to initiate a
/// childless IKE SA; its ipsec.conf, like ferroswan's, has no
/// `childless=`): `--up` returns once the IKE SA is established, as no
/// Child SA follows (it used to wait for one forever).
#[test]
fn childless_up_returns_with_the_ike_sa() {
    if !can_run("childless_up_returns_with_the_ike_sa") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let conf = conf("");
    let childless = ["--impair", "omit-v2-ike-auth-child"];
    let west = Daemon::start_args(&net.west, &conf, SECRETS, &[], &childless);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("initiator established IKE SA"), "{out}");
    for d in [&west, &east] {
        let s = d.status();
        assert!(s.contains("STATE_V2_ESTABLISHED_IKE_SA"), "{s}");
        assert!(s.contains("IPsec SAs: total(0)"), "{s}");
    }
}

/// `ipsec whack --rekey-ipsec` and `--rekey-ike` (Libreswan's spelling):
/// the newest Child SA, then the newest IKE SA, is replaced at once, on
/// both ends, and the tunnel keeps carrying pings.
#[test]
fn whack_rekey_ipsec_and_ike() {
    if !can_run("whack_rekey_ipsec_and_ike") {
        return;
    }
    let (net, west, east) = pair();
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("tunnel up");
    let first = newest_ipsec_sa(&west.status());
    let o = west.ipsec(&["whack", "--name", "tun", "--rekey-ipsec"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("initiating rekey to replace Child SA"),
        "{out}"
    );
    wait_until(Duration::from_secs(10), "a rekeyed Child SA", || {
        let s = west.status();
        let n = newest_ipsec_sa(&s);
        n.is_some() && n != first && s.contains("IPsec SAs: total(1),")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the Child SA rekey");
    let o = west.ipsec(&["whack", "--name", "tun", "--rekey-ike"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("initiating rekey to replace IKE SA #1"),
        "{out}"
    );
    for d in [&west, &east] {
        wait_until(Duration::from_secs(10), "the rekeyed IKE SA alone", || {
            let s = d.status();
            !s.contains("newest IKE SA: #1;") && s.contains("IKE SAs: total(1),")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    }
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping after the IKE SA rekey");
    // Nothing to rekey on a connection without SAs.
    west.auto(&["--down", "tun"], 0);
    let o = west.ipsec(&["whack", "--name", "tun", "--rekey-ipsec"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("no Child SA to rekey"));
}
