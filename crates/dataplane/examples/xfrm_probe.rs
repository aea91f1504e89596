//! xfrm_probe: exercises ferroswan's XFRM backend against a kernel with ESP.
//!
//! It runs inside the qemu VM of tests/kernelvm (guest-xfrm.sh), where two
//! network namespaces `left` and `right` are joined by a veth pair
//! (192.0.2.1 <-> 192.0.2.2, 2001:db8::1 <-> 2001:db8::2) and carry the
//! protected addresses 198.51.100.1/.2 and 2001:db8:1::1/::2 on `lo`.
//! Everything XFRM is installed through `dataplane::xfrm`, never `ip xfrm`.
//!
//! ```text
//! xfrm_probe probe
//! xfrm_probe tunnel aes-gcm|aes-cbc-sha256|aes-cbc-sha512|chacha20-poly1305 [--v6] [--esn] [--encap] [--transport] [--window N] [--soft-packets N]
//! xfrm_probe ondemand
//! xfrm_probe lifetimes
//! ```
//! Exit status 0 when every check passed; each check prints `PASS ...` or `FAIL ...`.

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use dataplane::xfrm::*;

const LEFT: &str = "/run/netns/left";
const RIGHT: &str = "/run/netns/right";

type Res<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("probe") => probe(),
        Some("tunnel") => tunnel(args.get(1..).unwrap_or(&[])),
        Some("ondemand") => ondemand(),
        Some("lifetimes") => lifetimes(),
        _ => Err("usage: xfrm_probe probe | tunnel ALG [--v6] [--esn] [--encap] [--transport] | ondemand | lifetimes".into()),
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

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn open(ns: &str) -> Res<Xfrm> {
    Xfrm::open_in_netns(Path::new(ns)).map_err(|e| format!("open XFRM in {ns}: {e}"))
}

fn probe() -> Res<()> {
    let p = kernel_supports_esp();
    println!("kernel_supports_esp(): {p}");
    check(
        p.is_supported(),
        "kernel_supports_esp() is true in the VM".into(),
    )
}

/// Addresses of one test topology.
struct Topo {
    outer_l: IpAddr,
    outer_r: IpAddr,
    inner_l: IpAddr,
    inner_r: IpAddr,
    v6: bool,
}

impl Topo {
    fn new(v6: bool) -> Topo {
        if v6 {
            Topo {
                outer_l: ip("2001:db8::1"),
                outer_r: ip("2001:db8::2"),
                inner_l: ip("2001:db8:1::1"),
                inner_r: ip("2001:db8:1::2"),
                v6,
            }
        } else {
            Topo {
                outer_l: ip("192.0.2.1"),
                outer_r: ip("192.0.2.2"),
                inner_l: ip("198.51.100.1"),
                inner_r: ip("198.51.100.2"),
                v6,
            }
        }
    }

    /// Pings inner_r from inner_l in `left`, waiting up to `wait_s` seconds
    /// for the last reply; true when every reply came.
    fn ping(&self, count: u32, wait_s: u32) -> bool {
        let (count, wait) = (count.to_string(), wait_s.to_string());
        let (src, dst) = (self.inner_l.to_string(), self.inner_r.to_string());
        let mut args = vec!["netns", "exec", "left", "ping"];
        if self.v6 {
            args.push("-6");
        }
        args.extend_from_slice(&["-c", &count, "-i", "0.2", "-W", &wait, "-I", &src, &dst]);
        match Command::new("ip").args(&args).output() {
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
}

/// Deterministic test keys (each SA its own).
fn key(len: usize, seed: u8) -> SecretKey {
    let bytes: Vec<u8> = (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    SecretKey::new(&bytes)
}

fn crypto(alg: &str, seed: u8) -> Res<SaCrypto> {
    Ok(match alg {
        "aes-gcm" => SaCrypto::Aead {
            algorithm: AeadAlgorithm::AesGcm16,
            key: key(36, seed),
        },
        "chacha20-poly1305" => SaCrypto::Aead {
            algorithm: AeadAlgorithm::ChaCha20Poly1305,
            key: key(36, seed),
        },
        "aes-cbc-sha256" => SaCrypto::CipherAuth {
            cipher: CipherAlgorithm::AesCbc,
            cipher_key: key(16, seed),
            integrity: IntegrityAlgorithm::HmacSha256_128,
            integrity_key: key(32, seed.wrapping_add(100)),
        },
        "aes-cbc-sha512" => SaCrypto::CipherAuth {
            cipher: CipherAlgorithm::AesCbc,
            cipher_key: key(32, seed),
            integrity: IntegrityAlgorithm::HmacSha512_256,
            integrity_key: key(64, seed.wrapping_add(100)),
        },
        other => return Err(format!("unknown algorithm {other}")),
    })
}

struct TunnelOpts {
    alg: String,
    v6: bool,
    esn: bool,
    encap: bool,
    transport: bool,
    window: u32,
    soft_packets: Option<u64>,
}

/// Installs a tunnel between `left` and `right` like pluto would: the
/// inbound SPI allocated by each receiver (ALLOCSPI, completed by UPDSA),
/// the outbound SA added (NEWSA), in/out policies with templates.
/// Returns the SA ids as (left->right, right->left).
fn install(l: &Xfrm, r: &Xfrm, t: &Topo, o: &TunnelOpts, reqid: u32) -> Res<(SaId, SaId)> {
    let mode = if o.transport {
        Mode::Transport
    } else {
        Mode::Tunnel
    };
    let (src_in, dst_in) = if o.transport {
        (t.outer_l, t.outer_r)
    } else {
        (t.inner_l, t.inner_r)
    };
    let spi_lr = r
        .alloc_spi(&SpiRequest {
            mode,
            ..SpiRequest::esp(t.outer_l, t.outer_r, reqid)
        })
        .map_err(|e| e.to_string())?;
    let spi_rl = l
        .alloc_spi(&SpiRequest {
            mode,
            ..SpiRequest::esp(t.outer_r, t.outer_l, reqid + 1)
        })
        .map_err(|e| e.to_string())?;
    println!("allocated SPIs 0x{spi_lr:08x} (left->right) 0x{spi_rl:08x} (right->left)");
    let encap = o.encap.then_some(Encap {
        src_port: 4500,
        dst_port: 4500,
        original_addr: None,
    });
    let sa = |src: IpAddr, dst: IpAddr, spi: u32, reqid: u32, seed: u8| -> Res<SaConfig> {
        Ok(SaConfig {
            src,
            dst,
            spi,
            proto: IpsecProto::Esp,
            mode,
            reqid,
            selector: o
                .transport
                .then(|| Selector::new(Subnet::host(src), Subnet::host(dst))),
            crypto: crypto(&o.alg, seed)?,
            replay: Replay {
                window: o.window,
                esn: o.esn,
            },
            encap,
            lifetimes: Lifetimes {
                soft_packets: o.soft_packets,
                ..Lifetimes::default()
            },
            mark: None,
        })
    };
    let lr = sa(t.outer_l, t.outer_r, spi_lr, reqid, 1)?;
    let rl = sa(t.outer_r, t.outer_l, spi_rl, reqid + 1, 2)?;
    l.add_sa(&lr).map_err(|e| e.to_string())?;
    r.update_sa(&lr).map_err(|e| e.to_string())?;
    r.add_sa(&rl).map_err(|e| e.to_string())?;
    l.update_sa(&rl).map_err(|e| e.to_string())?;

    let tmpl = |src, dst, reqid| {
        if o.transport {
            Template::esp_transport(reqid)
        } else {
            Template::esp_tunnel(src, dst, reqid)
        }
    };
    let sel_lr = Selector::new(Subnet::host(src_in), Subnet::host(dst_in));
    let sel_rl = Selector::new(Subnet::host(dst_in), Subnet::host(src_in));
    for (x, p) in [
        (
            l,
            Policy::ipsec(
                sel_lr,
                Direction::Out,
                tmpl(t.outer_l, t.outer_r, reqid),
                100,
            ),
        ),
        (
            l,
            Policy::ipsec(
                sel_rl,
                Direction::In,
                tmpl(t.outer_r, t.outer_l, reqid + 1),
                100,
            ),
        ),
        (
            r,
            Policy::ipsec(
                sel_rl,
                Direction::Out,
                tmpl(t.outer_r, t.outer_l, reqid + 1),
                100,
            ),
        ),
        (
            r,
            Policy::ipsec(
                sel_lr,
                Direction::In,
                tmpl(t.outer_l, t.outer_r, reqid),
                100,
            ),
        ),
    ] {
        x.add_policy(&p).map_err(|e| e.to_string())?;
    }
    Ok((lr.id(), rl.id()))
}

fn counters(x: &Xfrm, id: &SaId) -> Res<SaInfo> {
    x.get_sa(id).map_err(|e| e.to_string())
}

/// Opens a UDP socket on port 4500 with ESP-in-UDP decapsulation in `ns`.
fn encap_socket(ns: &str, addr: IpAddr) -> Res<UdpSocket> {
    in_netns(Path::new(ns), || {
        let s = UdpSocket::bind((addr, 4500)).map_err(|source| XfrmError::Io {
            op: "bind UDP 4500".into(),
            source,
        })?;
        enable_espinudp(&s)?;
        Ok(s)
    })
    .map_err(|e| format!("{ns}: {e}"))
}

fn tunnel(args: &[String]) -> Res<()> {
    let alg = args.first().cloned().ok_or("tunnel needs an algorithm")?;
    let has = |f: &str| args.iter().any(|a| a == f);
    let o = TunnelOpts {
        alg,
        v6: has("--v6"),
        esn: has("--esn"),
        encap: has("--encap"),
        transport: has("--transport"),
        window: match args.iter().position(|a| a == "--window") {
            Some(i) => args
                .get(i + 1)
                .and_then(|w| w.parse().ok())
                .ok_or("--window needs a number")?,
            None if has("--esn") => 256,
            None => 32,
        },
        soft_packets: match args.iter().position(|a| a == "--soft-packets") {
            Some(i) => Some(
                args.get(i + 1)
                    .and_then(|w| w.parse().ok())
                    .ok_or("--soft-packets needs a number")?,
            ),
            None => None,
        },
    };
    let mut t = Topo::new(o.v6);
    if o.transport {
        // Transport mode protects the outer addresses themselves.
        t.inner_l = t.outer_l;
        t.inner_r = t.outer_r;
    }
    let name = format!(
        "{} {}{}{}{}",
        o.alg,
        if o.v6 { "IPv6" } else { "IPv4" },
        if o.transport { " transport" } else { " tunnel" },
        if o.esn { " ESN" } else { "" },
        if o.encap { " ESP-in-UDP" } else { "" }
    );
    let (l, r) = (open(LEFT)?, open(RIGHT)?);
    let _sockets = if o.encap {
        Some((
            encap_socket(LEFT, t.outer_l)?,
            encap_socket(RIGHT, t.outer_r)?,
        ))
    } else {
        None
    };
    run_tunnel(&l, &r, &t, &o, &name)
}

fn run_tunnel(l: &Xfrm, r: &Xfrm, t: &Topo, o: &TunnelOpts, name: &str) -> Res<()> {
    let mut mon = XfrmMonitor::open_in_netns(Path::new(LEFT)).map_err(|e| e.to_string())?;
    let result = (|| {
        let (lr, rl) = install(l, r, t, o, 10)?;
        let before = counters(l, &lr)?;
        check(
            before.counters.packets == 0 && !before.larval,
            format!("{name}: SA installed, counters start at 0"),
        )?;
        check(
            t.ping(3, 2),
            format!(
                "{name}: ping {} -> {} through kernel ESP",
                t.inner_l, t.inner_r
            ),
        )?;
        for (x, id, side) in [
            (l, &lr, "left"),
            (l, &rl, "left"),
            (r, &lr, "right"),
            (r, &rl, "right"),
        ] {
            let info = counters(x, id)?;
            println!(
                "{side} SA 0x{:08x}: {} bytes, {} packets, oseq {}, seq {}, esn {}, encap {:?}",
                id.spi,
                info.counters.bytes,
                info.counters.packets,
                info.oseq,
                info.seq,
                info.esn,
                info.encap
            );
            check(
                info.counters.packets >= 3 && info.counters.bytes > 0 && info.esn == o.esn,
                format!(
                    "{name}: {side} SA 0x{:08x} counters rose to {} packets",
                    id.spi, info.counters.packets
                ),
            )?;
        }
        if let Some(limit) = o.soft_packets {
            // The kernel signals the rekey point once the SA passed the soft limit.
            let ev = mon
                .wait_for(
                    Duration::from_secs(5),
                    |e| matches!(e, XfrmEvent::Expire(x) if !x.hard && x.sa.id.spi == lr.spi),
                )
                .map_err(|e| e.to_string())?;
            check(
                ev.is_some(),
                format!(
                    "{name}: soft EXPIRE for SA 0x{:08x} after {limit} packets",
                    lr.spi
                ),
            )?;
        }
        // Without the outbound SA the traffic must stop: it really went through ESP.
        l.delete_sa(&lr).map_err(|e| e.to_string())?;
        check(
            !t.ping(1, 1),
            format!("{name}: ping fails once the left->right SA is deleted"),
        )
    })();
    let fl = l.flush_installed();
    let fr = r.flush_installed();
    result?;
    let (fl, fr) = (
        fl.map_err(|e| e.to_string())?,
        fr.map_err(|e| e.to_string())?,
    );
    // The kernel's own acquire state (SPI 0, made when the trapped ping of
    // the negative check met the monitor) is not ferroswan's; it times out.
    let left_over = l
        .list_sas()
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|s| s.id.spi != 0)
        .count()
        + l.list_policies().map_err(|e| e.to_string())?.len();
    check(
        left_over == 0 && fl.policies == 2 && fr.policies == 2 && fr.sas == 2,
        format!("{name}: flush_installed removed everything ({fl:?}, {fr:?})"),
    )
}

/// --route/--ondemand at the kernel level: a trap policy, the first packet
/// makes an ACQUIRE naming the policy and reqid, ferroswan installs the
/// SAs in answer, and the next packets pass through ESP.
fn ondemand() -> Res<()> {
    let (l, r) = (open(LEFT)?, open(RIGHT)?);
    let mut mon = XfrmMonitor::open_in_netns(Path::new(LEFT)).map_err(|e| e.to_string())?;
    let t = Topo::new(false);
    let result = (|| {
        let reqid = 30;
        let sel = Selector::new(Subnet::host(t.inner_l), Subnet::host(t.inner_r));
        let trap = Policy::trap(sel, Template::esp_tunnel(t.outer_l, t.outer_r, reqid), 100);
        l.add_policy(&trap).map_err(|e| e.to_string())?;
        let index = l
            .list_policies()
            .map_err(|e| e.to_string())?
            .iter()
            .find(|p| p.id() == trap.id())
            .map(|p| p.index)
            .ok_or("trap policy not listed")?;
        check(
            !t.ping(1, 1),
            "ondemand: the first packet is held by the trap".into(),
        )?;
        let ev = mon
            .wait_for(Duration::from_secs(5), |e| {
                matches!(e, XfrmEvent::Acquire(_))
            })
            .map_err(|e| e.to_string())?;
        let Some(XfrmEvent::Acquire(acq)) = ev else {
            return Err("ondemand: no ACQUIRE within 5 s".into());
        };
        println!("ACQUIRE: {acq:?}");
        check(
            acq.policy.index == index
                && acq.reqid() == Some(reqid)
                && acq.selector.dst.addr == t.inner_r,
            format!(
                "ondemand: ACQUIRE names policy index {index}, reqid {reqid}, dst {}",
                t.inner_r
            ),
        )?;
        // Answer it: the trap already is the outbound IPsec policy; install the rest.
        l.delete_policy(&trap.id()).map_err(|e| e.to_string())?;
        let o = TunnelOpts {
            alg: "aes-gcm".into(),
            v6: false,
            esn: false,
            encap: false,
            transport: false,
            window: 32,
            soft_packets: None,
        };
        let (lr, _) = install(&l, &r, &t, &o, reqid)?;
        check(
            t.ping(3, 2),
            "ondemand: ping passes once the SAs answer the ACQUIRE".into(),
        )?;
        let info = counters(&l, &lr)?;
        check(
            info.counters.packets >= 3,
            format!("ondemand: SA counted {} packets", info.counters.packets),
        )
    })();
    let _ = l.flush_installed();
    let _ = r.flush_installed();
    result
}

/// Soft and hard lifetimes of a real ESP SA produce EXPIRE events.
fn lifetimes() -> Res<()> {
    let l = open(LEFT)?;
    let mut mon = XfrmMonitor::open_in_netns(Path::new(LEFT)).map_err(|e| e.to_string())?;
    let sa = SaConfig {
        src: ip("192.0.2.1"),
        dst: ip("192.0.2.2"),
        spi: 0x5001,
        proto: IpsecProto::Esp,
        mode: Mode::Tunnel,
        reqid: 50,
        selector: None,
        crypto: crypto("aes-gcm", 9)?,
        replay: Replay::default(),
        encap: None,
        lifetimes: Lifetimes {
            soft_add_seconds: Some(1),
            hard_add_seconds: Some(2),
            ..Lifetimes::default()
        },
        mark: Some(Mark {
            value: 0x50,
            mask: 0xff,
        }),
    };
    let start = Instant::now();
    l.add_sa(&sa).map_err(|e| e.to_string())?;
    let got = counters(&l, &sa.id())?;
    check(
        got.id.mark == sa.mark,
        "lifetimes: SA with a mark reads back by (dst, spi, mark)".into(),
    )?;
    let mut soft = None;
    let mut hard = None;
    while hard.is_none() && start.elapsed() < Duration::from_secs(10) {
        match mon
            .recv(Some(Duration::from_secs(1)))
            .map_err(|e| e.to_string())?
        {
            Some(XfrmEvent::Expire(e)) if e.sa.id.spi == sa.spi => {
                println!(
                    "EXPIRE hard={} spi=0x{:08x} after {:?}",
                    e.hard,
                    e.sa.id.spi,
                    start.elapsed()
                );
                if e.hard {
                    hard = Some(start.elapsed());
                } else {
                    soft.get_or_insert(start.elapsed());
                }
            }
            _ => {}
        }
    }
    let _ = l.flush_installed();
    check(
        soft.is_some(),
        "lifetimes: soft EXPIRE arrived (rekey signal)".into(),
    )?;
    check(hard.is_some(), "lifetimes: hard EXPIRE arrived".into())?;
    let gone = l.get_sa(&sa.id()).err().is_some_and(|e| e.is_not_found());
    check(
        gone,
        "lifetimes: the kernel removed the SA at the hard limit".into(),
    )
}
