//! Fetching CRLs from a small HTTP server on 127.0.0.1 and OCSP answers from
//! `openssl ocsp -port`, directly and through the `Fetcher` thread;
//! timeouts against a server that never answers.

mod common;

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pki::fetch::{
    crl_jobs, fetch_crl_url, fetch_crls, fetch_ocsp, ocsp_responder, FetchConfig, FetchError,
    FetchJob, FetchOutcome, Fetcher, OcspMethod,
};
use pki::{
    CertId, CertStore, Certificate, OcspCache, OcspCertStatus, RevocationStatus, Trust, UnixTime,
};

fn pki() -> &'static common::TestPki {
    common::pki("fetch")
}

/// A tiny HTTP/1.0 server: answers `GET /ca.crl` with `body`, anything else
/// with 404; with `hang`, accepts and never answers.
struct HttpServer {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    fn start(body: Vec<u8>, hang: bool) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                r.fetch_add(1, Ordering::SeqCst);
                if hang {
                    held.push(conn);
                    continue;
                }
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let reply = if line.starts_with("GET /ca.crl ") {
                    let mut r = format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                } else {
                    b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
                };
                let _ = conn.write_all(&reply);
            }
        });
        HttpServer {
            port,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `openssl ocsp -port` (OpenSSL 3.0 takes no address: it listens on every
/// interface, on a free port, and is reached over 127.0.0.1), killed on drop.
struct OcspResponder {
    child: Child,
    port: u16,
}

impl OcspResponder {
    fn start() -> OcspResponder {
        let p = pki();
        // A free port: bind, note, release.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args([
                "ocsp",
                "-index",
                "index-ca.txt",
                "-port",
                &port.to_string(),
                "-CA",
                "ca.crt",
                "-rsigner",
                "ocsp.crt",
                "-rkey",
                "ocsp.key",
                "-ndays",
                "1",
            ])
            .current_dir(&p.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut r = OcspResponder { child, port };
        // Bounded wait for its "ACCEPT [::]:port" line (a probing connection
        // would stall the serial responder).
        let stdout = r.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send(first);
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("openssl ocsp does not listen");
        assert!(line.starts_with("ACCEPT"), "openssl ocsp: {line}");
        r.port = port;
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
            "openssl x509 -req -in west.csr -CA ca.crt -CAkey ca.key -set_serial 0x4242 -days 30 \
             -extfile {name}.ext -extensions v3 -out {name}.crt 2>/dev/null"
        ),
    );
    p.cert(name)
}

fn store_with_ca() -> CertStore {
    let mut store = CertStore::new();
    store.add_cert(
        "ca",
        pki().cert("ca"),
        Trust {
            trusted_ca: true,
            ..Trust::default()
        },
    );
    store
}

#[test]
fn crl_from_a_distribution_point_over_http() {
    let p = pki();
    let server = HttpServer::start(std::fs::read(p.path("ca.crl.der")).unwrap(), false);
    let cert = cert_with_cdp(
        "cdp-http",
        &format!(
            "URI:{},URI:{}",
            server.url("/missing.crl"),
            server.url("/ca.crl")
        ),
    );
    // The first distribution point answers 404; the second has the CRL.
    let crls = fetch_crls(&cert, &FetchConfig::default()).unwrap();
    assert_eq!(crls.len(), 1);
    assert_eq!(crls[0].der(), p.crl("ca.crl.der").der());
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);

    // Applied to a store: verified against the CA, then used for revocation.
    let mut store = store_with_ca();
    let mut cache = OcspCache::default();
    let outcome = FetchOutcome::Crl {
        source: server.url("/ca.crl"),
        result: Ok(crls),
    };
    assert_eq!(
        outcome
            .apply(&mut store, &mut cache, common::now())
            .unwrap(),
        1
    );
    assert!(matches!(
        store.crls().status(&p.cert("revoked")),
        RevocationStatus::Revoked(_)
    ));
    assert!(matches!(
        store.crls().status(&p.cert("east")),
        RevocationStatus::Good { .. }
    ));

    // A 404 alone is a clear error.
    let err = fetch_crl_url(&server.url("/nothing"), &FetchConfig::default()).unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
}

#[test]
fn a_crl_signed_by_an_unknown_ca_is_not_applied() {
    let p = pki();
    let server = HttpServer::start(std::fs::read(p.path("impostor.crl.pem")).unwrap(), false);
    let crls = fetch_crl_url(&server.url("/ca.crl"), &FetchConfig::default()).unwrap();
    let mut store = store_with_ca();
    let err = FetchOutcome::Crl {
        source: server.url("/ca.crl"),
        result: Ok(crls),
    }
    .apply(&mut store, &mut OcspCache::default(), common::now())
    .unwrap_err();
    assert!(matches!(err, FetchError::Invalid { .. }), "{err}");
    assert!(store.crls().is_empty());
}

#[test]
fn crl_timeout_is_honoured() {
    let server = HttpServer::start(Vec::new(), true);
    let config = FetchConfig {
        crl_timeout: Duration::from_millis(400),
        ..FetchConfig::default()
    };
    let started = Instant::now();
    let err = fetch_crl_url(&server.url("/ca.crl"), &config).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(err.to_string().contains("timed out after 400ms"), "{err}");
}

#[test]
fn unusable_ldap_urls_and_other_schemes_say_so() {
    // ldap:// is fetched: nobody listens on this port, so it is a
    // connection error naming the server.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cert = cert_with_cdp(
        "cdp-ldap",
        &format!("URI:ldap://127.0.0.1:{port}/cn=ca?certificateRevocationList"),
    );
    let err = fetch_crls(&cert, &FetchConfig::default()).unwrap_err();
    assert!(matches!(err, FetchError::Ldap { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "cannot connect to the LDAP server 127.0.0.1:{port}"
        )),
        "{err}"
    );
    let err = fetch_crl_url("ldaps://192.0.2.254/cn=ca", &FetchConfig::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("ldaps:// (LDAP over TLS) is not supported"),
        "{err}"
    );
    let err = fetch_crl_url("https://192.0.2.254/ca.crl", &FetchConfig::default()).unwrap_err();
    assert!(matches!(err, FetchError::UnsupportedScheme { .. }), "{err}");
    let err = fetch_crls(&pki().cert("ca"), &FetchConfig::default()).unwrap_err();
    assert!(
        matches!(err, FetchError::NoDistributionPoint { .. }),
        "{err}"
    );
}

#[test]
fn ldap_crl_timeout_is_honoured() {
    // Accepts the connection, never answers the bind.
    let server = HttpServer::start(Vec::new(), true);
    let config = FetchConfig {
        crl_timeout: Duration::from_millis(400),
        ..FetchConfig::default()
    };
    let started = Instant::now();
    let err =
        fetch_crl_url(&format!("ldap://127.0.0.1:{}/cn=ca", server.port), &config).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn ocsp_get_and_post_against_openssl() {
    let p = pki();
    let responder = OcspResponder::start();
    let ca = p.cert("ca");
    for method in [OcspMethod::Get, OcspMethod::Post] {
        let config = FetchConfig {
            ocsp_uri: Some(responder.url()),
            ocsp_method: method,
            ..FetchConfig::default()
        };
        let good = fetch_ocsp(&p.cert("east"), &ca, None, &config, common::now()).unwrap();
        assert_eq!(good.status, OcspCertStatus::Good, "{method:?}");
        let revoked = fetch_ocsp(&p.cert("revoked"), &ca, None, &config, common::now()).unwrap();
        assert!(
            matches!(revoked.status, OcspCertStatus::Revoked { .. }),
            "{method:?}: {revoked:?}"
        );
    }
    // Without ocsp-uri the certificate's Authority Information Access names
    // the responder.
    assert_eq!(
        ocsp_responder(&p.cert("east"), &FetchConfig::default()).unwrap(),
        "http://192.0.2.254:2560"
    );
    let err = ocsp_responder(&ca, &FetchConfig::default()).unwrap_err();
    assert!(matches!(err, FetchError::NoOcspUri { .. }), "{err}");
}

#[test]
fn ocsp_timeout_is_honoured() {
    let p = pki();
    let server = HttpServer::start(Vec::new(), true);
    let config = FetchConfig {
        ocsp_uri: Some(server.url("")),
        ocsp_timeout: Duration::from_millis(300),
        ocsp_method: OcspMethod::Post,
        ..FetchConfig::default()
    };
    let started = Instant::now();
    let err = fetch_ocsp(&p.cert("east"), &p.cert("ca"), None, &config, common::now()).unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn fetcher_thread_never_blocks_and_fills_the_stores() {
    let p = pki();
    let crl_server = HttpServer::start(std::fs::read(p.path("ca.crl.pem")).unwrap(), false);
    let hanging = HttpServer::start(Vec::new(), true);
    let responder = OcspResponder::start();
    let fetcher = Fetcher::spawn(FetchConfig {
        crl_timeout: Duration::from_millis(800),
        ocsp_uri: Some(responder.url()),
        workers: 2,
        ..FetchConfig::default()
    })
    .unwrap();

    // A job against a server that never answers: submitting and polling
    // return at once.
    let started = Instant::now();
    fetcher
        .submit(FetchJob::CrlUrl {
            url: hanging.url("/ca.crl"),
        })
        .unwrap();
    assert!(fetcher.try_next().is_none());
    assert!(started.elapsed() < Duration::from_millis(200));

    fetcher
        .submit(FetchJob::CrlUrl {
            url: crl_server.url("/ca.crl"),
        })
        .unwrap();
    fetcher
        .submit(FetchJob::Ocsp {
            cert: Box::new(p.cert("revoked")),
            issuer: Box::new(p.cert("ca")),
            trusted_responder: None,
        })
        .unwrap();

    let mut store = store_with_ca();
    let mut cache = OcspCache::default();
    let (mut crl_ok, mut ocsp_ok, mut timeouts) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while crl_ok + ocsp_ok + timeouts < 3 && Instant::now() < deadline {
        let Some(outcome) = fetcher.next_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let is_crl = matches!(outcome, FetchOutcome::Crl { .. });
        match outcome.apply(&mut store, &mut cache, UnixTime::now()) {
            Ok(1) if is_crl => crl_ok += 1,
            Ok(1) => ocsp_ok += 1,
            Err(FetchError::Timeout { .. }) => timeouts += 1,
            other => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!((crl_ok, ocsp_ok, timeouts), (1, 1, 1));
    assert!(matches!(
        store.crls().status(&p.cert("revoked")),
        RevocationStatus::Revoked(_)
    ));
    let id = CertId::new(&p.cert("revoked"), &p.cert("ca")).unwrap();
    assert!(matches!(
        cache.get(&id, UnixTime::now()).map(|s| &s.status),
        Some(OcspCertStatus::Revoked { .. })
    ));
    fetcher.shutdown();
}

#[test]
fn fetchcrls_asks_once_per_distribution_point_list() {
    let p = pki();
    let mut store = store_with_ca();
    for n in ["east", "west", "revoked"] {
        store.add_cert(n, p.cert(n), Trust::default());
    }
    let other = cert_with_cdp("cdp-jobs", "URI:http://127.0.0.1:9/other.crl");
    store.add_cert("other", other.clone(), Trust::default());
    let jobs = crl_jobs(&store);
    let certs: Vec<&Certificate> = jobs
        .iter()
        .map(|j| match j {
            FetchJob::CrlOf { cert } => &**cert,
            other => panic!("unexpected job {other:?}"),
        })
        .collect();
    // The CA has no distribution point; east, west and revoked share one.
    assert_eq!(certs, [&p.cert("east"), &other]);
}
