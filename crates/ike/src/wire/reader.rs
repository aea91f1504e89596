//! A bounds-checked cursor over a byte slice.

use super::{WireError, WireResult};

/// Reads big-endian fields from a slice; every read checks the remaining
/// length and fails with [`WireError::Truncated`] instead of panicking.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the structure in errors.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    /// Octets not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True once everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the next `n` octets.
    pub(crate) fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(WireError::Truncated(self.what, n - self.buf.len()));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Takes everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let r = self.buf;
        self.buf = &[];
        r
    }

    /// Reads one octet.
    pub(crate) fn u8(&mut self) -> WireResult<u8> {
        let b = self.take(1)?;
        Ok(b.first().copied().unwrap_or(0))
    }

    /// Reads a big-endian u16.
    pub(crate) fn u16(&mut self) -> WireResult<u16> {
        let b = self.take(2)?;
        let mut a = [0u8; 2];
        a.copy_from_slice(b);
        Ok(u16::from_be_bytes(a))
    }

    /// Reads a big-endian u32.
    pub(crate) fn u32(&mut self) -> WireResult<u32> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    /// Reads a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> WireResult<[u8; N]> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// Fails unless all input was consumed.
    #[allow(dead_code)]
    pub(crate) fn finish(&self) -> WireResult<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::BadLength(self.what, self.buf.len()))
        }
    }
}
