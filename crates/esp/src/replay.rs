//! The anti-replay window of RFC 4303 section 3.4.3 and Appendix A, with
//! extended sequence numbers (ESN): the receiver infers the high 32 bits
//! of the 64-bit sequence number from the window (Appendix A2).
//!
//! Usage per packet: [`ReplayWindow::check`] before the ICV is verified,
//! [`ReplayWindow::update`] after it verified, so forged packets never
//! move the window.

use crate::error::{EspError, Result};

/// Largest replay window ferroswan accepts (bits).
pub const MAX_REPLAY_WINDOW: u32 = 1 << 20;

/// Libreswan's default `replay-window`.
pub const DEFAULT_REPLAY_WINDOW: u32 = 128;

/// A sliding anti-replay window over 64-bit sequence numbers.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Window size W in sequence numbers; 0 disables replay checking.
    size: u64,
    esn: bool,
    /// Highest authenticated sequence number T; 0 before the first packet.
    top: u64,
    /// Ring bitmap: bit `seq & mask` is set when `seq` was received.
    bitmap: Box<[u64]>,
    mask: u64,
}

impl ReplayWindow {
    /// A window of `size` sequence numbers; `esn` selects 64-bit sequence numbers.
    /// `size` 0 disables replay protection (not allowed with ESN).
    pub fn new(size: u32, esn: bool) -> Result<Self> {
        if size > MAX_REPLAY_WINDOW {
            return Err(EspError::ReplayWindowTooLarge(size));
        }
        if esn && size == 0 {
            return Err(EspError::EsnNeedsReplayWindow);
        }
        let bits = u64::from(size).next_power_of_two().max(64);
        let words = usize::try_from(bits / 64).unwrap_or(1);
        Ok(ReplayWindow {
            size: u64::from(size),
            esn,
            top: 0,
            bitmap: vec![0u64; words].into_boxed_slice(),
            mask: bits - 1,
        })
    }

    /// Window size.
    pub fn size(&self) -> u32 {
        u32::try_from(self.size).unwrap_or(u32::MAX)
    }

    /// Highest sequence number accepted so far (0 before the first).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Infers the full sequence number from the 32 transmitted bits
    /// (Appendix A2.2). `None` when it would fall below zero.
    pub fn infer(&self, seq_lo: u32) -> Option<u64> {
        if !self.esn {
            return Some(u64::from(seq_lo));
        }
        let w = self.size;
        let tl = self.top & 0xffff_ffff;
        let th = self.top >> 32;
        let sl = u64::from(seq_lo);
        let seq_hi = if tl + 1 >= w {
            // Case A: the window lies within one sequence number subspace.
            if sl >= tl + 1 - w {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // Case B: the window spans two subspaces.
            let bottom = (tl + (1u64 << 32) + 1 - w) & 0xffff_ffff;
            if sl >= bottom {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        Some((seq_hi << 32) | sl)
    }

    /// Checks a received sequence number (before ICV verification). Returns
    /// the full 64-bit sequence number to authenticate and later pass to
    /// [`ReplayWindow::update`].
    pub fn check(&self, spi: u32, seq_lo: u32) -> Result<u64> {
        let reject = |seq| EspError::Replay { spi, seq };
        let seq = self.infer(seq_lo).ok_or(reject(u64::from(seq_lo)))?;
        if seq == 0 {
            return Err(reject(0));
        }
        if self.size == 0 || seq > self.top {
            return Ok(seq);
        }
        if seq + self.size <= self.top {
            return Err(reject(seq));
        }
        if self.bit(seq) {
            return Err(reject(seq));
        }
        Ok(seq)
    }

    /// Records an authenticated sequence number and slides the window.
    pub fn update(&mut self, seq: u64) {
        if seq > self.top {
            let diff = seq - self.top;
            if diff > self.mask {
                self.bitmap.fill(0);
            } else {
                let mut s = self.top + 1;
                while s < seq {
                    self.clear_bit(s);
                    s += 1;
                }
            }
            self.top = seq;
        }
        self.set_bit(seq);
    }

    fn index(&self, seq: u64) -> (usize, u64) {
        let pos = seq & self.mask;
        (usize::try_from(pos / 64).unwrap_or(0), 1u64 << (pos % 64))
    }

    fn bit(&self, seq: u64) -> bool {
        let (word, bit) = self.index(seq);
        self.bitmap.get(word).is_some_and(|w| w & bit != 0)
    }

    fn set_bit(&mut self, seq: u64) {
        let (word, bit) = self.index(seq);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w |= bit;
        }
    }

    fn clear_bit(&mut self, seq: u64) {
        let (word, bit) = self.index(seq);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w &= !bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, lo: u32) -> Option<u64> {
        let s = w.check(1, lo).ok()?;
        w.update(s);
        Some(s)
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new(64, false).unwrap();
        assert!(w.check(1, 0).is_err(), "sequence number 0 is never valid");
        assert_eq!(accept(&mut w, 100), Some(100));
        assert_eq!(accept(&mut w, 100), None, "duplicate");
        // Oldest still inside the window: 100 - 64 + 1 = 37.
        assert_eq!(accept(&mut w, 37), Some(37));
        assert_eq!(accept(&mut w, 36), None, "just left of the window");
        assert_eq!(accept(&mut w, 99), Some(99));
        assert_eq!(accept(&mut w, 99), None);
        // Jump far ahead clears everything.
        assert_eq!(accept(&mut w, 1000), Some(1000));
        assert_eq!(accept(&mut w, 999), Some(999));
        assert_eq!(accept(&mut w, 936), None);
        assert_eq!(accept(&mut w, 937), Some(937));
    }

    #[test]
    fn window_not_power_of_two() {
        let mut w = ReplayWindow::new(100, false).unwrap();
        accept(&mut w, 500).unwrap();
        assert_eq!(accept(&mut w, 401), Some(401));
        assert_eq!(accept(&mut w, 400), None);
    }

    #[test]
    fn large_window() {
        let mut w = ReplayWindow::new(4096, false).unwrap();
        accept(&mut w, 10_000).unwrap();
        assert_eq!(accept(&mut w, 10_000 - 4095), Some(10_000 - 4095));
        assert_eq!(accept(&mut w, 10_000 - 4096), None);
    }

    #[test]
    fn disabled_window_accepts_replays() {
        let mut w = ReplayWindow::new(0, false).unwrap();
        assert_eq!(accept(&mut w, 5), Some(5));
        assert_eq!(accept(&mut w, 5), Some(5));
        assert!(ReplayWindow::new(0, true).is_err());
        assert!(ReplayWindow::new(MAX_REPLAY_WINDOW + 1, false).is_err());
    }

    #[test]
    fn esn_wraps_into_next_subspace() {
        let mut w = ReplayWindow::new(128, true).unwrap();
        assert_eq!(accept(&mut w, 1000), Some(1000));
        assert_eq!(
            accept(&mut w, u32::MAX - 10),
            Some(u64::from(u32::MAX - 10))
        );
        assert_eq!(accept(&mut w, u32::MAX), Some(u64::from(u32::MAX)));
        // Low bits wrapped: the high half becomes 1.
        assert_eq!(accept(&mut w, 3), Some((1 << 32) | 3));
        // A late packet from before the wrap is still placed in subspace 0.
        assert_eq!(accept(&mut w, u32::MAX - 5), Some(u64::from(u32::MAX - 5)));
        assert_eq!(accept(&mut w, u32::MAX - 5), None);
        // The oldest number of the window, across the wrap: T - W + 1.
        let oldest = (1u64 << 32) + 3 - 127;
        assert_eq!(w.check(1, oldest as u32).ok(), Some(oldest));
        // One below the window's bottom is read as the next subspace (far
        // ahead), as Appendix A2 says; its ICV then fails.
        assert_eq!(
            w.check(1, (oldest - 1) as u32).ok(),
            Some((1u64 << 32) + u64::from((oldest - 1) as u32))
        );
    }

    #[test]
    fn esn_start_rejects_previous_subspace() {
        let w = ReplayWindow::new(128, true).unwrap();
        // With nothing received, a number near 2^32 would belong to subspace -1.
        assert!(w.check(1, u32::MAX).is_err());
        assert_eq!(w.check(1, 1).ok(), Some(1));
    }

    #[test]
    fn non_esn_does_not_wrap() {
        let mut w = ReplayWindow::new(128, false).unwrap();
        accept(&mut w, u32::MAX).unwrap();
        assert_eq!(accept(&mut w, 1), None);
    }
}
