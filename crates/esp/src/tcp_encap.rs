//! TCP encapsulation of IKE and ESP (RFC 8229): the `IKETCP` stream prefix
//! and the length-prefixed frames that follow it.
//!
//! A stream starts with the six octets `IKETCP` (sent by the initiator of
//! the TCP connection, section 3). Then each message is a frame: a 2-octet
//! big-endian length that counts itself, then the message. A frame whose
//! message starts with four zero octets (the non-ESP marker) carries IKE,
//! any other one ESP (section 3.1).
//!
//! [`FrameDecoder`] is incremental: bytes go in as the socket gives them
//! and whole frames come out, with bounded memory: a frame longer than the
//! decoder's limit, a length of 0 or 1 or a wrong prefix is an error,
//! after which the caller closes the stream; a frame too short to carry
//! IKE or ESP (under 8 octets of message) is dropped and the stream goes
//! on.

use crate::udp_encap::NON_ESP_MARKER;

/// The stream prefix (RFC 8229 section 3).
pub const STREAM_PREFIX: &[u8; 6] = b"IKETCP";

/// Octets of the length field.
pub const LENGTH_LEN: usize = 2;

/// The largest frame the format allows (the length counts itself).
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;

/// Default bound on a frame ferroswan accepts: an IKE message or an ESP
/// packet, with its length field. Larger frames close the stream.
pub const DEFAULT_FRAME_LIMIT: usize = 16 * 1024;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An IKE message, the non-ESP marker still in front (as on UDP 4500).
    Ike(&'a [u8]),
    /// An ESP packet (starting with the SPI).
    Esp(&'a [u8]),
}

/// Why a stream must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The stream did not start with `IKETCP`.
    #[error("the stream does not start with the IKETCP prefix")]
    BadPrefix,
    /// A frame longer than the limit.
    #[error("frame of {len} octets is longer than the limit of {limit}")]
    TooLong {
        /// The announced length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A length of 0 or 1: shorter than the length field itself
    /// (RFC 8229 section 3 makes it fatal).
    #[error("frame length {len} is shorter than the length field")]
    TooShort {
        /// The announced length.
        len: usize,
    },
}

/// Smallest message in a frame: an ESP header (SPI and sequence number),
/// or the non-ESP marker and something after it.
const MIN_MESSAGE_LEN: usize = 8;

/// Classifies a frame's message (length field removed).
pub fn classify(message: &[u8]) -> Frame<'_> {
    if message.starts_with(&NON_ESP_MARKER) {
        Frame::Ike(message)
    } else {
        Frame::Esp(message)
    }
}

/// Writes the frame of `message` into `out` (cleared first): the length
/// field, then the message. `None` when the message does not fit a frame.
pub fn encode_into(message: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let len = u16::try_from(message.len().checked_add(LENGTH_LEN)?).ok()?;
    out.clear();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Some(())
}

/// The frame of `message` (see [`encode_into`]).
pub fn encode(message: &[u8]) -> Option<Vec<u8>> {
    let mut v = Vec::with_capacity(message.len() + LENGTH_LEN);
    encode_into(message, &mut v)?;
    Some(v)
}

/// Reads frames from a stream's bytes.
#[derive(Debug)]
pub struct FrameDecoder {
    /// The prefix is still expected (the accepting end of a stream).
    want_prefix: bool,
    limit: usize,
    buf: Vec<u8>,
    /// Start of unread bytes in `buf`.
    start: usize,
    failed: Option<FrameError>,
    /// Frames too short for IKE or ESP, dropped.
    dropped: u64,
}

impl FrameDecoder {
    /// A decoder for the accepting end: the stream starts with `IKETCP`.
    /// Frames longer than `limit` (at most [`MAX_FRAME_LEN`]) are errors.
    pub fn responder(limit: usize) -> Self {
        Self::new(true, limit)
    }

    /// A decoder for the connecting end (no prefix comes back).
    pub fn initiator(limit: usize) -> Self {
        Self::new(false, limit)
    }

    fn new(want_prefix: bool, limit: usize) -> Self {
        FrameDecoder {
            want_prefix,
            limit: limit.clamp(LENGTH_LEN + MIN_MESSAGE_LEN, MAX_FRAME_LEN),
            buf: Vec::new(),
            start: 0,
            failed: None,
            dropped: 0,
        }
    }

    /// Octets held for a frame not complete yet (at most the limit).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Frames dropped for being too short to carry IKE or ESP.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True once the prefix has been read (or none was expected).
    pub fn prefix_done(&self) -> bool {
        !self.want_prefix
    }

    /// Appends bytes read from the stream. Returns the error that makes
    /// the stream unusable, then and on every later call.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        self.check()
    }

    /// Checks the prefix and the next frame's length as far as known.
    fn check(&mut self) -> Result<(), FrameError> {
        let avail = self.buf.get(self.start..).unwrap_or(&[]);
        if self.want_prefix {
            let n = avail.len().min(STREAM_PREFIX.len());
            if avail.get(..n) != STREAM_PREFIX.get(..n) {
                return Err(self.fail(FrameError::BadPrefix));
            }
            if n < STREAM_PREFIX.len() {
                return Ok(());
            }
            self.want_prefix = false;
            self.start += STREAM_PREFIX.len();
            return self.check();
        }
        if let Some(&[a, b]) = avail.get(..LENGTH_LEN) {
            let len = usize::from(u16::from_be_bytes([a, b]));
            if len > self.limit {
                return Err(self.fail(FrameError::TooLong {
                    len,
                    limit: self.limit,
                }));
            }
            if len < LENGTH_LEN {
                return Err(self.fail(FrameError::TooShort { len }));
            }
        }
        Ok(())
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e);
        self.buf = Vec::new();
        self.start = 0;
        e
    }

    /// The next complete frame, if any; call until `Ok(None)`, then push
    /// more bytes.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.want_prefix {
            return Ok(None);
        }
        let (from, to) = loop {
            self.check()?;
            let avail = self.buf.get(self.start..).unwrap_or(&[]);
            let Some(&[a, b]) = avail.get(..LENGTH_LEN) else {
                return Ok(None);
            };
            let len = usize::from(u16::from_be_bytes([a, b]));
            if avail.len() < len {
                return Ok(None);
            }
            let span = (self.start + LENGTH_LEN, self.start + len);
            self.start = span.1;
            if len >= LENGTH_LEN + MIN_MESSAGE_LEN {
                break span;
            }
            // Too short for IKE or ESP: dropped, as a runt ESP-in-UDP
            // datagram is; the stream goes on.
            self.dropped += 1;
        };
        let msg = self.buf.get(from..to).unwrap_or(&[]);
        Ok(Some(classify(msg)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(d: &mut FrameDecoder) -> Result<Vec<(bool, Vec<u8>)>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame()? {
            out.push(match f {
                Frame::Ike(m) => (true, m.to_vec()),
                Frame::Esp(m) => (false, m.to_vec()),
            });
        }
        Ok(out)
    }

    #[test]
    fn prefix_then_ike_and_esp_frames() {
        let ike = [0, 0, 0, 0, 1, 2, 3, 4, 5];
        let esp = [0, 0, 1, 0, 0, 0, 0, 1, 9, 9];
        let mut bytes = STREAM_PREFIX.to_vec();
        bytes.extend(encode(&ike).unwrap());
        bytes.extend(encode(&esp).unwrap());
        assert_eq!(&bytes[6..8], &[0, 11]);
        let mut d = FrameDecoder::responder(DEFAULT_FRAME_LIMIT);
        d.push(&bytes).unwrap();
        assert_eq!(
            frames(&mut d).unwrap(),
            vec![(true, ike.to_vec()), (false, esp.to_vec())]
        );
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn wrong_prefix_is_an_error_at_the_first_wrong_octet() {
        let mut d = FrameDecoder::responder(DEFAULT_FRAME_LIMIT);
        d.push(b"IKE").unwrap();
        assert_eq!(d.push(b"X"), Err(FrameError::BadPrefix));
        assert_eq!(d.push(b"TCP"), Err(FrameError::BadPrefix));
        let mut d = FrameDecoder::responder(DEFAULT_FRAME_LIMIT);
        assert_eq!(d.push(b"GET / HTTP/1.1\r\n"), Err(FrameError::BadPrefix));
    }

    #[test]
    fn oversize_and_undersize_lengths_are_errors() {
        let mut d = FrameDecoder::responder(1024);
        let mut b = STREAM_PREFIX.to_vec();
        b.extend([0xff, 0xff]);
        assert_eq!(
            d.push(&b),
            Err(FrameError::TooLong {
                len: 65535,
                limit: 1024
            })
        );
        let mut d = FrameDecoder::initiator(1024);
        assert_eq!(d.push(&[0, 1]), Err(FrameError::TooShort { len: 1 }));
        assert!(d.next_frame().is_err());
    }

    #[test]
    fn runt_frames_are_dropped_and_the_stream_goes_on() {
        let mut d = FrameDecoder::initiator(1024);
        let esp = [0, 0, 1, 0, 0, 0, 0, 1];
        let mut b = vec![0, 2, 0, 5, 1, 2, 3];
        b.extend(encode(&esp).unwrap());
        d.push(&b).unwrap();
        assert_eq!(d.next_frame(), Ok(Some(Frame::Esp(&esp))));
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.dropped(), 2);
    }

    #[test]
    fn a_truncated_frame_waits_for_more() {
        let mut d = FrameDecoder::initiator(DEFAULT_FRAME_LIMIT);
        let f = encode(&[7u8; 100]).unwrap();
        d.push(&f[..50]).unwrap();
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.pending(), 50);
        d.push(&f[50..]).unwrap();
        assert_eq!(d.next_frame(), Ok(Some(Frame::Esp(&[7u8; 100]))));
    }

    #[test]
    fn encode_refuses_what_does_not_fit() {
        assert!(encode(&vec![0u8; MAX_FRAME_LEN - 2]).is_some());
        assert!(encode(&vec![0u8; MAX_FRAME_LEN - 1]).is_none());
    }

    proptest! {
        /// Any split of a valid stream into reads gives the same frames.
        #[test]
        fn frames_survive_any_split(
            msgs in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(1u8..=255, 8..200)), 0..12),
            cuts in proptest::collection::vec(0usize..4000, 0..20),
        ) {
            let msgs: Vec<(bool, Vec<u8>)> = msgs.into_iter().map(|(ike, mut m)| {
                if ike { m.splice(0..0, [0, 0, 0, 0]); }
                (ike, m)
            }).collect();
            let mut stream = STREAM_PREFIX.to_vec();
            for (_, m) in &msgs {
                stream.extend(encode(m).unwrap());
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut d = FrameDecoder::responder(DEFAULT_FRAME_LIMIT);
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                d.push(&stream[at..c]).unwrap();
                at = c;
                got.extend(frames(&mut d).unwrap());
            }
            prop_assert_eq!(got, msgs);
            prop_assert_eq!(d.pending(), 0);
        }

        /// Arbitrary bytes never panic, never hold more than a frame, and
        /// once an error is reported it stays.
        #[test]
        fn garbage_is_bounded(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..300), 0..20), prefix in any::<bool>()) {
            let mut d = if prefix {
                FrameDecoder::responder(512)
            } else {
                FrameDecoder::initiator(512)
            };
            let mut failed = false;
            for c in chunks {
                match d.push(&c) {
                    Err(_) => failed = true,
                    Ok(()) => prop_assert!(!failed),
                }
                loop {
                    match d.next_frame() {
                        Ok(Some(Frame::Ike(m) | Frame::Esp(m))) => {
                            prop_assert!(m.len() + 2 <= 512);
                        }
                        Ok(None) => break,
                        Err(_) => { failed = true; break; }
                    }
                }
                prop_assert!(d.pending() < 512 + 300);
            }
        }
    }
}
