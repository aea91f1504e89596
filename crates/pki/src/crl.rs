//! Certificate revocation lists: parsing, signature verification, revocation
//! lookups, and a store holding the newest CRL of each issuer.

use std::fmt;

use crate::cert::Certificate;
use crate::dn::DistinguishedName;
use crate::error::{PkiError, Result};
use crate::pubkey::{PublicKey, SignatureScheme};
use crate::time::UnixTime;

/// One revoked certificate of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The serial number, big-endian without leading zeros.
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revocation_date: UnixTime,
    /// The CRLReason code, if given (RFC 5280 5.3.1).
    pub reason: Option<u8>,
}

/// A parsed X.509 CRL.
#[derive(Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: Vec<u8>,
    issuer: DistinguishedName,
    this_update: UnixTime,
    next_update: Option<UnixTime>,
    revoked: Vec<RevokedEntry>,
    signature_scheme: std::result::Result<SignatureScheme, String>,
    signature: Vec<u8>,
    crl_number: Option<Vec<u8>>,
}

impl fmt::Debug for Crl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer.to_string())
            .field("revoked", &self.revoked.len())
            .finish()
    }
}

pub(crate) fn strip_serial(s: &[u8]) -> Vec<u8> {
    let i = s
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(s.len().saturating_sub(1));
    s.get(i..).unwrap_or(s).to_vec()
}

impl Crl {
    /// Parses a DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Crl> {
        let (rest, x) = x509_parser::parse_x509_crl(der).map_err(|e| PkiError::parse("CRL", e))?;
        let used = der.len() - rest.len();
        let revoked = x
            .iter_revoked_certificates()
            .map(|r| RevokedEntry {
                serial: strip_serial(r.raw_serial()),
                revocation_date: UnixTime(r.revocation_date.timestamp()),
                reason: r.reason_code().map(|(_, c)| c.0),
            })
            .collect();
        Ok(Crl {
            der: der.get(..used).unwrap_or(der).to_vec(),
            tbs: x.tbs_cert_list.as_ref().to_vec(),
            issuer: crate::dn::DistinguishedName::from_x509(x.issuer()),
            this_update: UnixTime(x.last_update().timestamp()),
            next_update: x.next_update().map(|t| UnixTime(t.timestamp())),
            revoked,
            signature_scheme: SignatureScheme::from_algorithm(&x.signature_algorithm)
                .map_err(|e| e.to_string()),
            signature: x.signature_value.data.to_vec(),
            crl_number: x.crl_number().map(|n| n.to_bytes_be()),
        })
    }

    /// Parses the CRLs of a PEM file (`X509 CRL` blocks) or one DER CRL.
    pub fn from_pem_or_der(data: &[u8]) -> Result<Vec<Crl>> {
        crate::pem::der_objects(data, &["X509 CRL"])?
            .iter()
            .map(|d| Crl::from_der(d))
            .collect()
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The issuer's name.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }
    /// thisUpdate.
    pub fn this_update(&self) -> UnixTime {
        self.this_update
    }
    /// nextUpdate, if present.
    pub fn next_update(&self) -> Option<UnixTime> {
        self.next_update
    }
    /// The revoked certificates.
    pub fn revoked(&self) -> &[RevokedEntry] {
        &self.revoked
    }
    /// The cRLNumber, big-endian.
    pub fn crl_number(&self) -> Option<&[u8]> {
        self.crl_number.as_deref()
    }
    /// Verifies the CRL's signature with the issuer's key.
    pub fn verify_signed_by(&self, issuer_key: &PublicKey) -> Result<()> {
        let scheme = self
            .signature_scheme
            .clone()
            .map_err(|detail| PkiError::Unsupported {
                what: "CRL signature",
                detail,
            })?;
        issuer_key.verify(scheme, &self.tbs, &self.signature)
    }
    /// The entry revoking `serial` (DER INTEGER contents), if any.
    pub fn find(&self, serial: &[u8]) -> Option<&RevokedEntry> {
        let s = strip_serial(serial);
        self.revoked.iter().find(|r| r.serial == s)
    }
    /// Whether the CRL is past its nextUpdate at `time`.
    pub fn is_stale_at(&self, time: UnixTime) -> bool {
        self.next_update.is_some_and(|n| n < time)
    }
}

/// What a CRL store says about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationStatus {
    /// The issuer's CRL does not list the certificate.
    Good {
        /// The CRL's nextUpdate.
        next_update: Option<UnixTime>,
    },
    /// The issuer's CRL lists the certificate.
    Revoked(RevokedEntry),
    /// The store has no CRL of this issuer.
    NoCrl,
}

/// The CRLs known to ferroswan, at most one (the newest) per issuer.
#[derive(Debug, Clone, Default)]
pub struct CrlStore {
    crls: Vec<Crl>,
}

impl CrlStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `crl` after verifying its signature with `issuer`'s key. A CRL of
    /// the same issuer is replaced when the new one is not older.
    /// Returns whether the store changed.
    pub fn insert(&mut self, crl: Crl, issuer: &Certificate) -> Result<bool> {
        if !crl.issuer.same_as(issuer.subject()) {
            return Err(PkiError::BadSignature(format!(
                "CRL issuer \"{}\" is not \"{}\"",
                crl.issuer,
                issuer.subject()
            )));
        }
        crl.verify_signed_by(issuer.public_key())?;
        if let Some(old) = self.crls.iter_mut().find(|c| c.issuer.same_as(&crl.issuer)) {
            if crl.this_update >= old.this_update {
                *old = crl;
                return Ok(true);
            }
            return Ok(false);
        }
        self.crls.push(crl);
        Ok(true)
    }

    /// Adds a CRL whose issuer is found among `cas` (verifying the signature).
    pub fn insert_with_issuers(&mut self, crl: Crl, cas: &[Certificate]) -> Result<bool> {
        let issuer = cas
            .iter()
            .find(|c| {
                c.subject().same_as(&crl.issuer) && crl.verify_signed_by(c.public_key()).is_ok()
            })
            .ok_or_else(|| PkiError::NotFound {
                what: "CA certificate that signed the CRL of",
                name: crl.issuer.to_string(),
            })?
            .clone();
        self.insert(crl, &issuer)
    }

    /// The CRL of an issuer.
    pub fn get(&self, issuer: &DistinguishedName) -> Option<&Crl> {
        self.crls.iter().find(|c| c.issuer.same_as(issuer))
    }

    /// All CRLs.
    pub fn iter(&self) -> impl Iterator<Item = &Crl> {
        self.crls.iter()
    }

    /// Number of CRLs.
    pub fn len(&self) -> usize {
        self.crls.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    /// Removes every CRL.
    pub fn clear(&mut self) {
        self.crls.clear();
    }

    /// The revocation status of `cert` according to its issuer's CRL.
    pub fn status(&self, cert: &Certificate) -> RevocationStatus {
        match self.get(cert.issuer()) {
            None => RevocationStatus::NoCrl,
            Some(crl) => match crl.find(cert.serial()) {
                Some(e) => RevocationStatus::Revoked(e.clone()),
                None => RevocationStatus::Good {
                    next_update: crl.next_update,
                },
            },
        }
    }
}
