//! LDAP search filters: the string form of RFC 4515 (as written in an LDAP
//! URL) and their BER encoding (RFC 4511 section 4.5.1.7). Extensible
//! matches (`:=`) are not supported and say so.

use crate::der::{tag, tlv};

/// The deepest nesting of `&`, `|` and `!` accepted.
const MAX_DEPTH: usize = 16;

/// An LDAP search filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `(&f1f2...)`.
    And(Vec<Filter>),
    /// `(|f1f2...)`.
    Or(Vec<Filter>),
    /// `(!f)`.
    Not(Box<Filter>),
    /// `(attr=value)`.
    Equal(String, Vec<u8>),
    /// `(attr=initial*any*...*final)`.
    Substrings {
        /// The attribute.
        attr: String,
        /// The part before the first `*`, if not empty.
        initial: Option<Vec<u8>>,
        /// The parts between `*`s.
        any: Vec<Vec<u8>>,
        /// The part after the last `*`, if not empty.
        last: Option<Vec<u8>>,
    },
    /// `(attr>=value)`.
    GreaterOrEqual(String, Vec<u8>),
    /// `(attr<=value)`.
    LessOrEqual(String, Vec<u8>),
    /// `(attr~=value)`.
    Approx(String, Vec<u8>),
    /// `(attr=*)`.
    Present(String),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(format!(
                "bad filter: expected '{}' at offset {}, found '{}'",
                c as char,
                self.pos,
                x.escape_ascii()
            )),
            None => Err(format!("bad filter: expected '{}' at its end", c as char)),
        }
    }

    fn filter(&mut self, depth: usize) -> Result<Filter, String> {
        if depth > MAX_DEPTH {
            return Err(format!("bad filter: nested deeper than {MAX_DEPTH}"));
        }
        self.eat(b'(')?;
        let f = match self.peek() {
            Some(b'&') => {
                self.pos += 1;
                Filter::And(self.list(depth)?)
            }
            Some(b'|') => {
                self.pos += 1;
                Filter::Or(self.list(depth)?)
            }
            Some(b'!') => {
                self.pos += 1;
                Filter::Not(Box::new(self.filter(depth + 1)?))
            }
            _ => self.item()?,
        };
        self.eat(b')')?;
        Ok(f)
    }

    fn list(&mut self, depth: usize) -> Result<Vec<Filter>, String> {
        let mut v = Vec::new();
        while self.peek() == Some(b'(') {
            v.push(self.filter(depth + 1)?);
        }
        Ok(v)
    }

    fn item(&mut self) -> Result<Filter, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b';' | b'.'))
        {
            self.pos += 1;
        }
        let attr =
            String::from_utf8_lossy(self.s.get(start..self.pos).unwrap_or_default()).into_owned();
        if attr.is_empty() {
            return Err(format!("bad filter: no attribute name at offset {start}"));
        }
        let op = match (self.peek(), self.s.get(self.pos + 1).copied()) {
            (Some(b'='), _) => b'=',
            (Some(c @ (b'~' | b'>' | b'<')), Some(b'=')) => {
                self.pos += 1;
                c
            }
            (Some(b':'), _) => {
                return Err("bad filter: extensible matches (:=) are not supported".into())
            }
            _ => return Err(format!("bad filter: no operator after \"{attr}\"")),
        };
        self.pos += 1;
        let vstart = self.pos;
        while let Some(c) = self.peek() {
            if c == b')' {
                break;
            }
            if c == b'(' {
                return Err("bad filter: unescaped '(' in a value".into());
            }
            self.pos += 1;
        }
        let raw = self.s.get(vstart..self.pos).unwrap_or_default();
        if op != b'=' {
            let v = unescape(raw)?;
            return Ok(match op {
                b'~' => Filter::Approx(attr, v),
                b'>' => Filter::GreaterOrEqual(attr, v),
                _ => Filter::LessOrEqual(attr, v),
            });
        }
        if raw == b"*" {
            return Ok(Filter::Present(attr));
        }
        let pieces: Vec<&[u8]> = raw.split(|&c| c == b'*').collect();
        if let [only] = pieces.as_slice() {
            return Ok(Filter::Equal(attr, unescape(only)?));
        }
        let non_empty = |p: &[u8]| -> Result<Option<Vec<u8>>, String> {
            if p.is_empty() {
                Ok(None)
            } else {
                unescape(p).map(Some)
            }
        };
        let initial = non_empty(pieces.first().copied().unwrap_or_default())?;
        let last = non_empty(pieces.last().copied().unwrap_or_default())?;
        let mut any = Vec::new();
        for p in pieces.get(1..pieces.len() - 1).unwrap_or_default() {
            if p.is_empty() {
                return Err("bad filter: \"**\" in a value".into());
            }
            any.push(unescape(p)?);
        }
        Ok(Filter::Substrings {
            attr,
            initial,
            any,
            last,
        })
    }
}

/// Decodes the `\XX` escapes of a filter value.
fn unescape(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        if c == b'\\' {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("bad filter: '\\' must be followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

impl Filter {
    /// Parses the string form; a filter without the outer parentheses
    /// (`objectClass=*`) is accepted too.
    pub fn parse(s: &str) -> Result<Filter, String> {
        let s = s.trim();
        let wrapped;
        let s = if s.starts_with('(') {
            s
        } else {
            wrapped = format!("({s})");
            &wrapped
        };
        let mut p = Parser {
            s: s.as_bytes(),
            pos: 0,
        };
        let f = p.filter(0)?;
        if p.pos != s.len() {
            return Err(format!("bad filter: junk after offset {}", p.pos));
        }
        Ok(f)
    }

    /// The BER encoding of the filter.
    pub fn encode(&self) -> Vec<u8> {
        let ava = |t: u8, a: &str, v: &[u8]| {
            tlv(
                t,
                &[
                    tlv(tag::OCTET_STRING, a.as_bytes()),
                    tlv(tag::OCTET_STRING, v),
                ]
                .concat(),
            )
        };
        match self {
            Filter::And(v) => tlv(0xa0, &v.iter().flat_map(Filter::encode).collect::<Vec<_>>()),
            Filter::Or(v) => tlv(0xa1, &v.iter().flat_map(Filter::encode).collect::<Vec<_>>()),
            Filter::Not(f) => tlv(0xa2, &f.encode()),
            Filter::Equal(a, v) => ava(0xa3, a, v),
            Filter::Substrings {
                attr,
                initial,
                any,
                last,
            } => {
                let mut subs = Vec::new();
                if let Some(i) = initial {
                    subs.extend(tlv(0x80, i));
                }
                for a in any {
                    subs.extend(tlv(0x81, a));
                }
                if let Some(l) = last {
                    subs.extend(tlv(0x82, l));
                }
                tlv(
                    0xa4,
                    &[
                        tlv(tag::OCTET_STRING, attr.as_bytes()),
                        tlv(tag::SEQUENCE, &subs),
                    ]
                    .concat(),
                )
            }
            Filter::GreaterOrEqual(a, v) => ava(0xa5, a, v),
            Filter::LessOrEqual(a, v) => ava(0xa6, a, v),
            Filter::Present(a) => tlv(0x87, a.as_bytes()),
            Filter::Approx(a, v) => ava(0xa8, a, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(
            Filter::parse("objectClass=*").unwrap(),
            Filter::Present("objectClass".into())
        );
        assert_eq!(
            Filter::parse("(&(cn=a\\2ab)(!(sn>=x))(|(o~=y)(c<=z)))").unwrap(),
            Filter::And(vec![
                Filter::Equal("cn".into(), b"a*b".to_vec()),
                Filter::Not(Box::new(Filter::GreaterOrEqual("sn".into(), b"x".to_vec()))),
                Filter::Or(vec![
                    Filter::Approx("o".into(), b"y".to_vec()),
                    Filter::LessOrEqual("c".into(), b"z".to_vec()),
                ]),
            ])
        );
        assert_eq!(
            Filter::parse("(cn=a*b*c*)").unwrap(),
            Filter::Substrings {
                attr: "cn".into(),
                initial: Some(b"a".to_vec()),
                any: vec![b"b".to_vec(), b"c".to_vec()],
                last: None,
            }
        );
    }

    #[test]
    fn encodings_match_rfc4511() {
        // (objectClass=*): present [7], primitive.
        assert_eq!(
            Filter::Present("objectClass".into()).encode(),
            b"\x87\x0bobjectClass"
        );
        // (cn=x): equalityMatch [3] { "cn", "x" }.
        assert_eq!(
            Filter::parse("(cn=x)").unwrap().encode(),
            b"\xa3\x07\x04\x02cn\x04\x01x"
        );
        // (&(cn=x)(!(o=*))): and [0] { eq, not [2] { present } }.
        assert_eq!(
            Filter::parse("(&(cn=x)(!(o=*)))").unwrap().encode(),
            b"\xa0\x0e\xa3\x07\x04\x02cn\x04\x01x\xa2\x03\x87\x01o"
        );
        // (cn=a*z): substrings [4] { "cn", SEQUENCE { initial [0], final [2] } }.
        assert_eq!(
            Filter::parse("(cn=a*z)").unwrap().encode(),
            b"\xa4\x0c\x04\x02cn\x30\x06\x80\x01a\x82\x01z"
        );
    }

    #[test]
    fn bad_filters() {
        for (f, why) in [
            ("(cn=x", "expected ')'"),
            ("(cn=x))", "junk"),
            ("(=x)", "no attribute"),
            ("(cn)", "no operator"),
            ("(cn:dn:=x)", "extensible"),
            ("(cn=\\4)", "two hex digits"),
            ("(cn=a**b)", "\"**\""),
            ("(cn=a(b)", "unescaped '('"),
            (&"(!".repeat(40), "nested deeper"),
        ] {
            let e = Filter::parse(f).unwrap_err();
            assert!(e.contains(why), "{f}: {e}");
        }
    }
}
