//! The flows every matrix row runs: bring the tunnel up from one side,
//! send traffic both ways, and then delete it, rekey it or let the peer
//! vanish.

use std::process::Stdio;
use std::time::Duration;

use crate::setup::{newest, sw_one_sa_each, Auth, Ids, Scenario, Setup, CONN};

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// ferroswan's daemon (`ipsec auto`).
    Ferroswan,
    /// strongSwan's charon (`swanctl`).
    Strongswan,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Ferroswan => "ferroswan",
            Side::Strongswan => "strongSwan",
        })
    }
}

fn no_sas(status: &str) -> bool {
    status.contains("IKE SAs: total(0)") && status.contains("IPsec SAs: total(0)")
}

fn one_sa_each(status: &str) -> bool {
    status.contains("IKE SAs: total(1)") && status.contains("IPsec SAs: total(1)")
}

/// Brings the tunnel up: `ipsec auto --up` when ferroswan initiates,
/// `swanctl --initiate` otherwise (or waits for `auto=start`); both ends
/// must name the scenario's algorithms.
pub fn establish(s: &Setup, sc: &Scenario) {
    if sc.ferroswan_initiates && sc.auto == "start" {
        s.wait_fs("ferroswan's auto=start Child SA", |st| {
            st.contains("STATE_V2_ESTABLISHED_CHILD_SA")
        });
    } else if sc.ferroswan_initiates {
        let out = s.fs.auto(&["--up", CONN], 0);
        for want in [sc.suite.cipher, sc.suite.group, "established Child SA"] {
            assert!(out.contains(want), "no {want:?} in:\n{out}\n{}", s.diag());
        }
        // strongSwan fakes a NAT (kernel-libipsec): ESP-in-UDP on 4500.
        assert!(out.contains("{ESPinUDP"), "{out}");
    } else {
        s.swanctl(&["--initiate", "--child", CONN, "--timeout", "20"]);
        s.wait_fs("ferroswan's Child SA", |st| {
            st.contains("STATE_V2_ESTABLISHED_CHILD_SA")
        });
    }
    s.wait_sw("strongSwan's IKE and Child SA", |l| {
        l.contains("ESTABLISHED") && l.contains("INSTALLED")
    });
    let sas = s.sw().list_sas();
    assert!(
        sas.contains(sc.suite.sw_ike_sa),
        "strongSwan does not name {}:\n{sas}",
        sc.suite.sw_ike_sa
    );
    check_authentication(s, sc);
}

/// Each end logged how it authenticated the other: the method (and, for
/// PSK, the peer's ID type) the scenario configures.
fn check_authentication(s: &Setup, sc: &Scenario) {
    let sw_id = match sc.ids {
        Ids::Ip => format!("ID_IPV4_ADDR '{}'", s.sw_end.addr),
        Ids::Fqdn => format!("ID_FQDN '{}'", s.fs_end.peer_id),
        Ids::UserFqdn => format!("ID_USER_FQDN '{}'", s.fs_end.peer_id),
    };
    let fs_id = match sc.ids {
        Ids::Ip => s.fs_end.addr.clone(),
        _ => s.sw_end.peer_id.clone(),
    };
    let (fs_says, sw_says) = match sc.auth {
        Auth::Psk => (
            format!("authenticated peer using authby=secret and {sw_id}"),
            format!("authentication of '{fs_id}' with pre-shared key successful"),
        ),
        // strongSwan signs with PKCS#1 v1.5 (its default), ferroswan with
        // RSASSA-PSS (Libreswan's default for authby=rsasig).
        Auth::RawRsa => (
            "authenticated peer '2048-bit RSASSA-PKCS1-v1_5 with SHA2_256' digital signature"
                .to_string(),
            format!("authentication of '{fs_id}' with RSA_EMSA_PSS_SHA2_256_SALT_32 successful"),
        ),
        Auth::RawEcdsa => (
            "authenticated peer '256-bit ECDSA with SHA2_256' digital signature".to_string(),
            format!("authentication of '{fs_id}' with ECDSA_WITH_SHA256_DER successful"),
        ),
    };
    let log = s.fs.log();
    assert!(log.contains(&fs_says), "no {fs_says:?} in:\n{log}");
    if !sc.ferroswan_initiates {
        let reply = log
            .lines()
            .find(|l| l.contains("sent IKE_SA_INIT reply {"))
            .unwrap_or_default();
        for want in [sc.suite.cipher, sc.suite.group] {
            assert!(reply.contains(want), "no {want:?} in:\n{log}");
        }
    }
    let log = s.sw().log();
    assert!(
        log.contains(&sw_says),
        "no {sw_says:?} in charon's log:\n{log}"
    );
}

/// Deletes the IKE SA from `side` and waits until neither end has SAs.
pub fn delete(s: &Setup, side: Side) {
    match side {
        Side::Ferroswan => {
            s.fs.auto(&["--down", CONN], 0);
        }
        Side::Strongswan => {
            s.swanctl(&["--terminate", "--ike", CONN, "--timeout", "10"]);
        }
    }
    s.wait_fs("ferroswan without SAs", no_sas);
    s.wait_sw("strongSwan without SAs", |l| !l.contains("ESTABLISHED"));
}

/// Up, ping both ways, a TCP transfer, the scenario's own checks, delete.
pub fn traffic_and_delete(sc: Scenario, deleter: Side) {
    let s = Setup::start(&sc);
    establish(&s, &sc);
    s.ping_both_ways();
    s.tcp_transfer();
    if sc.narrow {
        // Both ends installed the responder's /24s, not the /16s the
        // initiator proposed.
        let sas = s.sw().list_sas();
        for want in [
            format!("local  {}", narrowed(&s.sw_end.inner)),
            format!("remote {}", narrowed(&s.fs_end.inner)),
        ] {
            assert!(sas.contains(&want), "no {want:?} in:\n{sas}");
        }
        let st = s.fs.status();
        let want = format!(
            "{}==={}",
            narrowed(&s.fs_end.inner),
            narrowed(&s.sw_end.inner)
        );
        assert!(st.contains(&want), "no {want:?} in:\n{st}");
    }
    if sc.nat {
        // ferroswan detected the NAT; the end in front of it saw the
        // initiator's translated address.
        let ike = s.fs_ike_state();
        assert_eq!(ike["nat"], true, "{ike}");
        if sc.ferroswan_initiates {
            let sas = s.sw().list_sas();
            assert!(
                sas.contains(&format!("{}[4500]", crate::common::nat::NAT_PUBLIC)),
                "strongSwan does not see ferroswan behind the NAT:\n{sas}"
            );
        } else {
            let remote = ike["remote"].as_str().unwrap_or_default();
            assert!(
                remote.starts_with(&format!("{}:", crate::common::nat::NAT_PUBLIC)),
                "ferroswan does not see strongSwan behind the NAT: {ike}"
            );
        }
    }
    delete(&s, deleter);
}

fn narrowed(inner: &str) -> String {
    let base = inner.rsplit_once('.').map_or(inner, |(a, _)| a);
    format!("{base}.0/24")
}

/// A ping from ferroswan's side every 200 ms in the background.
struct BackgroundPing(Option<std::process::Child>);

impl BackgroundPing {
    fn start(s: &Setup, count: u32) -> BackgroundPing {
        let deadline = (count / 5 + 10).to_string();
        let count = count.to_string();
        let child = s
            .fs_ns()
            .command("ping")
            .args(["-c", &count, "-i", "0.2", "-W", "1", "-w", &deadline])
            .args(["-I", &s.fs_end.inner, &s.sw_end.inner])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ping");
        BackgroundPing(Some(child))
    }

    /// Waits for ping to finish (its -w deadline bounds it); its summary.
    fn finish(mut self) -> String {
        let child = self.0.take().expect("ping running");
        let out = child.wait_with_output().expect("ping output");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for BackgroundPing {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Child SA and then IKE SA rekeyed by `rekeyer` while a ping runs
/// (with PFS: ferroswan's default `pfs=yes` proposes a key exchange that
/// strongSwan only accepts when its ESP proposals name one);
/// no ping may be lost, and afterwards each end has one IKE SA and one
/// Child SA that still carry traffic and delete cleanly.
pub fn rekeys(ferroswan_initiates: bool, rekeyer: Side, pfs: bool) {
    let mut sc = Scenario::new(ferroswan_initiates);
    sc.pfs = pfs;
    if !pfs {
        sc.ferroswan_extra.push_str("\tpfs=no\n");
    }
    let count = match rekeyer {
        Side::Ferroswan => {
            // Child SA rekey after 6 s, IKE SA rekey after 9 s, the Child
            // SA again (on the new IKE SA) after 12 s.
            sc.ferroswan_extra
                .push_str("\tsalifetime=9s\n\tikelifetime=12s\n\trekeymargin=3s\n\trekeyfuzz=0%\n");
            75
        }
        Side::Strongswan => 25,
    };
    let s = Setup::start(&sc);
    establish(&s, &sc);
    s.ping_both_ways();
    let st = s.fs.status();
    let (ike0, child0) = (newest(&st, "IKE"), newest(&st, "IPsec"));
    let ping = BackgroundPing::start(&s, count);
    if rekeyer == Side::Strongswan {
        s.swanctl(&["--rekey", "--child", CONN]);
    }
    s.wait_fs("a rekeyed Child SA", |st| {
        newest(st, "IPsec").is_some() && newest(st, "IPsec") != child0
    });
    if rekeyer == Side::Strongswan {
        s.swanctl(&["--rekey", "--ike", CONN]);
    }
    s.wait_fs("a rekeyed IKE SA", |st| {
        newest(st, "IKE").is_some() && newest(st, "IKE") != ike0
    });
    let text = ping.finish();
    assert!(
        text.contains(" 0% packet loss"),
        "pings lost across the rekeys:\n{text}\n{}",
        s.diag()
    );
    s.wait_fs("one IKE SA and one Child SA", one_sa_each);
    s.wait_sw("one IKE SA and one Child SA on strongSwan", sw_one_sa_each);
    s.tcp_transfer();
    delete(&s, rekeyer);
}

/// DPD (`dpddelay=1s`) with a peer that vanishes (charon killed with
/// SIGKILL): ferroswan's SAs go away; with `auto=start` (dpdaction=restart)
/// the tunnel comes back when charon returns.
pub fn dpd(ferroswan_initiates: bool, restart: bool) {
    let mut sc = Scenario::new(ferroswan_initiates);
    sc.ferroswan_extra = "\tdpddelay=1s\n\tretransmit-timeout=3s\n".into();
    if restart {
        sc.auto = "start";
    }
    let mut s = Setup::start(&sc);
    establish(&s, &sc);
    s.ping_both_ways();
    s.kill_charon();
    let action = if restart { "restart" } else { "clear" };
    let line = format!("DPD: the peer is dead; dpdaction={action}");
    s.wait(Duration::from_secs(30), &line, || {
        s.fs.log().contains(&line)
    });
    if restart {
        // ferroswan is already trying again: no established SA is left.
        s.wait_fs("ferroswan without established SAs", |st| {
            !st.contains("STATE_V2_ESTABLISHED")
        });
    } else {
        s.wait_fs("ferroswan without SAs", no_sas);
    }
    if restart {
        s.restart_charon();
        s.wait_fs("the restarted Child SA", |st| {
            st.contains("STATE_V2_ESTABLISHED_CHILD_SA")
        });
        s.ping_both_ways();
        s.tcp_transfer();
    }
}

/// The first packet, caught by ferroswan's trap (`auto=route`), brings
/// the tunnel up; ferroswan proposes its /16s (after the packet's own
/// addresses, RFC 7296 2.9), strongSwan narrows to its /24s.
///
/// The mirror case (strongSwan `start_action = trap`) cannot run here:
/// kernel-libipsec drops the packet ("could not find an outbound IPsec SA
/// for reqid") without raising an acquire.
pub fn on_demand() {
    let mut sc = Scenario::new(true);
    sc.narrow = true;
    sc.auto = "route";
    let s = Setup::start(&sc);
    s.ping(true, &s.fs_end.inner, &s.sw_end.inner);
    s.wait_fs("ferroswan's Child SA", |st| {
        st.contains("STATE_V2_ESTABLISHED_CHILD_SA")
    });
    s.wait_sw("strongSwan's Child SA", |l| l.contains("INSTALLED"));
    s.ping_both_ways();
    s.tcp_transfer();
    let sas = s.sw().list_sas();
    for want in [
        format!("local  {}", narrowed(&s.sw_end.inner)),
        format!("remote {}", narrowed(&s.fs_end.inner)),
    ] {
        assert!(sas.contains(&want), "no {want:?} in:\n{sas}");
    }
    delete(&s, Side::Strongswan);
}

/// strongSwan reauthenticates (`swanctl --rekey --ike --reauth`: a new IKE
/// SA with new Child SAs, then the old one is deleted); ferroswan ends with
/// one IKE SA and one Child SA that carry traffic.
pub fn reauth(ferroswan_initiates: bool) {
    let sc = Scenario::new(ferroswan_initiates);
    let s = Setup::start(&sc);
    establish(&s, &sc);
    s.ping_both_ways();
    let ike0 = newest(&s.fs.status(), "IKE");
    s.swanctl(&["--rekey", "--ike", CONN, "--reauth"]);
    s.wait_fs("a new IKE SA", |st| {
        newest(st, "IKE").is_some() && newest(st, "IKE") != ike0
    });
    s.wait_fs("one IKE SA and one Child SA", one_sa_each);
    s.wait_sw("one IKE SA and one Child SA on strongSwan", sw_one_sa_each);
    s.ping_both_ways();
    s.tcp_transfer();
    delete(&s, Side::Ferroswan);
}

/// strongSwan deletes only the Child SA (`swanctl --terminate --child`):
/// ferroswan removes it and keeps the IKE SA, which still answers (a new
/// Child SA from the initiator's side carries traffic again).
pub fn child_only_delete(ferroswan_initiates: bool) {
    let sc = Scenario::new(ferroswan_initiates);
    let s = Setup::start(&sc);
    establish(&s, &sc);
    s.ping_both_ways();
    s.swanctl(&["--terminate", "--child", CONN, "--timeout", "10"]);
    s.wait_fs("ferroswan without the Child SA", |st| {
        st.contains("IKE SAs: total(1)") && st.contains("IPsec SAs: total(0)")
    });
    if ferroswan_initiates {
        s.fs.auto(&["--up", CONN], 0);
    } else {
        s.swanctl(&["--initiate", "--child", CONN, "--timeout", "20"]);
    }
    s.wait_fs("a new Child SA on the same IKE SA", one_sa_each);
    s.ping_both_ways();
    s.tcp_transfer();
    delete(&s, Side::Ferroswan);
}

/// strongSwan's DPD (`dpd_delay = 1s`): ferroswan answers the liveness
/// checks (the SAs stay up across several of them); then ferroswan is
/// killed with SIGKILL and strongSwan clears its SAs.
pub fn strongswan_dpd(ferroswan_initiates: bool) {
    let mut sc = Scenario::new(ferroswan_initiates);
    sc.sw_extra = "        dpd_delay = 1s\n".into();
    let mut s = Setup::start(&sc);
    establish(&s, &sc);
    s.ping_both_ways();
    // Three liveness exchanges answered; strongSwan only sends them when
    // nothing came in for dpd_delay, so no traffic now.
    s.wait(Duration::from_secs(20), "3 answered DPDs", || {
        s.sw()
            .log()
            .matches("parsed INFORMATIONAL response")
            .count()
            >= 3
    });
    assert!(one_sa_each(&s.fs.status()), "{}", s.diag());
    s.ping_both_ways();
    s.kill_ferroswan();
    s.wait_sw("strongSwan clearing the dead peer's SAs", |l| {
        !l.contains("ESTABLISHED")
    });
}

/// strongSwan with `childless = force` (RFC 6023): IKE_AUTH carries no
/// Child SA, the Child SA follows in a CREATE_CHILD_SA exchange, which
/// ferroswan answers as the responder.
pub fn childless_strongswan() {
    let mut sc = Scenario::new(false);
    sc.sw_extra = "        childless = force\n".into();
    let s = Setup::start(&sc);
    establish(&s, &sc);
    let log = s.sw().log();
    assert!(
        log.contains("CREATE_CHILD_SA request"),
        "the Child SA did not come in CREATE_CHILD_SA:\n{}",
        s.diag()
    );
    s.ping_both_ways();
    s.tcp_transfer();
    delete(&s, Side::Strongswan);
}

/// An 8 MiB TCP transfer there and back (16 MiB through the tunnel); the
/// rate goes to the row's output.
pub fn bulk(ferroswan_initiates: bool) {
    let sc = Scenario::new(ferroswan_initiates);
    let s = Setup::start(&sc);
    establish(&s, &sc);
    s.ping_both_ways();
    let len = 8 * 1024 * 1024;
    let took = s.tcp_transfer_of(len);
    println!(
        "bulk TCP, ferroswan {}: {} MiB each way in {:.2} s ({:.0} Mbit/s there and back)",
        if ferroswan_initiates {
            "initiator"
        } else {
            "responder"
        },
        len >> 20,
        took.as_secs_f64(),
        f64::from(len) * 2.0 * 8.0 / took.as_secs_f64() / 1e6
    );
    delete(&s, Side::Ferroswan);
}

/// Two subnet pairs to the same peer: ferroswan has connections `sw` and
/// `sw2`, strongSwan two children in one connection. strongSwan asks for
/// the second Child SA with CREATE_CHILD_SA on the IKE SA of the first
/// (ferroswan as responder); ferroswan's `--up sw2` negotiates its own
/// IKE SA (as initiator). Traffic flows through both; as responder,
/// `ipsec auto --down sw2` then deletes just that Child SA.
pub fn two_subnet_pairs(ferroswan_initiates: bool) {
    let mut sc = Scenario::new(ferroswan_initiates);
    sc.second_child = true;
    let s = Setup::start(&sc);
    establish(&s, &sc);
    if ferroswan_initiates {
        s.fs.auto(&["--up", &format!("{CONN}2")], 0);
    } else {
        s.swanctl(&[
            "--initiate",
            "--child",
            &format!("{CONN}2"),
            "--timeout",
            "20",
        ]);
        s.wait_fs("one IKE SA with two Child SAs", |st| {
            st.contains("IKE SAs: total(1)") && st.contains("IPsec SAs: total(2)")
        });
        let log = s.fs.log();
        assert!(
            log.lines().any(|l| l.contains(&format!("\"{CONN}2\" #"))
                && l.contains("responder established Child SA")),
            "the second Child SA is not sw2's:\n{log}"
        );
    }
    s.ping_both_ways();
    s.ping(true, "10.3.0.1", "10.4.0.1");
    s.ping(false, "10.4.0.1", "10.3.0.1");
    s.tcp_transfer();
    if !ferroswan_initiates {
        // `--down sw2` deletes just sw2's Child SA; the IKE SA (sw's)
        // and sw's Child SA stay and carry traffic.
        let out = s.fs.auto(&["--down", &format!("{CONN}2")], 0);
        assert!(out.contains("deleting Child SA"), "{out}");
        s.wait_fs("one IKE SA with one Child SA", one_sa_each);
        s.wait_sw("strongSwan with one Child SA", sw_one_sa_each);
        s.ping_both_ways();
    }
    if ferroswan_initiates {
        for name in [CONN.to_string(), format!("{CONN}2")] {
            s.fs.auto(&["--down", &name], 0);
        }
        s.wait_fs("ferroswan without SAs", no_sas);
        s.wait_sw("strongSwan without SAs", |l| !l.contains("ESTABLISHED"));
    } else {
        delete(&s, Side::Strongswan);
    }
}
