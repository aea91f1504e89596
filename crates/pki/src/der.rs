//! A minimal DER reader and writer for the structures ferroswan builds or
//! reads itself (NSS PBES2 blobs, PKCS#1/RFC 5915 keys, OCSP).

use crate::error::{PkiError, Result};

/// Universal tags used here.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const ENUMERATED: u8 = 0x0a;
    pub const SEQUENCE: u8 = 0x30;
    pub const GENERALIZED_TIME: u8 = 0x18;
}

/// One TLV: its tag, its contents, and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads consecutive TLVs from a buffer.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, what }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn err(&self, why: &str) -> PkiError {
        PkiError::parse(self.what, why)
    }

    /// The next TLV of any tag.
    pub fn any(&mut self) -> Result<Tlv<'a>> {
        let d = self.data;
        let tag = *d.first().ok_or_else(|| self.err("truncated"))?;
        if tag & 0x1f == 0x1f {
            return Err(self.err("multi-byte tags are not supported"));
        }
        let l0 = *d.get(1).ok_or_else(|| self.err("truncated"))?;
        let (len, hdr) = if l0 < 0x80 {
            (l0 as usize, 2)
        } else {
            let n = (l0 & 0x7f) as usize;
            if n == 0 || n > 4 {
                return Err(self.err("bad length"));
            }
            let bytes = d.get(2..2 + n).ok_or_else(|| self.err("truncated"))?;
            (
                bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize),
                2 + n,
            )
        };
        let end = hdr.checked_add(len).ok_or_else(|| self.err("bad length"))?;
        let value = d.get(hdr..end).ok_or_else(|| self.err("truncated"))?;
        let raw = d.get(..end).ok_or_else(|| self.err("truncated"))?;
        self.data = d.get(end..).unwrap_or_default();
        Ok(Tlv { tag, value, raw })
    }

    /// The next TLV, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>> {
        let t = self.any()?;
        if t.tag != tag {
            return Err(self.err(&format!("expected tag {tag:#04x}, found {:#04x}", t.tag)));
        }
        Ok(t)
    }

    /// A reader over the contents of the next TLV, which must have `tag`.
    pub fn nested(&mut self, tag: u8) -> Result<Reader<'a>> {
        let what = self.what;
        Ok(Reader::new(self.expect(tag)?.value, what))
    }

    /// The next TLV if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>> {
        if self.data.first() == Some(&tag) {
            Ok(Some(self.any()?))
        } else {
            Ok(None)
        }
    }

    /// A non-negative INTEGER that fits in a u64.
    pub fn small_uint(&mut self) -> Result<u64> {
        let v = self.expect(tag::INTEGER)?.value;
        if v.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(self.err("negative integer"));
        }
        let v = v
            .get(v.iter().take_while(|&&b| b == 0).count()..)
            .unwrap_or_default();
        if v.len() > 8 {
            return Err(self.err("integer out of range"));
        }
        Ok(v.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    /// An OBJECT IDENTIFIER in dotted form.
    pub fn oid(&mut self) -> Result<String> {
        let v = self.expect(tag::OID)?.value;
        oid_to_string(v).ok_or_else(|| self.err("bad OID"))
    }
}

/// Dotted text of an OID's contents.
pub(crate) fn oid_to_string(v: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut cur: u64 = 0;
    for &b in v {
        cur = cur.checked_mul(128)? | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (cur / 40).min(2);
                arcs.push(first);
                arcs.push(cur - first * 40);
            } else {
                arcs.push(cur);
            }
            cur = 0;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Encodes a TLV.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let lb = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | lb.len() as u8);
        out.extend_from_slice(lb);
    }
    out.extend_from_slice(value);
    out
}

/// Encodes a SEQUENCE of already encoded parts.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &parts.concat())
}

/// Encodes an unsigned big-endian integer as a DER INTEGER.
pub(crate) fn uint(be: &[u8]) -> Vec<u8> {
    let i = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let mut v = be.get(i..).unwrap_or_default().to_vec();
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    tlv(tag::INTEGER, &v)
}

/// Encodes a dotted OID.
pub(crate) fn oid(dotted: &str) -> Result<Vec<u8>> {
    let bad = || PkiError::parse("OID", dotted.to_string());
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse::<u64>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let (a, b) = match arcs.as_slice() {
        [a, b, ..] => (*a, *b),
        _ => return Err(bad()),
    };
    let mut v = Vec::new();
    let mut push = |mut n: u64| {
        let mut tmp = vec![(n & 0x7f) as u8];
        n >>= 7;
        while n > 0 {
            tmp.push(0x80 | (n & 0x7f) as u8);
            n >>= 7;
        }
        tmp.reverse();
        v.extend(tmp);
    };
    push(a * 40 + b);
    for &n in arcs.iter().skip(2) {
        push(n);
    }
    Ok(tlv(tag::OID, &v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_roundtrip() {
        for o in [
            "1.2.840.113549.1.5.13",
            "2.16.840.1.101.3.4.1.42",
            "1.3.101.112",
        ] {
            let enc = oid(o).unwrap();
            let mut r = Reader::new(&enc, "t");
            assert_eq!(r.oid().unwrap(), o);
        }
    }

    #[test]
    fn lengths_and_integers() {
        let big = vec![7u8; 300];
        let enc = tlv(tag::OCTET_STRING, &big);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&enc, "t");
        assert_eq!(r.expect(tag::OCTET_STRING).unwrap().value, big.as_slice());
        assert_eq!(uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(&[0, 0, 5]), vec![0x02, 0x01, 0x05]);
        assert_eq!(uint(&[]), vec![0x02, 0x01, 0x00]);
        let mut r = Reader::new(&[0x02, 0x02, 0x01, 0x00], "t");
        assert_eq!(r.small_uint().unwrap(), 256);
        assert!(Reader::new(&[0x30, 0x05, 0x01], "t").any().is_err());
    }
}
