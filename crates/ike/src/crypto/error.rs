//! The error type of the crypto module.

use super::alg::KeGroup;

/// What can go wrong in a cryptographic operation.
///
/// The messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A key or other input does not have the length the algorithm needs.
    #[error("{what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// What was being checked (e.g. "SK_e for AES_GCM_16_256").
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The peer's key exchange data is malformed or an unsafe value
    /// (RFC 7296 2.12, RFC 5903, RFC 7748, FIPS 203).
    #[error("invalid {group} key exchange data from peer: {reason}")]
    InvalidPublicValue {
        /// The key exchange method.
        group: KeGroup,
        /// Why the value was rejected.
        reason: &'static str,
    },
    /// The key exchange operation failed inside the crypto library.
    #[error("{group} key exchange failed: {reason}")]
    KeyExchangeFailed {
        /// The key exchange method.
        group: KeGroup,
        /// What failed.
        reason: &'static str,
    },
    /// An operation was asked of a key exchange method that does not
    /// support it (e.g. encapsulate with a Diffie-Hellman group).
    #[error("{group} does not support {operation}")]
    WrongKeyExchangeKind {
        /// The key exchange method.
        group: KeGroup,
        /// The operation asked for.
        operation: &'static str,
    },
    /// prf+ was asked for more than 255 blocks of output (RFC 7296 2.13).
    #[error("prf+ cannot produce {requested} bytes (at most {max})")]
    PrfPlusTooLong {
        /// Bytes requested.
        requested: usize,
        /// The maximum for this PRF.
        max: usize,
    },
    /// A combination of algorithms that cannot work (e.g. AES-CBC without
    /// an integrity algorithm in IKE).
    #[error("invalid algorithm combination: {0}")]
    InvalidAlgorithms(&'static str),
    /// The integrity check value (ICV or AEAD tag) of an encrypted payload
    /// did not verify.
    #[error("integrity check of the encrypted payload failed")]
    IntegrityCheckFailed,
    /// The encrypted payload is too short or not a multiple of the block
    /// size, or its padding is invalid.
    #[error("malformed encrypted payload: {0}")]
    MalformedCiphertext(&'static str),
    /// An internal failure of the crypto library.
    #[error("crypto library failure: {0}")]
    Internal(&'static str),
    /// A private or public key could not be parsed or was rejected.
    #[error("key rejected: {0}")]
    KeyRejected(String),
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The operation is not supported by ferroswan (yet).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
}
