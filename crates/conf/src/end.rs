//! One end of a connection (`left*` / `right*` keys).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::addr::{HostAddr, Id, ProtoPort, Selector, Subnet};
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
    /// `leftsubnet=` (a list since Libreswan 5), addresses only.
    pub subnets: Vec<Subnet>,
    /// `leftsubnet=` with the protocol/port of each selector.
    pub selectors: Vec<Selector>,
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

fn parse_selectors(key: &str, v: &str) -> Result<Vec<Selector>, String> {
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
            out.push(Selector::parse(s).map_err(|e| format!("{key}={v} invalid, {e}"))?);
        }
    }
    Ok(out)
}

/// Parses `leftaddresspool=`: comma-separated CIDRs or `FIRST-LAST`
/// ranges; returns the family (true: IPv6) of each.
pub(crate) fn parse_addresspool(key: &str, v: &str) -> Result<Vec<bool>, String> {
    let mut out = Vec::new();
    for part in v.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{key}={v} invalid, empty field"));
        }
        if let Some((a, b)) = part.split_once('-') {
            let a: IpAddr = a
                .trim()
                .parse()
                .map_err(|_| format!("{key}={v} invalid, '{a}' is not an address"))?;
            let b: IpAddr = b
                .trim()
                .parse()
                .map_err(|_| format!("{key}={v} invalid, '{b}' is not an address"))?;
            if a.is_ipv6() != b.is_ipv6() || a > b {
                return Err(format!("{key}={v} invalid, bad range '{part}'"));
            }
            if a.is_unspecified() {
                return Err(format!(
                    "{key}={v} invalid, address pool {part} starts at address zero"
                ));
            }
            out.push(a.is_ipv6());
        } else {
            let s = Subnet::parse(part).map_err(|e| format!("{key}={v} invalid, {e}"))?;
            if s.addr.is_unspecified() {
                return Err(format!(
                    "{key}={v} invalid, address pool {part} starts at address zero"
                ));
            }
            out.push(s.addr.is_ipv6());
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
                raw.insert(e.kw.name.to_string(), e.value.to_string());
            }
        }
        let host = match ctx.get_end(side, "") {
            Some(e) if !e.value.is_empty() => HostAddr::parse(&e.value)
                .map_err(|m| ctx.bad(e, format!("{side}={} invalid, {m}", e.value)))?,
            _ => HostAddr::Unset,
        };
        let nexthop = ctx
            .string_end(side, "nexthop")
            .map(|(e, v)| {
                HostAddr::parse(v)
                    .map_err(|m| ctx.bad(e, format!("{side}nexthop={v} invalid, {m}")))
            })
            .transpose()?;
        let id = ctx
            .string_end(side, "id")
            .map(|(e, v)| {
                Id::parse(v).map_err(|m| ctx.bad(e, format!("{side}id={v} invalid, {m}")))
            })
            .transpose()?;
        let mut selectors = Vec::new();
        let mut vsubnet = None;
        if let Some(e) = ctx.get_end(side, "subnet") {
            let v = e.value.trim();
            if v.starts_with("vhost:") || v.starts_with("vnet:") {
                check_virtual(v.split_once(':').map_or("", |(_, l)| l), true)
                    .map_err(|m| ctx.bad(e, format!("{side}subnet={v} invalid, {m}")))?;
                vsubnet = Some(v.to_string());
            } else if v.starts_with('%') {
                // %priv / %no and friends only make sense with vhost:/vnet:
                return Err(ctx.bad(
                    e,
                    format!("{side}subnet={v} invalid, %-values need vhost: or vnet:"),
                ));
            } else {
                selectors = parse_selectors(&k("subnet"), v).map_err(|m| ctx.bad(e, m))?;
            }
        }
        let subnets: Vec<Subnet> = selectors.iter().map(|s| s.subnet).collect();
        let subnets_list: Vec<Subnet> = match ctx.get_end(side, "subnets") {
            Some(e) => {
                let v = e.value.trim().trim_start_matches('{').trim_end_matches('}');
                parse_selectors(&k("subnets"), v)
                    .map_err(|m| ctx.bad(e, m))?
                    .into_iter()
                    .map(|s| s.subnet)
                    .collect()
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
        if let Some((e, v)) = ctx.string_end(side, "addresspool") {
            parse_addresspool(&k("addresspool"), v).map_err(|m| ctx.bad(e, m))?;
        }
        let protoport = ctx
            .string_end(side, "protoport")
            .map(|(e, v)| ProtoPort::parse(v).map_err(|m| ctx.bad(e, m)))
            .transpose()?;
        let mut sourceips = Vec::new();
        if let Some((e, v)) = ctx.string_end(side, "sourceip") {
            for s in split_list(v) {
                sourceips.push(s.parse::<IpAddr>().map_err(|_| {
                    ctx.bad(
                        e,
                        format!("{side}sourceip={v} invalid, '{s}' is not an IP address"),
                    )
                })?);
            }
        }
        if let Some((e, v)) = ctx.string_end(side, "sourceip") {
            check_sourceips(&sourceips, &selectors, &subnets_list, &host, side, v)
                .map_err(|m| ctx.bad(e, m))?;
        }
        let interface_ip = ctx
            .string_end(side, "interface-ip")
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
        if let (Some((_, ii)), Some((e, si))) = (
            ctx.string_end(side, "interface-ip"),
            ctx.string_end(side, "sourceip"),
        ) {
            return Err(ctx.bad(
                e,
                format!("cannot specify {side}interface-ip={ii} and {side}sourceip={si}"),
            ));
        }
        let mut pubkey = None;
        for kw in ["rsasigkey", "ecdsakey", "eddsakey", "pubkey"] {
            if let Some((e, v)) = ctx.string_end(side, kw) {
                let p = PubKeySpec::parse(kw, v)
                    .map_err(|m| ctx.bad(e, format!("{side}{kw} invalid, {m}")))?;
                if p.is_some() {
                    pubkey = p;
                }
            }
        }
        let auth = ctx
            .string_end(side, "auth")
            .map(|(e, v)| {
                parse_authby_one(v).map_err(|m| ctx.bad(e, format!("{side}auth={v} invalid, {m}")))
            })
            .transpose()?;
        let ikeport = ctx
            .string_end(side, "ikeport")
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
            .string_end(side, "sendcert")
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
            match ctx.string_end(side, name) {
                None => Ok(false),
                Some((e, v)) => parse_yn(v).ok_or_else(|| {
                    ctx.bad(e, format!("{side}{name}={v} invalid, expecting yes or no"))
                }),
            }
        };
        let s = |name: &str| ctx.string_end(side, name).map(|(_, v)| v.to_string());
        Ok(EndSpec {
            host,
            nexthop,
            id,
            subnets,
            selectors,
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

    /// The address families (bit 1: IPv4, bit 2: IPv6) of the traffic
    /// this end protects, and the key that decides them: subnets, else
    /// `leftsubnets=`, else the address pool, else the host. `None` when
    /// not known yet.
    pub fn client_families(&self) -> Option<(u8, &'static str)> {
        fn mask(it: impl Iterator<Item = bool>) -> u8 {
            it.fold(0, |m, v6| m | if v6 { 2 } else { 1 })
        }
        if !self.subnets.is_empty() {
            return Some((
                mask(self.subnets.iter().map(|s| s.addr.is_ipv6())),
                "subnet",
            ));
        }
        if !self.subnets_list.is_empty() {
            return Some((
                mask(self.subnets_list.iter().map(|s| s.addr.is_ipv6())),
                "subnets",
            ));
        }
        if let Some(pool) = &self.addresspool {
            let fams = parse_addresspool("addresspool", pool).ok()?;
            return Some((mask(fams.into_iter()), "addresspool"));
        }
        if self.modecfgclient || self.vsubnet.is_some() {
            return None;
        }
        self.host.is_v6().map(|f| (mask(std::iter::once(f)), ""))
    }
}

/// Checks a virtual-private list: `%v4:CIDR`, `%v6:CIDR` (a `!` after the
/// colon excludes), and in `leftsubnet=vhost:`/`vnet:` also `%priv`, `%no`.
pub(crate) fn check_virtual(list: &str, in_subnet: bool) -> Result<(), String> {
    if list.trim().is_empty() {
        return Err("empty list".into());
    }
    for item in list.split(',') {
        let item = item.trim();
        if in_subnet && (item == "%priv" || item == "%no" || item == "%all") {
            continue;
        }
        let (fam6, cidr) = if let Some(c) = item.strip_prefix("%v4:") {
            (false, c)
        } else if let Some(c) = item.strip_prefix("%v6:") {
            (true, c)
        } else {
            return Err(format!("'{item}' is not %v4:CIDR or %v6:CIDR"));
        };
        let cidr = cidr.strip_prefix('!').unwrap_or(cidr);
        let s = Subnet::parse(cidr).map_err(|e| format!("'{item}': {e}"))?;
        if s.addr.is_ipv6() != fam6 {
            return Err(format!("'{item}': address family does not match"));
        }
    }
    Ok(())
}

fn check_sourceips(
    ips: &[IpAddr],
    selectors: &[Selector],
    subnets_list: &[Subnet],
    host: &HostAddr,
    side: &str,
    v: &str,
) -> Result<(), String> {
    for fam6 in [false, true] {
        let same: Vec<&IpAddr> = ips.iter().filter(|a| a.is_ipv6() == fam6).collect();
        if let [a, b, ..] = same.as_slice() {
            let f = if fam6 { "IPv6" } else { "IPv4" };
            return Err(format!(
                "{side}sourceip={v} invalid, multiple {f} addresses ({a} and {b}) specified"
            ));
        }
    }
    if !selectors.is_empty() {
        for a in ips {
            if !selectors.iter().any(|s| s.subnet.contains(a)) {
                let subnet: Vec<String> = selectors.iter().map(|s| s.to_string()).collect();
                return Err(format!(
                    "{side}sourceip={v} invalid, address {a} is not within {side}subnet={}",
                    subnet.join(",")
                ));
            }
        }
    } else if subnets_list.is_empty() {
        if let HostAddr::Addr(h) = host {
            for a in ips {
                if a != h {
                    return Err(format!(
                        "{side}sourceip={v} invalid, address {a} does not match {side}={h} and {side}subnet= was not specified"
                    ));
                }
            }
        }
    }
    Ok(())
}
