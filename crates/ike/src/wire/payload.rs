//! Payload types and the payload enum (RFC 7296 3.2).

use super::notify::Notify;
use super::sa::SaPayload;
use super::simple::{
    AuthPayload, CertPayload, CpPayload, DeletePayload, IdPayload, KePayload, SkPayload, SkfPayload,
};
use super::ts::TsPayload;
use super::{WireError, WireResult};

/// Payload type numbers (IANA "IKEv2 Payload Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadType(pub u8);

impl PayloadType {
    /// No Next Payload (0).
    pub const NONE: PayloadType = PayloadType(0);
    /// Security Association (33).
    pub const SA: PayloadType = PayloadType(33);
    /// Key Exchange (34).
    pub const KE: PayloadType = PayloadType(34);
    /// Identification - Initiator (35).
    pub const IDI: PayloadType = PayloadType(35);
    /// Identification - Responder (36).
    pub const IDR: PayloadType = PayloadType(36);
    /// Certificate (37).
    pub const CERT: PayloadType = PayloadType(37);
    /// Certificate Request (38).
    pub const CERTREQ: PayloadType = PayloadType(38);
    /// Authentication (39).
    pub const AUTH: PayloadType = PayloadType(39);
    /// Nonce (40).
    pub const NONCE: PayloadType = PayloadType(40);
    /// Notify (41).
    pub const N: PayloadType = PayloadType(41);
    /// Delete (42).
    pub const D: PayloadType = PayloadType(42);
    /// Vendor ID (43).
    pub const V: PayloadType = PayloadType(43);
    /// Traffic Selector - Initiator (44).
    pub const TSI: PayloadType = PayloadType(44);
    /// Traffic Selector - Responder (45).
    pub const TSR: PayloadType = PayloadType(45);
    /// Encrypted and Authenticated (46).
    pub const SK: PayloadType = PayloadType(46);
    /// Configuration (47).
    pub const CP: PayloadType = PayloadType(47);
    /// Extensible Authentication (48).
    pub const EAP: PayloadType = PayloadType(48);
    /// Encrypted and Authenticated Fragment (53, RFC 7383).
    pub const SKF: PayloadType = PayloadType(53);
}

/// A decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// SA.
    Sa(SaPayload),
    /// KE.
    Ke(KePayload),
    /// IDi.
    IdI(IdPayload),
    /// IDr.
    IdR(IdPayload),
    /// CERT.
    Cert(CertPayload),
    /// CERTREQ.
    CertReq(CertPayload),
    /// AUTH.
    Auth(AuthPayload),
    /// Ni / Nr: the nonce data.
    Nonce(Vec<u8>),
    /// N.
    Notify(Notify),
    /// D.
    Delete(DeletePayload),
    /// V: the vendor ID.
    VendorId(Vec<u8>),
    /// TSi.
    TsI(TsPayload),
    /// TSr.
    TsR(TsPayload),
    /// SK (always the last payload of a message).
    Sk(SkPayload),
    /// CP.
    Cp(CpPayload),
    /// EAP: the EAP message.
    Eap(Vec<u8>),
    /// SKF (always the last payload of a message).
    Skf(SkfPayload),
    /// A payload not understood and not critical, kept as it came.
    Unknown {
        /// Its type.
        kind: u8,
        /// Its body.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload's type number.
    pub fn kind(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::N,
            Payload::Delete(_) => PayloadType::D,
            Payload::VendorId(_) => PayloadType::V,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Unknown { kind, .. } => PayloadType(*kind),
        }
    }

    /// Decodes one payload body of type `kind`. `Ok(None)` means an
    /// unknown, non-critical payload that the caller skips; an unknown
    /// critical payload is an error.
    pub(crate) fn decode_body(
        kind: u8,
        critical: bool,
        next: u8,
        body: &[u8],
    ) -> WireResult<Payload> {
        Ok(match PayloadType(kind) {
            PayloadType::SA => Payload::Sa(SaPayload::decode(body)?),
            PayloadType::KE => Payload::Ke(KePayload::decode(body)?),
            PayloadType::IDI => Payload::IdI(IdPayload::decode(body)?),
            PayloadType::IDR => Payload::IdR(IdPayload::decode(body)?),
            PayloadType::CERT => Payload::Cert(CertPayload::decode(body)?),
            PayloadType::CERTREQ => Payload::CertReq(CertPayload::decode(body)?),
            PayloadType::AUTH => Payload::Auth(AuthPayload::decode(body)?),
            PayloadType::NONCE => Payload::Nonce(body.to_vec()),
            PayloadType::N => Payload::Notify(Notify::decode(body)?),
            PayloadType::D => Payload::Delete(DeletePayload::decode(body)?),
            PayloadType::V => Payload::VendorId(body.to_vec()),
            PayloadType::TSI => Payload::TsI(TsPayload::decode(body)?),
            PayloadType::TSR => Payload::TsR(TsPayload::decode(body)?),
            PayloadType::SK => Payload::Sk(SkPayload {
                first_inner: next,
                data: body.to_vec(),
            }),
            PayloadType::CP => Payload::Cp(CpPayload::decode(body)?),
            PayloadType::EAP => Payload::Eap(body.to_vec()),
            PayloadType::SKF => Payload::Skf(SkfPayload::decode(next, body)?),
            _ if critical => return Err(WireError::UnsupportedCritical(kind)),
            _ => Payload::Unknown {
                kind,
                body: body.to_vec(),
            },
        })
    }

    /// Encodes the payload body (without the generic header).
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> WireResult<()> {
        match self {
            Payload::Sa(p) => p.encode(out)?,
            Payload::Ke(p) => p.encode(out),
            Payload::IdI(p) | Payload::IdR(p) => p.encode(out),
            Payload::Cert(p) | Payload::CertReq(p) => p.encode(out),
            Payload::Auth(p) => p.encode(out),
            Payload::Nonce(d) | Payload::VendorId(d) | Payload::Eap(d) => out.extend_from_slice(d),
            Payload::Notify(p) => p.encode(out)?,
            Payload::Delete(p) => p.encode(out)?,
            Payload::TsI(p) | Payload::TsR(p) => p.encode(out)?,
            Payload::Sk(p) => out.extend_from_slice(&p.data),
            Payload::Cp(p) => p.encode(out)?,
            Payload::Skf(p) => {
                p.encode_prefix(out);
                out.extend_from_slice(&p.data);
            }
            Payload::Unknown { body, .. } => out.extend_from_slice(body),
        }
        Ok(())
    }
}
