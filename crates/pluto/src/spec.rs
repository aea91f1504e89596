//! The seam to the `conf` crate: loading ipsec.conf for the daemon, picking
//! connections, and turning a typed `conf::ConnSpec` into what the database
//! and status show. Nothing else in the daemon reads `conf` types' details.

use crate::connection::{ConnInfo, EndInfo};
use crate::logging::LogSettings;
use crate::options::{PlutoOptions, DEFAULT_IPSECDIR, DEFAULT_NSSDIR, DEFAULT_SECRETS};
use crate::status::SetupView;
use conf::{ConnSpec, EndSpec, IkeVersion, Orientation, PubKeySpec};
use control::Rc;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A configuration file loaded (and so validated) by the daemon.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: conf::Config,
    /// Its warnings, as `FILE:LINE: message`.
    pub warnings: Vec<String>,
}

/// Why a requested connection cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// No connection with that name or alias in the file.
    #[error("conn '{0}': not found (tried aliases)")]
    Unknown(String),
    /// The connection is in the file but has errors.
    #[error("conn '{name}': {error}")]
    Failed {
        /// The connection.
        name: String,
        /// Its error (names file and line).
        error: String,
    },
}

impl SelectError {
    /// The status code of this error.
    pub fn rc(&self) -> Rc {
        match self {
            SelectError::Unknown(_) => Rc::UNKNOWN_NAME,
            SelectError::Failed { .. } => Rc::FATAL,
        }
    }
}

impl LoadedConfig {
    /// Loads and validates `path`.
    pub fn load(
        path: &Path,
        rootdir: Option<&Path>,
        local: &[IpAddr],
    ) -> Result<Self, conf::ConfError> {
        let opts = conf::LoadOptions {
            rootdir: rootdir.map(Path::to_path_buf),
            local_addrs: local.to_vec(),
        };
        let config = conf::Config::load(path, &opts)?;
        let warnings = config.warnings.iter().map(ToString::to_string).collect();
        Ok(LoadedConfig { config, warnings })
    }

    /// The connections `names` designate (each a name, else an alias), or
    /// with `autoall` every connection whose `auto=` is not `ignore`: their
    /// indices in file order of first mention. Errors are returned next to
    /// the connections that can be added.
    fn select_indices(&self, names: &[String], autoall: bool) -> (Vec<usize>, Vec<SelectError>) {
        let conns = &self.config.conns;
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let mut seen: HashSet<usize> = HashSet::new();
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_alias: HashMap<&str, Vec<usize>> = HashMap::new();
        if !names.is_empty() {
            for (i, c) in conns.iter().enumerate() {
                by_name.entry(c.name.as_str()).or_default().push(i);
                for a in &c.aliases {
                    by_alias.entry(a.as_str()).or_default().push(i);
                }
            }
        }
        for name in names {
            let matches = by_name
                .get(name.as_str())
                .or_else(|| by_alias.get(name.as_str()))
                .cloned()
                .unwrap_or_default();
            if matches.is_empty() {
                match self.config.conn_error(name) {
                    Some(e) => errors.push(SelectError::Failed {
                        name: name.clone(),
                        error: e.to_string(),
                    }),
                    None => errors.push(SelectError::Unknown(name.clone())),
                }
            }
            out.extend(matches.into_iter().filter(|i| seen.insert(*i)));
        }
        if autoall {
            for (i, c) in conns.iter().enumerate() {
                if c.auto != conf::Auto::Ignore && seen.insert(i) {
                    out.push(i);
                }
            }
            for f in &self.config.failed {
                errors.push(SelectError::Failed {
                    name: f.name.clone(),
                    error: f.error.to_string(),
                });
            }
        }
        (out, errors)
    }

    /// The selected connections (see [`LoadedConfig::into_selected`]), copied.
    pub fn select(
        &self,
        names: &[String],
        autoall: bool,
    ) -> (Vec<Arc<ConnSpec>>, Vec<SelectError>) {
        let (idx, errors) = self.select_indices(names, autoall);
        let specs = idx
            .into_iter()
            .filter_map(|i| self.config.conns.get(i).cloned().map(Arc::new))
            .collect();
        (specs, errors)
    }

    /// The connections `names` designate (each a name, else an alias), or
    /// with `autoall` every connection whose `auto=` is not `ignore`, moved
    /// out of the configuration. Errors are returned next to the
    /// connections that can be added.
    pub fn into_selected(
        self,
        names: &[String],
        autoall: bool,
    ) -> (Vec<Arc<ConnSpec>>, Vec<SelectError>) {
        let (idx, errors) = self.select_indices(names, autoall);
        let mut slots: Vec<Option<ConnSpec>> = self.config.conns.into_iter().map(Some).collect();
        let specs = idx
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take).map(Arc::new))
            .collect();
        (specs, errors)
    }

    /// Every connection whose `auto=` is not `ignore`, in file order.
    pub fn auto_conns(&self) -> Vec<Arc<ConnSpec>> {
        self.config
            .conns
            .iter()
            .filter(|c| c.auto != conf::Auto::Ignore)
            .map(|c| Arc::new(c.clone()))
            .collect()
    }
}

/// `auto=` as Libreswan spells it.
pub fn auto_word(spec: &ConnSpec) -> String {
    spec.auto.name().to_string()
}

fn hex_prefix(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes.iter().take(8) {
        s.push_str(&format!("{b:02x}"));
    }
    if bytes.len() > 8 {
        s.push_str("...");
    }
    s
}

fn end_info(end: &EndSpec, default_auth: &str) -> EndInfo {
    EndInfo {
        host: end.host.to_string(),
        id: end.id.as_ref().map(ToString::to_string),
        subnets: end.subnets.iter().map(ToString::to_string).collect(),
        nexthop: end.nexthop.as_ref().map(ToString::to_string),
        protoport: end.protoport.as_ref().map(ToString::to_string),
        sourceip: end.sourceip.as_ref().map(ToString::to_string),
        auth: end
            .auth
            .map(|a| a.to_string())
            .unwrap_or_else(|| default_auth.to_string()),
        pubkey: match &end.pubkey {
            Some(PubKeySpec::Raw { keyword, key }) => {
                let kind = match *keyword {
                    "rsasigkey" => "RSA",
                    "ecdsakey" => "ECDSA",
                    "eddsakey" => "EDDSA",
                    _ => "PUBKEY",
                };
                Some((kind.to_string(), hex_prefix(key)))
            }
            _ => None,
        },
        cert: end.cert.clone(),
        ca: end.ca.clone(),
        updown: end.updown.clone(),
        ikeport: end.ikeport,
    }
}

/// `ike=` as Libreswan's status names it: one `ENCR-PRF-KE` per
/// proposal (alternatives joined by `+`), e.g.
/// `AES_GCM_16_256-HMAC_SHA2_384-DH31`; None when unset or not mappable.
fn ike_algorithms(spec: &ConnSpec) -> Option<String> {
    let props = crate::ikeconn::ike_proposals(spec).ok()?;
    let text: Vec<String> = props
        .iter()
        .map(|p| {
            let encr: Vec<&str> = p.encr.iter().map(|e| e.name()).collect();
            let prf: Vec<&str> = p.prf.iter().map(|f| f.name()).collect();
            let ke: Vec<String> =
                p.ke.iter()
                    .map(|g| ike::engine::proposal::ke_name(*g))
                    .collect();
            format!("{}-{}-{}", encr.join("+"), prf.join("+"), ke.join("+"))
        })
        .collect();
    (!text.is_empty()).then(|| text.join(", "))
}

/// `esp=` as Libreswan's status names it: `ENCR-INTEG` per proposal
/// (`NONE` for an AEAD; `-KE` when PFS names a group), e.g.
/// `AES_GCM_16_256-NONE`; None when unset or not mappable.
fn esp_algorithms(spec: &ConnSpec) -> Option<String> {
    let props = crate::ikeconn::esp_proposals(spec).ok()?;
    let text: Vec<String> = props
        .iter()
        .map(|p| {
            let encr: Vec<&str> = p.encr.iter().map(|e| e.name()).collect();
            let integ: Vec<&str> = p.integ.iter().map(|i| i.name()).collect();
            let integ = if integ.is_empty() {
                "NONE".to_string()
            } else {
                integ.join("+")
            };
            let mut t = format!("{}-{integ}", encr.join("+"));
            if !p.ke.is_empty() {
                let ke: Vec<String> =
                    p.ke.iter()
                        .map(|g| ike::engine::proposal::ke_name(*g))
                        .collect();
                t.push('-');
                t.push_str(&ke.join("+"));
            }
            t
        })
        .collect();
    (!text.is_empty()).then(|| text.join(", "))
}

/// What the daemon shows of a connection, oriented with the host's
/// addresses. IKEv1 connections are refused.
pub fn conn_info(spec: &ConnSpec, local: &[IpAddr]) -> Result<ConnInfo, String> {
    if spec.ike_version == IkeVersion::V1 {
        return Err(
            "IKEv1 is not supported (ferroswan speaks IKEv2 only; use keyexchange=ikev2)".into(),
        );
    }
    let default_auth = spec
        .authby
        .first()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "rsasig".to_string());
    let (oriented, this_is_left) = match spec.orient(local) {
        Ok(Orientation::LeftIsLocal) => (true, true),
        Ok(Orientation::RightIsLocal) => (true, false),
        // Neither end is one of this host's addresses: Libreswan still
        // loads such a connection ("unoriented") and orients it at --ready.
        Err(conf::ConfError::Unoriented(_)) => (false, true),
        // Anything else (left= unset, %any on both ends, both ends local,
        // a missing %interface) is "failed to add connection".
        Err(e) => return Err(e.to_string()),
    };
    let (this, that) = if this_is_left {
        (&spec.left, &spec.right)
    } else {
        (&spec.right, &spec.left)
    };
    Ok(ConnInfo {
        name: spec.name.clone(),
        aliases: spec.aliases.clone(),
        origin: format!("{}:{}", spec.file.display(), spec.line),
        ike_version: 2,
        auto: spec.auto.name().to_string(),
        conn_type: spec.conn_type.name().to_string(),
        oriented,
        this_is_left,
        this: end_info(this, &default_auth),
        that: end_info(that, &default_auth),
        ike: ike_algorithms(spec).or_else(|| spec.raw.get("ike").cloned()),
        esp: esp_algorithms(spec).or_else(|| {
            spec.raw
                .get("esp")
                .or_else(|| spec.raw.get("phase2alg"))
                .cloned()
        }),
        ike_life_secs: spec.ikelifetime.as_secs(),
        ipsec_life_secs: spec.salifetime.as_secs(),
        ipsec_max_bytes: spec.ipsec_max_bytes,
        ipsec_max_packets: spec.ipsec_max_packets,
        rekey_margin_secs: spec.rekeymargin.as_secs(),
        rekey_fuzz_percent: spec.rekeyfuzz_percent,
        rekey: spec.rekey,
        keyingtries: u64::from(spec.keyingtries),
        replay_window: u64::from(spec.replay_window),
        retransmit_interval_ms: u64::try_from(spec.retransmit_interval.as_millis())
            .unwrap_or(u64::MAX),
        retransmit_timeout_secs: spec.retransmit_timeout.as_secs(),
        iketcp: spec.enable_tcp.clone(),
        iketcp_port: spec.tcp_remoteport.unwrap_or(crate::tcp::TCP_PORT),
        dpd_delay_secs: spec.dpddelay.map(|d| d.as_secs()).unwrap_or(0),
        dpd_action: spec.dpdaction.name().to_string(),
        encapsulation: spec.encapsulation.name().to_string(),
        fragmentation: spec.fragmentation.name().to_string(),
        pfs: spec.pfs,
        esn: spec.esn.name().to_string(),
    })
}

/// The daemon's settings: command line first, then `config setup`, then
/// Libreswan's defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// What status shows.
    pub view: SetupView,
    /// The secrets file.
    pub secrets: PathBuf,
    /// `ipsecdir`.
    pub ipsecdir: PathBuf,
    /// Logging.
    pub log: LogSettings,
}

impl Settings {
    /// Combines the options and the configuration's `config setup`.
    pub fn new(opts: &PlutoOptions, loaded: Option<&LoadedConfig>, config_path: &Path) -> Settings {
        let setup = loaded.map(|l| &l.config.setup);
        let pick =
            |cli: &Option<PathBuf>, conf: Option<&Option<PathBuf>>, default: &str| -> PathBuf {
                cli.clone()
                    .or_else(|| conf.and_then(|c| c.clone()))
                    .unwrap_or_else(|| PathBuf::from(default))
            };
        let secrets = PlutoOptions::absolute(&pick(
            &opts.secretsfile,
            setup.map(|s| &s.secretsfile),
            DEFAULT_SECRETS,
        ));
        let ipsecdir = PlutoOptions::absolute(&pick(
            &opts.ipsecdir,
            setup.map(|s| &s.ipsecdir),
            DEFAULT_IPSECDIR,
        ));
        let nssdir = PlutoOptions::absolute(&pick(
            &opts.nssdir,
            setup.map(|s| &s.nssdir),
            DEFAULT_NSSDIR,
        ));
        let logfile = opts
            .logfile
            .clone()
            .or_else(|| setup.and_then(|s| s.logfile.clone()))
            .map(|p| PlutoOptions::absolute(&p));
        let logtime = !opts.log_no_time && setup.map(|s| s.logtime).unwrap_or(true);
        let logappend = !opts.log_no_append && setup.map(|s| s.logappend).unwrap_or(true);
        let debug_words: Vec<String> = setup.map(|s| s.plutodebug.clone()).unwrap_or_default();
        let debug = debug_words.iter().any(|w| w != "none");
        let plutodebug = if debug_words.is_empty() {
            "none".to_string()
        } else {
            debug_words.join(",")
        };
        let view = SetupView {
            configfile: config_path.display().to_string(),
            secretsfile: secrets.display().to_string(),
            ipsecdir: ipsecdir.display().to_string(),
            nssdir: nssdir.display().to_string(),
            rundir: PlutoOptions::absolute(&opts.rundir()).display().to_string(),
            ctlsocket: PlutoOptions::absolute(&opts.ctlsocket())
                .display()
                .to_string(),
            logfile: logfile.as_ref().map(|p| p.display().to_string()),
            logtime,
            logappend,
            uniqueids: setup.map(|s| s.uniqueids).unwrap_or(true),
            listen: setup.and_then(|s| s.listen).map(|a| a.to_string()),
            protostack: setup
                .map(|s| s.protostack.to_string())
                .unwrap_or_else(|| "xfrm".to_string()),
            plutodebug,
        };
        Settings {
            view,
            secrets,
            ipsecdir,
            log: LogSettings {
                syslog: if logfile.is_none() && !opts.stderrlog {
                    Some(PathBuf::from(crate::logging::SYSLOG_SOCKET))
                } else {
                    None
                },
                logfile,
                stderr_too: opts.stderrlog,
                logtime,
                logappend,
                debug,
            },
        }
    }
}

/// A connection specification for tests: an IKEv2 PSK tunnel.
#[cfg(test)]
pub fn example_spec(name: &str) -> ConnSpec {
    let text =
        format!("conn {name}\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\tauto=add\n");
    let config = conf::Config::parse_str(
        &text,
        Path::new("/example.conf"),
        &conf::LoadOptions::default(),
    )
    .expect("example config parses");
    config.conns.into_iter().next().expect("one conn")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> LoadedConfig {
        let config = conf::Config::parse_str(
            text,
            Path::new("/t/ipsec.conf"),
            &conf::LoadOptions::default(),
        )
        .unwrap();
        LoadedConfig {
            config,
            warnings: Vec::new(),
        }
    }

    const CONF: &str = "conn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftid=@west\n\trightid=@east\n\tleftsubnet=10.1.0.0/16\n\trightsubnet=10.2.0.0/16\n\tauthby=secret\n\tconnalias=grp\n\tauto=add\n\
conn b\n\tleft=127.0.0.1\n\tright=192.0.2.2\n\tauthby=secret\n\tconnalias=grp\n\tauto=ignore\n\
conn v1\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\tkeyexchange=ikev1\n\tauto=add\n";

    #[test]
    fn algorithms_in_libreswan_words() {
        let text = "conn gcm\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\
                    \tike=aes_gcm256-sha2_384;dh31\n\tesp=aes_gcm256\n\n\
                    conn cbc\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\
                    \tike=aes256-sha2_256-modp2048\n\tesp=aes256-sha2_256-modp2048\n\n\
                    conn none\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n";
        let l = load(text);
        let local: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let info = |n: &str| conn_info(l.config.conn(n).unwrap(), &local).unwrap();
        let gcm = info("gcm");
        assert_eq!(
            gcm.ike.as_deref(),
            Some("AES_GCM_16_256-HMAC_SHA2_384-DH31")
        );
        assert_eq!(gcm.esp.as_deref(), Some("AES_GCM_16_256-NONE"));
        let cbc = info("cbc");
        assert_eq!(
            cbc.ike.as_deref(),
            Some("AES_CBC_256-HMAC_SHA2_256-MODP2048")
        );
        assert_eq!(
            cbc.esp.as_deref(),
            Some("AES_CBC_256-HMAC_SHA2_256_128-MODP2048")
        );
        let none = info("none");
        assert_eq!((none.ike, none.esp), (None, None));
    }

    #[test]
    fn select_by_name_alias_autoall() {
        let l = load(CONF);
        let (v, e) = l.select(&["a".into()], false);
        assert_eq!(v.len(), 1);
        assert!(e.is_empty());
        let (v, _) = l.select(&["grp".into()], false);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let (v, e) = l.select(&["nope".into()], false);
        assert!(v.is_empty());
        assert_eq!(e[0].rc(), Rc::UNKNOWN_NAME);
        let (v, _) = l.select(&[], true);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["a", "v1"]
        );
    }

    #[test]
    fn orientation_errors_other_than_unoriented_refuse_the_add() {
        let text = "conn both-any\n\tleft=%any\n\tright=%any\n\tauthby=secret\n\n\
                    conn both-local\n\tleft=127.0.0.1\n\tright=127.0.0.1\n\tauthby=secret\n\n\
                    conn elsewhere\n\tleft=198.51.100.7\n\tright=198.51.100.8\n\tauthby=secret\n";
        let cfg = conf::Config::parse_str(
            text,
            std::path::Path::new("t.conf"),
            &conf::LoadOptions::default(),
        )
        .unwrap();
        let local: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
        for name in ["both-any", "both-local"] {
            let c = cfg.conn(name).unwrap();
            let err = conn_info(c, &local).expect_err(name);
            assert!(err.contains("t.conf:"), "{name}: {err}");
        }
        // Neither end local: loaded, unoriented, as Libreswan does.
        let info = conn_info(cfg.conn("elsewhere").unwrap(), &local).unwrap();
        assert!(!info.oriented);
    }

    #[test]
    fn info_orientation_and_ikev1() {
        let l = load(CONF);
        let a = l.config.conn("a").unwrap();
        let info = conn_info(a, &[]).unwrap();
        assert!(!info.oriented);
        assert_eq!(info.this.id.as_deref(), Some("@west"));
        assert_eq!(info.that.subnets, vec!["10.2.0.0/16".to_string()]);
        let b = l.config.conn("b").unwrap();
        let local: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
        let info = conn_info(b, &local).unwrap();
        assert!(info.oriented);
        assert_eq!(info.this.host, "127.0.0.1");
        let v1 = l.config.conn("v1").unwrap();
        assert!(conn_info(v1, &[])
            .unwrap_err()
            .contains("IKEv1 is not supported"));
    }
}
