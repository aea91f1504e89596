//! Hosts that are not literal addresses, and addresses that come and go:
//! DNS names (`right=east.test`) and `left=%defaultroute` are looked up
//! again at each `--up` and at a routed connection's ACQUIRE, off the
//! daemon's event loop (a DNS server that never answers blocks nothing);
//! `--ready` closes the IKE sockets of addresses that left the host.
//!
//! Names resolve through `/etc/netns/NS/hosts` and `/etc/netns/NS/resolv.conf`,
//! which `ip netns exec` (how the test daemons start) bind-mounts over
//! `/etc/hosts` and `/etc/resolv.conf`; the test rewrites them in place.
//!
//! Needs root (CI runs as root); skipped with a message elsewhere.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{add_second_inner_addresses, can_run, conn, ping_once, wait_ping, Daemon, IPSEC};
use testkit::{wait_until, NetPair, Netns};

const SECRETS: &str = "@west @east : PSK \"hosts test secret, not for production\"\n";

fn setup() -> String {
    "config setup\n\tprotostack=userspace\n\tlogtime=no\n\n".to_string()
}

const INNER: (&str, &str) = ("10.1.0.0/16", "10.2.0.0/16");

/// Files `ip netns exec NS` bind-mounts over `/etc` (`/etc/netns/NS/`),
/// removed on drop. Written before the daemon starts; rewritten in place
/// (the same inode, so the mount shows the new text).
struct NetnsEtc {
    dir: PathBuf,
}

impl NetnsEtc {
    fn new(ns: &Netns, files: &[(&str, &str)]) -> NetnsEtc {
        let dir = PathBuf::from("/etc/netns").join(ns.name());
        std::fs::create_dir_all(&dir).expect("/etc/netns/NS");
        let etc = NetnsEtc { dir };
        for (name, text) in files {
            etc.write(name, text);
        }
        etc
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).expect("write /etc/netns/NS file");
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn hosts(lines: &str) -> String {
    format!("127.0.0.1 localhost\n::1 localhost\n{lines}")
}

/// Adds `addr/24` to an interface of the namespace.
fn add_address(ns: &Netns, ifname: &str, addr: &str) {
    ns.exec_ok(&["ip", "addr", "add", &format!("{addr}/24"), "dev", ifname])
        .expect("add an address");
}

/// Waits (bounded) until east's traffic status names connection `name`
/// (the tunnel west brought up arrived at east's address of that
/// connection).
#[track_caller]
fn wait_east_conn(east: &Daemon, west: &Daemon, name: &str) {
    let needle = format!("\"{name}\"");
    wait_until(
        Duration::from_secs(20),
        &format!("east's Child SA of \"{name}\""),
        || east.trafficstatus().contains(&needle),
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\neast:\n{}\nwest log:\n{}\neast log:\n{}",
            east.trafficstatus(),
            west.log(),
            east.log()
        )
    });
}

/// East answers on two addresses, one connection each: "a" on 192.0.2.2,
/// "b" on 192.0.2.12.
fn east_two_addresses(net: &NetPair) -> Daemon {
    add_address(&net.east, &net.east_if, "192.0.2.12");
    let conf = format!(
        "{}{}{}",
        setup(),
        conn("a", "192.0.2.1", "192.0.2.2", INNER, ""),
        conn("b", "192.0.2.1", "192.0.2.12", INNER, "")
    );
    Daemon::start(&net.east, &conf, SECRETS)
}

/// West with connection `name` to `east.test` (in west's /etc/netns
/// hosts file, at `east_test_at` first), `extra` lines and `auto=`, and
/// east on two addresses ([`east_two_addresses`]). Fields drop in order:
/// the daemons, then the hosts file, then the namespaces.
struct Moving {
    west: Daemon,
    east: Daemon,
    etc: NetnsEtc,
    net: NetPair,
}

fn moving(name: &str, east_test_at: &str, extra: &str, auto: &str) -> Moving {
    let net = NetPair::new().expect("namespaces");
    let etc = NetnsEtc::new(
        &net.west,
        &[("hosts", &hosts(&format!("{east_test_at} east.test\n")))],
    );
    let east = east_two_addresses(&net);
    let conf = format!(
        "{}{}",
        setup(),
        conn(name, "192.0.2.1", "east.test", INNER, extra)
            .replace("\tauto=add\n", &format!("\tauto={auto}\n"))
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    Moving {
        west,
        east,
        etc,
        net,
    }
}

#[test]
fn a_dns_name_is_looked_up_again_at_each_up() {
    if !can_run("a_dns_name_is_looked_up_again_at_each_up") {
        return;
    }
    let Moving {
        net,
        etc,
        east,
        west,
    } = moving("dns", "192.0.2.2", "", "add");
    let out = west.auto(&["--up", "dns"], 0);
    assert!(
        out.contains("resolving left=192.0.2.1 right=east.test"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    wait_east_conn(&east, &west, "a");

    // The name moves to east's other address.
    etc.write("hosts", &hosts("192.0.2.12 east.test\n"));
    west.auto(&["--down", "dns"], 0);
    let out = west.auto(&["--up", "dns"], 0);
    assert!(
        out.contains("hosts resolved again: left=192.0.2.1 right=192.0.2.12"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the moved tunnel");
    wait_east_conn(&east, &west, "b");
    let status = west.status();
    assert!(status.contains("192.0.2.12"), "{status}");
}

#[test]
fn a_routed_connection_looks_its_peer_up_again_on_acquire() {
    if !can_run("a_routed_connection_looks_its_peer_up_again_on_acquire") {
        return;
    }
    let Moving {
        net,
        etc,
        east,
        west,
    } = moving("trap", "192.0.2.2", "", "add");
    // Added (after the lookup at start-up) for east.test = 192.0.2.2.
    wait_until(Duration::from_secs(15), "\"trap\" added", || {
        west.status().contains("\"trap\": 10.1.0.0/16===192.0.2.1")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    west.auto(&["--route", "trap"], 0);
    let status = west.status();
    assert!(status.contains("192.0.2.2"), "{status}");

    // The name moves before the first packet: the ACQUIRE looks it up
    // again, moves the trap and negotiates with the new address.
    etc.write("hosts", &hosts("192.0.2.12 east.test\n"));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    wait_east_conn(&east, &west, "b");
    let log = west.log();
    assert!(log.contains("\"trap\": acquire: resolving"), "{log}");
    assert!(
        log.contains("hosts resolved again: left=192.0.2.1 right=192.0.2.12"),
        "{log}"
    );
}

#[test]
fn an_unanswered_ike_sa_init_looks_the_peer_up_again() {
    if !can_run("an_unanswered_ike_sa_init_looks_the_peer_up_again") {
        return;
    }
    // Nobody has 192.0.2.3: IKE_SA_INIT goes unanswered.
    let Moving {
        net,
        etc,
        east,
        west,
    } = moving(
        "moving",
        "192.0.2.3",
        "\tretransmit-interval=500ms\n\tretransmit-timeout=3s\n",
        "add",
    );
    // --asynchronous returns once the lookup answered and #1 was sent.
    west.auto(&["--asynchronous", "--up", "moving"], 0);
    wait_until(
        Duration::from_secs(5),
        "IKE_SA_INIT to the old address",
        || {
            west.log()
                .contains("sent IKE_SA_INIT request to 192.0.2.3:500")
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    // The peer moves; when IKE_SA_INIT times out the name is looked up
    // again and the connection initiates to the new address.
    etc.write("hosts", &hosts("192.0.2.12 east.test\n"));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    wait_east_conn(&east, &west, "b");
    let log = west.log();
    for line in [
        "IKE_SA_INIT request timed out",
        "\"moving\": IKE_SA_INIT timeout: resolving left=192.0.2.1 right=east.test again",
        "hosts resolved again: left=192.0.2.1 right=192.0.2.12",
        "\"moving\": IKE_SA_INIT timeout: initiating",
    ] {
        assert!(log.contains(line), "missing {line:?} in:\n{log}");
    }
}

#[test]
fn a_start_up_connection_whose_name_does_not_resolve_yet_comes_up_later() {
    if !can_run("a_start_up_connection_whose_name_does_not_resolve_yet_comes_up_later") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // Not known yet (and no DNS server: the lookup fails at once).
    let etc = NetnsEtc::new(
        &net.west,
        &[
            ("hosts", &hosts("")),
            (
                "resolv.conf",
                "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            ),
        ],
    );
    let east = east_two_addresses(&net);
    let conf = format!(
        "{}{}",
        setup(),
        conn("late", "192.0.2.1", "east.test", INNER, "").replace("auto=add", "auto=start")
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    wait_until(Duration::from_secs(15), "the add tried again later", || {
        west.status()
            .contains("\"late\": host lookup failed; trying again in")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.status(), west.log()));
    assert!(
        west.log().contains("\"late\": cannot add the connection yet: right=east.test: cannot resolve the host name"),
        "{}",
        west.log()
    );
    etc.write("hosts", &hosts("192.0.2.12 east.test\n"));
    wait_east_conn(&east, &west, "b");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
}

#[test]
fn dpd_restart_follows_the_peer_to_its_new_address() {
    if !can_run("dpd_restart_follows_the_peer_to_its_new_address") {
        return;
    }
    // auto=start: Libreswan 5 derives dpdaction=restart from it.
    let Moving {
        net,
        etc,
        east,
        west,
    } = moving(
        "moving",
        "192.0.2.2",
        "\tdpddelay=1s\n\tretransmit-timeout=3s\n",
        "start",
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    wait_east_conn(&east, &west, "a");

    // East leaves its old address and the name follows it: DPD finds the
    // peer dead, and the restart looks the name up again.
    etc.write("hosts", &hosts("192.0.2.12 east.test\n"));
    // (Its second address of the subnet stays when the first goes.)
    let promote = format!("net.ipv4.conf.{}.promote_secondaries=1", net.east_if);
    net.east
        .exec_ok(&["sysctl", "-qw", &promote])
        .expect("promote_secondaries");
    net.east
        .exec_ok(&["ip", "addr", "del", "192.0.2.2/24", "dev", &net.east_if])
        .expect("remove east's old address");
    wait_until(Duration::from_secs(30), "the restarted tunnel", || {
        east.trafficstatus().contains("\"b\"") && ping_once(&net.west, "10.1.0.1", "10.2.0.1")
    })
    .unwrap_or_else(|e| panic!("{e}\nwest log:\n{}\neast log:\n{}", west.log(), east.log()));
    let log = west.log();
    for line in [
        "DPD: the peer is dead; dpdaction=restart",
        "\"moving\": DPD restart: resolving left=192.0.2.1 right=east.test again",
        "hosts resolved again: left=192.0.2.1 right=192.0.2.12",
        "\"moving\": DPD restart: initiating",
    ] {
        assert!(log.contains(line), "missing {line:?} in:\n{log}");
    }
}

/// Binds UDP 53 on `addr` inside `ns` and never answers.
fn silent_dns_server(ns: &Netns, addr: &str) -> std::net::UdpSocket {
    let addr = format!("{addr}:53");
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter_current_thread().expect("enter the namespace");
            std::net::UdpSocket::bind(&addr).expect("bind the silent DNS server")
        })
        .join()
        .expect("silent DNS server thread")
    })
}

#[test]
fn a_dns_server_that_never_answers_blocks_nothing() {
    if !can_run("a_dns_server_that_never_answers_blocks_nothing") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    add_second_inner_addresses(&net);
    // The name is in hosts while the connection is added, then only the
    // DNS server (which never answers) knows it.
    let etc = NetnsEtc::new(
        &net.west,
        &[
            ("hosts", &hosts("192.0.2.2 slow.test\n")),
            (
                "resolv.conf",
                "nameserver 10.1.0.1\noptions timeout:30 attempts:1\n",
            ),
        ],
    );
    let _dns = silent_dns_server(&net.west, "10.1.0.1");
    let conf = format!(
        "{}{}{}",
        setup(),
        conn("fast", "192.0.2.1", "192.0.2.2", INNER, ""),
        conn(
            "slow",
            "192.0.2.1",
            "slow.test",
            ("10.3.0.0/16", "10.4.0.0/16"),
            ""
        )
    );
    let east_conf = format!(
        "{}{}",
        setup(),
        conn("fast", "192.0.2.1", "192.0.2.2", INNER, "")
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &east_conf, SECRETS);
    wait_until(Duration::from_secs(15), "\"slow\" added", || {
        west.status().contains("\"slow\": 10.3.0.0/16")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    west.auto(&["--up", "fast"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through \"fast\"");

    etc.write("hosts", &hosts(""));
    let started = Instant::now();
    let up = std::process::Command::new("ip")
        .args(["netns", "exec", net.west.name(), "timeout", "60", IPSEC])
        .args(["auto", "--up", "slow"])
        .env("IPSEC_RUNDIR", west.dir.path().join("run"))
        .env("IPSEC_CONFS", west.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ipsec auto --up slow");
    // While the lookup hangs: status answers at once and says so, and
    // the other tunnel carries traffic.
    wait_until(Duration::from_secs(5), "status showing the lookup", || {
        west.status()
            .contains("\"slow\": resolving left=192.0.2.1 right=slow.test: lookup pending")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", west.status(), west.log()));
    let t = Instant::now();
    let status = west.status();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "status took {took:?}");
    assert!(status.contains("lookup pending"), "{status}");
    assert!(
        ping_once(&net.west, "10.1.0.1", "10.2.0.1"),
        "no ping through \"fast\" while the lookup hangs\n{}",
        west.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the checks ran after the lookup's timeout"
    );
    // The --up ends with the lookup's timeout (10 s), not the resolver's
    // 30 s, and fails.
    let out = up.wait_with_output().expect("--up slow ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert_ne!(out.status.code(), Some(124), "--up hung: {text}");
    assert!(
        text.contains("no answer from the resolver within 10s"),
        "{text}\n{}",
        west.log()
    );
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(25), "--up took {waited:?}");
    // The tunnel still passes.
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through \"fast\" after");
    drop(east);
}

#[test]
fn defaultroute_is_read_again_at_each_up() {
    if !can_run("defaultroute_is_read_again_at_each_up") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    add_address(&net.west, &net.west_if, "198.51.100.1");
    add_address(&net.east, &net.east_if, "198.51.100.2");
    net.west
        .exec_ok(&["ip", "route", "add", "default", "via", "192.0.2.2"])
        .expect("default route");
    let conf = format!(
        "{}{}",
        setup(),
        conn(
            "dr",
            "%defaultroute",
            "192.0.2.2",
            INNER,
            "\tleftnexthop=%defaultroute\n"
        )
    );
    let east_conf = format!(
        "{}{}{}",
        setup(),
        conn("a", "192.0.2.1", "192.0.2.2", INNER, ""),
        conn("b", "198.51.100.1", "192.0.2.2", INNER, "")
    );
    let east = Daemon::start(&net.east, &east_conf, SECRETS);
    let west = Daemon::start(&net.west, &conf, SECRETS);
    west.auto(&["--up", "dr"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    wait_east_conn(&east, &west, "a");
    let status = west.status();
    assert!(status.contains("192.0.2.1[@west]---192.0.2.2"), "{status}");

    net.west
        .exec_ok(&["ip", "route", "replace", "default", "via", "198.51.100.2"])
        .expect("new default route");
    west.auto(&["--down", "dr"], 0);
    let out = west.auto(&["--up", "dr"], 0);
    assert!(
        out.contains("hosts resolved again: left=198.51.100.1 right=192.0.2.2"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the moved tunnel");
    wait_east_conn(&east, &west, "b");
    let status = west.status();
    assert!(
        status.contains("198.51.100.1[@west]---198.51.100.2"),
        "{status}"
    );
}

/// The local `address:port`s of the UDP sockets in `ns`.
fn udp_sockets(ns: &Netns) -> Vec<String> {
    let o = ns.exec_ok(&["ss", "-ulnH"]).expect("ss -uln");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

#[test]
fn ready_closes_the_sockets_of_addresses_gone() {
    if !can_run("ready_closes_the_sockets_of_addresses_gone") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    add_second_inner_addresses(&net);
    add_address(&net.west, &net.west_if, "192.0.2.11");
    add_address(&net.west, &net.west_if, "192.0.2.12");
    let conf = format!(
        "{}{}{}",
        setup(),
        conn(
            "first",
            "192.0.2.1",
            "192.0.2.2",
            INNER,
            "\tencapsulation=yes\n"
        ),
        conn(
            "second",
            "192.0.2.11",
            "192.0.2.2",
            ("10.3.0.0/16", "10.4.0.0/16"),
            "\tencapsulation=yes\n"
        )
    );
    let west = Daemon::start(&net.west, &conf, SECRETS);
    let east = Daemon::start(&net.east, &conf, SECRETS);
    west.auto(&["--up", "first"], 0);
    west.auto(&["--up", "second"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through \"first\"");
    wait_ping(&net.west, "10.3.0.1", "10.4.0.1").expect("ping through \"second\"");
    let before = udp_sockets(&net.west);
    for s in [
        "192.0.2.11:500",
        "192.0.2.11:4500",
        "192.0.2.12:500",
        "192.0.2.12:4500",
    ] {
        assert!(before.iter().any(|b| b == s), "{s} not bound: {before:?}");
    }

    for a in ["192.0.2.11/24", "192.0.2.12/24"] {
        net.west
            .exec_ok(&["ip", "addr", "del", a, "dev", &net.west_if])
            .expect("remove an address");
    }
    let out = west.auto(&["--ready"], 0);
    let ifname = &net.west_if;
    for line in [
        format!("shutting down interface {ifname} 192.0.2.12:500"),
        format!("shutting down interface {ifname} 192.0.2.12:4500"),
        format!("shutting down interface {ifname} 192.0.2.11:500"),
        // "second" still has its Child SA on that address.
        format!("keeping interface {ifname} 192.0.2.11:4500: an installed Child SA"),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    assert!(
        west.log()
            .contains(&format!("shutting down interface {ifname} 192.0.2.12:500")),
        "{}",
        west.log()
    );
    wait_until(Duration::from_secs(10), "the sockets closed", || {
        let now = udp_sockets(&net.west);
        !now.iter()
            .any(|s| s == "192.0.2.12:500" || s == "192.0.2.12:4500" || s == "192.0.2.11:500")
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", udp_sockets(&net.west), west.log()));
    assert!(
        udp_sockets(&net.west)
            .iter()
            .any(|s| s == "192.0.2.11:4500"),
        "the 4500 socket of an installed Child SA was closed"
    );
    // The tunnel on the remaining address carries on.
    assert!(
        ping_once(&net.west, "10.1.0.1", "10.2.0.1")
            || wait_ping(&net.west, "10.1.0.1", "10.2.0.1").is_ok(),
        "no ping through \"first\" after --ready\n{}",
        west.log()
    );
    // Once "second" is down, the next --ready closes that 4500 socket too,
    // the userspace data plane's duplicate included.
    west.auto(&["--down", "second"], 0);
    let out = west.auto(&["--ready"], 0);
    assert!(
        out.lines().any(|l| l.contains("shutting down interface")
            && l.contains("192.0.2.11:4500")
            && !l.contains("keeps")),
        "{out}"
    );
    wait_until(Duration::from_secs(10), "the last socket closed", || {
        !udp_sockets(&net.west)
            .iter()
            .any(|s| s == "192.0.2.11:4500")
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", udp_sockets(&net.west), west.log()));
    assert!(
        ping_once(&net.west, "10.1.0.1", "10.2.0.1")
            || wait_ping(&net.west, "10.1.0.1", "10.2.0.1").is_ok()
    );
    drop(east);
}
