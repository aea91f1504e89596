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

    /// Libreswan's ID type name as printed by `--listpubkeys` (e.g. `FQDN`, `DER_ASN1_DN`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Id::Any | Id::FromCert => "ID_NONE",
            Id::Ip(IpAddr::V4(_)) => "IPV4_ADDR",
            Id::Ip(IpAddr::V6(_)) => "IPV6_ADDR",
            Id::Fqdn(_) => "FQDN",
            Id::Email(_) => "USER_FQDN",
            Id::Dn(_) => "DER_ASN1_DN",
            Id::KeyId(_) => "KEY_ID",
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
    fn dns_wildcards() {
        assert!(dns_match("*.example.com", "a.example.com"));
        assert!(!dns_match("*.example.com", "a.b.example.com"));
        assert!(!dns_match("*.example.com", "example.com"));
        assert!(dns_match("East.Example.com", "east.example.com"));
    }
}
