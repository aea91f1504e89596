//! The little DER, PEM and base64 handling the key formats need: reading
//! SubjectPublicKeyInfo, PKCS#8 and PKCS#1 structures, writing
//! AlgorithmIdentifiers and SubjectPublicKeyInfo.

use super::error::CryptoError;
use super::secret::Secret;

/// DER tag of INTEGER.
pub(crate) const INTEGER: u8 = 0x02;
/// DER tag of BIT STRING.
pub(crate) const BIT_STRING: u8 = 0x03;
/// DER tag of OCTET STRING.
pub(crate) const OCTET_STRING: u8 = 0x04;
/// DER tag of NULL.
pub(crate) const NULL: u8 = 0x05;
/// DER tag of OBJECT IDENTIFIER.
pub(crate) const OID: u8 = 0x06;
/// DER tag of SEQUENCE.
pub(crate) const SEQUENCE: u8 = 0x30;

fn bad(what: &'static str) -> CryptoError {
    CryptoError::KeyRejected(format!("malformed DER: {what}"))
}

/// A cursor over a sequence of DER TLVs.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads one TLV with a single-octet tag; returns (tag, contents).
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8]), CryptoError> {
        let (&tag, rest) = self.data.split_first().ok_or(bad("truncated tag"))?;
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-octet tag"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(bad("truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(bad("unsupported length form"));
            }
            if rest.len() < n {
                return Err(bad("truncated length"));
            }
            let (len_bytes, after) = rest.split_at(n);
            rest = after;
            let mut len = 0usize;
            for b in len_bytes {
                len = (len << 8) | usize::from(*b);
            }
            if len < 0x80 || len_bytes.first() == Some(&0) {
                return Err(bad("non-minimal length"));
            }
            len
        };
        if rest.len() < len {
            return Err(bad("contents run past the end"));
        }
        let (contents, after) = rest.split_at(len);
        self.data = after;
        Ok((tag, contents))
    }

    /// Reads one TLV that must have tag `tag`.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8], CryptoError> {
        let (t, c) = self.read_any()?;
        if t != tag {
            return Err(bad("unexpected tag"));
        }
        Ok(c)
    }

    /// Reads an INTEGER and returns its big-endian magnitude without
    /// leading zero octets (negative integers are rejected).
    pub(crate) fn read_unsigned(&mut self) -> Result<&'a [u8], CryptoError> {
        let c = self.read(INTEGER)?;
        if c.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(bad("negative integer"));
        }
        let start = c.iter().position(|b| *b != 0).unwrap_or(c.len());
        Ok(c.get(start..).unwrap_or_default())
    }
}

/// Encodes a TLV.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().position(|b| *b != 0).unwrap_or(3);
        let used = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | used.len() as u8);
        out.extend_from_slice(used);
    }
    out.extend_from_slice(contents);
    out
}

/// Encodes a non-negative INTEGER from big-endian magnitude bytes.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(magnitude.len());
    let m = magnitude.get(start..).unwrap_or_default();
    let mut c = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|b| b & 0x80 != 0) {
        c.push(0);
    }
    c.extend_from_slice(m);
    tlv(INTEGER, &c)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes standard base64, ignoring ASCII whitespace.
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    for c in text.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err(CryptoError::KeyRejected(
                "base64: data after padding".into(),
            ));
        }
        let v = B64
            .iter()
            .position(|x| *x == c)
            .ok_or_else(|| CryptoError::KeyRejected("base64: invalid character".into()))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if padding > 2 || bits >= 6 {
        return Err(CryptoError::KeyRejected("base64: bad length".into()));
    }
    Ok(out)
}

/// Encodes standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 0x3f) as usize;
                out.push(char::from(B64.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The first PEM block of `text`: its label (e.g. "PRIVATE KEY") and DER
/// contents.
pub(crate) fn pem_decode(text: &str) -> Result<(String, Secret), CryptoError> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| CryptoError::KeyRejected("no PEM BEGIN line".into()))?;
    let after_begin = text.get(begin + 11..).unwrap_or_default();
    let label_end = after_begin
        .find("-----")
        .ok_or_else(|| CryptoError::KeyRejected("unterminated PEM BEGIN line".into()))?;
    let label = after_begin.get(..label_end).unwrap_or_default().to_string();
    let body_start = after_begin.get(label_end + 5..).unwrap_or_default();
    let end_marker = format!("-----END {label}-----");
    let body_end = body_start
        .find(&end_marker)
        .ok_or_else(|| CryptoError::KeyRejected(format!("no PEM END line for {label}")))?;
    let body = body_start.get(..body_end).unwrap_or_default();
    if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
        return Err(CryptoError::Unsupported("encrypted PEM keys"));
    }
    Ok((label, Secret::new(base64_decode(body)?)))
}

/// Encodes DER as a PEM block with 64-column lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for n in 0..20 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_decode("Zm9v\n YmE=").unwrap(), b"fooba");
        assert!(base64_decode("Zm9v!").is_err());
        assert!(base64_decode("Zg=x").is_err());
    }

    #[test]
    fn der_reader_rejects_bad_input() {
        assert!(Reader::new(&[0x30]).read_any().is_err());
        assert!(Reader::new(&[0x30, 0x05, 0x00]).read_any().is_err());
        assert!(Reader::new(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0])
            .read_any()
            .is_err());
        assert!(Reader::new(&[0x30, 0x80]).read_any().is_err());
        let long = tlv(OCTET_STRING, &[7; 300]);
        let mut r = Reader::new(&long);
        assert_eq!(r.read(OCTET_STRING).unwrap().len(), 300);
        assert!(r.is_empty());
    }

    #[test]
    fn integers() {
        assert_eq!(unsigned_integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0, 1]), vec![2, 1, 1]);
        assert_eq!(unsigned_integer(&[]), vec![2, 1, 0]);
        let enc = unsigned_integer(&[0xff, 1]);
        assert_eq!(Reader::new(&enc).read_unsigned().unwrap(), &[0xff, 1]);
    }

    #[test]
    fn pem_round_trip() {
        let pem = pem_encode("PUBLIC KEY", &[1; 100]);
        let (label, der) = pem_decode(&pem).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(der.as_bytes(), &[1; 100]);
        assert!(pem_decode("-----BEGIN X-----\nAAAA\n").is_err());
    }
}
