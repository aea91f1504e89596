//! CRLs over LDAP from a real server: a slapd (Debian's `slapd`) started by
//! the test on 127.0.0.1 with a configuration and a database the test makes
//! (slapadd), holding the test CA's CRL (made with `openssl ca -revoke` /
//! `-gencrl`) in a `cRLDistributionPoint` entry. Skipped with a message
//! when not root or slapd is missing; under CI=true those fail instead.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use pki::fetch::{fetch_crl_url, fetch_crls, FetchConfig, FetchError, FetchJob, FetchOutcome};
use pki::ldap::LdapError;
use pki::{CertStore, Certificate, OcspCache, RevocationStatus, Trust};

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SUFFIX: &str = "o=ferroswan";

fn pki() -> &'static common::TestPki {
    common::pki("ldap")
}

/// Whether the test can run; panics under CI=true when it cannot.
fn slapd_available() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let why = if uid != "0" {
        "needs root"
    } else if !std::path::Path::new(SLAPD).exists() || !std::path::Path::new(SLAPADD).exists() {
        "needs slapd (scripts/install-deps installs Debian's slapd and ldap-utils)"
    } else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("crl_over_ldap_from_slapd cannot run under CI=true: it {why}");
    }
    eprintln!("SKIPPED crl_over_ldap_from_slapd: {why}");
    false
}

/// A slapd of the test's own, killed and its files removed on drop.
struct Slapd {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Slapd {
    /// A slapd in its own directory `name`, with `extra` lines at the end
    /// of its global configuration.
    fn start(crl_der: &[u8], name: &str, extra: &str) -> Slapd {
        let dir = common::fresh_dir(name);
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let conf = dir.join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 {extra}\n\
                 pidfile {d}/slapd.pid\n\
                 argsfile {d}/slapd.args\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{SUFFIX}\"\n\
                 rootdn \"cn=admin,{SUFFIX}\"\n\
                 directory {d}/db\n\
                 access to * by * read\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(crl_der);
        let ldif = dir.join("data.ldif");
        std::fs::write(
            &ldif,
            format!(
                "dn: {SUFFIX}\nobjectClass: organization\no: ferroswan\n\n\
                 dn: cn=Libreswan test CA,{SUFFIX}\nobjectClass: cRLDistributionPoint\n\
                 cn: Libreswan test CA\ncertificateRevocationList;binary:: {b64}\n\n\
                 dn: cn=empty,{SUFFIX}\nobjectClass: cRLDistributionPoint\ncn: empty\n"
            ),
        )
        .unwrap();
        let out = Command::new(SLAPADD)
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A free port: bind, note, release; slapd may lose it to another
        // test in between, so a start that fails is tried again elsewhere.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            // -d 0: stay in the foreground (killed on drop), no debug output.
            let mut child = Command::new(SLAPD)
                .arg("-h")
                .arg(format!("ldap://127.0.0.1:{port}/"))
                .arg("-f")
                .arg(&conf)
                .args(["-d", "0"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let log = std::thread::spawn(move || {
                BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            let mut slapd = Slapd {
                child,
                port,
                dir: dir.clone(),
            };
            // Bounded wait until it accepts connections.
            let started = Instant::now();
            let mut exited = false;
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(_)) = slapd.child.try_wait() {
                    exited = true;
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "slapd does not listen on 127.0.0.1:{port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            if !exited {
                return slapd;
            }
            // Keep the files for the next attempt.
            slapd.dir = PathBuf::new();
            last_log = log.join().unwrap_or_default();
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("slapd does not start: {last_log}");
    }

    fn url(&self, rest: &str) -> String {
        format!("ldap://127.0.0.1:{}/{rest}", self.port)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A certificate like west's whose CRL distribution point is `cdp`.
fn cert_with_cdp(name: &str, cdp: &str) -> Certificate {
    let p = pki();
    std::fs::write(
        p.path(&format!("{name}.ext")),
        format!(
            "[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             crlDistributionPoints={cdp}\n"
        ),
    )
    .unwrap();
    common::run(
        &p.dir,
        &format!(
            "openssl x509 -req -in west.csr -CA ca.crt -CAkey ca.key -set_serial 0x4343 -days 30 \
             -extfile {name}.ext -extensions v3 -out {name}.crt 2>/dev/null"
        ),
    );
    p.cert(name)
}

#[test]
fn crl_over_ldap_from_slapd() {
    if !slapd_available() {
        return;
    }
    let p = pki();
    let crl_der = std::fs::read(p.path("ca.crl.der")).unwrap();
    let slapd = Slapd::start(&crl_der, "slapd", "");
    let config = FetchConfig::default();
    let revoked = p.cert("revoked");

    // The URL as a CA writes it: base DN, attribute with ;binary.
    let url = slapd.url(&format!(
        "cn=Libreswan%20test%20CA,{SUFFIX}?certificateRevocationList;binary"
    ));
    let crls = fetch_crl_url(&url, &config).unwrap();
    assert_eq!(crls.len(), 1);
    assert_eq!(crls[0].der(), crl_der.as_slice());
    assert!(crls[0].find(revoked.serial()).is_some());
    assert!(crls[0].find(p.cert("east").serial()).is_none());

    // No attribute named (the default), the attribute without ;binary, and
    // a subtree search with a filter all find the same CRL.
    for rest in [
        format!("cn=Libreswan%20test%20CA,{SUFFIX}"),
        format!("cn=Libreswan%20test%20CA,{SUFFIX}?certificateRevocationList"),
        format!("{SUFFIX}?certificateRevocationList?sub?(&(objectClass=cRLDistributionPoint)(cn=Libreswan*))"),
    ] {
        let crls = fetch_crl_url(&slapd.url(&rest), &config).unwrap();
        assert_eq!(crls.len(), 1, "{rest}");
        assert_eq!(crls[0].der(), crl_der.as_slice(), "{rest}");
    }

    // A certificate whose distribution point is the LDAP URL: fetched,
    // verified against the CA and used for revocation.
    // (A comma would end the URI in openssl's extension syntax: %2C.)
    let cert = cert_with_cdp("cdp-ldap", &format!("URI:{}", url.replace(',', "%2C")));
    assert_eq!(cert.crl_distribution_points(), [url.replace(',', "%2C")]);
    let crls = fetch_crls(&cert, &config).unwrap();
    let mut store = CertStore::new();
    store.add_cert(
        "ca",
        p.cert("ca"),
        Trust {
            trusted_ca: true,
            ..Trust::default()
        },
    );
    let outcome = FetchOutcome::Crl {
        source: url.clone(),
        result: Ok(crls),
    };
    let mut cache = OcspCache::default();
    assert_eq!(
        outcome
            .apply(&mut store, &mut cache, common::now())
            .unwrap(),
        1
    );
    assert!(matches!(
        store.crls().status(&revoked),
        RevocationStatus::Revoked(_)
    ));

    // Through the fetcher thread.
    let fetcher = pki::fetch::Fetcher::spawn(config.clone()).unwrap();
    fetcher
        .submit(FetchJob::CrlUrl { url: url.clone() })
        .unwrap();
    match fetcher.next_timeout(Duration::from_secs(10)) {
        Some(FetchOutcome::Crl { source, result }) => {
            assert_eq!(source, url);
            assert_eq!(result.unwrap()[0].der(), crl_der.as_slice());
        }
        other => panic!("{other:?}"),
    }
    fetcher.shutdown();

    // The server's errors are reported with its result code.
    let err = fetch_crl_url(&slapd.url(&format!("cn=nobody,{SUFFIX}")), &config).unwrap_err();
    match &err {
        FetchError::Ldap {
            source: LdapError::SearchFailed { result, .. },
            ..
        } => assert_eq!(result.code, 32),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("32 (noSuchObject)"), "{err}");
    let err = fetch_crl_url(&slapd.url(&format!("cn=empty,{SUFFIX}")), &config).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Ldap {
                source: LdapError::NotFound { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("found no certificateRevocationList;binary value"),
        "{err}"
    );
    // A value that is not a CRL.
    let err = fetch_crl_url(
        &slapd.url(&format!("cn=Libreswan%20test%20CA,{SUFFIX}?cn")),
        &config,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::Invalid { .. }), "{err}");
}

#[test]
fn a_server_refusing_anonymous_binds_says_so() {
    if !slapd_available() {
        return;
    }
    let crl_der = std::fs::read(pki().path("ca.crl.der")).unwrap();
    let slapd = Slapd::start(&crl_der, "slapd-noanon", "disallow bind_anon");
    let url = slapd.url(&format!("cn=Libreswan%20test%20CA,{SUFFIX}"));
    let err = fetch_crl_url(&url, &FetchConfig::default()).unwrap_err();
    match &err {
        FetchError::Ldap {
            source: LdapError::BindRefused(result),
            ..
        } => assert_eq!(result.code, 48, "{result}"),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("the LDAP server refused the anonymous bind"),
        "{err}"
    );
}
