//! Building and validating a certificate chain from an end certificate to a
//! trusted CA: signatures, validity against a given clock, CA flags, path
//! length, key usage and revocation.

use crate::cert::Certificate;
use crate::crl::{CrlStore, RevocationStatus};
use crate::time::UnixTime;

/// Libreswan's MAX_CA_PATH_LEN: the most CA certificates above an end certificate.
pub const MAX_CA_PATH_LEN: usize = 7;

/// Why a certificate chain is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A certificate's notAfter is in the past.
    #[error("certificate \"{subject}\" expired at {not_after}")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// Its notAfter.
        not_after: UnixTime,
    },
    /// A certificate's notBefore is in the future.
    #[error("certificate \"{subject}\" is not valid before {not_before}")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its notBefore.
        not_before: UnixTime,
    },
    /// No trusted or supplied CA certificate has the issuer's name.
    #[error("certificate \"{subject}\" has an unknown issuer \"{issuer}\"")]
    UnknownIssuer {
        /// The certificate's subject.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// The issuer's key does not verify the signature.
    #[error("certificate \"{subject}\" has a bad signature from \"{issuer}\": {detail}")]
    BadSignature {
        /// The certificate's subject.
        subject: String,
        /// Its issuer.
        issuer: String,
        /// Why it failed.
        detail: String,
    },
    /// A CRL of the issuer lists the certificate.
    #[error("certificate \"{subject}\" (serial {serial}) was revoked at {revoked_at}")]
    Revoked {
        /// The certificate's subject.
        subject: String,
        /// Its serial, `0x...`.
        serial: String,
        /// When it was revoked.
        revoked_at: UnixTime,
        /// The CRLReason code.
        reason: Option<u8>,
    },
    /// A certificate used as an issuer is not a CA.
    #[error("certificate \"{subject}\" is not a CA but issued \"{issued}\"")]
    NotCa {
        /// The would-be issuer.
        subject: String,
        /// The certificate it signed.
        issued: String,
    },
    /// A CA's pathLenConstraint is exceeded.
    #[error("CA \"{subject}\" allows a path length of {path_len} but {needed} CAs follow it")]
    PathTooLong {
        /// The CA's subject.
        subject: String,
        /// Its pathLenConstraint.
        path_len: u32,
        /// The number of intermediate CAs below it.
        needed: usize,
    },
    /// The chain has more CA certificates than allowed.
    #[error("more than {max} CA certificates in the chain of \"{subject}\"")]
    ChainTooLong {
        /// The end certificate's subject.
        subject: String,
        /// The limit.
        max: usize,
    },
    /// keyUsage forbids the certificate's use.
    #[error("certificate \"{subject}\" key usage does not allow {needed}")]
    KeyUsage {
        /// The certificate's subject.
        subject: String,
        /// The usage that was needed.
        needed: &'static str,
    },
    /// A certificate has a critical extension ferroswan does not enforce.
    #[error("certificate \"{subject}\" has the critical extension {oid} which ferroswan does not support")]
    UnhandledCriticalExtension {
        /// The certificate's subject.
        subject: String,
        /// The extension's OID.
        oid: String,
    },
    /// crl-strict: no CRL, or an outdated one, for an issuer.
    #[error("no current CRL of \"{issuer}\" for \"{subject}\" (crl-strict)")]
    NoCurrentCrl {
        /// The certificate's subject.
        subject: String,
        /// The issuer whose CRL is missing or stale.
        issuer: String,
    },
}

/// Options of a chain validation.
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    /// The time against which validity periods are checked.
    pub time: UnixTime,
    /// The most CA certificates above the end certificate.
    pub max_ca_path_len: usize,
    /// Require a current CRL for each issuer (Libreswan's `crl-strict=yes`).
    pub crl_strict: bool,
    /// Require digitalSignature (or nonRepudiation) in the end certificate's
    /// keyUsage when the extension is present.
    pub require_signature_usage: bool,
}

impl ValidationOptions {
    /// Defaults at a given time: Libreswan's path limit, no strict CRLs,
    /// signature usage required.
    pub fn at(time: UnixTime) -> Self {
        ValidationOptions {
            time,
            max_ca_path_len: MAX_CA_PATH_LEN,
            crl_strict: false,
            require_signature_usage: true,
        }
    }
}

/// A validated chain: the end certificate first, the trust anchor last.
#[derive(Debug, Clone)]
pub struct ValidatedChain {
    /// The certificates from the end certificate to the trusted CA.
    pub certs: Vec<Certificate>,
}

impl ValidatedChain {
    /// The end certificate.
    pub fn end(&self) -> Option<&Certificate> {
        self.certs.first()
    }
    /// The trust anchor.
    pub fn anchor(&self) -> Option<&Certificate> {
        self.certs.last()
    }

    /// Whether a CA of the chain (not the end certificate) has a subject
    /// matching `ca` (Libreswan's `rightca=`; `*` wildcards allowed).
    pub fn has_ca(&self, ca: &crate::dn::DistinguishedName) -> bool {
        self.certs
            .iter()
            .skip(1)
            .any(|c| c.subject().matches(ca).is_some())
    }
}

fn check_time(c: &Certificate, t: UnixTime) -> Result<(), ChainError> {
    if t < c.not_before() {
        return Err(ChainError::NotYetValid {
            subject: c.subject().to_string(),
            not_before: c.not_before(),
        });
    }
    if t > c.not_after() {
        return Err(ChainError::Expired {
            subject: c.subject().to_string(),
            not_after: c.not_after(),
        });
    }
    Ok(())
}

fn check_issuer(issuer: &Certificate, issued: &Certificate) -> Result<(), ChainError> {
    if !issuer.is_ca() {
        return Err(ChainError::NotCa {
            subject: issuer.subject().to_string(),
            issued: issued.subject().to_string(),
        });
    }
    if let Some(ku) = issuer.key_usage() {
        if !ku.key_cert_sign {
            return Err(ChainError::KeyUsage {
                subject: issuer.subject().to_string(),
                needed: "keyCertSign",
            });
        }
    }
    Ok(())
}

fn bad_sig(c: &Certificate, e: crate::error::PkiError) -> ChainError {
    ChainError::BadSignature {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        detail: e.to_string(),
    }
}

/// Builds and validates the chain of `end` to one of `anchors` (trusted CA
/// certificates), using `intermediates` (e.g. from CERT payloads) as needed,
/// and checking revocation against `crls` when given.
pub fn validate_chain(
    end: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    crls: Option<&CrlStore>,
    opts: &ValidationOptions,
) -> Result<ValidatedChain, ChainError> {
    check_time(end, opts.time)?;
    if opts.require_signature_usage {
        if let Some(ku) = end.key_usage() {
            if !ku.digital_signature && !ku.non_repudiation {
                return Err(ChainError::KeyUsage {
                    subject: end.subject().to_string(),
                    needed: "digitalSignature",
                });
            }
        }
    }
    let mut chain = vec![end.clone()];
    // A trusted certificate is its own anchor (e.g. a pinned peer certificate).
    if anchors.iter().any(|a| a == end) {
        return Ok(ValidatedChain { certs: chain });
    }
    loop {
        let cur = chain
            .last()
            .cloned()
            .ok_or_else(|| ChainError::UnknownIssuer {
                subject: end.subject().to_string(),
                issuer: end.issuer().to_string(),
            })?;
        if chain.len() > opts.max_ca_path_len {
            return Err(ChainError::ChainTooLong {
                subject: end.subject().to_string(),
                max: opts.max_ca_path_len,
            });
        }
        let mut last_err: Option<ChainError> = None;
        // Trust anchors first.
        let mut anchor_found = None;
        for a in anchors.iter().filter(|a| a.subject().same_as(cur.issuer())) {
            match cur.verify_signed_by(a.public_key()) {
                Ok(()) => {
                    anchor_found = Some(a.clone());
                    break;
                }
                Err(e) => last_err = Some(bad_sig(&cur, e)),
            }
        }
        if let Some(a) = anchor_found {
            check_issuer(&a, &cur)?;
            check_time(&a, opts.time)?;
            chain.push(a);
            break;
        }
        let mut next = None;
        for i in intermediates
            .iter()
            .filter(|i| i.subject().same_as(cur.issuer()) && !chain.contains(i))
        {
            match cur.verify_signed_by(i.public_key()) {
                Ok(()) => {
                    next = Some(i.clone());
                    break;
                }
                Err(e) => last_err = Some(bad_sig(&cur, e)),
            }
        }
        match next {
            Some(i) => {
                check_issuer(&i, &cur)?;
                check_time(&i, opts.time)?;
                chain.push(i);
            }
            None => {
                return Err(last_err.unwrap_or_else(|| ChainError::UnknownIssuer {
                    subject: cur.subject().to_string(),
                    issuer: cur.issuer().to_string(),
                }))
            }
        }
    }
    // Critical extensions that are not enforced make the chain unusable
    // (the trust anchor's are ignored, RFC 5280 6.1: it is trusted as configured).
    for c in chain.iter().take(chain.len().saturating_sub(1).max(1)) {
        if let Some(oid) = c.unhandled_critical_extensions().first() {
            return Err(ChainError::UnhandledCriticalExtension {
                subject: c.subject().to_string(),
                oid: oid.clone(),
            });
        }
    }
    // pathLenConstraint: the CA at index k has k-1 intermediate CAs below it.
    for (k, ca) in chain.iter().enumerate().skip(1) {
        if let Some(n) = ca.basic_constraints().and_then(|b| b.path_len) {
            let needed = k - 1;
            if needed > n as usize {
                return Err(ChainError::PathTooLong {
                    subject: ca.subject().to_string(),
                    path_len: n,
                    needed,
                });
            }
        }
    }
    if let Some(store) = crls {
        for c in chain.iter().take(chain.len().saturating_sub(1)) {
            match store.status(c) {
                RevocationStatus::Revoked(e) => {
                    return Err(ChainError::Revoked {
                        subject: c.subject().to_string(),
                        serial: c.serial_hex(),
                        revoked_at: e.revocation_date,
                        reason: e.reason,
                    })
                }
                RevocationStatus::Good { next_update } => {
                    if opts.crl_strict && next_update.is_some_and(|n| n < opts.time) {
                        return Err(ChainError::NoCurrentCrl {
                            subject: c.subject().to_string(),
                            issuer: c.issuer().to_string(),
                        });
                    }
                }
                RevocationStatus::NoCrl => {
                    if opts.crl_strict {
                        return Err(ChainError::NoCurrentCrl {
                            subject: c.subject().to_string(),
                            issuer: c.issuer().to_string(),
                        });
                    }
                }
            }
        }
    }
    Ok(ValidatedChain { certs: chain })
}
