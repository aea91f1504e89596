//! xfrm_kernel: drives `dataplane::XfrmKernel` (the `Kernel` trait over
//! XFRM) against a kernel with ESP, one instance per network namespace.
//!
//! It runs inside the qemu VM of tests/kernelvm (guest-xfrm.sh), where the
//! namespaces `left` and `right` are joined by a veth pair (192.0.2.1 <->
//! 192.0.2.2). It puts the client addresses 10.1.0.1 (left) and 10.2.0.1
//! (right) on `lo`; the tunnel between 10.1.0.0/24 and 10.2.0.0/24 is set
//! up only through the trait: SPIs, mirrored SA pairs, Protect policies
//! whose routes carry `leftsourceip`, counters, ACQUIRE events.
//!
//! ```text
//! xfrm_kernel tunnel aes-gcm|aes-cbc-sha256|chacha20-poly1305 [--encap] [--transport]
//! xfrm_kernel ondemand
//! xfrm_kernel migrate [--encap]
//! ```
//! Exit status 0 when every check passed; each check prints `PASS ...`.

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use dataplane::xfrm::{in_netns, XfrmError};
use dataplane::{
    Encapsulation, IpNet, Kernel, KernelEvent, Mode, Policy, PolicyAction, PolicyId, SaId, SaPair,
    XfrmKernel, XfrmKernelConfig,
};
use esp::{AesKeySize, Expiry, Integrity, Lifetime, Limits, SaKeys, SaParams, Transform};

type Res<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("tunnel") => tunnel(args.get(1..).unwrap_or(&[])),
        Some("ondemand") => ondemand(),
        Some("migrate") => migrate(args.iter().any(|a| a == "--encap")),
        _ => Err("usage: xfrm_kernel tunnel ALG [--encap] | ondemand | migrate [--encap]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(cond: bool, what: String) -> Res<()> {
    if cond {
        println!("PASS {what}");
        Ok(())
    } else {
        Err(what)
    }
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn net(a: &str, prefix: u8) -> Res<IpNet> {
    IpNet::new(addr(a), prefix).map_err(|e| e.to_string())
}

/// `ip ARGS`, returning stdout.
fn ip(args: &[&str]) -> Res<String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn ping(count: u32) -> bool {
    ping_to(count, "10.2.0.1")
}

fn ping_to(count: u32, dst: &str) -> bool {
    let count = count.to_string();
    let args = [
        "netns", "exec", "left", "ping", "-c", &count, "-i", "0.2", "-W", "2", dst,
    ];
    match Command::new("ip").args(args).output() {
        Ok(o) => {
            print!("{}", String::from_utf8_lossy(&o.stdout));
            o.status.success()
        }
        Err(e) => {
            println!("cannot run ping: {e}");
            false
        }
    }
}

fn open(ns: &str) -> Res<XfrmKernel> {
    ip(&["-n", ns, "addr", "replace", client(ns), "dev", "lo"])?;
    XfrmKernel::open(XfrmKernelConfig {
        netns: Some(ns.into()),
        ..XfrmKernelConfig::default()
    })
    .map_err(|e| format!("{ns}: {e}"))
}

fn client(ns: &str) -> &'static str {
    if ns == "left" {
        "10.1.0.1/32"
    } else {
        "10.2.0.1/32"
    }
}

/// Keys of one direction: `seed` makes the two directions differ.
fn params(alg: &str, spi: u32, seed: u8) -> Res<SaParams> {
    let (transform, keys) = match alg {
        "aes-gcm" => (
            Transform::aes_gcm16(AesKeySize::Aes256),
            SaKeys::aead(&[seed; 36]),
        ),
        "chacha20-poly1305" => (Transform::chacha20_poly1305(), SaKeys::aead(&[seed; 36])),
        "aes-cbc-sha256" => (
            Transform::aes_cbc(AesKeySize::Aes128, Integrity::HmacSha2_256_128),
            SaKeys::cipher_integrity(&[seed; 16], &[seed ^ 0xff; 32]),
        ),
        other => return Err(format!("unknown algorithm {other}")),
    };
    Ok(SaParams {
        spi,
        transform,
        keys,
        esn: alg == "chacha20-poly1305",
        replay_window: 64,
        // A soft limit only reports (rekey now); the SA carries on.
        lifetime: Lifetime {
            soft: Limits {
                bytes: None,
                packets: Some(2),
            },
            hard: Limits::default(),
        },
    })
}

struct Side {
    k: XfrmKernel,
    local: IpAddr,
    net: IpNet,
    source: IpAddr,
    mode: Mode,
}

/// Installs mirrored SA pairs (id `id`) and Protect policies (id 1) on
/// both sides; returns the inbound SPIs of left and right.
fn bring_up(l: &mut Side, r: &mut Side, alg: &str, encap: bool, id: u64) -> Res<(u32, u32)> {
    let spi_l = l.k.allocate_spi().map_err(|e| e.to_string())?;
    let spi_r = r.k.allocate_spi().map_err(|e| e.to_string())?;
    check(
        spi_l >= 0x100 && spi_r >= 0x100,
        format!("SPIs allocated: left {spi_l:#x}, right {spi_r:#x}"),
    )?;
    let encapsulation = if encap {
        Encapsulation::Udp {
            local_port: 4500,
            remote_port: 4500,
        }
    } else {
        Encapsulation::None
    };
    let (l_end, r_end) = ((l.local, l.net), (r.local, r.net));
    for (me, peer, my_spi, peer_spi, out_seed, in_seed) in [
        (&mut *l, r_end, spi_l, spi_r, 0x11, 0x22),
        (&mut *r, l_end, spi_r, spi_l, 0x22, 0x11),
    ] {
        let pair = SaPair {
            id: SaId(id),
            outbound: params(alg, peer_spi, out_seed)?,
            inbound: params(alg, my_spi, in_seed)?,
            mode: me.mode,
            local: me.local,
            remote: peer.0,
            encapsulation,
            local_ts: vec![dataplane::Selector::from(me.net)],
            remote_ts: vec![dataplane::Selector::from(peer.1)],
        };
        me.k.install_sa_pair(pair).map_err(|e| e.to_string())?;
        me.k.install_policy(Policy {
            id: PolicyId(1),
            local: me.net,
            remote: peer.1,
            action: PolicyAction::Protect(SaId(id)),
            route_source: Some(me.source),
            route_via: None,
            protoport: dataplane::ProtoPort::ANY,
        })
        .map_err(|e| e.to_string())?;
    }
    Ok((spi_l, spi_r))
}

/// The two ends: tunnel mode between 10.1.0.0/24 and 10.2.0.0/24, or
/// transport mode between the hosts themselves.
fn sides(transport: bool) -> Res<(Side, Side)> {
    let (mode, ln, rn) = if transport {
        (
            Mode::Transport,
            net("192.0.2.1", 32)?,
            net("192.0.2.2", 32)?,
        )
    } else {
        (Mode::Tunnel, net("10.1.0.0", 24)?, net("10.2.0.0", 24)?)
    };
    Ok((
        Side {
            k: open("left")?,
            local: addr("192.0.2.1"),
            net: ln,
            source: addr("10.1.0.1"),
            mode,
        },
        Side {
            k: open("right")?,
            local: addr("192.0.2.2"),
            net: rn,
            source: addr("10.2.0.1"),
            mode,
        },
    ))
}

/// Waits for the soft EXPIRE of `sa`'s outbound SA through the trait.
fn soft_expire(k: &mut XfrmKernel, sa: SaId) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match k.poll_event() {
            Some(KernelEvent::Expire {
                sa: s,
                inbound: false,
                expiry: Expiry::Soft,
            }) if s == sa => return true,
            Some(other) => println!("event {other:?}"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

/// A UDP socket on port 4500 with ESP-in-UDP decapsulation in `ns`, as
/// pluto's NAT-T socket.
fn encap_socket(ns: &str, a: IpAddr) -> Res<UdpSocket> {
    in_netns(Path::new(&format!("/run/netns/{ns}")), || {
        UdpSocket::bind((a, 4500)).map_err(|source| XfrmError::Io {
            op: "bind UDP 4500".into(),
            source,
        })
    })
    .map_err(|e| format!("{ns}: {e}"))
    .and_then(|s| {
        XfrmKernel::prepare_ike_socket(&s, true).map_err(|e| format!("{ns}: {e}"))?;
        Ok(s)
    })
}

fn tunnel(args: &[String]) -> Res<()> {
    let alg = args.first().map(String::as_str).unwrap_or("aes-gcm");
    let encap = args.iter().any(|a| a == "--encap");
    let transport = args.iter().any(|a| a == "--transport");
    let name = format!(
        "{alg}{}{}",
        if encap { " ESP-in-UDP" } else { "" },
        if transport { " transport" } else { "" }
    );
    // In transport mode the hosts themselves talk; in tunnel mode their clients.
    let (target, remote_route) = if transport {
        ("192.0.2.2", "192.0.2.2/32")
    } else {
        ("10.2.0.1", "10.2.0.0/24")
    };
    let ping = |n| ping_to(n, target);
    let _sockets = if encap {
        Some((
            encap_socket("left", addr("192.0.2.1"))?,
            encap_socket("right", addr("192.0.2.2"))?,
        ))
    } else {
        None
    };
    let (mut l, mut r) = sides(transport)?;
    check(
        ping(1) == transport,
        format!("{name}: before the SAs, {target} is reachable only in transport mode (in clear)"),
    )?;
    let first = bring_up(&mut l, &mut r, alg, encap, 5)?;
    let route = ip(&["-n", "left", "route", "show", remote_route])?;
    if transport {
        check(
            route.trim().is_empty(),
            format!("{name}: no route for a host-to-host policy"),
        )?;
    } else {
        check(
            route.contains("via 192.0.2.2") && route.contains("src 10.1.0.1"),
            format!(
                "{name}: route to the remote subnet with leftsourceip: {}",
                route.trim()
            ),
        )?;
    }
    let state = ip(&["-n", "left", "xfrm", "state"])?;
    if encap {
        check(
            state.contains("encap type espinudp sport 4500 dport 4500"),
            format!("{name}: SAs are UDP-encapsulated"),
        )?;
    }
    let before = l.k.counters(SaId(5)).map_err(|e| e.to_string())?;
    check(
        before.outbound.packets == 0 && before.inbound.packets == 0,
        format!("{name}: counters start at 0"),
    )?;
    check(
        ping(3),
        format!("{name}: ping -> {target} through kernel ESP"),
    )?;
    check(
        soft_expire(&mut l.k, SaId(5)),
        format!("{name}: soft EXPIRE (2 packets) of the outbound SA through poll_event"),
    )?;
    let cl = l.k.counters(SaId(5)).map_err(|e| e.to_string())?;
    let cr = r.k.counters(SaId(5)).map_err(|e| e.to_string())?;
    println!("left {cl:?}\nright {cr:?}");
    check(
        cl.outbound.packets >= 3
            && cl.inbound.packets >= 3
            && cr.inbound.packets >= 3
            && cr.outbound.packets >= 3
            && cl.outbound.bytes > 0
            && cl.outbound.auth_errors == 0,
        format!(
            "{name}: counters through the trait rose (left out {} in {}, right out {} in {})",
            cl.outbound.packets, cl.inbound.packets, cr.outbound.packets, cr.inbound.packets
        ),
    )?;
    // A rekey as pluto does it: the new Child SA's pair (same selectors,
    // so the same reqid), the policy re-pointed to it, the old pair removed.
    let (spi_l, spi_r) = bring_up(&mut l, &mut r, alg, encap, 6)?;
    check(
        l.k.reqid(SaId(6)).is_some() && l.k.reqid(SaId(6)) == l.k.reqid(SaId(5)),
        format!("{name}: the rekeyed pair keeps the reqid"),
    )?;
    for side in [&mut l, &mut r] {
        side.k.remove_sa_pair(SaId(5)).map_err(|e| e.to_string())?;
    }
    check(ping(3), format!("{name}: ping through the rekeyed SAs"))?;
    let c = l.k.counters(SaId(6)).map_err(|e| e.to_string())?;
    check(
        c.outbound.packets >= 3 && c.inbound.packets >= 3,
        format!(
            "{name}: the new pair counts the traffic ({} out)",
            c.outbound.packets
        ),
    )?;
    l.k.remove_sa_pair(SaId(6)).map_err(|e| e.to_string())?;
    check(
        !ping(1),
        format!("{name}: remove_sa_pair stops the traffic"),
    )?;
    let state = ip(&["-n", "left", "xfrm", "state"])?;
    // (The kernel's own larval SA of the trapped ping, SPI 0, may remain.)
    let spis = [first.0, first.1, spi_l, spi_r];
    check(
        spis.iter()
            .all(|spi| !state.contains(&format!("spi {spi:#010x}"))),
        format!("{name}: left's SAs {spis:x?} are gone"),
    )?;
    let report = l.k.flush().map_err(|e| e.to_string())?;
    drop(l);
    drop(r);
    // (The per-socket bypass policies of the NAT-T sockets stay: `socket in/out`.)
    let policies = ip(&["-n", "left", "xfrm", "policy"])?;
    check(
        !policies.contains(" dir "),
        format!("{name}: flush removed left's policies ({report:?})"),
    )?;
    let route = ip(&["-n", "left", "route", "show", remote_route])?;
    check(
        route.trim().is_empty(),
        format!("{name}: flush removed the route"),
    )?;
    let state = ip(&["-n", "right", "xfrm", "state"])?;
    check(
        state.trim().is_empty(),
        format!("{name}: dropping right's XfrmKernel removed its SAs"),
    )
}

fn ondemand() -> Res<()> {
    // The trapped packet needs a route to reach the policy lookup, as
    // %defaultroute gives one.
    ip(&[
        "-n",
        "left",
        "route",
        "replace",
        "default",
        "via",
        "192.0.2.2",
    ])?;
    let result = ondemand_steps();
    ip(&["-n", "left", "route", "del", "default"])?;
    result
}

fn ondemand_steps() -> Res<()> {
    let (mut l, mut r) = sides(false)?;
    let trap = Policy {
        id: PolicyId(1),
        local: l.net,
        remote: r.net,
        action: PolicyAction::Trap { hold: false },
        route_source: Some(l.source),
        route_via: None,
        protoport: dataplane::ProtoPort::ANY,
    };
    l.k.install_policy(trap).map_err(|e| e.to_string())?;
    check(!ping(1), "ondemand: the first packet is trapped".into())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut acquire = None;
    while acquire.is_none() && Instant::now() < deadline {
        match l.k.poll_event() {
            Some(ev @ KernelEvent::Acquire { .. }) => acquire = Some(ev),
            Some(other) => println!("event {other:?}"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    check(
        acquire
            == Some(KernelEvent::Acquire {
                policy: PolicyId(1),
                src: addr("10.1.0.1"),
                dst: addr("10.2.0.1"),
                protocol: 1,
            }),
        format!("ondemand: ACQUIRE through the trait: {acquire:?}"),
    )?;
    // The negotiation's result: SA pairs, and the Protect policy replaces the trap.
    let _spis = bring_up(&mut l, &mut r, "aes-gcm", false, 8)?;
    check(
        ping(3),
        "ondemand: ping through the SAs that answered the ACQUIRE".into(),
    )?;
    let c = l.k.counters(SaId(8)).map_err(|e| e.to_string())?;
    check(
        c.outbound.packets >= 3,
        format!(
            "ondemand: counters rose ({} packets out)",
            c.outbound.packets
        ),
    )
}

/// The peer moves: right takes a new address (192.0.2.3), and left, told
/// by IKE in pluto's case, moves its pair there with
/// `Kernel::update_sa_endpoints` (XFRM_MSG_MIGRATE). Right's own address
/// change is not a `Kernel` call (the trait moves the peer's end only), so
/// right migrates its SAs and policies with `Xfrm::migrate` directly.
/// Traffic continues through the same SPIs, the counters keep counting
/// (the sequence numbers were kept: no replay errors), and left's route
/// follows the peer.
fn migrate(encap: bool) -> Res<()> {
    use dataplane::xfrm::{
        Direction, Encap, IpsecProto, Migration, PolicyId as XPolicyId, Selector, Subnet,
    };
    let name = if encap {
        "migrate ESP-in-UDP"
    } else {
        "migrate"
    };
    let _sockets = if encap {
        Some((
            encap_socket("left", addr("192.0.2.1"))?,
            encap_socket("right", addr("192.0.2.2"))?,
        ))
    } else {
        None
    };
    let (mut l, mut r) = sides(false)?;
    let (_, spi_r) = bring_up(&mut l, &mut r, "aes-gcm", encap, 7)?;
    check(
        ping(3),
        format!("{name}: ping through the SAs before the move"),
    )?;
    let before = l.k.counters(SaId(7)).map_err(|e| e.to_string())?;
    let spis_before = ip(&["-n", "left", "xfrm", "state"])?;

    ip(&["-n", "right", "addr", "add", "192.0.2.3/24", "dev", "vr"])?;
    let _new_socket = if encap {
        Some(encap_socket("right", addr("192.0.2.3"))?)
    } else {
        None
    };
    let encapsulation = if encap {
        Encapsulation::Udp {
            local_port: 4500,
            remote_port: 4500,
        }
    } else {
        Encapsulation::None
    };
    l.k.update_sa_endpoints(SaId(7), addr("192.0.2.3"), encapsulation)
        .map_err(|e| format!("left update_sa_endpoints: {e}"))?;
    // Right: its end of every SA and template goes from .2 to .3.
    let reqid = r.k.reqid(SaId(7)).ok_or("right has no reqid for pair 7")?;
    let sub = |a: &str, p: u8| Subnet::new(addr(a), p).map_err(|e| e.to_string());
    let out_sel = Selector::new(sub("10.2.0.0", 24)?, sub("10.1.0.0", 24)?);
    let in_sel = Selector::new(sub("10.1.0.0", 24)?, sub("10.2.0.0", 24)?);
    let (old, new, peer) = (addr("192.0.2.2"), addr("192.0.2.3"), addr("192.0.2.1"));
    let out_move = Migration {
        old_src: old,
        old_dst: peer,
        new_src: new,
        new_dst: peer,
        proto: IpsecProto::Esp,
        mode: dataplane::xfrm::Mode::Tunnel,
        reqid,
    };
    let in_move = Migration {
        old_src: peer,
        old_dst: old,
        new_src: peer,
        new_dst: new,
        ..out_move
    };
    let udp = Encap {
        src_port: 4500,
        dst_port: 4500,
        original_addr: None,
    };
    let udp = encap.then_some(&udp);
    // Right's inbound SA changes its id (its destination); the handle's
    // ledger follows it so that dropping right's XfrmKernel removes it.
    let r_in = |dst| dataplane::xfrm::SaId {
        dst,
        spi: spi_r,
        proto: IpsecProto::Esp,
        mark: None,
    };
    let moved_in = [(r_in(old), r_in(new))];
    for (sel, dir, mv, moved) in [
        (out_sel, Direction::Out, out_move, &[][..]),
        (in_sel, Direction::In, in_move, &moved_in[..]),
        (in_sel, Direction::Fwd, in_move, &[][..]),
    ] {
        let id = XPolicyId {
            selector: sel,
            dir,
            mark: None,
        };
        r.k.xfrm()
            .migrate(&id, &[mv], udp, moved)
            .map_err(|e| format!("right: {e}"))?;
    }
    let state = ip(&["-n", "left", "xfrm", "state"])?;
    println!("{state}");
    check(
        state.contains("src 192.0.2.1 dst 192.0.2.3")
            && state.contains("src 192.0.2.3 dst 192.0.2.1")
            && !state.contains("192.0.2.2"),
        format!("{name}: left's SAs now name the peer's new address"),
    )?;
    let spi_lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| l.split("spi ").nth(1))
            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    };
    check(
        {
            let (mut a, mut b) = (spi_lines(&spis_before), spi_lines(&state));
            a.sort();
            b.sort();
            !a.is_empty() && a == b
        },
        format!("{name}: the SPIs are the same after the move"),
    )?;
    let route = ip(&["-n", "left", "route", "show", "10.2.0.0/24"])?;
    check(
        route.contains("via 192.0.2.3"),
        format!("{name}: left's route follows the peer: {}", route.trim()),
    )?;
    check(ping(3), format!("{name}: ping continues after the move"))?;
    let after = l.k.counters(SaId(7)).map_err(|e| e.to_string())?;
    let right = r.k.xfrm().list_sas().map_err(|e| e.to_string())?;
    let replay: u32 = right.iter().map(|s| s.counters.replay_errors).sum();
    println!("left before {before:?}\nleft after {after:?}");
    check(
        after.outbound.packets >= before.outbound.packets + 3
            && after.inbound.packets >= before.inbound.packets + 3
            && replay == 0,
        format!(
            "{name}: the counters went on ({} -> {} out), no replay errors at right",
            before.outbound.packets, after.outbound.packets
        ),
    )?;
    if encap {
        let wire = ip(&["-n", "right", "xfrm", "state"])?;
        check(
            wire.contains("encap type espinudp sport 4500 dport 4500"),
            format!("{name}: right's moved SAs keep ESP-in-UDP"),
        )?;
    }
    ip(&["-n", "right", "addr", "del", "192.0.2.3/24", "dev", "vr"])?;
    Ok(())
}
