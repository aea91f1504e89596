//! ferroswan's daemon (`ipsec pluto` + `ipsec auto`, userspace data plane)
//! against strongSwan 5.9.8's charon (kernel-libipsec, swanctl), each in
//! its own network namespace: the interop matrix of issue 5 for
//! strongSwan. Every row brings a tunnel up (ferroswan as initiator or as
//! responder), sends a ping both ways and a 256 KiB TCP transfer that
//! must come back intact, and then deletes it from one side, rekeys it
//! from one side under a running ping, or lets the peer vanish (DPD).
//!
//! A custom harness (`harness = false`): the rows run in parallel
//! (`--test-threads N`, default 6), and a matrix (peer, direction, case,
//! result) is printed at the end; docs/interop.md keeps a copy. Arguments
//! that are not options filter the rows by substring; `--list` lists them.
//!
//! Needs root, strongSwan (charon, swanctl), openssl and nft
//! (scripts/install-deps); skipped with a message elsewhere, a failure
//! under CI=true. FERROSWAN_SHOW_PLUTO_LOG / FERROSWAN_SHOW_CHARON_LOG
//! print the daemons' logs.

mod cases;
#[path = "../common/mod.rs"]
mod common;
mod setup;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use cases::Side;
use setup::{Auth, Ids, Scenario, CBC_MODP2048, CHACHA_ECP256, GCM128_ECP384};

/// One row of the matrix.
struct Row {
    ferroswan_initiates: bool,
    case: String,
    needs_nft: bool,
    /// Runs for a while (lifetimes, DPD): started first.
    slow: bool,
    run: Box<dyn Fn() + Send + Sync>,
}

fn direction(ferroswan_initiates: bool) -> &'static str {
    if ferroswan_initiates {
        "initiator"
    } else {
        "responder"
    }
}

/// The basic rows: each in both directions, deleted from alternating
/// sides so that each side deletes in each direction.
fn basic_rows(rows: &mut Vec<Row>) {
    type Tweak = fn(&mut Scenario);
    let variants: [(&str, Tweak); 8] = [
        ("PSK, IPv4 address IDs, AES-GCM-256 / Curve25519", |sc| {
            sc.ids = Ids::Ip;
        }),
        (
            "PSK, @FQDN IDs, AES-CBC-256 / HMAC-SHA2-256 / MODP2048",
            |sc| {
                sc.suite = &CBC_MODP2048;
            },
        ),
        ("PSK, user@FQDN IDs, AES-GCM-128 / ECP-384", |sc| {
            sc.ids = Ids::UserFqdn;
            sc.suite = &GCM128_ECP384;
        }),
        ("PSK, @FQDN IDs, ChaCha20-Poly1305 / ECP-256", |sc| {
            sc.suite = &CHACHA_ECP256;
        }),
        ("raw RSA-2048 public keys, @FQDN IDs", |sc| {
            sc.auth = Auth::RawRsa;
        }),
        ("raw ECDSA P-256 public keys, @FQDN IDs", |sc| {
            sc.auth = Auth::RawEcdsa;
            sc.suite = &GCM128_ECP384;
        }),
        (
            "traffic selectors narrowed (initiator /16, responder /24)",
            |sc| {
                sc.narrow = true;
            },
        ),
        ("NAT (masquerade) in front of the initiator", |sc| {
            sc.nat = true;
        }),
    ];
    for (i, (name, tweak)) in variants.into_iter().enumerate() {
        for ferroswan_initiates in [true, false] {
            let deleter = if (i % 2 == 0) == ferroswan_initiates {
                Side::Ferroswan
            } else {
                Side::Strongswan
            };
            let mut probe = Scenario::new(ferroswan_initiates);
            tweak(&mut probe);
            let suite = if name.contains(probe.suite.name) {
                String::new()
            } else {
                format!(", {}", probe.suite.name)
            };
            rows.push(Row {
                ferroswan_initiates,
                case: format!("{name}{suite}; ping + TCP; deleted by {deleter}"),
                needs_nft: probe.nat,
                slow: false,
                run: Box::new(move || {
                    let mut sc = Scenario::new(ferroswan_initiates);
                    tweak(&mut sc);
                    cases::traffic_and_delete(sc, deleter);
                }),
            });
        }
    }
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    basic_rows(&mut rows);
    let rekey_rows = [
        (true, Side::Ferroswan, true),
        (true, Side::Strongswan, true),
        (false, Side::Ferroswan, true),
        (false, Side::Strongswan, true),
        (true, Side::Ferroswan, false),
        (true, Side::Strongswan, false),
    ];
    for (ferroswan_initiates, rekeyer, pfs) in rekey_rows {
        let how = match rekeyer {
            Side::Ferroswan => "short lifetimes",
            Side::Strongswan => "swanctl --rekey",
        };
        let pfs_text = if pfs {
            "PFS (strongSwan ESP proposals name the group)"
        } else {
            "pfs=no, no group in strongSwan's ESP proposals"
        };
        rows.push(Row {
            ferroswan_initiates,
            case: format!(
                "Child SA then IKE SA rekeyed by {rekeyer} ({how}), {pfs_text}; ping without loss, TCP"
            ),
            needs_nft: false,
            slow: rekeyer == Side::Ferroswan,
            run: Box::new(move || cases::rekeys(ferroswan_initiates, rekeyer, pfs)),
        });
    }
    rows.push(Row {
        ferroswan_initiates: true,
        case: "on demand (auto=route): the first packet brings it up, strongSwan narrows /16 to /24; ping + TCP; deleted by strongSwan".into(),
        needs_nft: false,
        slow: false,
        run: Box::new(cases::on_demand),
    });
    for ferroswan_initiates in [true, false] {
        rows.push(Row {
            ferroswan_initiates,
            case: "strongSwan reauthenticates (swanctl --rekey --ike --reauth); ping + TCP; deleted by ferroswan".into(),
            needs_nft: false,
            slow: false,
            run: Box::new(move || cases::reauth(ferroswan_initiates)),
        });
    }
    for ferroswan_initiates in [true, false] {
        rows.push(Row {
            ferroswan_initiates,
            case: "strongSwan deletes only the Child SA: IKE SA kept, a new Child SA carries traffic; deleted by ferroswan".into(),
            needs_nft: false,
            slow: false,
            run: Box::new(move || cases::child_only_delete(ferroswan_initiates)),
        });
        rows.push(Row {
            ferroswan_initiates,
            case: "strongSwan's DPD (dpd_delay=1s) answered; ferroswan killed (SIGKILL): strongSwan clears".into(),
            needs_nft: false,
            slow: true,
            run: Box::new(move || cases::strongswan_dpd(ferroswan_initiates)),
        });
    }
    for ferroswan_initiates in [true, false] {
        let how = if ferroswan_initiates {
            "ferroswan conns sw + sw2 (--up each)"
        } else {
            "strongSwan's second child via CREATE_CHILD_SA on the same IKE SA, then --down sw2 deletes only it"
        };
        rows.push(Row {
            ferroswan_initiates,
            case: format!("two subnet pairs to one peer: {how}; ping both pairs + TCP"),
            needs_nft: false,
            slow: false,
            run: Box::new(move || cases::two_subnet_pairs(ferroswan_initiates)),
        });
    }
    rows.push(Row {
        ferroswan_initiates: false,
        case: "strongSwan childless = force: Child SA in CREATE_CHILD_SA after IKE_AUTH; ping + TCP; deleted by strongSwan".into(),
        needs_nft: false,
        slow: false,
        run: Box::new(cases::childless_strongswan),
    });
    for ferroswan_initiates in [true, false] {
        rows.push(Row {
            ferroswan_initiates,
            case: "bulk: 8 MiB TCP there and back, intact; deleted by ferroswan".into(),
            needs_nft: false,
            slow: true,
            run: Box::new(move || cases::bulk(ferroswan_initiates)),
        });
    }
    for (ferroswan_initiates, restart) in [(true, false), (false, false), (true, true)] {
        let what = if restart {
            "auto=start: dpdaction=restart, back up when charon returns"
        } else {
            "dpdaction=clear: SAs removed"
        };
        rows.push(Row {
            ferroswan_initiates,
            case: format!("DPD, peer killed (SIGKILL); {what}"),
            needs_nft: false,
            slow: true,
            run: Box::new(move || cases::dpd(ferroswan_initiates, restart)),
        });
    }
    rows
}

/// What the command line asked for.
struct Args {
    filters: Vec<String>,
    jobs: usize,
    list: bool,
}

fn args() -> Args {
    let mut a = Args {
        filters: Vec::new(),
        jobs: 6,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if let Some(n) = arg.strip_prefix("--test-threads=") {
            a.jobs = n.parse().unwrap_or(a.jobs);
        } else if arg == "--test-threads" {
            a.jobs = it.next().and_then(|n| n.parse().ok()).unwrap_or(a.jobs);
        } else if arg == "--list" {
            a.list = true;
        } else if arg == "--skip" || arg == "--logfile" || arg == "--format" || arg == "--color" {
            let _ = it.next();
        } else if !arg.starts_with('-') {
            a.filters.push(arg);
        }
    }
    a.jobs = a.jobs.max(1);
    a
}

/// Why the suite cannot run here, if it cannot.
fn missing() -> Option<&'static str> {
    if !testkit::is_root() {
        Some("needs root (network namespaces)")
    } else if !testkit::Charon::available() {
        Some("strongSwan (charon, swanctl) is not installed (scripts/install-deps)")
    } else if !testkit::have_program("openssl") {
        Some("openssl is not installed")
    } else {
        None
    }
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".to_string())
}

/// Runs one row on its own thread (named after it, so a panic message
/// says which row failed); its result for the matrix.
fn run_row(row: &Row, have_nft: bool) -> String {
    let label = format!("{} {}", direction(row.ferroswan_initiates), row.case);
    let t0 = Instant::now();
    let result = if row.needs_nft && !have_nft {
        if std::env::var("CI").as_deref() == Ok("true") {
            "fail (nft is not installed)".to_string()
        } else {
            "skipped (nft is not installed)".to_string()
        }
    } else {
        let outcome = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(label.clone())
                .spawn_scoped(scope, || (row.run)())
                .map(|h| h.join())
        });
        match outcome {
            Ok(Ok(())) => "pass".to_string(),
            Ok(Err(e)) => {
                eprintln!("---- {label} FAILED:\n{}", panic_text(e.as_ref()));
                "FAIL".to_string()
            }
            Err(e) => format!("FAIL (thread: {e})"),
        }
    };
    println!(
        "row {label} ... {result} ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    result
}

fn main() {
    let args = args();
    let rows: Vec<Row> = rows()
        .into_iter()
        .filter(|r| {
            let label = format!("{} {}", direction(r.ferroswan_initiates), r.case);
            args.filters.is_empty() || args.filters.iter().any(|f| label.contains(f.as_str()))
        })
        .collect();
    if args.list {
        for r in &rows {
            println!("{} {}: test", direction(r.ferroswan_initiates), r.case);
        }
        return;
    }
    if let Some(why) = missing() {
        if std::env::var("CI").as_deref() == Ok("true") {
            eprintln!("interop_strongswan cannot run in CI: {why}");
            std::process::exit(1);
        }
        eprintln!("SKIPPED interop_strongswan: {why}");
        return;
    }
    let have_nft = testkit::have_program("nft");
    let results: Mutex<Vec<Option<String>>> = Mutex::new((0..rows.len()).map(|_| None).collect());
    // The slow rows first, so they overlap with the rest.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows.get(i).is_none_or(|r| !r.slow));
    let next = AtomicUsize::new(0);
    println!(
        "running {} strongSwan interop rows, {} at a time",
        rows.len(),
        args.jobs
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(rows.len()) {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Some(row) = rows.get(i) else { break };
                    let result = run_row(row, have_nft);
                    if let Ok(mut r) = results.lock() {
                        if let Some(slot) = r.get_mut(i) {
                            *slot = Some(result);
                        }
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    println!();
    println!("## strongSwan 5.9.8 interop matrix (daemon level)");
    println!();
    println!("| peer | ferroswan is | case | result |");
    println!("|---|---|---|---|");
    let mut failed = 0;
    for (row, result) in rows.iter().zip(&results) {
        let text = result.clone().unwrap_or_else(|| "not run".to_string());
        if !(text == "pass" || text.starts_with("skipped")) {
            failed += 1;
        }
        println!(
            "| strongSwan 5.9.8 | {} | {} | {} |",
            direction(row.ferroswan_initiates),
            row.case,
            text
        );
    }
    println!();
    println!(
        "{} rows, {} failed, in {:.1} s",
        rows.len(),
        failed,
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
