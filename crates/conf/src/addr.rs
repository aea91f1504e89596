//! Addresses, subnets, IDs and protocol/port values of a connection end.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The value of `left=` / `right=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostAddr {
    /// A literal address.
    Addr(IpAddr),
    /// `%any`: any IPv4 peer.
    Any,
    /// `%any6`: any IPv6 peer.
    Any6,
    /// `%defaultroute`.
    DefaultRoute,
    /// `%defaultroute4`.
    DefaultRoute4,
    /// `%defaultroute6`.
    DefaultRoute6,
    /// A DNS name, resolved when the connection is used.
    Dns(String),
    /// `%opportunistic`.
    Opportunistic,
    /// `%group` (`Group(false)`) or `%opportunisticgroup` (`Group(true)`).
    Group(bool),
    /// `%none`.
    None,
    /// `%direct`.
    Direct,
    /// `%IFACE`: the address of a network interface.
    Interface(String),
    /// Not given at all (a template conn completed through `also=`);
    /// such a connection cannot be added.
    Unset,
}

impl HostAddr {
    /// Parses a `left=`/`right=` value.
    pub fn parse(v: &str) -> Result<HostAddr, String> {
        let lower = v.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "" => return Err("empty host address".into()),
            "%any" => HostAddr::Any,
            "%any6" => HostAddr::Any6,
            "%defaultroute" => HostAddr::DefaultRoute,
            "%defaultroute4" => HostAddr::DefaultRoute4,
            "%defaultroute6" => HostAddr::DefaultRoute6,
            "%opportunistic" => HostAddr::Opportunistic,
            "%group" => HostAddr::Group(false),
            "%opportunisticgroup" => HostAddr::Group(true),
            "%none" => HostAddr::None,
            "%direct" => HostAddr::Direct,
            _ => {
                if let Some(iface) = v.strip_prefix('%') {
                    if iface.is_empty()
                        || !iface
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                    {
                        return Err(format!("unknown %-value '{v}'"));
                    }
                    HostAddr::Interface(iface.to_string())
                } else if let Ok(a) = v.parse::<IpAddr>() {
                    HostAddr::Addr(a)
                } else if is_dns_name(v) {
                    HostAddr::Dns(v.to_string())
                } else {
                    return Err(format!("'{v}' is not an IP address or DNS name"));
                }
            }
        })
    }

    /// The address family this value pins, if any: Some(true) for IPv6.
    pub fn is_v6(&self) -> Option<bool> {
        match self {
            HostAddr::Addr(a) => Some(a.is_ipv6()),
            HostAddr::Any6 | HostAddr::DefaultRoute6 => Some(true),
            HostAddr::DefaultRoute4 => Some(false),
            _ => None,
        }
    }
}

fn is_dns_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        && v.chars().any(|c| c.is_ascii_alphabetic())
}

impl fmt::Display for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostAddr::Addr(a) => write!(f, "{a}"),
            HostAddr::Any => f.write_str("%any"),
            HostAddr::Any6 => f.write_str("%any6"),
            HostAddr::DefaultRoute => f.write_str("%defaultroute"),
            HostAddr::DefaultRoute4 => f.write_str("%defaultroute4"),
            HostAddr::DefaultRoute6 => f.write_str("%defaultroute6"),
            HostAddr::Dns(n) => f.write_str(n),
            HostAddr::Opportunistic => f.write_str("%opportunistic"),
            HostAddr::Group(false) => f.write_str("%group"),
            HostAddr::Group(true) => f.write_str("%opportunisticgroup"),
            HostAddr::None => f.write_str("%none"),
            HostAddr::Direct => f.write_str("%direct"),
            HostAddr::Interface(i) => write!(f, "%{i}"),
            HostAddr::Unset => f.write_str("(unset)"),
        }
    }
}

/// An address prefix: `10.1.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    /// Network address (host bits zero).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Subnet {
    /// Parses `ADDR/LEN` or a bare address (a host prefix). Host bits must
    /// be zero, as Libreswan requires.
    pub fn parse(v: &str) -> Result<Subnet, String> {
        let v = v.trim();
        if v.is_empty() {
            return Err("empty field".into());
        }
        let (a, p) = match v.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        };
        let addr: IpAddr = a
            .parse()
            .or_else(|_| parse_short_v4(a))
            .map_err(|_| format!("'{v}' is not a subnet"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| format!("'{v}' has a bad prefix length"))?,
            None => max,
        };
        if prefix > max {
            return Err(format!("'{v}' prefix length exceeds {max}"));
        }
        let s = Subnet { addr, prefix };
        if s.network() != addr {
            return Err(format!(
                "'{v}' has non-zero host identifier bits (network is {})",
                s.network()
            ));
        }
        Ok(s)
    }

    /// The address with host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        }
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let other = Subnet {
            addr: *ip,
            prefix: self.prefix,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && other.network() == self.addr
    }
}

/// Libreswan accepts `0.0.0/0`-style short IPv4 forms in subnets.
fn parse_short_v4(a: &str) -> Result<IpAddr, ()> {
    let parts: Vec<&str> = a.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return Err(());
    }
    let mut oct = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        let slot = oct.get_mut(i).ok_or(())?;
        *slot = p.parse().map_err(|_| ())?;
    }
    Ok(IpAddr::V4(Ipv4Addr::from(oct)))
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A traffic selector as written in `leftsubnet=`: a subnet with an
/// optional protocol and port (`192.0.2.0/24/tcp/22`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// The addresses.
    pub subnet: Subnet,
    /// Protocol and port, when given.
    pub protoport: Option<ProtoPort>,
}

impl Selector {
    /// Parses `ADDR[/LEN[/PROTO[/PORT]]]`.
    pub fn parse(v: &str) -> Result<Selector, String> {
        let v = v.trim();
        let mut parts = v.splitn(3, '/');
        let addr = parts.next().unwrap_or("");
        let len = parts.next();
        let pp = parts.next();
        let subnet = match len {
            Some(l) => Subnet::parse(&format!("{addr}/{l}"))?,
            None => Subnet::parse(addr)?,
        };
        let protoport = pp.map(ProtoPort::parse).transpose()?;
        Ok(Selector { subnet, protoport })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.subnet)?;
        if let Some(p) = self.protoport {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

/// An IKE identity (`leftid=`, ipsec.secrets indices).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// `ID_IPV4_ADDR`.
    Ipv4(Ipv4Addr),
    /// `ID_IPV6_ADDR`.
    Ipv6(Ipv6Addr),
    /// `@host`: `ID_FQDN`.
    Fqdn(String),
    /// `user@host`: `ID_USER_FQDN`.
    UserFqdn(String),
    /// A distinguished name: `ID_DER_ASN1_DN`.
    Dn(String),
    /// `@#hex`: `ID_KEY_ID`.
    KeyId(Vec<u8>),
    /// `%fromcert`: the subject of our certificate.
    FromCert,
    /// `%null`: `ID_NULL`.
    Null,
    /// `%any` / `%none`: matches any peer.
    Any,
}

impl Id {
    /// Parses an ID as Libreswan writes it.
    pub fn parse(v: &str) -> Result<Id, String> {
        let v = v.trim();
        let lower = v.to_ascii_lowercase();
        match lower.as_str() {
            "" => return Err("empty ID".into()),
            "%fromcert" => return Ok(Id::FromCert),
            "%null" => return Ok(Id::Null),
            "%any" | "%none" | "%any6" => return Ok(Id::Any),
            _ => {}
        }
        if let Some(h) = v.strip_prefix("@#") {
            return hex::decode(h)
                .map(Id::KeyId)
                .map_err(|_| format!("ID '{v}' has bad hex"));
        }
        if let Some(h) = v.strip_prefix("@~") {
            // a DER-encoded DN in hex; kept as text
            return if h.chars().all(|c| c.is_ascii_hexdigit()) && !h.is_empty() {
                Ok(Id::Dn(v.to_string()))
            } else {
                Err(format!("ID '{v}' has bad hex"))
            };
        }
        if let Some(host) = v.strip_prefix('@') {
            // @@user@host is an old spelling of user@host; @[name] a literal name
            if let Some(u) = host.strip_prefix('@') {
                return Ok(Id::UserFqdn(u.to_string()));
            }
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if host.is_empty() {
                return Err("ID '@' has no name".into());
            }
            return Ok(Id::Fqdn(host.to_string()));
        }
        if let Ok(a) = v.parse::<IpAddr>() {
            return Ok(match a {
                IpAddr::V4(a) => Id::Ipv4(a),
                IpAddr::V6(a) => Id::Ipv6(a),
            });
        }
        if v.contains('=') {
            return Ok(Id::Dn(v.to_string()));
        }
        if v.starts_with('%') {
            return Err(format!("unknown ID %-value '{v}'"));
        }
        if v.contains('@') {
            return Ok(Id::UserFqdn(v.to_string()));
        }
        // Libreswan resolves a bare name in DNS and uses the address as the
        // ID; ferroswan does not resolve IDs at load time
        Err(format!(
            "'{v}' is neither an address nor @FQDN, user@FQDN or a DN; ferroswan does not look IDs up in DNS (write @{v} for an FQDN ID)"
        ))
    }

    /// The ID of a host address (the default when `leftid=` is unset).
    pub fn from_ip(a: IpAddr) -> Id {
        match a {
            IpAddr::V4(a) => Id::Ipv4(a),
            IpAddr::V6(a) => Id::Ipv6(a),
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Ipv4(a) => write!(f, "{a}"),
            Id::Ipv6(a) => write!(f, "{a}"),
            Id::Fqdn(h) => write!(f, "@{h}"),
            Id::UserFqdn(u) => f.write_str(u),
            Id::Dn(d) => f.write_str(d),
            Id::KeyId(k) => write!(f, "@#{}", hex::encode(k)),
            Id::FromCert => f.write_str("%fromcert"),
            Id::Null => f.write_str("%null"),
            Id::Any => f.write_str("%any"),
        }
    }
}

/// `leftprotoport=`: protocol and port of the traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtoPort {
    /// IP protocol number (0 = any).
    pub proto: u8,
    /// Port; `None` = any (`%any` or omitted).
    pub port: Option<u16>,
}

fn proto_number(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" | "icmp6" => 58,
        "sctp" => 132,
        "any" | "%any" => 0,
        n => return n.parse().ok(),
    })
}

fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        132 => "sctp",
        _ => return None,
    })
}

impl ProtoPort {
    /// Parses `tcp/22`, `17/1701`, `udp/%any`, `tcp`.
    pub fn parse(v: &str) -> Result<ProtoPort, String> {
        let (p, port) = match v.split_once('/') {
            Some((p, port)) => (p, Some(port)),
            None => (v, None),
        };
        let proto =
            proto_number(p).ok_or_else(|| format!("protoport '{v}': unknown protocol '{p}'"))?;
        let port = match port {
            None => None,
            Some("%any") | Some("") => None,
            Some(n) => Some(
                n.parse::<u16>()
                    .map_err(|_| format!("protoport '{v}': bad port '{n}'"))?,
            ),
        };
        Ok(ProtoPort { proto, port })
    }
}

impl fmt::Display for ProtoPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match proto_name(self.proto) {
            Some(n) => f.write_str(n)?,
            None => write!(f, "{}", self.proto)?,
        }
        match self.port {
            Some(p) => write!(f, "/{p}"),
            None => f.write_str("/%any"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.1.0.0/16").unwrap();
        assert_eq!(s.to_string(), "10.1.0.0/16");
        assert!(Subnet::parse("10.1.0.1/16").unwrap_err().contains("host"));
        assert_eq!(Subnet::parse("192.0.2.1").unwrap().prefix, 32);
        assert_eq!(Subnet::parse("2001:db8::/32").unwrap().prefix, 32);
        assert_eq!(Subnet::parse("0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert!(Subnet::parse("10.0.0.0/33").is_err());
        assert!(Subnet::parse("").unwrap_err().contains("empty"));
        assert!(s.contains(&"10.1.2.3".parse().unwrap()));
        assert!(!s.contains(&"10.2.0.1".parse().unwrap()));
    }

    #[test]
    fn ids() {
        assert_eq!(Id::parse("@west").unwrap(), Id::Fqdn("west".into()));
        assert_eq!(
            Id::parse("u@example.org").unwrap(),
            Id::UserFqdn("u@example.org".into())
        );
        assert_eq!(
            Id::parse("192.0.2.1").unwrap(),
            Id::Ipv4("192.0.2.1".parse().unwrap())
        );
        assert_eq!(Id::parse("@#0aff").unwrap(), Id::KeyId(vec![0x0a, 0xff]));
        assert!(matches!(Id::parse("C=CA, CN=x").unwrap(), Id::Dn(_)));
        assert_eq!(Id::parse("%fromcert").unwrap(), Id::FromCert);
        for s in [
            "@west",
            "u@x.org",
            "192.0.2.1",
            "2001:db8::1",
            "@#0aff",
            "%null",
            "%any",
        ] {
            assert_eq!(
                Id::parse(&Id::parse(s).unwrap().to_string()).unwrap(),
                Id::parse(s).unwrap()
            );
        }
    }

    #[test]
    fn hosts_and_protoports() {
        assert_eq!(
            HostAddr::parse("%defaultroute").unwrap(),
            HostAddr::DefaultRoute
        );
        assert_eq!(
            HostAddr::parse("east.example").unwrap(),
            HostAddr::Dns("east.example".into())
        );
        assert_eq!(
            HostAddr::parse("%eth0").unwrap(),
            HostAddr::Interface("eth0".into())
        );
        assert!(HostAddr::parse("1.2.3.4.5/").is_err());
        let p = ProtoPort::parse("tcp/22").unwrap();
        assert_eq!((p.proto, p.port), (6, Some(22)));
        assert_eq!(ProtoPort::parse("17/%any").unwrap().to_string(), "udp/%any");
        assert!(ProtoPort::parse("foo/1").is_err());
    }
}
