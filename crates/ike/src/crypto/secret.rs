//! [`Secret`]: key material that is zeroized on drop and never printed.

use std::fmt;

use zeroize::Zeroize;

/// Secret bytes (keys, shared secrets, SKEYSEED, PSKs).
///
/// The bytes are overwritten with zeros when the value is dropped, and
/// `Debug` shows only the length.
#[derive(Clone, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret bytes, writable (e.g. to fill with random bytes).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty (e.g. SK_a of an AEAD suite).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `other` (the lengths are not secret).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, other).is_ok()
    }

    /// Shortens the secret to `len` bytes, zeroizing the bytes removed.
    pub fn truncate(&mut self, len: usize) {
        if len < self.0.len() {
            if let Some(tail) = self.0.get_mut(len..) {
                tail.zeroize();
            }
            self.0.truncate(len);
        }
    }

    /// The concatenation of several secrets, in order.
    pub fn concat(parts: &[&Secret]) -> Secret {
        let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        for p in parts {
            v.extend_from_slice(p.as_bytes());
        }
        Secret(v)
    }
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
}

impl From<&[u8]> for Secret {
    fn from(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED; {} bytes])", self.0.len())
    }
}

impl PartialEq for Secret {
    /// Constant time in the contents.
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(&other.0)
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_slice(b"very secret key");
        let shown = format!("{s:?}");
        assert!(!shown.contains("very"));
        assert!(shown.contains("15 bytes"));
    }

    #[test]
    fn equality_and_concat() {
        let a = Secret::from_slice(b"ab");
        let b = Secret::from_slice(b"cd");
        assert_eq!(Secret::concat(&[&a, &b]).as_bytes(), b"abcd");
        assert_ne!(a, b);
        assert_eq!(a, Secret::from_slice(b"ab"));
    }
}
