//! Libreswan 5's whack status codes (`enum rc_type`), as ferroswan uses them.
//!
//! Every reply line carries one of these codes as a three-digit prefix
//! (`000 ...`, `002 ...`, `021 ...`), and the final status of a reply is one
//! of them. The CLI turns the final status into its exit status. The table is
//! written down in `docs/rc-codes.md`.

use std::fmt;

/// A whack status code (Libreswan's `RC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rc(pub u16);

impl Rc {
    /// Success; also the prefix of status and information lines (`000`).
    pub const OK: Rc = Rc(0);
    /// `RC_COMMENT`: an informational line (`000`), same value as [`Rc::OK`].
    pub const COMMENT: Rc = Rc(0);
    /// `RC_LOG`: a log line relayed to whack (`002`).
    pub const LOG: Rc = Rc(2);
    /// `RC_LOG_SERIOUS`: an important log line or error (`003`).
    pub const LOG_SERIOUS: Rc = Rc(3);
    /// `RC_ENTERSECRET`: the daemon asks for a secret.
    pub const ENTERSECRET: Rc = Rc(10);
    /// `RC_USERPROMPT`: the daemon asks for a user name.
    pub const USERPROMPT: Rc = Rc(11);
    /// `RC_DUPNAME`: a connection with that name is already loaded.
    pub const DUPNAME: Rc = Rc(20);
    /// `RC_UNKNOWN_NAME`: no connection (or state) with that name.
    pub const UNKNOWN_NAME: Rc = Rc(21);
    /// `RC_ORIENT`: cannot orient the connection: neither end is this host.
    pub const ORIENT: Rc = Rc(22);
    /// `RC_CLASH`: clash between two road-warrior connections.
    pub const CLASH: Rc = Rc(23);
    /// `RC_DEAF`: need `--listen` (`--ready`) before `--initiate`.
    pub const DEAF: Rc = Rc(24);
    /// `RC_ROUTE`: cannot route.
    pub const ROUTE: Rc = Rc(25);
    /// `RC_RTBUSY`: cannot unroute, the route is busy.
    pub const RTBUSY: Rc = Rc(26);
    /// `RC_BADID`: malformed ID.
    pub const BADID: Rc = Rc(27);
    /// `RC_NOKEY`: no key found.
    pub const NOKEY: Rc = Rc(28);
    /// `RC_NOPEERIP`: cannot initiate when the peer's address is unknown.
    pub const NOPEERIP: Rc = Rc(29);
    /// `RC_INITSHUNT`: cannot initiate a shunt-only connection.
    pub const INITSHUNT: Rc = Rc(30);
    /// `RC_WILDCARD`: cannot initiate when the ID has wildcards.
    pub const WILDCARD: Rc = Rc(31);
    /// `RC_CRLERROR`: CRL fetching disabled or obsolete reread command.
    pub const CRLERROR: Rc = Rc(32);
    /// `RC_WHACK_PROBLEM`: a problem detected by the client (whack): daemon
    /// not running, socket unusable, reply broken off.
    pub const WHACK_PROBLEM: Rc = Rc(33);
    /// `RC_BADWHACKMESSAGE`: the daemon could not decode the request, or
    /// refused it (malformed, truncated, oversized, wrong peer, bad config).
    pub const BADWHACKMESSAGE: Rc = Rc(50);
    /// `RC_NORETRANSMISSION`: the peer stopped answering.
    pub const NORETRANSMISSION: Rc = Rc(51);
    /// `RC_INTERNAL_ERROR`: the daemon hit an internal error.
    pub const INTERNAL_ERROR: Rc = Rc(52);
    /// `RC_OPPOFAILURE`: opportunistic encryption failed.
    pub const OPPOFAILURE: Rc = Rc(53);
    /// `RC_CRYPTOFAILED`: too busy for the cryptographic operations.
    pub const CRYPTOFAILED: Rc = Rc(54);
    /// `RC_AGGRALGO`: several algorithms in IKEv1 aggressive mode.
    pub const AGGRALGO: Rc = Rc(55);
    /// `RC_FATAL`: fatal error, negotiation aborted.
    pub const FATAL: Rc = Rc(56);
    /// ferroswan extension: the operation needs a part of ferroswan that is
    /// not built yet (the IKE engine or a data plane). Always a failure.
    pub const NOT_IMPLEMENTED: Rc = Rc(57);
    /// First code that is not an exit status (`RC_EXIT_ROOF`).
    pub const EXIT_ROOF: Rc = Rc(100);
    /// Progress codes of IKEv2 state transitions start here (`RC_NEW_V2_STATE`).
    pub const NEW_V2_STATE: Rc = Rc(150);

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// Whether this code, as the final status of a reply, means failure.
    /// Codes below 20 and at or above 100 are informational.
    pub fn is_failure(self) -> bool {
        (20..100).contains(&self.0)
    }

    /// The exit status a client should use for this final status.
    pub fn exit_status(self) -> i32 {
        if self.is_failure() {
            i32::from(self.0)
        } else {
            0
        }
    }

    /// Libreswan's symbolic name (`RC_DUPNAME`), or `None` for codes without one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "RC_COMMENT",
            2 => "RC_LOG",
            3 => "RC_LOG_SERIOUS",
            10 => "RC_ENTERSECRET",
            11 => "RC_USERPROMPT",
            20 => "RC_DUPNAME",
            21 => "RC_UNKNOWN_NAME",
            22 => "RC_ORIENT",
            23 => "RC_CLASH",
            24 => "RC_DEAF",
            25 => "RC_ROUTE",
            26 => "RC_RTBUSY",
            27 => "RC_BADID",
            28 => "RC_NOKEY",
            29 => "RC_NOPEERIP",
            30 => "RC_INITSHUNT",
            31 => "RC_WILDCARD",
            32 => "RC_CRLERROR",
            33 => "RC_WHACK_PROBLEM",
            50 => "RC_BADWHACKMESSAGE",
            51 => "RC_NORETRANSMISSION",
            52 => "RC_INTERNAL_ERROR",
            53 => "RC_OPPOFAILURE",
            54 => "RC_CRYPTOFAILED",
            55 => "RC_AGGRALGO",
            56 => "RC_FATAL",
            57 => "RC_NOT_IMPLEMENTED",
            _ => return None,
        })
    }
}

impl fmt::Display for Rc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libreswan_numbering() {
        assert_eq!(Rc::DUPNAME.code(), 20);
        assert_eq!(Rc::UNKNOWN_NAME.code(), 21);
        assert_eq!(Rc::WHACK_PROBLEM.code(), 33);
        assert_eq!(Rc::BADWHACKMESSAGE.code(), 50);
        assert_eq!(Rc::FATAL.code(), 56);
        assert_eq!(Rc::UNKNOWN_NAME.name(), Some("RC_UNKNOWN_NAME"));
    }

    #[test]
    fn failure_and_exit_status() {
        assert!(!Rc::OK.is_failure());
        assert!(!Rc::LOG.is_failure());
        assert!(Rc::DUPNAME.is_failure());
        assert!(Rc::NOT_IMPLEMENTED.is_failure());
        assert!(!Rc(181).is_failure());
        assert_eq!(Rc::UNKNOWN_NAME.exit_status(), 21);
        assert_eq!(Rc(181).exit_status(), 0);
        assert_eq!(Rc::LOG.to_string(), "002");
    }
}
