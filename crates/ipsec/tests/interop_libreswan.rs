//! ferroswan's daemon (`ipsec pluto`, driven by `ipsec auto`) against
//! Libreswan 4.10's pluto driven by Libreswan's own `ipsec auto`, each in
//! its own namespace: ferroswan on west (192.0.2.1), Libreswan on east
//! (192.0.2.2). Both daemons load THE SAME ipsec.conf and ipsec.secrets
//! text (the test checks the two files are byte-identical); each orients
//! the connection by its own addresses.
//!
//! This host's kernel has no ESP, so Libreswan cannot install a Child SA
//! here: the IKE SAs are childless (RFC 6023). Libreswan 4.10 has no
//! `childless=` keyword; its way to initiate a childless IKE SA is pluto's
//! `--impair omit-v2-ike-auth-child`, and both daemons are started with it
//! (ferroswan's `ipsec pluto` understands that impairment).
//!
//! Cases, ferroswan as initiator and as responder: PSK with @fqdn IDs and
//! AES-GCM-256/Curve25519; PSK with user@fqdn IDs and
//! AES-CBC-256/HMAC-SHA2-256/MODP2048; raw RSA keys in Libreswan's
//! `leftrsasigkey=0sAw...` form (Libreswan's private key in its NSS
//! database, made by `ipsec newhostkey`; ferroswan's in
//! `ipsec.d/private/`). Each case brings the IKE SA up from one side,
//! prints both daemons' `ipsec auto --status` side by side, checks that
//! both show it established for the same connection seen from opposite
//! ends with the same algorithms, has the responder rekey the IKE SA
//! (`ipsec whack --rekey-ike` on either side), then deletes it from the
//! initiating side and checks that the other side forgets it. A matrix of the cases is
//! printed at the end.
//!
//! Needs root and Libreswan unpacked by scripts/install-deps; skipped with
//! a message elsewhere, a failure under CI=true.

mod common;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use common::{can_run, Daemon};
use testkit::{wait_until, Libreswan, NetPair, TempDir};

const CONN: &str = "lsw";
const PSK: &str = "ferroswan libreswan daemon interop 0123456789";
const WAIT: Duration = Duration::from_secs(20);
/// Both daemons initiate childless IKE SAs (see the module comment).
const CHILDLESS: &[&str] = &["--impair", "omit-v2-ike-auth-child"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Psk,
    Rsa,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Initiator {
    Ferroswan,
    Libreswan,
}

/// One row of the matrix.
struct Case {
    label: &'static str,
    auth: Auth,
    /// (west, east) IDs, ipsec.conf spelling.
    ids: (&'static str, &'static str),
    ike: &'static str,
    esp: &'static str,
    /// The IKE algorithms both status outputs must name.
    ike_algorithms: &'static str,
}

const CASES: &[Case] = &[
    Case {
        label: "PSK, @fqdn IDs, AES-GCM-256 / Curve25519, childless, responder rekeys the IKE SA",
        auth: Auth::Psk,
        ids: ("@west", "@east"),
        ike: "aes_gcm256-sha2_384-dh31",
        esp: "aes_gcm256",
        ike_algorithms: "AES_GCM_16_256-HMAC_SHA2_384-DH31",
    },
    Case {
        label: "PSK, user@fqdn IDs, AES-CBC-256 / SHA2-256 / MODP2048, childless, responder rekeys the IKE SA",
        auth: Auth::Psk,
        ids: ("west@example.org", "east@example.org"),
        ike: "aes256-sha2_256-modp2048",
        esp: "aes256-sha2_256",
        ike_algorithms: "AES_CBC_256-HMAC_SHA2_256-MODP2048",
    },
    Case {
        label: "raw RSA keys (leftrsasigkey=0sAw...), childless, responder rekeys the IKE SA",
        auth: Auth::Rsa,
        ids: ("@west", "@east"),
        ike: "aes_gcm256-sha2_384-dh31",
        esp: "aes_gcm256",
        ike_algorithms: "AES_GCM_16_256-HMAC_SHA2_384-DH31",
    },
];

/// True (after saying why) when the test cannot run here.
fn skip(test: &str) -> bool {
    if !can_run(test) {
        return true;
    }
    let why = if !Libreswan::available() {
        format!(
            "Libreswan is not unpacked in {} (run scripts/install-deps)",
            testkit::libreswan::libreswan_root().display()
        )
    } else if !testkit::have_program("openssl") {
        "openssl is not installed".to_string()
    } else {
        return false;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run in CI: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    true
}

/// Writes to the test log, also when the test passes (libtest captures
/// the print macros, not direct writes to the stderr handle).
fn say(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// The one ipsec.conf both daemons load.
fn ipsec_conf(net: &NetPair, case: &Case, rsa_keys: Option<(&str, &str)>) -> String {
    let mut conf = Libreswan::config_setup();
    conf.push_str(&format!(
        "conn {CONN}\n\
         \tikev2=yes\n\
         \tleft={}\n\
         \tleftid={}\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright={}\n\
         \trightid={}\n\
         \trightsubnet=10.2.0.0/16\n\
         \tike={}\n\
         \tesp={}\n\
         \tauto=add\n",
        net.west_addr, case.ids.0, net.east_addr, case.ids.1, case.ike, case.esp
    ));
    match rsa_keys {
        Some((west, east)) => conf.push_str(&format!(
            "\tauthby=rsasig\n\tleftrsasigkey={west}\n\trightrsasigkey={east}\n"
        )),
        None => conf.push_str("\tauthby=secret\n"),
    }
    conf
}

/// Standard base64 (RFC 4648) with padding.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An RSA private key (PEM) made by openssl, and its public key in
/// Libreswan's `leftrsasigkey=` form: `0s` + base64 of RFC 3110 (exponent
/// length, exponent, modulus).
fn rsa_keypair(dir: &std::path::Path) -> (Vec<u8>, String) {
    let pem = dir.join("west.pem");
    let o = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .arg("-out")
        .arg(&pem)
        .output()
        .expect("openssl genpkey");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = std::process::Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .expect("openssl rsa -modulus");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let hex = text
        .trim()
        .strip_prefix("Modulus=")
        .expect("openssl prints Modulus=HEX");
    // openssl genpkey's public exponent is 65537.
    let mut rfc3110 = vec![3, 0x01, 0x00, 0x01];
    for i in (0..hex.len()).step_by(2) {
        rfc3110.push(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex modulus"));
    }
    (
        std::fs::read(&pem).expect("read the PEM key"),
        format!("0s{}", base64(&rfc3110)),
    )
}

/// Both daemons with the same configuration; fields drop in order
/// (daemons first, then the namespaces).
struct Peers {
    ferroswan: Daemon,
    libreswan: Libreswan,
    net: NetPair,
    _keys: TempDir,
}

impl Peers {
    fn start(case: &Case) -> Peers {
        let net = NetPair::new().expect("namespaces");
        let keys = TempDir::new("lsw-keys").expect("temporary directory");
        let secrets = match case.auth {
            Auth::Psk => format!("{} {} : PSK \"{PSK}\"\n", case.ids.0, case.ids.1),
            Auth::Rsa => String::new(),
        };
        let libreswan = Libreswan::prepare_conf(&net.east, "", &secrets).expect("prepare pluto");
        let (private_files, conf) = match case.auth {
            Auth::Psk => (Vec::new(), ipsec_conf(&net, case, None)),
            Auth::Rsa => {
                let ckaid = libreswan.newhostkey().expect("ipsec newhostkey");
                let east_key = libreswan
                    .showhostkey_left(&ckaid)
                    .expect("ipsec showhostkey");
                let (west_pem, west_key) = rsa_keypair(keys.path());
                (
                    vec![("ipsec.d/private/west.pem", west_pem)],
                    ipsec_conf(&net, case, Some((&west_key, &east_key))),
                )
            }
        };
        std::fs::write(libreswan.dir().join("ipsec.conf"), &conf).expect("Libreswan's ipsec.conf");
        let mut libreswan = libreswan;
        libreswan
            .launch(CHILDLESS)
            .unwrap_or_else(|e| panic!("{e}\n{conf}"));
        libreswan
            .add_loaded(CONN)
            .unwrap_or_else(|e| panic!("{e}\n{}", libreswan.log()));
        let files: Vec<(&str, &[u8])> = private_files
            .iter()
            .map(|(p, d)| (*p, d.as_slice()))
            .collect();
        let ferroswan = Daemon::start_args(&net.west, &conf, &secrets, &files, CHILDLESS);
        // The very same text on both sides.
        let read = |p: std::path::PathBuf| std::fs::read(&p).expect("read ipsec.conf");
        assert_eq!(
            read(ferroswan.dir.path().join("ipsec.conf")),
            read(libreswan.dir().join("ipsec.conf")),
            "the two daemons must load the same ipsec.conf"
        );
        assert_eq!(
            read(ferroswan.dir.path().join("ipsec.secrets")),
            read(libreswan.dir().join("ipsec.secrets")),
            "the two daemons must load the same ipsec.secrets"
        );
        say(&format!("---- ipsec.conf of both daemons\n{conf}"));
        Peers {
            ferroswan,
            libreswan,
            net,
            _keys: keys,
        }
    }

    fn logs(&self) -> String {
        format!(
            "---- ferroswan log\n{}\n---- Libreswan log\n{}",
            self.ferroswan.log(),
            self.libreswan.log()
        )
    }

    fn ferroswan_established(&self) -> bool {
        let quoted = format!("\"{CONN}\"");
        self.ferroswan
            .status()
            .lines()
            .any(|l| l.contains(&quoted) && l.contains("STATE_V2_ESTABLISHED_IKE_SA"))
    }

    /// Both `ipsec auto --status` outputs side by side, from the
    /// connection list on (the interface, setup and algorithm lines above
    /// it differ by design); returns the whole outputs (ferroswan,
    /// Libreswan).
    fn print_status(&self, when: &str) -> (String, String) {
        let tail = |s: &str| -> String {
            s.lines()
                .skip_while(|l| !l.contains("Connection list:"))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        let fs = self.ferroswan.status();
        let lsw = self.libreswan.status();
        say(&format!(
            "---- ipsec auto --status {when}\n{}",
            side_by_side(
                "ferroswan (west)",
                &tail(&fs),
                "Libreswan 4.10 (east)",
                &tail(&lsw)
            )
        ));
        (fs, lsw)
    }
}

/// Two texts in two columns, each line wrapped at `WIDTH` characters.
fn side_by_side(left_title: &str, left: &str, right_title: &str, right: &str) -> String {
    const WIDTH: usize = 72;
    let wrap = |text: &str| -> Vec<String> {
        let mut out = Vec::new();
        for line in text.lines() {
            let chars: Vec<char> = line.chars().collect();
            if chars.is_empty() {
                out.push(String::new());
            }
            for piece in chars.chunks(WIDTH) {
                out.push(piece.iter().collect());
            }
        }
        out
    };
    let (l, r) = (wrap(left), wrap(right));
    let mut out = format!(
        "{left_title:<WIDTH$} | {right_title}\n{}\n",
        "-".repeat(2 * WIDTH + 3)
    );
    for i in 0..l.len().max(r.len()) {
        let a = l.get(i).map(String::as_str).unwrap_or("");
        let b = r.get(i).map(String::as_str).unwrap_or("");
        out.push_str(&format!("{a:<WIDTH$} | {b}\n"));
    }
    out
}

/// The connection line of a status output (`"lsw": A===B[id]...C[id]===D;`),
/// up to the first `;`, without the `000 ` prefix.
fn conn_line(status: &str) -> Option<String> {
    let quoted = format!("\"{CONN}\": ");
    status
        .lines()
        .map(|l| l.strip_prefix("000 ").unwrap_or(l))
        .find(|l| l.starts_with(&quoted) && l.contains("..."))
        .and_then(|l| l.strip_prefix(&quoted))
        .and_then(|l| l.split(';').next())
        .map(str::to_string)
}

/// `A...B` seen from the other end: `B...A`, each half reversed
/// (`X===Y[id]` <-> `Y[id]===X`).
fn mirrored(line: &str) -> Option<String> {
    let (a, b) = line.split_once("...")?;
    let rev = |half: &str| {
        let mut parts: Vec<&str> = half.split("===").collect();
        parts.reverse();
        parts.join("===")
    };
    Some(format!("{}...{}", rev(b), rev(a)))
}

/// The `newest IKE SA: #N` serial of the connection in a status output.
fn newest_ike(status: &str) -> Option<u64> {
    let rest = status.split("newest IKE SA: #").nth(1)?;
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    n.parse().ok().filter(|n| *n != 0)
}

/// One case in one direction: up, status of both, an IKE SA rekey by the
/// responder, delete from the initiator, the responder forgets it.
fn run_case(case: &Case, initiator: Initiator) {
    let peers = Peers::start(case);
    match initiator {
        Initiator::Ferroswan => {
            let out = peers.ferroswan.auto(&["--up", CONN], 0);
            assert!(
                out.contains("established IKE SA"),
                "ferroswan's --up:\n{out}\n{}",
                peers.logs()
            );
        }
        Initiator::Libreswan => {
            let out = peers
                .libreswan
                .up(CONN)
                .expect("Libreswan's ipsec auto --up");
            assert!(
                out.success() && out.text().contains("initiator established IKE SA"),
                "Libreswan's --up:\n{}\n{}",
                out.text(),
                peers.logs()
            );
        }
    }
    wait_until(WAIT, "the IKE SA on both sides", || {
        peers.ferroswan_established() && peers.libreswan.ike_sa_established(CONN)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", peers.logs()));
    let (fs, lsw) = peers.print_status("with the IKE SA established");

    // Both loaded the same connection, seen from opposite ends.
    let fs_conn = conn_line(&fs).unwrap_or_else(|| panic!("no connection line:\n{fs}"));
    let lsw_conn = conn_line(&lsw).unwrap_or_else(|| panic!("no connection line:\n{lsw}"));
    assert_eq!(
        mirrored(&fs_conn).as_deref(),
        Some(lsw_conn.as_str()),
        "ferroswan's and Libreswan's views of \"{CONN}\" must mirror each other"
    );
    // One authenticated IKE SA, no IPsec SA (childless), on both.
    for (who, s) in [("ferroswan", &fs), ("Libreswan", &lsw)] {
        assert!(
            s.contains("IKE SAs: total(1), half-open(0), open(0), authenticated(1), anonymous(0)"),
            "{who}: {s}"
        );
        assert!(
            s.contains("IPsec SAs: total(0), authenticated(0), anonymous(0)"),
            "{who}: {s}"
        );
    }
    // Both logged the same negotiated suite ("{cipher=... group=...}").
    let suite = |log: String| {
        log.lines()
            .find(|l| l.contains("{cipher="))
            .and_then(|l| l.split_once('{'))
            .map(|(_, rest)| rest.to_string())
    };
    let fs_suite = suite(peers.ferroswan.log());
    assert!(fs_suite.is_some(), "{}", peers.logs());
    assert_eq!(fs_suite, suite(peers.libreswan.log()), "{}", peers.logs());
    // The same configured and negotiated algorithms, in the same words.
    for what in ["IKE algorithms", "IKEv2 algorithm newest"] {
        let line = format!("000 \"{CONN}\":   {what}: {}\n", case.ike_algorithms);
        for (who, s) in [("ferroswan", &fs), ("Libreswan", &lsw)] {
            assert!(s.contains(&line), "{who} lacks `{}`:\n{s}", line.trim_end());
        }
    }
    let authenticated = match case.auth {
        Auth::Psk => "authenticated peer using authby=secret",
        Auth::Rsa => "digital signature using preloaded certificate",
    };
    assert!(
        peers.libreswan.log().contains(authenticated),
        "{}",
        peers.logs()
    );
    let childless = match initiator {
        Initiator::Ferroswan => "as expected, IKE_AUTH request omitted CHILD SA payloads",
        Initiator::Libreswan => "as expected, IKE_AUTH response omitted CHILD SA payloads",
    };
    assert!(
        peers.libreswan.log().contains(childless),
        "{}",
        peers.logs()
    );

    // The responder rekeys the IKE SA (`ipsec whack --rekey-ike`, the
    // same command on both); both end with the new IKE SA alone.
    let (fs_before, lsw_before) = (newest_ike(&fs), newest_ike(&lsw));
    let rekey = ["whack", "--name", CONN, "--rekey-ike"];
    match initiator {
        Initiator::Ferroswan => {
            let out = peers.libreswan.ipsec(&rekey).expect("Libreswan's whack");
            assert!(out.success(), "{}\n{}", out.text(), peers.logs());
        }
        Initiator::Libreswan => {
            let out = peers.ferroswan.ipsec(&rekey);
            assert!(
                out.status.success(),
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                peers.logs()
            );
        }
    }
    wait_until(WAIT, "the rekeyed IKE SA alone on both sides", || {
        let (f, l) = (peers.ferroswan.status(), peers.libreswan.status());
        let one = "IKE SAs: total(1), half-open(0), open(0), authenticated(1)";
        f.contains(one)
            && l.contains(one)
            && newest_ike(&f).is_some_and(|n| Some(n) != fs_before)
            && newest_ike(&l).is_some_and(|n| Some(n) != lsw_before)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", peers.logs()));
    peers.print_status("after the IKE SA rekey");

    // The initiator deletes; the responder forgets the IKE SA.
    match initiator {
        Initiator::Ferroswan => {
            peers.ferroswan.auto(&["--down", CONN], 0);
            wait_until(WAIT, "Libreswan without the IKE SA", || {
                !peers.libreswan.ike_sa_established(CONN)
            })
        }
        Initiator::Libreswan => {
            let out = peers.libreswan.down(CONN).expect("Libreswan's --down");
            assert!(out.success(), "{}", out.text());
            wait_until(WAIT, "ferroswan without the IKE SA", || {
                !peers.ferroswan_established()
            })
        }
    }
    .unwrap_or_else(|e| panic!("{e}\n{}", peers.logs()));
    let _ = &peers.net;
}

/// Every case in both directions; the matrix is printed whatever happens,
/// then the test fails if any case did.
#[test]
fn libreswan_daemon_interop_matrix() {
    if skip("libreswan_daemon_interop_matrix") {
        return;
    }
    let version = Libreswan::version().unwrap_or_else(|e| e);
    let mut rows = Vec::new();
    for case in CASES {
        for initiator in [Initiator::Ferroswan, Initiator::Libreswan] {
            say(&format!(
                "==== {version}, {initiator:?} initiates: {}",
                case.label
            ));
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| run_case(case, initiator)));
            let direction = match initiator {
                Initiator::Ferroswan => "initiator",
                Initiator::Libreswan => "responder",
            };
            rows.push((direction, case.label, result.is_ok()));
        }
    }
    let mut matrix = format!(
        "\n==== interop matrix (ferroswan daemon vs {version}, namespaces)\n{:<16} {:<10} {:<96} result\n",
        "peer", "ferroswan", "case"
    );
    for (direction, label, ok) in &rows {
        matrix.push_str(&format!(
            "{version:<16} {direction:<10} {label:<96} {}\n",
            if *ok { "pass" } else { "FAIL" }
        ));
    }
    say(&matrix);
    let failed: Vec<_> = rows.iter().filter(|r| !r.2).collect();
    assert!(failed.is_empty(), "{} case(s) failed", failed.len());
}
