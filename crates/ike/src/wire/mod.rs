//! The IKEv2 wire codec (RFC 7296 section 3, RFC 7383 for SKF).
//!
//! Every payload's encoder and decoder live in the same module. Decoding
//! works on a borrowed datagram, checks every length against the bytes that
//! are really there, never panics and only allocates copies of byte ranges
//! of the input (so the memory used is bounded by the datagram's size).

mod header;
mod message;
mod notify;
mod payload;
mod reader;
mod sa;
mod simple;
mod ts;

pub use header::{ExchangeType, Header, HEADER_LEN, IKEV2_VERSION};
pub use message::{decode_payload_chain, encode_payload_chain, Message};
pub use notify::{Notify, NotifyType};
pub use payload::{Payload, PayloadType};
pub use sa::{Attribute, Proposal, ProtocolId, SaPayload, Transform, TransformType};
pub use simple::{
    AuthMethod, AuthPayload, CertEncoding, CertPayload, CfgAttribute, CfgType, CpPayload,
    DeletePayload, IdPayload, IdType, KePayload, SkPayload, SkfPayload,
};
pub use ts::{TrafficSelector, TsPayload, TsType};

/// Why a datagram or payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before a field or a declared length.
    #[error("truncated {0}: need {1} more octets")]
    Truncated(&'static str, usize),
    /// A length field is smaller than the fixed part it must contain, or
    /// disagrees with the data that follows.
    #[error("invalid length in {0}: {1}")]
    BadLength(&'static str, usize),
    /// The major version of the IKE header is not 2.
    #[error("unsupported IKE major version {0} (only IKEv2 is supported)")]
    BadVersion(u8),
    /// A payload this implementation does not understand has its critical
    /// bit set (RFC 7296 2.5: answer with UNSUPPORTED_CRITICAL_PAYLOAD).
    #[error("unsupported critical payload type {0}")]
    UnsupportedCritical(u8),
    /// A field holds a value that RFC 7296 does not allow.
    #[error("invalid value in {0}: {1}")]
    BadValue(&'static str, u32),
    /// The encoded payload does not fit the 16-bit length field.
    #[error("{0} too long to encode ({1} octets)")]
    TooLong(&'static str, usize),
}

/// Result of decoding.
pub type WireResult<T> = Result<T, WireError>;

/// Appends `v` as big-endian u16.
pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `v` as big-endian u32.
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes `len` as big-endian u16 at `at`, failing when it does not fit.
pub(crate) fn patch_len(
    out: &mut [u8],
    at: usize,
    len: usize,
    what: &'static str,
) -> WireResult<()> {
    let v = u16::try_from(len).map_err(|_| WireError::TooLong(what, len))?;
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&v.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod proptests;
