//! A packet buffer with headroom and tailroom, so ESP is added and removed
//! in place without allocating per packet.

use crate::error::{EspError, Result};

/// Default headroom: room for an outer IPv6 header, UDP, ESP header and IV.
pub const DEFAULT_HEADROOM: usize = 96;
/// Default capacity: a 64 KiB packet plus headroom and ESP trailer.
pub const DEFAULT_CAPACITY: usize = 65_536 + DEFAULT_HEADROOM + 64;

/// A byte buffer holding one packet in `[start, end)` of a fixed allocation.
///
/// The space before `start` (headroom) takes headers that are pushed in
/// front; the space after `end` (tailroom) takes the ESP trailer and ICV.
/// Allocate one per slot at start-up and reuse it for every packet.
pub struct PacketBuf {
    storage: Box<[u8]>,
    start: usize,
    end: usize,
}

impl PacketBuf {
    /// A buffer of `capacity` bytes, empty, with `headroom` reserved in front.
    pub fn new(capacity: usize, headroom: usize) -> Self {
        let headroom = headroom.min(capacity);
        PacketBuf {
            storage: vec![0u8; capacity].into_boxed_slice(),
            start: headroom,
            end: headroom,
        }
    }

    /// A buffer with [`DEFAULT_CAPACITY`] and [`DEFAULT_HEADROOM`].
    pub fn with_defaults() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_HEADROOM)
    }

    /// A buffer holding a copy of `data` after `headroom` bytes, with
    /// `tailroom` bytes free after it.
    pub fn from_slice(data: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut buf = Self::new(headroom + data.len() + tailroom, headroom);
        buf.end = headroom + data.len();
        buf.storage[headroom..buf.end].copy_from_slice(data);
        buf
    }

    /// Empties the buffer and reserves `headroom` bytes in front.
    pub fn reset(&mut self, headroom: usize) {
        let headroom = headroom.min(self.storage.len());
        self.start = headroom;
        self.end = headroom;
    }

    /// The whole free space from the current start to the end of the
    /// allocation, to read a packet into; follow with [`PacketBuf::set_len`].
    pub fn writable(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..]
    }

    /// Sets the packet length after writing into [`PacketBuf::writable`].
    pub fn set_len(&mut self, len: usize) -> Result<()> {
        let available = self.storage.len() - self.start;
        if len > available {
            return Err(EspError::NoRoom {
                side: "tailroom",
                needed: len,
                available,
            });
        }
        self.end = self.start + len;
        Ok(())
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }

    /// The packet bytes, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.end]
    }

    /// Packet length.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Free bytes in front of the packet.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Free bytes after the packet.
    pub fn tailroom(&self) -> usize {
        self.storage.len() - self.end
    }

    /// Grows the packet by `n` bytes at the front and returns them.
    pub fn push_front(&mut self, n: usize) -> Result<&mut [u8]> {
        if n > self.start {
            return Err(EspError::NoRoom {
                side: "headroom",
                needed: n,
                available: self.start,
            });
        }
        self.start -= n;
        Ok(&mut self.storage[self.start..self.start + n])
    }

    /// Grows the packet by `n` bytes at the back and returns them.
    pub fn push_back(&mut self, n: usize) -> Result<&mut [u8]> {
        let available = self.tailroom();
        if n > available {
            return Err(EspError::NoRoom {
                side: "tailroom",
                needed: n,
                available,
            });
        }
        let old = self.end;
        self.end += n;
        Ok(&mut self.storage[old..self.end])
    }

    /// Removes `n` bytes from the front (clamped to the length).
    pub fn pull_front(&mut self, n: usize) {
        self.start += n.min(self.len());
    }

    /// Removes `n` bytes from the back (clamped to the length).
    pub fn trim_back(&mut self, n: usize) {
        self.end -= n.min(self.len());
    }
}

impl std::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketBuf")
            .field("len", &self.len())
            .field("headroom", &self.headroom())
            .field("tailroom", &self.tailroom())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_pull_respect_bounds() {
        let mut b = PacketBuf::from_slice(b"abcd", 2, 3);
        assert_eq!(b.data(), b"abcd");
        assert!(b.push_front(3).is_err());
        b.push_front(2).unwrap().copy_from_slice(b"xy");
        assert!(b.push_back(4).is_err());
        b.push_back(3).unwrap().copy_from_slice(b"123");
        assert_eq!(b.data(), b"xyabcd123");
        b.pull_front(3);
        b.trim_back(2);
        assert_eq!(b.data(), b"bcd1");
        b.trim_back(100);
        assert!(b.is_empty());
    }
}
