//! A loaded connection: what the daemon keeps about each `conn`.

use serde::Serialize;
use std::sync::Arc;

/// The routing state of a connection (Libreswan's `routing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// No trap policy, no SA.
    Unrouted,
    /// A trap policy is installed (`--route`, `auto=ondemand`).
    Prospective,
    /// An IPsec SA is installed and routed.
    Routed,
}

impl Routing {
    /// The word Libreswan's status prints.
    pub fn status_word(self) -> &'static str {
        match self {
            Routing::Unrouted => "unrouted",
            Routing::Prospective => "prospective erouted",
            Routing::Routed => "erouted",
        }
    }
}

/// One end of a connection, as the status and the list operations show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EndInfo {
    /// The host address (or `%any`, a DNS name, ...).
    pub host: String,
    /// The ID, in Libreswan's spelling; `None` means "the host address".
    pub id: Option<String>,
    /// Protected subnets, empty for host-to-host.
    pub subnets: Vec<String>,
    /// `nexthop=`.
    pub nexthop: Option<String>,
    /// `protoport=`.
    pub protoport: Option<String>,
    /// `sourceip=`.
    pub sourceip: Option<String>,
    /// The authentication method (`secret`, `rsasig`, `null`, ...).
    pub auth: String,
    /// A raw public key given in the configuration (`leftpubkey=`,
    /// `leftrsasigkey=`): its kind (`RSA`, `ECDSA`, `EDDSA`, `PUBKEY`) and
    /// the hex of its first bytes.
    pub pubkey: Option<(String, String)>,
    /// `cert=` nickname.
    pub cert: Option<String>,
    /// `ca=`.
    pub ca: Option<String>,
    /// `updown=`.
    pub updown: Option<String>,
    /// `ikeport=`.
    pub ikeport: Option<u16>,
}

impl EndInfo {
    /// The ID as shown: the explicit ID, else the host address.
    pub fn shown_id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.host)
    }
}

/// Libreswan's ID type name of an ID in Libreswan spelling.
pub fn id_type(id: &str) -> &'static str {
    if id.starts_with('@') {
        if id.starts_with("@#") {
            "ID_KEY_ID"
        } else {
            "ID_FQDN"
        }
    } else if id.contains('@') {
        "ID_USER_FQDN"
    } else if id.parse::<std::net::Ipv4Addr>().is_ok() {
        "ID_IPV4_ADDR"
    } else if id.parse::<std::net::Ipv6Addr>().is_ok() {
        "ID_IPV6_ADDR"
    } else if id.contains('=') {
        "ID_DER_ASN1_DN"
    } else if id == "%any" || id.is_empty() {
        "ID_NONE"
    } else if id == "%null" {
        "ID_NULL"
    } else {
        "ID_FQDN"
    }
}

/// What the daemon knows of a connection, oriented: `this` is the local end
/// when the connection could be oriented, else `left`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnInfo {
    /// The connection's name.
    pub name: String,
    /// `connalias=` names.
    pub aliases: Vec<String>,
    /// Where the connection was defined (`FILE:LINE`).
    pub origin: String,
    /// IKE version (1 or 2).
    pub ike_version: u8,
    /// `auto=` as written (`add`, `ondemand`, `start`, ...).
    pub auto: String,
    /// `type=` (`tunnel`, `transport`, `passthrough`, `drop`, `reject`).
    pub conn_type: String,
    /// Whether one end was recognised as this host.
    pub oriented: bool,
    /// Whether `this` is the `left` end of the configuration.
    pub this_is_left: bool,
    /// The local end (or left, when not oriented).
    pub this: EndInfo,
    /// The remote end (or right, when not oriented).
    pub that: EndInfo,
    /// `ike=` proposals as written, `None` for the defaults.
    pub ike: Option<String>,
    /// `esp=` proposals as written, `None` for the defaults.
    pub esp: Option<String>,
    /// IKE SA lifetime, seconds.
    pub ike_life_secs: u64,
    /// IPsec SA lifetime, seconds.
    pub ipsec_life_secs: u64,
    /// IPsec SA byte limit (`None`: Libreswan's 2^63).
    pub ipsec_max_bytes: Option<u64>,
    /// IPsec SA packet limit (`None`: Libreswan's 2^63).
    pub ipsec_max_packets: Option<u64>,
    /// Rekey margin, seconds.
    pub rekey_margin_secs: u64,
    /// Rekey fuzz, percent.
    pub rekey_fuzz_percent: u32,
    /// Whether the connection rekeys.
    pub rekey: bool,
    /// `keyingtries=` (0 = forever).
    pub keyingtries: u64,
    /// Replay window, packets.
    pub replay_window: u64,
    /// Retransmit interval, milliseconds.
    pub retransmit_interval_ms: u64,
    /// Retransmit timeout, seconds.
    pub retransmit_timeout_secs: u64,
    /// `enable-tcp=` (`no`, `yes`, `fallback`).
    pub iketcp: String,
    /// `tcp-remoteport=` (4500).
    pub iketcp_port: u16,
    /// DPD delay, seconds (0 = off).
    pub dpd_delay_secs: u64,
    /// DPD action.
    pub dpd_action: String,
    /// `encapsulation=`.
    pub encapsulation: String,
    /// `fragmentation=`.
    pub fragmentation: String,
    /// `pfs=`.
    pub pfs: bool,
    /// `esn=`.
    pub esn: String,
}

impl ConnInfo {
    /// A minimal IKEv2 PSK tunnel between two hosts, for tests and benchmarks.
    pub fn example(name: &str, left: &str, right: &str) -> ConnInfo {
        let end = |host: &str| EndInfo {
            host: host.to_string(),
            auth: "secret".into(),
            ..EndInfo::default()
        };
        ConnInfo {
            name: name.to_string(),
            aliases: Vec::new(),
            origin: "<example>".into(),
            ike_version: 2,
            auto: "add".into(),
            conn_type: "tunnel".into(),
            oriented: false,
            this_is_left: true,
            this: end(left),
            that: end(right),
            ike: None,
            esp: None,
            ike_life_secs: 28800,
            ipsec_life_secs: 28800,
            ipsec_max_bytes: None,
            ipsec_max_packets: None,
            rekey_margin_secs: 540,
            rekey_fuzz_percent: 100,
            rekey: true,
            keyingtries: 0,
            replay_window: 128,
            retransmit_interval_ms: 500,
            retransmit_timeout_secs: 60,
            iketcp: "no".into(),
            iketcp_port: 4500,
            dpd_delay_secs: 0,
            dpd_action: "hold".into(),
            encapsulation: "auto".into(),
            fragmentation: "yes".into(),
            pfs: true,
            esn: "either".into(),
        }
    }
}

/// A connection in the database.
#[derive(Clone, Debug)]
pub struct Connection {
    /// What is shown and checked.
    pub info: ConnInfo,
    /// The typed specification from the configuration, for the IKE engine.
    pub spec: Arc<conf::ConnSpec>,
    /// Serial number, Libreswan's `$N`: grows with every add.
    pub serial: u64,
    /// Routing state.
    pub routing: Routing,
    /// Newest IKE SA serial (`#0` = none).
    pub newest_ike_sa: u64,
    /// Newest IPsec SA serial (`#0` = none).
    pub newest_ipsec_sa: u64,
    /// The newest IKE SA's algorithms in Libreswan's words
    /// (`AES_GCM_16_256-HMAC_SHA2_384-DH31`), while it exists.
    pub newest_ike_algorithms: Option<String>,
    /// The newest IPsec SA's algorithms in Libreswan's words
    /// (`AES_GCM_16_256-NONE; pfsgroup=<Phase1>`), while it exists.
    pub newest_esp_algorithms: Option<String>,
}
