//! OCSP (RFC 6960): building a request for a certificate and its issuer, and
//! parsing and verifying a response (signed by the issuer, by a delegated
//! responder the issuer certified for OCSP signing, or by a responder trusted
//! explicitly as with `ocsp-trustname=`). Fetching over HTTP is not done here.

use base64::Engine;
use x509_parser::prelude::FromDer;
use x509_parser::x509::AlgorithmIdentifier;

use crate::cert::Certificate;
use crate::der::{self, tag, Reader};
use crate::error::{PkiError, Result};
use crate::pubkey::{Hash, SignatureScheme};
use crate::time::UnixTime;

const OID_SHA1: &str = "1.3.14.3.2.26";
const OID_NONCE: &str = "1.3.6.1.5.5.7.48.1.2";
const OID_BASIC: &str = "1.3.6.1.5.5.7.48.1.1";

/// The CertID of RFC 6960 4.1.1 (with SHA-1, as responders expect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    /// SHA-1 of the issuer's DER name.
    pub issuer_name_hash: Vec<u8>,
    /// SHA-1 of the issuer's subjectPublicKey bits.
    pub issuer_key_hash: Vec<u8>,
    /// The certificate's serial number, without leading zeros.
    pub serial: Vec<u8>,
}

impl CertId {
    /// The CertID of `cert` issued by `issuer`.
    pub fn new(cert: &Certificate, issuer: &Certificate) -> Result<CertId> {
        let name = issuer
            .subject()
            .der
            .as_ref()
            .ok_or_else(|| PkiError::Ocsp("issuer name has no DER encoding".into()))?;
        Ok(CertId {
            issuer_name_hash: Hash::Sha1.digest(name),
            issuer_key_hash: Hash::Sha1.digest(issuer.public_key().key_bytes()),
            serial: crate::crl::strip_serial(cert.serial()),
        })
    }

    fn to_der(&self) -> Result<Vec<u8>> {
        let alg = der::seq(&[&der::oid(OID_SHA1)?, &der::tlv(tag::NULL, &[])]);
        let mut serial = self.serial.clone();
        if serial.first().is_none_or(|b| b & 0x80 != 0) {
            serial.insert(0, 0);
        }
        Ok(der::seq(&[
            &alg,
            &der::tlv(tag::OCTET_STRING, &self.issuer_name_hash),
            &der::tlv(tag::OCTET_STRING, &self.issuer_key_hash),
            &der::tlv(tag::INTEGER, &serial),
        ]))
    }

    fn parse(r: &mut Reader<'_>) -> Result<CertId> {
        let mut c = r.nested(tag::SEQUENCE)?;
        let mut alg = c.nested(tag::SEQUENCE)?;
        let hash_oid = alg.oid()?;
        if hash_oid != OID_SHA1 {
            return Err(PkiError::Ocsp(format!(
                "CertID hash {hash_oid} is not SHA-1"
            )));
        }
        Ok(CertId {
            issuer_name_hash: c.expect(tag::OCTET_STRING)?.value.to_vec(),
            issuer_key_hash: c.expect(tag::OCTET_STRING)?.value.to_vec(),
            serial: crate::crl::strip_serial(c.expect(tag::INTEGER)?.value),
        })
    }
}

/// An OCSP request for one certificate.
#[derive(Debug, Clone)]
pub struct OcspRequest {
    der: Vec<u8>,
    cert_id: CertId,
    nonce: Option<Vec<u8>>,
}

impl OcspRequest {
    /// Builds an unsigned request for `cert` issued by `issuer`, with a nonce
    /// extension when `nonce` is given.
    pub fn new(cert: &Certificate, issuer: &Certificate, nonce: Option<&[u8]>) -> Result<Self> {
        let cert_id = CertId::new(cert, issuer)?;
        let request = der::seq(&[&cert_id.to_der()?]);
        let request_list = der::seq(&[&request]);
        let mut tbs_parts = vec![request_list];
        if let Some(n) = nonce {
            let ext = der::seq(&[
                &der::oid(OID_NONCE)?,
                &der::tlv(tag::OCTET_STRING, &der::tlv(tag::OCTET_STRING, n)),
            ]);
            tbs_parts.push(der::tlv(0xa2, &der::seq(&[&ext])));
        }
        let refs: Vec<&[u8]> = tbs_parts.iter().map(|p| p.as_slice()).collect();
        let tbs = der::seq(&refs);
        Ok(OcspRequest {
            der: der::seq(&[&tbs]),
            cert_id,
            nonce: nonce.map(<[u8]>::to_vec),
        })
    }

    /// The DER request (the body of an `ocsp-method=post` request).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The URL of an `ocsp-method=get` request (RFC 6960 A.1) under `base`.
    pub fn get_url(&self, base: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let enc: String = b64
            .chars()
            .map(|c| match c {
                '+' => "%2B".to_string(),
                '/' => "%2F".to_string(),
                '=' => "%3D".to_string(),
                c => c.to_string(),
            })
            .collect();
        format!("{}/{}", base.trim_end_matches('/'), enc)
    }

    /// The CertID asked about.
    pub fn cert_id(&self) -> &CertId {
        &self.cert_id
    }
}

/// The status of a certificate in an OCSP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspCertStatus {
    /// Not revoked.
    Good,
    /// Revoked at a time, with an optional CRLReason.
    Revoked {
        /// revocationTime.
        time: UnixTime,
        /// revocationReason.
        reason: Option<u8>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A verified answer about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspStatus {
    /// The certificate's status.
    pub status: OcspCertStatus,
    /// thisUpdate.
    pub this_update: UnixTime,
    /// nextUpdate, when given (cache lifetime).
    pub next_update: Option<UnixTime>,
    /// producedAt.
    pub produced_at: UnixTime,
}

fn gen_time(r: &mut Reader<'_>) -> Result<UnixTime> {
    let v = r.expect(tag::GENERALIZED_TIME)?.value;
    std::str::from_utf8(v)
        .ok()
        .and_then(UnixTime::from_generalized_time)
        .ok_or_else(|| PkiError::Ocsp("bad GeneralizedTime".into()))
}

/// Allowed clock skew for thisUpdate in the future, in seconds.
const SKEW: i64 = 300;

/// Parses and verifies the DER `response` to `request` for a certificate
/// issued by `issuer`, at time `now`. `trusted_responder` is a responder
/// certificate trusted directly (`ocsp-trustname=`).
pub fn verify_response(
    response: &[u8],
    request: &OcspRequest,
    issuer: &Certificate,
    trusted_responder: Option<&Certificate>,
    now: UnixTime,
) -> Result<OcspStatus> {
    let mut top = Reader::new(response, "OCSP response").nested(tag::SEQUENCE)?;
    let status = top.expect(tag::ENUMERATED)?.value;
    match status {
        [0] => {}
        [s] => {
            let name = match s {
                1 => "malformedRequest",
                2 => "internalError",
                3 => "tryLater",
                5 => "sigRequired",
                6 => "unauthorized",
                _ => "unknown status",
            };
            return Err(PkiError::Ocsp(format!("responder answered {name} ({s})")));
        }
        _ => return Err(PkiError::Ocsp("bad responseStatus".into())),
    }
    let mut bytes = top.nested(0xa0)?.nested(tag::SEQUENCE)?;
    let rtype = bytes.oid()?;
    if rtype != OID_BASIC {
        return Err(PkiError::Ocsp(format!(
            "response type {rtype} is not basic"
        )));
    }
    let basic_der = bytes.expect(tag::OCTET_STRING)?.value;
    let mut basic = Reader::new(basic_der, "BasicOCSPResponse").nested(tag::SEQUENCE)?;
    let tbs = basic.expect(tag::SEQUENCE)?;
    let alg_tlv = basic.expect(tag::SEQUENCE)?;
    let sig = basic.expect(tag::BIT_STRING)?.value;
    let sig = sig
        .split_first()
        .filter(|(unused, _)| **unused == 0)
        .map(|(_, s)| s)
        .ok_or_else(|| PkiError::Ocsp("bad signature BIT STRING".into()))?;
    let mut certs = Vec::new();
    if let Some(c) = basic.optional(0xa0)? {
        let mut list = Reader::new(c.value, "OCSP certs").nested(tag::SEQUENCE)?;
        while !list.is_empty() {
            certs.push(Certificate::from_der(list.expect(tag::SEQUENCE)?.raw)?);
        }
    }
    let (_, alg) = AlgorithmIdentifier::from_der(alg_tlv.raw)
        .map_err(|e| PkiError::Ocsp(format!("bad signature algorithm: {e}")))?;
    let scheme = SignatureScheme::from_algorithm(&alg)?;

    // ResponseData.
    let mut rd = Reader::new(tbs.value, "ResponseData");
    if rd.optional(0xa0)?.is_some() {
        // version v1 only.
    }
    let responder = rd.any()?;
    let produced_at = gen_time(&mut rd)?;
    let mut responses = rd.nested(tag::SEQUENCE)?;
    let mut response_nonce = None;
    if let Some(ext) = rd.optional(0xa1)? {
        let mut exts = Reader::new(ext.value, "OCSP extensions").nested(tag::SEQUENCE)?;
        while !exts.is_empty() {
            let mut e = exts.nested(tag::SEQUENCE)?;
            let oid = e.oid()?;
            let _critical = e.optional(0x01)?;
            let v = e.expect(tag::OCTET_STRING)?.value;
            if oid == OID_NONCE {
                let inner = Reader::new(v, "nonce").optional(tag::OCTET_STRING)?;
                response_nonce = Some(inner.map(|t| t.value).unwrap_or(v).to_vec());
            }
        }
    }

    // Who signed: the issuer, a trusted responder, or a delegated responder.
    let matches_responder = |c: &Certificate| -> bool {
        match responder.tag {
            0xa1 => c.subject().der.as_deref() == Some(responder.value),
            0xa2 => {
                let kh = Reader::new(responder.value, "ResponderID").expect(tag::OCTET_STRING);
                kh.is_ok_and(|t| Hash::Sha1.digest(c.public_key().key_bytes()) == t.value)
            }
            _ => false,
        }
    };
    let signer: Certificate = if matches_responder(issuer) {
        issuer.clone()
    } else if let Some(t) = trusted_responder.filter(|t| matches_responder(t)) {
        t.clone()
    } else {
        let d = certs
            .iter()
            .find(|c| matches_responder(c))
            .ok_or_else(|| PkiError::Ocsp("response signed by an unknown responder".into()))?;
        d.verify_signed_by(issuer.public_key()).map_err(|_| {
            PkiError::Ocsp(format!(
                "responder \"{}\" is not certified by \"{}\"",
                d.subject(),
                issuer.subject()
            ))
        })?;
        if !d.extended_key_usage().is_some_and(|e| e.ocsp_signing) {
            return Err(PkiError::Ocsp(format!(
                "responder \"{}\" lacks the OCSPSigning extended key usage",
                d.subject()
            )));
        }
        if !d.is_valid_at(now) {
            return Err(PkiError::Ocsp(format!(
                "responder certificate \"{}\" is not valid now",
                d.subject()
            )));
        }
        d.clone()
    };
    signer
        .public_key()
        .verify(scheme, tbs.raw, sig)
        .map_err(|e| PkiError::Ocsp(format!("bad response signature: {e}")))?;

    if let (Some(want), Some(got)) = (&request.nonce, &response_nonce) {
        if want != got {
            return Err(PkiError::Ocsp(
                "response nonce does not match the request".into(),
            ));
        }
    }

    while !responses.is_empty() {
        let mut single = responses.nested(tag::SEQUENCE)?;
        let id = CertId::parse(&mut single)?;
        if id != request.cert_id {
            continue;
        }
        let st = single.any()?;
        let status = match st.tag {
            0x80 => OcspCertStatus::Good,
            0xa1 => {
                let mut ri = Reader::new(st.value, "RevokedInfo");
                let time = gen_time(&mut ri)?;
                let reason = match ri.optional(0xa0)? {
                    Some(t) => Reader::new(t.value, "CRLReason")
                        .expect(tag::ENUMERATED)?
                        .value
                        .first()
                        .copied(),
                    None => None,
                };
                OcspCertStatus::Revoked { time, reason }
            }
            0x82 => OcspCertStatus::Unknown,
            t => return Err(PkiError::Ocsp(format!("bad certStatus tag {t:#04x}"))),
        };
        let this_update = gen_time(&mut single)?;
        let next_update = match single.optional(0xa0)? {
            Some(t) => Some(gen_time(&mut Reader::new(t.value, "nextUpdate"))?),
            None => None,
        };
        if this_update.secs() > now.secs() + SKEW {
            return Err(PkiError::Ocsp(
                "response thisUpdate is in the future".into(),
            ));
        }
        if next_update.is_some_and(|n| n.secs() + SKEW < now.secs()) {
            return Err(PkiError::Ocsp(
                "response is outdated (nextUpdate passed)".into(),
            ));
        }
        return Ok(OcspStatus {
            status,
            this_update,
            next_update,
            produced_at,
        });
    }
    Err(PkiError::Ocsp(
        "response does not answer for the requested certificate".into(),
    ))
}

/// A cache of verified OCSP answers (`ocsp-cache-size`, `ocsp-cache-min-age`,
/// `ocsp-cache-max-age`), emptied by `--purgeocsp`.
#[derive(Debug, Clone)]
pub struct OcspCache {
    entries: Vec<CacheEntry>,
    size: usize,
    min_age: i64,
    max_age: i64,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    id: CertId,
    status: OcspStatus,
    expires: UnixTime,
}

impl Default for OcspCache {
    /// Libreswan's defaults: 1000 entries, 1 hour minimum, 1 day maximum age.
    fn default() -> Self {
        Self::new(1000, 3600, 86_400)
    }
}

impl OcspCache {
    /// A cache of at most `size` answers (0 disables caching), each kept from
    /// `min_age` to `max_age` seconds, within those bounds until its nextUpdate.
    pub fn new(size: usize, min_age: i64, max_age: i64) -> Self {
        OcspCache {
            entries: Vec::new(),
            size,
            min_age: min_age.max(0),
            max_age: max_age.max(min_age.max(0)),
        }
    }

    /// Remembers an answer received at `now`; the oldest expiring entry makes
    /// room when the cache is full.
    pub fn insert(&mut self, id: CertId, status: OcspStatus, now: UnixTime) {
        if self.size == 0 {
            return;
        }
        let lo = now.secs().saturating_add(self.min_age);
        let hi = now.secs().saturating_add(self.max_age);
        let want = status.next_update.map(|n| n.secs()).unwrap_or(lo);
        let expires = UnixTime(want.clamp(lo, hi));
        self.entries.retain(|e| e.id != id);
        if self.entries.len() >= self.size {
            if let Some(i) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.expires)
                .map(|(i, _)| i)
            {
                self.entries.swap_remove(i);
            }
        }
        self.entries.push(CacheEntry {
            id,
            status,
            expires,
        });
    }

    /// The cached answer for `id`, if still fresh at `now`.
    pub fn get(&self, id: &CertId, now: UnixTime) -> Option<&OcspStatus> {
        self.entries
            .iter()
            .find(|e| &e.id == id && e.expires > now)
            .map(|e| &e.status)
    }

    /// Number of entries (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `--purgeocsp`: forgets every answer.
    pub fn purge(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> CertId {
        CertId {
            issuer_name_hash: vec![1; 20],
            issuer_key_hash: vec![2; 20],
            serial: vec![n],
        }
    }

    fn st(next: Option<i64>) -> OcspStatus {
        OcspStatus {
            status: OcspCertStatus::Good,
            this_update: UnixTime(0),
            next_update: next.map(UnixTime),
            produced_at: UnixTime(0),
        }
    }

    #[test]
    fn cache_ages_and_size() {
        let now = UnixTime(1_000_000);
        let mut c = OcspCache::new(2, 100, 1000);
        c.insert(id(1), st(Some(1_000_050)), now); // clamped up to min age
        c.insert(id(2), st(Some(1_900_000)), now); // clamped down to max age
        assert!(c.get(&id(1), now.add_secs(99)).is_some());
        assert!(c.get(&id(1), now.add_secs(100)).is_none());
        assert!(c.get(&id(2), now.add_secs(999)).is_some());
        assert!(c.get(&id(2), now.add_secs(1000)).is_none());
        c.insert(id(3), st(None), now);
        assert_eq!(c.len(), 2);
        assert!(
            c.get(&id(1), now).is_none(),
            "the soonest expiring entry was evicted"
        );
        assert!(c.get(&id(3), now).is_some());
        c.purge();
        assert!(c.is_empty());
        let mut off = OcspCache::new(0, 100, 1000);
        off.insert(id(1), st(None), now);
        assert!(off.is_empty());
    }
}
