//! SA counters and byte/packet lifetimes (time lifetimes are the daemon's timers).

/// Limits of one lifetime kind; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of inner payload.
    pub bytes: Option<u64>,
    /// Packets.
    pub packets: Option<u64>,
}

impl Limits {
    fn reached(&self, c: &SaCounters) -> bool {
        self.bytes.is_some_and(|b| c.bytes >= b) || self.packets.is_some_and(|p| c.packets >= p)
    }
}

/// Soft and hard byte/packet lifetimes of an SA (RFC 4301 4.4.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Reaching it asks for a rekey (reported once).
    pub soft: Limits,
    /// Reaching it kills the SA: further packets are refused.
    pub hard: Limits,
}

/// Which lifetime an SA reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The soft lifetime: rekey now.
    Soft,
    /// The hard lifetime: the SA no longer carries traffic.
    Hard,
}

/// Per-SA traffic and error counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounters {
    /// Packets processed successfully.
    pub packets: u64,
    /// Inner payload bytes processed successfully.
    pub bytes: u64,
    /// Packets dropped as replays or outside the window.
    pub replay_errors: u64,
    /// Packets dropped because the ICV did not verify.
    pub auth_errors: u64,
    /// Packets dropped as malformed (length, padding, trailer).
    pub decode_errors: u64,
}

/// Tracks counters against a lifetime and fires each expiry once.
#[derive(Debug, Clone, Default)]
pub(crate) struct LifetimeState {
    pub(crate) lifetime: Lifetime,
    pub(crate) counters: SaCounters,
    soft_fired: bool,
    pub(crate) hard_fired: bool,
}

impl LifetimeState {
    pub(crate) fn new(lifetime: Lifetime) -> Self {
        LifetimeState {
            lifetime,
            ..Default::default()
        }
    }

    /// Counts one packet of `bytes` and reports a newly reached lifetime.
    pub(crate) fn account(&mut self, bytes: usize) -> Option<Expiry> {
        self.counters.packets += 1;
        self.counters.bytes += bytes as u64;
        if !self.hard_fired && self.lifetime.hard.reached(&self.counters) {
            self.hard_fired = true;
            self.soft_fired = true;
            return Some(Expiry::Hard);
        }
        if !self.soft_fired && self.lifetime.soft.reached(&self.counters) {
            self.soft_fired = true;
            return Some(Expiry::Soft);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_then_hard_once_each() {
        let mut s = LifetimeState::new(Lifetime {
            soft: Limits {
                bytes: None,
                packets: Some(2),
            },
            hard: Limits {
                bytes: Some(250),
                packets: None,
            },
        });
        assert_eq!(s.account(100), None);
        assert_eq!(s.account(100), Some(Expiry::Soft));
        assert_eq!(s.account(10), None);
        assert_eq!(s.account(100), Some(Expiry::Hard));
        assert_eq!(s.account(100), None);
        assert_eq!(s.counters.packets, 5);
        assert_eq!(s.counters.bytes, 410);
    }
}
