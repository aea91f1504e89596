//! One end of a connection (`left*` / `right*` keys).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::addr::{HostAddr, Id, ProtoPort, Subnet};
use crate::conn::{parse_authby_one, AuthBy, Ctx};
use crate::error::ConfError;
use crate::values::parse_yn;

/// `leftsendcert=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendCert {
    /// Always send our certificate.
    Always,
    /// Send it when the peer asks (CERTREQ), the default.
    IfAsked,
    /// Never send it.
    Never,
}

/// Public key material for an end (`leftrsasigkey=`, `leftecdsakey=`,
/// `lefteddsakey=`, `leftpubkey=`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PubKeySpec {
    /// `%cert`: from the end's certificate.
    Cert,
    /// `%dns`: fetched from DNS.
    Dns,
    /// `%dnsondemand`: fetched from DNS when needed.
    DnsOnDemand,
    /// A raw key (`0s` base64 or `0x` hex).
    Raw {
        /// Which keyword it came from: `rsasigkey`, `ecdsakey`, `eddsakey` or `pubkey`.
        keyword: &'static str,
        /// The decoded key.
        key: Vec<u8>,
    },
}

impl PubKeySpec {
    fn parse(keyword: &'static str, v: &str) -> Result<Option<PubKeySpec>, String> {
        Ok(Some(match v.to_ascii_lowercase().as_str() {
            "" | "%none" => return Ok(None),
            "%cert" => PubKeySpec::Cert,
            "%dns" => PubKeySpec::Dns,
            "%dnsondemand" => PubKeySpec::DnsOnDemand,
            _ => {
                let key = if let Some(b) = v.strip_prefix("0s") {
                    use base64::Engine;
                    let b: String = b.chars().filter(|c| !c.is_whitespace()).collect();
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .map_err(|e| format!("bad base64 key: {e}"))?
                } else if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    let h: String = h
                        .chars()
                        .filter(|c| !c.is_whitespace() && *c != '_')
                        .collect();
                    hex::decode(h).map_err(|e| format!("bad hex key: {e}"))?
                } else {
                    return Err(format!("public key '{}...' must start with 0s or 0x, or be %cert, %dns, %dnsondemand", v.chars().take(8).collect::<String>()));
                };
                PubKeySpec::Raw { keyword, key }
            }
        }))
    }
}

/// One end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndSpec {
    /// `left=`.
    pub host: HostAddr,
    /// `leftnexthop=`.
    pub nexthop: Option<HostAddr>,
    /// `leftid=` (None: the host address, or the certificate's subject).
    pub id: Option<Id>,
    /// `leftsubnet=` (a list since Libreswan 5).
    pub subnets: Vec<Subnet>,
    /// `leftsubnets=`: one connection instance per subnet.
    pub subnets_list: Vec<Subnet>,
    /// `leftsubnet=vhost:...` / `vnet:...` (virtual private).
    pub vsubnet: Option<String>,
    /// `leftprotoport=`.
    pub protoport: Option<ProtoPort>,
    /// `leftsourceip=` (first address).
    pub sourceip: Option<IpAddr>,
    /// `leftsourceip=` (all addresses).
    pub sourceips: Vec<IpAddr>,
    /// `leftinterface-ip=`.
    pub interface_ip: Option<Subnet>,
    /// `leftcert=` (nickname).
    pub cert: Option<String>,
    /// `leftckaid=`.
    pub ckaid: Option<String>,
    /// `leftca=`.
    pub ca: Option<String>,
    /// Public key.
    pub pubkey: Option<PubKeySpec>,
    /// `leftauth=`.
    pub auth: Option<AuthBy>,
    /// `leftautheap=`.
    pub autheap: bool,
    /// `leftupdown=`.
    pub updown: Option<String>,
    /// `leftikeport=`.
    pub ikeport: Option<u16>,
    /// `leftsendcert=`.
    pub sendcert: SendCert,
    /// `leftxauthserver=`.
    pub xauthserver: bool,
    /// `leftxauthclient=`.
    pub xauthclient: bool,
    /// `leftmodecfgserver=`.
    pub modecfgserver: bool,
    /// `leftmodecfgclient=`.
    pub modecfgclient: bool,
    /// `leftusername=`.
    pub username: Option<String>,
    /// `leftaddresspool=` (a range or CIDR, kept as written).
    pub addresspool: Option<String>,
    /// `leftvti=`.
    pub vti: Option<String>,
    /// `leftcat=`.
    pub cat: bool,
    /// Every per-end key as written after resolution (without `left`).
    pub raw: BTreeMap<String, String>,
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn parse_subnets(key: &str, v: &str) -> Result<Vec<Subnet>, String> {
    if v.trim().is_empty() {
        return Err(format!("{key}= invalid, empty field"));
    }
    let mut out = Vec::new();
    for part in v.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{key}= invalid, empty field"));
        }
        for s in part.split_whitespace() {
            out.push(Subnet::parse(s).map_err(|e| format!("{key}={v} invalid, {e}"))?);
        }
    }
    Ok(out)
}

impl EndSpec {
    /// Builds one end from the resolved keys; `side` is `left` or `right`.
    pub(crate) fn from_ctx(ctx: &Ctx<'_>, side: &str) -> Result<EndSpec, ConfError> {
        let k = |name: &str| format!("{side}{name}");
        let mut raw = BTreeMap::new();
        for (key, e) in &ctx.r.values {
            if e.kw.per_end && key.starts_with(side) {
                raw.insert(e.kw.name.to_string(), e.value.clone());
            }
        }
        let host = match ctx.get(&k("")) {
            Some(e) if !e.value.is_empty() => HostAddr::parse(&e.value)
                .map_err(|m| ctx.bad(e, format!("{side}={} invalid, {m}", e.value)))?,
            _ => return Err(ctx.conn_err(format!("{side}= is not set"))),
        };
        let nexthop = ctx
            .string(&k("nexthop"))
            .map(|(e, v)| {
                HostAddr::parse(v)
                    .map_err(|m| ctx.bad(e, format!("{side}nexthop={v} invalid, {m}")))
            })
            .transpose()?;
        let id = ctx
            .string(&k("id"))
            .map(|(e, v)| {
                Id::parse(v).map_err(|m| ctx.bad(e, format!("{side}id={v} invalid, {m}")))
            })
            .transpose()?;
        let mut subnets = Vec::new();
        let mut vsubnet = None;
        if let Some(e) = ctx.get(&k("subnet")) {
            let v = e.value.trim();
            if v.starts_with("vhost:") || v.starts_with("vnet:") {
                vsubnet = Some(v.to_string());
            } else if v.starts_with('%') {
                // %priv / %no and friends only make sense with vhost:/vnet:
                return Err(ctx.bad(
                    e,
                    format!("{side}subnet={v} invalid, %-values need vhost: or vnet:"),
                ));
            } else {
                subnets = parse_subnets(&k("subnet"), v).map_err(|m| ctx.bad(e, m))?;
            }
        }
        let subnets_list = match ctx.get(&k("subnets")) {
            Some(e) => {
                let v = e.value.trim().trim_start_matches('{').trim_end_matches('}');
                parse_subnets(&k("subnets"), v).map_err(|m| ctx.bad(e, m))?
            }
            None => Vec::new(),
        };
        if subnets.len() > 1 && !subnets_list.is_empty() {
            return Err(ctx.conn_err(format!(
                "multi-selector {side}subnet=\"{}\" combined with {side}subnets=\"{}\"",
                raw.get("subnet").cloned().unwrap_or_default(),
                raw.get("subnets").cloned().unwrap_or_default()
            )));
        }
        let protoport = ctx
            .string(&k("protoport"))
            .map(|(e, v)| ProtoPort::parse(v).map_err(|m| ctx.bad(e, m)))
            .transpose()?;
        let mut sourceips = Vec::new();
        if let Some((e, v)) = ctx.string(&k("sourceip")) {
            for s in split_list(v) {
                sourceips.push(s.parse::<IpAddr>().map_err(|_| {
                    ctx.bad(
                        e,
                        format!("{side}sourceip={v} invalid, '{s}' is not an IP address"),
                    )
                })?);
            }
        }
        let interface_ip = ctx
            .string(&k("interface-ip"))
            .map(|(e, v)| {
                let (a, p) = v.split_once('/').unwrap_or((v, ""));
                let addr: IpAddr = a
                    .parse()
                    .map_err(|_| ctx.bad(e, format!("{side}interface-ip={v} invalid")))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix = if p.is_empty() {
                    max
                } else {
                    p.parse::<u8>()
                        .ok()
                        .filter(|p| *p <= max)
                        .ok_or_else(|| ctx.bad(e, format!("{side}interface-ip={v} invalid")))?
                };
                Ok::<_, ConfError>(Subnet { addr, prefix })
            })
            .transpose()?;
        let mut pubkey = None;
        for kw in ["rsasigkey", "ecdsakey", "eddsakey", "pubkey"] {
            if let Some((e, v)) = ctx.string(&k(kw)) {
                let p = PubKeySpec::parse(kw, v)
                    .map_err(|m| ctx.bad(e, format!("{side}{kw} invalid, {m}")))?;
                if p.is_some() {
                    pubkey = p;
                }
            }
        }
        let auth = ctx
            .string(&k("auth"))
            .map(|(e, v)| {
                parse_authby_one(v).map_err(|m| ctx.bad(e, format!("{side}auth={v} invalid, {m}")))
            })
            .transpose()?;
        let ikeport = ctx
            .string(&k("ikeport"))
            .map(|(e, v)| {
                v.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                    ctx.bad(
                        e,
                        format!("{side}ikeport={v} invalid, expecting a port 1..65535"),
                    )
                })
            })
            .transpose()?;
        let sendcert = match ctx
            .string(&k("sendcert"))
            .map(|(_, v)| v.to_ascii_lowercase())
        {
            None => SendCert::IfAsked,
            Some(v) => match v.as_str() {
                "always" | "yes" | "alwayssend" | "forcedsend" => SendCert::Always,
                "never" | "no" | "neversend" => SendCert::Never,
                _ => SendCert::IfAsked,
            },
        };
        let flag = |name: &str| -> Result<bool, ConfError> {
            match ctx.string(&k(name)) {
                None => Ok(false),
                Some((e, v)) => parse_yn(v).ok_or_else(|| {
                    ctx.bad(e, format!("{side}{name}={v} invalid, expecting yes or no"))
                }),
            }
        };
        let s = |name: &str| ctx.string(&k(name)).map(|(_, v)| v.to_string());
        Ok(EndSpec {
            host,
            nexthop,
            id,
            subnets,
            subnets_list,
            vsubnet,
            protoport,
            sourceip: sourceips.first().copied(),
            sourceips,
            interface_ip,
            cert: s("cert"),
            ckaid: s("ckaid"),
            ca: s("ca"),
            pubkey,
            auth,
            autheap: s("autheap").is_some_and(|v| v.eq_ignore_ascii_case("tls")),
            updown: s("updown"),
            ikeport,
            sendcert,
            xauthserver: flag("xauthserver")?,
            xauthclient: flag("xauthclient")?,
            modecfgserver: flag("modecfgserver")?,
            modecfgclient: flag("modecfgclient")?,
            username: s("username"),
            addresspool: s("addresspool"),
            vti: s("vti"),
            cat: flag("cat")?,
            raw,
        })
    }

    /// The address family of the traffic this end protects: from its
    /// subnets, else from its host (None: not known yet).
    pub fn client_family_v6(&self) -> Option<bool> {
        match self.subnets.first() {
            Some(s) => Some(s.addr.is_ipv6()),
            None => self.host.is_v6(),
        }
    }
}
