//! Errors of the ESP transforms and the SA database.

use thiserror::Error;

/// Why an ESP operation failed. Every variant says which SA (by SPI) and
/// what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EspError {
    /// The key material has the wrong length for the transform.
    #[error("{what} key is {got} bytes, the transform needs {expected}")]
    KeyLength {
        /// Which key (encryption or integrity).
        what: &'static str,
        /// Length supplied.
        got: usize,
        /// Length the transform needs.
        expected: usize,
    },
    /// The transform combination is not valid (e.g. an AEAD with an integrity algorithm).
    #[error("invalid transform: {0}")]
    InvalidTransform(&'static str),
    /// ESN needs an anti-replay window to infer the high sequence bits.
    #[error("ESN needs a replay window of at least 1 (replay-window=0 disables ESN)")]
    EsnNeedsReplayWindow,
    /// The replay window is larger than ferroswan supports.
    #[error("replay window {0} is too large (at most {max})", max = crate::replay::MAX_REPLAY_WINDOW)]
    ReplayWindowTooLarge(u32),
    /// The packet buffer lacks headroom or tailroom for the ESP overhead.
    #[error("packet buffer has {available} bytes of {side}, ESP needs {needed}")]
    NoRoom {
        /// "headroom" or "tailroom".
        side: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The received packet is too short or not block aligned.
    #[error("ESP packet of {len} bytes on SPI {spi:#010x} is malformed: {reason}")]
    Malformed {
        /// SPI of the SA (0 when not yet known).
        spi: u32,
        /// Length of the packet.
        len: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Sequence number replayed or older than the window.
    #[error("sequence number {seq} on SPI {spi:#010x} is replayed or outside the replay window")]
    Replay {
        /// SPI of the SA.
        spi: u32,
        /// The (inferred 64-bit) sequence number.
        seq: u64,
    },
    /// The integrity check value did not verify.
    #[error("integrity check failed on SPI {spi:#010x} (wrong keys or tampered packet)")]
    Auth {
        /// SPI of the SA.
        spi: u32,
    },
    /// No inbound SA has this SPI.
    #[error("no inbound SA with SPI {spi:#010x}")]
    UnknownSpi {
        /// The SPI in the packet.
        spi: u32,
    },
    /// No outbound SA has this id.
    #[error("no outbound SA with id {id}")]
    UnknownSa {
        /// The id asked for.
        id: u64,
    },
    /// The sequence number space is used up; the SA must be rekeyed.
    #[error("sequence number space exhausted on SPI {spi:#010x}; the SA must be rekeyed")]
    SequenceOverflow {
        /// SPI of the SA.
        spi: u32,
    },
    /// The hard lifetime (bytes or packets) has been reached; the SA is dead.
    #[error("hard lifetime of SPI {spi:#010x} reached; the SA must be replaced")]
    HardExpired {
        /// SPI of the SA.
        spi: u32,
    },
    /// The crypto library refused an operation (should not happen with valid keys).
    #[error("crypto library failure on SPI {spi:#010x} during {op}")]
    Crypto {
        /// SPI of the SA.
        spi: u32,
        /// The operation.
        op: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, EspError>;
