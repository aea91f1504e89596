//! Whole messages: the header followed by a chain of payloads.

use super::header::{Header, HEADER_LEN};
use super::payload::{Payload, PayloadType};
use super::reader::Reader;
use super::{patch_len, WireError, WireResult};

/// A decoded IKE message. When it carries an SK or SKF payload, that is its
/// last payload and the inner payloads still need decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// Payloads in order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Decodes a datagram (without the non-ESP marker). Octets beyond the
    /// header's length field are ignored.
    pub fn decode(buf: &[u8]) -> WireResult<Message> {
        let header = Header::decode(buf)?;
        let body = buf
            .get(HEADER_LEN..header.length as usize)
            .ok_or(WireError::BadLength("IKE message", header.length as usize))?;
        let payloads = decode_payload_chain(header.next_payload, body)?;
        Ok(Message { header, payloads })
    }

    /// Encodes the message; the header's next-payload and length fields are
    /// computed.
    pub fn encode(&self) -> WireResult<Vec<u8>> {
        let mut out = Vec::with_capacity(256);
        let mut h = self.header.clone();
        h.next_payload = self.payloads.first().map(|p| p.kind().0).unwrap_or(0);
        h.encode(&mut out);
        encode_payload_chain(&self.payloads, &mut out)?;
        let len = u32::try_from(out.len()).map_err(|_| WireError::TooLong("IKE message", 0))?;
        if let Some(slot) = out.get_mut(24..28) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        Ok(out)
    }

    /// The first Notify of type `kind`.
    pub fn notify(&self, kind: super::NotifyType) -> Option<&super::Notify> {
        find_notify(&self.payloads, kind)
    }
}

/// The first Notify of type `kind` among `payloads`.
pub(crate) fn find_notify(payloads: &[Payload], kind: super::NotifyType) -> Option<&super::Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.kind == kind => Some(n),
        _ => None,
    })
}

/// Decodes a chain of payloads starting with type `first`. An SK or SKF
/// payload ends the chain (its Next Payload names the first inner payload).
/// Unknown payloads without the critical bit are kept as
/// [`Payload::Unknown`]; with it, decoding fails.
pub fn decode_payload_chain(first: u8, buf: &[u8]) -> WireResult<Vec<Payload>> {
    let mut r = Reader::new(buf, "payload chain");
    let mut next = first;
    let mut payloads = Vec::new();
    while next != 0 {
        let kind = next;
        next = r.u8()?;
        let flags = r.u8()?;
        let len = r.u16()? as usize;
        if len < 4 {
            return Err(WireError::BadLength("generic payload header", len));
        }
        let body = r.take(len - 4)?;
        let p = Payload::decode_body(kind, flags & 0x80 != 0, next, body)?;
        let ends = matches!(p, Payload::Sk(_) | Payload::Skf(_));
        payloads.push(p);
        if ends {
            if !r.is_empty() {
                return Err(WireError::BadLength("SK payload", r.remaining()));
            }
            return Ok(payloads);
        }
    }
    Ok(payloads)
}

/// Appends `payloads` as a chain: generic headers with next-payload fields
/// and lengths. Known payloads are sent without the critical bit (RFC 7296
/// 2.5: it is only set on payloads the receiver must understand, which all
/// RFC 7296 payloads are anyway).
pub fn encode_payload_chain(payloads: &[Payload], out: &mut Vec<u8>) -> WireResult<()> {
    for (i, p) in payloads.iter().enumerate() {
        let next = match p {
            Payload::Sk(sk) => sk.first_inner,
            Payload::Skf(skf) => skf.first_inner,
            _ => payloads
                .get(i + 1)
                .map(|n| n.kind().0)
                .unwrap_or(PayloadType::NONE.0),
        };
        let start = out.len();
        out.push(next);
        out.push(0);
        out.extend_from_slice(&[0, 0]);
        p.encode_body(out)?;
        let len = out.len() - start;
        patch_len(out, start + 2, len, "payload")?;
    }
    Ok(())
}
