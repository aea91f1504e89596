//! Fetching revocation information: CRLs from a certificate's distribution
//! points (`--fetchcrls`, `crlcheckinterval`, `crl-timeout`) and OCSP
//! answers (`ocsp-uri`, `ocsp-method`, `ocsp-timeout`, `ocsp-trustname`).
//!
//! The blocking functions ([`fetch_crls`], [`fetch_crl_url`], [`fetch_ocsp`])
//! do one fetch with a timeout. [`Fetcher`] runs them on worker threads of
//! its own: the daemon submits [`FetchJob`]s without ever blocking, polls
//! [`FetchOutcome`]s, and applies each to its [`CertStore`] and
//! [`OcspCache`] with [`FetchOutcome::apply`].
//!
//! CRLs come over HTTP (`http://`) and LDAP (`ldap://`, RFC 4516 URLs,
//! fetched with the small client of [`crate::ldap`]); OCSP over HTTP.
//! `https://` is reported as [`FetchError::UnsupportedScheme`] and
//! `ldaps://` as an [`FetchError::Ldap`] error saying so (CRLs and OCSP
//! answers are signed, so they are published over plain transports). `crl-timeout` bounds a
//! whole CRL fetch, LDAP bind and search included.

use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cert::Certificate;
use crate::crl::Crl;
use crate::error::PkiError;
use crate::ocsp::{verify_response, CertId, OcspCache, OcspRequest, OcspStatus};
use crate::store::CertStore;
use crate::time::UnixTime;

/// `ocsp-method=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OcspMethod {
    /// `ocsp-method=get` (Libreswan's default): the request base64 in the URL.
    #[default]
    Get,
    /// `ocsp-method=post`: the DER request as the body.
    Post,
}

/// Settings of fetching.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// `crl-timeout=` (Libreswan's default 5 s): the most one CRL fetch takes.
    pub crl_timeout: Duration,
    /// `ocsp-timeout=` (default 2 s): the most one OCSP exchange takes.
    pub ocsp_timeout: Duration,
    /// `ocsp-method=`.
    pub ocsp_method: OcspMethod,
    /// `ocsp-uri=`: the responder to ask instead of the certificate's
    /// Authority Information Access.
    pub ocsp_uri: Option<String>,
    /// Send a nonce in OCSP requests (and require it back).
    pub ocsp_nonce: bool,
    /// The largest response accepted, in bytes.
    pub max_response_size: usize,
    /// Worker threads of a [`Fetcher`] (at least 1).
    pub workers: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            crl_timeout: Duration::from_secs(5),
            ocsp_timeout: Duration::from_secs(2),
            ocsp_method: OcspMethod::Get,
            ocsp_uri: None,
            ocsp_nonce: true,
            max_response_size: 16 * 1024 * 1024,
            workers: 2,
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server did not answer in time.
    #[error("fetching {url} timed out after {}ms", .after.as_millis())]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout in force.
        after: Duration,
    },
    /// The connection or the transfer failed.
    #[error("fetching {url} failed: {detail}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The server answered with an HTTP error status.
    #[error("fetching {url} failed: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The answer is larger than [`FetchConfig::max_response_size`].
    #[error("fetching {url} failed: the answer exceeds {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// An LDAP fetch failed (bad URL, bind refused, search failed,
    /// malformed reply, ...).
    #[error("fetching {url} failed: {source}")]
    Ldap {
        /// The URL.
        url: String,
        /// What went wrong.
        source: crate::ldap::LdapError,
    },
    /// A URL scheme ferroswan does not fetch from.
    #[error("fetching {url}: unsupported URL scheme (CRLs come from http:// and ldap://, OCSP answers from http://)")]
    UnsupportedScheme {
        /// The URL.
        url: String,
    },
    /// The certificate has no CRL distribution point.
    #[error("certificate \"{subject}\" has no CRL distribution point")]
    NoDistributionPoint {
        /// The certificate's subject.
        subject: String,
    },
    /// Neither `ocsp-uri=` nor the certificate names an OCSP responder.
    #[error("certificate \"{subject}\" names no OCSP responder and ocsp-uri is not set")]
    NoOcspUri {
        /// The certificate's subject.
        subject: String,
    },
    /// The fetched data is not a usable CRL or OCSP answer.
    #[error("{url}: {source}")]
    Invalid {
        /// The URL.
        url: String,
        /// The parse or verification error.
        source: PkiError,
    },
    /// Every distribution point failed.
    #[error("no CRL could be fetched for \"{subject}\": {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    AllFailed {
        /// The certificate's subject.
        subject: String,
        /// The error of each distribution point.
        errors: Vec<FetchError>,
    },
    /// The fetcher's threads are gone.
    #[error("the CRL/OCSP fetcher is stopped")]
    Stopped,
    /// A worker thread could not be started.
    #[error("cannot start the CRL/OCSP fetcher thread: {0}")]
    Spawn(String),
}

/// What to fetch.
#[derive(Debug, Clone)]
pub enum FetchJob {
    /// The CRL of a certificate's issuer, from the certificate's
    /// distribution points (the first that answers).
    CrlOf {
        /// The certificate.
        cert: Box<Certificate>,
    },
    /// A CRL from one URL.
    CrlUrl {
        /// The URL.
        url: String,
    },
    /// The OCSP status of a certificate.
    Ocsp {
        /// The certificate.
        cert: Box<Certificate>,
        /// Its issuer.
        issuer: Box<Certificate>,
        /// A responder certificate trusted directly (`ocsp-trustname=`).
        trusted_responder: Option<Box<Certificate>>,
    },
}

/// The result of a [`FetchJob`].
#[derive(Debug)]
pub enum FetchOutcome {
    /// CRLs fetched (not yet verified against the store's CAs).
    Crl {
        /// The URL they came from, or the subject asked about.
        source: String,
        /// The CRLs, or why none came.
        result: Result<Vec<Crl>, FetchError>,
    },
    /// An OCSP answer (verified).
    Ocsp {
        /// The certificate's subject.
        subject: String,
        /// The CertID asked about.
        cert_id: Option<CertId>,
        /// The answer, or why none came.
        result: Result<OcspStatus, FetchError>,
    },
}

impl FetchOutcome {
    /// Puts the result into the daemon's stores: CRLs into `store` (each
    /// verified against the store's CA certificates), an OCSP answer into
    /// `cache` at `now`. Returns how many entries changed, or the fetch
    /// error.
    pub fn apply(
        self,
        store: &mut CertStore,
        cache: &mut OcspCache,
        now: UnixTime,
    ) -> Result<usize, FetchError> {
        match self {
            FetchOutcome::Crl { source, result } => {
                let mut changed = 0;
                for crl in result? {
                    if store.add_crl(crl).map_err(|e| FetchError::Invalid {
                        url: source.clone(),
                        source: e,
                    })? {
                        changed += 1;
                    }
                }
                Ok(changed)
            }
            FetchOutcome::Ocsp {
                cert_id, result, ..
            } => {
                let status = result?;
                match cert_id {
                    Some(id) => {
                        cache.insert(id, status, now);
                        Ok(1)
                    }
                    None => Ok(0),
                }
            }
        }
    }
}

/// `ldap://` and `ldaps://` (the latter refused by [`crate::ldap::LdapUrl`]
/// with its reason).
fn is_ldap(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("ldap://") || lower.starts_with("ldaps://")
}

fn check_scheme(url: &str) -> Result<(), FetchError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") {
        Ok(())
    } else {
        Err(FetchError::UnsupportedScheme {
            url: url.to_string(),
        })
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(timeout)
        .redirects(3)
        .build()
}

fn read_body(
    url: &str,
    started: Instant,
    timeout: Duration,
    limit: usize,
    result: Result<ureq::Response, ureq::Error>,
) -> Result<Vec<u8>, FetchError> {
    let timed_out = |started: Instant| started.elapsed() >= timeout;
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(status, _)) => {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            })
        }
        Err(ureq::Error::Transport(t)) => {
            if timed_out(started) || t.to_string().contains("timed out") {
                return Err(FetchError::Timeout {
                    url: url.to_string(),
                    after: timeout,
                });
            }
            return Err(FetchError::Http {
                url: url.to_string(),
                detail: t.to_string(),
            });
        }
    };
    let mut body = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    resp.into_reader()
        .take(cap)
        .read_to_end(&mut body)
        .map_err(|e| {
            if timed_out(started)
                || matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                )
            {
                FetchError::Timeout {
                    url: url.to_string(),
                    after: timeout,
                }
            } else {
                FetchError::Http {
                    url: url.to_string(),
                    detail: e.to_string(),
                }
            }
        })?;
    if body.len() > limit {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    Ok(body)
}

/// GETs `url` (http:// only) within `timeout`; the body, at most `limit` bytes.
pub fn http_get(url: &str, timeout: Duration, limit: usize) -> Result<Vec<u8>, FetchError> {
    check_scheme(url)?;
    let started = Instant::now();
    let result = agent(timeout).get(url).call();
    read_body(url, started, timeout, limit, result)
}

/// POSTs `body` as `content_type` to `url` (http:// only) within `timeout`.
pub fn http_post(
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    check_scheme(url)?;
    let started = Instant::now();
    let result = agent(timeout)
        .post(url)
        .set("Content-Type", content_type)
        .send_bytes(body);
    read_body(url, started, timeout, limit, result)
}

/// Fetches the values of an `ldap://` URL within `timeout`, at most
/// `limit` bytes in all (see [`crate::ldap`]).
pub fn ldap_get(url: &str, timeout: Duration, limit: usize) -> Result<Vec<Vec<u8>>, FetchError> {
    use crate::ldap::LdapError;
    crate::ldap::fetch_url(url, timeout, limit).map_err(|e| match e {
        LdapError::Timeout => FetchError::Timeout {
            url: url.to_string(),
            after: timeout,
        },
        LdapError::TooLarge { limit } => FetchError::TooLarge {
            url: url.to_string(),
            limit,
        },
        source => FetchError::Ldap {
            url: url.to_string(),
            source,
        },
    })
}

/// Fetches the CRLs (PEM or DER) published at `url` (`http://` or
/// `ldap://`) within `crl-timeout`.
pub fn fetch_crl_url(url: &str, config: &FetchConfig) -> Result<Vec<Crl>, FetchError> {
    let invalid = |source| FetchError::Invalid {
        url: url.to_string(),
        source,
    };
    if is_ldap(url) {
        let mut crls = Vec::new();
        for value in ldap_get(url, config.crl_timeout, config.max_response_size)? {
            crls.extend(Crl::from_pem_or_der(&value).map_err(invalid)?);
        }
        return Ok(crls);
    }
    let data = http_get(url, config.crl_timeout, config.max_response_size)?;
    Crl::from_pem_or_der(&data).map_err(invalid)
}

/// Fetches the CRL of `cert`'s issuer from the certificate's distribution
/// points, in order; the first that gives a CRL wins.
pub fn fetch_crls(cert: &Certificate, config: &FetchConfig) -> Result<Vec<Crl>, FetchError> {
    let points = cert.crl_distribution_points();
    if points.is_empty() {
        return Err(FetchError::NoDistributionPoint {
            subject: cert.subject().to_string(),
        });
    }
    let mut errors = Vec::new();
    for url in points {
        match fetch_crl_url(url, config) {
            Ok(crls) => return Ok(crls),
            Err(e) => errors.push(e),
        }
    }
    if errors.len() == 1 {
        if let Some(e) = errors.pop() {
            return Err(e);
        }
    }
    Err(FetchError::AllFailed {
        subject: cert.subject().to_string(),
        errors,
    })
}

/// The OCSP responder to ask about `cert`: `ocsp-uri=` when set, else the
/// first http:// responder of its Authority Information Access.
pub fn ocsp_responder(cert: &Certificate, config: &FetchConfig) -> Result<String, FetchError> {
    if let Some(u) = &config.ocsp_uri {
        return Ok(u.clone());
    }
    cert.ocsp_uris()
        .iter()
        .find(|u| u.to_ascii_lowercase().starts_with("http://"))
        .or_else(|| cert.ocsp_uris().first())
        .cloned()
        .ok_or_else(|| FetchError::NoOcspUri {
            subject: cert.subject().to_string(),
        })
}

/// Asks the OCSP responder about `cert` (issued by `issuer`) with
/// `ocsp-method` within `ocsp-timeout`, and verifies the answer at `now`.
pub fn fetch_ocsp(
    cert: &Certificate,
    issuer: &Certificate,
    trusted_responder: Option<&Certificate>,
    config: &FetchConfig,
    now: UnixTime,
) -> Result<OcspStatus, FetchError> {
    let url = ocsp_responder(cert, config)?;
    let nonce = if config.ocsp_nonce {
        let mut n = [0u8; 16];
        aws_lc_rs::rand::fill(&mut n).map_err(|_| FetchError::Http {
            url: url.clone(),
            detail: "no random source for the OCSP nonce".into(),
        })?;
        Some(n)
    } else {
        None
    };
    let invalid = |source| FetchError::Invalid {
        url: url.clone(),
        source,
    };
    let request =
        OcspRequest::new(cert, issuer, nonce.as_ref().map(|n| &n[..])).map_err(invalid)?;
    let limit = config.max_response_size;
    let response = match config.ocsp_method {
        OcspMethod::Get => http_get(&request.get_url(&url), config.ocsp_timeout, limit),
        OcspMethod::Post => http_post(
            &url,
            "application/ocsp-request",
            request.der(),
            config.ocsp_timeout,
            limit,
        ),
    }?;
    verify_response(&response, &request, issuer, trusted_responder, now).map_err(invalid)
}

/// The jobs of `--fetchcrls` (and each `crlcheckinterval`): one
/// [`FetchJob::CrlOf`] per distinct list of distribution points among the
/// store's certificates, in store order.
pub fn crl_jobs(store: &CertStore) -> Vec<FetchJob> {
    let mut seen: Vec<&[String]> = Vec::new();
    let mut jobs = Vec::new();
    for s in store.certs() {
        let points = s.cert.crl_distribution_points();
        if points.is_empty() || seen.contains(&points) {
            continue;
        }
        seen.push(points);
        jobs.push(FetchJob::CrlOf {
            cert: Box::new(s.cert.clone()),
        });
    }
    jobs
}

fn run_job(job: FetchJob, config: &FetchConfig) -> FetchOutcome {
    match job {
        FetchJob::CrlOf { cert } => FetchOutcome::Crl {
            source: cert.subject().to_string(),
            result: fetch_crls(&cert, config),
        },
        FetchJob::CrlUrl { url } => FetchOutcome::Crl {
            result: fetch_crl_url(&url, config),
            source: url,
        },
        FetchJob::Ocsp {
            cert,
            issuer,
            trusted_responder,
        } => FetchOutcome::Ocsp {
            subject: cert.subject().to_string(),
            cert_id: CertId::new(&cert, &issuer).ok(),
            result: fetch_ocsp(
                &cert,
                &issuer,
                trusted_responder.as_deref(),
                config,
                UnixTime::now(),
            ),
        },
    }
}

/// Fetches on worker threads of its own; submitting and polling never
/// block the caller (see the module docs).
pub struct Fetcher {
    jobs: Option<mpsc::Sender<FetchJob>>,
    outcomes: mpsc::Receiver<FetchOutcome>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Starts `config.workers` worker threads (at least one).
    pub fn spawn(config: FetchConfig) -> Result<Fetcher, FetchError> {
        let (job_tx, job_rx) = mpsc::channel::<FetchJob>();
        let (out_tx, out_rx) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let config = Arc::new(config);
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let out_tx = out_tx.clone();
            let config = Arc::clone(&config);
            let handle = std::thread::Builder::new()
                .name(format!("pki-fetch-{i}"))
                .spawn(move || loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if out_tx.send(run_job(job, &config)).is_err() {
                        return;
                    }
                })
                .map_err(|e| FetchError::Spawn(e.to_string()))?;
            workers.push(handle);
        }
        Ok(Fetcher {
            jobs: Some(job_tx),
            outcomes: out_rx,
            workers,
        })
    }

    /// Queues a job; returns at once.
    pub fn submit(&self, job: FetchJob) -> Result<(), FetchError> {
        self.jobs
            .as_ref()
            .ok_or(FetchError::Stopped)?
            .send(job)
            .map_err(|_| FetchError::Stopped)
    }

    /// A finished job's outcome, if one is ready (never blocks).
    pub fn try_next(&self) -> Option<FetchOutcome> {
        self.outcomes.try_recv().ok()
    }

    /// Waits at most `timeout` for a finished job's outcome.
    pub fn next_timeout(&self, timeout: Duration) -> Option<FetchOutcome> {
        self.outcomes.recv_timeout(timeout).ok()
    }

    /// Stops taking jobs and waits for the workers to finish the jobs
    /// already queued (each bounded by its timeout).
    pub fn shutdown(mut self) {
        self.jobs = None;
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
    }
}

impl Drop for Fetcher {
    /// Closes the queue; the workers end after their current fetch, without
    /// the caller waiting for them.
    fn drop(&mut self) {
        self.jobs = None;
    }
}
