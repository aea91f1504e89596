//! Two ferroswan daemons authenticating with X.509 certificates from NSS
//! databases (made by the test with openssl, certutil and pk12util from a
//! test CA of its own): a tunnel with ping through it; a revoked, an
//! expired and a wrongly issued peer certificate each refused with a clear
//! log line and a failing `--up`; `--listall`/`--listcerts` checked line by
//! line; `--rereadcerts` keeping the old store when the new one is broken;
//! PEM folders; `--fetchcrls`, `crlcheckinterval=`, `crl-strict`, OCSP and
//! `--purgeocsp`; strongSwan and Libreswan peers with certificates.
//!
//! Needs root, openssl and libnss3-tools (CI has them), busybox for the CRL
//! server, strongSwan and the unpacked Libreswan for the interop tests;
//! skipped with a message elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{can_run, wait_ping, Daemon};
use testkit::{wait_until, NetPair, TempDir};

const DN: &str = "C=CA, ST=Ontario, O=Libreswan";

fn run(dir: &Path, cmd: &str) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{cmd} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn output(dir: &Path, cmd: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(out.status.success(), "{cmd}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn can_run_certs(test: &str) -> bool {
    if !can_run(test) {
        return false;
    }
    for p in ["openssl", "certutil", "pk12util"] {
        if !testkit::have_program(p) {
            eprintln!("skipping {test}: {p} is not installed (scripts/install-deps)");
            return false;
        }
    }
    true
}

/// The test PKI (crate pki's script: CA "ca", end certificates west, ec256,
/// revoked, expired, wrongca from "otherca", the CA's CRL revoking
/// "revoked"), made once per test binary.
fn pki_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ipsec-certs-pki");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pki dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pki/tests/common/mkpki.sh");
        run(&dir, &format!("bash {}", script.display()));
        dir
    })
}

/// An NSS database holding `cert` (from the PKI's `cert`.crt/.key) under
/// `nickname` with its private key, the CA "ca" trusted (`CT,,`) and the
/// certificates `peers` (without trust); its files as (path under the
/// daemon's directory, bytes).
fn nss_files(cert: &str, nickname: &str, peers: &[&str]) -> Vec<(String, Vec<u8>)> {
    nss_files_with_password(cert, nickname, peers, "")
}

/// Like [`nss_files`], the database protected by `password`.
fn nss_files_with_password(
    cert: &str,
    nickname: &str,
    peers: &[&str],
    password: &str,
) -> Vec<(String, Vec<u8>)> {
    let tmp = TempDir::new("nss").expect("temporary directory");
    let pw = TempDir::new("nss-pw").expect("temporary directory");
    let pw_file = pw.path().join("pw");
    std::fs::write(&pw_file, password).expect("pw");
    run(
        tmp.path(),
        &format!(
            "certutil -N -d sql:{} -f {}",
            tmp.path().display(),
            pw_file.display()
        ),
    );
    fill_nss(tmp.path(), cert, nickname, peers, password);
    ["cert9.db", "key4.db", "pkcs11.txt"]
        .iter()
        .filter_map(|f| {
            std::fs::read(tmp.path().join(f))
                .ok()
                .map(|b| (format!("nss/{f}"), b))
        })
        .collect()
}

/// Imports `cert` with its key under `nickname`, the CA "ca" (`CT,,`) and
/// `peers` into the NSS database in `db` (protected by `password`).
fn fill_nss(db: &Path, cert: &str, nickname: &str, peers: &[&str], password: &str) {
    let p = pki_dir();
    let d = db.display();
    let pw = TempDir::new("nss-pw").expect("temporary directory");
    std::fs::write(pw.path().join("pw"), password).expect("pw");
    let pw = pw.path().join("pw");
    let pw = pw.display();
    run(
        p,
        &format!(
            "openssl pkcs12 -export -in {cert}.crt -inkey {cert}.key -name {nickname} \
             -out {d}/end.p12 -passout pass:p12 && pk12util -i {d}/end.p12 -d sql:{d} -W p12 -k {pw} \
             && rm {d}/end.p12"
        ),
    );
    run(
        p,
        &format!("certutil -A -d sql:{d} -f {pw} -n ca -t CT,, -i ca.crt"),
    );
    for peer in peers {
        run(
            p,
            &format!("certutil -A -d sql:{d} -f {pw} -n {peer} -t ,, -i {peer}.crt"),
        );
    }
}

/// West's view: its certificate "west", the peer proven by the DN of
/// ec256's certificate.
fn west_conf() -> String {
    format!(
        "config setup\n\
         \tprotostack=userspace\n\
         \tlogtime=no\n\
         \n\
         conn tun\n\
         \tleft=192.0.2.1\n\
         \tleftcert=west\n\
         \tleftid=%fromcert\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright=192.0.2.2\n\
         \trightid=\"{DN}, CN=ec256.testing.libreswan.org\"\n\
         \trightca=%same\n\
         \trightsubnet=10.2.0.0/16\n\
         \tauto=add\n"
    )
}

/// East's view: its certificate "east" (ec256's), any peer whose DN
/// matches the wildcard and whose chain goes through our CA.
fn east_conf(setup: &str) -> String {
    format!(
        "config setup\n\
         \tprotostack=userspace\n\
         \tlogtime=no\n\
         {setup}\
         \n\
         conn tun\n\
         \tleft=192.0.2.1\n\
         \tleftid=\"{DN}, CN=*\"\n\
         \tleftca=%same\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright=192.0.2.2\n\
         \trightcert=east\n\
         \trightsubnet=10.2.0.0/16\n\
         \tauto=add\n"
    )
}

fn start(net: &NetPair, west_cert: &str, east_extra: &[(&str, &[u8])]) -> (Daemon, Daemon) {
    start_with(net, west_cert, east_extra, "", &[])
}

/// Like [`start`], with lines for east's `config setup`.
fn start_with(
    net: &NetPair,
    west_cert: &str,
    east_extra: &[(&str, &[u8])],
    east_setup: &str,
    east_peers: &[&str],
) -> (Daemon, Daemon) {
    let wf = nss_files(west_cert, "west", &[]);
    let wfiles: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let ef = nss_files("ec256", "east", east_peers);
    let mut efiles: Vec<(&str, &[u8])> =
        ef.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    efiles.extend_from_slice(east_extra);
    let west = Daemon::start_with(&net.west, &west_conf(), "", &wfiles);
    let east = Daemon::start_with(&net.east, &east_conf(east_setup), "", &efiles);
    (west, east)
}

#[test]
fn certificate_tunnel_from_nss_databases() {
    if !can_run_certs("certificate_tunnel_from_nss_databases") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let (west, east) = start(&net, "west", &[]);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("established IKE SA; authenticated peer"),
        "{out}\n{}",
        west.log()
    );
    assert!(
        out.contains(&format!(
            "authenticated peer '256-bit ECDSA with SHA2_256' digital signature using peer certificate '{DN}, CN=ec256.testing.libreswan.org' issued by CA '{DN}, CN=Libreswan test CA'"
        )),
        "the peer is named by its certificate's subject: {out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    assert!(east.status().contains("STATE_V2_ESTABLISHED_CHILD_SA"));
    // Status names our end by the certificate's subject, as Libreswan does.
    let status = west.status();
    assert!(
        status.contains(&format!(
            "our idtype: ID_DER_ASN1_DN; our id={DN}, CN=west.testing.libreswan.org;"
        )),
        "{status}"
    );
    assert!(
        east.log().contains("CN=west.testing.libreswan.org"),
        "east names west by its certificate: {}",
        east.log()
    );
}

/// West presents `cert`; east refuses it with a log line containing
/// `why`, and west's `--up` fails.
fn refused(test: &str, cert: &str, east_extra: &[(&str, &[u8])], why: &[&str]) {
    if !can_run_certs(test) {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let (west, east) = start(&net, cert, east_extra);
    let o = west.ipsec(&["auto", "--up", "tun"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_ne!(o.status.code(), Some(0), "{test}: --up succeeded: {out}");
    // The log is written by the daemon as it goes: wait for the line.
    let has_line = || {
        east.log()
            .lines()
            .any(|l| why.iter().all(|w| l.contains(w)))
    };
    if wait_until(Duration::from_secs(10), "east's log line", has_line).is_err() {
        panic!(
            "{test}: no log line with {why:?} in east's log:\n{}\nwest: {out}\n{}",
            east.log(),
            west.log()
        );
    }
    let log = east.log();
    let line = log
        .lines()
        .find(|l| why.iter().all(|w| l.contains(w)))
        .unwrap_or_default();
    assert!(line.contains("X509"), "{test}: {line}");
    assert!(!east.status().contains("STATE_V2_ESTABLISHED_CHILD_SA"));
}

#[test]
fn revoked_peer_certificate_is_refused() {
    let p = pki_dir();
    let crl = std::fs::read(p.join("ca.crl.pem")).unwrap_or_default();
    refused(
        "revoked_peer_certificate_is_refused",
        "revoked",
        &[("ipsec.d/crls/ca.crl.pem", &crl)],
        &["revoked.testing.libreswan.org", "was revoked"],
    );
}

#[test]
fn expired_peer_certificate_is_refused() {
    refused(
        "expired_peer_certificate_is_refused",
        "expired",
        &[],
        &["expired.testing.libreswan.org", "expired at"],
    );
}

#[test]
fn peer_certificate_of_another_ca_is_refused() {
    refused(
        "peer_certificate_of_another_ca_is_refused",
        "wrongca",
        &[],
        &["wrongca.testing.libreswan.org", "unknown issuer"],
    );
}

/// Libreswan's asctime of a certificate time from openssl's
/// `notBefore=Nov  3 09:05:01 2026 GMT`, without the weekday.
fn openssl_time(s: &str) -> String {
    let v: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(v.len(), 5, "{s}");
    let day: u32 = v[1].parse().expect("day");
    format!("{} {day:02} {} {}", v[0], v[2], v[3])
}

/// What the test knows of a certificate: serial, subject, issuer, dates.
struct Known {
    serial: String,
    not_before: String,
    not_after: String,
}

fn known(cert: &str) -> Known {
    let p = pki_dir();
    let get = |opt: &str| {
        let o = output(p, &format!("openssl x509 -in {cert}.crt -noout {opt}"));
        o.split_once('=').map(|x| x.1.to_string()).unwrap_or(o)
    };
    Known {
        serial: get("-serial").to_ascii_lowercase(),
        not_before: openssl_time(&get("-startdate")),
        not_after: openssl_time(&get("-enddate")),
    }
}

/// The lines of one certificate in a list, from its title line on.
fn cert_block<'a>(lines: &'a [&'a str], title: &str) -> &'a [&'a str] {
    let i = lines
        .iter()
        .position(|l| l.starts_with(title))
        .unwrap_or_else(|| panic!("no line starting {title:?} in {lines:#?}"));
    &lines[i..(i + 7).min(lines.len())]
}

fn check_cert(block: &[&str], k: &Known, subject: &str, issuer: &str, key: &str) {
    let sn = block[0].rsplit_once("SN: 0x").map(|x| x.1).unwrap_or("");
    assert_eq!(
        sn.trim_start_matches('0'),
        k.serial.trim_start_matches('0'),
        "{block:#?}"
    );
    assert_eq!(block[1], format!("000   subject: {subject}"));
    assert_eq!(block[2], format!("000   issuer: {issuer}"));
    let (label, when) = block[3].split_at("000   not before: ".len());
    assert_eq!(label, "000   not before: ");
    assert_eq!(&when[4..], k.not_before, "{block:#?}");
    let (label, when) = block[4].split_at("000   not after: ".len());
    assert_eq!(label, "000   not after: ");
    assert_eq!(&when[4..], k.not_after, "{block:#?}");
    assert_eq!(block[5], format!("000   {key}"));
    assert_eq!(block[6], "000  ");
}

#[test]
fn list_operations_show_the_store() {
    if !can_run_certs("list_operations_show_the_store") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let crl = std::fs::read(pki_dir().join("ca.crl.pem")).unwrap_or_default();
    let (west, _east) = start(&net, "west", &[]);
    // West also gets the CA's CRL in its PEM folder, read by --rereadcerts.
    let crl_path = west.dir.path().join("ipsec.d/crls/ca.crl.pem");
    std::fs::create_dir_all(crl_path.parent().expect("parent")).expect("crls dir");
    std::fs::write(&crl_path, &crl).expect("write CRL");
    let o = west.auto(&["--rereadcerts"], 0);
    assert!(o.contains("1 CRL(s)"), "{o}");

    let ca_subject = format!("{DN}, CN=Libreswan test CA");
    let west_subject = format!("{DN}, CN=west.testing.libreswan.org");
    let all = west.auto(&["--utc", "--listall"], 0);
    let lines: Vec<&str> = all.lines().collect();
    // Headers in Libreswan's order.
    let order: Vec<usize> = [
        "000 List of Public Keys:",
        "000 List of Pre-shared secrets",
        "000 List of X.509 End Certificates:",
        "000 List of X.509 CA Certificates:",
        "000 List of CRLs:",
    ]
    .iter()
    .map(|h| {
        lines
            .iter()
            .position(|l| l.starts_with(h))
            .unwrap_or_else(|| panic!("{h} missing: {all}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{all}");
    // West's key, from its certificate, with its private key.
    let key = lines
        .iter()
        .position(|l| l.contains("2048 RSA Key") && l.contains("(has private key)"))
        .unwrap_or_else(|| panic!("west's key missing: {all}"));
    assert!(lines[key].contains(" UTC "), "--utc: {}", lines[key]);
    // Listed under the subject, then each subjectAltName, as Libreswan.
    assert_eq!(
        lines[key + 1],
        format!("000        ID_DER_ASN1_DN '{west_subject}'")
    );
    assert_eq!(lines[key + 2], format!("000        Issuer '{ca_subject}'"));
    assert_eq!(lines[key + 3], lines[key]);
    assert_eq!(
        lines[key + 4],
        "000        ID_FQDN '@west.testing.libreswan.org'"
    );
    assert_eq!(lines[key + 6], lines[key]);
    assert_eq!(lines[key + 7], "000        ID_IPV4_ADDR '192.0.2.45'");
    // The end certificate and the CA.
    check_cert(
        cert_block(&lines, "000 End certificate \"west\""),
        &known("west"),
        &west_subject,
        &ca_subject,
        "2048 bit RSA: has private key",
    );
    check_cert(
        cert_block(&lines, "000 Root CA certificate \"ca\""),
        &known("ca"),
        &ca_subject,
        &ca_subject,
        "2048 bit RSA",
    );
    // The CRL: issuer and one revoked certificate.
    let crl_at = order[4];
    let crl_lines = &lines[crl_at..];
    assert!(
        crl_lines.contains(&format!("000 issuer: {ca_subject}").as_str()),
        "{all}"
    );
    assert!(crl_lines.contains(&"000 revoked certs: 1"), "{all}");
    // --listcerts alone: the same block.
    let certs = west.auto(&["--listcerts"], 0);
    let cl: Vec<&str> = certs.lines().collect();
    assert_eq!(cl[0], "000  ");
    assert_eq!(cl[1], "000 List of X.509 End Certificates:");
    assert_eq!(cl[2], "000  ");
    check_cert(
        cert_block(&cl, "000 End certificate \"west\""),
        &known("west"),
        &west_subject,
        &ca_subject,
        "2048 bit RSA: has private key",
    );
    // Nothing about to expire: nothing printed.
    let check = west.auto(&["--checkpubkeys"], 0);
    assert_eq!(check, "", "{check}");

    // A broken NSS database: a clear failure, the old store stays.
    std::fs::write(west.dir.path().join("nss/cert9.db"), b"garbage").expect("write");
    let o = west.ipsec(&["auto", "--rereadcerts"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("cannot load the NSS database") && out.contains("keeping the previous"),
        "{out}"
    );
    let certs = west.auto(&["--listcerts"], 0);
    assert!(certs.contains("End certificate \"west\""), "{certs}");
}

#[test]
fn checkpubkeys_lists_an_expired_certificate() {
    if !can_run_certs("checkpubkeys_lists_an_expired_certificate") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let (west, _east) = start(&net, "expired", &[]);
    let check = west.auto(&["--utc", "--checkpubkeys"], 0);
    let lines: Vec<&str> = check.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("RSA Key") && l.ends_with("fatal (expired)"))
        .unwrap_or_else(|| panic!("no expired key: {check}"));
    assert_eq!(
        lines[i + 1],
        format!("000        ID_DER_ASN1_DN '{DN}, CN=expired.testing.libreswan.org'")
    );
    assert!(!check.contains("List of Public Keys"), "{check}");
}

/// `busybox httpd` serving a directory on 192.0.2.254:80 inside a
/// namespace (the address the test certificates' CRL distribution point
/// names); killed on drop.
/// A server process run in a namespace at 192.0.2.254 (a CRL server or an
/// OCSP responder); killed on drop.
struct Server {
    child: std::process::Child,
}

impl Server {
    /// Adds 192.0.2.254 to `ns`'s loopback, starts `cmd` in `ns` (from
    /// `dir`) and waits until `up` says it answers.
    fn start(
        ns: &testkit::Netns,
        what: &str,
        cmd: &[&str],
        dir: &Path,
        up: impl Fn() -> bool,
    ) -> Server {
        ns.exec_ok(&["ip", "addr", "add", "192.0.2.254/32", "dev", "lo"])
            .unwrap_or_else(|e| panic!("address of {what}: {e}"));
        let child = ns
            .command(cmd[0])
            .args(&cmd[1..])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let server = Server { child };
        wait_until(Duration::from_secs(10), what, up).expect(what);
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// busybox httpd serving `dir` on 192.0.2.254:80.
struct CrlServer;

impl CrlServer {
    fn start(ns: &testkit::Netns, dir: &Path) -> Server {
        let up = || {
            ns.exec(&[
                "busybox",
                "wget",
                "-q",
                "-O",
                "/dev/null",
                "http://192.0.2.254/revoked.crl",
            ])
            .is_ok_and(|o| o.status.success())
        };
        let cmd = ["busybox", "httpd", "-f", "-p", "192.0.2.254:80", "-h", "."];
        Server::start(ns, "the CRL server", &cmd, dir, up)
    }
}

#[test]
fn fetchcrls_fetches_in_the_background_and_crl_strict_waits_for_it() {
    let test = "fetchcrls_fetches_in_the_background_and_crl_strict_waits_for_it";
    if !can_run_certs(test) {
        return;
    }
    if !testkit::have_program("busybox") {
        eprintln!("skipping {test}: busybox is not installed (scripts/install-deps)");
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let www = TempDir::new("crl-www").expect("temporary directory");
    std::fs::copy(pki_dir().join("ca.crl.der"), www.path().join("revoked.crl")).expect("copy CRL");
    let _server = CrlServer::start(&net.east, www.path());
    let (west, east) = start_with(
        &net,
        "west",
        &[],
        "\tcrl-strict=yes\n\tcrl-timeout=5s\n",
        &[],
    );
    // No CRL yet: crl-strict refuses west.
    let o = west.ipsec(&["auto", "--up", "tun"]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let strict = || east.log().contains("(crl-strict)");
    wait_until(Duration::from_secs(10), "crl-strict log line", strict)
        .unwrap_or_else(|e| panic!("{e}: {}", east.log()));
    // --fetchcrls answers at once; the CRL arrives in the background.
    let o = east.auto(&["--fetchcrls"], 0);
    assert!(o.contains("fetching 1 CRL(s) in the background"), "{o}");
    let fetched = || {
        east.auto(&["--listcrls"], 0)
            .contains("000 revoked certs: 1")
    };
    wait_until(Duration::from_secs(15), "the fetched CRL", fetched)
        .unwrap_or_else(|e| panic!("{e}: {}", east.log()));
    assert!(east.log().contains("fetched the CRL for"), "{}", east.log());
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
}

/// `openssl ocsp` answering for the test CA (from its index, with the
/// delegated responder "ocsp") on port 2560 inside a namespace, at the
/// address the certificates' Authority Information Access names; killed on
/// drop.
/// `openssl ocsp` answering for the test CA on 192.0.2.254:2560.
struct OcspResponder;

impl OcspResponder {
    fn start(ns: &testkit::Netns) -> Server {
        let up = || {
            ns.exec(&["bash", "-c", "echo > /dev/tcp/192.0.2.254/2560"])
                .is_ok_and(|o| o.status.success())
        };
        let cmd = [
            "openssl",
            "ocsp",
            "-index",
            "index-ca.txt",
            "-port",
            "2560",
            "-rsigner",
            "ocsp.crt",
            "-rkey",
            "ocsp.key",
            "-CA",
            "ca.crt",
            "-ignore_err",
        ];
        Server::start(ns, "the OCSP responder", &cmd, pki_dir(), up)
    }
}

#[test]
fn ocsp_revoked_peer_is_refused_until_purgeocsp() {
    let test = "ocsp_revoked_peer_is_refused_until_purgeocsp";
    if !can_run_certs(test) {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let _responder = OcspResponder::start(&net.east);
    // East keeps west's certificate in its database, so it asks the
    // responder about it when it loads the store.
    let (west, east) = start_with(
        &net,
        "revoked",
        &[],
        "\tocsp-enable=yes\n\tocsp-method=post\n",
        &["revoked"],
    );
    let answered = || {
        east.log()
            .contains("fetched the OCSP status of C=CA, ST=Ontario, O=Libreswan, CN=revoked")
    };
    wait_until(Duration::from_secs(15), "the OCSP answer", answered)
        .unwrap_or_else(|e| panic!("{e}: {}", east.log()));
    let o = west.ipsec(&["auto", "--up", "tun"]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let refused = || {
        east.log()
            .lines()
            .any(|l| l.contains("revoked.testing.libreswan.org") && l.contains("(OCSP)"))
    };
    wait_until(Duration::from_secs(10), "the OCSP refusal", refused)
        .unwrap_or_else(|e| panic!("{e}: {}", east.log()));
    // --purgeocsp empties the cache: without an answer (and without
    // ocsp-strict) the peer is accepted again.
    let o = east.auto(&["--purgeocsp"], 0);
    assert!(o.contains("purged the OCSP cache (2 entries)"), "{o}");
    west.auto(&["--up", "tun"], 0);
}

#[test]
fn unknown_leftcert_fails_the_up_with_the_reason() {
    if !can_run_certs("unknown_leftcert_fails_the_up_with_the_reason") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let wf = nss_files("west", "west", &[]);
    let files: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let conf = west_conf().replace("leftcert=west", "leftcert=nosuch");
    let west = Daemon::start_with(&net.west, &conf, "", &files);
    let out = west.auto(&["--up", "tun"], 56);
    assert!(
        out.contains("leftcert=\"nosuch\": no certificate with this nickname in the NSS database"),
        "{out}"
    );
}

/// The PEM folders of `ipsec.d` for `cert`: `certs/FILE`, its key in
/// `private/`, the CA in `cacerts/`.
fn pem_files(cert: &str, file: &str) -> Vec<(String, Vec<u8>)> {
    let p = pki_dir();
    let read = |f: &str| std::fs::read(p.join(f)).unwrap_or_default();
    vec![
        (
            format!("ipsec.d/certs/{file}"),
            read(&format!("{cert}.crt")),
        ),
        (
            format!("ipsec.d/private/{cert}.key"),
            read(&format!("{cert}.key")),
        ),
        ("ipsec.d/cacerts/ca.crt".into(), read("ca.crt")),
    ]
}

#[test]
fn certificate_tunnel_from_pem_folders() {
    if !can_run_certs("certificate_tunnel_from_pem_folders") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let wf = pem_files("west", "west.crt");
    let ef = pem_files("ec256", "east.pem");
    let wfiles: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let efiles: Vec<(&str, &[u8])> = ef.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    // leftcert= by file name, and by a path ending in it.
    let west_conf = west_conf().replace("leftcert=west", "leftcert=west.crt");
    let east_conf =
        east_conf("").replace("rightcert=east", "rightcert=/etc/ipsec.d/certs/east.pem");
    let west = Daemon::start_with(&net.west, &west_conf, "", &wfiles);
    let _east = Daemon::start_with(&net.east, &east_conf, "", &efiles);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("established Child SA"), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    let certs = west.auto(&["--listcerts"], 0);
    assert!(
        certs.contains("000 End certificate \"west.crt\" - SN: 0x"),
        "{certs}"
    );
    assert!(west.log().contains("no NSS database in"), "{}", west.log());
}

#[test]
fn crlcheckinterval_fetches_without_being_asked() {
    let test = "crlcheckinterval_fetches_without_being_asked";
    if !can_run_certs(test) {
        return;
    }
    if !testkit::have_program("busybox") {
        eprintln!("skipping {test}: busybox is not installed (scripts/install-deps)");
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let www = TempDir::new("crl-www").expect("temporary directory");
    std::fs::copy(pki_dir().join("ca.crl.der"), www.path().join("revoked.crl")).expect("copy CRL");
    let _server = CrlServer::start(&net.east, www.path());
    let (west, east) = start_with(&net, "revoked", &[], "\tcrlcheckinterval=1s\n", &[]);
    let fetched = || {
        east.auto(&["--listcrls"], 0)
            .contains("000 revoked certs: 1")
    };
    wait_until(
        Duration::from_secs(15),
        "the CRL fetched by crlcheckinterval",
        fetched,
    )
    .unwrap_or_else(|e| panic!("{e}: {}", east.log()));
    assert!(
        east.log().contains("crlcheckinterval: fetching 1 CRL(s)"),
        "{}",
        east.log()
    );
    let o = west.ipsec(&["auto", "--up", "tun"]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// strongSwan's charon on east with ec256's certificate and key and the CA
/// in its swanctl folders, expecting west's DN; ferroswan on west with its
/// NSS database.
fn with_charon(net: &NetPair) -> Option<(Daemon, testkit::Charon)> {
    if !testkit::Charon::available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("strongSwan (charon, swanctl) is not installed");
        }
        eprintln!("SKIPPED: strongSwan (charon, swanctl) is not installed");
        return None;
    }
    let wf = nss_files("west", "west", &[]);
    let files: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let west = Daemon::start_with(&net.west, &west_conf(), "", &files);
    let mut c = testkit::CharonConn::psk(
        "tun",
        "192.0.2.2",
        "192.0.2.1",
        &format!("\"{DN}, CN=ec256.testing.libreswan.org\""),
        &format!("\"{DN}, CN=west.testing.libreswan.org\""),
    );
    c.local_auth = "pubkey".into();
    c.remote_auth = "pubkey".into();
    c.proposals = "aes256gcm16-prfsha256-ecp256".into();
    c.local_ts = "10.2.0.0/16".into();
    c.remote_ts = "10.1.0.0/16".into();
    let east = testkit::Charon::start(&net.east, &[c], "unused").expect("charon");
    let sw = east.dir().join("swanctl");
    let p = pki_dir();
    for (from, to) in [
        ("ec256.crt", "x509/east.crt"),
        ("ec256.key", "pkcs8/east.key"),
        ("ca.crt", "x509ca/ca.crt"),
    ] {
        std::fs::copy(p.join(from), sw.join(to)).expect("charon credentials");
    }
    let conf = sw.join("swanctl.conf");
    east.swanctl(&[
        "--load-creds",
        "--noprompt",
        "--file",
        &conf.to_string_lossy(),
    ])
    .unwrap_or_else(|e| panic!("{e}\n{}", east.log()));
    Some((west, east))
}

#[test]
fn certificates_interoperate_with_strongswan() {
    if !can_run_certs("certificates_interoperate_with_strongswan") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let Some((west, east)) = with_charon(&net) else {
        return;
    };
    // ferroswan initiates.
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains(&format!(
            "digital signature using peer certificate '{DN}, CN=ec256.testing.libreswan.org' issued by CA '{DN}, CN=Libreswan test CA'"
        )),
        "{out}\n{}",
        east.log()
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", east.list_sas(), west.log()));
    west.auto(&["--down", "tun"], 0);
    wait_until(Duration::from_secs(10), "strongSwan without SAs", || {
        !east.list_sas().contains("ESTABLISHED")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", east.list_sas()));
    // strongSwan initiates.
    east.swanctl(&["--initiate", "--child", "tun", "--timeout", "20"])
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", east.log(), west.log()));
    wait_until(Duration::from_secs(10), "ferroswan's Child SA", || {
        west.status().contains("STATE_V2_ESTABLISHED_CHILD_SA")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping with strongSwan as initiator");
}

/// Libreswan's pluto on east with ec256's certificate (nickname "east")
/// and the CA in its NSS database, expecting west's DN.
fn libreswan_east(net: &NetPair, pluto_args: &[&str]) -> testkit::Libreswan {
    let mut lsw = testkit::Libreswan::prepare(&net.east, "").expect("prepare pluto");
    fill_nss(&lsw.dir().join("nss"), "ec256", "east", &[], "");
    lsw.launch(pluto_args).expect("start pluto");
    let mut c = testkit::LibreswanConn::psk(
        "tun",
        "192.0.2.2",
        "192.0.2.1",
        "%fromcert",
        &format!("\"{DN}, CN=west.testing.libreswan.org\""),
    );
    // Libreswan signs with ECDSA, the peer (ferroswan) with RSA.
    c.authby = "rsasig,ecdsa".into();
    c.ike = "aes_gcm256-sha2_256-dh19".into();
    c.leftsubnet = Some("10.2.0.0/16".into());
    c.rightsubnet = Some("10.1.0.0/16".into());
    c.extra = vec![
        "leftcert=east".into(),
        "leftauth=ecdsa".into(),
        "rightauth=rsasig".into(),
        "rightca=%same".into(),
    ];
    lsw.add(&c).unwrap_or_else(|e| panic!("{e}\n{}", lsw.log()));
    lsw
}

#[test]
fn certificates_interoperate_with_libreswan() {
    let test = "certificates_interoperate_with_libreswan";
    if !can_run_certs(test) {
        return;
    }
    if !testkit::Libreswan::available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: Libreswan is not unpacked (scripts/install-deps)");
        }
        eprintln!("SKIPPED {test}: Libreswan is not unpacked (scripts/install-deps)");
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // This kernel has no ESP, so Libreswan cannot install a Child SA: what
    // counts is the IKE SA, authenticated by certificates on both sides.
    let wf = nss_files("west", "west", &[]);
    let files: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let west = Daemon::start_with(&net.west, &west_conf(), "", &files);
    let peer_ec256 = format!(
        "digital signature using peer certificate '{DN}, CN=ec256.testing.libreswan.org' issued by CA '{DN}, CN=Libreswan test CA'"
    );
    let lsw_authenticated_west = format!(
        "authenticated peer '2048-bit RSASSA-PSS with SHA2_256' digital signature using peer certificate '{DN}, CN=west.testing.libreswan.org' issued by CA '{DN}, CN=Libreswan test CA'"
    );
    {
        // ferroswan initiates; Libreswan refuses the Child SA (no ESP
        // here), the IKE SA stays.
        let lsw = libreswan_east(&net, &[]);
        west.auto(&["--asynchronous", "--up", "tun"], 0);
        wait_until(Duration::from_secs(15), "Libreswan's IKE SA", || {
            lsw.ike_sa_established("tun")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", lsw.log(), west.log()));
        let log = lsw.log();
        assert!(
            log.contains(&format!(
                "responder established IKE SA; {lsw_authenticated_west}"
            )),
            "{log}"
        );
        wait_until(Duration::from_secs(10), "ferroswan's IKE SA", || {
            west.log().lines().any(|l| {
                l.contains("initiator established IKE SA; authenticated peer '256-bit ECDSA")
                    && l.contains(&peer_ec256)
            })
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
        west.auto(&["--down", "tun"], 0);
    }
    // Libreswan 4.10 initiates without a Child SA only by impairment;
    // ferroswan responds.
    let lsw = libreswan_east(&net, &["--impair", "omit-v2-ike-auth-child"]);
    let up = lsw.up("tun").expect("ipsec auto --up");
    assert!(
        up.text().contains(&format!(
            "initiator established IKE SA; {lsw_authenticated_west}"
        )),
        "{}\n{}",
        up.text(),
        west.log()
    );
    wait_until(
        Duration::from_secs(10),
        "ferroswan's responder IKE SA",
        || {
            west.log().lines().any(|l| {
                l.contains("responder established IKE SA; authenticated peer '256-bit ECDSA")
                    && l.contains(&peer_ec256)
            })
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
}

#[test]
fn password_protected_nss_database_with_nsspassword() {
    if !can_run_certs("password_protected_nss_database_with_nsspassword") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let mut files = nss_files_with_password("west", "west", &[], "s3cret pass");
    files.push((
        "ipsec.d/nsspassword".into(),
        b"NSS Certificate DB:s3cret pass\n".to_vec(),
    ));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let west = Daemon::start_with(&net.west, &west_conf(), "", &refs);
    let certs = west.auto(&["--listcerts"], 0);
    assert!(
        certs.contains("000   2048 bit RSA: has private key"),
        "the key decrypted with the nsspassword file: {certs}\n{}",
        west.log()
    );
    // A wrong password: the reread fails and says so; the old store stays.
    std::fs::write(
        west.dir.path().join("ipsec.d/nsspassword"),
        "NSS Certificate DB:wrong\n",
    )
    .expect("write nsspassword");
    let o = west.ipsec(&["auto", "--rereadcerts"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(56), "{out}");
    assert!(
        out.contains("cannot load the NSS database")
            && out.contains("password")
            && out.contains("keeping the previous"),
        "{out}"
    );
    assert!(west
        .auto(&["--listcerts"], 0)
        .contains("000   2048 bit RSA: has private key"));
    assert!(!out.contains("s3cret"), "the password never shows: {out}");
}

#[test]
fn rereadcerts_takes_a_renewed_certificate() {
    if !can_run_certs("rereadcerts_takes_a_renewed_certificate") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let (west, _east) = start(&net, "west", &[]);
    west.auto(&["--up", "tun"], 0);
    west.auto(&["--down", "tun"], 0);
    // A renewed certificate for west: same subject, new key, serial 0x1234.
    let tmp = TempDir::new("renewed").expect("temporary directory");
    let new = tmp.path().join("renewed");
    run(
        pki_dir(),
        &format!(
            "openssl req -new -newkey rsa:2048 -nodes -keyout {n}.key -out {n}.csr \
             -subj /C=CA/ST=Ontario/O=Libreswan/CN=west.testing.libreswan.org 2>/dev/null && \
             openssl x509 -req -in {n}.csr -CA ca.crt -CAkey ca.key -set_serial 0x1234 \
             -days 30 -out {n}.crt 2>/dev/null",
            n = new.display()
        ),
    );
    for (path, bytes) in nss_files(&new.to_string_lossy(), "west", &[]) {
        std::fs::write(west.dir.path().join(path), bytes).expect("replace the NSS database");
    }
    west.auto(&["--rereadcerts"], 0);
    let certs = west.auto(&["--listcerts"], 0);
    assert!(
        certs.contains("000 End certificate \"west\" - SN: 0x1234"),
        "{certs}"
    );
    // The connection signs with the new key (the old one is gone).
    let out = west.auto(&["--up", "tun"], 0);
    assert!(out.contains("established Child SA"), "{out}");
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
}

#[test]
fn rereadcerts_readies_a_connection_waiting_for_its_certificate() {
    if !can_run_certs("rereadcerts_readies_a_connection_waiting_for_its_certificate") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let ef = nss_files("ec256", "east", &[]);
    let efiles: Vec<(&str, &[u8])> = ef.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let _east = Daemon::start_with(&net.east, &east_conf(""), "", &efiles);
    // West starts without its database: the connection is added, not ready.
    let west = Daemon::start(&net.west, &west_conf(), "");
    let o = west.ipsec(&["auto", "--up", "tun"]);
    assert_eq!(o.status.code(), Some(56));
    std::fs::create_dir_all(west.dir.path().join("nss")).expect("nss dir");
    for (path, bytes) in nss_files("west", "west", &[]) {
        std::fs::write(west.dir.path().join(path), bytes).expect("write the NSS database");
    }
    west.auto(&["--rereadcerts"], 0);
    let status = west.status();
    assert!(
        status.contains(&format!(
            "our idtype: ID_DER_ASN1_DN; our id={DN}, CN=west.testing.libreswan.org;"
        )),
        "{status}"
    );
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
}

/// `--listall` without what legitimately differs between two daemons: the
/// time each loaded a key (the start of a key line) and the path of
/// ipsec.secrets.
fn normalized_listall(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            if l.contains(" Key ") && l.contains(" private key), until ") {
                match l.split_once(", ") {
                    Some((_, rest)) => format!("000 <loaded>, {rest}"),
                    None => l.to_string(),
                }
            } else if l.starts_with("000 List of Pre-shared secrets (from ") {
                "000 List of Pre-shared secrets (from <file>)".to_string()
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[test]
fn listall_matches_libreswan_over_the_same_database() {
    let test = "listall_matches_libreswan_over_the_same_database";
    if !can_run_certs(test) {
        return;
    }
    if !testkit::Libreswan::available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: Libreswan is not unpacked (scripts/install-deps)");
        }
        eprintln!("SKIPPED {test}: Libreswan is not unpacked (scripts/install-deps)");
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // Libreswan 4.10 on east with west's certificate, key and a peer
    // certificate in its NSS database; ferroswan on west with the same.
    let mut lsw = testkit::Libreswan::prepare(&net.east, "").expect("prepare pluto");
    fill_nss(&lsw.dir().join("nss"), "west", "west", &["ec256"], "");
    lsw.launch(&[]).expect("start pluto");
    let mut c = testkit::LibreswanConn::psk("tun", "192.0.2.2", "192.0.2.1", "%fromcert", "%any");
    c.authby = "rsasig".into();
    c.extra = vec!["leftcert=west".into()];
    lsw.add(&c).unwrap_or_else(|e| panic!("{e}\n{}", lsw.log()));
    let theirs = lsw
        .auto(&["--utc", "--listall"])
        .expect("ipsec auto --listall");
    assert!(theirs.success(), "{}", theirs.text());
    let wf = nss_files("west", "west", &["ec256"]);
    let files: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let conf = "config setup\n\tprotostack=userspace\n\tlogtime=no\n\n\
                conn tun\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftcert=west\n\
                \tleftid=%fromcert\n\tauto=add\n";
    let west = Daemon::start_with(&net.west, conf, "", &files);
    let ours = west.auto(&["--utc", "--listall"], 0);
    let (ours, theirs) = (
        normalized_listall(&ours),
        normalized_listall(&theirs.stdout),
    );
    for (i, (a, b)) in ours.iter().zip(theirs.iter()).enumerate() {
        assert_eq!(
            a, b,
            "line {i} differs:\nferroswan:\n{ours:#?}\nLibreswan:\n{theirs:#?}"
        );
    }
    assert_eq!(ours.len(), theirs.len(), "{ours:#?}\n{theirs:#?}");
}

#[test]
fn a_crl_server_that_never_answers_blocks_nothing() {
    let test = "a_crl_server_that_never_answers_blocks_nothing";
    if !can_run_certs(test) {
        return;
    }
    if !testkit::have_program("busybox") {
        eprintln!("skipping {test}: busybox is not installed (scripts/install-deps)");
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // A listener on the distribution point's address that accepts and
    // never answers (its stdin stays open).
    net.east
        .exec_ok(&["ip", "addr", "add", "192.0.2.254/32", "dev", "lo"])
        .expect("address");
    let mut silent = net
        .east
        .command("busybox")
        .args(["nc", "-l", "-p", "80"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("busybox nc");
    let (west, east) = start_with(&net, "west", &[], "\tcrl-timeout=10s\n", &[]);
    let started = std::time::Instant::now();
    let o = east.auto(&["--fetchcrls"], 0);
    assert!(o.contains("fetching 1 CRL(s) in the background"), "{o}");
    // A daemon that waited would take the 10 s of crl-timeout.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "--fetchcrls waited for the fetch"
    );
    // The daemon keeps answering and negotiating while the fetch hangs.
    let started = std::time::Instant::now();
    assert!(east.status().contains("\"tun\""));
    west.auto(&["--up", "tun"], 0);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the event loop waited for the fetch"
    );
    let timed_out = || {
        east.log()
            .lines()
            .any(|l| l.contains("cannot fetch the CRL") && l.contains("timed out after 10000ms"))
    };
    wait_until(Duration::from_secs(30), "the fetch's timeout", timed_out)
        .unwrap_or_else(|e| panic!("{e}: {}", east.log()));
    let _ = silent.kill();
    let _ = silent.wait();
}

/// The public key of the PKI's certificate `cert` as `leftpubkey=` takes
/// it (`0s` + base64 SubjectPublicKeyInfo).
fn pubkey_of(cert: &str) -> String {
    let b64 = output(
        pki_dir(),
        &format!(
            "openssl x509 -in {cert}.crt -noout -pubkey | openssl pkey -pubin -outform DER \
             | openssl base64 -A"
        ),
    );
    format!("0s{b64}")
}

#[test]
fn raw_keys_with_private_keys_in_nss_databases() {
    if !can_run_certs("raw_keys_with_private_keys_in_nss_databases") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // No leftcert=: raw public keys in ipsec.conf, the private halves in
    // each side's NSS database (as `ipsec newhostkey` leaves them).
    let conf = format!(
        "config setup\n\
         \tprotostack=userspace\n\
         \tlogtime=no\n\
         \n\
         conn tun\n\
         \tleft=192.0.2.1\n\
         \tleftid=@west\n\
         \tleftpubkey={}\n\
         \tleftsubnet=10.1.0.0/16\n\
         \tright=192.0.2.2\n\
         \trightid=@east\n\
         \trightpubkey={}\n\
         \trightsubnet=10.2.0.0/16\n\
         \tauthby=rsasig\n\
         \tauto=add\n",
        pubkey_of("west"),
        pubkey_of("east")
    );
    let wf = nss_files("west", "west", &[]);
    let ef = nss_files("east", "east", &[]);
    let wfiles: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let efiles: Vec<(&str, &[u8])> = ef.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let west = Daemon::start_with(&net.west, &conf, "", &wfiles);
    let _east = Daemon::start_with(&net.east, &conf, "", &efiles);
    let out = west.auto(&["--up", "tun"], 0);
    assert!(
        out.contains("digital signature using preloaded certificate '@east'"),
        "{out}"
    );
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
}

#[test]
fn ocsp_strict_asks_about_a_peer_certificate_it_does_not_hold() {
    let test = "ocsp_strict_asks_about_a_peer_certificate_it_does_not_hold";
    if !can_run_certs(test) {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    let _responder = OcspResponder::start(&net.east);
    let (west, east) = start_with(
        &net,
        "west",
        &[],
        "\tocsp-enable=yes\n\tocsp-strict=yes\n\tocsp-method=post\n",
        &[],
    );
    // East has never seen west's certificate: no answer yet, refused, and
    // the question goes to the responder in the background.
    let o = west.ipsec(&["auto", "--up", "tun"]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let answered = || {
        let log = east.log();
        log.contains("no OCSP answer for certificate")
            && log.contains("fetched the OCSP status of C=CA, ST=Ontario, O=Libreswan, CN=west")
    };
    wait_until(Duration::from_secs(15), "the OCSP answer", answered)
        .unwrap_or_else(|e| panic!("{e}: {}", east.log()));
    // The next attempt finds the answer (good) in the cache.
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
}

/// The CKAID of the PKI's RSA certificate `cert` (SHA-1 of the modulus, as
/// NSS and `leftckaid=` have it).
fn ckaid_of(cert: &str) -> String {
    output(
        pki_dir(),
        &format!(
            "openssl x509 -in {cert}.crt -noout -modulus | cut -d= -f2 | basenc --base16 -d \
             | openssl sha1 -r | cut -d' ' -f1"
        ),
    )
}

#[test]
fn leftckaid_names_our_key_in_the_nss_database() {
    if !can_run_certs("leftckaid_names_our_key_in_the_nss_database") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    // Each side names its own key by CKAID only, and the peer's by its
    // public key.
    let conf = |left: &str, right: &str| {
        format!(
            "config setup\n\
             \tprotostack=userspace\n\
             \tlogtime=no\n\
             \n\
             conn tun\n\
             \tleft=192.0.2.1\n\
             \tleftid=@west\n\
             \t{left}\n\
             \tleftsubnet=10.1.0.0/16\n\
             \tright=192.0.2.2\n\
             \trightid=@east\n\
             \t{right}\n\
             \trightsubnet=10.2.0.0/16\n\
             \tauthby=rsasig\n\
             \tauto=add\n"
        )
    };
    let west_conf = conf(
        &format!("leftckaid={}", ckaid_of("west")),
        &format!("rightpubkey={}", pubkey_of("east")),
    );
    let east_conf = conf(
        &format!("leftpubkey={}", pubkey_of("west")),
        // A prefix is enough, as in Libreswan.
        &format!("rightckaid={}", &ckaid_of("east")[..16]),
    );
    let wf = nss_files("west", "west", &[]);
    let ef = nss_files("east", "east", &[]);
    let wfiles: Vec<(&str, &[u8])> = wf.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let efiles: Vec<(&str, &[u8])> = ef.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let west = Daemon::start_with(&net.west, &west_conf, "", &wfiles);
    let _east = Daemon::start_with(&net.east, &east_conf, "", &efiles);
    west.auto(&["--up", "tun"], 0);
    wait_ping(&net.west, "10.1.0.1", "10.2.0.1").expect("ping through the tunnel");
    // A CKAID the database does not have: a clear failure.
    let bad = west_conf.replace(&ckaid_of("west"), "00112233");
    std::fs::write(west.dir.path().join("ipsec.conf"), bad).expect("write ipsec.conf");
    west.auto(&["--replace", "tun"], 0);
    let out = west.auto(&["--up", "tun"], 56);
    assert!(
        out.contains("leftckaid=00112233: no private key with this CKAID in the NSS database"),
        "{out}"
    );
}
