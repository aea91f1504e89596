//! The SA part of status: IKE and Child SAs as Libreswan shows them
//! (`ipsec status`, `showstates`, `trafficstatus`, `briefstatus`, JSON).

use crate::daemon::Pluto;
use crate::status::{IkeSaCounts, IpsecSaCounts, SaView};
use crate::tunnels::id_text;
use ike::engine::{Identity, IkeSaId};
use std::time::Instant;

fn secs_left(since: Instant, lifetime: std::time::Duration, now: Instant) -> u64 {
    lifetime
        .saturating_sub(now.saturating_duration_since(since))
        .as_secs()
}

/// `REKEY in Ns; ` when the engine will rekey the SA (at `rekey_at`), or
/// nothing (`rekey=no`).
fn rekey_words(rekey_at: Option<Instant>, now: Instant) -> String {
    match rekey_at {
        Some(t) => format!("REKEY in {}s; ", t.saturating_duration_since(now).as_secs()),
        None => String::new(),
    }
}

impl Pluto {
    /// The SA totals alone (`ipsec briefstatus`), the same numbers as
    /// [`Pluto::sa_view`] without building any line or asking the data
    /// plane for counters: cheap enough to poll.
    pub fn sa_counts(&self) -> (IkeSaCounts, IpsecSaCounts) {
        let mut ike = IkeSaCounts::default();
        for id in self.wire.conn_ids.values() {
            for sa in self.wire.engine.ike_sas_of(*id) {
                ike.total += 1;
                match self.wire.ike_sas.get(&sa) {
                    Some(rec) => {
                        ike.authenticated += 1;
                        if rec.info.remote_id == Identity::Null {
                            ike.anonymous += 1;
                        }
                    }
                    None if !self.wire.was_established.contains(&sa) => ike.half_open += 1,
                    None => {}
                }
            }
        }
        let n = self.wire.children.len() as u64;
        let ipsec = IpsecSaCounts {
            total: n,
            authenticated: n,
            ..IpsecSaCounts::default()
        };
        (ike, ipsec)
    }

    /// The SAs as status shows them.
    pub fn sa_view(&mut self) -> SaView {
        let now = Instant::now();
        let (ike, ipsec) = self.sa_counts();
        let mut v = SaView {
            kernel: self.wire.backend.as_ref().map(|b| b.name()),
            sockets_open: !self.wire.sockets.is_empty(),
            ike,
            ipsec,
            ..SaView::default()
        };
        // Every IKE SA of every connection (established or negotiating).
        let mut ike_ids: Vec<(IkeSaId, String)> = Vec::new();
        for (name, id) in &self.wire.conn_ids {
            for sa in self.wire.engine.ike_sas_of(*id) {
                ike_ids.push((sa, name.clone()));
            }
        }
        ike_ids.sort();
        // Forget the serials the engine no longer has.
        let live: std::collections::HashSet<IkeSaId> = ike_ids.iter().map(|(s, _)| *s).collect();
        self.wire.initiated.retain(|s| live.contains(s));
        self.wire.was_established.retain(|s| live.contains(s));
        // (serial, line) so IKE and Child SA lines interleave by serial.
        let mut lines: Vec<(u64, u8, String)> = Vec::new();
        for (sa, name) in &ike_ids {
            match self.wire.ike_sas.get(sa) {
                Some(rec) => {
                    let tcp = self.wire.tcp.has_stream(rec.info.remote);
                    let left = secs_left(rec.since, rec.lifetime, now);
                    lines.push((
                        sa.0,
                        0,
                        format!(
                            "#{}: \"{name}\":{} STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); {}REPLACE in {left}s; newest; idle;{}",
                            sa.0,
                            if tcp { crate::tcp::TCP_PORT } else { rec.info.remote.port() },
                            rekey_words(self.wire.engine.ike_sa_rekey_at(*sa), now),
                            if tcp { " TCP;" } else { "" },
                        ),
                    ));
                    v.states_json.push(serde_json::json!({
                        "serial": sa.0,
                        "connection": name,
                        "kind": "IKE",
                        "state": "STATE_V2_ESTABLISHED_IKE_SA",
                        "initiator": rec.info.initiator,
                        "local": rec.info.local.to_string(),
                        "remote": rec.info.remote.to_string(),
                        "local_id": id_text(&rec.info.local_id),
                        "remote_id": id_text(&rec.info.remote_id),
                        "algorithms": rec.info.suite.describe(),
                        "nat": rec.info.nat.encapsulate(),
                        "transport": if tcp { "tcp" } else { "udp" },
                        "replace_in_s": left,
                    }));
                }
                None => {
                    let (state, words) = if self.wire.was_established.contains(sa) {
                        ("STATE_V2_IKE_SA_DELETE", "deleting IKE SA")
                    } else if self.wire.initiated.contains(sa) {
                        ("STATE_V2_PARENT_I1", "sent IKE_SA_INIT request")
                    } else {
                        ("STATE_V2_PARENT_R1", "sent IKE_SA_INIT reply")
                    };
                    lines.push((
                        sa.0,
                        0,
                        format!("#{}: \"{name}\":500 {state} ({words}); idle;", sa.0),
                    ));
                    v.states_json.push(serde_json::json!({
                        "serial": sa.0,
                        "connection": name,
                        "kind": "IKE",
                        "state": state,
                    }));
                }
            }
        }
        let mut children: Vec<_> = self
            .wire
            .children
            .iter()
            .map(|(k, c)| (*k, c.clone()))
            .collect();
        children.sort_by_key(|(k, _)| *k);
        let mut active = std::collections::HashSet::new();
        // One round trip to the data plane for all of them.
        let sa_ids: Vec<_> = children.iter().map(|(_, c)| c.sa).collect();
        let all_counters = self
            .wire
            .backend
            .as_mut()
            .map(|b| b.counters_many(&sa_ids))
            .unwrap_or_default();
        for (i, (id, c)) in children.into_iter().enumerate() {
            active.insert(c.name.clone());
            let counters = all_counters.get(i).copied().flatten().unwrap_or_default();
            let left = secs_left(c.since, c.lifetime, now);
            let port = self
                .wire
                .ike_sas
                .get(&c.ike_sa)
                .map(|r| r.info.remote.port())
                .unwrap_or(500);
            let eroute = self
                .wire
                .routes
                .get(&c.conn)
                .is_some_and(|r| r.current == Some(id));
            lines.push((
                id.0,
                1,
                format!(
                    "#{}: \"{}\":{port} STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); {}REPLACE in {left}s; newest;{} IKE SA #{}; idle;",
                    id.0,
                    c.name,
                    rekey_words(self.wire.engine.child_sa_rekey_at(id), now),
                    if eroute { " eroute owner;" } else { "" },
                    c.ike_sa.0,
                ),
            ));
            lines.push((
                id.0,
                2,
                format!(
                    "#{}: \"{}\" {}.{:x} {}.{:x} tun [{}] Traffic: ESPin={}B ESPout={}B ESPmax=2^63B",
                    id.0,
                    c.name,
                    if c.encapsulated { "esp-in-udp" } else { "esp" },
                    c.outbound_spi,
                    if c.encapsulated { "esp-in-udp" } else { "esp" },
                    c.inbound_spi,
                    c.tunnel,
                    counters.inbound.bytes,
                    counters.outbound.bytes,
                ),
            ));
            let add_time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                .saturating_sub(now.saturating_duration_since(c.since).as_secs());
            v.traffic_lines.push(format!(
                "#{}: \"{}\", type=ESP, add_time={add_time}, inBytes={}, outBytes={}, maxBytes=2^63B, id='{}'",
                id.0, c.name, counters.inbound.bytes, counters.outbound.bytes, c.peer_id
            ));
            v.states_json.push(serde_json::json!({
                "serial": id.0,
                "connection": c.name,
                "kind": "CHILD",
                "state": "STATE_V2_ESTABLISHED_CHILD_SA",
                "ike_sa": c.ike_sa.0,
                "inbound_spi": format!("0x{:08x}", c.inbound_spi),
                "outbound_spi": format!("0x{:08x}", c.outbound_spi),
                "tunnel": c.tunnel,
                "algorithms": c.xfrm,
                "encapsulation": if c.encapsulated { "udp" } else { "none" },
                "esn": c.esn,
                "in_bytes": counters.inbound.bytes,
                "out_bytes": counters.outbound.bytes,
                "in_packets": counters.inbound.packets,
                "out_packets": counters.outbound.packets,
                "replace_in_s": left,
            }));
        }
        v.active = active.len();
        lines.sort_by_key(|a| (a.0, a.1));
        v.state_lines = lines.into_iter().map(|(_, _, l)| l).collect();
        v
    }
}
