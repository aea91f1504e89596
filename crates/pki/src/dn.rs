//! X.501 distinguished names: parsing from certificates and from `leftid=`
//! strings, rendering in Libreswan's order and spelling, and comparison that
//! ignores spacing and case and honours `*` wildcards as Libreswan does.

use std::fmt;

use x509_parser::x509::X509Name;

use crate::error::{PkiError, Result};

/// One attribute of a distinguished name, e.g. `CN=east`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The attribute type as a dotted OID, e.g. `2.5.4.3`.
    pub oid: String,
    /// The attribute value as text.
    pub value: String,
    /// The value's DER (tag, length, contents) when it came from DER.
    pub ber: Option<Vec<u8>>,
}

/// A distinguished name: its attributes in the order of the DER encoding
/// (which is the order Libreswan prints, e.g. `C=CA, ST=Ontario, O=Libreswan, CN=east`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DistinguishedName {
    /// The relative distinguished names, each with one or more attributes.
    pub rdns: Vec<Vec<Attribute>>,
    /// The DER encoding when the name came from a certificate or CRL.
    pub der: Option<Vec<u8>>,
}

/// Attribute type names Libreswan knows, in its table order: the first name for
/// an OID is the one printed; all are accepted when parsing.
const NAMES: &[(&str, &str)] = &[
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("CN", "2.5.4.3"),
    ("S", "2.5.4.4"),
    ("SN", "2.5.4.5"),
    ("serialNumber", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("T", "2.5.4.12"),
    ("D", "2.5.4.13"),
    ("N", "2.5.4.41"),
    ("G", "2.5.4.42"),
    ("I", "2.5.4.43"),
    ("ID", "2.5.4.45"),
    ("E", "1.2.840.113549.1.9.1"),
    ("Email", "1.2.840.113549.1.9.1"),
    ("emailAddress", "1.2.840.113549.1.9.1"),
    ("UN", "1.2.840.113549.1.9.2"),
    ("UA", "1.2.840.113549.1.9.8"),
    ("TCGID", "1.3.6.1.4.1.2312.1.1.2.2.75"),
];

fn name_of(oid: &str) -> Option<&'static str> {
    NAMES.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n)
}

fn oid_of(name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, o)| *o)
}

impl DistinguishedName {
    /// Converts a name parsed by `x509-parser`.
    pub(crate) fn from_x509(name: &X509Name<'_>) -> Self {
        let rdns = name
            .iter_rdn()
            .map(|rdn| {
                rdn.iter()
                    .map(|atv| Attribute {
                        oid: atv.attr_type().to_id_string(),
                        ber: Some(value_ber(atv)),
                        value: match atv.as_str() {
                            Ok(s) => s.to_string(),
                            Err(_) => format!("#{}", hex::encode(atv.attr_value().data)),
                        },
                    })
                    .collect()
            })
            .collect();
        DistinguishedName {
            rdns,
            der: Some(name.as_raw().to_vec()),
        }
    }

    /// Parses a DER-encoded name (e.g. from a CERTREQ or an ID payload of type ID_DER_ASN1_DN).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        use x509_parser::prelude::FromDer;
        let (_, name) = X509Name::from_der(der).map_err(|e| PkiError::parse("DN", e))?;
        Ok(Self::from_x509(&name))
    }

    /// Parses the textual form Libreswan accepts in `leftid=`/`rightid=`, e.g.
    /// `C=CA, ST=Ontario, O=Libreswan, CN=east.testing.libreswan.org`.
    /// Spaces around `=` and `,` are ignored; `\,` escapes a comma; a value may be `*`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| PkiError::BadId {
            id: s.to_string(),
            reason: reason.to_string(),
        };
        let mut rdns = Vec::new();
        for part in split_unescaped(s, ',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (ty, value) = part
                .split_once('=')
                .ok_or_else(|| bad("an RDN lacks '='"))?;
            let ty = ty.trim();
            let oid = match oid_of(ty) {
                Some(o) => o.to_string(),
                None if ty.chars().all(|c| c.is_ascii_digit() || c == '.') && !ty.is_empty() => {
                    ty.to_string()
                }
                None => return Err(bad(&format!("unknown attribute type \"{ty}\""))),
            };
            let value = unescape(value.trim());
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string)
                .unwrap_or(value);
            rdns.push(vec![Attribute {
                oid,
                value,
                ber: None,
            }]);
        }
        if rdns.is_empty() {
            return Err(bad("empty distinguished name"));
        }
        Ok(DistinguishedName { rdns, der: None })
    }

    /// The DER encoding: the original one when the name came from DER,
    /// otherwise an encoding with PrintableString values where possible
    /// (IA5String for e-mail addresses and domain components, UTF8String
    /// otherwise), as in an ID_DER_ASN1_DN payload.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        if let Some(d) = &self.der {
            return Ok(d.clone());
        }
        let mut rdns = Vec::new();
        for rdn in &self.rdns {
            let mut set = Vec::new();
            for a in rdn {
                let printable = a
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
                let ia5 = matches!(
                    a.oid.as_str(),
                    "1.2.840.113549.1.9.1" | "0.9.2342.19200300.100.1.25"
                );
                let tag = if ia5 && a.value.is_ascii() {
                    0x16
                } else if printable {
                    0x13
                } else {
                    0x0c
                };
                set.extend(crate::der::seq(&[
                    &crate::der::oid(&a.oid)?,
                    &crate::der::tlv(tag, a.value.as_bytes()),
                ]));
            }
            rdns.push(crate::der::tlv(0x31, &set));
        }
        let refs: Vec<&[u8]> = rdns.iter().map(|r| r.as_slice()).collect();
        Ok(crate::der::seq(&refs))
    }

    /// All attributes in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.rdns.iter().flatten()
    }

    /// Values of the attributes of a given OID (e.g. the CNs).
    pub fn values_of<'a>(&'a self, oid: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes()
            .filter(move |a| a.oid == oid)
            .map(|a| a.value.as_str())
    }

    /// Whether the name has no attributes.
    pub fn is_empty(&self) -> bool {
        self.rdns.iter().all(|r| r.is_empty())
    }

    /// Whether `self` (a name from a certificate) matches `pattern` (a name from
    /// the configuration, possibly with `*` values). Returns the number of
    /// wildcards used, or `None` when they do not match.
    ///
    /// Attributes are compared by type and by value ignoring case and runs of
    /// white space; the order of the RDNs does not matter (as with Libreswan's
    /// `match_dn_any_order_wild`), but both names must have the same number of
    /// attributes.
    pub fn matches(&self, pattern: &DistinguishedName) -> Option<usize> {
        let mine: Vec<&Attribute> = self.attributes().collect();
        let pat: Vec<&Attribute> = pattern.attributes().collect();
        if mine.len() != pat.len() || mine.is_empty() {
            return None;
        }
        let mut used = vec![false; mine.len()];
        let mut wildcards = 0;
        for (i, p) in pat.iter().enumerate() {
            let wild = p.value.trim() == "*";
            // Prefer the attribute at the same position, then any unused one.
            let same_pos = mine
                .get(i)
                .filter(|m| !used.get(i).copied().unwrap_or(true) && attr_eq(m, p, wild))
                .map(|_| i);
            let found = same_pos.or_else(|| {
                mine.iter()
                    .enumerate()
                    .find(|(j, m)| !used.get(*j).copied().unwrap_or(true) && attr_eq(m, p, wild))
                    .map(|(j, _)| j)
            })?;
            if let Some(u) = used.get_mut(found) {
                *u = true;
            }
            if wild {
                wildcards += 1;
            }
        }
        Some(wildcards)
    }

    /// Exact equality ignoring case and spacing (no wildcards, same order), as
    /// used for issuer/subject chaining.
    pub fn same_as(&self, other: &DistinguishedName) -> bool {
        if let (Some(a), Some(b)) = (&self.der, &other.der) {
            if a == b {
                return true;
            }
        }
        let a: Vec<&Attribute> = self.attributes().collect();
        let b: Vec<&Attribute> = other.attributes().collect();
        a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| attr_eq(x, y, false))
    }

    /// Whether any attribute value is the wildcard `*`.
    pub fn has_wildcards(&self) -> bool {
        self.attributes().any(|a| a.value.trim() == "*")
    }
}

/// Re-encodes an attribute value as DER (its tag and contents).
fn value_ber(atv: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Vec<u8> {
    let any = atv.attr_value();
    let tag = u8::try_from(any.tag().0)
        .ok()
        .filter(|t| *t < 0x1f)
        .unwrap_or(0x0c);
    crate::der::tlv(tag, any.data)
}

fn attr_eq(a: &Attribute, p: &Attribute, wild: bool) -> bool {
    a.oid == p.oid && (wild || normalize(&a.value) == normalize(&p.value))
}

fn normalize(v: &str) -> String {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    let mut quoted = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
            cur.push(c);
        } else if c == sep && !quoted {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes a value as Libreswan does for NSS (RFC 4514 plus `#` and `=`):
/// `\c` for special characters, a leading space and a trailing space, and
/// `\XX` for bytes outside printable ASCII.
fn write_escaped(f: &mut fmt::Formatter<'_>, v: &str) -> fmt::Result {
    let bytes = v.as_bytes();
    let last = bytes.len().saturating_sub(1);
    for (i, &c) in bytes.iter().enumerate() {
        let special = matches!(
            c,
            b'\\' | b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'#' | b'='
        ) || (c == b' ' && (i == 0 || i == last));
        if special {
            write!(f, "\\{}", c as char)?;
        } else if (0x20..=0x7e).contains(&c) {
            write!(f, "{}", c as char)?;
        } else {
            write!(f, "\\{c:02X}")?;
        }
    }
    Ok(())
}

impl fmt::Display for DistinguishedName {
    /// Libreswan's spelling: `C=CA, ST=Ontario, O=Libreswan, CN=east`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for a in self.attributes() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            let Some(name) = name_of(&a.oid) else {
                // Unknown types print as OID=#BER (RFC 4514 2.4).
                write!(f, "{}=#", a.oid)?;
                match &a.ber {
                    Some(b) => write!(f, "{}", hex::encode_upper(b))?,
                    None => write!(f, "{}", hex::encode_upper(a.value.as_bytes()))?,
                }
                continue;
            };
            write!(f, "{name}=")?;
            write_escaped(f, &a.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let dn = DistinguishedName::parse(
            "C=CA,ST=Ontario , O = Libreswan, CN=east.testing.libreswan.org, E=a@b",
        )
        .unwrap();
        assert_eq!(
            dn.to_string(),
            "C=CA, ST=Ontario, O=Libreswan, CN=east.testing.libreswan.org, E=a@b"
        );
        assert!(DistinguishedName::parse("XX=1").is_err());
        let odd = DistinguishedName::parse("CN=a\\,b+c#d=e; f , O=caf\u{e9}").unwrap();
        assert_eq!(odd.to_string(), r"CN=a\,b\+c\#d\=e\; f, O=caf\C3\A9");
        assert!(DistinguishedName::parse("nonsense").is_err());
    }

    #[test]
    fn match_rules() {
        let cert = DistinguishedName::parse("C=CA, O=Libreswan, CN=east").unwrap();
        let spaced = DistinguishedName::parse("c=ca,o=LIBRESWAN ,  cn=East").unwrap();
        assert_eq!(cert.matches(&spaced), Some(0));
        let wild = DistinguishedName::parse("C=CA, O=*, CN=east").unwrap();
        assert_eq!(cert.matches(&wild), Some(1));
        let reordered = DistinguishedName::parse("CN=east, C=CA, O=Libreswan").unwrap();
        assert_eq!(cert.matches(&reordered), Some(0));
        let other = DistinguishedName::parse("C=CA, O=Libreswan, CN=west").unwrap();
        assert_eq!(cert.matches(&other), None);
        let shorter = DistinguishedName::parse("C=CA, CN=east").unwrap();
        assert_eq!(cert.matches(&shorter), None);
        assert!(cert.same_as(&spaced));
        // A parsed name encodes to DER that parses back to the same name.
        let der = cert.to_der().unwrap();
        let back = DistinguishedName::from_der(&der).unwrap();
        assert!(back.same_as(&cert));
        assert_eq!(back.to_der().unwrap(), der);
        assert!(!cert.same_as(&reordered));
    }
}
