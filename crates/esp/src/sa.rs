//! Outbound and inbound ESP SAs: the RFC 4303 packet transforms, in place.
//!
//! Outbound: `[payload]` becomes `[SPI | seq | IV | ciphertext(payload | pad |
//! pad length | next header) | ICV]`. For AES-GCM and ChaCha20-Poly1305 the
//! 8-byte IV is the 64-bit sequence number (unique per key, as RFC 4106
//! section 3.1 and RFC 7634 section 2 allow), the nonce is salt || IV and the
//! AAD is SPI || seq (SPI || seq-hi || seq-lo with ESN). For AES-CBC the IV is
//! random and the HMAC covers header, IV and ciphertext, plus seq-hi with
//! ESN (RFC 4303 3.3.2.2.1).

use std::fmt;

use aws_lc_rs::aead::{Aad, Nonce};
use aws_lc_rs::cipher::{DecryptionContext, EncryptionContext};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{constant_time, hmac, rand};

use crate::buf::PacketBuf;
use crate::error::{EspError, Result};
use crate::lifetime::{Expiry, Lifetime, LifetimeState, SaCounters};
use crate::replay::ReplayWindow;
use crate::transform::{CipherState, Direction, SaKeys, Transform, ESP_HEADER_LEN, SALT_LEN};

/// IP protocol number of an inner IPv4 packet (tunnel mode).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// IP protocol number of an inner IPv6 packet (tunnel mode).
pub const NEXT_HEADER_IPV6: u8 = 41;
/// "No next header": a dummy packet (RFC 4303 2.6), to be dropped.
pub const NEXT_HEADER_NONE: u8 = 59;

/// The next header value of an inner IP packet in tunnel mode, from its version nibble.
pub fn tunnel_next_header(packet: &[u8]) -> Option<u8> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Some(NEXT_HEADER_IPV4),
        Some(6) => Some(NEXT_HEADER_IPV6),
        _ => None,
    }
}

/// Parameters of one SA, as the IKE daemon negotiated them.
#[derive(Clone)]
pub struct SaParams {
    /// The SPI (chosen by the receiving end).
    pub spi: u32,
    /// Encryption and integrity algorithms.
    pub transform: Transform,
    /// Key material.
    pub keys: SaKeys,
    /// Extended (64-bit) sequence numbers.
    pub esn: bool,
    /// Anti-replay window size (inbound only); 0 disables the check.
    pub replay_window: u32,
    /// Byte and packet lifetimes.
    pub lifetime: Lifetime,
}

impl fmt::Debug for SaParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .field("keys", &self.keys)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// Result of a successful encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encapsulated {
    /// The 64-bit sequence number used.
    pub seq: u64,
    /// A lifetime this packet reached, if any (reported once).
    pub expiry: Option<Expiry>,
}

/// Result of a successful decapsulation; the buffer then holds the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulated {
    /// The SPI the packet arrived on.
    pub spi: u32,
    /// The 64-bit sequence number.
    pub seq: u64,
    /// The next header: 4 (IPv4) or 41 (IPv6) in tunnel mode, the
    /// transport protocol in transport mode, 59 for a dummy packet.
    pub next_header: u8,
    /// A lifetime this packet reached, if any (reported once).
    pub expiry: Option<Expiry>,
}

fn aad_bytes(spi: u32, seq: u64, esn: bool, out: &mut [u8; 12]) -> usize {
    out[..4].copy_from_slice(&spi.to_be_bytes());
    if esn {
        out[4..8].copy_from_slice(&((seq >> 32) as u32).to_be_bytes());
        out[8..12].copy_from_slice(&(seq as u32).to_be_bytes());
        12
    } else {
        out[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        8
    }
}

fn aead_nonce(salt: &[u8; SALT_LEN], iv: &[u8]) -> Nonce {
    let mut n = [0u8; 12];
    n[..SALT_LEN].copy_from_slice(salt);
    n[SALT_LEN..].copy_from_slice(&iv[..8]);
    Nonce::assume_unique_for_key(n)
}

fn hmac_icv(key: &hmac::Key, covered: &[u8], seq: u64, esn: bool) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(covered);
    if esn {
        ctx.update(&((seq >> 32) as u32).to_be_bytes());
    }
    ctx.sign()
}

/// An outbound SA: adds ESP to packets.
pub struct OutboundSa {
    spi: u32,
    transform: Transform,
    esn: bool,
    cipher: CipherState,
    /// Last sequence number sent (0 = none yet).
    seq: u64,
    life: LifetimeState,
}

impl fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .field("esn", &self.esn)
            .field("seq", &self.seq)
            .field("counters", &self.life.counters)
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// Keys an outbound SA.
    pub fn new(params: &SaParams) -> Result<Self> {
        Ok(OutboundSa {
            spi: params.spi,
            transform: params.transform,
            esn: params.esn,
            cipher: CipherState::new(&params.transform, &params.keys, Direction::Outbound)?,
            seq: 0,
            life: LifetimeState::new(params.lifetime),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn transform(&self) -> Transform {
        self.transform
    }

    /// Traffic counters.
    pub fn counters(&self) -> SaCounters {
        self.life.counters
    }

    /// The last sequence number sent (0 before the first packet).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Continues the sequence after `seq` (for tests of the overflow and ESN paths).
    pub fn set_last_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// Bytes of headroom an encapsulation needs.
    pub fn headroom_needed(&self) -> usize {
        self.transform.header_overhead()
    }

    /// Most bytes of tailroom an encapsulation needs.
    pub fn tailroom_needed(&self) -> usize {
        self.transform.max_trailer_overhead()
    }

    /// Encapsulates a tunnel-mode packet: `buf` holds an inner IPv4 or IPv6 packet.
    pub fn encapsulate_tunnel(&mut self, buf: &mut PacketBuf) -> Result<Encapsulated> {
        let nh = tunnel_next_header(buf.data()).ok_or(EspError::Malformed {
            spi: self.spi,
            len: buf.len(),
            reason: "inner packet is neither IPv4 nor IPv6",
        })?;
        self.encapsulate(buf, nh)
    }

    /// Encapsulates `buf` (the payload: an IP packet in tunnel mode, the
    /// transport header and data in transport mode) with `next_header`.
    /// On success `buf` holds the ESP packet, starting with the SPI.
    pub fn encapsulate(&mut self, buf: &mut PacketBuf, next_header: u8) -> Result<Encapsulated> {
        self.encapsulate_inner(buf, next_header, None)
    }

    fn encapsulate_inner(
        &mut self,
        buf: &mut PacketBuf,
        next_header: u8,
        fixed_iv: Option<[u8; 8]>,
    ) -> Result<Encapsulated> {
        let spi = self.spi;
        if self.life.hard_fired {
            return Err(EspError::HardExpired { spi });
        }
        let max = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if self.seq >= max {
            return Err(EspError::SequenceOverflow { spi });
        }
        let header_len = self.transform.header_overhead();
        let iv_len = self.transform.encryption.iv_len();
        let icv_len = self.transform.icv_len();
        let block = self.transform.encryption.block_len();
        let payload_len = buf.len();
        let pad_len = (block - (payload_len + 2) % block) % block;
        if buf.headroom() < header_len {
            return Err(EspError::NoRoom {
                side: "headroom",
                needed: header_len,
                available: buf.headroom(),
            });
        }
        {
            let tail = buf.push_back(pad_len + 2 + icv_len)?;
            for (i, b) in tail.iter_mut().take(pad_len).enumerate() {
                *b = (i + 1) as u8;
            }
            tail[pad_len] = pad_len as u8;
            tail[pad_len + 1] = next_header;
        }
        let seq = self.seq + 1;
        let head = buf.push_front(header_len)?;
        head[..4].copy_from_slice(&spi.to_be_bytes());
        head[4..8].copy_from_slice(&(seq as u32).to_be_bytes());

        let data = buf.data_mut();
        let total = data.len();
        let (header, rest) = data.split_at_mut(header_len);
        let (plain, icv) = rest.split_at_mut(rest.len() - icv_len);
        match &self.cipher {
            CipherState::Aead { key, salt } => {
                let iv = fixed_iv.unwrap_or(seq.to_be_bytes());
                header[ESP_HEADER_LEN..].copy_from_slice(&iv);
                let mut aad = [0u8; 12];
                let aad_len = aad_bytes(spi, seq, self.esn, &mut aad);
                let tag = key
                    .seal_in_place_separate_tag(
                        aead_nonce(salt, &iv),
                        Aad::from(&aad[..aad_len]),
                        plain,
                    )
                    .map_err(|_| EspError::Crypto { spi, op: "seal" })?;
                icv.copy_from_slice(tag.as_ref());
            }
            CipherState::CbcEncrypt { key, hmac, icv_len } => {
                let mut iv = [0u8; 16];
                rand::fill(&mut iv).map_err(|_| EspError::Crypto {
                    spi,
                    op: "IV generation",
                })?;
                header[ESP_HEADER_LEN..ESP_HEADER_LEN + iv_len].copy_from_slice(&iv);
                key.less_safe_encrypt(plain, EncryptionContext::Iv128(FixedLength::from(iv)))
                    .map_err(|_| EspError::Crypto {
                        spi,
                        op: "CBC encrypt",
                    })?;
                let covered = &data[..total - icv_len];
                let tag = hmac_icv(hmac, covered, seq, self.esn);
                data[total - icv_len..].copy_from_slice(&tag.as_ref()[..*icv_len]);
            }
            CipherState::CbcDecrypt { .. } => {
                return Err(EspError::InvalidTransform(
                    "inbound keys used for an outbound SA",
                ))
            }
        }
        self.seq = seq;
        let expiry = self.life.account(payload_len);
        Ok(Encapsulated { seq, expiry })
    }
}

/// An inbound SA: verifies and removes ESP.
pub struct InboundSa {
    spi: u32,
    transform: Transform,
    esn: bool,
    cipher: CipherState,
    replay: ReplayWindow,
    life: LifetimeState,
}

impl fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay.size())
            .field("counters", &self.life.counters)
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// Keys an inbound SA.
    pub fn new(params: &SaParams) -> Result<Self> {
        Ok(InboundSa {
            spi: params.spi,
            transform: params.transform,
            esn: params.esn,
            cipher: CipherState::new(&params.transform, &params.keys, Direction::Inbound)?,
            replay: ReplayWindow::new(params.replay_window, params.esn)?,
            life: LifetimeState::new(params.lifetime),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn transform(&self) -> Transform {
        self.transform
    }

    /// Traffic and error counters.
    pub fn counters(&self) -> SaCounters {
        self.life.counters
    }

    /// The anti-replay window.
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Verifies, decrypts and strips ESP from `buf` (which starts with the
    /// SPI). Errors are counted in the SA's counters. The replay window is
    /// checked before and updated only after the ICV verified.
    pub fn decapsulate(&mut self, buf: &mut PacketBuf) -> Result<Decapsulated> {
        let r = self.decapsulate_inner(buf);
        if let Err(e) = &r {
            let c = &mut self.life.counters;
            match e {
                EspError::Replay { .. } => c.replay_errors += 1,
                EspError::Auth { .. } => c.auth_errors += 1,
                EspError::Malformed { .. } => c.decode_errors += 1,
                _ => {}
            }
        }
        r
    }

    fn decapsulate_inner(&mut self, buf: &mut PacketBuf) -> Result<Decapsulated> {
        let spi = self.spi;
        if self.life.hard_fired {
            return Err(EspError::HardExpired { spi });
        }
        let header_len = self.transform.header_overhead();
        let icv_len = self.transform.icv_len();
        let block = self.transform.encryption.block_len();
        let len = buf.len();
        let malformed = |reason| EspError::Malformed { spi, len, reason };
        if len < header_len + icv_len + block.max(4) {
            return Err(malformed("shorter than ESP header, IV, trailer and ICV"));
        }
        let ct_len = len - header_len - icv_len;
        if !ct_len.is_multiple_of(block) {
            return Err(malformed("ciphertext is not a multiple of the block size"));
        }
        let data = buf.data_mut();
        let (header, rest) = data.split_at_mut(header_len);
        if header[..4] != spi.to_be_bytes() {
            return Err(malformed("SPI does not match the SA"));
        }
        let seq_lo = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let seq = self.replay.check(spi, seq_lo)?;
        match &self.cipher {
            CipherState::Aead { key, salt } => {
                // The ICV follows the ciphertext: open ciphertext || tag in place.
                let mut aad = [0u8; 12];
                let aad_len = aad_bytes(spi, seq, self.esn, &mut aad);
                key.open_in_place(
                    aead_nonce(salt, &header[ESP_HEADER_LEN..]),
                    Aad::from(&aad[..aad_len]),
                    rest,
                )
                .map_err(|_| EspError::Auth { spi })?;
            }
            CipherState::CbcDecrypt { key, hmac, icv_len } => {
                let total = header_len + ct_len;
                let data = buf.data_mut();
                let tag = hmac_icv(hmac, &data[..total], seq, self.esn);
                constant_time::verify_slices_are_equal(&tag.as_ref()[..*icv_len], &data[total..])
                    .map_err(|_| EspError::Auth { spi })?;
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&data[ESP_HEADER_LEN..header_len]);
                key.decrypt(
                    &mut data[header_len..total],
                    DecryptionContext::Iv128(FixedLength::from(iv)),
                )
                .map_err(|_| EspError::Crypto {
                    spi,
                    op: "CBC decrypt",
                })?;
            }
            CipherState::CbcEncrypt { .. } => {
                return Err(EspError::InvalidTransform(
                    "outbound keys used for an inbound SA",
                ))
            }
        }
        // Authenticated: the window moves even if the trailer turns out bad.
        self.replay.update(seq);
        let data = buf.data();
        let plain = &data[header_len..header_len + ct_len];
        let pad_len = usize::from(plain[ct_len - 2]);
        let next_header = plain[ct_len - 1];
        if pad_len + 2 > ct_len {
            return Err(malformed("pad length exceeds the payload"));
        }
        let payload_len = ct_len - 2 - pad_len;
        let pad = &plain[payload_len..payload_len + pad_len];
        if pad
            .iter()
            .enumerate()
            .any(|(i, &b)| usize::from(b) != i + 1)
        {
            return Err(malformed("padding bytes are not 1, 2, 3, ..."));
        }
        buf.trim_back(icv_len + 2 + pad_len);
        buf.pull_front(header_len);
        let expiry = self.life.account(payload_len);
        Ok(Decapsulated {
            spi,
            seq,
            next_header,
            expiry,
        })
    }
}

#[cfg(test)]
mod tests;
