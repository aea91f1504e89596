//! Certificates in the daemon: the store (the NSS database in `nssdir` and
//! the PEM folders of `ipsecdir`), loaded at start and on `--rereadcerts` /
//! `--rereadall` (a store that fails to load keeps the previous one); the
//! certificate authentication of connections (`leftcert=`, `leftid=`,
//! `rightid=`, `rightca=`, `sendcert=`, `sendca=`) through
//! [`ike::certs::PkiCertAuth`]; the list operations; and CRL fetching
//! (`--fetchcrls`, `crlcheckinterval=`) on a [`Fetcher`] thread whose
//! results the event loop polls, so IKE never waits for the network.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use conf::{AuthBy, EndSpec};
use ike::certs::{
    identity_from_id, CertAuthSettings, OcspWanted, PeerCa, PkiCertAuth, SendCa, SendCert,
    SignMethod,
};
use ike::engine::Identity;
use pki::fetch::{crl_jobs, FetchConfig, FetchJob, FetchOutcome, Fetcher, OcspMethod};
use pki::list::{check_expiry, PubkeyEntry, PUBKEY_WARNING_INTERVAL_SECS};
use pki::{
    CertStore, Certificate, Crl, DistinguishedName, GeneralName, NssDb, OcspCache, TimeZone,
    UnixTime,
};
use std::net::IpAddr;

use crate::ikeconn::MapError;

/// The `config setup` keywords about certificates.
#[derive(Debug, Clone)]
pub struct CertSettings {
    /// `crl-strict=`: refuse a peer whose issuer has no current CRL.
    pub crl_strict: bool,
    /// `crlcheckinterval=`: how often CRLs are fetched again (zero: never).
    pub crlcheckinterval: Duration,
    /// `crl-timeout=`: the most one CRL fetch may take.
    pub crl_timeout: Duration,
    /// `ocsp-enable=`.
    pub ocsp_enable: bool,
    /// `ocsp-strict=`.
    pub ocsp_strict: bool,
    /// `ocsp-timeout=`.
    pub ocsp_timeout: Duration,
    /// `ocsp-uri=`.
    pub ocsp_uri: Option<String>,
    /// `ocsp-trustname=`: the nickname of a responder certificate trusted
    /// directly.
    pub ocsp_trustname: Option<String>,
    /// `ocsp-method=`.
    pub ocsp_method: OcspMethod,
    /// `ocsp-cache-size=`.
    pub ocsp_cache_size: usize,
    /// `ocsp-cache-min-age=` in seconds.
    pub ocsp_cache_min_age: i64,
    /// `ocsp-cache-max-age=` in seconds.
    pub ocsp_cache_max_age: i64,
}

impl CertSettings {
    /// The settings of a `config setup` section.
    pub fn from_setup(s: &conf::SetupConfig) -> Self {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        CertSettings {
            crl_strict: s.crl_strict,
            crlcheckinterval: s.crlcheckinterval,
            crl_timeout: s.crl_timeout,
            ocsp_enable: s.ocsp_enable,
            ocsp_strict: s.ocsp_strict,
            ocsp_timeout: s.ocsp_timeout,
            ocsp_uri: s.ocsp_uri.clone(),
            ocsp_trustname: s.ocsp_trustname.clone(),
            ocsp_method: if s.ocsp_method.eq_ignore_ascii_case("post") {
                OcspMethod::Post
            } else {
                OcspMethod::Get
            },
            ocsp_cache_size: usize::try_from(s.ocsp_cache_size).unwrap_or(usize::MAX),
            ocsp_cache_min_age: secs(s.ocsp_cache_min_age),
            ocsp_cache_max_age: secs(s.ocsp_cache_max_age),
        }
    }

    fn fetch_config(&self) -> FetchConfig {
        FetchConfig {
            crl_timeout: self.crl_timeout,
            ocsp_timeout: self.ocsp_timeout,
            ocsp_method: self.ocsp_method,
            ocsp_uri: self.ocsp_uri.clone(),
            ..FetchConfig::default()
        }
    }
}

impl Default for CertSettings {
    fn default() -> Self {
        CertSettings::from_setup(&conf::SetupConfig::default())
    }
}

/// Why the certificate store could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertLoadError {
    /// The PEM folders of `ipsecdir`.
    #[error("cannot load the certificates of {dir}: {source}")]
    Pem {
        /// `ipsecdir`.
        dir: PathBuf,
        /// Why.
        source: pki::PkiError,
    },
    /// The NSS database.
    #[error("cannot load the NSS database in {dir}: {source}")]
    Nss {
        /// `nssdir`.
        dir: PathBuf,
        /// Why.
        source: pki::PkiError,
    },
    /// The nsspassword file.
    #[error("cannot read the NSS password from {file}: {reason}")]
    Password {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store's lock was poisoned.
    #[error("the certificate store is unusable (a thread panicked while using it)")]
    Poisoned,
}

/// Certificate authentication set up for one connection.
#[derive(Debug)]
pub struct CertConn {
    /// The engine's authentication.
    pub auth: Arc<PkiCertAuth>,
    /// Our ID (`leftid=`, by default the certificate's subject).
    pub local_id: Identity,
    /// The peer's ID when the engine can compare it exactly (IP address,
    /// FQDN, e-mail, key ID); `None` for DNs (checked against the peer's
    /// certificate by the authentication, wildcards included), `%fromcert`
    /// and `%any`.
    pub remote_id: Option<Identity>,
}

/// The daemon's certificates: the store, the OCSP cache and the fetcher.
pub struct Certs {
    nssdir: PathBuf,
    ipsecdir: PathBuf,
    store: Arc<RwLock<CertStore>>,
    ocsp: Arc<RwLock<OcspCache>>,
    settings: CertSettings,
    loaded_at: UnixTime,
    fetcher: Option<Fetcher>,
    pending: usize,
    next_check: Option<Instant>,
    /// The store's private keys for raw-key authentication
    /// (`leftrsasigkey=`/`leftpubkey=` whose private key is in the NSS
    /// database, as `ipsec newhostkey` leaves it).
    raw_keys: Vec<Arc<ike::crypto::PrivateKey>>,
    /// The CKAID (`leftckaid=`) of each of `raw_keys`.
    raw_key_ckaids: Vec<Vec<u8>>,
    /// Peer certificates the authentication wants an OCSP answer for.
    ocsp_wanted: OcspWanted,
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certs")
            .field("nssdir", &self.nssdir)
            .field("ipsecdir", &self.ipsecdir)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// Whether an I/O error says "no such file".
fn not_found(p: &Path) -> bool {
    matches!(std::fs::metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

impl Certs {
    /// An empty store reading `nssdir` and `ipsecdir` on [`Certs::reload`].
    pub fn new(nssdir: PathBuf, ipsecdir: PathBuf, settings: CertSettings) -> Self {
        let ocsp = OcspCache::new(
            settings.ocsp_cache_size,
            settings.ocsp_cache_min_age,
            settings.ocsp_cache_max_age,
        );
        Certs {
            nssdir,
            ipsecdir,
            store: Arc::new(RwLock::new(CertStore::new())),
            ocsp: Arc::new(RwLock::new(ocsp)),
            settings,
            loaded_at: UnixTime::now(),
            fetcher: None,
            pending: 0,
            next_check: None,
            raw_keys: Vec::new(),
            raw_key_ckaids: Vec::new(),
            ocsp_wanted: OcspWanted::default(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &CertSettings {
        &self.settings
    }

    /// Replaces the settings (start-up, once `config setup` is read).
    pub fn set_settings(&mut self, settings: CertSettings) {
        if let Ok(mut c) = self.ocsp.write() {
            *c = OcspCache::new(
                settings.ocsp_cache_size,
                settings.ocsp_cache_min_age,
                settings.ocsp_cache_max_age,
            );
        }
        self.next_check = (!settings.crlcheckinterval.is_zero())
            .then(|| Instant::now() + settings.crlcheckinterval);
        self.settings = settings;
    }

    /// The shared store (what the connections' authentication reads).
    pub fn store(&self) -> &Arc<RwLock<CertStore>> {
        &self.store
    }

    /// The NSS password: the `nsspassword` file of `ipsecdir` as Libreswan
    /// reads it, else the empty password.
    fn nss_password(&self) -> Result<zeroize::Zeroizing<String>, CertLoadError> {
        let file = self.ipsecdir.join("nsspassword");
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                pki::nss::password_from_nsspassword(&text).ok_or_else(|| CertLoadError::Password {
                    file,
                    reason: "no line \"NSS Certificate DB:PASSWORD\"".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(zeroize::Zeroizing::new(String::new()))
            }
            Err(e) => Err(CertLoadError::Password {
                file,
                reason: e.to_string(),
            }),
        }
    }

    /// Reads the PEM folders and the NSS database into a new store; the log
    /// lines to show with it.
    pub fn load(&self) -> Result<(CertStore, Vec<String>), CertLoadError> {
        let mut notes = Vec::new();
        let mut store = if self.ipsecdir.is_dir() {
            CertStore::load_pem_dir(&self.ipsecdir).map_err(|source| CertLoadError::Pem {
                dir: self.ipsecdir.clone(),
                source,
            })?
        } else {
            CertStore::new()
        };
        let mut warnings: Vec<String> = store.warnings().to_vec();
        if not_found(&self.nssdir) {
            notes.push(format!(
                "no NSS database in {} (certificates from {} only)",
                self.nssdir.display(),
                self.ipsecdir.display()
            ));
        } else {
            let nss_err = |source| CertLoadError::Nss {
                dir: self.nssdir.clone(),
                source,
            };
            let db = NssDb::open(&self.nssdir).map_err(nss_err)?;
            for (nick, cert, trust) in db.certificates().map_err(nss_err)? {
                store.add_cert(&nick, cert, trust);
            }
            let password = self.nss_password()?;
            for k in db.private_keys(&password).map_err(nss_err)? {
                store.add_private_key(k.key);
            }
            for crl in db.crls().map_err(nss_err)? {
                if let Err(e) = store.add_crl(crl) {
                    warnings.push(format!("CRL in {}: {e}", self.nssdir.display()));
                }
            }
            // CRLs of crls/ issued by a CA of the NSS database.
            let crl_dir = self.ipsecdir.join("crls");
            if let Ok(rd) = std::fs::read_dir(&crl_dir) {
                let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                files.sort();
                for p in files {
                    let Ok(data) = std::fs::read(&p) else {
                        continue;
                    };
                    let Ok(crls) = Crl::from_pem_or_der(&data) else {
                        continue;
                    };
                    let mut all_ok = true;
                    for crl in crls {
                        all_ok &= store.add_crl(crl).is_ok();
                    }
                    if all_ok {
                        let shown = p.display().to_string();
                        warnings.retain(|w| !w.starts_with(&shown));
                    }
                }
            }
            notes.push(format!(
                "loaded the NSS database in {}",
                self.nssdir.display()
            ));
        }
        for w in warnings {
            notes.push(format!("warning: {w}"));
        }
        notes.push(format!(
            "loaded {} certificate(s) ({} CA), {} private key(s), {} CRL(s)",
            store.certs().len(),
            store.ca_certs().count(),
            store.private_keys().len(),
            store.crls().len()
        ));
        Ok((store, notes))
    }

    /// Loads the store again; on success it replaces the old one (which the
    /// connections see at once), on failure nothing changes.
    pub fn reload(&mut self) -> Result<Vec<String>, CertLoadError> {
        let (store, mut notes) = self.load()?;
        let mut raw_keys = Vec::new();
        let mut raw_key_ckaids = Vec::new();
        for k in store.private_keys() {
            let converted = k
                .to_der()
                .map(|der| ike::crypto::PrivateKey::from_der(&der));
            match converted {
                Some(Ok(key)) => {
                    raw_keys.push(Arc::new(key));
                    raw_key_ckaids.push(k.public_key().ckaid());
                }
                Some(Err(e)) => notes.push(format!(
                    "warning: private key {} cannot sign raw-key authentication: {e}",
                    k.public_key().keyid()
                )),
                // Ed25519 keys of the store sign with certificates only.
                None => {}
            }
        }
        let mut s = self.store.write().map_err(|_| CertLoadError::Poisoned)?;
        *s = store;
        self.raw_keys = raw_keys;
        self.raw_key_ckaids = raw_key_ckaids;
        self.loaded_at = UnixTime::now();
        Ok(notes)
    }

    /// The store's private keys usable for raw-key authentication.
    pub fn raw_keys(&self) -> &[Arc<ike::crypto::PrivateKey>] {
        &self.raw_keys
    }

    /// `leftckaid=`: the store's private key whose CKAID (SHA-1 of the RSA
    /// modulus or EC point, in hex) starts with `ckaid`, as Libreswan
    /// accepts a prefix.
    pub fn raw_key_by_ckaid(&self, ckaid: &str) -> Option<Arc<ike::crypto::PrivateKey>> {
        let want = ckaid.trim().trim_start_matches("0x").to_ascii_lowercase();
        if want.is_empty() {
            return None;
        }
        self.raw_key_ckaids
            .iter()
            .zip(&self.raw_keys)
            .find(|(id, _)| {
                let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
                hex.starts_with(&want)
            })
            .map(|(_, k)| k.clone())
    }

    /// The nickname of `leftcert=`: a nickname of the store, or the file
    /// name of a PEM certificate (`certs/west.crt`, a path to it).
    fn nickname(&self, store: &CertStore, leftcert: &str) -> Option<String> {
        if store.cert_by_nickname(leftcert).is_some() {
            return Some(leftcert.to_string());
        }
        let base = Path::new(leftcert).file_name()?.to_string_lossy();
        store.cert_by_nickname(&base).map(|s| s.nickname.clone())
    }

    /// Sets up certificate authentication for a connection whose local end
    /// `this` has `cert=` (`authby` is its signature method).
    pub fn connection_auth(
        &self,
        spec: &conf::ConnSpec,
        this: &EndSpec,
        that: &EndSpec,
        authby: AuthBy,
    ) -> Result<CertConn, MapError> {
        let leftcert = this
            .cert
            .as_deref()
            .ok_or_else(|| MapError::Invalid("no leftcert=".into()))?;
        let (nickname, peer_cert_id) = {
            let store = self
                .store
                .read()
                .map_err(|_| MapError::Invalid("the certificate store is unusable".into()))?;
            let nickname = self.nickname(&store, leftcert).ok_or_else(|| {
                MapError::Invalid(format!(
                    "leftcert=\"{leftcert}\": no certificate with this nickname in the NSS database ({}) or {}/certs",
                    self.nssdir.display(),
                    self.ipsecdir.display()
                ))
            })?;
            // The peer's certificate (`rightcert=`) gives the default peer
            // ID when this host has it; a shared ipsec.conf names it on
            // hosts that do not.
            let peer_cert_id = that.cert.as_deref().and_then(|n| {
                let n = self.nickname(&store, n)?;
                store
                    .cert_by_nickname(&n)
                    .map(|s| pki::Id::from_cert(&s.cert))
            });
            (nickname, peer_cert_id)
        };
        let peer_id = match (&that.id, peer_cert_id) {
            (None | Some(conf::Id::FromCert), Some(from_cert)) => from_cert,
            (None, None) => pki::Id::Any,
            (Some(id), _) => pki_id(id)?,
        };
        let peer_ca = match that.ca.as_deref().map(str::trim) {
            None | Some("%any") | Some("%none") | Some("") => None,
            Some(s) if s.eq_ignore_ascii_case("%same") => Some(PeerCa::Same),
            Some(s) => {
                Some(PeerCa::Dn(DistinguishedName::parse(s).map_err(|e| {
                    MapError::Invalid(format!("rightca=\"{s}\": {e}"))
                })?))
            }
        };
        // Libreswan sends the certificate unless told otherwise.
        let send_cert = if this.raw.contains_key("sendcert") {
            match this.sendcert {
                conf::SendCert::Always => SendCert::Always,
                conf::SendCert::IfAsked => SendCert::IfAsked,
                conf::SendCert::Never => SendCert::Never,
            }
        } else {
            SendCert::Always
        };
        // Libreswan never sends the root: `sendca=all` (its default) and
        // `issuer` send the intermediate CAs the store has.
        let send_ca = match spec.raw.get("sendca") {
            Some(s) if s.eq_ignore_ascii_case("none") => SendCa::None,
            _ => SendCa::Issuer,
        };
        let sign_method = match authby {
            AuthBy::Rsa(conf::conn::SigHash::Sha1) => SignMethod::RsaSha1,
            _ => SignMethod::DigitalSignature,
        };
        let settings = CertAuthSettings {
            peer_id: peer_id.clone(),
            peer_ca,
            send_cert,
            send_ca,
            sign_method,
            crl_strict: self.settings.crl_strict,
        };
        let mut auth = PkiCertAuth::new(self.store.clone(), &nickname, settings)
            .map_err(|e| MapError::Invalid(e.to_string()))?;
        if self.settings.ocsp_enable {
            auth = auth
                .with_ocsp_cache(self.ocsp.clone(), self.settings.ocsp_strict)
                .with_ocsp_requests(self.ocsp_wanted.clone());
        }
        let local_id = match &this.id {
            None | Some(conf::Id::FromCert) => auth.identity_from_cert(),
            Some(id) => identity_from_id(&pki_id(id)?).ok_or_else(|| {
                MapError::Invalid(format!("leftid=\"{id}\" cannot be sent as an ID payload"))
            })?,
        };
        let remote_id = match &peer_id {
            pki::Id::Dn(_) | pki::Id::Any | pki::Id::FromCert => None,
            other => identity_from_id(other),
        };
        Ok(CertConn {
            auth: Arc::new(auth),
            local_id,
            remote_id,
        })
    }

    /// As Libreswan shows them: an end with `cert=` and no ID (or
    /// `%fromcert`) is shown with its certificate's subject, when the store
    /// has the certificate.
    pub fn show_cert_ids(&self, info: &mut crate::connection::ConnInfo) {
        let Ok(store) = self.store.read() else {
            return;
        };
        for end in [&mut info.this, &mut info.that] {
            let Some(cert) = end.cert.as_deref() else {
                continue;
            };
            if !matches!(end.id.as_deref(), None | Some("%fromcert")) {
                continue;
            }
            let subject = self.nickname(&store, cert).and_then(|n| {
                store
                    .cert_by_nickname(&n)
                    .map(|s| s.cert.subject().to_string())
            });
            if let Some(subject) = subject {
                end.id = Some(subject);
            }
        }
    }

    /// Whether CRL or OCSP fetches are outstanding.
    pub fn fetching(&self) -> bool {
        self.pending > 0
    }

    /// `--fetchcrls`: queues a fetch of the CRL of every distribution
    /// point in the store's certificates; returns how many were queued.
    pub fn fetch_crls(&mut self) -> Result<usize, String> {
        let jobs = {
            let store = self
                .store
                .read()
                .map_err(|_| "the certificate store is unusable".to_string())?;
            crl_jobs(&store)
        };
        self.submit(jobs)
    }

    /// `ocsp-enable=yes`: queues an OCSP request for every end certificate
    /// of the store whose issuer is in the store (peer certificates kept in
    /// the NSS database, and our own); returns how many were queued.
    /// Certificates a peer sends that the store lacks get no request: with
    /// `ocsp-strict=yes` such a peer is refused.
    pub fn fetch_ocsp(&mut self) -> Result<usize, String> {
        if !self.settings.ocsp_enable {
            return Ok(0);
        }
        let jobs = {
            let store = self
                .store
                .read()
                .map_err(|_| "the certificate store is unusable".to_string())?;
            let responder = self.responder_in(&store);
            store
                .end_certs()
                .filter_map(|s| {
                    let issuer = store.issuer_chain(&s.cert, true).into_iter().next()?;
                    Some(FetchJob::Ocsp {
                        cert: Box::new(s.cert.clone()),
                        issuer: Box::new(issuer),
                        trusted_responder: responder.clone(),
                    })
                })
                .collect::<Vec<_>>()
        };
        self.submit(jobs)
    }

    /// `ocsp-trustname=`'s certificate in `store`.
    fn responder_in(&self, store: &CertStore) -> Option<Box<Certificate>> {
        self.settings
            .ocsp_trustname
            .as_deref()
            .and_then(|n| store.cert_by_nickname(n))
            .map(|s| Box::new(s.cert.clone()))
    }

    fn trusted_responder(&self) -> Option<Box<Certificate>> {
        self.store.read().ok().and_then(|s| self.responder_in(&s))
    }

    fn submit(&mut self, jobs: Vec<FetchJob>) -> Result<usize, String> {
        if jobs.is_empty() {
            return Ok(0);
        }
        if self.fetcher.is_none() {
            let f = Fetcher::spawn(self.settings.fetch_config()).map_err(|e| e.to_string())?;
            self.fetcher = Some(f);
        }
        let Some(f) = &self.fetcher else {
            return Ok(0);
        };
        let mut n = 0;
        for job in jobs {
            f.submit(job).map_err(|e| e.to_string())?;
            n += 1;
        }
        self.pending += n;
        Ok(n)
    }

    /// When the event loop should call [`Certs::on_timer`] next: soon while
    /// fetches are outstanding, else at the next `crlcheckinterval`.
    pub fn next_timer(&self) -> Option<Instant> {
        let wanted = self.ocsp_wanted.lock().is_ok_and(|w| !w.is_empty());
        let poll =
            (self.pending > 0 || wanted).then(|| Instant::now() + Duration::from_millis(100));
        match (poll, self.next_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Applies finished fetches and starts the periodic CRL check when it
    /// is due; returns the log lines.
    pub fn on_timer(&mut self, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        if self.next_check.is_some_and(|t| t <= now) {
            self.next_check = Some(now + self.settings.crlcheckinterval);
            match self.fetch_crls() {
                Ok(0) => {}
                Ok(n) => lines.push(format!("crlcheckinterval: fetching {n} CRL(s)")),
                Err(e) => lines.push(format!("crlcheckinterval: cannot fetch CRLs: {e}")),
            }
            match self.fetch_ocsp() {
                Ok(0) => {}
                Ok(n) => lines.push(format!(
                    "crlcheckinterval: asking OCSP about {n} certificate(s)"
                )),
                Err(e) => lines.push(format!("crlcheckinterval: cannot ask OCSP: {e}")),
            }
        }
        let wanted: Vec<(Certificate, Certificate)> = match self.ocsp_wanted.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => Vec::new(),
        };
        if !wanted.is_empty() {
            let responder = self.trusted_responder();
            let jobs: Vec<FetchJob> = wanted
                .into_iter()
                .map(|(cert, issuer)| {
                    lines.push(format!("asking OCSP about {}", cert.subject()));
                    FetchJob::Ocsp {
                        cert: Box::new(cert),
                        issuer: Box::new(issuer),
                        trusted_responder: responder.clone(),
                    }
                })
                .collect();
            if let Err(e) = self.submit(jobs) {
                lines.push(format!("cannot ask OCSP: {e}"));
            }
        }
        let outcomes: Vec<FetchOutcome> = match &self.fetcher {
            Some(f) => std::iter::from_fn(|| f.try_next()).collect(),
            None => Vec::new(),
        };
        for outcome in outcomes {
            self.pending = self.pending.saturating_sub(1);
            let what = match &outcome {
                FetchOutcome::Crl { source, .. } => format!("CRL for {source}"),
                FetchOutcome::Ocsp { subject, .. } => format!("OCSP status of {subject}"),
            };
            let (Ok(mut store), Ok(mut cache)) = (self.store.write(), self.ocsp.write()) else {
                lines.push("the certificate store is unusable".into());
                continue;
            };
            match outcome.apply(&mut store, &mut cache, UnixTime::now()) {
                Ok(n) => lines.push(format!("fetched the {what}: {n} new")),
                Err(e) => lines.push(format!("cannot fetch the {what}: {e}")),
            }
        }
        lines
    }

    /// `--purgeocsp`: empties the OCSP cache; returns how many entries it
    /// held.
    pub fn purge_ocsp(&mut self) -> usize {
        match self.ocsp.write() {
            Ok(mut c) => {
                let n = c.len();
                c.purge();
                n
            }
            Err(_) => 0,
        }
    }

    /// `--listcerts`.
    pub fn list_certs(&self) -> Vec<String> {
        self.with_store(pki::list::list_certs)
    }

    /// `--listcacerts`.
    pub fn list_cacerts(&self) -> Vec<String> {
        self.with_store(pki::list::list_cacerts)
    }

    /// `--listcrls`.
    pub fn list_crls(&self) -> Vec<String> {
        self.with_store(pki::list::list_crls)
    }

    fn with_store(&self, f: impl Fn(&CertStore) -> Vec<String>) -> Vec<String> {
        match self.store.read() {
            // The renderers start with a blank line; the reply has one.
            Ok(s) => f(&s).into_iter().skip(1).collect(),
            Err(_) => vec!["the certificate store is unusable".into()],
        }
    }

    /// The public keys of the end certificates named by `nicknames`
    /// (`leftcert=`/`rightcert=` of the connections), for `--listpubkeys`.
    fn cert_pubkeys(&self, nicknames: &[String]) -> Vec<(PubkeyEntry, Certificate)> {
        let Ok(store) = self.store.read() else {
            return Vec::new();
        };
        let mut out: Vec<(PubkeyEntry, Certificate)> = Vec::new();
        for n in nicknames {
            let Some(nick) = self.nickname(&store, n) else {
                continue;
            };
            let Some(s) = store.cert_by_nickname(&nick) else {
                continue;
            };
            let e = PubkeyEntry::from_cert(&s.cert, self.loaded_at, store.has_private_key(&s.cert));
            if !out.iter().any(|(o, _)| o.key == e.key) {
                out.push((e, s.cert.clone()));
            }
        }
        out
    }

    /// The private keys of the certificates named by `nicknames`, as
    /// Libreswan lists them among its secrets: `    0: RSA (none) (none)`
    /// (the 0 is the line of ipsec.secrets: none) and `ckaid: HEX`.
    pub fn private_key_lines(&self, nicknames: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (e, _) in self.cert_pubkeys(nicknames) {
            if !e.has_private_key {
                continue;
            }
            let kind = match e.key.key_type() {
                pki::KeyType::Rsa { .. } => "RSA",
                pki::KeyType::Ecdsa(_) => "ECDSA",
                pki::KeyType::Ed25519 => "EDDSA",
            };
            out.push(format!("{:>5}: {kind} (none) (none)", 0));
            let ckaid: String = e.key.ckaid().iter().map(|b| format!("{b:02x}")).collect();
            out.push(format!("       ckaid: {ckaid}"));
        }
        out
    }

    /// The `--listpubkeys` lines of the certificates' keys (no header).
    pub fn list_pubkeys(&self, nicknames: &[String], zone: TimeZone) -> Vec<String> {
        let now = UnixTime::now();
        let mut out = Vec::new();
        for (e, cert) in self.cert_pubkeys(nicknames) {
            let expiry = check_expiry(e.until, now, PUBKEY_WARNING_INTERVAL_SECS)
                .unwrap_or_else(|| "ok".into());
            pubkey_lines(&mut out, &e, &cert, zone, &expiry);
        }
        out
    }

    /// `--checkpubkeys`: the keys of the store's end certificates that have
    /// expired or expire within two weeks (no header, as Libreswan).
    pub fn check_pubkeys(&self, zone: TimeZone) -> Vec<String> {
        let Ok(store) = self.store.read() else {
            return vec!["the certificate store is unusable".into()];
        };
        let now = UnixTime::now();
        let mut out = Vec::new();
        for s in store.end_certs() {
            let e = PubkeyEntry::from_cert(&s.cert, self.loaded_at, store.has_private_key(&s.cert));
            match check_expiry(e.until, now, PUBKEY_WARNING_INTERVAL_SECS) {
                Some(msg) if !msg.starts_with("ok") => {
                    pubkey_lines(&mut out, &e, &s.cert, zone, &msg)
                }
                _ => {}
            }
        }
        out
    }
}

/// The IDs a certificate's key is listed under, as Libreswan lists them:
/// the subject, then each dNSName, iPAddress and rfc822Name of the
/// subjectAltName.
fn listed_ids(cert: &Certificate) -> Vec<(&'static str, String)> {
    let mut ids = vec![("ID_DER_ASN1_DN", cert.subject().to_string())];
    for g in cert.subject_alt_names() {
        match g {
            GeneralName::Dns(d) => ids.push(("ID_FQDN", format!("@{d}"))),
            GeneralName::Ip(IpAddr::V4(a)) => ids.push(("ID_IPV4_ADDR", a.to_string())),
            GeneralName::Ip(IpAddr::V6(a)) => ids.push(("ID_IPV6_ADDR", a.to_string())),
            GeneralName::Email(m) => ids.push(("ID_USER_FQDN", m.clone())),
            _ => {}
        }
    }
    ids
}

/// Libreswan's lines of one certificate key, once per ID it is listed
/// under: `DATE, BITS TYPE Key KEYID (has|no private key), until DATE
/// EXPIRY`, the ID, the issuer.
fn pubkey_lines(
    out: &mut Vec<String>,
    e: &PubkeyEntry,
    cert: &Certificate,
    zone: TimeZone,
    expiry: &str,
) {
    let kt = e.key.key_type();
    for (kind, id) in listed_ids(cert) {
        out.push(format!(
            "{}, {:4} {} Key {} ({} private key), until {} {expiry}",
            e.installed.realtime(zone),
            kt.bits(),
            kt.name(),
            e.key.keyid(),
            if e.has_private_key { "has" } else { "no" },
            UnixTime::realtime_opt(e.until, zone),
        ));
        out.push(format!("       {kind} '{id}'"));
        if let Some(issuer) = &e.issuer {
            out.push(format!("       Issuer '{issuer}'"));
        }
    }
}

/// A `conf` ID as a `pki` ID.
pub fn pki_id(id: &conf::Id) -> Result<pki::Id, MapError> {
    Ok(match id {
        conf::Id::Ipv4(a) => pki::Id::Ip((*a).into()),
        conf::Id::Ipv6(a) => pki::Id::Ip((*a).into()),
        conf::Id::Fqdn(h) => pki::Id::Fqdn(h.clone()),
        conf::Id::UserFqdn(u) => pki::Id::Email(u.clone()),
        conf::Id::KeyId(k) => pki::Id::KeyId(k.clone()),
        conf::Id::FromCert => pki::Id::FromCert,
        conf::Id::Any => pki::Id::Any,
        conf::Id::Dn(s) => pki::Id::Dn(
            DistinguishedName::parse(s)
                .map_err(|e| MapError::Invalid(format!("ID \"{s}\": {e}")))?,
        ),
        conf::Id::Null => {
            return Err(MapError::Invalid(
                "ID %null cannot be proven by a certificate".into(),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn ids_map_to_pki() {
        assert_eq!(
            pki_id(&conf::Id::Fqdn("east".into())).unwrap(),
            pki::Id::Fqdn("east".into())
        );
        let dn = pki_id(&conf::Id::Dn("C=CA, O=Libreswan, CN=*".into())).unwrap();
        assert!(matches!(dn, pki::Id::Dn(d) if d.has_wildcards()));
        assert!(pki_id(&conf::Id::Null).is_err());
    }

    #[test]
    fn missing_folders_load_an_empty_store() {
        let dir = std::env::temp_dir().join(format!("ferroswan-certs-{}", std::process::id()));
        let mut c = Certs::new(
            dir.join("nss"),
            dir.join("ipsec.d"),
            CertSettings::default(),
        );
        let notes = c.reload().unwrap();
        assert!(
            notes.iter().any(|n| n.contains("no NSS database")),
            "{notes:?}"
        );
        assert!(c.list_certs().iter().all(|l| !l.contains("certificate \"")));
        assert_eq!(c.fetch_crls().unwrap(), 0);
        assert!(c.next_timer().is_none());
    }

    /// An `ipsec.d` with a self-signed ECDSA certificate `certs/me.pem`
    /// (CN=me.example) and its key, made by openssl; `None` without it.
    fn ipsec_d(tag: &str) -> Option<PathBuf> {
        let dir =
            std::env::temp_dir().join(format!("ferroswan-certs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("certs")).ok()?;
        std::fs::create_dir_all(dir.join("private")).ok()?;
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/C=CA/O=Test/CN=me.example",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(dir.join("private/me.key"))
            .arg("-out")
            .arg(dir.join("certs/me.pem"))
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("skipping: openssl cannot make a test certificate");
            return None;
        }
        Some(dir)
    }

    fn spec(text: &str) -> conf::ConnSpec {
        let c = conf::Config::parse_str(
            text,
            Path::new("/t/ipsec.conf"),
            &conf::LoadOptions::default(),
        )
        .unwrap();
        c.conns.into_iter().next().unwrap()
    }

    fn auth_of(certs: &Certs, extra: &str) -> Result<CertConn, MapError> {
        let s = spec(&format!(
            "conn t\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftcert=me.pem\n{extra}"
        ));
        certs.connection_auth(&s, &s.left, &s.right, AuthBy::Rsa(conf::conn::SigHash::Any))
    }

    #[test]
    fn connections_map_to_certificate_authentication() {
        let Some(dir) = ipsec_d("conn") else {
            return;
        };
        let mut certs = Certs::new(dir.join("no-nss"), dir.clone(), CertSettings::default());
        certs.reload().unwrap();
        // Defaults: our ID is the subject, the peer any ID its certificate
        // proves, the certificate always sent, intermediates only.
        let c = auth_of(&certs, "").unwrap();
        let subject = pki::DistinguishedName::parse("C=CA, O=Test, CN=me.example").unwrap();
        match &c.local_id {
            Identity::DerAsn1Dn(der) => {
                assert!(pki::DistinguishedName::from_der(der)
                    .unwrap()
                    .same_as(&subject))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.remote_id, None);
        let st = c.auth.settings();
        assert_eq!(st.peer_id, pki::Id::Any);
        assert_eq!(st.send_cert, SendCert::Always);
        assert_eq!(st.send_ca, SendCa::Issuer);
        assert_eq!(st.peer_ca, None);
        // A DN peer ID is checked by the authentication, an FQDN by the
        // engine too.
        let c = auth_of(
            &certs,
            "\trightid=\"C=CA, O=Test, CN=*\"\n\trightca=%same\n",
        )
        .unwrap();
        assert_eq!(c.remote_id, None);
        assert!(matches!(&c.auth.settings().peer_id, pki::Id::Dn(d) if d.has_wildcards()));
        assert_eq!(c.auth.settings().peer_ca, Some(PeerCa::Same));
        let c = auth_of(
            &certs,
            "\trightid=@peer.example\n\tleftsendcert=never\n\tsendca=none\n\tleftid=@me.example\n",
        )
        .unwrap();
        assert_eq!(c.remote_id, Some(Identity::Fqdn("peer.example".into())));
        assert_eq!(c.local_id, Identity::Fqdn("me.example".into()));
        assert_eq!(c.auth.settings().send_cert, SendCert::Never);
        assert_eq!(c.auth.settings().send_ca, SendCa::None);
        // By a path ending in the file name.
        let s = spec(
            "conn t\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftcert=/etc/ipsec.d/certs/me.pem\n",
        );
        assert!(certs
            .connection_auth(
                &s,
                &s.left,
                &s.right,
                AuthBy::Ecdsa(conf::conn::SigHash::Any)
            )
            .is_ok());
        // Unknown nickname: a clear error.
        let s = spec("conn t\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftcert=nope\n");
        let e = certs
            .connection_auth(&s, &s.left, &s.right, AuthBy::Rsa(conf::conn::SigHash::Any))
            .unwrap_err();
        assert!(
            e.to_string().contains("leftcert=\"nope\": no certificate"),
            "{e}"
        );
        // authby=rsa-sha1 does not fit an ECDSA key.
        let s = spec("conn t\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftcert=me.pem\n");
        let e = certs
            .connection_auth(
                &s,
                &s.left,
                &s.right,
                AuthBy::Rsa(conf::conn::SigHash::Sha1),
            )
            .unwrap_err();
        assert!(e.to_string().contains("cannot sign with RSA"), "{e}");
        // Lists: the certificate, with its private key.
        let lines = certs.list_certs();
        assert_eq!(lines[0], "List of X.509 End Certificates:");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("End certificate \"me.pem\" - SN: 0x")),
            "{lines:?}"
        );
        assert!(lines.contains(&"  subject: C=CA, O=Test, CN=me.example".to_string()));
        assert!(
            lines.contains(&"  256 bit(other): has private key".to_string()),
            "{lines:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_broken_nss_database_keeps_the_old_store() {
        let dir = std::env::temp_dir().join(format!("ferroswan-certs-bad-{}", std::process::id()));
        let nss = dir.join("nss");
        std::fs::create_dir_all(&nss).unwrap();
        std::fs::write(nss.join("cert9.db"), b"not a database").unwrap();
        let mut c = Certs::new(nss, dir.join("ipsec.d"), CertSettings::default());
        let e = c.reload().unwrap_err();
        assert!(
            e.to_string().contains("cannot load the NSS database"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
