//! Certificate authentication for the engine on top of crate `pki`:
//! [`PkiCertAuth`] implements [`CertAuth`] with a [`pki::CertStore`] (an NSS
//! database or a PEM `ipsec.d` folder), the local certificate named by
//! `leftcert=`, and the peer's expected ID and CA (`rightid=`, `rightca=`).
//!
//! Signing uses RFC 7427 Digital Signatures (AUTH method 14) or, for old
//! peers, RSA Digital Signature (method 1, PKCS#1 v1.5 over SHA-1).
//! Verifying validates the peer's chain to a trusted CA of the store at the
//! current time (with the store's CRLs, `crl-strict`), matches the peer's ID
//! against the certificate's subject and subjectAltName, and checks the
//! signature over the octets.

use std::fmt;
use std::sync::{Arc, RwLock};

use pki::{
    CertId, CertStore, Certificate, DistinguishedName, Hash, Id, KeyType, OcspCache,
    OcspCertStatus, PeerCertError, UnixTime, ValidationOptions,
};

use crate::crypto::sign::{decode_digital_signature, encode_digital_signature};
use crate::crypto::SignatureScheme as IkeScheme;
use crate::engine::{CertAuth, CertAuthError, Identity, PeerAuthHints};
use crate::wire::{AuthMethod, IdPayload};

/// `sendcert=`: when to send the local certificate in CERT payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendCert {
    /// `sendcert=always` (Libreswan's default).
    #[default]
    Always,
    /// `sendcert=ifasked`: only when the peer sent a CERTREQ (whichever
    /// CAs it named: this end has one certificate chain to offer).
    IfAsked,
    /// `sendcert=never`: the peer must already have the certificate.
    Never,
}

/// `sendca=`: which CA certificates follow the end certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendCa {
    /// `sendca=none`.
    None,
    /// `sendca=issuer` (Libreswan's default): intermediates, not the root.
    #[default]
    Issuer,
    /// `sendca=all`: intermediates and the root.
    All,
}

/// `rightca=`: the CA the peer's chain must go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCa {
    /// A CA by its distinguished name.
    Dn(DistinguishedName),
    /// `%same`: the CA that issued the local certificate.
    Same,
}

/// How this end signs its AUTH payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignMethod {
    /// RFC 7427 Digital Signature (method 14) with the scheme the key type
    /// prefers: RSASSA-PSS SHA2-256 for RSA, ECDSA with the curve's hash
    /// (SHA2-256/384/512 for P-256/384/521), Ed25519.
    #[default]
    DigitalSignature,
    /// RFC 7427 Digital Signature with this scheme (it must fit the key).
    DigitalSignatureWith(IkeScheme),
    /// RSA Digital Signature (method 1: PKCS#1 v1.5, SHA-1) for old peers;
    /// RSA keys only.
    RsaSha1,
}

/// The settings of one connection's certificate authentication.
#[derive(Debug, Clone)]
pub struct CertAuthSettings {
    /// `rightid=`: the ID the peer must prove; [`Id::Any`] or
    /// [`Id::FromCert`] accept whatever ID the peer's certificate proves.
    pub peer_id: Id,
    /// `rightca=`.
    pub peer_ca: Option<PeerCa>,
    /// `sendcert=`.
    pub send_cert: SendCert,
    /// `sendca=`.
    pub send_ca: SendCa,
    /// How to sign (`authby=`).
    pub sign_method: SignMethod,
    /// `crl-strict=yes`: refuse a peer whose issuer has no current CRL.
    pub crl_strict: bool,
}

impl Default for CertAuthSettings {
    fn default() -> Self {
        CertAuthSettings {
            peer_id: Id::Any,
            peer_ca: None,
            send_cert: SendCert::Always,
            send_ca: SendCa::Issuer,
            sign_method: SignMethod::DigitalSignature,
            crl_strict: false,
        }
    }
}

/// Why a [`PkiCertAuth`] cannot be set up (the daemon prints these when a
/// connection is added).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertSetupError {
    /// No certificate has the `leftcert=` nickname.
    #[error("leftcert=\"{0}\": no certificate with this nickname in the store")]
    NoSuchCert(String),
    /// The store has no private key for the certificate.
    #[error("leftcert=\"{0}\": the store has no private key for this certificate")]
    NoPrivateKey(String),
    /// The signing method does not fit the key.
    #[error("leftcert=\"{nickname}\": cannot sign with {method} using a {key} key")]
    MethodDoesNotFitKey {
        /// The certificate's nickname.
        nickname: String,
        /// The method asked for.
        method: String,
        /// The key's type.
        key: String,
    },
    /// The subject DN cannot be encoded as an ID.
    #[error("leftcert=\"{nickname}\": {detail}")]
    BadSubject {
        /// The certificate's nickname.
        nickname: String,
        /// What went wrong.
        detail: String,
    },
    /// The certificate store's lock was poisoned by a panicking thread.
    #[error("the certificate store is unusable (a thread panicked while changing it)")]
    StorePoisoned,
}

/// The clock certificate validation uses.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// [`CertAuth`] backed by a [`pki::CertStore`]; see the module docs.
pub struct PkiCertAuth {
    store: Arc<RwLock<CertStore>>,
    nickname: String,
    cert: Certificate,
    chain_der: Vec<Vec<u8>>,
    settings: CertAuthSettings,
    clock: Clock,
    ocsp: Option<(Arc<RwLock<OcspCache>>, bool)>,
    ocsp_wanted: Option<OcspWanted>,
}

/// Peer certificates (with their issuer) whose OCSP status the cache did
/// not have when a peer presented them: the daemon fetches them (see
/// [`PkiCertAuth::with_ocsp_requests`]).
pub type OcspWanted = Arc<std::sync::Mutex<Vec<(Certificate, Certificate)>>>;

/// The most certificates [`OcspWanted`] holds before the daemon takes them.
pub const OCSP_WANTED_MAX: usize = 64;

impl fmt::Debug for PkiCertAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PkiCertAuth")
            .field("leftcert", &self.nickname)
            .field("subject", &self.cert.subject().to_string())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The pki scheme of an RFC 7427 scheme.
fn pki_scheme(s: IkeScheme) -> pki::SignatureScheme {
    use pki::SignatureScheme as P;
    match s {
        IkeScheme::RsaPkcs1Sha256 => P::RsaPkcs1(Hash::Sha256),
        IkeScheme::RsaPkcs1Sha384 => P::RsaPkcs1(Hash::Sha384),
        IkeScheme::RsaPkcs1Sha512 => P::RsaPkcs1(Hash::Sha512),
        IkeScheme::RsaPssSha256 => P::RsaPss(Hash::Sha256),
        IkeScheme::RsaPssSha384 => P::RsaPss(Hash::Sha384),
        IkeScheme::RsaPssSha512 => P::RsaPss(Hash::Sha512),
        IkeScheme::EcdsaSha256 => P::Ecdsa(Hash::Sha256),
        IkeScheme::EcdsaSha384 => P::Ecdsa(Hash::Sha384),
        IkeScheme::EcdsaSha512 => P::Ecdsa(Hash::Sha512),
        IkeScheme::Ed25519 => P::Ed25519,
    }
}

/// Whether an RFC 7427 scheme can be made with a key of `key`.
fn fits(s: IkeScheme, key: KeyType) -> bool {
    match key {
        KeyType::Rsa { .. } => matches!(
            s,
            IkeScheme::RsaPkcs1Sha256
                | IkeScheme::RsaPkcs1Sha384
                | IkeScheme::RsaPkcs1Sha512
                | IkeScheme::RsaPssSha256
                | IkeScheme::RsaPssSha384
                | IkeScheme::RsaPssSha512
        ),
        KeyType::Ecdsa(_) => matches!(
            s,
            IkeScheme::EcdsaSha256 | IkeScheme::EcdsaSha384 | IkeScheme::EcdsaSha512
        ),
        KeyType::Ed25519 => s == IkeScheme::Ed25519,
    }
}

/// The default RFC 7427 scheme of a key type.
fn default_scheme(key: KeyType) -> IkeScheme {
    match key {
        KeyType::Rsa { .. } => IkeScheme::RsaPssSha256,
        KeyType::Ecdsa(pki::Curve::P256) => IkeScheme::EcdsaSha256,
        KeyType::Ecdsa(pki::Curve::P384) => IkeScheme::EcdsaSha384,
        KeyType::Ecdsa(pki::Curve::P521) => IkeScheme::EcdsaSha512,
        KeyType::Ed25519 => IkeScheme::Ed25519,
    }
}

/// The RFC 7427 schemes a key of `key` can sign with, best first (the
/// key type's default, then the others with a stronger hash first).
fn schemes_for(key: KeyType) -> Vec<IkeScheme> {
    let first = default_scheme(key);
    let others: &[IkeScheme] = match key {
        KeyType::Rsa { .. } => &[
            IkeScheme::RsaPssSha384,
            IkeScheme::RsaPssSha512,
            IkeScheme::RsaPkcs1Sha256,
            IkeScheme::RsaPkcs1Sha384,
            IkeScheme::RsaPkcs1Sha512,
        ],
        KeyType::Ecdsa(_) => &[
            IkeScheme::EcdsaSha256,
            IkeScheme::EcdsaSha384,
            IkeScheme::EcdsaSha512,
        ],
        KeyType::Ed25519 => &[],
    };
    let mut all = vec![first];
    all.extend(others.iter().copied().filter(|s| *s != first));
    all
}

/// The legacy AUTH method (RFC 7296 3.8) of a key type, with the pki
/// scheme it signs with: RSA Digital Signature (1) and ECDSA with SHA-256
/// on P-256 (9), SHA-384 on P-384 (10), SHA-512 on P-521 (11).
fn legacy_method(key: KeyType) -> Option<(AuthMethod, pki::SignatureScheme)> {
    use pki::SignatureScheme as P;
    Some(match key {
        KeyType::Rsa { .. } => (AuthMethod::RsaSig, P::RsaPkcs1(Hash::Sha1)),
        KeyType::Ecdsa(pki::Curve::P256) => (AuthMethod::from_u8(9), P::EcdsaFixed(Hash::Sha256)),
        KeyType::Ecdsa(pki::Curve::P384) => (AuthMethod::from_u8(10), P::EcdsaFixed(Hash::Sha384)),
        KeyType::Ecdsa(pki::Curve::P521) => (AuthMethod::from_u8(11), P::EcdsaFixed(Hash::Sha512)),
        KeyType::Ed25519 => return None,
    })
}

/// The CERT payloads for `cert` (end entity first) as `sendcert=` and
/// `sendca=` ask, with the CA certificates `store` has.
fn chain_for(store: &CertStore, cert: &Certificate, settings: &CertAuthSettings) -> Vec<Vec<u8>> {
    let mut chain_der = Vec::new();
    if settings.send_cert != SendCert::Never {
        chain_der.push(cert.der().to_vec());
        match settings.send_ca {
            SendCa::None => {}
            SendCa::Issuer | SendCa::All => {
                let all = settings.send_ca == SendCa::All;
                for ca in store.issuer_chain(cert, all) {
                    chain_der.push(ca.der().to_vec());
                }
            }
        }
    }
    chain_der
}

/// The engine's [`Identity`] for a `pki` ID; `None` for `%any` and
/// `%fromcert` (which have no ID payload of their own).
pub fn identity_from_id(id: &Id) -> Option<Identity> {
    Some(match id {
        Id::Ip(a) => Identity::Address(*a),
        Id::Fqdn(n) => Identity::Fqdn(n.clone()),
        Id::Email(e) => Identity::Rfc822(e.clone()),
        Id::Dn(d) => Identity::DerAsn1Dn(d.to_der().ok()?),
        Id::KeyId(k) => Identity::KeyId(k.clone()),
        Id::Any | Id::FromCert => return None,
    })
}

fn rejected(msg: impl fmt::Display) -> CertAuthError {
    CertAuthError::Rejected(msg.to_string())
}

impl PkiCertAuth {
    /// Sets up certificate authentication with the certificate `leftcert`
    /// of `store` (which must hold its private key).
    pub fn new(
        store: Arc<RwLock<CertStore>>,
        leftcert: &str,
        settings: CertAuthSettings,
    ) -> Result<PkiCertAuth, CertSetupError> {
        let (cert, chain_der) = {
            let s = store.read().map_err(|_| CertSetupError::StorePoisoned)?;
            let stored = s
                .cert_by_nickname(leftcert)
                .ok_or_else(|| CertSetupError::NoSuchCert(leftcert.to_string()))?;
            let cert = stored.cert.clone();
            let key = s
                .private_key_for(&cert)
                .ok_or_else(|| CertSetupError::NoPrivateKey(leftcert.to_string()))?;
            let key_type = key.key_type();
            let bad_method = |method: String| CertSetupError::MethodDoesNotFitKey {
                nickname: leftcert.to_string(),
                method,
                key: key_type.to_string(),
            };
            match settings.sign_method {
                SignMethod::DigitalSignature => {}
                SignMethod::DigitalSignatureWith(scheme) => {
                    if !fits(scheme, key_type) {
                        return Err(bad_method(scheme.name().to_string()));
                    }
                }
                SignMethod::RsaSha1 => {
                    if !matches!(key_type, KeyType::Rsa { .. }) {
                        return Err(bad_method("RSA Digital Signature (method 1)".into()));
                    }
                }
            }
            let chain_der = chain_for(&s, &cert, &settings);
            (cert, chain_der)
        };
        if let Err(e) = cert.subject().to_der() {
            return Err(CertSetupError::BadSubject {
                nickname: leftcert.to_string(),
                detail: e.to_string(),
            });
        }
        Ok(PkiCertAuth {
            store,
            nickname: leftcert.to_string(),
            cert,
            chain_der,
            settings,
            clock: Arc::new(UnixTime::now),
            ocsp: None,
            ocsp_wanted: None,
        })
    }

    /// Replaces the clock used to check validity periods and CRLs (the
    /// system clock by default).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// `ocsp-enable=yes`: consults `cache` (filled by the daemon's
    /// [`pki::fetch::Fetcher`]) for the peer's certificate; a cached
    /// `revoked` answer refuses the peer, and with `strict`
    /// (`ocsp-strict=yes`) so does the lack of a cached `good` answer.
    /// Verifying never waits for the network.
    pub fn with_ocsp_cache(mut self, cache: Arc<RwLock<OcspCache>>, strict: bool) -> Self {
        self.ocsp = Some((cache, strict));
        self
    }

    /// With `ocsp-enable`: a peer certificate without a cached answer is
    /// added to `wanted` (once, at most [`OCSP_WANTED_MAX`] waiting), for
    /// the daemon to ask the responder; the next authentication of that
    /// peer finds the answer in the cache.
    pub fn with_ocsp_requests(mut self, wanted: OcspWanted) -> Self {
        self.ocsp_wanted = Some(wanted);
        self
    }

    /// The local certificate (`leftcert=`) as it was when set up.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The local certificate as the store has it now: after the store is
    /// reloaded (`--rereadcerts`), the nickname may name a renewed
    /// certificate, which is then sent and signed with.
    fn current_cert(&self, store: &CertStore) -> Certificate {
        store
            .cert_by_nickname(&self.nickname)
            .map(|s| s.cert.clone())
            .unwrap_or_else(|| self.cert.clone())
    }

    /// The settings in force.
    pub fn settings(&self) -> &CertAuthSettings {
        &self.settings
    }

    /// `leftid=%fromcert`: the ID_DER_ASN1_DN of the certificate's subject.
    pub fn identity_from_cert(&self) -> Identity {
        // The subject was checked to encode in `new`.
        Identity::DerAsn1Dn(self.cert.subject().to_der().unwrap_or_default())
    }

    /// The local identity for a `leftid=` value: `%fromcert` (and an unset
    /// `leftid=`, given as [`Id::Any`]) give the subject DN, other IDs their
    /// own form; `None` when the ID has no payload form.
    pub fn local_identity(&self, leftid: &Id) -> Option<Identity> {
        match leftid {
            Id::FromCert | Id::Any => Some(self.identity_from_cert()),
            other => identity_from_id(other),
        }
    }

    /// The DN `rightca=` requires, with `%same` resolved to the issuer of
    /// the local certificate.
    pub fn required_ca(&self) -> Option<DistinguishedName> {
        match &self.settings.peer_ca {
            None => None,
            Some(PeerCa::Dn(d)) => Some(d.clone()),
            Some(PeerCa::Same) => Some(self.cert.issuer().clone()),
        }
    }

    fn validation_options(&self) -> ValidationOptions {
        let mut opts = ValidationOptions::at((self.clock)());
        opts.crl_strict = self.settings.crl_strict;
        opts
    }

    /// Authenticates the peer's certificates and returns the key to verify
    /// its AUTH payload with, and the certificate's subject and issuer.
    fn peer_key(
        &self,
        peer_id: &IdPayload,
        certs: &[Vec<u8>],
    ) -> Result<(pki::PublicKey, Option<(String, String)>), CertAuthError> {
        let claimed = Id::from_payload(peer_id.id_type.to_u8(), &peer_id.data)
            .map_err(|e| rejected(format!("peer ID: {e}")))?;
        let store = self
            .store
            .read()
            .map_err(|_| rejected("the certificate store is unusable"))?;
        let ders: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
        let ca = self.required_ca();
        let opts = self.validation_options();
        let peer = match store.authenticate_peer(&ders, &claimed, ca.as_ref(), &opts) {
            Ok(p) => p,
            Err(PeerCertError::NoCertificate) => {
                // No CERT payload: a trusted peer certificate (NSS `P`) or a
                // stored certificate proving the ID may stand in for it.
                let stored = store
                    .find_by_id(&claimed)
                    .find(|s| s.trust.trusted_peer)
                    .map(|s| s.cert.der().to_vec())
                    .ok_or_else(|| {
                        rejected(format!(
                            "X509: the peer sent no certificate and none proving {claimed} is trusted"
                        ))
                    })?;
                store
                    .authenticate_peer(&[stored.as_slice()], &claimed, ca.as_ref(), &opts)
                    .map_err(|e| rejected(format!("X509: {e}")))?
            }
            Err(e) => return Err(rejected(format!("X509: {e}"))),
        };
        if !matches!(self.settings.peer_id, Id::Any | Id::FromCert) {
            let want = &self.settings.peer_id;
            if let Some(cert) = peer.cert() {
                if !want.matches_cert(cert) {
                    return Err(rejected(format!(
                        "X509: certificate \"{}\" does not prove the configured peer ID \"{want}\"",
                        cert.subject()
                    )));
                }
            }
        }
        if let (Some((cache, strict)), [end, issuer, ..]) = (&self.ocsp, &peer.chain.certs[..]) {
            self.check_ocsp(cache, *strict, end, issuer, opts.time)?;
        }
        let names = peer
            .cert()
            .map(|c| (c.subject().to_string(), c.issuer().to_string()));
        Ok((peer.public_key, names))
    }

    /// The OCSP check of `ocsp-enable`/`ocsp-strict` against the cache.
    fn check_ocsp(
        &self,
        cache: &RwLock<OcspCache>,
        strict: bool,
        end: &Certificate,
        issuer: &Certificate,
        now: UnixTime,
    ) -> Result<(), CertAuthError> {
        let id = CertId::new(end, issuer).map_err(|e| rejected(format!("OCSP: {e}")))?;
        let cache = cache
            .read()
            .map_err(|_| rejected("the OCSP cache is unusable"))?;
        let answer = cache.get(&id, now).map(|s| &s.status);
        if answer.is_none() {
            if let Some(Ok(mut wanted)) = self.ocsp_wanted.as_ref().map(|w| w.lock()) {
                if wanted.len() < OCSP_WANTED_MAX && !wanted.iter().any(|(c, _)| c == end) {
                    wanted.push((end.clone(), issuer.clone()));
                }
            }
        }
        match answer {
            Some(OcspCertStatus::Revoked { time, .. }) => Err(rejected(format!(
                "X509: certificate \"{}\" (serial {}) was revoked at {time} (OCSP)",
                end.subject(),
                end.serial_hex()
            ))),
            Some(OcspCertStatus::Good) => Ok(()),
            Some(OcspCertStatus::Unknown) if strict => Err(rejected(format!(
                "X509: the OCSP responder does not know certificate \"{}\" (ocsp-strict)",
                end.subject()
            ))),
            None if strict => Err(rejected(format!(
                "X509: no OCSP answer for certificate \"{}\" yet (ocsp-strict)",
                end.subject()
            ))),
            _ => Ok(()),
        }
    }
}

impl CertAuth for PkiCertAuth {
    fn local_certificates(&self, peer: &PeerAuthHints) -> Vec<Vec<u8>> {
        let chain = || match self.store.read() {
            Ok(store) => chain_for(&store, &self.current_cert(&store), &self.settings),
            Err(_) => self.chain_der.clone(),
        };
        match self.settings.send_cert {
            SendCert::Always => chain(),
            SendCert::IfAsked if peer.asked_for_certificate() => chain(),
            SendCert::IfAsked | SendCert::Never => Vec::new(),
        }
    }

    /// RFC 7427 with the configured scheme, or else the best scheme of the
    /// key whose hash the peer announced; the key type's legacy method
    /// when the peer announced no usable hash (none at all, or none this
    /// key can sign with).
    fn sign(
        &self,
        peer: &PeerAuthHints,
        octets: &[u8],
    ) -> Result<(AuthMethod, Vec<u8>), CertAuthError> {
        let store = self
            .store
            .read()
            .map_err(|_| CertAuthError::SignFailed("the certificate store is unusable".into()))?;
        let key = store
            .private_key_for(&self.current_cert(&store))
            .ok_or_else(|| {
                CertAuthError::SignFailed(format!(
                    "leftcert=\"{}\": the private key is no longer in the store",
                    self.nickname
                ))
            })?;
        let fail = |e: pki::PkiError| CertAuthError::SignFailed(e.to_string());
        let key_type = key.key_type();
        let peer_accepts = |s: &IkeScheme| peer.signature_hashes.contains(&s.hash().id());
        let scheme = match self.settings.sign_method {
            SignMethod::RsaSha1 => None,
            SignMethod::DigitalSignatureWith(s) => {
                if !peer.signature_hashes.is_empty() && !peer_accepts(&s) {
                    return Err(CertAuthError::SignFailed(format!(
                        "leftcert=\"{}\": the peer does not accept {} (its SIGNATURE_HASH_ALGORITHMS: {:?})",
                        self.nickname,
                        s.name(),
                        peer.signature_hashes
                    )));
                }
                Some(s)
            }
            SignMethod::DigitalSignature => {
                let best = schemes_for(key_type).into_iter().find(peer_accepts);
                match (best, legacy_method(key_type)) {
                    (Some(s), _) => Some(s),
                    (None, Some(_)) => None,
                    // Ed25519 has no legacy method: RFC 7427 is all it has.
                    (None, None) => Some(default_scheme(key_type)),
                }
            }
        };
        match scheme {
            Some(scheme) => {
                let sig = key.sign(pki_scheme(scheme), octets).map_err(fail)?;
                Ok((
                    AuthMethod::DigitalSignature,
                    encode_digital_signature(scheme, &sig),
                ))
            }
            None => {
                let (method, pki_scheme) = legacy_method(key_type).ok_or_else(|| {
                    CertAuthError::SignFailed(format!(
                        "leftcert=\"{}\": a {key_type} key has no legacy AUTH method",
                        self.nickname
                    ))
                })?;
                Ok((method, key.sign(pki_scheme, octets).map_err(fail)?))
            }
        }
    }

    fn verify(
        &self,
        peer_id: &IdPayload,
        peer_certificates: &[Vec<u8>],
        method: AuthMethod,
        octets: &[u8],
        auth_data: &[u8],
    ) -> Result<(), CertAuthError> {
        self.verify_described(peer_id, peer_certificates, method, octets, auth_data)
            .map(|_| ())
    }

    /// Libreswan's words: `'2048-bit RSASSA-PSS with SHA2_256' digital
    /// signature using peer certificate 'SUBJECT' issued by CA 'ISSUER'`.
    fn verify_described(
        &self,
        peer_id: &IdPayload,
        peer_certificates: &[Vec<u8>],
        method: AuthMethod,
        octets: &[u8],
        auth_data: &[u8],
    ) -> Result<Option<String>, CertAuthError> {
        let (key, names) = self.peer_key(peer_id, peer_certificates)?;
        let key_type = key.key_type();
        let (scheme, sig, words) = match method.to_u8() {
            14 => {
                let (scheme, sig) = decode_digital_signature(auth_data)
                    .map_err(|e| rejected(format!("AUTH payload: {e}")))?;
                if !fits(scheme, key_type) {
                    return Err(rejected(format!(
                        "the peer signed with {} but its certificate has a {key_type} key",
                        scheme.name()
                    )));
                }
                let words = match scheme.name().rsplit_once(' ') {
                    Some((alg, hash)) => format!("{alg} with {hash}"),
                    None => scheme.name().to_string(),
                };
                (pki_scheme(scheme), sig, words)
            }
            1 if matches!(key_type, KeyType::Rsa { .. }) => (
                pki::SignatureScheme::RsaPkcs1(Hash::Sha1),
                auth_data,
                "RSA with SHA1".to_string(),
            ),
            9 if key_type == KeyType::Ecdsa(pki::Curve::P256) => (
                pki::SignatureScheme::EcdsaFixed(Hash::Sha256),
                auth_data,
                "ECDSA with SHA2_256".to_string(),
            ),
            10 if key_type == KeyType::Ecdsa(pki::Curve::P384) => (
                pki::SignatureScheme::EcdsaFixed(Hash::Sha384),
                auth_data,
                "ECDSA with SHA2_384".to_string(),
            ),
            11 if key_type == KeyType::Ecdsa(pki::Curve::P521) => (
                pki::SignatureScheme::EcdsaFixed(Hash::Sha512),
                auth_data,
                "ECDSA with SHA2_512".to_string(),
            ),
            m => {
                let why = format!("the peer used AUTH method {m}, which does not fit");
                return Err(rejected(format!("{why} its {key_type} certificate key")));
            }
        };
        key.verify(scheme, octets, sig)
            .map_err(|e| rejected(format!("signature does not verify: {e}")))?;
        let bits = key_type.bits();
        Ok(Some(match names {
            Some((subject, issuer)) => format!(
                "'{bits}-bit {words}' digital signature using peer certificate '{subject}' issued by CA '{issuer}'"
            ),
            None => format!("'{bits}-bit {words}' digital signature"),
        }))
    }

    fn certificate_request(&self) -> Vec<u8> {
        let Ok(store) = self.store.read() else {
            return Vec::new();
        };
        if let Some(ca) = self.required_ca() {
            let one: Vec<u8> = store
                .ca_certs()
                .filter(|s| s.trust.trusted_ca && s.cert.subject().same_as(&ca))
                .flat_map(|s| s.cert.public_key().spki_sha1())
                .collect();
            if !one.is_empty() {
                return one;
            }
        }
        store.certreq_authorities()
    }
}
