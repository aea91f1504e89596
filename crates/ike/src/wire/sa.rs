//! The Security Association payload (RFC 7296 3.3): proposals, transforms
//! and transform attributes.

use super::reader::Reader;
use super::{patch_len, put_u16, WireError, WireResult};

/// Protocol ID of a proposal, Notify or Delete payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolId {
    /// IKE (1).
    Ike,
    /// AH (2).
    Ah,
    /// ESP (3).
    Esp,
    /// Any other value.
    Other(u8),
}

impl ProtocolId {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            ProtocolId::Ike => 1,
            ProtocolId::Ah => 2,
            ProtocolId::Esp => 3,
            ProtocolId::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => ProtocolId::Ike,
            2 => ProtocolId::Ah,
            3 => ProtocolId::Esp,
            v => ProtocolId::Other(v),
        }
    }
}

/// Transform type (IANA "Transform Type Values", RFC 9370 for ADDKE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransformType {
    /// Encryption algorithm (1).
    Encr,
    /// Pseudorandom function (2).
    Prf,
    /// Integrity algorithm (3).
    Integ,
    /// Key exchange method, formerly D-H group (4).
    Ke,
    /// Extended sequence numbers (5).
    Esn,
    /// Additional key exchange 1..=7 (6..=12, RFC 9370).
    AddKe(u8),
    /// Any other value.
    Other(u8),
}

impl TransformType {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            TransformType::Encr => 1,
            TransformType::Prf => 2,
            TransformType::Integ => 3,
            TransformType::Ke => 4,
            TransformType::Esn => 5,
            TransformType::AddKe(n) => 5u8.saturating_add(n),
            TransformType::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => TransformType::Encr,
            2 => TransformType::Prf,
            3 => TransformType::Integ,
            4 => TransformType::Ke,
            5 => TransformType::Esn,
            6..=12 => TransformType::AddKe(v - 5),
            v => TransformType::Other(v),
        }
    }
}

/// Transform attribute type "Key Length" (RFC 7296 3.3.5).
pub const ATTR_KEY_LENGTH: u16 = 14;

/// A transform attribute (RFC 7296 3.3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// Type/Value format (AF bit set): a 2-octet value.
    Tv {
        /// Attribute type (15 bits).
        kind: u16,
        /// Value.
        value: u16,
    },
    /// Type/Length/Value format.
    Tlv {
        /// Attribute type (15 bits).
        kind: u16,
        /// Value.
        value: Vec<u8>,
    },
}

/// One transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform type.
    pub kind: TransformType,
    /// Transform ID (algorithm number, IANA).
    pub id: u16,
    /// Attributes.
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(kind: TransformType, id: u16) -> Self {
        Transform {
            kind,
            id,
            attributes: Vec::new(),
        }
    }

    /// A transform with a Key Length attribute.
    pub fn with_key_length(kind: TransformType, id: u16, bits: u16) -> Self {
        Transform {
            kind,
            id,
            attributes: vec![Attribute::Tv {
                kind: ATTR_KEY_LENGTH,
                value: bits,
            }],
        }
    }

    /// The Key Length attribute, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv {
                kind: ATTR_KEY_LENGTH,
                value,
            } => Some(*value),
            _ => None,
        })
    }

    fn decode(r: &mut Reader<'_>, last_expected: &mut bool) -> WireResult<Transform> {
        let last = r.u8()?;
        let _reserved = r.u8()?;
        let len = r.u16()? as usize;
        if len < 8 {
            return Err(WireError::BadLength("Transform", len));
        }
        let body = r.take(len - 4)?;
        *last_expected = last == 0;
        if last != 0 && last != 3 {
            return Err(WireError::BadValue("Transform last-substruc", last.into()));
        }
        let mut b = Reader::new(body, "Transform");
        let kind = TransformType::from_u8(b.u8()?);
        let _reserved = b.u8()?;
        let id = b.u16()?;
        let mut attributes = Vec::new();
        while !b.is_empty() {
            let t = b.u16()?;
            if t & 0x8000 != 0 {
                attributes.push(Attribute::Tv {
                    kind: t & 0x7fff,
                    value: b.u16()?,
                });
            } else {
                let l = b.u16()? as usize;
                attributes.push(Attribute::Tlv {
                    kind: t,
                    value: b.take(l)?.to_vec(),
                });
            }
        }
        Ok(Transform {
            kind,
            id,
            attributes,
        })
    }

    fn encode(&self, out: &mut Vec<u8>, last: bool) -> WireResult<()> {
        let start = out.len();
        out.push(if last { 0 } else { 3 });
        out.push(0);
        put_u16(out, 0);
        out.push(self.kind.to_u8());
        out.push(0);
        put_u16(out, self.id);
        for a in &self.attributes {
            match a {
                Attribute::Tv { kind, value } => {
                    put_u16(out, 0x8000 | (kind & 0x7fff));
                    put_u16(out, *value);
                }
                Attribute::Tlv { kind, value } => {
                    put_u16(out, kind & 0x7fff);
                    let l = u16::try_from(value.len())
                        .map_err(|_| WireError::TooLong("Transform attribute", value.len()))?;
                    put_u16(out, l);
                    out.extend_from_slice(value);
                }
            }
        }
        let len = out.len() - start;
        patch_len(out, start + 2, len, "Transform")
    }
}

/// One proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (the first is 1, RFC 7296 3.3.1).
    pub number: u8,
    /// Protocol (IKE, AH, ESP).
    pub protocol: ProtocolId,
    /// SPI: empty in the first IKE_SA_INIT, 8 octets for an IKE rekey, 4
    /// octets for ESP/AH.
    pub spi: Vec<u8>,
    /// Transforms.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// Transforms of one type, in order.
    pub fn of_type(&self, kind: TransformType) -> impl Iterator<Item = &Transform> + '_ {
        self.transforms.iter().filter(move |t| t.kind == kind)
    }

    fn decode(r: &mut Reader<'_>, more: &mut bool) -> WireResult<Proposal> {
        let last = r.u8()?;
        let _reserved = r.u8()?;
        let len = r.u16()? as usize;
        if len < 8 {
            return Err(WireError::BadLength("Proposal", len));
        }
        if last != 0 && last != 2 {
            return Err(WireError::BadValue("Proposal last-substruc", last.into()));
        }
        *more = last == 2;
        let body = r.take(len - 4)?;
        let mut b = Reader::new(body, "Proposal");
        let number = b.u8()?;
        let protocol = ProtocolId::from_u8(b.u8()?);
        let spi_size = b.u8()? as usize;
        let count = b.u8()?;
        let spi = b.take(spi_size)?.to_vec();
        let mut transforms = Vec::with_capacity((count as usize).min(b.remaining() / 8));
        let mut more_transforms = !b.is_empty();
        for _ in 0..count {
            if !more_transforms {
                return Err(WireError::BadValue(
                    "Proposal transform count",
                    count.into(),
                ));
            }
            let mut last = false;
            transforms.push(Transform::decode(&mut b, &mut last)?);
            more_transforms = !last;
        }
        if !b.is_empty() || more_transforms && count > 0 {
            return Err(WireError::BadLength("Proposal", len));
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn encode(&self, out: &mut Vec<u8>, last: bool) -> WireResult<()> {
        let start = out.len();
        out.push(if last { 0 } else { 2 });
        out.push(0);
        put_u16(out, 0);
        out.push(self.number);
        out.push(self.protocol.to_u8());
        let spi_len =
            u8::try_from(self.spi.len()).map_err(|_| WireError::TooLong("SPI", self.spi.len()))?;
        out.push(spi_len);
        let n = u8::try_from(self.transforms.len())
            .map_err(|_| WireError::TooLong("Proposal transforms", self.transforms.len()))?;
        out.push(n);
        out.extend_from_slice(&self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            t.encode(out, i + 1 == self.transforms.len())?;
        }
        let len = out.len() - start;
        patch_len(out, start + 2, len, "Proposal")
    }
}

/// The SA payload: one or more proposals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaPayload {
    /// Proposals in order of preference.
    pub proposals: Vec<Proposal>,
}

impl SaPayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "SA payload");
        let mut proposals = Vec::new();
        let mut more = true;
        while more {
            proposals.push(Proposal::decode(&mut r, &mut more)?);
        }
        if !r.is_empty() {
            return Err(WireError::BadLength("SA payload", body.len()));
        }
        Ok(SaPayload { proposals })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> WireResult<()> {
        for (i, p) in self.proposals.iter().enumerate() {
            p.encode(out, i + 1 == self.proposals.len())?;
        }
        Ok(())
    }
}
