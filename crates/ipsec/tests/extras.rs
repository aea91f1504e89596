//! What Libreswan's default updown adds beyond routes, with the userspace
//! data plane: `mark=`/`vti-interface=` are refused at `--add` (they need
//! protostack=xfrm; never silently ignored), and NFLOG rules
//! (`nflog-group=` per connection, `nflog-all=` for the daemon) appear in
//! nftables at up, count the tunnel's packets, and are gone at down and
//! when the daemon stops. Marks and VTI devices with XFRM are proven in
//! the qemu VM (`cargo test -p dataplane --test xfrm_vm`).
//!
//! Needs root and nft (CI has both); skipped with a message elsewhere.

mod common;

use std::time::Duration;

use common::{can_run, tun_config, wait_ping, Daemon};
use testkit::{wait_until, NetPair, Netns};

const SECRETS: &str = "@west @east : PSK \"extras test secret, not for production\"\n";

/// `nft list table inet NAME` in `ns`, or None when there is no such table.
fn nft_table(ns: &Netns, name: &str) -> Option<String> {
    let o = ns
        .exec(&["nft", "list", "table", "inet", name])
        .expect("run nft");
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The packets counted by the rules of `table` whose text contains `what`.
fn counted(table: &str, what: &str) -> u64 {
    table
        .lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "packets")?;
            w.get(i + 1)?.parse::<u64>().ok()
        })
        .sum()
}

fn have_nft(test: &str) -> bool {
    let ok = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP {test}: nft (nftables) is not installed");
    }
    ok
}

#[test]
fn marks_and_vti_are_refused_without_xfrm() {
    if !can_run("marks_and_vti_are_refused_without_xfrm") {
        return;
    }
    let ns = Netns::new("xmark").expect("namespace");
    let conf = tun_config("", "\tmark=20/0xffffffff\n")
        + "conn vti\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\
           \tmark-in=20\n\tmark-out=21\n\tvti-interface=vti7\n\tauto=ignore\n\n\
           conn plain\n\tleft=192.0.2.1\n\tright=192.0.2.3\n\tauthby=secret\n\
           \tnflog-group=3\n\tauto=ignore\n";
    let d = Daemon::start(&ns, &conf, SECRETS);
    for name in ["tun", "vti"] {
        let o = d.ipsec(&["auto", "--add", name]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_ne!(o.status.code(), Some(0), "{name} added: {out}");
        assert!(
            out.contains(&format!(
                "\"{name}\": failed to add connection: mark=/vti-interface= need protostack=xfrm"
            )),
            "{name}: {out}"
        );
    }
    // NFLOG needs no XFRM.
    d.auto(&["--add", "plain"], 0);
    let status = d.status();
    assert!(status.contains("\"plain\""), "{status}");
    assert!(!status.contains("\"vti\""), "{status}");
}

#[test]
fn nflog_rules_follow_the_tunnel_and_count_its_packets() {
    if !can_run("nflog_rules_follow_the_tunnel_and_count_its_packets")
        || !have_nft("nflog_rules_follow_the_tunnel_and_count_its_packets")
    {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let west = Daemon::start(
        &net.west,
        &tun_config("\tnflog-all=7\n", "\tnflog-group=5\n"),
        SECRETS,
    );
    let east = Daemon::start(&net.east, &tun_config("", ""), SECRETS);
    // nflog-all: one table for the daemon from start-up, on the TUN device.
    let all = nft_table(&net.west, "ferroswan_nflog_all").expect("nflog-all table");
    assert!(
        all.contains("oifname \"ipsec0\"") && all.contains("log prefix \"all-ipsec\" group 7"),
        "{all}"
    );
    assert!(nft_table(&net.west, "ferroswan_nflog_1").is_none());
    assert!(nft_table(&net.east, "ferroswan_nflog_all").is_none());

    // Status shows the group as Libreswan does; east's connection has none.
    let status = west.status();
    assert!(
        status.contains(
            "\"tun\":   nflog-group: 5; mark: unset; vti-iface:unset; vti-routing:no; vti-shared:no; nic-offload:auto;"
        ),
        "{status}"
    );
    assert!(east
        .status()
        .contains("\"tun\":   nflog-group: unset; mark: unset;"));

    west.auto(&["--up", "tun"], 0);
    let table = nft_table(&net.west, "ferroswan_nflog_1").expect("the connection's table at up");
    assert!(
        table.contains(
            "ip saddr 10.1.0.0/16 ip daddr 10.2.0.0/16 oifname \"ipsec0\" counter packets"
        ) && table.contains("log prefix \"tun\" group 5"),
        "{table}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    let o = net
        .west
        .exec(&[
            "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", "10.1.0.1", "10.2.0.1",
        ])
        .expect("ping");
    assert!(o.status.success(), "pings lost");
    // Out through the output hook, the replies in through the input hook.
    let table = nft_table(&net.west, "ferroswan_nflog_1").expect("table");
    let out = counted(&table, "oifname \"ipsec0\"");
    let inb = counted(&table, "iifname \"ipsec0\"");
    assert!(out >= 4 && inb >= 4, "out {out}, in {inb}:\n{table}");
    let all = nft_table(&net.west, "ferroswan_nflog_all").expect("nflog-all table");
    assert!(counted(&all, "oifname \"ipsec0\"") >= 4, "{all}");
    // Traffic outside the tunnel is not counted.
    let before = counted(&table, "counter");
    let _ = net.west.exec(&["ping", "-c", "1", "-W", "1", "192.0.2.2"]);
    let table = nft_table(&net.west, "ferroswan_nflog_1").expect("table");
    assert_eq!(counted(&table, "counter"), before, "{table}");

    west.auto(&["--down", "tun"], 0);
    wait_until(
        Duration::from_secs(10),
        "the connection's table to go",
        || nft_table(&net.west, "ferroswan_nflog_1").is_none(),
    )
    .expect("the NFLOG table is gone at down");
    assert!(nft_table(&net.west, "ferroswan_nflog_all").is_some());
    // Up again (the same table), then --delete takes the rules with it.
    west.auto(&["--up", "tun"], 0);
    assert!(nft_table(&net.west, "ferroswan_nflog_1").is_some());
    west.auto(&["--delete", "tun"], 0);
    wait_until(
        Duration::from_secs(10),
        "the table to go at --delete",
        || nft_table(&net.west, "ferroswan_nflog_1").is_none(),
    )
    .expect("the NFLOG table is gone at --delete");
    // A stopping daemon removes the daemon's table too.
    let o = west.ipsec(&["whack", "--shutdown"]);
    assert!(o.status.success(), "{o:?}");
    wait_until(Duration::from_secs(10), "the nflog-all table to go", || {
        nft_table(&net.west, "ferroswan_nflog_all").is_none()
    })
    .expect("the nflog-all table is gone at shutdown");
    drop(east);
}

/// The rules ferroswan writes for the XFRM data plane (`rt ipsec exists`,
/// `meta ipsec exists`) load into this kernel's nftables and are removed
/// with their table (the traffic itself needs kernel ESP: the VM).
#[test]
fn xfrm_nflog_rules_load_into_nftables() {
    if !can_run("xfrm_nflog_rules_load_into_nftables")
        || !have_nft("xfrm_nflog_rules_load_into_nftables")
    {
        return;
    }
    let ns = Netns::new("xnflog").expect("namespace");
    let c = conf::Config::parse_str(
        &tun_config("", "\tnflog-group=5\n"),
        std::path::Path::new("/t/ipsec.conf"),
        &conf::LoadOptions::default(),
    )
    .expect("configuration");
    let spec = c.conn("tun").expect("conn tun");
    let tables = [
        (
            "ferroswan_nflog_1",
            pluto::nflog::conn_rules(spec, true, 5, None),
        ),
        (pluto::nflog::ALL_TABLE, pluto::nflog::all_rules(7, None)),
    ];
    for (name, rules) in &tables {
        let script = rules.script(name);
        let mut child = ns
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run nft");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write the script");
        let out = child.wait_with_output().expect("nft");
        assert!(
            out.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = nft_table(&ns, name).expect("the table");
        assert!(
            table.contains("rt ipsec exists") && table.contains("meta ipsec exists"),
            "{table}"
        );
        // Loading it again replaces it (the same rules, not twice as many).
        let again = ns
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn();
        let mut again = again.expect("run nft");
        again
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write");
        assert!(again.wait().expect("nft").success());
        let twice = nft_table(&ns, name).expect("the table");
        assert_eq!(
            twice.matches("counter").count(),
            table.matches("counter").count(),
            "{twice}"
        );
    }
    let c = nft_table(&ns, "ferroswan_nflog_1").expect("table");
    assert!(
        c.contains("ip saddr 10.1.0.0/16 ip daddr 10.2.0.0/16 rt ipsec exists counter packets 0"),
        "{c}"
    );
}
