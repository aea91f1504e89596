//! The keyword table of Libreswan 5: every `config setup` and `conn`
//! keyword, its value type, its default, its aliases and the obsolete
//! spellings that are accepted with a warning.

/// Which section a keyword belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `config setup`.
    Setup,
    /// `conn NAME` and `conn %default`.
    Conn,
}

/// The type of a keyword's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (paths, names, addresses checked later).
    Str,
    /// The yes/no family (`yes`, `no`, `y`, `n`, `true`, `false`, `on`, `off`).
    YesNo,
    /// One of a fixed set of names.
    Enum(&'static [&'static str]),
    /// A duration; a bare number is seconds (`s`, `m`, `h`, `d`, `w`, `ms`, `us`).
    Seconds,
    /// A duration; a bare number is milliseconds.
    Millis,
    /// An unsigned number.
    Unsigned,
    /// A byte count with optional binary suffix (KiB .. EiB).
    Bytes,
    /// A percentage (`100%`).
    Percent,
    /// `also=`: names of other conns.
    Also,
    /// A list that accumulates every value given (`leftsubnets=`, `connalias=`).
    AppendList,
    /// An IKE or ESP/AH proposal list.
    Proposal,
}

/// Whether a keyword is current, an alias of another, or obsolete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A current keyword.
    Current,
    /// An alias; the value is stored under the named canonical keyword.
    Alias(&'static str),
    /// Accepted with a warning and ignored.
    Obsolete,
}

/// One keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    /// Name as written (per-end keywords without `left`/`right`; the host
    /// keyword itself is the empty name).
    pub name: &'static str,
    /// The section it is valid in.
    pub section: Section,
    /// Whether it needs a `left`/`right` prefix.
    pub per_end: bool,
    /// Value type.
    pub kind: Kind,
    /// Libreswan's default, if it has one worth stating.
    pub default: Option<&'static str>,
    /// Current, alias or obsolete.
    pub status: Status,
}

const YN: Kind = Kind::YesNo;
const S: Kind = Kind::Str;

const fn c(name: &'static str, kind: Kind, default: Option<&'static str>) -> Keyword {
    Keyword {
        name,
        section: Section::Conn,
        per_end: false,
        kind,
        default,
        status: Status::Current,
    }
}
const fn e(name: &'static str, kind: Kind, default: Option<&'static str>) -> Keyword {
    Keyword {
        name,
        section: Section::Conn,
        per_end: true,
        kind,
        default,
        status: Status::Current,
    }
}
const fn s(name: &'static str, kind: Kind, default: Option<&'static str>) -> Keyword {
    Keyword {
        name,
        section: Section::Setup,
        per_end: false,
        kind,
        default,
        status: Status::Current,
    }
}
const fn alias(
    name: &'static str,
    section: Section,
    per_end: bool,
    kind: Kind,
    of: &'static str,
) -> Keyword {
    Keyword {
        name,
        section,
        per_end,
        kind,
        default: None,
        status: Status::Alias(of),
    }
}
const fn obsolete(name: &'static str, section: Section) -> Keyword {
    Keyword {
        name,
        section,
        per_end: false,
        kind: Kind::Str,
        default: None,
        status: Status::Obsolete,
    }
}

/// Values of `auto=`.
pub const AUTO: &[&str] = &["ignore", "add", "ondemand", "route", "up", "start", "keep"];
/// Values of `type=`.
pub const TYPE: &[&str] = &[
    "tunnel",
    "transport",
    "passthrough",
    "pass",
    "drop",
    "reject",
];
const YNE: &[&str] = &["yes", "no", "either"];
const YNF: &[&str] = &["yes", "no", "force", "never", "insist"];
const YNA: &[&str] = &["yes", "no", "auto"];
const SHUNT_FAIL: &[&str] = &["none", "passthrough", "pass", "drop", "reject", "hold"];
const SHUNT_NEG: &[&str] = &["hold", "drop", "passthrough", "pass"];
const PHASE2: &[&str] = &["esp", "ah", "default"];
const PPK: &[&str] = &[
    "never", "no", "permit", "propose", "yes", "insist", "always",
];
const TCP: &[&str] = &["no", "yes", "fallback"];
const NIC: &[&str] = &["no", "yes", "crypto", "packet"];
const XAUTHBY: &[&str] = &["file", "pam", "alwaysok"];
const XAUTHFAIL: &[&str] = &["hard", "soft"];
const NATV1: &[&str] = &["drafts", "rfc", "both", "none"];
const OCSP_METHOD: &[&str] = &["get", "post"];
const IKEV1_POLICY: &[&str] = &["accept", "reject", "drop"];
const DDOS: &[&str] = &["auto", "busy", "unlimited"];
const SECCOMP: &[&str] = &["enabled", "disabled", "tolerant"];
const REDIRECT: &[&str] = &["yes", "no", "auto"];

use Section::{Conn as C, Setup as SE};

/// Every keyword ferroswan knows, `conn` then `config setup`.
pub static KEYWORDS: &[Keyword] = &[
    // ---- per-end conn keywords (left*/right*) ----
    e("", S, None),
    e("subnet", S, None),
    e("subnets", Kind::AppendList, None),
    e("sourceip", S, None),
    e("ikeport", Kind::Unsigned, Some("500")),
    e("interface-ip", S, None),
    e("vti", S, None),
    e("nexthop", S, None),
    e("updown", S, Some("ipsec _updown")),
    e("updown-config", S, None),
    e("id", S, None),
    e("rsasigkey", S, None),
    e("ecdsakey", S, None),
    e("eddsakey", S, None),
    e("pubkey", S, None),
    e("cert", S, None),
    e("ckaid", S, None),
    e(
        "sendcert",
        Kind::Enum(&[
            "always",
            "sendifasked",
            "ifasked",
            "never",
            "no",
            "yes",
            "alwayssend",
            "forcedsend",
            "neversend",
        ]),
        Some("sendifasked"),
    ),
    e("ca", S, None),
    e("xauthserver", YN, Some("no")),
    e("xauthclient", YN, Some("no")),
    e("modecfgserver", YN, Some("no")),
    e("modecfgclient", YN, Some("no")),
    e("username", S, None),
    e("addresspool", S, None),
    e("auth", S, None),
    e("cat", YN, Some("no")),
    e("protoport", S, None),
    e("autheap", Kind::Enum(&["none", "tls"]), Some("none")),
    e("groundhog", YN, Some("no")),
    alias("xauthusername", C, true, S, "username"),
    // ---- conn keywords ----
    c("debug", S, None),
    c("auto", Kind::Enum(AUTO), Some("ignore")),
    c("also", Kind::Also, None),
    c(
        "hostaddrfamily",
        Kind::Enum(&["ipv4", "ipv6", "4", "6"]),
        None,
    ),
    c("type", Kind::Enum(TYPE), Some("tunnel")),
    c("authby", S, Some("rsasig,ecdsa")),
    c(
        "keyexchange",
        Kind::Enum(&["ikev2", "ikev1", "ike"]),
        Some("ikev2"),
    ),
    c(
        "ikev2",
        Kind::Enum(&[
            "yes", "no", "never", "permit", "propose", "insist", "always", "y", "n", "true",
            "false", "on", "off",
        ]),
        None,
    ),
    c("ppk", Kind::Enum(PPK), Some("no")),
    c("ppk-ids", S, None),
    c("intermediate", YN, Some("no")),
    c("esn", Kind::Enum(YNE), Some("either")),
    c("decap-dscp", YN, Some("no")),
    c("encap-dscp", YN, Some("yes")),
    c("nopmtudisc", YN, Some("no")),
    c("fragmentation", Kind::Enum(YNF), Some("yes")),
    c("mobike", YN, Some("no")),
    c("narrowing", YN, Some("no")),
    c("pam-authorize", YN, Some("no")),
    c("send-redirect", Kind::Enum(YNA), Some("auto")),
    c("redirect-to", S, None),
    c("accept-redirect", YN, Some("no")),
    c("accept-redirect-to", S, None),
    c("pfs", YN, Some("yes")),
    c("session-resumption", YN, Some("no")),
    c("nat-keepalive", YN, Some("yes")),
    c("initial-contact", YN, Some("no")),
    c("send-esp-tfc-padding-not-supported", YN, Some("no")),
    c("iptfs", YN, Some("no")),
    c("iptfs-fragmentation", YN, Some("yes")),
    c("iptfs-packet-size", Kind::Bytes, Some("0")),
    c("iptfs-max-queue-size", Kind::Bytes, Some("10485760")),
    c("iptfs-reorder-window", Kind::Unsigned, Some("3")),
    c("iptfs-init-delay", Kind::Seconds, Some("0s")),
    c("iptfs-drop-time", Kind::Seconds, Some("1s")),
    c("fake-strongswan", YN, Some("no")),
    c("send-vendorid", YN, Some("no")),
    c("send-supported-auth-methods", YN, Some("no")),
    c("reject-simultaneous-ike-auth", YN, Some("no")),
    c("sha2-truncbug", YN, Some("no")),
    c("share-lease", YN, Some("yes")),
    c("ms-dh-downgrade", YN, Some("no")),
    c("pfs-rekey-workaround", YN, Some("no")),
    c("require-id-on-certificate", YN, Some("yes")),
    c("dns-match-id", YN, Some("no")),
    c("ipsec-max-bytes", Kind::Bytes, None),
    c("ipsec-max-packets", Kind::Bytes, None),
    c("ipsec-lifetime", Kind::Seconds, Some("8h")),
    c("retransmit-timeout", Kind::Seconds, Some("30s")),
    c("retransmit-interval", Kind::Millis, Some("500ms")),
    c("ikepad", Kind::Enum(YNA), Some("auto")),
    c("nat-ikev1-method", Kind::Enum(NATV1), Some("both")),
    c("sec-label", S, None),
    c("remote-peer-type", Kind::Enum(&["cisco", "ietf"]), None),
    c("nm-configured", YN, Some("no")),
    c("cisco-unity", YN, Some("no")),
    c("cisco-split", YN, Some("no")),
    c("xauthby", Kind::Enum(XAUTHBY), Some("file")),
    c("xauthfail", Kind::Enum(XAUTHFAIL), Some("hard")),
    c("modecfgpull", YN, Some("no")),
    c("modecfgdns", S, None),
    c("modecfgdomains", S, None),
    c("modecfgbanner", S, None),
    c("ignore-peer-dns", YN, Some("no")),
    c("mark", S, None),
    c("mark-in", S, None),
    c("mark-out", S, None),
    c("vti-interface", S, None),
    c("vti-routing", YN, Some("no")),
    c("vti-shared", YN, Some("no")),
    c("ipsec-interface", S, None),
    c("clones", S, None),
    c("nic-offload", Kind::Enum(NIC), Some("no")),
    c("encapsulation", Kind::Enum(YNA), Some("auto")),
    c("overlapip", YN, Some("no")),
    c("reauth", YN, Some("no")),
    c("rekey", YN, Some("yes")),
    c("rekeymargin", Kind::Seconds, Some("9m")),
    c("rekeyfuzz", Kind::Percent, Some("100%")),
    c("replay-window", Kind::Unsigned, Some("128")),
    c("ikelifetime", Kind::Seconds, Some("8h")),
    c("failureshunt", Kind::Enum(SHUNT_FAIL), Some("none")),
    c("negotiationshunt", Kind::Enum(SHUNT_NEG), Some("drop")),
    c("enable-tcp", Kind::Enum(TCP), Some("no")),
    c("tcp-remoteport", Kind::Unsigned, None),
    c("connalias", Kind::AppendList, None),
    c("ike", Kind::Proposal, None),
    c("esp", Kind::Proposal, None),
    c("ah", Kind::Proposal, None),
    c("phase2", Kind::Enum(PHASE2), Some("esp")),
    c("compress", YN, Some("no")),
    c("metric", Kind::Unsigned, Some("1")),
    c("dpddelay", Kind::Seconds, None),
    c("dpdtimeout", Kind::Seconds, None),
    c("phase2alg", Kind::Proposal, None),
    c(
        "sendca",
        Kind::Enum(&["none", "issuer", "all"]),
        Some("all"),
    ),
    c("mtu", Kind::Unsigned, None),
    c("priority", Kind::Unsigned, Some("0")),
    c("tfc", Kind::Unsigned, None),
    c("reqid", Kind::Unsigned, None),
    c("nflog-group", Kind::Unsigned, None),
    c("aggressive", YN, Some("no")),
    // conn aliases
    alias("aggrmode", C, false, YN, "aggressive"),
    alias("keylife", C, false, Kind::Seconds, "ipsec-lifetime"),
    alias("lifetime", C, false, Kind::Seconds, "ipsec-lifetime"),
    alias("salifetime", C, false, Kind::Seconds, "ipsec-lifetime"),
    alias("ikev1-dpdtimeout", C, false, Kind::Seconds, "dpdtimeout"),
    alias("nflog", C, false, Kind::Unsigned, "nflog-group"),
    alias("policy-label", C, false, S, "sec-label"),
    alias(
        "remote_peer_type",
        C,
        false,
        Kind::Enum(&["cisco", "ietf"]),
        "remote-peer-type",
    ),
    alias(
        "send-no-esp-tfc",
        C,
        false,
        YN,
        "send-esp-tfc-padding-not-supported",
    ),
    // obsolete conn keywords
    obsolete("dpdaction", C),
    obsolete("keyingtries", C),
    obsolete("clientaddrfamily", C),
    obsolete("initial_contact", C),
    obsolete("modecfgwins1", C),
    obsolete("modecfgwins2", C),
    obsolete("forceencaps", C),
    obsolete("ikev1-natt", C),
    obsolete("nat-ikev1", C),
    obsolete("sareftrack", C),
    obsolete("loopback", C),
    obsolete("labeled-ipsec", C),
    obsolete("manualkey", C),
    obsolete("spibase", C),
    obsolete("spi", C),
    obsolete("esp-spi", C),
    obsolete("pfsgroup", C),
    obsolete("failurehunt", C),
    // ---- config setup ----
    s("ikev1-policy", Kind::Enum(IKEV1_POLICY), Some("drop")),
    s("curl-iface", S, None),
    s("myvendorid", S, None),
    s("plutodebug", S, None),
    s("logfile", S, None),
    s("loglimit", YN, Some("yes")),
    s("logtime", YN, Some("yes")),
    s("logappend", YN, Some("yes")),
    s("logip", YN, Some("yes")),
    s("audit-log", YN, Some("yes")),
    s("dnssec-enable", YN, Some("yes")),
    s("dnssec-rootkey-file", S, Some("/var/lib/unbound/root.key")),
    s("dnssec-anchors", S, None),
    s("dumpdir", S, Some("/run/pluto")),
    s("ipsecdir", S, Some("/etc/ipsec.d")),
    s("nssdir", S, Some("/var/lib/ipsec/nss")),
    s("rundir", S, Some("/run/pluto")),
    s("exampledir", S, None),
    s("seeddev", S, Some("/dev/random")),
    s("logstderr", YN, None),
    s("secretsfile", S, Some("/etc/ipsec.secrets")),
    s("statsbin", S, None),
    s("uniqueids", YN, Some("yes")),
    s("shuntlifetime", Kind::Seconds, Some("15m")),
    s("global-redirect", Kind::Enum(REDIRECT), Some("no")),
    s("global-redirect-to", S, None),
    s("crl-strict", YN, Some("no")),
    s("crlcheckinterval", Kind::Seconds, Some("0s")),
    s("crl-timeout", Kind::Seconds, Some("5s")),
    s("ocsp-strict", YN, Some("no")),
    s("ocsp-enable", YN, Some("no")),
    s("ocsp-uri", S, None),
    s("ocsp-timeout", Kind::Seconds, Some("2s")),
    s("ocsp-trustname", S, None),
    s("ocsp-cache-size", Kind::Unsigned, Some("1000")),
    s("ocsp-cache-min-age", Kind::Seconds, Some("1h")),
    s("ocsp-cache-max-age", Kind::Seconds, Some("1d")),
    s("ocsp-method", Kind::Enum(OCSP_METHOD), Some("get")),
    s("seccomp", Kind::Enum(SECCOMP), Some("disabled")),
    s("ddos-mode", Kind::Enum(DDOS), Some("auto")),
    s("ddos-ike-threshold", Kind::Unsigned, Some("25000")),
    s("max-halfopen-ike", Kind::Unsigned, Some("50000")),
    s("ike-socket-bufsize", Kind::Unsigned, None),
    s("ike-socket-errqueue", YN, Some("yes")),
    s("expire-lifetime", Kind::Seconds, Some("30s")),
    s("virtual-private", S, None),
    s("seedbits", Kind::Unsigned, None),
    s("keep-alive", Kind::Seconds, Some("20s")),
    s("listen-tcp", YN, Some("no")),
    s("listen-udp", YN, Some("yes")),
    s("listen", S, None),
    s(
        "protostack",
        Kind::Enum(&[
            "xfrm",
            "netkey",
            "native",
            "pfkeyv2",
            "bsd",
            "kame",
            "userspace",
        ]),
        Some("xfrm"),
    ),
    s("nhelpers", S, Some("-1")),
    s("drop-oppo-null", YN, Some("no")),
    s("expire-shunt-interval", Kind::Seconds, Some("20s")),
    s("dns-resolver", S, Some("file")),
    s("ipsec-interface-managed", YN, Some("yes")),
    s("nflog-all", Kind::Unsigned, None),
    // setup aliases
    alias("curl-timeout", SE, false, Kind::Seconds, "crl-timeout"),
    alias("xfrmlifetime", SE, false, Kind::Seconds, "expire-lifetime"),
    alias("strictcrlpolicy", SE, false, YN, "crl-strict"),
    // obsolete setup keywords
    obsolete("syslog", SE),
    obsolete("plutostderrlog", SE),
    obsolete("virtual_private", SE),
    obsolete("interfaces", SE),
    obsolete("ikev1-secctx-attr-type", SE),
    obsolete("secctx-attr-type", SE),
    obsolete("klipsdebug", SE),
    obsolete("plutorestartoncrash", SE),
    obsolete("plutofork", SE),
    obsolete("force_busy", SE),
    obsolete("force-busy", SE),
    obsolete("oe", SE),
    obsolete("nat_traversal", SE),
    obsolete("keep_alive", SE),
    obsolete("disable_port_floating", SE),
    obsolete("forwardcontrol", SE),
    obsolete("rp_filter", SE),
    obsolete("overridemtu", SE),
    obsolete("hidetos", SE),
    obsolete("fragicmp", SE),
    obsolete("perpeerlog", SE),
    obsolete("perpeerlogdir", SE),
    obsolete("plutostderrlogtime", SE),
    obsolete("ikeport", SE),
    obsolete("nat-ikeport", SE),
    obsolete("ikev1-socket-errqueue", SE),
    obsolete("ike-socket-bufsize-ikev1", SE),
];

/// How a key in a file names a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyEnd {
    /// Not per-end.
    None,
    /// `left...`.
    Left,
    /// `right...`.
    Right,
}

/// The outcome of looking a key up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A known keyword (already mapped from an alias to its canonical name).
    Known {
        /// The canonical keyword.
        kw: &'static Keyword,
        /// Which end, for per-end keywords.
        end: KeyEnd,
        /// Whether the key was written as an alias.
        via_alias: bool,
    },
    /// An obsolete keyword: warn and ignore.
    Obsolete(&'static Keyword),
    /// `x-`/`x_` keys: comments in Libreswan's sense; warn and ignore.
    XComment,
    /// A per-end keyword without `left`/`right`.
    NeedsPrefix(&'static Keyword),
    /// Not a keyword.
    Unknown,
}

type Index = std::collections::HashMap<(bool, bool, &'static str), &'static Keyword>;

fn index() -> &'static Index {
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m = Index::new();
        for k in KEYWORDS {
            // the first entry of a name wins (no name is listed twice)
            m.entry((k.section == Section::Setup, k.per_end, k.name))
                .or_insert(k);
        }
        m
    })
}

fn find(name: &str, section: Section, per_end: bool) -> Option<&'static Keyword> {
    lookup_index(name, section == Section::Setup, per_end)
}

fn lookup_index(name: &str, setup: bool, per_end: bool) -> Option<&'static Keyword> {
    // HashMap<(bool, bool, &'static str)> cannot be queried with a
    // shorter-lived &str directly; find the static name first
    static NAMES: std::sync::OnceLock<std::collections::HashMap<&'static str, ()>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| KEYWORDS.iter().map(|k| (k.name, ())).collect());
    let (stat, ()) = names.get_key_value(name)?;
    index().get(&(setup, per_end, *stat)).copied()
}

/// The canonical keyword named `name` (after alias resolution).
pub fn canonical(name: &str, section: Section, per_end: bool) -> Option<&'static Keyword> {
    let k = find(name, section, per_end)?;
    match k.status {
        Status::Alias(of) => find(of, section, per_end),
        _ => Some(k),
    }
}

fn known(k: &'static Keyword, end: KeyEnd) -> Lookup {
    match k.status {
        Status::Current => Lookup::Known {
            kw: k,
            end,
            via_alias: false,
        },
        Status::Alias(of) => match find(of, k.section, k.per_end) {
            Some(kw) => Lookup::Known {
                kw,
                end,
                via_alias: true,
            },
            None => Lookup::Unknown,
        },
        Status::Obsolete => Lookup::Obsolete(k),
    }
}

/// Looks a key up the way Libreswan does: case-insensitive, `leftX`,
/// `left-X`, `rightX`, `right-X`; `x-`/`x_` keys are comments.
pub fn lookup(key: &str, section: Section) -> Lookup {
    let key = key.to_ascii_lowercase();
    if key.starts_with("x-") || key.starts_with("x_") {
        return Lookup::XComment;
    }
    if let Some(k) = find(&key, section, false) {
        return known(k, KeyEnd::None);
    }
    if section == Section::Conn {
        for (prefix, end) in [("left", KeyEnd::Left), ("right", KeyEnd::Right)] {
            if let Some(rest) = key.strip_prefix(prefix) {
                let rest = rest.strip_prefix('-').unwrap_or(rest);
                if let Some(k) = find(rest, section, true) {
                    return known(k, end);
                }
            }
        }
        if let Some(k) = find(&key, section, true) {
            if !key.is_empty() {
                return Lookup::NeedsPrefix(k);
            }
        }
    }
    Lookup::Unknown
}

/// The canonical spelling of a key: `leftsubnet`, `ikelifetime`.
pub fn key_name(kw: &Keyword, end: KeyEnd) -> String {
    match end {
        KeyEnd::None => kw.name.to_string(),
        KeyEnd::Left => format!("left{}", kw.name),
        KeyEnd::Right => format!("right{}", kw.name),
    }
}

/// Number of current (non-alias, non-obsolete) keywords: (conn, of which per-end, setup).
pub fn counts() -> (usize, usize, usize) {
    let cur = |k: &&Keyword| k.status == Status::Current;
    let conn = KEYWORDS
        .iter()
        .filter(cur)
        .filter(|k| k.section == Section::Conn)
        .count();
    let ends = KEYWORDS
        .iter()
        .filter(cur)
        .filter(|k| k.section == Section::Conn && k.per_end)
        .count();
    let setup = KEYWORDS
        .iter()
        .filter(cur)
        .filter(|k| k.section == Section::Setup)
        .count();
    (conn, ends, setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_per_end_keywords() {
        for k in ["leftsubnet", "left-subnet", "LeftSubnet", "LEFT-SUBNET"] {
            match lookup(k, Section::Conn) {
                Lookup::Known { kw, end, .. } => {
                    assert_eq!(kw.name, "subnet");
                    assert_eq!(end, KeyEnd::Left);
                }
                other => panic!("{k}: {other:?}"),
            }
        }
        assert!(matches!(
            lookup("right", Section::Conn),
            Lookup::Known {
                end: KeyEnd::Right,
                ..
            }
        ));
        assert!(matches!(
            lookup("subnet", Section::Conn),
            Lookup::NeedsPrefix(_)
        ));
        assert!(matches!(lookup("x-foo", Section::Conn), Lookup::XComment));
        assert!(matches!(lookup("X_foo", Section::Setup), Lookup::XComment));
        assert!(matches!(lookup("unknown", Section::Conn), Lookup::Unknown));
        assert!(matches!(lookup("leftauto", Section::Conn), Lookup::Unknown));
        assert!(matches!(lookup("logfile", Section::Conn), Lookup::Unknown));
    }

    #[test]
    fn aliases_map_to_canonical() {
        match lookup("salifetime", Section::Conn) {
            Lookup::Known { kw, via_alias, .. } => {
                assert_eq!(kw.name, "ipsec-lifetime");
                assert!(via_alias);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lookup("dpdaction", Section::Conn),
            Lookup::Obsolete(_)
        ));
        assert!(matches!(
            lookup("virtual_private", Section::Setup),
            Lookup::Obsolete(_)
        ));
    }

    #[test]
    fn table_sizes_are_libreswan_sized() {
        let (conn, ends, setup) = counts();
        assert_eq!(conn, 132, "conn keywords");
        assert_eq!(ends, 30);
        assert_eq!(setup, 58, "setup keywords");
        // every alias points at a real keyword
        for k in KEYWORDS {
            if let Status::Alias(of) = k.status {
                assert!(canonical(of, k.section, k.per_end).is_some(), "{}", k.name);
            }
        }
    }
}
