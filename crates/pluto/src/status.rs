//! Status reports, rendered from a read-only view of the daemon's state:
//! Libreswan's text layout and ferroswan's JSON document
//! (schema in `docs/status-json.md`).

use crate::connection::{id_type, ConnInfo, Connection, EndInfo};
use crate::interfaces::InterfaceAddr;
use crate::reply::Replier;
use serde::Serialize;
use std::fmt::Write as _;

/// The JSON schema identifier; bumped on incompatible changes.
pub const JSON_SCHEMA: &str = "ferroswan-status/1";

/// The daemon's settings as status shows them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SetupView {
    /// The configuration file.
    pub configfile: String,
    /// The secrets file.
    pub secretsfile: String,
    /// `ipsecdir`.
    pub ipsecdir: String,
    /// `nssdir`.
    pub nssdir: String,
    /// Run directory.
    pub rundir: String,
    /// Control socket.
    pub ctlsocket: String,
    /// Log file, `None` for stderr.
    pub logfile: Option<String>,
    /// `logtime=`.
    pub logtime: bool,
    /// `logappend=`.
    pub logappend: bool,
    /// `uniqueids=`.
    pub uniqueids: bool,
    /// `listen=`, `None` for every address.
    pub listen: Option<String>,
    /// `protostack=`.
    pub protostack: String,
    /// `plutodebug=`.
    pub plutodebug: String,
}

/// Everything a status report needs, borrowed from the daemon.
pub struct StatusView<'a> {
    /// Settings.
    pub setup: &'a SetupView,
    /// Interface addresses IKE listens on (after `--ready`).
    pub interfaces: &'a [InterfaceAddr],
    /// Connections sorted by name.
    pub conns: Vec<&'a Connection>,
    /// Their marks, VTI devices and NFLOG groups.
    pub extras: &'a crate::connext::Extras,
    /// Daemon's pid.
    pub pid: u32,
    /// IKE and IPsec SAs.
    pub sas: SaView,
}

/// The SAs, as the daemon renders them for status.
#[derive(Clone, Debug, Default)]
pub struct SaView {
    /// The data plane's name (`userspace`), if one runs.
    pub kernel: Option<&'static str>,
    /// Whether the IKE sockets are open.
    pub sockets_open: bool,
    /// IKE SA totals.
    pub ike: IkeSaCounts,
    /// IPsec SA totals.
    pub ipsec: IpsecSaCounts,
    /// `#1: "name":500 STATE_V2_ESTABLISHED_IKE_SA ...` lines, by serial.
    pub state_lines: Vec<String>,
    /// `ipsec trafficstatus` lines.
    pub traffic_lines: Vec<String>,
    /// The JSON `states` array.
    pub states_json: Vec<serde_json::Value>,
    /// Connections with an established Child SA.
    pub active: usize,
}

/// IKE SA counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IkeSaCounts {
    /// All IKE SAs.
    pub total: u64,
    /// Half-open (IKE_SA_INIT sent or received).
    pub half_open: u64,
    /// Open, not yet authenticated.
    pub open: u64,
    /// Authenticated.
    pub authenticated: u64,
    /// Anonymous (AUTH_NULL).
    pub anonymous: u64,
}

/// IPsec SA counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IpsecSaCounts {
    /// All IPsec SAs.
    pub total: u64,
    /// Authenticated.
    pub authenticated: u64,
    /// Anonymous.
    pub anonymous: u64,
}

const BLANK: &str = " ";

fn end_text(end: &EndInfo, this_side: bool) -> String {
    let mut s = String::new();
    let host = match end.ikeport {
        Some(p) if p != 500 => format!("{}:{p}", end.host),
        _ => end.host.clone(),
    };
    let id = match &end.id {
        Some(id) if id != &end.host => format!("[{id}]"),
        _ => String::new(),
    };
    let subnets = end.subnets.join(",");
    if this_side {
        if !subnets.is_empty() {
            let _ = write!(s, "{subnets}===");
        }
        let _ = write!(s, "{host}{id}");
        if let Some(nh) = &end.nexthop {
            let _ = write!(s, "---{nh}");
        }
    } else {
        if let Some(nh) = &end.nexthop {
            let _ = write!(s, "{nh}---");
        }
        let _ = write!(s, "{host}{id}");
        if !subnets.is_empty() {
            let _ = write!(s, "==={subnets}");
        }
    }
    s
}

/// The first line of a connection block, after the name:
/// `10.1.0.0/16===192.0.2.1[@west]...192.0.2.2[@east]===10.2.0.0/16`.
pub fn conn_topology(info: &ConnInfo) -> String {
    format!(
        "{}...{}",
        end_text(&info.this, true),
        end_text(&info.that, false)
    )
}

fn policy(info: &ConnInfo) -> String {
    let mut p = vec![if info.ike_version == 1 {
        "IKEv1"
    } else {
        "IKEv2"
    }];
    p.push(match info.this.auth.as_str() {
        "secret" | "psk" => "PSK",
        "rsasig" | "rsa" => "RSASIG",
        "ecdsa" => "ECDSA",
        "null" => "AUTH_NULL",
        "never" => "AUTH_NEVER",
        _ => "AUTHBY",
    });
    match info.conn_type.as_str() {
        "tunnel" => p.extend(["ENCRYPT", "TUNNEL"]),
        "transport" => p.push("ENCRYPT"),
        "passthrough" | "pass" => p.push("PASS"),
        "drop" => p.push("DROP"),
        "reject" => p.push("REJECT"),
        _ => {}
    }
    if info.pfs {
        p.push("PFS");
    }
    if matches!(
        info.auto.as_str(),
        "route" | "ondemand" | "start" | "up" | "keep"
    ) {
        p.push("UP");
    }
    match info.fragmentation.as_str() {
        "no" => {}
        "force" => p.push("IKE_FRAG_FORCE"),
        _ => p.push("IKE_FRAG_ALLOW"),
    }
    match info.esn.as_str() {
        "yes" => p.push("ESN_YES"),
        "no" => p.push("ESN_NO"),
        _ => p.extend(["ESN_NO", "ESN_YES"]),
    }
    p.join("+")
}

/// Writes one connection block (Libreswan's layout) to `r`.
fn conn_block(
    r: &mut Replier,
    c: &Connection,
    x: Option<&crate::connext::ConnExtras>,
    line: &mut String,
) {
    let i = &c.info;
    let q = format!("\"{}\":", i.name);
    let mut emit = |text: std::fmt::Arguments<'_>| {
        line.clear();
        line.push_str(&q);
        let _ = line.write_fmt(text);
        r.info(&*line);
    };
    emit(format_args!(
        " {}; {}; eroute owner: #{}",
        conn_topology(i),
        c.routing.status_word(),
        if c.routing == crate::connection::Routing::Routed {
            c.newest_ipsec_sa
        } else {
            0
        }
    ));
    emit(format_args!(
        "     {}; my_ip={}; their_ip={}; my_updown={};",
        if i.oriented { "oriented" } else { "unoriented" },
        i.this.sourceip.as_deref().unwrap_or("unset"),
        i.that.sourceip.as_deref().unwrap_or("unset"),
        i.this.updown.as_deref().unwrap_or("ipsec _updown"),
    ));
    emit(format_args!(
        "   xauth us:none, xauth them:none,  my_username=[any]; their_username=[any]"
    ));
    emit(format_args!(
        "   our auth:{}, their auth:{}, our autheap:none, their autheap:none;",
        i.this.auth, i.that.auth
    ));
    emit(format_args!(
        "   modecfg info: us:none, them:none, modecfg policy:push, dns:unset, domains:unset, cat:unset;"
    ));
    emit(format_args!("   sec_label:unset;"));
    let limit = |v: Option<u64>, unit: &str| match v {
        Some(n) => format!("{n}{unit}"),
        None => format!("2^63{unit}"),
    };
    emit(format_args!(
        "   ike_life: {}s; ipsec_life: {}s; ipsec_max_bytes: {}; ipsec_max_packets: {}; replay_window: {}; rekey_margin: {}s; rekey_fuzz: {}%; keyingtries: {};",
        i.ike_life_secs,
        i.ipsec_life_secs,
        limit(i.ipsec_max_bytes, "B"),
        limit(i.ipsec_max_packets, ""),
        i.replay_window,
        i.rekey_margin_secs,
        i.rekey_fuzz_percent,
        i.keyingtries
    ));
    emit(format_args!(
        "   retransmit-interval: {}ms; retransmit-timeout: {}s; iketcp:{}; iketcp-port:{};",
        i.retransmit_interval_ms, i.retransmit_timeout_secs, i.iketcp, i.iketcp_port
    ));
    emit(format_args!("   policy: {};", policy(i)));
    emit(format_args!("   {}", extras_words(x)));
    emit(format_args!(
        "   our idtype: {}; our id={}; their idtype: {}; their id={}",
        id_type(i.this.shown_id()),
        i.this.shown_id(),
        id_type(i.that.shown_id()),
        i.that.shown_id()
    ));
    emit(format_args!(
        "   liveness: {}; dpdaction:{}; dpddelay:{}s; retransmit-timeout:{}s",
        if i.dpd_delay_secs > 0 {
            "active"
        } else {
            "passive"
        },
        i.dpd_action,
        i.dpd_delay_secs,
        i.retransmit_timeout_secs
    ));
    emit(format_args!(
        "   nat-traversal: encaps:{}; keepalive:20s",
        i.encapsulation
    ));
    emit(format_args!(
        "   newest IKE SA: #{}; newest IPsec SA: #{}; conn serial: ${};",
        c.newest_ike_sa, c.newest_ipsec_sa, c.serial
    ));
    if let Some(ike) = &i.ike {
        emit(format_args!("   IKE algorithms: {ike}"));
    }
    if let Some(newest) = &c.newest_ike_algorithms {
        emit(format_args!("   IKEv2 algorithm newest: {newest}"));
    }
    if let Some(esp) = &i.esp {
        emit(format_args!("   ESP algorithms: {esp}"));
    }
    if let Some(newest) = &c.newest_esp_algorithms {
        emit(format_args!("   ESP algorithm newest: {newest}"));
    }
}

/// Libreswan's `nflog-group: ...; mark: ...; vti-iface:...; ...` words of
/// a connection (marks as `IN/MASK, OUT/MASK`).
fn extras_words(x: Option<&crate::connext::ConnExtras>) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let nflog = x
        .and_then(|x| x.nflog_group)
        .map(|g| g.to_string())
        .unwrap_or_else(|| "unset".into());
    let mark = x
        .filter(|x| !x.marks.is_none())
        .map(|x| {
            let m = |m: Option<dataplane::XfrmMark>| {
                let m = m.unwrap_or(dataplane::XfrmMark { value: 0, mask: 0 });
                format!("{}/{:#08x}", m.value, m.mask)
            };
            format!("{}, {}", m(x.marks.inbound), m(x.marks.outbound))
        })
        .unwrap_or_else(|| "unset".into());
    let vti = x.and_then(|x| x.vti.as_ref());
    format!(
        "nflog-group: {nflog}; mark: {mark}; vti-iface:{}; vti-routing:{}; vti-shared:{}; nic-offload:auto;",
        vti.map(|v| v.interface.as_str()).unwrap_or("unset"),
        yes_no(vti.is_some_and(|v| v.routing)),
        yes_no(vti.is_some_and(|v| v.shared)),
    )
}

/// An IKE SA's algorithms as Libreswan's status names them:
/// `ENCR-PRF-KE`, e.g. `AES_GCM_16_256-HMAC_SHA2_384-DH31`.
pub fn ike_suite_words(suite: &ike::engine::IkeSuite) -> String {
    let mut words = format!(
        "{}-{}-{}",
        suite.encr.name(),
        suite.prf.name(),
        ike::engine::proposal::ke_name(suite.ke)
    );
    for g in &suite.addke {
        words.push('+');
        words.push_str(&ike::engine::proposal::ke_name(*g));
    }
    words
}

/// A Child SA's algorithms as Libreswan's status names them:
/// `ENCR-INTEG; pfsgroup=GROUP` (`NONE` for an AEAD's integrity,
/// `<Phase1>` when the Child SA has no key exchange of its own).
pub fn child_suite_words(suite: &ike::engine::ChildSuite) -> String {
    format!(
        "{}; pfsgroup={}",
        suite.describe(),
        suite
            .ke
            .map(ike::engine::proposal::ke_name)
            .unwrap_or_else(|| "<Phase1>".to_string())
    )
}

/// The SA counter lines (`ipsec briefstatus`).
pub fn render_brief(r: &mut Replier, ike: &IkeSaCounts, ipsec: &IpsecSaCounts) {
    r.info("State Information: DDoS cookies not required, Accepting new IKE connections");
    r.info(format!(
        "IKE SAs: total({}), half-open({}), open({}), authenticated({}), anonymous({})",
        ike.total, ike.half_open, ike.open, ike.authenticated, ike.anonymous
    ));
    r.info(format!(
        "IPsec SAs: total({}), authenticated({}), anonymous({})",
        ipsec.total, ipsec.authenticated, ipsec.anonymous
    ));
}

/// The bare shunt list (`ipsec shuntstatus`).
pub fn render_shunts(r: &mut Replier) {
    r.info("Bare Shunt list:");
    r.info(BLANK);
}

/// The full text status, in Libreswan's layout.
pub fn render_text(r: &mut Replier, v: &StatusView<'_>) {
    match v.sas.kernel {
        Some(k) => r.info(format!("using kernel interface: {k}")),
        None => r.info("using kernel interface: none (the data plane opens with the first tunnel)"),
    }
    r.info(BLANK);
    for ifa in v.interfaces {
        let a = match ifa.addr {
            std::net::IpAddr::V4(a) => a.to_string(),
            std::net::IpAddr::V6(a) => format!("[{a}]"),
        };
        r.info(format!("interface {} UDP {a}:4500", ifa.name));
        r.info(format!("interface {} UDP {a}:500", ifa.name));
    }
    if !v.interfaces.is_empty() && !v.sas.sockets_open {
        r.info("(interfaces recorded; the IKE sockets are not open)");
    }
    r.info(BLANK);
    r.info("fips mode=disabled;");
    r.info("SElinux=disabled");
    r.info("seccomp=unsupported");
    r.info(BLANK);
    r.info("config setup options:");
    r.info(BLANK);
    let s = v.setup;
    r.info(format!(
        "configdir=/etc, configfile={}, secrets={}, ipsecdir={}",
        s.configfile, s.secretsfile, s.ipsecdir
    ));
    r.info(format!(
        "nssdir={}, dumpdir={}, statsbin=unset",
        s.nssdir, s.rundir
    ));
    r.info(format!(
        "pluto_version=ferroswan-{}, pid={}, ctlsocket={}",
        env!("CARGO_PKG_VERSION"),
        v.pid,
        s.ctlsocket
    ));
    r.info(format!(
        "uniqueids={}, logfile={}, logtime={}, logappend={}, listen={}, protostack={}",
        yn(s.uniqueids),
        s.logfile.as_deref().unwrap_or("<unset>"),
        yn(s.logtime),
        yn(s.logappend),
        s.listen.as_deref().unwrap_or("<any>"),
        s.protostack
    ));
    r.info(format!("debug: {}", s.plutodebug));
    r.info(BLANK);
    r.info("nat-traversal=yes, keep-alive=20, nat-ikeport=4500");
    r.info(BLANK);
    r.info("Connection list:");
    r.info(BLANK);
    let mut line = String::with_capacity(256);
    for c in &v.conns {
        conn_block(r, c, v.extras.get(&c.info.name), &mut line);
    }
    if !v.conns.is_empty() {
        r.info(BLANK);
    }
    r.info(format!(
        "Total IPsec connections: loaded {}, active {}",
        v.conns.len(),
        v.sas.active
    ));
    r.info(BLANK);
    render_brief(r, &v.sas.ike, &v.sas.ipsec);
    r.info(BLANK);
    for l in &v.sas.state_lines {
        r.info(l);
    }
    if !v.sas.state_lines.is_empty() {
        r.info(BLANK);
    }
    render_shunts(r);
}

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[derive(Serialize)]
struct JsonInterface<'a> {
    name: &'a str,
    address: String,
    ports: [u16; 2],
}

#[derive(Serialize)]
struct JsonConn<'a> {
    name: &'a str,
    origin: &'a str,
    aliases: &'a [String],
    serial: u64,
    ike_version: u8,
    auto: &'a str,
    #[serde(rename = "type")]
    conn_type: &'a str,
    oriented: bool,
    local_is_left: bool,
    routing: crate::connection::Routing,
    topology: String,
    local: &'a EndInfo,
    remote: &'a EndInfo,
    ike: Option<&'a str>,
    esp: Option<&'a str>,
    ike_lifetime_s: u64,
    ipsec_lifetime_s: u64,
    ipsec_max_bytes: Option<u64>,
    ipsec_max_packets: Option<u64>,
    rekey: bool,
    rekey_margin_s: u64,
    rekey_fuzz_percent: u32,
    keyingtries: u64,
    replay_window: u64,
    retransmit_interval_ms: u64,
    retransmit_timeout_s: u64,
    dpd_delay_s: u64,
    dpd_action: &'a str,
    encapsulation: &'a str,
    fragmentation: &'a str,
    pfs: bool,
    esn: &'a str,
    newest_ike_sa: u64,
    newest_ipsec_sa: u64,
}

#[derive(Serialize)]
struct JsonTotals {
    connections_loaded: usize,
    connections_active: usize,
}

#[derive(Serialize)]
struct JsonStatus<'a> {
    schema: &'static str,
    version: &'static str,
    pid: u32,
    kernel_interface: Option<&'static str>,
    interfaces: Vec<JsonInterface<'a>>,
    config: &'a SetupView,
    connections: Vec<JsonConn<'a>>,
    totals: JsonTotals,
    ike_sas: IkeSaCounts,
    ipsec_sas: IpsecSaCounts,
    states: Vec<serde_json::Value>,
    shunts: Vec<serde_json::Value>,
}

/// The status as one JSON document (schema `ferroswan-status/1`).
pub fn render_json(v: &StatusView<'_>) -> Result<String, serde_json::Error> {
    let doc = JsonStatus {
        schema: JSON_SCHEMA,
        version: env!("CARGO_PKG_VERSION"),
        pid: v.pid,
        kernel_interface: v.sas.kernel,
        interfaces: v
            .interfaces
            .iter()
            .map(|i| JsonInterface {
                name: &i.name,
                address: i.addr.to_string(),
                ports: [500, 4500],
            })
            .collect(),
        config: v.setup,
        connections: v
            .conns
            .iter()
            .map(|c| {
                let i = &c.info;
                JsonConn {
                    name: &i.name,
                    origin: &i.origin,
                    aliases: &i.aliases,
                    serial: c.serial,
                    ike_version: i.ike_version,
                    auto: &i.auto,
                    conn_type: &i.conn_type,
                    oriented: i.oriented,
                    local_is_left: i.this_is_left,
                    routing: c.routing,
                    topology: conn_topology(i),
                    local: &i.this,
                    remote: &i.that,
                    ike: i.ike.as_deref(),
                    esp: i.esp.as_deref(),
                    ike_lifetime_s: i.ike_life_secs,
                    ipsec_lifetime_s: i.ipsec_life_secs,
                    ipsec_max_bytes: i.ipsec_max_bytes,
                    ipsec_max_packets: i.ipsec_max_packets,
                    rekey: i.rekey,
                    rekey_margin_s: i.rekey_margin_secs,
                    rekey_fuzz_percent: i.rekey_fuzz_percent,
                    keyingtries: i.keyingtries,
                    replay_window: i.replay_window,
                    retransmit_interval_ms: i.retransmit_interval_ms,
                    retransmit_timeout_s: i.retransmit_timeout_secs,
                    dpd_delay_s: i.dpd_delay_secs,
                    dpd_action: &i.dpd_action,
                    encapsulation: &i.encapsulation,
                    fragmentation: &i.fragmentation,
                    pfs: i.pfs,
                    esn: &i.esn,
                    newest_ike_sa: c.newest_ike_sa,
                    newest_ipsec_sa: c.newest_ipsec_sa,
                }
            })
            .collect(),
        totals: JsonTotals {
            connections_loaded: v.conns.len(),
            connections_active: v.sas.active,
        },
        ike_sas: v.sas.ike.clone(),
        ipsec_sas: v.sas.ipsec.clone(),
        states: v.sas.states_json.clone(),
        shunts: Vec::new(),
    };
    serde_json::to_string_pretty(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_vti_and_nflog_in_libreswan_words() {
        assert_eq!(
            extras_words(None),
            "nflog-group: unset; mark: unset; vti-iface:unset; vti-routing:no; vti-shared:no; nic-offload:auto;"
        );
        let x = crate::connext::ConnExtras {
            marks: dataplane::Marks {
                inbound: Some(dataplane::XfrmMark {
                    value: 20,
                    mask: u32::MAX,
                }),
                outbound: Some(dataplane::XfrmMark {
                    value: 21,
                    mask: 0xff,
                }),
            },
            vti: Some(crate::connext::VtiSpec {
                interface: "vti1".into(),
                routing: true,
                shared: false,
                address: None,
            }),
            nflog_group: Some(4),
        };
        assert_eq!(
            extras_words(Some(&x)),
            "nflog-group: 4; mark: 20/0xffffffff, 21/0x0000ff; vti-iface:vti1; vti-routing:yes; vti-shared:no; nic-offload:auto;"
        );
    }

    #[test]
    fn sa_algorithms_in_libreswan_words() {
        use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg};
        let ike_sa = ike::engine::IkeSuite {
            encr: EncrAlg::AesCbc256,
            prf: PrfAlg::HmacSha2_256,
            integ: Some(IntegAlg::HmacSha2_256_128),
            ke: KeGroup::Modp2048,
            addke: vec![],
        };
        assert_eq!(
            ike_suite_words(&ike_sa),
            "AES_CBC_256-HMAC_SHA2_256-MODP2048"
        );
        let mut child = ike::engine::ChildSuite {
            encr: EncrAlg::AesGcm16_256,
            integ: None,
            ke: None,
            esn: false,
        };
        assert_eq!(
            child_suite_words(&child),
            "AES_GCM_16_256-NONE; pfsgroup=<Phase1>"
        );
        child.ke = Some(KeGroup::Curve25519);
        assert_eq!(
            child_suite_words(&child),
            "AES_GCM_16_256-NONE; pfsgroup=DH31"
        );
    }

    #[test]
    fn topology_line() {
        let mut info = ConnInfo::example("n", "192.0.2.1", "192.0.2.2");
        info.this.id = Some("@west".into());
        info.that.id = Some("@east".into());
        info.this.subnets = vec!["10.1.0.0/16".into()];
        info.that.subnets = vec!["10.2.0.0/16".into()];
        assert_eq!(
            conn_topology(&info),
            "10.1.0.0/16===192.0.2.1[@west]...192.0.2.2[@east]===10.2.0.0/16"
        );
        let plain = ConnInfo::example("p", "192.0.2.1", "192.0.2.2");
        assert_eq!(conn_topology(&plain), "192.0.2.1...192.0.2.2");
        assert_eq!(
            policy(&plain),
            "IKEv2+PSK+ENCRYPT+TUNNEL+PFS+IKE_FRAG_ALLOW+ESN_NO+ESN_YES"
        );
    }
}
