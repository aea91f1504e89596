//! What Libreswan's default `_updown.xfrm` and its kernel glue do beyond
//! routes and source addresses, per connection: XFRM marks (`mark=`,
//! `mark-in=`, `mark-out=`) on the Child SAs and policies, a VTI device
//! (`vti-interface=`, `vti-routing=`, `vti-shared=`, `leftvti=`,
//! [`crate::vti`]) and NFLOG rules (`nflog-group=` per connection,
//! `nflog-all=` for the daemon, [`crate::nflog`]).
//!
//! The options are checked at `--add`: marks and VTI devices exist only
//! with the XFRM data plane, so with the userspace data plane the
//! connection is refused with a clear error rather than added with the
//! options silently ignored. The VTI device and the NFLOG rules follow
//! the connection's `route`/`up` and `down`/`unroute` when the default
//! updown applies (no `leftupdown=`), as Libreswan's `_updown` does them.

use crate::daemon::Pluto;
use conf::ConnSpec;
use dataplane::{Marks, XfrmMark};
use std::collections::HashMap;
use std::net::IpAddr;

/// The first mark `mark=-1` hands out (Libreswan's global marks start at
/// 1001).
pub const FIRST_UNIQUE_MARK: u32 = 1001;

/// A `mark=` value as written: `VALUE[/MASK]`, VALUE `-1` for a mark
/// unique to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkSpec {
    /// The value; `None` for `-1` (unique, given out at `--add`).
    pub value: Option<u32>,
    /// The mask (`0xffffffff` when left out).
    pub mask: u32,
}

fn parse_u32(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses `mark=`/`mark-in=`/`mark-out=` (`key` names it in errors).
pub fn parse_mark(key: &str, text: &str) -> Result<MarkSpec, String> {
    let (v, m) = match text.trim().split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (text.trim(), None),
    };
    let mask = match m {
        None => u32::MAX,
        Some(m) => parse_u32(m)
            .ok_or_else(|| format!("{key}={text}: mask {m:?} is not a 32-bit number"))?,
    };
    let value = if v.trim() == "-1" {
        None
    } else {
        let v = parse_u32(v).ok_or_else(|| {
            format!("{key}={text}: {v:?} is not a 32-bit number (or -1 for a unique mark)")
        })?;
        if v & !mask != 0 {
            return Err(format!(
                "{key}={text}: the value has bits outside the mask 0x{mask:08x}"
            ));
        }
        Some(v)
    };
    Ok(MarkSpec { value, mask })
}

/// `vti-interface=` and its companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VtiSpec {
    /// The device name.
    pub interface: String,
    /// `vti-routing=yes`: route the peer's subnets into the device.
    pub routing: bool,
    /// `vti-shared=yes`: the device is shared and never deleted.
    pub shared: bool,
    /// This end's `leftvti=` address and prefix, added to the device.
    pub address: Option<(IpAddr, u8)>,
}

/// A connection's kernel extras, resolved at `--add`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnExtras {
    /// Marks of its SAs and policies.
    pub marks: Marks,
    /// Its VTI device.
    pub vti: Option<VtiSpec>,
    /// `nflog-group=` (0: none).
    pub nflog_group: Option<u16>,
}

impl ConnExtras {
    /// Whether the connection asks for something only XFRM has.
    pub fn needs_xfrm(&self) -> bool {
        !self.marks.is_none() || self.vti.is_some()
    }
}

fn raw<'a>(spec: &'a ConnSpec, key: &str) -> Option<&'a str> {
    spec.raw
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn parse_yn(key: &str, v: Option<&str>, default: bool) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("yes" | "y" | "true" | "1") => Ok(true),
        Some("no" | "n" | "false" | "0") => Ok(false),
        Some(other) => Err(format!("{key}={other} invalid, expecting yes or no")),
    }
}

/// A VTI device name the kernel takes (at most 15 bytes, no `/`, no
/// white space, not `.` or `..`).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

fn parse_vti_address(text: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = a
        .trim()
        .parse()
        .map_err(|_| format!("leftvti={text}: {a:?} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("leftvti={text}: {p:?} is not a prefix length"))?,
    };
    Ok((addr, prefix))
}

/// The options of `spec` with this end `left` (or right), before unique
/// marks are given out: `(extras, unique_in, unique_out)`.
pub fn parse(spec: &ConnSpec, this_is_left: bool) -> Result<(ConnExtras, bool, bool), String> {
    let both = raw(spec, "mark")
        .map(|v| parse_mark("mark", v))
        .transpose()?;
    let inbound = match raw(spec, "mark-in") {
        Some(v) => Some(parse_mark("mark-in", v)?),
        None => both,
    };
    let outbound = match raw(spec, "mark-out") {
        Some(v) => Some(parse_mark("mark-out", v)?),
        None => both,
    };
    let fixed = |m: Option<MarkSpec>| {
        m.and_then(|m| {
            m.value.map(|value| XfrmMark {
                value,
                mask: m.mask,
            })
        })
    };
    let unique = |m: Option<MarkSpec>| m.is_some_and(|m| m.value.is_none());
    let marks = Marks {
        inbound: fixed(inbound),
        outbound: fixed(outbound),
    };
    let vti = match raw(spec, "vti-interface") {
        None => None,
        Some(name) => {
            if !valid_ifname(name) {
                return Err(format!(
                    "vti-interface={name}: not a device name (1 to 15 characters, no '/', ':' or spaces)"
                ));
            }
            if inbound.is_none() || outbound.is_none() {
                return Err(format!(
                    "vti-interface={name} needs mark= (or mark-in= and mark-out=): the VTI \
                     device's keys are the marks"
                ));
            }
            let me = if this_is_left {
                &spec.left
            } else {
                &spec.right
            };
            Some(VtiSpec {
                interface: name.to_string(),
                routing: parse_yn("vti-routing", raw(spec, "vti-routing"), true)?,
                shared: parse_yn("vti-shared", raw(spec, "vti-shared"), false)?,
                address: me
                    .vti
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(parse_vti_address)
                    .transpose()?,
            })
        }
    };
    let nflog_group = match raw(spec, "nflog-group") {
        None => None,
        Some(v) => {
            let n: u16 = v
                .parse()
                .map_err(|_| format!("nflog-group={v}: not an NFLOG group (0 to 65535)"))?;
            (n != 0).then_some(n)
        }
    };
    Ok((
        ConnExtras {
            marks,
            vti,
            nflog_group,
        },
        unique(inbound),
        unique(outbound),
    ))
}

/// A mark as Libreswan's updown receives it: `VALUE/0xMASK`.
fn mark_text(m: XfrmMark) -> String {
    format!("{}/{:#010x}", m.value, m.mask)
}

/// The variables Libreswan's pluto gives an updown script for these
/// options: `CONNMARK_IN`, `CONNMARK_OUT` (and `CONNMARK` when both are
/// the same), `VTI_IFACE`, `VTI_ROUTING`, `VTI_SHARED`, `VTI_IP`, `NFLOG`.
pub fn environment(x: &ConnExtras) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let mut put = |k: &str, v: String| env.push((k.to_string(), v));
    if let Some(m) = x.marks.inbound {
        put("CONNMARK_IN", mark_text(m));
    }
    if let Some(m) = x.marks.outbound {
        put("CONNMARK_OUT", mark_text(m));
    }
    if let (Some(i), Some(o)) = (x.marks.inbound, x.marks.outbound) {
        if i == o {
            put("CONNMARK", mark_text(i));
        }
    }
    if let Some(v) = &x.vti {
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        put("VTI_IFACE", v.interface.clone());
        put("VTI_ROUTING", yn(v.routing));
        put("VTI_SHARED", yn(v.shared));
        if let Some((a, p)) = v.address {
            put("VTI_IP", format!("{a}/{p}"));
        }
    }
    if let Some(g) = x.nflog_group {
        put("NFLOG", g.to_string());
    }
    env
}

/// The daemon's state of the extras: each connection's options, unique
/// marks handed out, VTI devices and NFLOG rules ferroswan created.
#[derive(Debug, Default)]
pub struct Extras {
    conns: HashMap<String, ConnExtras>,
    /// Unique marks by connection name (kept across `--replace`).
    unique: HashMap<String, u32>,
    next_unique: u32,
    /// VTI devices ferroswan created, with the connections using each.
    pub vti: crate::vti::VtiDevices,
    /// NFLOG rules ferroswan installed.
    pub nflog: crate::nflog::NflogRules,
}

impl Extras {
    /// The marks of connection `name` (none when it has none).
    pub fn marks(&self, name: &str) -> Marks {
        self.conns.get(name).map(|c| c.marks).unwrap_or_default()
    }

    /// The extras of connection `name`.
    pub fn get(&self, name: &str) -> Option<&ConnExtras> {
        self.conns.get(name)
    }

    /// Resolves `spec`'s options for connection `name`, giving `-1` marks
    /// the connection's unique mark (one per connection, the same in and
    /// out, Libreswan's numbering from 1001).
    pub fn resolve(
        &mut self,
        name: &str,
        spec: &ConnSpec,
        this_is_left: bool,
    ) -> Result<ConnExtras, String> {
        let (mut extras, unique_in, unique_out) = parse(spec, this_is_left)?;
        if unique_in || unique_out {
            let mark = match self.unique.get(name) {
                Some(m) => *m,
                None => {
                    let m = self.next_unique.max(FIRST_UNIQUE_MARK);
                    self.next_unique = m.saturating_add(1);
                    self.unique.insert(name.to_string(), m);
                    m
                }
            };
            let of = |m: Option<MarkSpec>| XfrmMark {
                value: mark & m.map_or(u32::MAX, |m| m.mask),
                mask: m.map_or(u32::MAX, |m| m.mask),
            };
            let (i, o) = parse_masks(spec);
            if unique_in {
                extras.marks.inbound = Some(of(i));
            }
            if unique_out {
                extras.marks.outbound = Some(of(o));
            }
        }
        Ok(extras)
    }

    /// Records connection `name`'s extras (at `--add`/`--replace`).
    pub fn set(&mut self, name: &str, extras: ConnExtras) {
        self.conns.insert(name.to_string(), extras);
    }
}

/// The mark specs in and out (for their masks).
fn parse_masks(spec: &ConnSpec) -> (Option<MarkSpec>, Option<MarkSpec>) {
    let get = |k: &str| raw(spec, k).and_then(|v| parse_mark(k, v).ok());
    let both = get("mark");
    (get("mark-in").or(both), get("mark-out").or(both))
}

impl Pluto {
    /// Whether the data plane is (or will be, once opened) XFRM.
    pub(crate) fn data_plane_is_xfrm(&self) -> bool {
        match &self.wire.backend {
            Some(b) => b.name() == "xfrm",
            None => match self.wire.protostack {
                crate::backend::Protostack::Userspace => false,
                crate::backend::Protostack::Xfrm { explicit: true } => true,
                crate::backend::Protostack::Xfrm { explicit: false } => {
                    dataplane::xfrm::kernel_supports_esp().is_supported()
                }
            },
        }
    }

    /// `config setup nflog-all=N`: the daemon's NFLOG rules, from start-up
    /// until it stops (0: none). With the userspace data plane they match
    /// its TUN device (`ipsec0`).
    pub fn nflog_all(&mut self, value: &str) {
        let group: u16 = match value.trim().parse() {
            Ok(0) => return,
            Ok(g) => g,
            Err(_) => {
                tracing::warn!("config setup nflog-all={value}: not an NFLOG group (0 to 65535)");
                return;
            }
        };
        let tun = (!self.data_plane_is_xfrm()).then_some(crate::backend::USERSPACE_TUN);
        let rules = crate::nflog::all_rules(group, tun);
        match self.wire.extras.nflog.add_all(&rules) {
            Ok(()) => tracing::info!(
                "nflog-all={group}: logging IPsec traffic to NFLOG group {group} (nft table inet {})",
                crate::nflog::ALL_TABLE
            ),
            Err(e) => tracing::warn!("nflog-all={group}: {e}"),
        }
    }

    /// Checks and resolves the extras of a connection being added; the
    /// error is the reason to refuse it.
    pub(crate) fn conn_extras(
        &mut self,
        name: &str,
        spec: &ConnSpec,
        this_is_left: bool,
    ) -> Result<ConnExtras, String> {
        let extras = self.wire.extras.resolve(name, spec, this_is_left)?;
        if extras.needs_xfrm() && !self.data_plane_is_xfrm() {
            return Err(
                "mark=/vti-interface= need protostack=xfrm (this daemon uses the userspace \
                 data plane, which has no XFRM marks or VTI devices)"
                    .into(),
            );
        }
        Ok(extras)
    }

    /// The default updown's share of the extras for `actions`: the VTI
    /// device and its routes at `route`/`up`, NFLOG rules at `route`/`up`;
    /// both go at `down`/`unroute` (the device unless shared).
    pub(crate) fn updown_extras(&mut self, name: &str, actions: &[&str]) {
        let Some(c) = self.db.get(name) else {
            return;
        };
        let me = if c.info.this_is_left {
            &c.spec.left
        } else {
            &c.spec.right
        };
        if !me.updown.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return;
        }
        let Some(extras) = self.wire.extras.get(name).cloned() else {
            return;
        };
        let spec = c.spec.clone();
        let this_is_left = c.info.this_is_left;
        let up = actions.iter().any(|a| matches!(*a, "route" | "up"));
        let down = actions.iter().any(|a| matches!(*a, "down" | "unroute"));
        if let Some(vti) = &extras.vti {
            if up {
                let peer_nets = crate::nflog::subnets_of(&spec, !this_is_left);
                let me_addr = crate::nflog::host_of(&spec, this_is_left);
                let peer_addr = crate::nflog::host_of(&spec, !this_is_left);
                let src = self.sourceip_of(name).map(|(a, _)| a);
                match (me_addr, peer_addr) {
                    (Some(me), Some(peer)) => {
                        if let Err(e) = self.wire.extras.vti.up(
                            name,
                            vti,
                            extras.marks,
                            (me, peer),
                            &peer_nets,
                            src,
                        ) {
                            tracing::warn!("\"{name}\": vti-interface={}: {e}", vti.interface);
                        }
                    }
                    _ => tracing::warn!(
                        "\"{name}\": vti-interface={}: the connection's addresses are not known",
                        vti.interface
                    ),
                }
            } else if down {
                if let Err(e) = self.wire.extras.vti.down(name) {
                    tracing::warn!("\"{name}\": vti-interface={}: {e}", vti.interface);
                }
            }
        }
        if let Some(group) = extras.nflog_group {
            if up {
                let tun = self.wire.backend.as_ref().and_then(|b| b.tun_device());
                let rules = crate::nflog::conn_rules(&spec, this_is_left, group, tun.as_deref());
                if let Err(e) = self.wire.extras.nflog.add_conn(name, &rules) {
                    tracing::warn!("\"{name}\": nflog-group={group}: {e}");
                }
            } else if down {
                if let Err(e) = self.wire.extras.nflog.remove_conn(name) {
                    tracing::warn!("\"{name}\": nflog-group={group}: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(extra: &str) -> ConnSpec {
        let c = conf::Config::parse_str(
            &format!(
                "conn t\n\tleft=192.0.2.1\n\tleftsubnet=10.1.0.0/16\n\tright=192.0.2.2\n\
                 \trightsubnet=10.2.0.0/16\n\tauthby=secret\n{extra}"
            ),
            Path::new("/t/ipsec.conf"),
            &conf::LoadOptions::default(),
        )
        .expect("parses");
        c.conns.first().expect("conn").clone()
    }

    fn m(value: u32, mask: u32) -> Option<XfrmMark> {
        Some(XfrmMark { value, mask })
    }

    #[test]
    fn marks_parse_as_libreswan_writes_them() {
        assert_eq!(
            parse_mark("mark", "20"),
            Ok(MarkSpec {
                value: Some(20),
                mask: u32::MAX
            })
        );
        assert_eq!(
            parse_mark("mark", "0x14/0xff"),
            Ok(MarkSpec {
                value: Some(20),
                mask: 0xff
            })
        );
        assert_eq!(
            parse_mark("mark", "-1/0xffff"),
            Ok(MarkSpec {
                value: None,
                mask: 0xffff
            })
        );
        let e = parse_mark("mark-in", "0x100/0xff").expect_err("outside the mask");
        assert!(e.contains("outside the mask"), "{e}");
        assert!(parse_mark("mark", "twenty").is_err());
        assert!(parse_mark("mark", "20/0x1ffffffff").is_err());
    }

    #[test]
    fn mark_in_and_out_override_mark() {
        let (x, ui, uo) = parse(&spec("\tmark=5\n\tmark-out=21/0xff\n"), true).expect("ok");
        assert_eq!(x.marks.inbound, m(5, u32::MAX));
        assert_eq!(x.marks.outbound, m(21, 0xff));
        assert!(!ui && !uo);
        assert!(x.needs_xfrm());
        let (x, _, _) = parse(&spec(""), true).expect("ok");
        assert!(!x.needs_xfrm());
        assert_eq!(x, ConnExtras::default());
    }

    #[test]
    fn unique_marks_are_per_connection_from_1001() {
        let mut e = Extras::default();
        let s = spec("\tmark=-1\n");
        let a = e.resolve("a", &s, true).expect("a");
        assert_eq!(a.marks.inbound, m(1001, u32::MAX));
        assert_eq!(a.marks.outbound, m(1001, u32::MAX));
        let b = e.resolve("b", &s, true).expect("b");
        assert_eq!(b.marks.inbound, m(1002, u32::MAX));
        // --replace keeps the connection's mark.
        assert_eq!(e.resolve("a", &s, true).expect("a again"), a);
        // Only the unique direction gets it.
        let c = e
            .resolve("c", &spec("\tmark-in=-1\n\tmark-out=7\n"), true)
            .expect("c");
        assert_eq!(c.marks.inbound, m(1003, u32::MAX));
        assert_eq!(c.marks.outbound, m(7, u32::MAX));
    }

    #[test]
    fn vti_needs_marks_and_takes_this_ends_address() {
        let e = parse(&spec("\tvti-interface=vti1\n"), true).expect_err("no marks");
        assert!(e.contains("needs mark="), "{e}");
        let s = spec(
            "\tmark=20\n\tvti-interface=vti1\n\tvti-routing=no\n\tleftvti=10.9.0.1/30\n\
             \trightvti=10.9.0.2/30\n",
        );
        let (x, _, _) = parse(&s, true).expect("ok");
        assert_eq!(
            x.vti,
            Some(VtiSpec {
                interface: "vti1".into(),
                routing: false,
                shared: false,
                address: Some(("10.9.0.1".parse().expect("a"), 30)),
            })
        );
        let (x, _, _) = parse(&s, false).expect("ok");
        assert_eq!(
            x.vti.and_then(|v| v.address),
            Some(("10.9.0.2".parse().expect("a"), 30))
        );
        // vti-routing= is yes unless written (Libreswan's manual).
        let (x, _, _) = parse(&spec("\tmark=20\n\tvti-interface=vti1\n"), true).expect("ok");
        assert_eq!(x.vti.map(|v| (v.routing, v.shared)), Some((true, false)));
        let e = parse(
            &spec("\tmark=20\n\tvti-interface=a-very-long-device-name\n"),
            true,
        )
        .expect_err("too long");
        assert!(e.contains("not a device name"), "{e}");
    }

    #[test]
    fn updown_environment_as_libreswan() {
        let (x, _, _) = parse(
            &spec("\tmark-in=20\n\tmark-out=21/0xff\n\tvti-interface=vti1\n\tleftvti=10.9.0.1/30\n\tnflog-group=4\n"),
            true,
        )
        .expect("ok");
        let env = environment(&x);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CONNMARK_IN"), Some("20/0xffffffff"));
        assert_eq!(get("CONNMARK_OUT"), Some("21/0x000000ff"));
        assert_eq!(get("CONNMARK"), None);
        assert_eq!(get("VTI_IFACE"), Some("vti1"));
        assert_eq!(get("VTI_ROUTING"), Some("yes"));
        assert_eq!(get("VTI_SHARED"), Some("no"));
        assert_eq!(get("VTI_IP"), Some("10.9.0.1/30"));
        assert_eq!(get("NFLOG"), Some("4"));
        assert!(environment(&ConnExtras::default()).is_empty());
    }

    #[test]
    fn nflog_group_zero_is_none() {
        let (x, _, _) = parse(&spec("\tnflog-group=0\n"), true).expect("ok");
        assert_eq!(x.nflog_group, None);
        let (x, _, _) = parse(&spec("\tnflog=5\n"), true).expect("ok");
        assert_eq!(x.nflog_group, Some(5));
        assert!(!x.needs_xfrm(), "NFLOG works with either data plane");
    }
}
