//! The resolved, typed connection (`ConnSpec`) and its orientation.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::addr::{HostAddr, Id};
pub use crate::end::{EndSpec, PubKeySpec, SendCert};
use crate::error::{ConfError, Diagnostic};
use crate::parser::Entry;
pub use crate::policy::{
    parse_authby_one, AuthBy, Auto, ConnType, DpdAction, Encapsulation, Esn, Fragmentation,
    IkeVersion, Shunt, SigHash,
};
use crate::proposal::{self, EspProposals, IkeProposals};
use crate::resolve::Resolved;
use crate::values::{parse_bytes, parse_duration, parse_percent, parse_unsigned, parse_yn};
use crate::LoadOptions;

/// Which end of a connection is this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// `left` is this host.
    LeftIsLocal,
    /// `right` is this host.
    RightIsLocal,
}

/// A connection with `%default` and `also=` applied and every value typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSpec {
    /// The conn's name.
    pub name: String,
    /// `connalias=` names.
    pub aliases: Vec<String>,
    /// File of the `conn` line.
    pub file: PathBuf,
    /// Line of the `conn` line.
    pub line: u32,
    /// `auto=`.
    pub auto: Auto,
    /// `type=`.
    pub conn_type: ConnType,
    /// `keyexchange=` / `ikev2=`.
    pub ike_version: IkeVersion,
    /// `authby=`.
    pub authby: Vec<AuthBy>,
    /// The left end.
    pub left: EndSpec,
    /// The right end.
    pub right: EndSpec,
    /// `ike=` (None: the daemon's defaults).
    pub ike: Option<IkeProposals>,
    /// `esp=` / `phase2alg=`.
    pub esp: Option<EspProposals>,
    /// `ah=`.
    pub ah: Option<EspProposals>,
    /// `ikelifetime=`.
    pub ikelifetime: Duration,
    /// `ipsec-lifetime=` (`salifetime=`, `keylife=`, `lifetime=`).
    pub salifetime: Duration,
    /// `rekeymargin=`.
    pub rekeymargin: Duration,
    /// `rekeyfuzz=` in percent.
    pub rekeyfuzz_percent: u32,
    /// `rekey=`.
    pub rekey: bool,
    /// `reauth=`.
    pub reauth: bool,
    /// `dpddelay=` (None: no liveness checks).
    pub dpddelay: Option<Duration>,
    /// `ikev1-dpdtimeout=` / `dpdtimeout=`.
    pub dpdtimeout: Option<Duration>,
    /// What to do when the peer is dead (derived; `dpdaction=` is obsolete).
    pub dpdaction: DpdAction,
    /// `retransmit-interval=`.
    pub retransmit_interval: Duration,
    /// `retransmit-timeout=`.
    pub retransmit_timeout: Duration,
    /// `keyingtries=` (0: forever).
    pub keyingtries: u32,
    /// `encapsulation=`.
    pub encapsulation: Encapsulation,
    /// `nat-keepalive=`.
    pub nat_keepalive: bool,
    /// `fragmentation=`.
    pub fragmentation: Fragmentation,
    /// `esn=`.
    pub esn: Esn,
    /// `pfs=`.
    pub pfs: bool,
    /// `compress=`.
    pub compress: bool,
    /// `replay-window=`.
    pub replay_window: u32,
    /// `failureshunt=`.
    pub failureshunt: Shunt,
    /// `negotiationshunt=`.
    pub negotiationshunt: Shunt,
    /// `mark=`.
    pub mark: Option<String>,
    /// `narrowing=`.
    pub narrowing: bool,
    /// `mobike=`.
    pub mobike: bool,
    /// `ipsec-max-bytes=`.
    pub ipsec_max_bytes: Option<u64>,
    /// `ipsec-max-packets=`.
    pub ipsec_max_packets: Option<u64>,
    /// `ppk=` as written (`no` by default).
    pub ppk: String,
    /// `ipsec-interface=`.
    pub ipsec_interface: Option<String>,
    /// `intermediate=`: use IKE_INTERMEDIATE.
    pub intermediate: bool,
    /// `initial-contact=`: send INITIAL_CONTACT.
    pub initial_contact: bool,
    /// `send-vendorid=`.
    pub send_vendorid: bool,
    /// `require-id-on-certificate=`.
    pub require_id_on_certificate: bool,
    /// `sec-label=` (labeled IPsec).
    pub sec_label: Option<String>,
    /// `enable-tcp=`: `no`, `yes` or `fallback` (RFC 8229).
    pub enable_tcp: String,
    /// `tcp-remoteport=`.
    pub tcp_remoteport: Option<u16>,
    /// `sendca=`: `none`, `issuer` or `all`.
    pub sendca: String,
    /// `nic-offload=`: `no`, `yes`, `crypto` or `packet`.
    pub nic_offload: String,
    /// `reqid=`.
    pub reqid: Option<u32>,
    /// `priority=` (0: computed from the selectors).
    pub priority: u32,
    /// `mtu=`.
    pub mtu: Option<u32>,
    /// `metric=` of the routes.
    pub metric: u32,
    /// Every key as written after resolution (canonical spelling), for
    /// status and `--showonly`.
    pub raw: BTreeMap<String, String>,
}

/// Typed access to a resolved conn, with errors at the entry's file:line.
pub(crate) struct Ctx<'a> {
    pub r: &'a Resolved,
}

impl<'a> Ctx<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Entry> {
        self.r.get(key)
    }

    /// The entry of a per-end key (`side` + `name`) without allocating.
    pub fn get_end(&self, side: &str, name: &str) -> Option<&'a Entry> {
        let mut buf = [0u8; 64];
        let (a, b) = (side.as_bytes(), name.as_bytes());
        let n = a.len() + b.len();
        let dst = buf.get_mut(..n)?;
        let (d1, d2) = dst.split_at_mut(a.len());
        d1.copy_from_slice(a);
        d2.copy_from_slice(b);
        let key = std::str::from_utf8(dst).ok()?;
        self.r.get(key)
    }

    /// A non-empty per-end value.
    pub fn string_end(&self, side: &str, name: &str) -> Option<(&'a Entry, &'a str)> {
        self.get_end(side, name)
            .filter(|e| !e.value.trim().is_empty())
            .map(|e| (e, e.value.trim()))
    }

    /// A non-empty value (an empty `KEY=` counts as unset).
    pub fn string(&self, key: &str) -> Option<(&'a Entry, &'a str)> {
        self.r
            .get(key)
            .filter(|e| !e.value.trim().is_empty())
            .map(|e| (e, e.value.trim()))
    }

    pub fn bad(&self, e: &Entry, msg: impl Into<String>) -> ConfError {
        ConfError::BadValue(Diagnostic::new(
            e.file.to_path_buf(),
            e.line,
            format!("conn '{}': {}", self.r.name, msg.into()),
        ))
    }

    pub fn conn_err(&self, msg: impl Into<String>) -> ConfError {
        ConfError::Conn(
            self.r
                .diag(format!("conn '{}': {}", self.r.name, msg.into())),
        )
    }

    fn yn(&self, key: &str, default: bool) -> Result<bool, ConfError> {
        match self.string(key) {
            None => Ok(default),
            Some((e, v)) => parse_yn(v)
                .ok_or_else(|| self.bad(e, format!("{key}={v} invalid, expecting yes or no"))),
        }
    }

    fn secs(&self, key: &str, default: Duration, ms: bool) -> Result<Duration, ConfError> {
        Ok(self.opt_secs(key, ms)?.unwrap_or(default))
    }

    fn opt_secs(&self, key: &str, ms: bool) -> Result<Option<Duration>, ConfError> {
        match self.string(key) {
            None => Ok(None),
            Some((e, v)) => parse_duration(v, ms)
                .map(Some)
                .map_err(|m| self.bad(e, format!("\"{key}={v}\" invalid, {m}"))),
        }
    }

    fn unsigned(&self, key: &str, default: u64) -> Result<u64, ConfError> {
        match self.string(key) {
            None => Ok(default),
            Some((e, v)) => {
                parse_unsigned(v).map_err(|m| self.bad(e, format!("{key}={v} invalid, {m}")))
            }
        }
    }

    fn named<T>(
        &self,
        key: &str,
        default: T,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfError> {
        match self.string(key) {
            None => Ok(default),
            Some((e, v)) => f(v).ok_or_else(|| self.bad(e, format!("{key}={v} invalid"))),
        }
    }
}

fn lower_or(ctx: &Ctx<'_>, key: &str, default: &str) -> String {
    ctx.string(key)
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_else(|| default.to_string())
}

fn u32_of(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl ConnSpec {
    /// Types a resolved conn. Errors name the file and line of the value.
    pub fn from_resolved(
        r: &Resolved,
        opts: &LoadOptions,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<ConnSpec, ConfError> {
        let _ = opts;
        let ctx = Ctx { r };
        let raw: BTreeMap<String, String> = r
            .values
            .iter()
            .map(|(k, e)| (k.to_string(), e.value.to_string()))
            .collect();

        let auto = ctx.named("auto", Auto::Ignore, Auto::from_name)?;
        let conn_type = ctx.named("type", ConnType::Tunnel, ConnType::from_name)?;
        let ike_version = {
            let kx = ctx
                .string("keyexchange")
                .map(|(e, v)| (e, v.to_ascii_lowercase()));
            match kx.as_ref().map(|(e, v)| (e, v.as_str())) {
                Some((_, "ikev1")) => IkeVersion::V1,
                Some((_, "ikev2")) => IkeVersion::V2,
                Some((_, "ike")) | None => {
                    match ctx.string("ikev2").map(|(_, v)| v.to_ascii_lowercase()) {
                        Some(v) if matches!(v.as_str(), "no" | "never" | "n" | "false" | "off") => {
                            IkeVersion::V1
                        }
                        _ => IkeVersion::V2,
                    }
                }
                Some((e, v)) => return Err(ctx.bad(e, format!("keyexchange={v} invalid"))),
            }
        };
        let never_negotiate = matches!(
            conn_type,
            ConnType::Passthrough | ConnType::Drop | ConnType::Reject
        );

        let authby = match ctx.string("authby") {
            None => vec![AuthBy::Rsa(SigHash::Any), AuthBy::Ecdsa(SigHash::Any)],
            Some((e, v)) => {
                let mut out = Vec::new();
                for word in v.split([',', ' ']).filter(|s| !s.is_empty()) {
                    let a = parse_authby_one(word)
                        .map_err(|m| ctx.bad(e, format!("authby={v} invalid, {m}")))?;
                    // IKEv1 knows only secret, rsasig and never
                    if ike_version == IkeVersion::V1
                        && !matches!(a, AuthBy::Psk | AuthBy::Rsa(SigHash::Any) | AuthBy::Never)
                    {
                        return Err(ctx.bad(e, format!("authby={word} is not valid for IKEv1")));
                    }
                    out.push(a);
                }
                out
            }
        };

        let left = EndSpec::from_ctx(&ctx, "left")?;
        let right = EndSpec::from_ctx(&ctx, "right")?;

        // %fromcert needs certificates
        let psk_or_null = authby
            .iter()
            .all(|a| matches!(a, AuthBy::Psk | AuthBy::Null));
        if ctx.string("authby").is_some() && psk_or_null {
            for (side, end) in [("left", &left), ("right", &right)] {
                if end.id == Some(Id::FromCert) && end.auth.is_none() {
                    let msg = "ID cannot be specified as %fromcert if PSK or AUTH-NULL is used";
                    return Err(match ctx.get(&format!("{side}id")) {
                        Some(e) => ctx.bad(e, msg),
                        None => ctx.conn_err(msg),
                    });
                }
            }
        }

        for (side, end) in [("left", &left), ("right", &right)] {
            let Some(pool) = &end.addresspool else {
                continue;
            };
            if !end.subnets.is_empty() {
                return Err(ctx.conn_err(format!(
                    "cannot specify both {side}addresspool= and {side}subnet="
                )));
            }
            if !end.subnets_list.is_empty() {
                return Err(ctx.conn_err(format!(
                    "cannot specify both {side}addresspool= and {side}subnets="
                )));
            }
            if ctx.string("narrowing").and_then(|(_, v)| parse_yn(v)) == Some(false) {
                return Err(ctx.conn_err(format!(
                    "narrowing=no conflicts with {side}addresspool={pool}"
                )));
            }
        }
        check_families(&ctx, &left, &right)?;

        let ike = ctx
            .string("ike")
            .map(|(e, v)| {
                proposal::parse_ike(v).map_err(|m| ctx.bad(e, format!("ike=\"{v}\" invalid, {m}")))
            })
            .transpose()?;
        let esp = ctx
            .string("esp")
            .or_else(|| ctx.string("phase2alg"))
            .map(|(e, v)| {
                proposal::parse_esp(v)
                    .map_err(|m| ctx.bad(e, format!("{}=\"{v}\" invalid, {m}", e.key())))
            })
            .transpose()?;
        let ah = ctx
            .string("ah")
            .map(|(e, v)| {
                proposal::parse_ah(v).map_err(|m| ctx.bad(e, format!("ah=\"{v}\" invalid, {m}")))
            })
            .transpose()?;
        let phase2 = ctx.string("phase2").map(|(_, v)| v.to_ascii_lowercase());
        if !never_negotiate {
            match (&esp, &ah, phase2.as_deref()) {
                (Some(_), Some(_), _) => {
                    return Err(ctx.conn_err(format!(
                        "esp=\"{}\" conflicts with ah=\"{}\"",
                        raw.get("esp").cloned().unwrap_or_default(),
                        raw.get("ah").cloned().unwrap_or_default()
                    )))
                }
                (Some(_), None, Some("ah")) => {
                    return Err(ctx.conn_err(format!(
                        "phase2=ah conflicts with esp=\"{}\"",
                        raw.get("esp").cloned().unwrap_or_default()
                    )))
                }
                (None, Some(_), Some("esp")) => {
                    return Err(ctx.conn_err(format!(
                        "phase2=esp conflicts with ah=\"{}\"",
                        raw.get("ah").cloned().unwrap_or_default()
                    )))
                }
                _ => {}
            }
        }

        if ike_version == IkeVersion::V1 && ctx.string("sec-label").is_some() {
            return Err(ctx.conn_err("IKEv1 does not support Labeled IPsec"));
        }

        let iptfs = ctx.yn("iptfs", false)?;
        if iptfs && !never_negotiate {
            if conn_type == ConnType::Transport {
                return Err(ctx.conn_err("IPTFS is not compatible with type=transport, either omit option or specify type=tunnel"));
            }
            if ike_version == IkeVersion::V1 {
                return Err(ctx.conn_err("IPTFS is not compatible with keyexchange=IKEv1, either omit option or specify keyexchange=IKEv2"));
            }
        }

        let rekeyfuzz_percent = match ctx.string("rekeyfuzz") {
            None => 100,
            Some((e, v)) => {
                parse_percent(v).map_err(|m| ctx.bad(e, format!("\"rekeyfuzz={v}\" {m}")))?
            }
        };
        let bytes = |key: &str| -> Result<Option<u64>, ConfError> {
            ctx.string(key)
                .map(|(e, v)| {
                    parse_bytes(v).map_err(|m| ctx.bad(e, format!("{key}={v} invalid, {m}")))
                })
                .transpose()
        };
        let dpddelay = ctx.opt_secs("dpddelay", false)?.filter(|d| !d.is_zero());
        let dpdtimeout = ctx.opt_secs("dpdtimeout", false)?.filter(|d| !d.is_zero());
        if ike_version == IkeVersion::V2 && dpdtimeout.is_some() {
            warnings.push(r.diag(format!(
                "conn '{}': IKEv2 ignores dpdtimeout=; use dpddelay= and retransmit-timeout=",
                r.name
            )));
        }
        let dpdaction = match auto {
            Auto::Up | Auto::Start | Auto::Keep => DpdAction::Restart,
            Auto::Ondemand | Auto::Route => DpdAction::Hold,
            _ => DpdAction::Clear,
        };
        // keyingtries= is obsolete in Libreswan 5: connections retry forever
        let keyingtries = 0;
        for key in ["iptfs-packet-size", "iptfs-max-queue-size"] {
            bytes(key)?;
        }
        for key in [
            "metric",
            "mtu",
            "priority",
            "tfc",
            "reqid",
            "nflog-group",
            "tcp-remoteport",
            "iptfs-reorder-window",
        ] {
            ctx.unsigned(key, 0)?;
        }
        for key in ["iptfs-init-delay", "iptfs-drop-time"] {
            ctx.opt_secs(key, false)?;
        }
        // the remaining yes/no keys are checked so a typo is reported
        for key in [
            "intermediate",
            "decap-dscp",
            "encap-dscp",
            "nopmtudisc",
            "pam-authorize",
            "accept-redirect",
            "session-resumption",
            "initial-contact",
            "send-esp-tfc-padding-not-supported",
            "iptfs-fragmentation",
            "fake-strongswan",
            "send-vendorid",
            "send-supported-auth-methods",
            "reject-simultaneous-ike-auth",
            "sha2-truncbug",
            "share-lease",
            "ms-dh-downgrade",
            "pfs-rekey-workaround",
            "require-id-on-certificate",
            "dns-match-id",
            "nm-configured",
            "cisco-unity",
            "cisco-split",
            "modecfgpull",
            "ignore-peer-dns",
            "vti-routing",
            "vti-shared",
            "overlapip",
            "aggressive",
        ] {
            ctx.yn(key, false)?;
        }
        for (key, values) in [
            (
                "ppk",
                &[
                    "never", "no", "permit", "propose", "yes", "insist", "always",
                ][..],
            ),
            ("send-redirect", &["yes", "no", "auto"][..]),
            ("ikepad", &["yes", "no", "auto"][..]),
            ("nat-ikev1-method", &["drafts", "rfc", "both", "none"][..]),
            ("xauthby", &["file", "pam", "alwaysok"][..]),
            ("xauthfail", &["hard", "soft"][..]),
            ("nic-offload", &["no", "yes", "crypto", "packet"][..]),
            ("enable-tcp", &["no", "yes", "fallback"][..]),
            ("sendca", &["none", "issuer", "all"][..]),
            ("phase2", &["esp", "ah", "default"][..]),
            ("remote-peer-type", &["cisco", "ietf"][..]),
            ("hostaddrfamily", &["ipv4", "ipv6", "4", "6"][..]),
        ] {
            ctx.named(key, (), |v| {
                values
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(v))
                    .then_some(())
            })?;
        }

        // ESN: either by default; never without a replay window (RFC 4303)
        let replay_window = u32_of(ctx.unsigned("replay-window", 128)?);
        let esn = match (
            ctx.named("esn", None, |v| Esn::from_name(v).map(Some))?,
            replay_window,
        ) {
            (Some(Esn::Yes | Esn::Either), 0) => {
                warnings.push(r.diag(format!(
                    "conn '{}': forcing esn=no as replay-window=0",
                    r.name
                )));
                Esn::No
            }
            (_, 0) => Esn::No,
            (Some(e), _) => e,
            (None, _) => Esn::Either,
        };

        // IKEv2 narrows by default when an end hands out addresses
        let narrowing = ctx.yn(
            "narrowing",
            ike_version == IkeVersion::V2
                && (left.addresspool.is_some() || right.addresspool.is_some()),
        )?;

        Ok(ConnSpec {
            name: r.name.clone(),
            aliases: ctx
                .string("connalias")
                .map(|(_, v)| {
                    v.split([',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            file: r.file.to_path_buf(),
            line: r.line,
            auto,
            conn_type,
            ike_version,
            authby,
            left,
            right,
            ike,
            esp,
            ah,
            ikelifetime: ctx.secs("ikelifetime", Duration::from_secs(8 * 3600), false)?,
            salifetime: ctx.secs("ipsec-lifetime", Duration::from_secs(8 * 3600), false)?,
            rekeymargin: ctx.secs("rekeymargin", Duration::from_secs(9 * 60), false)?,
            rekeyfuzz_percent,
            rekey: ctx.yn("rekey", true)?,
            reauth: ctx.yn("reauth", false)?,
            dpddelay,
            dpdtimeout,
            dpdaction,
            retransmit_interval: ctx.secs(
                "retransmit-interval",
                Duration::from_millis(500),
                true,
            )?,
            retransmit_timeout: ctx.secs("retransmit-timeout", Duration::from_secs(30), false)?,
            keyingtries,
            encapsulation: ctx.named(
                "encapsulation",
                Encapsulation::Auto,
                Encapsulation::from_name,
            )?,
            nat_keepalive: ctx.yn("nat-keepalive", true)?,
            fragmentation: ctx.named(
                "fragmentation",
                Fragmentation::Yes,
                Fragmentation::from_name,
            )?,
            esn,
            pfs: ctx.yn("pfs", true)?,
            compress: ctx.yn("compress", false)?,
            replay_window,
            failureshunt: ctx.named("failureshunt", Shunt::None, Shunt::from_name)?,
            negotiationshunt: ctx.named("negotiationshunt", Shunt::Drop, Shunt::from_name)?,
            mark: ctx.string("mark").map(|(_, v)| v.to_string()),
            narrowing,
            mobike: ctx.yn("mobike", false)?,
            ipsec_max_bytes: bytes("ipsec-max-bytes")?,
            ipsec_max_packets: bytes("ipsec-max-packets")?,
            ppk: ctx
                .string("ppk")
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_else(|| "no".into()),
            ipsec_interface: ctx.string("ipsec-interface").map(|(_, v)| v.to_string()),
            intermediate: ctx.yn("intermediate", false)?,
            initial_contact: ctx.yn("initial-contact", false)?,
            send_vendorid: ctx.yn("send-vendorid", false)?,
            require_id_on_certificate: ctx.yn("require-id-on-certificate", true)?,
            sec_label: ctx.string("sec-label").map(|(_, v)| v.to_string()),
            enable_tcp: lower_or(&ctx, "enable-tcp", "no"),
            tcp_remoteport: match ctx.string("tcp-remoteport") {
                None => None,
                Some((e, v)) => Some(v.parse::<u16>().map_err(|_| {
                    ctx.bad(e, format!("tcp-remoteport={v} invalid, expecting a port"))
                })?),
            },
            sendca: lower_or(&ctx, "sendca", "all"),
            nic_offload: lower_or(&ctx, "nic-offload", "no"),
            reqid: ctx
                .string("reqid")
                .map(|_| ctx.unsigned("reqid", 0))
                .transpose()?
                .map(u32_of),
            priority: u32_of(ctx.unsigned("priority", 0)?),
            mtu: ctx
                .string("mtu")
                .map(|_| ctx.unsigned("mtu", 0))
                .transpose()?
                .map(u32_of),
            metric: u32_of(ctx.unsigned("metric", 1)?),
            raw,
        })
    }

    /// The checks Libreswan makes when a connection is added that do not
    /// depend on this host's addresses: both hosts set, `%IFACE` names an
    /// existing interface, not `%any` on both sides.
    pub fn check_add(&self) -> Result<(), ConfError> {
        let diag = |m: String| {
            ConfError::Conn(Diagnostic::new(
                self.file.clone(),
                self.line,
                format!("conn '{}': {m}", self.name),
            ))
        };
        for (side, end) in [("left", &self.left), ("right", &self.right)] {
            match &end.host {
                HostAddr::Unset => return Err(diag(format!("{side}= is not set"))),
                HostAddr::Interface(i) if !Path::new("/sys/class/net").join(i).exists() => {
                    return Err(diag(format!(
                        "{side}=%{i} does not appear to be an interface"
                    )));
                }
                _ => {}
            }
        }
        let anyish = |h: &HostAddr| matches!(h, HostAddr::Any | HostAddr::Any6);
        if anyish(&self.left.host) && anyish(&self.right.host) {
            return Err(diag(format!(
                "neither 'left={}' nor 'right={}' specify the local host's IP address",
                self.left.host, self.right.host
            )));
        }
        Ok(())
    }

    /// Decides which end is this host, as Libreswan does: an end whose
    /// address is one of `local_addrs` is local; failing that, a
    /// `%defaultroute` end facing a remote end is local.
    pub fn orient(&self, local_addrs: &[IpAddr]) -> Result<Orientation, ConfError> {
        self.check_add()?;
        let o = self.orient_only(local_addrs)?;
        let (local, remote) = self.ends(o);
        let (ls, rs) = match o {
            Orientation::LeftIsLocal => ("left", "right"),
            Orientation::RightIsLocal => ("right", "left"),
        };
        if local.addresspool.is_some() {
            let msg = if remote.cat {
                Some(format!("both {rs}cat=yes and {ls}addresspool= defined"))
            } else if remote.modecfgclient {
                Some(format!(
                    "{rs}modecfgclient=yes does not expect {ls}addresspool="
                ))
            } else if local.modecfgserver {
                Some(format!(
                    "{ls}modecfgserver=yes does not expect {ls}addresspool="
                ))
            } else {
                None
            };
            if let Some(m) = msg {
                return Err(ConfError::Conn(Diagnostic::new(
                    self.file.clone(),
                    self.line,
                    format!("conn '{}': {m}", self.name),
                )));
            }
        }
        Ok(o)
    }

    fn orient_only(&self, local_addrs: &[IpAddr]) -> Result<Orientation, ConfError> {
        let is_local = |h: &HostAddr| matches!(h, HostAddr::Addr(a) if local_addrs.contains(a));
        let l = is_local(&self.left.host);
        let r = is_local(&self.right.host);
        let diag = |m: String| {
            ConfError::Conn(Diagnostic::new(
                self.file.clone(),
                self.line,
                format!("conn '{}': {m}", self.name),
            ))
        };
        match (l, r) {
            (true, true) => Err(diag(format!(
                "both left={} and right={} are addresses of this host",
                self.left.host, self.right.host
            ))),
            (true, false) => Ok(Orientation::LeftIsLocal),
            (false, true) => Ok(Orientation::RightIsLocal),
            (false, false) => {
                let dr = |h: &HostAddr| {
                    matches!(
                        h,
                        HostAddr::DefaultRoute
                            | HostAddr::DefaultRoute4
                            | HostAddr::DefaultRoute6
                            | HostAddr::Interface(_)
                    )
                };
                let anyish = |h: &HostAddr| {
                    matches!(
                        h,
                        HostAddr::Any
                            | HostAddr::Any6
                            | HostAddr::Opportunistic
                            | HostAddr::Group(_)
                    )
                };
                if dr(&self.left.host) {
                    Ok(Orientation::LeftIsLocal)
                } else if dr(&self.right.host) {
                    Ok(Orientation::RightIsLocal)
                } else if anyish(&self.left.host) && anyish(&self.right.host) {
                    Err(diag(format!(
                        "neither 'left={}' nor 'right={}' specify the local host's IP address",
                        self.left.host, self.right.host
                    )))
                } else {
                    Err(ConfError::Unoriented(Diagnostic::new(
                        self.file.clone(),
                        self.line,
                        format!(
                            "conn '{}': neither left={} nor right={} match an interface",
                            self.name, self.left.host, self.right.host
                        ),
                    )))
                }
            }
        }
    }

    /// The local and remote ends for an orientation.
    pub fn ends(&self, o: Orientation) -> (&EndSpec, &EndSpec) {
        match o {
            Orientation::LeftIsLocal => (&self.left, &self.right),
            Orientation::RightIsLocal => (&self.right, &self.left),
        }
    }
}

fn family_name(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// Host and client address families must agree (Libreswan's checks).
fn check_families(ctx: &Ctx<'_>, left: &EndSpec, right: &EndSpec) -> Result<(), ConfError> {
    if let (Some(l), Some(r)) = (left.host.is_v6(), right.host.is_v6()) {
        if l != r {
            return Err(ctx.conn_err(format!(
                "host address family {} from left={} conflicts with right={}",
                family_name(l),
                left.host,
                right.host
            )));
        }
    }
    let (Some((lf, lk)), Some((rf, rk))) = (left.client_families(), right.client_families()) else {
        return Ok(());
    };
    if lf == rf {
        return Ok(());
    }
    let show = |side: &str, key: &str| -> String {
        let full = format!("{side}{key}");
        let v = ctx
            .r
            .get(&full)
            .map(|e| e.value.clone())
            .unwrap_or_default();
        format!("{full}={v}")
    };
    // name the subnet-like key first, as Libreswan does
    let (a, b) = if lk.is_empty() && !rk.is_empty() {
        (show("right", rk), show("left", lk))
    } else {
        (show("left", lk), show("right", rk))
    };
    Err(ctx.conn_err(format!("address family of {a} conflicts with {b}")))
}
