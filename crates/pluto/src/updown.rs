//! `leftupdown=`: the user's script, run on route, unroute, up and down
//! with Libreswan's `PLUTO_*` environment, so existing firewall and
//! routing hooks keep working. A failing script is logged, never fatal.

use conf::{ConnSpec, HostAddr};
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// The Child SA details an `up`/`down` verb passes on.
#[derive(Debug, Clone, Default)]
pub struct SaDetails {
    /// The peer's address as IKE saw it.
    pub peer: Option<IpAddr>,
    /// Our inbound SPI.
    pub inbound_spi: u32,
    /// The peer's ID.
    pub peer_id: String,
    /// Bytes in and out (for down).
    pub bytes: Option<(u64, u64)>,
}

fn net_text(s: &conf::Subnet) -> (String, String, String) {
    let mask = match s.addr {
        IpAddr::V4(_) => {
            let m = if s.prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(s.prefix.min(32)))
            };
            std::net::Ipv4Addr::from(m).to_string()
        }
        IpAddr::V6(_) => {
            let m = if s.prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(s.prefix.min(128)))
            };
            std::net::Ipv6Addr::from(m).to_string()
        }
    };
    let net = s.network().to_string();
    (format!("{net}/{}", s.prefix), net, mask)
}

fn host_text(h: &HostAddr) -> String {
    match h {
        HostAddr::Addr(a) => a.to_string(),
        other => other.to_string(),
    }
}

/// The environment of the script for `verb` (`route-client`, `up-client`,
/// `down-client`, `unroute-client`, or the `-host` forms).
pub fn environment(
    spec: &ConnSpec,
    local_is_left: bool,
    verb: &str,
    sa: &SaDetails,
) -> Vec<(String, String)> {
    let (me, peer) = if local_is_left {
        (&spec.left, &spec.right)
    } else {
        (&spec.right, &spec.left)
    };
    let me_addr = host_text(&me.host);
    let peer_addr = sa
        .peer
        .map(|a| a.to_string())
        .unwrap_or_else(|| host_text(&peer.host));
    let client = |end: &conf::EndSpec, host: &str| -> (String, String, String) {
        match end.subnets.first() {
            Some(s) => net_text(s),
            None => {
                let bits = if host.contains(':') { 128 } else { 32 };
                let mask = if bits == 32 {
                    "255.255.255.255".to_string()
                } else {
                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".to_string()
                };
                (format!("{host}/{bits}"), host.to_string(), mask)
            }
        }
    };
    let (my_client, my_net, my_mask) = client(me, &me_addr);
    let (peer_client, peer_net, peer_mask) = client(peer, &peer_addr);
    let family = if me_addr.contains(':') {
        "ipv6"
    } else {
        "ipv4"
    };
    let id = |end: &conf::EndSpec, addr: &str| {
        end.id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| addr.to_string())
    };
    let proto = |end: &conf::EndSpec| end.protoport.map(|p| p.proto).unwrap_or(0).to_string();
    let port = |end: &conf::EndSpec| end.protoport.and_then(|p| p.port).unwrap_or(0).to_string();
    let mut env = vec![
        ("PLUTO_VERB", verb.to_string()),
        ("PLUTO_VERSION", "2.0".to_string()),
        ("PLUTO_CONNECTION", spec.name.clone()),
        ("PLUTO_CONNECTION_TYPE", spec.conn_type.name().to_string()),
        ("PLUTO_CONN_KIND", "CK_PERMANENT".to_string()),
        ("PLUTO_CONN_ADDRFAMILY", family.to_string()),
        ("PLUTO_STACK", "userspace".to_string()),
        ("PLUTO_INTERFACE", "ipsec0".to_string()),
        ("PLUTO_ME", me_addr.clone()),
        ("PLUTO_MY_ID", id(me, &me_addr)),
        ("PLUTO_MY_CLIENT", my_client),
        ("PLUTO_MY_CLIENT_NET", my_net),
        ("PLUTO_MY_CLIENT_MASK", my_mask),
        ("PLUTO_MY_PORT", port(me)),
        ("PLUTO_MY_PROTOCOL", proto(me)),
        (
            "PLUTO_MY_SOURCEIP",
            me.sourceip.map(|a| a.to_string()).unwrap_or_default(),
        ),
        ("PLUTO_PEER", peer_addr.clone()),
        (
            "PLUTO_PEER_ID",
            if sa.peer_id.is_empty() {
                id(peer, &peer_addr)
            } else {
                sa.peer_id.clone()
            },
        ),
        ("PLUTO_PEER_CLIENT", peer_client),
        ("PLUTO_PEER_CLIENT_NET", peer_net),
        ("PLUTO_PEER_CLIENT_MASK", peer_mask),
        ("PLUTO_PEER_PORT", port(peer)),
        ("PLUTO_PEER_PROTOCOL", proto(peer)),
        ("PLUTO_SA_TYPE", "ESP".to_string()),
    ];
    if sa.inbound_spi != 0 {
        env.push(("PLUTO_SA_REQID", format!("{}", sa.inbound_spi)));
    }
    if let Some((i, o)) = sa.bytes {
        env.push(("PLUTO_INBYTES", i.to_string()));
        env.push(("PLUTO_OUTBYTES", o.to_string()));
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The verb for an action: `-client` when this end has a subnet, else
/// `-host`.
pub fn verb(spec: &ConnSpec, local_is_left: bool, action: &str) -> String {
    let me = if local_is_left {
        &spec.left
    } else {
        &spec.right
    };
    if me.subnets.is_empty() {
        format!("{action}-host")
    } else {
        format!("{action}-client")
    }
}

/// Runs the connection's updown script (if it has one) for each action in
/// order, in the background, with `extra` added to the environment
/// (Libreswan's `CONNMARK_IN`, `VTI_IFACE`, `NFLOG`, ...); a failure is
/// logged.
pub fn run(
    spec: &ConnSpec,
    local_is_left: bool,
    actions: &[&str],
    sa: &SaDetails,
    extra: &[(String, String)],
) {
    let me = if local_is_left {
        &spec.left
    } else {
        &spec.right
    };
    let Some(script) = me.updown.clone().filter(|s| !s.trim().is_empty()) else {
        return;
    };
    if script.trim() == "%disabled" {
        return;
    }
    let runs: Vec<(String, Vec<(String, String)>)> = actions
        .iter()
        .map(|a| {
            let verb = verb(spec, local_is_left, a);
            let mut env = environment(spec, local_is_left, &verb, sa);
            env.extend_from_slice(extra);
            (verb, env)
        })
        .collect();
    let job = Job {
        name: spec.name.clone(),
        script,
        runs,
    };
    if worker().send(job).is_err() {
        tracing::warn!("\"{}\": the updown worker is gone", spec.name);
    }
}

/// One connection's script calls, run in order.
struct Job {
    name: String,
    script: String,
    runs: Vec<(String, Vec<(String, String)>)>,
}

/// The one thread that runs updown scripts, in the order the daemon asked
/// (so `up` never overtakes `route`, nor `down` `up`), off the event loop.
fn worker() -> &'static std::sync::mpsc::Sender<Job> {
    static WORKER: std::sync::OnceLock<std::sync::mpsc::Sender<Job>> = std::sync::OnceLock::new();
    WORKER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("updown".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job.run();
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the updown thread: {e}");
        }
        tx
    })
}

impl Job {
    fn run(self) {
        let Job { name, script, runs } = self;
        for (verb, env) in runs {
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .envs(env)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            match out {
                Ok(out) if out.status.success() => {
                    tracing::debug!("\"{name}\": updown {verb} done");
                }
                Ok(out) => tracing::warn!(
                    "\"{name}\": updown script \"{script}\" {verb} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => tracing::warn!("\"{name}\": cannot run updown script \"{script}\": {e}"),
            }
        }
    }
}

impl crate::daemon::Pluto {
    /// Runs the connection's updown script for `action` (`route`, `up`,
    /// `down`, `unroute`); without one, what Libreswan's default
    /// `_updown` does that the data plane does not: on `unroute`, the
    /// source address added for the connection goes.
    pub(crate) fn updown(&mut self, name: &str, actions: &[&str], sa: &crate::updown::SaDetails) {
        if actions.contains(&"unroute") {
            if let Some((sourceip, true)) = self.sourceip_of(name) {
                match self.wire.sourceips.unroute(name, sourceip) {
                    Ok(true) => tracing::info!("\"{name}\": removed source address {sourceip}"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("\"{name}\": leftsourceip={sourceip}: {e}"),
                }
            }
        }
        self.updown_extras(name, actions);
        let extra = self
            .wire
            .extras
            .get(name)
            .map(crate::connext::environment)
            .unwrap_or_default();
        if let Some(c) = self.db.get(name) {
            crate::updown::run(&c.spec, c.info.this_is_left, actions, sa, &extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn libreswan_environment() {
        let c = conf::Config::parse_str(
            "conn t\n\tleft=192.0.2.1\n\tleftid=@west\n\tleftsubnet=10.1.0.0/16\n\
             \tright=192.0.2.2\n\trightsubnet=10.2.0.0/16\n\tauthby=secret\n",
            Path::new("/t/ipsec.conf"),
            &conf::LoadOptions::default(),
        )
        .unwrap();
        let spec = c.conns.first().unwrap();
        assert_eq!(verb(spec, true, "up"), "up-client");
        let env = environment(spec, true, "up-client", &SaDetails::default());
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        assert_eq!(get("PLUTO_VERB"), "up-client");
        assert_eq!(get("PLUTO_ME"), "192.0.2.1");
        assert_eq!(get("PLUTO_MY_ID"), "@west");
        assert_eq!(get("PLUTO_MY_CLIENT"), "10.1.0.0/16");
        assert_eq!(get("PLUTO_MY_CLIENT_MASK"), "255.255.0.0");
        assert_eq!(get("PLUTO_PEER"), "192.0.2.2");
        assert_eq!(get("PLUTO_PEER_ID"), "192.0.2.2");
        assert_eq!(get("PLUTO_PEER_CLIENT_NET"), "10.2.0.0");
        assert_eq!(get("PLUTO_CONN_ADDRFAMILY"), "ipv4");
    }
}
