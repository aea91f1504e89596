//! VTI devices (`vti-interface=`) as Libreswan's default updown makes
//! them: `ip tunnel add NAME mode vti local ME remote PEER okey MARK_OUT
//! ikey MARK_IN` (remote `0.0.0.0` when `vti-shared=yes`), the device's
//! `disable_policy=1`, `rp_filter=0` and `forwarding=1`, this end's
//! `leftvti=` address, the device up; with `vti-routing=yes` the peer's
//! subnets are routed into it (`src leftsourceip=` when set). At `down`
//! the routes go, and the device too unless it is shared or was there
//! before ferroswan. Packets routed into the device get the outbound mark,
//! which selects the connection's marked out policy; ESP arriving from the
//! peer is matched to the device by its addresses and decrypted with the
//! inbound mark.

use crate::connext::VtiSpec;
use crate::iproute::ip;
use dataplane::Marks;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Whether a network device of that name exists in this namespace.
pub fn device_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn sysctl(family: &str, dev: &str, key: &str, value: &str) -> Result<(), String> {
    let path = format!("/proc/sys/net/{family}/conf/{dev}/{key}");
    std::fs::write(&path, value).map_err(|e| format!("writing {value} to {path}: {e}"))
}

/// One connection's use of a device.
#[derive(Debug, Clone)]
struct Use {
    device: String,
    routes: Vec<Vec<String>>,
}

/// A device ferroswan created.
#[derive(Debug, Clone, Default)]
struct Device {
    users: HashSet<String>,
    shared: bool,
}

/// The VTI devices and routes ferroswan set up.
#[derive(Debug, Default)]
pub struct VtiDevices {
    created: HashMap<String, Device>,
    uses: HashMap<String, Use>,
}

/// The `ip tunnel add` arguments of a device.
pub fn tunnel_args(vti: &VtiSpec, marks: Marks, me: IpAddr, peer: IpAddr) -> Vec<String> {
    let remote = if vti.shared {
        if me.is_ipv4() {
            "0.0.0.0".to_string()
        } else {
            "::".to_string()
        }
    } else {
        peer.to_string()
    };
    let mode = if me.is_ipv4() { "vti" } else { "vti6" };
    let key = |m: Option<dataplane::XfrmMark>| m.map(|m| m.value).unwrap_or(0).to_string();
    vec![
        "tunnel".into(),
        "add".into(),
        vti.interface.clone(),
        "mode".into(),
        mode.into(),
        "local".into(),
        me.to_string(),
        "remote".into(),
        remote,
        "okey".into(),
        key(marks.outbound),
        "ikey".into(),
        key(marks.inbound),
    ]
}

impl VtiDevices {
    /// Connection `conn` is routed or up: creates its device unless it
    /// exists, and routes the peer's subnets into it (`vti.routing`).
    pub fn up(
        &mut self,
        conn: &str,
        vti: &VtiSpec,
        marks: Marks,
        (me, peer): (IpAddr, IpAddr),
        peer_nets: &[(IpAddr, u8)],
        src: Option<IpAddr>,
    ) -> Result<(), String> {
        let dev = vti.interface.as_str();
        if !device_exists(dev) {
            let args = tunnel_args(vti, marks, me, peer);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ip(&args)?;
            self.created.insert(
                dev.to_string(),
                Device {
                    users: HashSet::new(),
                    shared: vti.shared,
                },
            );
            let family = if me.is_ipv4() { "ipv4" } else { "ipv6" };
            let mut errors = Vec::new();
            for (key, value) in [("disable_policy", "1"), ("forwarding", "1")] {
                if let Err(e) = sysctl(family, dev, key, value) {
                    errors.push(e);
                }
            }
            if me.is_ipv4() {
                if let Err(e) = sysctl(family, dev, "rp_filter", "0") {
                    errors.push(e);
                }
            }
            if let Some((a, p)) = vti.address {
                if let Err(e) = ip(&["addr", "add", &format!("{a}/{p}"), "dev", dev]) {
                    errors.push(e);
                }
            }
            ip(&["link", "set", dev, "up"])?;
            if !errors.is_empty() {
                tracing::warn!("VTI device {dev}: {}", errors.join("; "));
            }
            tracing::info!("\"{conn}\": created VTI device {dev}");
        }
        if let Some(d) = self.created.get_mut(dev) {
            d.users.insert(conn.to_string());
        }
        let mut routes = Vec::new();
        if vti.routing {
            for (net, prefix) in peer_nets {
                let mut r = vec![
                    "route".to_string(),
                    "replace".into(),
                    format!("{net}/{prefix}"),
                    "dev".into(),
                    dev.to_string(),
                ];
                if let Some(s) = src.filter(|s| s.is_ipv4() == net.is_ipv4()) {
                    r.push("src".into());
                    r.push(s.to_string());
                }
                let args: Vec<&str> = r.iter().map(String::as_str).collect();
                ip(&args)?;
                routes.push(vec![
                    "route".to_string(),
                    "del".into(),
                    format!("{net}/{prefix}"),
                    "dev".into(),
                    dev.to_string(),
                ]);
            }
        }
        // A connection routed then brought up keeps its first routes.
        self.uses.entry(conn.to_string()).or_insert(Use {
            device: dev.to_string(),
            routes,
        });
        Ok(())
    }

    /// Connection `conn` is down: removes its routes, and the device when
    /// ferroswan created it, it is not shared and no other connection
    /// uses it.
    pub fn down(&mut self, conn: &str) -> Result<(), String> {
        let Some(u) = self.uses.remove(conn) else {
            return Ok(());
        };
        let mut first_err = None;
        for r in &u.routes {
            let args: Vec<&str> = r.iter().map(String::as_str).collect();
            if let Err(e) = ip(&args) {
                if !e.contains("No such process") {
                    first_err.get_or_insert(e);
                }
            }
        }
        let remove = match self.created.get_mut(&u.device) {
            Some(d) => {
                d.users.remove(conn);
                d.users.is_empty() && !d.shared
            }
            None => false,
        };
        if remove {
            self.created.remove(&u.device);
            match ip(&["link", "del", &u.device]) {
                Ok(_) => tracing::info!("\"{conn}\": deleted VTI device {}", u.device),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The devices ferroswan created (for tests and status).
    pub fn created(&self) -> Vec<String> {
        let mut v: Vec<String> = self.created.keys().cloned().collect();
        v.sort();
        v
    }
}

impl Drop for VtiDevices {
    /// The daemon stops: its unshared devices go.
    fn drop(&mut self) {
        for (name, d) in &self.created {
            if !d.shared {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_arguments_follow_libreswan() {
        let vti = VtiSpec {
            interface: "vti9".into(),
            routing: true,
            shared: false,
            address: None,
        };
        let marks = Marks {
            inbound: Some(dataplane::XfrmMark {
                value: 20,
                mask: u32::MAX,
            }),
            outbound: Some(dataplane::XfrmMark {
                value: 21,
                mask: u32::MAX,
            }),
        };
        let me: IpAddr = "192.0.2.1".parse().expect("a");
        let peer: IpAddr = "192.0.2.2".parse().expect("a");
        assert_eq!(
            tunnel_args(&vti, marks, me, peer).join(" "),
            "tunnel add vti9 mode vti local 192.0.2.1 remote 192.0.2.2 okey 21 ikey 20"
        );
        let shared = VtiSpec {
            shared: true,
            ..vti
        };
        assert!(tunnel_args(&shared, marks, me, peer)
            .join(" ")
            .contains("remote 0.0.0.0 okey"));
    }
}
