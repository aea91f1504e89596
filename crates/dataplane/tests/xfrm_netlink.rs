//! The XFRM netlink client against this machine's kernel, each test in its
//! own network namespace. This kernel has XFRM netlink (policies, SPI
//! allocation, acquire, expire) but may lack ESP; the kernel-ESP paths are
//! proven in the qemu VM (tests/xfrm_vm.rs).

mod xfrm_support;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use dataplane::xfrm::*;
use xfrm_support::{run, wait_until, Netns};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}
fn subnet(s: &str) -> Subnet {
    s.parse().expect("subnet")
}

#[test]
fn spi_allocation_is_in_range_distinct_and_flushed() {
    let ns = Netns::new("spi");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let mut seen = HashSet::new();
    for i in 0..16 {
        let req = SpiRequest {
            min: 0x4000,
            max: 0x4fff,
            ..SpiRequest::esp(ip("192.0.2.2"), ip("192.0.2.1"), 100 + i)
        };
        let spi = x.alloc_spi(&req).expect("alloc_spi");
        assert!(
            (0x4000..=0x4fff).contains(&spi),
            "SPI 0x{spi:x} out of range"
        );
        assert!(seen.insert(spi), "SPI 0x{spi:x} handed out twice");
    }
    // The kernel holds one larval SA per SPI; `ip xfrm state` agrees.
    let listed = x.list_sas().expect("list");
    assert_eq!(listed.len(), 16);
    assert!(listed.iter().all(|s| s.larval && seen.contains(&s.id.spi)));
    let shown = ns.ip(&["xfrm", "state"]);
    for spi in &seen {
        assert!(shown.contains(&format!("spi 0x{spi:08x}")), "{shown}");
    }
    // A larval SA reads back by its id.
    let spi = *seen.iter().next().expect("one");
    let id = SaId {
        dst: ip("192.0.2.1"),
        spi,
        proto: IpsecProto::Esp,
        mark: None,
    };
    let got = x.get_sa(&id).expect("get_sa");
    assert_eq!(got.id.spi, spi);
    assert_eq!(got.src, ip("192.0.2.2"));
    assert_eq!(got.counters.packets, 0);

    let r = x.flush_installed().expect("flush");
    assert_eq!(r.sas, 16);
    assert!(x.list_sas().expect("list").is_empty());
    let e = x.get_sa(&id).expect_err("deleted");
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn spi_request_rejects_reserved_range_and_mixed_families() {
    let ns = Netns::new("spibad");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let mut req = SpiRequest::esp(ip("192.0.2.2"), ip("192.0.2.1"), 1);
    req.min = 1;
    assert!(matches!(x.alloc_spi(&req), Err(XfrmError::Invalid { .. })));
    let req = SpiRequest::esp(ip("2001:db8::1"), ip("192.0.2.1"), 1);
    assert!(matches!(x.alloc_spi(&req), Err(XfrmError::Invalid { .. })));
}

fn policies() -> Vec<Policy> {
    let tunnel = Template::esp_tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 9);
    let back = Template::esp_tunnel(ip("192.0.2.2"), ip("192.0.2.1"), 9);
    let out_sel = Selector::new(subnet("198.51.100.0/24"), subnet("203.0.113.0/24"));
    let in_sel = Selector::new(subnet("203.0.113.0/24"), subnet("198.51.100.0/24"));
    let mut https = Selector::new(subnet("198.51.100.7/32"), subnet("203.0.113.9/32"));
    https.proto = 6;
    https.dst_port = Some(443);
    let v6 = Selector::new(subnet("2001:db8:1::/48"), subnet("2001:db8:2::/48"));
    let mut marked = Policy::drop(v6, Direction::Out, 50);
    marked.mark = Some(Mark {
        value: 7,
        mask: 0xff,
    });
    vec![
        Policy::ipsec(out_sel, Direction::Out, tunnel, 1000),
        Policy::ipsec(in_sel, Direction::In, back, 1000),
        Policy::ipsec(in_sel, Direction::Fwd, back, 1000),
        Policy::pass(https, Direction::Out, 100),
        Policy::drop(https, Direction::In, 100),
        marked,
    ]
}

#[test]
fn policy_add_list_delete_round_trip_matches_ip_xfrm() {
    let ns = Netns::new("pol");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let want = policies();
    for p in &want {
        x.add_policy(p).expect("add_policy");
    }
    let e = x
        .add_policy(&want[0])
        .expect_err("second add of the same policy");
    assert!(e.is_exists(), "{e}");

    let got = x.list_policies().expect("list");
    assert_eq!(got.len(), want.len());
    for p in &want {
        let g = got
            .iter()
            .find(|g| g.id() == p.id())
            .unwrap_or_else(|| panic!("{} missing from {got:?}", p.id()));
        assert_eq!(g.action, p.action);
        assert_eq!(g.priority, p.priority);
        assert_eq!(g.templates, p.templates);
        assert_ne!(g.index, 0);
    }

    // iproute2 reads the same policies back.
    let shown = ns.ip(&["xfrm", "policy"]);
    for needle in [
        "src 198.51.100.0/24 dst 203.0.113.0/24",
        "dir out priority 1000",
        "dir fwd priority 1000",
        "tmpl src 192.0.2.1 dst 192.0.2.2",
        "proto esp reqid 9 mode tunnel",
        "src 198.51.100.7/32 dst 203.0.113.9/32 proto tcp dport 443",
        "dir in action block priority 100",
        "dir out action block priority 50",
        "mark 0x7/0xff",
        "src 2001:db8:1::/48 dst 2001:db8:2::/48",
    ] {
        assert!(
            shown.contains(needle),
            "`ip xfrm policy` lacks {needle:?}:\n{shown}"
        );
    }

    // No lifetime limits: an XFRM_INF time limit would make the kernel
    // expire the policy at its first timer run.
    let stats = ns.ip(&["-s", "xfrm", "policy"]);
    assert_eq!(
        stats
            .matches("expire add: soft 0(sec), hard 0(sec)")
            .count(),
        want.len(),
        "{stats}"
    );
    assert_eq!(
        stats
            .matches("limit: soft (INF)(bytes), hard (INF)(bytes)")
            .count(),
        want.len()
    );

    // Delete one by id; it is gone from both views, and a second delete says so.
    x.delete_policy(&want[3].id()).expect("delete");
    assert_eq!(x.list_policies().expect("list").len(), want.len() - 1);
    assert!(!ns.ip(&["xfrm", "policy"]).contains("dir out priority 100 "));
    let e = x.delete_policy(&want[3].id()).expect_err("already deleted");
    assert!(e.is_not_found(), "{e}");

    // update_policy replaces in place (trap -> block), keeping the count.
    let mut blocked = want[0].clone();
    blocked.action = PolicyAction::Block;
    blocked.templates.clear();
    x.update_policy(&blocked).expect("update");
    let got = x.list_policies().expect("list");
    assert_eq!(got.len(), want.len() - 1);
    let g = got
        .iter()
        .find(|g| g.id() == blocked.id())
        .expect("present");
    assert_eq!(g.action, PolicyAction::Block);
    assert!(g.templates.is_empty());
}

#[test]
fn flush_installed_removes_only_ferroswans_objects() {
    let ns = Netns::new("flush");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    // Someone else's policy and larval SA.
    ns.ip(&[
        "xfrm",
        "policy",
        "add",
        "dir",
        "out",
        "src",
        "10.1.0.0/16",
        "dst",
        "10.2.0.0/16",
        "action",
        "block",
    ]);
    ns.ip(&[
        "xfrm",
        "state",
        "allocspi",
        "src",
        "192.0.2.9",
        "dst",
        "192.0.2.8",
        "proto",
        "esp",
    ]);
    for p in policies() {
        x.add_policy(&p).expect("add");
    }
    x.alloc_spi(&SpiRequest::esp(ip("192.0.2.2"), ip("192.0.2.1"), 1))
        .expect("alloc");
    let r = x.flush_installed().expect("flush");
    assert_eq!(
        r,
        FlushReport {
            sas: 1,
            policies: policies().len()
        }
    );
    let left = x.list_policies().expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].selector.src, subnet("10.1.0.0/16"));
    let sas = x.list_sas().expect("list");
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].src, ip("192.0.2.9"));
    // Nothing left of ours: a second flush removes nothing.
    assert_eq!(x.flush_installed().expect("flush"), FlushReport::default());
}

#[test]
fn flush_reqids_removes_a_range_whoever_installed_it() {
    let ns = Netns::new("reqid");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    // A previous daemon's objects (installed by iproute2 here), in and out of the range.
    ns.ip(&[
        "xfrm",
        "policy",
        "add",
        "dir",
        "out",
        "src",
        "10.1.0.0/16",
        "dst",
        "10.2.0.0/16",
        "tmpl",
        "src",
        "192.0.2.1",
        "dst",
        "192.0.2.2",
        "proto",
        "esp",
        "reqid",
        "16384",
        "mode",
        "tunnel",
    ]);
    ns.ip(&[
        "xfrm",
        "policy",
        "add",
        "dir",
        "out",
        "src",
        "10.3.0.0/16",
        "dst",
        "10.4.0.0/16",
        "tmpl",
        "src",
        "192.0.2.1",
        "dst",
        "192.0.2.2",
        "proto",
        "esp",
        "reqid",
        "7",
        "mode",
        "tunnel",
    ]);
    ns.ip(&[
        "xfrm",
        "policy",
        "add",
        "dir",
        "in",
        "src",
        "10.5.0.0/16",
        "dst",
        "10.6.0.0/16",
        "action",
        "block",
    ]);
    ns.ip(&[
        "xfrm",
        "state",
        "allocspi",
        "src",
        "192.0.2.9",
        "dst",
        "192.0.2.8",
        "proto",
        "esp",
        "reqid",
        "16388",
    ]);
    ns.ip(&[
        "xfrm",
        "state",
        "allocspi",
        "src",
        "192.0.2.9",
        "dst",
        "192.0.2.8",
        "proto",
        "esp",
        "reqid",
        "9",
    ]);
    let r = x.flush_reqids(16384..=u32::MAX).expect("flush_reqids");
    assert_eq!(
        r,
        FlushReport {
            sas: 1,
            policies: 1
        }
    );
    let left = x.list_policies().expect("list");
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left
        .iter()
        .all(|p| p.templates.iter().all(|t| t.reqid == 7)));
    let sas = x.list_sas().expect("list");
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].reqid, 9);
}

/// A namespace with a veth pair (both ends inside), 192.0.2.1/24 on `va`
/// and a route to 203.0.113.0/24 through 192.0.2.2 (`vb`).
fn routed_ns(tag: &str) -> Netns {
    let ns = Netns::new(tag);
    ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "va"]);
    ns.ip(&["addr", "add", "192.0.2.2/24", "dev", "vb"]);
    ns.ip(&["link", "set", "va", "up"]);
    ns.ip(&["link", "set", "vb", "up"]);
    ns.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "192.0.2.2",
        "dev",
        "va",
    ]);
    ns
}

#[test]
fn trap_policy_and_a_ping_produce_an_acquire() {
    let ns = routed_ns("acq");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let mut mon = XfrmMonitor::open_in_netns(&ns.path()).expect("monitor");
    let sel = Selector::new(subnet("192.0.2.1/32"), subnet("203.0.113.0/24"));
    let trap = Policy::trap(
        sel,
        Template::esp_tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 4242),
        2000,
    );
    x.add_policy(&trap).expect("trap");
    let index = x
        .list_policies()
        .expect("list")
        .into_iter()
        .find(|p| p.id() == trap.id())
        .expect("trap listed")
        .index;

    // The ping is trapped (no SA), so it fails; the kernel asks for an SA.
    let ping = ns.exec(
        "ping",
        &["-c", "1", "-W", "1", "-I", "192.0.2.1", "203.0.113.5"],
    );
    assert!(
        !ping.status.success(),
        "ping must not pass a trap without SA"
    );
    let ev = mon
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, XfrmEvent::Acquire(_))
        })
        .expect("monitor")
        .expect("an ACQUIRE within 5 s");
    let XfrmEvent::Acquire(acq) = ev else {
        unreachable!("filtered for Acquire")
    };
    assert_eq!(acq.policy.index, index);
    assert_eq!(acq.policy.dir, Direction::Out);
    assert_eq!(acq.policy.selector, sel);
    assert_eq!(acq.reqid(), Some(4242));
    assert_eq!(acq.dst, Some(ip("192.0.2.2")));
    assert_eq!(acq.src, Some(ip("192.0.2.1")));
    assert_eq!(acq.proto, Some(IpsecProto::Esp));
    assert_eq!(acq.selector.dst.addr, ip("203.0.113.5"));
    assert_eq!(acq.selector.src.addr, ip("192.0.2.1"));
    assert_eq!(acq.selector.proto, 1, "ICMP triggered it");
}

#[test]
fn drop_and_pass_shunts_and_trap_priority_steer_traffic() {
    // Two namespaces: loopback traffic inside one would bypass XFRM.
    let ns = Netns::new("shunt");
    let peer = Netns::new("shpeer");
    ns.ip(&[
        "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &peer.name,
    ]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "va"]);
    peer.ip(&["addr", "add", "192.0.2.2/24", "dev", "vb"]);
    ns.ip(&["link", "set", "va", "up"]);
    peer.ip(&["link", "set", "vb", "up"]);
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let pings = || {
        ns.exec(
            "ping",
            &["-c", "1", "-W", "1", "-I", "192.0.2.1", "192.0.2.2"],
        )
        .status
        .success()
    };
    assert!(
        wait_until(Duration::from_secs(5), pings),
        "baseline ping without policies"
    );
    let sel = Selector::new(subnet("192.0.2.1/32"), subnet("192.0.2.2/32"));

    x.add_policy(&Policy::drop(sel, Direction::Out, 200))
        .expect("drop shunt");
    assert!(!pings(), "a drop shunt must stop the ping");

    x.update_policy(&Policy::pass(sel, Direction::Out, 200))
        .expect("pass shunt");
    assert!(pings(), "a pass shunt lets it through in clear");

    // A trap on a wider selector with a better (lower) priority wins over
    // the pass shunt; removing it lets the pass shunt act again.
    let wide = Selector::new(subnet("192.0.2.0/24"), subnet("192.0.2.0/24"));
    let trap = Policy::trap(
        wide,
        Template::esp_tunnel(ip("192.0.2.1"), ip("192.0.2.2"), 77),
        100,
    );
    x.add_policy(&trap).expect("trap");
    assert!(!pings(), "the higher-priority trap holds the packet");
    x.delete_policy(&trap.id()).expect("delete trap");
    assert!(pings(), "pass shunt again");
    assert_eq!(
        x.flush_installed().expect("flush"),
        FlushReport {
            sas: 0,
            policies: 1
        }
    );
}

/// Libreswan's own trap (`--route`): a transport-mode template without
/// addresses and reqid 0. It fires on this kernel as well.
#[test]
fn libreswan_style_transport_trap_produces_an_acquire() {
    let ns = routed_ns("acqtr");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let mut mon = XfrmMonitor::open_in_netns(&ns.path()).expect("monitor");
    let sel = Selector::new(subnet("192.0.2.1/32"), subnet("203.0.113.0/24"));
    x.add_policy(&Policy::trap(sel, Template::esp_transport(0), 2000))
        .expect("trap");
    let shown = ns.ip(&["xfrm", "policy"]);
    assert!(
        shown.contains("proto esp reqid 0 mode transport"),
        "{shown}"
    );
    let ping = ns.exec(
        "ping",
        &["-c", "1", "-W", "1", "-I", "192.0.2.1", "203.0.113.5"],
    );
    assert!(!ping.status.success());
    let ev = mon
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, XfrmEvent::Acquire(_))
        })
        .expect("monitor")
        .expect("an ACQUIRE within 5 s");
    let XfrmEvent::Acquire(acq) = ev else {
        unreachable!("filtered for Acquire")
    };
    assert_eq!(acq.reqid(), Some(0));
    assert_eq!(acq.templates.first().map(|t| t.mode), Some(Mode::Transport));
    // Transport mode: the SA wanted is between the packet's own addresses.
    assert_eq!(acq.dst, Some(ip("203.0.113.5")));
    assert_eq!(acq.src, Some(ip("192.0.2.1")));
}

#[test]
fn a_larval_sa_timing_out_produces_a_hard_expire() {
    let ns = Netns::new("exp");
    run(
        "ip",
        &[
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-q",
            "-w",
            "net.core.xfrm_acq_expires=1",
        ],
    );
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let mut mon = XfrmMonitor::open_in_netns(&ns.path()).expect("monitor");
    let spi = x
        .alloc_spi(&SpiRequest::esp(ip("192.0.2.2"), ip("192.0.2.1"), 5))
        .expect("alloc");
    let ev = mon
        .wait_for(Duration::from_secs(10), |e| {
            matches!(e, XfrmEvent::Expire(_))
        })
        .expect("monitor")
        .expect("an EXPIRE within 10 s");
    let XfrmEvent::Expire(exp) = ev else {
        unreachable!("filtered for Expire")
    };
    assert!(exp.hard);
    assert_eq!(exp.sa.id.spi, spi);
    assert_eq!(exp.sa.id.dst, ip("192.0.2.1"));
    assert!(wait_until(Duration::from_secs(2), || x
        .list_sas()
        .map(|l| l.is_empty())
        .unwrap_or(false)));
}

#[test]
fn kernel_supports_esp_agrees_with_iproute2() {
    let ns = Netns::new("probe");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let probe = x.probe_esp();
    // The probe leaves nothing behind.
    assert!(x.list_sas().expect("list").is_empty());
    let out = ns.exec(
        "ip",
        &[
            "xfrm",
            "state",
            "add",
            "src",
            "192.0.2.1",
            "dst",
            "192.0.2.2",
            "proto",
            "esp",
            "spi",
            "0x1001",
            "mode",
            "tunnel",
            "enc",
            "cbc(aes)",
            "0x0102030405060708090a0b0c0d0e0f10",
            "auth-trunc",
            "hmac(sha256)",
            "0x0102030405060708090a0b0c0d0e0f100102030405060708090a0b0c0d0e0f10",
            "128",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        assert!(
            probe.is_supported(),
            "ip installs ESP SAs but the probe says: {probe}"
        );
    } else {
        assert!(
            !probe.is_supported(),
            "ip failed ({stderr}) but the probe says supported"
        );
        let text = probe.to_string();
        if stderr.contains("Requested type not found") {
            assert_eq!(probe.reason(), Some(EspUnsupportedReason::NoEsp), "{text}");
            assert!(text.contains("no ESP transform"), "{text}");
            assert!(text.contains("errno 93"), "{text}");
        }
        eprintln!("kernel_supports_esp() here: {text}");
        // Installing a real SA fails the same way, with an actionable message.
        let sa = SaConfig {
            src: ip("192.0.2.1"),
            dst: ip("192.0.2.2"),
            spi: 0x2002,
            proto: IpsecProto::Esp,
            mode: Mode::Tunnel,
            reqid: 1,
            selector: None,
            crypto: SaCrypto::Aead {
                algorithm: AeadAlgorithm::AesGcm16,
                key: SecretKey::new(&[3; 20]),
            },
            replay: Replay::default(),
            encap: None,
            lifetimes: Lifetimes::default(),
            mark: None,
        };
        let e = x.add_sa(&sa).expect_err("no ESP here");
        assert!(e.is_unsupported_by_kernel(), "{e}");
        assert!(
            e.to_string()
                .contains("add SA esp spi 0x00002002 to 192.0.2.2"),
            "{e}"
        );
    }
    // The free function probes the caller's namespace the same way.
    assert_eq!(kernel_supports_esp().is_supported(), probe.is_supported());
}

#[test]
fn migrate_moves_the_templates_of_a_tunnels_policies_to_the_new_peer() {
    let ns = Netns::new("mig");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let want = policies();
    for p in want.iter().take(3) {
        x.add_policy(p).expect("add_policy");
    }
    let out_move = Migration {
        old_src: ip("192.0.2.1"),
        old_dst: ip("192.0.2.2"),
        new_src: ip("192.0.2.1"),
        new_dst: ip("198.51.100.200"),
        proto: IpsecProto::Esp,
        mode: Mode::Tunnel,
        reqid: 9,
    };
    let in_move = Migration {
        old_src: ip("192.0.2.2"),
        old_dst: ip("192.0.2.1"),
        new_src: ip("198.51.100.200"),
        new_dst: ip("192.0.2.1"),
        ..out_move
    };
    let encap = Encap {
        src_port: 4500,
        dst_port: 31337,
        original_addr: None,
    };
    // No SA matches here (this kernel may lack ESP): only templates move.
    x.migrate(&want[0].id(), &[out_move], Some(&encap), &[])
        .expect("migrate out");
    for p in &want[1..3] {
        x.migrate(&p.id(), &[in_move], None, &[])
            .expect("migrate in/fwd");
    }
    let got = x.list_policies().expect("list");
    let tmpl = |p: &Policy| {
        got.iter()
            .find(|g| g.id() == p.id())
            .map(|g| g.templates.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        tmpl(&want[0]),
        vec![Template::esp_tunnel(
            ip("192.0.2.1"),
            ip("198.51.100.200"),
            9
        )]
    );
    for p in &want[1..3] {
        assert_eq!(
            tmpl(p),
            vec![Template::esp_tunnel(
                ip("198.51.100.200"),
                ip("192.0.2.1"),
                9
            )]
        );
    }
    let shown = ns.ip(&["xfrm", "policy"]);
    assert!(
        shown.contains("tmpl src 192.0.2.1 dst 198.51.100.200"),
        "{shown}"
    );
    assert!(
        shown.contains("tmpl src 198.51.100.200 dst 192.0.2.1"),
        "{shown}"
    );
    assert!(!shown.contains("192.0.2.2"), "{shown}");

    // Moving again from the old addresses matches no template: refused.
    let e = x
        .migrate(&want[0].id(), &[out_move], None, &[])
        .expect_err("nothing left at the old addresses");
    assert_eq!(e.errno(), Some(libc::ENODATA), "{e}");
    // A policy that does not exist (ENOENT or, on newer kernels, ENODATA).
    let e = x
        .migrate(&want[3].id(), &[out_move], None, &[])
        .expect_err("no such policy");
    assert!(e.is_not_found() || e.errno() == Some(libc::ENODATA), "{e}");
    // Requests the kernel could not take are refused before sending.
    assert!(x.migrate(&want[0].id(), &[], None, &[]).is_err());
    let mixed = Migration {
        new_dst: ip("2001:db8::2"),
        ..out_move
    };
    assert!(x.migrate(&want[0].id(), &[mixed], None, &[]).is_err());
    x.flush_installed().expect("flush");
}

#[test]
fn a_marked_spi_request_makes_a_marked_larval_sa() {
    let ns = Netns::new("spimark");
    let x = Xfrm::open_in_netns(&ns.path()).expect("open");
    let mark = Mark {
        value: 20,
        mask: 0xffff_ffff,
    };
    let req = SpiRequest {
        mark: Some(mark),
        ..SpiRequest::esp(ip("192.0.2.2"), ip("192.0.2.1"), 7)
    };
    let spi = x.alloc_spi(&req).expect("alloc_spi with a mark");
    let shown = ns.ip(&["xfrm", "state"]);
    assert!(shown.contains("mark 0x14/0xffffffff"), "{shown}");
    let listed = x.list_sas().expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|s| (s.id.spi, s.id.mark))
            .collect::<Vec<_>>(),
        [(spi, Some(mark))]
    );
    // The mark is part of the SA's key: without it the SA is not found.
    let unmarked = SaId {
        dst: ip("192.0.2.1"),
        spi,
        proto: IpsecProto::Esp,
        mark: None,
    };
    assert!(x.get_sa(&unmarked).is_err());
    x.delete_sa(&SaId {
        mark: Some(mark),
        ..unmarked
    })
    .expect("delete with the mark");
    assert!(ns.ip(&["xfrm", "state"]).trim().is_empty());
}
