//! IKE identities (RFC 7296 3.5, written as in Libreswan's `leftid=`) and their
//! matching against a certificate's subject and subjectAltName (RFC 4945 3.1).

use std::fmt;
use std::net::IpAddr;

use crate::cert::{Certificate, GeneralName};
use crate::dn::DistinguishedName;
use crate::error::{PkiError, Result};

/// An identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// `%any`: matches every certificate.
    Any,
    /// `%fromcert`: the subject of the certificate in use.
    FromCert,
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    Ip(IpAddr),
    /// ID_FQDN, written `@host.example` (the `@` is not part of the name).
    Fqdn(String),
    /// ID_RFC822_ADDR (user@fqdn).
    Email(String),
    /// ID_DER_ASN1_DN, possibly with `*` wildcard values.
    Dn(DistinguishedName),
    /// ID_KEY_ID, written `@#hex`.
    KeyId(Vec<u8>),
}

impl Id {
    /// Parses Libreswan's textual ID: `%any`, `%fromcert`, an IP address,
    /// `@fqdn`, `@[fqdn]`, `@#hex` (key ID), `user@fqdn`, or a DN containing `=`.
    /// A bare name without `@` or `=` is taken as an FQDN.
    pub fn parse(s: &str) -> Result<Id> {
        let t = s.trim();
        let bad = |reason: &str| PkiError::BadId {
            id: s.to_string(),
            reason: reason.to_string(),
        };
        if t.is_empty() {
            return Err(bad("empty"));
        }
        if t.eq_ignore_ascii_case("%any") || t == "%none" {
            return Ok(Id::Any);
        }
        if t.eq_ignore_ascii_case("%fromcert") {
            return Ok(Id::FromCert);
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(Id::Ip(ip));
        }
        if let Some(h) = t.strip_prefix("@#") {
            return hex::decode(h)
                .map(Id::KeyId)
                .map_err(|_| bad("key ID after @# is not hex"));
        }
        if let Some(rest) = t.strip_prefix('@') {
            let name = rest
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .unwrap_or(rest);
            if name.is_empty() {
                return Err(bad("empty FQDN"));
            }
            return Ok(Id::Fqdn(name.to_string()));
        }
        if t.contains('=') {
            return DistinguishedName::parse(t).map(Id::Dn);
        }
        if t.contains('@') {
            return Ok(Id::Email(t.to_string()));
        }
        Ok(Id::Fqdn(t.to_string()))
    }

    /// Reads the identification data of an IKEv2 ID payload (RFC 7296 3.5):
    /// ID_IPV4_ADDR (1), ID_FQDN (2), ID_RFC822_ADDR (3), ID_IPV6_ADDR (5),
    /// ID_DER_ASN1_DN (9) and ID_KEY_ID (11).
    pub fn from_payload(id_type: u8, data: &[u8]) -> Result<Id> {
        let bad = |reason: &str| PkiError::BadId {
            id: format!("type {id_type}: {}", hex::encode(data)),
            reason: reason.to_string(),
        };
        let text = || {
            std::str::from_utf8(data)
                .map(str::to_string)
                .map_err(|_| bad("not UTF-8"))
        };
        match id_type {
            1 => <[u8; 4]>::try_from(data)
                .map(|a| Id::Ip(IpAddr::from(a)))
                .map_err(|_| bad("an IPv4 address has 4 bytes")),
            5 => <[u8; 16]>::try_from(data)
                .map(|a| Id::Ip(IpAddr::from(a)))
                .map_err(|_| bad("an IPv6 address has 16 bytes")),
            2 => Ok(Id::Fqdn(text()?)),
            3 => Ok(Id::Email(text()?)),
            9 => DistinguishedName::from_der(data).map(Id::Dn),
            11 => Ok(Id::KeyId(data.to_vec())),
            _ => Err(bad("unsupported ID type")),
        }
    }

    /// The ID payload type and data for this identity; `%any` and
    /// `%fromcert` have none (use [`Id::from_cert`] first).
    pub fn to_payload(&self) -> Result<(u8, Vec<u8>)> {
        Ok(match self {
            Id::Ip(IpAddr::V4(a)) => (1, a.octets().to_vec()),
            Id::Ip(IpAddr::V6(a)) => (5, a.octets().to_vec()),
            Id::Fqdn(n) => (2, n.as_bytes().to_vec()),
            Id::Email(e) => (3, e.as_bytes().to_vec()),
            Id::Dn(d) => (9, d.to_der()?),
            Id::KeyId(k) => (11, k.clone()),
            Id::Any | Id::FromCert => {
                return Err(PkiError::BadId {
                    id: self.to_string(),
                    reason: "has no ID payload form".into(),
                })
            }
        })
    }

    /// The identity a certificate provides for `%fromcert`: its subject DN.
    pub fn from_cert(cert: &Certificate) -> Id {
        Id::Dn(cert.subject().clone())
    }

    /// Whether `cert` proves this identity (RFC 4945 3.1; Libreswan semantics):
    /// a DN matches the subject (spacing/case-insensitive, `*` wildcards, any
    /// RDN order) or a directoryName in subjectAltName; an FQDN matches a
    /// dNSName (case-insensitive, `*.` left label wildcards in the certificate);
    /// an e-mail matches an rfc822Name; an IP address an iPAddress.
    /// `%any` and `%fromcert` match every certificate.
    pub fn matches_cert(&self, cert: &Certificate) -> bool {
        self.match_cert_wildcards(cert).is_some()
    }

    /// Like [`Id::matches_cert`], returning the number of DN wildcards used
    /// (fewer is a better match when choosing between connections).
    pub fn match_cert_wildcards(&self, cert: &Certificate) -> Option<usize> {
        let sans = cert.subject_alt_names();
        match self {
            Id::Any | Id::FromCert => Some(0),
            Id::Dn(dn) => cert.subject().matches(dn).or_else(|| {
                sans.iter().find_map(|g| match g {
                    GeneralName::DirectoryName(d) => d.matches(dn),
                    _ => None,
                })
            }),
            Id::Fqdn(name) => sans
                .iter()
                .any(|g| matches!(g, GeneralName::Dns(d) if dns_match(d, name)))
                .then_some(0),
            Id::Email(addr) => sans
                .iter()
                .any(|g| matches!(g, GeneralName::Email(e) if e.eq_ignore_ascii_case(addr)))
                .then_some(0),
            Id::Ip(ip) => sans
                .iter()
                .any(|g| matches!(g, GeneralName::Ip(a) if a == ip))
                .then_some(0),
            Id::KeyId(k) => (cert.subject_key_id() == Some(k.as_slice())).then_some(0),
        }
    }

    /// Libreswan's ID type name (its `ike_idtype_names`) as `--listpubkeys`
    /// prints it: `ID_FQDN`, `ID_DER_ASN1_DN`, ...; `%none` and `%fromcert`
    /// for the IDs private to pluto.
    pub fn type_name(&self) -> &'static str {
        match self {
            Id::Any => "%none",
            Id::FromCert => "%fromcert",
            Id::Ip(IpAddr::V4(_)) => "ID_IPV4_ADDR",
            Id::Ip(IpAddr::V6(_)) => "ID_IPV6_ADDR",
            Id::Fqdn(_) => "ID_FQDN",
            Id::Email(_) => "ID_USER_FQDN",
            Id::Dn(_) => "ID_DER_ASN1_DN",
            Id::KeyId(_) => "ID_KEY_ID",
        }
    }
}

fn dns_match(cert_name: &str, id: &str) -> bool {
    let cert_name = cert_name.trim_end_matches('.');
    let id = id.trim_end_matches('.');
    if cert_name.eq_ignore_ascii_case(id) {
        return true;
    }
    // "*.example.com" matches exactly one left-most label.
    if let Some(suffix) = cert_name.strip_prefix("*.") {
        if let Some((label, rest)) = id.split_once('.') {
            return !label.is_empty() && rest.eq_ignore_ascii_case(suffix);
        }
    }
    false
}

impl fmt::Display for Id {
    /// The form Libreswan prints: `@fqdn`, `user@fqdn`, the address, the DN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Any => f.write_str("%any"),
            Id::FromCert => f.write_str("%fromcert"),
            Id::Ip(ip) => write!(f, "{ip}"),
            Id::Fqdn(n) => write!(f, "@{n}"),
            Id::Email(e) => f.write_str(e),
            Id::Dn(d) => write!(f, "{d}"),
            Id::KeyId(k) => write!(f, "@#0x{}", hex::encode(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(Id::parse("%any").unwrap(), Id::Any);
        assert_eq!(Id::parse("@east").unwrap(), Id::Fqdn("east".into()));
        assert_eq!(Id::parse("@[east]").unwrap(), Id::Fqdn("east".into()));
        assert_eq!(Id::parse("a@b.c").unwrap(), Id::Email("a@b.c".into()));
        assert_eq!(
            Id::parse("192.0.2.1").unwrap(),
            Id::Ip("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            Id::parse("2001:db8::1").unwrap(),
            Id::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(Id::parse("@#0a0b").unwrap(), Id::KeyId(vec![10, 11]));
        assert!(matches!(Id::parse("CN=x, O=y").unwrap(), Id::Dn(_)));
        assert!(Id::parse("@#zz").is_err());
        assert_eq!(Id::parse("@east").unwrap().to_string(), "@east");
    }

    #[test]
    fn payload_roundtrip() {
        for s in [
            "192.0.2.1",
            "2001:db8::1",
            "@east",
            "a@b.c",
            "@#0a0b",
            "C=CA, O=Libreswan, CN=east, E=a@b.c",
        ] {
            let id = Id::parse(s).unwrap();
            let (t, d) = id.to_payload().unwrap();
            let back = Id::from_payload(t, &d).unwrap();
            assert_eq!(back.to_string(), id.to_string(), "{s}");
        }
        assert!(Id::Any.to_payload().is_err());
        assert!(Id::from_payload(1, &[1, 2, 3]).is_err());
        assert!(Id::from_payload(9, &[0x30, 0x05]).is_err());
        assert!(Id::from_payload(42, b"x").is_err());
    }

    #[test]
    fn dns_wildcards() {
        assert!(dns_match("*.example.com", "a.example.com"));
        assert!(!dns_match("*.example.com", "a.b.example.com"));
        assert!(!dns_match("*.example.com", "example.com"));
        assert!(dns_match("East.Example.com", "east.example.com"));
    }
}
