//! The IKE header (RFC 7296 3.1).

use super::reader::Reader;
use super::{put_u32, WireError, WireResult};

/// Size of the fixed IKE header.
pub const HEADER_LEN: usize = 28;
/// Version octet of IKEv2 (major 2, minor 0).
pub const IKEV2_VERSION: u8 = 0x20;

/// IKEv2 exchange types (IANA "IKEv2 Exchange Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeType {
    /// IKE_SA_INIT (34).
    IkeSaInit,
    /// IKE_AUTH (35).
    IkeAuth,
    /// CREATE_CHILD_SA (36).
    CreateChildSa,
    /// INFORMATIONAL (37).
    Informational,
    /// IKE_SESSION_RESUME (38, RFC 5723).
    IkeSessionResume,
    /// IKE_INTERMEDIATE (43, RFC 9242).
    IkeIntermediate,
    /// IKE_FOLLOWUP_KE (44, RFC 9370).
    IkeFollowupKe,
    /// Any other value.
    Other(u8),
}

impl ExchangeType {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            ExchangeType::IkeSaInit => 34,
            ExchangeType::IkeAuth => 35,
            ExchangeType::CreateChildSa => 36,
            ExchangeType::Informational => 37,
            ExchangeType::IkeSessionResume => 38,
            ExchangeType::IkeIntermediate => 43,
            ExchangeType::IkeFollowupKe => 44,
            ExchangeType::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            34 => ExchangeType::IkeSaInit,
            35 => ExchangeType::IkeAuth,
            36 => ExchangeType::CreateChildSa,
            37 => ExchangeType::Informational,
            38 => ExchangeType::IkeSessionResume,
            43 => ExchangeType::IkeIntermediate,
            44 => ExchangeType::IkeFollowupKe,
            v => ExchangeType::Other(v),
        }
    }

    /// The name used in Libreswan's log lines.
    pub fn name(self) -> &'static str {
        match self {
            ExchangeType::IkeSaInit => "IKE_SA_INIT",
            ExchangeType::IkeAuth => "IKE_AUTH",
            ExchangeType::CreateChildSa => "CREATE_CHILD_SA",
            ExchangeType::Informational => "INFORMATIONAL",
            ExchangeType::IkeSessionResume => "IKE_SESSION_RESUME",
            ExchangeType::IkeIntermediate => "IKE_INTERMEDIATE",
            ExchangeType::IkeFollowupKe => "IKE_FOLLOWUP_KE",
            ExchangeType::Other(_) => "UNKNOWN_EXCHANGE",
        }
    }
}

/// The fixed IKE header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: [u8; 8],
    /// Type of the first payload.
    pub next_payload: u8,
    /// Version octet, major in the high nibble.
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Sent by the original initiator of the IKE SA (flag I).
    pub initiator: bool,
    /// Higher version supported (flag V); always clear when we send.
    pub version_flag: bool,
    /// This message is a response (flag R).
    pub response: bool,
    /// Message ID.
    pub message_id: u32,
    /// Length of the whole message including the header.
    pub length: u32,
}

impl Header {
    /// Decodes the header and checks version and length against `buf`.
    pub fn decode(buf: &[u8]) -> WireResult<Header> {
        let mut r = Reader::new(buf, "IKE header");
        let spi_i = r.array::<8>()?;
        let spi_r = r.array::<8>()?;
        let next_payload = r.u8()?;
        let version = r.u8()?;
        let exchange = ExchangeType::from_u8(r.u8()?);
        let flags = r.u8()?;
        let message_id = r.u32()?;
        let length = r.u32()?;
        if version >> 4 != 2 {
            return Err(WireError::BadVersion(version >> 4));
        }
        if (length as usize) < HEADER_LEN || length as usize > buf.len() {
            return Err(WireError::BadLength("IKE header", length as usize));
        }
        Ok(Header {
            spi_i,
            spi_r,
            next_payload,
            version,
            exchange,
            initiator: flags & 0x08 != 0,
            version_flag: flags & 0x10 != 0,
            response: flags & 0x20 != 0,
            message_id,
            length,
        })
    }

    /// Appends the header as it stands (the caller fixes `length`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i);
        out.extend_from_slice(&self.spi_r);
        out.push(self.next_payload);
        out.push(self.version);
        out.push(self.exchange.to_u8());
        let mut flags = 0u8;
        if self.initiator {
            flags |= 0x08;
        }
        if self.version_flag {
            flags |= 0x10;
        }
        if self.response {
            flags |= 0x20;
        }
        out.push(flags);
        put_u32(out, self.message_id);
        put_u32(out, self.length);
    }
}
