//! The `config setup` section.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ConfError, Diagnostic};
use crate::keywords::Kind;
use crate::parser::{Entry, RawConfig, SectionKind};
use crate::values::{parse_bytes, parse_duration, parse_unsigned, parse_yn};

/// `protostack=`: the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protostack {
    /// The Linux kernel's XFRM (also `netkey`, `native`).
    #[default]
    Xfrm,
    /// BSD PF_KEY v2 (`pfkeyv2`, `bsd`, `kame`).
    Pfkeyv2,
    /// ferroswan's userspace data plane.
    Userspace,
}

impl fmt::Display for Protostack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protostack::Xfrm => "xfrm",
            Protostack::Pfkeyv2 => "pfkeyv2",
            Protostack::Userspace => "userspace",
        })
    }
}

/// `config setup`, typed. Unset paths are `None` (the daemon's defaults apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupConfig {
    /// `protostack=`.
    pub protostack: Protostack,
    /// `listen=`: the only address to listen on.
    pub listen: Option<IpAddr>,
    /// `listen-udp=`.
    pub listen_udp: bool,
    /// `listen-tcp=`.
    pub listen_tcp: bool,
    /// `logfile=`.
    pub logfile: Option<PathBuf>,
    /// `logtime=`.
    pub logtime: bool,
    /// `logappend=`.
    pub logappend: bool,
    /// `logip=`.
    pub logip: bool,
    /// `plutodebug=` as a list of names.
    pub plutodebug: Vec<String>,
    /// `uniqueids=`.
    pub uniqueids: bool,
    /// `nssdir=`.
    pub nssdir: Option<PathBuf>,
    /// `ipsecdir=`.
    pub ipsecdir: Option<PathBuf>,
    /// `secretsfile=`.
    pub secretsfile: Option<PathBuf>,
    /// `dumpdir=`.
    pub dumpdir: Option<PathBuf>,
    /// `rundir=`.
    pub rundir: Option<PathBuf>,
    /// `ikev1-policy=` (`drop` by default).
    pub ikev1_policy: String,
    /// `crl-strict=`.
    pub crl_strict: bool,
    /// `crlcheckinterval=` (zero: never).
    pub crlcheckinterval: Duration,
    /// `crl-timeout=`.
    pub crl_timeout: Duration,
    /// `ocsp-enable=`.
    pub ocsp_enable: bool,
    /// `ocsp-strict=`.
    pub ocsp_strict: bool,
    /// `ocsp-uri=`.
    pub ocsp_uri: Option<String>,
    /// `ocsp-trustname=`.
    pub ocsp_trustname: Option<String>,
    /// `ocsp-timeout=`.
    pub ocsp_timeout: Duration,
    /// `ocsp-cache-size=`.
    pub ocsp_cache_size: u64,
    /// `ocsp-cache-min-age=`.
    pub ocsp_cache_min_age: Duration,
    /// `ocsp-cache-max-age=`.
    pub ocsp_cache_max_age: Duration,
    /// `ocsp-method=` (`get` or `post`).
    pub ocsp_method: String,
    /// `virtual-private=`.
    pub virtual_private: Option<String>,
    /// Every `config setup` key as written.
    pub raw: BTreeMap<String, String>,
}

fn check_value(e: &Entry) -> Result<(), ConfError> {
    let v = e.value.trim();
    if v.is_empty() {
        return Ok(());
    }
    let key = e.key();
    let bad = |m: String| {
        ConfError::BadValue(Diagnostic::new(
            e.file.to_path_buf(),
            e.line,
            format!("'config setup' {key}={v} invalid, {m}"),
        ))
    };
    match e.kw.kind {
        Kind::YesNo => parse_yn(v)
            .map(|_| ())
            .ok_or_else(|| bad("expecting yes or no".into())),
        Kind::Enum(values) => {
            if values.iter().any(|x| x.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                Err(bad(format!("expecting one of {}", values.join(", "))))
            }
        }
        Kind::Seconds => parse_duration(v, false).map(|_| ()).map_err(bad),
        Kind::Millis => parse_duration(v, true).map(|_| ()).map_err(bad),
        Kind::Unsigned => parse_unsigned(v).map(|_| ()).map_err(bad),
        Kind::Bytes => parse_bytes(v).map(|_| ()).map_err(bad),
        _ => Ok(()),
    }
}

impl SetupConfig {
    /// Types the `config setup` sections of `raw` (a later value overrides).
    pub fn from_raw(
        raw: &RawConfig,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<SetupConfig, ConfError> {
        let mut map: BTreeMap<String, Entry> = BTreeMap::new();
        for sec in raw.sections.iter().filter(|s| s.kind == SectionKind::Setup) {
            for e in &sec.entries {
                check_value(e)?;
                if map.contains_key(e.key()) {
                    warnings.push(Diagnostic::new(
                        e.file.to_path_buf(),
                        e.line,
                        format!(
                            "overriding earlier 'config setup' keyword with new value: {}={}",
                            e.key(),
                            e.value
                        ),
                    ));
                }
                map.insert(e.key().to_string(), e.clone());
            }
        }
        if let Some(e) = map.get("virtual-private") {
            if let Err(m) = crate::end::check_virtual(&e.value, false) {
                warnings.push(Diagnostic::new(
                    e.file.to_path_buf(),
                    e.line,
                    format!(
                        "'config setup' virtual-private={} is invalid ({m}); ignored",
                        e.value
                    ),
                ));
            }
        }
        let get = |k: &str| map.get(k).map(|e| e.value.trim()).filter(|v| !v.is_empty());
        let yn = |k: &str, d: bool| get(k).and_then(parse_yn).unwrap_or(d);
        let secs = |k: &str, d: Duration| {
            get(k)
                .and_then(|v| parse_duration(v, false).ok())
                .unwrap_or(d)
        };
        let path = |k: &str| get(k).map(PathBuf::from);
        let s = |k: &str| get(k).map(str::to_string);
        let listen = match map.get("listen").filter(|e| !e.value.trim().is_empty()) {
            None => None,
            Some(e) => Some(e.value.trim().parse::<IpAddr>().map_err(|_| {
                ConfError::BadValue(Diagnostic::new(
                    e.file.to_path_buf(),
                    e.line,
                    format!(
                        "'config setup' listen={} invalid, expecting an IP address",
                        e.value
                    ),
                ))
            })?),
        };
        let protostack = match get("protostack").map(str::to_ascii_lowercase).as_deref() {
            Some("pfkeyv2" | "bsd" | "kame") => Protostack::Pfkeyv2,
            Some("userspace") => Protostack::Userspace,
            _ => Protostack::Xfrm,
        };
        Ok(SetupConfig {
            protostack,
            listen,
            listen_udp: yn("listen-udp", true),
            listen_tcp: yn("listen-tcp", false),
            logfile: path("logfile"),
            logtime: yn("logtime", true),
            logappend: yn("logappend", true),
            logip: yn("logip", true),
            plutodebug: get("plutodebug")
                .map(|v| {
                    v.split([',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            uniqueids: yn("uniqueids", true),
            nssdir: path("nssdir"),
            ipsecdir: path("ipsecdir"),
            secretsfile: path("secretsfile"),
            dumpdir: path("dumpdir"),
            rundir: path("rundir"),
            ikev1_policy: get("ikev1-policy")
                .map(str::to_ascii_lowercase)
                .unwrap_or_else(|| "drop".into()),
            crl_strict: yn("crl-strict", false),
            crlcheckinterval: secs("crlcheckinterval", Duration::ZERO),
            crl_timeout: secs("crl-timeout", Duration::from_secs(5)),
            ocsp_enable: yn("ocsp-enable", false),
            ocsp_strict: yn("ocsp-strict", false),
            ocsp_uri: s("ocsp-uri"),
            ocsp_trustname: s("ocsp-trustname"),
            ocsp_timeout: secs("ocsp-timeout", Duration::from_secs(2)),
            ocsp_cache_size: get("ocsp-cache-size")
                .and_then(|v| parse_unsigned(v).ok())
                .unwrap_or(1000),
            ocsp_cache_min_age: secs("ocsp-cache-min-age", Duration::from_secs(3600)),
            ocsp_cache_max_age: secs("ocsp-cache-max-age", Duration::from_secs(86400)),
            ocsp_method: get("ocsp-method")
                .map(str::to_ascii_lowercase)
                .unwrap_or_else(|| "get".into()),
            virtual_private: s("virtual-private"),
            raw: map
                .into_iter()
                .map(|(k, e)| (k, e.value.to_string()))
                .collect(),
        })
    }
}

impl Default for SetupConfig {
    fn default() -> Self {
        SetupConfig {
            protostack: Protostack::Xfrm,
            listen: None,
            listen_udp: true,
            listen_tcp: false,
            logfile: None,
            logtime: true,
            logappend: true,
            logip: true,
            plutodebug: Vec::new(),
            uniqueids: true,
            nssdir: None,
            ipsecdir: None,
            secretsfile: None,
            dumpdir: None,
            rundir: None,
            ikev1_policy: "drop".into(),
            crl_strict: false,
            crlcheckinterval: Duration::ZERO,
            crl_timeout: Duration::from_secs(5),
            ocsp_enable: false,
            ocsp_strict: false,
            ocsp_uri: None,
            ocsp_trustname: None,
            ocsp_timeout: Duration::from_secs(2),
            ocsp_cache_size: 1000,
            ocsp_cache_min_age: Duration::from_secs(3600),
            ocsp_cache_max_age: Duration::from_secs(86400),
            ocsp_method: "get".into(),
            virtual_private: None,
            raw: BTreeMap::new(),
        }
    }
}
