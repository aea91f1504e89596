//! LDAP URLs (RFC 4516) as they appear in CRL distribution points:
//! `ldap://host[:port]/dn?attributes?scope?filter?extensions`.

use super::filter::Filter;
use super::LdapError;

/// The default LDAP port.
pub const DEFAULT_PORT: u16 = 389;

/// The attribute asked for when the URL names none.
pub const DEFAULT_ATTRIBUTE: &str = "certificateRevocationList;binary";

/// The search scope of an LDAP URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// `base` (the default): only the entry named by the DN.
    #[default]
    Base,
    /// `one`: the entry's immediate children.
    One,
    /// `sub`: the entry and its whole subtree.
    Sub,
}

impl Scope {
    /// The SearchRequest `scope` ENUMERATED value.
    pub fn code(self) -> u8 {
        match self {
            Scope::Base => 0,
            Scope::One => 1,
            Scope::Sub => 2,
        }
    }
}

/// A parsed `ldap://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUrl {
    /// The server's host name or address (IPv6 without brackets).
    pub host: String,
    /// The server's port (389 unless the URL says otherwise).
    pub port: u16,
    /// The base DN of the search (percent-decoded).
    pub dn: String,
    /// The attributes asked for; [`DEFAULT_ATTRIBUTE`] when the URL names none.
    pub attributes: Vec<String>,
    /// The search scope.
    pub scope: Scope,
    /// The search filter (`(objectClass=*)` when the URL has none).
    pub filter: Filter,
}

fn bad(url: &str, reason: impl Into<String>) -> LdapError {
    LdapError::BadUrl {
        url: url.to_string(),
        reason: reason.into(),
    }
}

/// Decodes `%XX` escapes; other characters stay as they are.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl LdapUrl {
    /// Parses an `ldap://` URL. `ldaps://`, a missing host, an unknown
    /// scope, a bad filter and critical extensions are errors.
    pub fn parse(url: &str) -> Result<LdapUrl, LdapError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(url, "not a URL (no \"://\")"))?;
        if scheme.eq_ignore_ascii_case("ldaps") {
            return Err(bad(url, "ldaps:// (LDAP over TLS) is not supported"));
        }
        if !scheme.eq_ignore_ascii_case("ldap") {
            return Err(bad(url, "the scheme is not ldap://"));
        }
        let (hostport, path) = match rest.find('/') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (rest, ""),
        };
        let (host, port) = parse_hostport(url, hostport)?;
        let mut parts = path.splitn(5, '?');
        let dn = parts.next().unwrap_or_default();
        let dn = percent_decode(dn).ok_or_else(|| bad(url, "bad %-escape in the DN"))?;
        let mut attributes = Vec::new();
        for a in parts.next().unwrap_or_default().split(',') {
            let a = percent_decode(a).ok_or_else(|| bad(url, "bad %-escape in an attribute"))?;
            let a = a.trim();
            if a.is_empty() {
                continue;
            }
            if !a
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b';' | b'.'))
            {
                return Err(bad(url, format!("bad attribute name \"{a}\"")));
            }
            attributes.push(a.to_string());
        }
        if attributes.is_empty() {
            attributes.push(DEFAULT_ATTRIBUTE.to_string());
        }
        let scope = match parts
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "base" => Scope::Base,
            "one" => Scope::One,
            "sub" => Scope::Sub,
            other => return Err(bad(url, format!("unknown scope \"{other}\""))),
        };
        let filter = percent_decode(parts.next().unwrap_or_default())
            .ok_or_else(|| bad(url, "bad %-escape in the filter"))?;
        let filter = if filter.is_empty() {
            Filter::Present("objectClass".into())
        } else {
            Filter::parse(&filter).map_err(|reason| bad(url, reason))?
        };
        for ext in parts.next().unwrap_or_default().split(',') {
            if ext.starts_with('!') {
                return Err(bad(
                    url,
                    format!("unsupported critical extension \"{ext}\""),
                ));
            }
        }
        Ok(LdapUrl {
            host,
            port,
            dn,
            attributes,
            scope,
            filter,
        })
    }
}

fn parse_hostport(url: &str, hostport: &str) -> Result<(String, u16), LdapError> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad(url, "unterminated [IPv6 address]"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad(url, "junk after the [IPv6 address]"))?,
            ),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let host = percent_decode(&host).ok_or_else(|| bad(url, "bad %-escape in the host"))?;
    if host.is_empty() {
        return Err(bad(
            url,
            "no LDAP server named (ldap:/// URLs need a default server)",
        ));
    }
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad(url, format!("bad port \"{p}\"")))?,
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let u = LdapUrl::parse(
            "ldap://ldap.example.com:1389/cn=Test%20CA,o=Example?certificateRevocationList;binary?sub?(objectClass=cRLDistributionPoint)",
        )
        .unwrap();
        assert_eq!(u.host, "ldap.example.com");
        assert_eq!(u.port, 1389);
        assert_eq!(u.dn, "cn=Test CA,o=Example");
        assert_eq!(u.attributes, ["certificateRevocationList;binary"]);
        assert_eq!(u.scope, Scope::Sub);
        assert_eq!(
            u.filter,
            Filter::Equal("objectClass".into(), b"cRLDistributionPoint".to_vec())
        );
    }

    #[test]
    fn defaults_and_ipv6() {
        let u = LdapUrl::parse("LDAP://[2001:db8::1]/cn=ca").unwrap();
        assert_eq!(u.host, "2001:db8::1");
        assert_eq!(u.port, 389);
        assert_eq!(u.attributes, [DEFAULT_ATTRIBUTE]);
        assert_eq!(u.scope, Scope::Base);
        assert_eq!(u.filter, Filter::Present("objectClass".into()));
        let u = LdapUrl::parse("ldap://192.0.2.1:636").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.dn.as_str()),
            ("192.0.2.1", 636, "")
        );
        // Unescaped spaces, as some CAs write them, are kept.
        let u = LdapUrl::parse("ldap://h/cn=CA, o=Ex?a,b??").unwrap();
        assert_eq!(u.dn, "cn=CA, o=Ex");
        assert_eq!(u.attributes, ["a", "b"]);
        // Non-critical extensions are ignored.
        assert!(LdapUrl::parse("ldap://h/?a?base??e-bindname=x").is_ok());
    }

    #[test]
    fn errors_say_why() {
        for (url, why) in [
            (
                "ldaps://h/cn=ca",
                "ldaps:// (LDAP over TLS) is not supported",
            ),
            ("http://h/", "not ldap://"),
            ("ldap:///cn=ca", "no LDAP server"),
            ("ldap://h:0/", "bad port"),
            ("ldap://h:99999/", "bad port"),
            ("ldap://[::1/", "unterminated"),
            ("ldap://h/cn=%zz", "bad %-escape in the DN"),
            ("ldap://h/?a?deep", "unknown scope \"deep\""),
            ("ldap://h/?a?base?(cn=x", "filter"),
            ("ldap://h/?a?base??!bindname=x", "critical extension"),
            ("ldap://h/?a b", "bad attribute name"),
            ("cn=ca", "not a URL"),
        ] {
            let e = LdapUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains(url), "{url}: {e}");
        }
    }
}
