//! The IKE SA: its state, keys, message IDs, retransmission and the
//! protection (SK/SKF) of its messages.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::crypto::{IkeSaKeys, KeyExchange, Random, SkCipher};
use crate::wire::{
    decode_payload_chain, encode_payload_chain, ExchangeType, Header, Payload, PayloadType,
    SkfPayload, TrafficSelector, WireError, HEADER_LEN, IKEV2_VERSION,
};

use super::config::{ConnId, Identity, Mode};
use super::event::{ChildSaId, IkeSaId, NatInfo};
use super::proposal::{ChildSuite, IkeSuite};

/// Where an IKE SA stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IkeState {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
    InitAnswered,
    /// Initiator: IKE_INTERMEDIATE request sent (RFC 9242).
    IntermediateSent,
    /// Initiator: IKE_AUTH request sent.
    AuthSent,
    /// Authenticated.
    Established,
    /// A Delete for the IKE SA was sent; waiting for the answer.
    Deleting,
}

/// A Child SA of an IKE SA.
#[derive(Debug, Clone)]
pub(crate) struct ChildSa {
    pub id: ChildSaId,
    /// The connection it belongs to: the IKE SA's, or another connection
    /// with the same peer and IDs whose selectors the peer's
    /// CREATE_CHILD_SA asked for.
    pub conn: ConnId,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    #[allow(dead_code)]
    pub suite: ChildSuite,
    #[allow(dead_code)]
    pub local_ts: Vec<TrafficSelector>,
    #[allow(dead_code)]
    pub remote_ts: Vec<TrafficSelector>,
    #[allow(dead_code)]
    pub mode: Mode,
    /// When to start rekeying it (lifetime minus margin).
    pub rekey_at: Option<Instant>,
    /// A rekey of it is in flight or done; it is about to go.
    pub replaced: bool,
    /// End of its lifetime: deleted then if not replaced before.
    pub expire_at: Option<Instant>,
}

/// What an outstanding request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    IkeSaInit,
    IkeAuth,
    DeleteIke,
    DeleteChild,
    Liveness,
    CreateChild,
    Intermediate,
}

/// What our CREATE_CHILD_SA request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateKind {
    /// An additional Child SA.
    NewChild,
    /// A rekey of this Child SA.
    RekeyChild(ChildSaId),
    /// A rekey of the IKE SA, with our new SPI.
    RekeyIke([u8; 8]),
}

/// The nonces of the peer's exchange that collided with ours
/// (RFC 7296 2.8).
#[derive(Debug, Clone)]
pub(crate) struct Collision {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE SA the peer's rekey created (IKE SA rekey collisions).
    pub created: Option<IkeSaId>,
}

/// Our CREATE_CHILD_SA request in flight.
pub(crate) struct PendingCreate {
    pub kind: CreateKind,
    pub ni: Vec<u8>,
    pub ke: Option<KeyExchange>,
    pub child: Option<PendingChild>,
    pub collision: Option<Collision>,
    pub ke_retries: u8,
}

/// Our request waiting for its response.
#[derive(Debug, Clone)]
pub(crate) struct Outstanding {
    pub message_id: u32,
    pub kind: RequestKind,
    pub packets: Vec<Vec<u8>>,
    pub next_retransmit: Instant,
    pub interval: Duration,
    pub give_up_at: Instant,
    pub retransmits: u32,
}

/// The initiator's Child SA proposal in flight.
#[derive(Debug, Clone)]
pub(crate) struct PendingChild {
    /// The connection the Child SA is for.
    pub conn: ConnId,
    pub inbound_spi: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// Fragments of one message being reassembled (RFC 7383 2.6).
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    pub message_id: u32,
    pub first_inner: u8,
    pub parts: Vec<Option<Vec<u8>>>,
    pub bytes: usize,
}

/// The most fragments accepted for one message, and their total size:
/// bounds what a peer can make us buffer.
pub(crate) const MAX_FRAGMENTS: u16 = 64;
const MAX_REASSEMBLY_BYTES: usize = 64 * 1024;

/// One IKE SA.
pub(crate) struct IkeSa {
    pub id: IkeSaId,
    pub conn: ConnId,
    pub initiator: bool,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: IkeState,
    pub created: Instant,
    pub last_received: Instant,

    pub suite: Option<IkeSuite>,
    pub keys: Option<IkeSaKeys>,
    pub cipher_out: Option<SkCipher>,
    pub cipher_in: Option<SkCipher>,
    pub ke: Option<KeyExchange>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub cookie: Option<Vec<u8>>,
    pub ke_retries: u8,
    pub peer_fragmentation: bool,
    pub peer_childless: bool,
    /// The AAD (header to SK header) and plaintext of the last message
    /// decrypted (`None` AAD after reassembly), for RFC 9242 IntAuth.
    pub last_aad: Option<Vec<u8>>,
    pub last_plaintext: Vec<u8>,
    pub last_first_inner: u8,
    /// Additional key exchanges still to run (RFC 9370).
    pub addke_pending: Vec<crate::crypto::KeGroup>,
    /// The IntAuth chains of RFC 9242 3.3.2 (initiator's, responder's).
    pub int_auth: Option<(crate::crypto::Secret, crate::crypto::Secret)>,
    /// Hash algorithms of the peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427).
    pub peer_signature_hashes: Vec<u16>,
    /// CA key hashes of the peer's CERTREQ payloads (`None`: it sent none).
    pub peer_certreq: Option<Vec<[u8; 20]>>,
    pub nat: NatInfo,
    pub remote_id: Option<Identity>,

    pub next_message_id: u32,
    pub outstanding: Option<Outstanding>,
    pub expected_request_id: u32,
    pub last_response: Option<(u32, Vec<Vec<u8>>)>,
    pub reassembly: Option<Reassembly>,

    pub children: Vec<ChildSa>,
    pub pending_child: Option<PendingChild>,
    pub pending_create: Option<PendingCreate>,
    /// Requests waiting for the window (size 1).
    pub queued: VecDeque<(RequestKind, Vec<Payload>)>,
    /// CREATE_CHILD_SA exchanges waiting for the window.
    pub queued_creates: VecDeque<CreateKind>,
    /// This IKE SA was rekeyed into that one: its end is no "down".
    pub rekeyed_to: Option<IkeSaId>,
    /// When to start rekeying the IKE SA.
    pub rekey_at: Option<Instant>,
    /// End of the IKE SA's lifetime.
    pub expire_at: Option<Instant>,
}

impl IkeSa {
    /// What the peer announced for our CERT and AUTH payloads.
    pub fn peer_auth_hints(&self) -> super::PeerAuthHints {
        super::PeerAuthHints {
            signature_hashes: self.peer_signature_hashes.clone(),
            certificate_request: self.peer_certreq.clone(),
        }
    }

    /// Our own SPI (the key of the SPI map).
    pub fn local_spi(&self) -> [u8; 8] {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// The next instant this SA needs `handle_timeout`.
    pub fn next_deadline(&self, half_open: Duration, dpd: Option<Duration>) -> Option<Instant> {
        let mut d: Option<Instant> = self.outstanding.as_ref().map(|o| o.next_retransmit);
        if self.state == IkeState::InitAnswered {
            let t = self.created + half_open;
            d = Some(d.map_or(t, |x| x.min(t)));
        }
        if let (IkeState::Established, None, Some(delay)) = (self.state, &self.outstanding, dpd) {
            let t = self.last_received + delay;
            d = Some(d.map_or(t, |x| x.min(t)));
        }
        if self.rekeyed_to.is_some() && self.outstanding.is_none() {
            let t = self.last_received + super::REKEYED_SA_GRACE;
            d = Some(d.map_or(t, |x| x.min(t)));
        }
        if self.state == IkeState::Established
            && self.outstanding.is_none()
            && self.rekeyed_to.is_none()
        {
            let rekeys = self
                .children
                .iter()
                .filter(|c| !c.replaced)
                .filter_map(|c| c.rekey_at)
                .chain(self.children.iter().filter_map(|c| c.expire_at))
                .chain(self.rekey_at)
                .chain(self.expire_at);
            for t in rekeys {
                d = Some(d.map_or(t, |x| x.min(t)));
            }
        }
        d
    }

    /// A header for a message of this SA.
    pub fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: 0,
            version: IKEV2_VERSION,
            exchange,
            initiator: self.initiator,
            version_flag: false,
            response,
            message_id,
            length: 0,
        }
    }

    /// Builds the protected message(s) carrying `inner`: one SK message,
    /// or SKF fragments of at most `mtu` octets when fragmentation was
    /// negotiated and the message is larger.
    pub fn protect(
        &self,
        exchange: ExchangeType,
        response: bool,
        message_id: u32,
        inner: &[Payload],
        mtu: Option<usize>,
        rng: &mut dyn Random,
    ) -> Result<Vec<Vec<u8>>, ProtectError> {
        let cipher = self.cipher_out.as_ref().ok_or(ProtectError::NoKeys)?;
        let mut plain = Vec::with_capacity(512);
        encode_payload_chain(inner, &mut plain)?;
        let first_inner = inner.first().map(|p| p.kind().0).unwrap_or(0);
        let mut header = self.header(exchange, response, message_id);
        let body_len = cipher.encrypted_len(plain.len());
        let whole = HEADER_LEN + 4 + body_len;
        let fragment_to = match mtu {
            Some(m) if whole > m && self.peer_fragmentation => Some(m),
            _ => None,
        };
        let Some(mtu) = fragment_to else {
            header.next_payload = PayloadType::SK.0;
            header.length = u32::try_from(whole).map_err(|_| ProtectError::TooLarge)?;
            let mut out = Vec::with_capacity(whole);
            header.encode(&mut out);
            out.push(first_inner);
            out.push(0);
            let l = u16::try_from(4 + body_len).map_err(|_| ProtectError::TooLarge)?;
            out.extend_from_slice(&l.to_be_bytes());
            let body = cipher.encrypt(&out, &plain, rng)?;
            out.extend_from_slice(&body);
            return Ok(vec![out]);
        };
        let room = mtu.saturating_sub(HEADER_LEN + 8);
        let chunk = cipher.max_plaintext_for(room).max(1);
        let chunks: Vec<&[u8]> = plain.chunks(chunk).collect();
        let total = u16::try_from(chunks.len()).map_err(|_| ProtectError::TooLarge)?;
        if total > MAX_FRAGMENTS {
            return Err(ProtectError::TooLarge);
        }
        let mut packets = Vec::with_capacity(chunks.len());
        for (i, part) in chunks.iter().enumerate() {
            let number = u16::try_from(i + 1).map_err(|_| ProtectError::TooLarge)?;
            let body_len = cipher.encrypted_len(part.len());
            let len = HEADER_LEN + 8 + body_len;
            header.next_payload = PayloadType::SKF.0;
            header.length = u32::try_from(len).map_err(|_| ProtectError::TooLarge)?;
            let mut out = Vec::with_capacity(len);
            header.encode(&mut out);
            out.push(if number == 1 { first_inner } else { 0 });
            out.push(0);
            let l = u16::try_from(8 + body_len).map_err(|_| ProtectError::TooLarge)?;
            out.extend_from_slice(&l.to_be_bytes());
            SkfPayload {
                first_inner: 0,
                fragment_number: number,
                total_fragments: total,
                data: Vec::new(),
            }
            .encode_prefix(&mut out);
            let body = cipher.encrypt(&out, part, rng)?;
            out.extend_from_slice(&body);
            packets.push(out);
        }
        Ok(packets)
    }

    /// Verifies and decrypts the SK payload of `raw` (whose decoded last
    /// payload is `sk_data`), returning the inner payloads.
    pub fn unprotect_sk(
        &mut self,
        raw: &[u8],
        header_len: usize,
        first_inner: u8,
        sk_data_len: usize,
    ) -> Result<Vec<Payload>, ProtectError> {
        let cipher = self.cipher_in.as_ref().ok_or(ProtectError::NoKeys)?;
        let body_start = header_len
            .checked_sub(sk_data_len)
            .ok_or(ProtectError::Wire(WireError::BadLength(
                "SK payload",
                sk_data_len,
            )))?;
        let aad = raw
            .get(..body_start)
            .ok_or(ProtectError::Wire(WireError::BadLength(
                "SK payload",
                body_start,
            )))?;
        let body =
            raw.get(body_start..header_len)
                .ok_or(ProtectError::Wire(WireError::BadLength(
                    "SK payload",
                    header_len,
                )))?;
        let plain = cipher.decrypt(aad, body)?;
        let payloads = decode_payload_chain(first_inner, &plain)?;
        self.last_aad = Some(aad.to_vec());
        self.last_plaintext = plain;
        Ok(payloads)
    }

    /// Verifies and decrypts one SKF fragment and adds it to the
    /// reassembly buffer; returns the inner payloads once complete.
    pub fn unprotect_skf(
        &mut self,
        raw: &[u8],
        header_len: usize,
        message_id: u32,
        skf: &SkfPayload,
    ) -> Result<Option<Vec<Payload>>, ProtectError> {
        if skf.total_fragments > MAX_FRAGMENTS {
            return Err(ProtectError::TooLarge);
        }
        let cipher = self.cipher_in.as_ref().ok_or(ProtectError::NoKeys)?;
        let body_start = header_len
            .checked_sub(skf.data.len())
            .ok_or(ProtectError::Wire(WireError::BadLength("SKF payload", 0)))?;
        let aad = raw
            .get(..body_start)
            .ok_or(ProtectError::Wire(WireError::BadLength("SKF payload", 0)))?;
        let plain = cipher.decrypt(aad, &skf.data)?;
        let fresh = match &self.reassembly {
            Some(r) => {
                r.message_id != message_id || r.parts.len() != usize::from(skf.total_fragments)
            }
            None => true,
        };
        if fresh {
            self.reassembly = Some(Reassembly {
                message_id,
                first_inner: 0,
                parts: vec![None; usize::from(skf.total_fragments)],
                bytes: 0,
            });
        }
        let Some(r) = self.reassembly.as_mut() else {
            return Ok(None);
        };
        let idx = usize::from(skf.fragment_number.saturating_sub(1));
        if skf.fragment_number == 1 {
            r.first_inner = skf.first_inner;
        }
        if let Some(slot) = r.parts.get_mut(idx) {
            if slot.is_none() {
                r.bytes += plain.len();
                if r.bytes > MAX_REASSEMBLY_BYTES {
                    self.reassembly = None;
                    return Err(ProtectError::TooLarge);
                }
                *slot = Some(plain);
            }
        }
        if r.parts.iter().any(Option::is_none) {
            return Ok(None);
        }
        let mut whole = Vec::with_capacity(r.bytes);
        for p in r.parts.iter().flatten() {
            whole.extend_from_slice(p);
        }
        let first = r.first_inner;
        self.reassembly = None;
        let payloads = decode_payload_chain(first, &whole)?;
        self.last_aad = None;
        self.last_first_inner = first;
        self.last_plaintext = whole;
        Ok(Some(payloads))
    }
}

/// Why a message could not be protected or unprotected.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error("no keys yet")]
    NoKeys,
    #[error("message too large")]
    TooLarge,
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}
