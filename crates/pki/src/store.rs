//! The certificate store: certificates with nicknames and trust, private keys
//! and CRLs, loaded from a PEM `ipsec.d` folder (or from an NSS database, see
//! [`crate::nss`]).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cert::Certificate;
use crate::chain::{validate_chain, ChainError, ValidatedChain, ValidationOptions};
use crate::crl::{Crl, CrlStore};
use crate::error::{PkiError, Result};
use crate::id::Id;
use crate::key::PrivateKey;

/// Trust given to a stored certificate (NSS trust flags, or the PEM folder it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trust {
    /// A trusted CA for issuing peer certificates (NSS `C` or `T`; PEM `cacerts/`).
    pub trusted_ca: bool,
    /// A trusted peer certificate (NSS `P`).
    pub trusted_peer: bool,
    /// A valid CA that is not itself trusted (NSS `c`).
    pub valid_ca: bool,
}

/// A certificate held by a store.
#[derive(Debug, Clone)]
pub struct StoredCert {
    /// Its nickname (NSS CKA_LABEL, or the PEM file name).
    pub nickname: String,
    /// The certificate.
    pub cert: Certificate,
    /// Its trust.
    pub trust: Trust,
}

/// Certificates, private keys and CRLs.
#[derive(Default)]
pub struct CertStore {
    certs: Vec<StoredCert>,
    keys: Vec<PrivateKey>,
    crls: CrlStore,
    warnings: Vec<String>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("certs", &self.certs.len())
            .field("keys", &self.keys.len())
            .field("crls", &self.crls.len())
            .finish()
    }
}

fn read_dir_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PkiError::io(dir, e)),
    };
    let mut files = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| PkiError::io(dir, e))?;
        let p = entry.path();
        if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl CertStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the PEM folder layout of `ipsec.d`: `certs/` (end certificates,
    /// nickname = file name), `cacerts/` (trusted CAs), `private/` (private
    /// keys) and `crls/` (CRLs, kept when signed by a loaded CA). Files that
    /// cannot be read or parsed are skipped and reported by [`CertStore::warnings`].
    pub fn load_pem_dir(ipsec_d: &Path) -> Result<CertStore> {
        if !ipsec_d.is_dir() {
            return Err(PkiError::io(
                ipsec_d,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let mut store = CertStore::new();
        for (sub, trust) in [
            (
                "cacerts",
                Trust {
                    trusted_ca: true,
                    ..Trust::default()
                },
            ),
            ("certs", Trust::default()),
        ] {
            for p in read_dir_files(&ipsec_d.join(sub))? {
                let loaded = std::fs::read(&p)
                    .map_err(|e| PkiError::io(&p, e))
                    .and_then(|d| Certificate::from_pem_or_der(&d));
                match loaded {
                    Ok(certs) => {
                        let name = file_name(&p);
                        let n = certs.len();
                        for (i, c) in certs.into_iter().enumerate() {
                            let nickname = if n == 1 {
                                name.clone()
                            } else {
                                format!("{name}#{i}")
                            };
                            store.add_cert(&nickname, c, trust);
                        }
                    }
                    Err(e) => store.warnings.push(format!("{}: {e}", p.display())),
                }
            }
        }
        for p in read_dir_files(&ipsec_d.join("private"))? {
            let loaded = std::fs::read(&p)
                .map(zeroize::Zeroizing::new)
                .map_err(|e| PkiError::io(&p, e))
                .and_then(|d| PrivateKey::from_pem_or_der(&d));
            match loaded {
                Ok(k) => store.add_private_key(k),
                Err(e) => store.warnings.push(format!("{}: {e}", p.display())),
            }
        }
        for p in read_dir_files(&ipsec_d.join("crls"))? {
            let loaded = std::fs::read(&p)
                .map_err(|e| PkiError::io(&p, e))
                .and_then(|d| Crl::from_pem_or_der(&d));
            match loaded {
                Ok(crls) => {
                    for crl in crls {
                        if let Err(e) = store.add_crl(crl) {
                            store.warnings.push(format!("{}: {e}", p.display()));
                        }
                    }
                }
                Err(e) => store.warnings.push(format!("{}: {e}", p.display())),
            }
        }
        Ok(store)
    }

    /// Problems met while loading (unreadable or unparsable files).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub(crate) fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Adds a certificate under a nickname (replacing one with the same DER).
    pub fn add_cert(&mut self, nickname: &str, cert: Certificate, trust: Trust) {
        if let Some(s) = self.certs.iter_mut().find(|s| s.cert == cert) {
            s.nickname = nickname.to_string();
            s.trust = trust;
            return;
        }
        self.certs.push(StoredCert {
            nickname: nickname.to_string(),
            cert,
            trust,
        });
    }

    /// Adds a private key.
    pub fn add_private_key(&mut self, key: PrivateKey) {
        if !self.keys.iter().any(|k| k.public_key() == key.public_key()) {
            self.keys.push(key);
        }
    }

    /// Adds a CRL, verified against the CA certificates of the store.
    pub fn add_crl(&mut self, crl: Crl) -> Result<bool> {
        let cas: Vec<Certificate> = self
            .certs
            .iter()
            .filter(|s| s.cert.is_ca())
            .map(|s| s.cert.clone())
            .collect();
        self.crls.insert_with_issuers(crl, &cas)
    }

    /// All stored certificates.
    pub fn certs(&self) -> &[StoredCert] {
        &self.certs
    }

    /// The certificate with a nickname (`leftcert=`).
    pub fn cert_by_nickname(&self, nickname: &str) -> Option<&StoredCert> {
        self.certs.iter().find(|s| s.nickname == nickname)
    }

    /// Certificates that are not CAs.
    pub fn end_certs(&self) -> impl Iterator<Item = &StoredCert> {
        self.certs.iter().filter(|s| !s.cert.is_ca())
    }

    /// Certificates that are CAs.
    pub fn ca_certs(&self) -> impl Iterator<Item = &StoredCert> {
        self.certs.iter().filter(|s| s.cert.is_ca())
    }

    /// The trust anchors: CAs trusted for issuing, and trusted peer certificates.
    pub fn trust_anchors(&self) -> Vec<Certificate> {
        self.certs
            .iter()
            .filter(|s| (s.trust.trusted_ca && s.cert.is_ca()) || s.trust.trusted_peer)
            .map(|s| s.cert.clone())
            .collect()
    }

    /// The private key matching a certificate's public key.
    pub fn private_key_for(&self, cert: &Certificate) -> Option<&PrivateKey> {
        self.keys
            .iter()
            .find(|k| k.public_key() == cert.public_key())
    }

    /// The private key whose CKAID (`leftckaid=`, SHA-1 of the RSA modulus or
    /// EC point) starts with `ckaid` (Libreswan accepts a prefix).
    pub fn private_key_by_ckaid(&self, ckaid: &[u8]) -> Option<&PrivateKey> {
        if ckaid.is_empty() {
            return None;
        }
        self.keys
            .iter()
            .find(|k| k.public_key().ckaid().starts_with(ckaid))
    }

    /// Whether the store has the private key of a certificate.
    pub fn has_private_key(&self, cert: &Certificate) -> bool {
        self.private_key_for(cert).is_some()
    }

    /// All private keys.
    pub fn private_keys(&self) -> &[PrivateKey] {
        &self.keys
    }

    /// The CRLs.
    pub fn crls(&self) -> &CrlStore {
        &self.crls
    }

    /// Stored certificates that prove an ID.
    pub fn find_by_id<'a>(&'a self, id: &'a Id) -> impl Iterator<Item = &'a StoredCert> + 'a {
        self.certs.iter().filter(move |s| id.matches_cert(&s.cert))
    }

    /// The CA field of an IKEv2 CERTREQ (RFC 7296 3.7): the SHA-1 hashes of
    /// the SubjectPublicKeyInfo of each trusted CA, concatenated.
    pub fn certreq_authorities(&self) -> Vec<u8> {
        self.certs
            .iter()
            .filter(|s| s.trust.trusted_ca && s.cert.is_ca())
            .flat_map(|s| s.cert.public_key().spki_sha1())
            .collect()
    }

    /// The trusted CAs a peer's CERTREQ asks for (its CA field split in
    /// 20-byte SHA-1 hashes of SubjectPublicKeyInfo).
    pub fn cas_requested(&self, certreq: &[u8]) -> Vec<&StoredCert> {
        certreq
            .chunks_exact(20)
            .filter_map(|h| {
                self.certs
                    .iter()
                    .find(|s| s.cert.is_ca() && s.cert.public_key().spki_sha1() == h)
            })
            .collect()
    }

    /// The CA certificates above `cert` in this store, nearest first, without
    /// the self-signed root unless `include_root` (Libreswan's `sendca=issuer|all`).
    pub fn issuer_chain(&self, cert: &Certificate, include_root: bool) -> Vec<Certificate> {
        let mut out: Vec<Certificate> = Vec::new();
        let mut cur = cert.clone();
        while out.len() < crate::chain::MAX_CA_PATH_LEN {
            let Some(issuer) = self.certs.iter().map(|s| &s.cert).find(|c| {
                c.is_ca()
                    && c.subject().same_as(cur.issuer())
                    && *c != &cur
                    && cur.verify_signed_by(c.public_key()).is_ok()
            }) else {
                break;
            };
            if issuer.is_self_signed() {
                if include_root {
                    out.push(issuer.clone());
                }
                break;
            }
            out.push(issuer.clone());
            cur = issuer.clone();
        }
        out
    }

    /// Validates a peer's certificate against this store's trust anchors,
    /// using `intermediates` (the peer's other CERT payloads) and the store's
    /// untrusted CA certificates, with revocation from the store's CRLs.
    pub fn validate(
        &self,
        end: &Certificate,
        intermediates: &[Certificate],
        opts: &ValidationOptions,
    ) -> std::result::Result<ValidatedChain, ChainError> {
        let mut pool: Vec<Certificate> = intermediates.to_vec();
        pool.extend(
            self.certs
                .iter()
                .filter(|s| s.cert.is_ca() && !s.trust.trusted_ca)
                .map(|s| s.cert.clone()),
        );
        validate_chain(end, &pool, &self.trust_anchors(), Some(&self.crls), opts)
    }
}
