//! Child SAs: the keys and report of a new Child SA (RFC 7296 2.17).

use std::time::{Duration, Instant};

use crate::crypto::{ChildKeys, Secret};
use crate::wire::TrafficSelector;

use super::config::ConnId;
use super::config::{Connection, Mode};
use super::event::{ChildSaId, ChildSaInfo, Event};
use super::ike_sa::{ChildSa, IkeSa};
use super::proposal::{ke_name, ChildSuite};
use super::ts::describe;
use super::Engine;
/// A Child SA ready to be installed.
pub(crate) struct NewChild {
    /// The connection it belongs to.
    pub conn: ConnId,
    pub suite: ChildSuite,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Mode,
    /// Nonces of the exchange that created it (IKE_AUTH: the IKE SA's).
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The PFS shared secret of CREATE_CHILD_SA.
    pub pfs_shared: Option<Secret>,
    /// The Child SA this one rekeys.
    pub rekey_of: Option<ChildSaId>,
}

pub(crate) fn tunnel_line(local: &[TrafficSelector], remote: &[TrafficSelector]) -> String {
    let l: Vec<String> = local.iter().map(describe).collect();
    let r: Vec<String> = remote.iter().map(describe).collect();
    format!("[{}] -> [{}]", l.join(" "), r.join(" "))
}

/// When to rekey an SA of `lifetime` created `now`: Libreswan's
/// `rekeymargin` (9 min, at most a quarter of the lifetime); the
/// responder waits half the margin longer so that the initiator usually
/// rekeys first.
/// With `rekeymargin=` set, that margin (at most the lifetime) instead.
/// `None` when the connection does not rekey (`rekey=no`).
pub(crate) fn conn_rekey_time(
    now: Instant,
    conn: &Connection,
    lifetime: Duration,
    initiator: bool,
) -> Option<Instant> {
    conn.rekey
        .then(|| rekey_time_with(now, lifetime, conn.rekey_margin, initiator))
}

fn rekey_time_with(
    now: Instant,
    lifetime: Duration,
    margin: Option<Duration>,
    initiator: bool,
) -> Instant {
    let margin = match margin {
        Some(m) => m.min(lifetime),
        None => Duration::from_secs(540).min(lifetime / 4),
    };
    let margin = if initiator { margin } else { margin / 2 };
    now + lifetime.saturating_sub(margin)
}

impl Engine {
    /// Derives the keys of a Child SA, records it and reports it.
    pub(super) fn install_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        conn: &Connection,
        nc: NewChild,
        role: &str,
    ) -> Option<ChildSaId> {
        let keys = sa.keys.as_ref()?;
        let pfs: Vec<&Secret> = nc.pfs_shared.iter().collect();
        let child_keys = match ChildKeys::derive(
            keys.prf,
            &keys.sk_d,
            nc.suite.encr,
            nc.suite.integ,
            &pfs,
            &nc.ni,
            &nc.nr,
        ) {
            Ok(k) => k,
            Err(e) => {
                self.sa_log(sa, &format!("Child SA key derivation failed: {e}"));
                return None;
            }
        };
        let (inbound_keys, outbound_keys) = if role == "initiator" {
            (
                child_keys.responder_to_initiator,
                child_keys.initiator_to_responder,
            )
        } else {
            (
                child_keys.initiator_to_responder,
                child_keys.responder_to_initiator,
            )
        };
        let id = ChildSaId(self.serial());
        self.child_owner.insert(id, sa.id);
        sa.children.push(ChildSa {
            id,
            conn: nc.conn,
            inbound_spi: nc.inbound_spi,
            outbound_spi: nc.outbound_spi,
            suite: nc.suite.clone(),
            local_ts: nc.local_ts.clone(),
            remote_ts: nc.remote_ts.clone(),
            mode: nc.mode,
            rekey_at: conn_rekey_time(now, conn, conn.child_lifetime, sa.initiator),
            replaced: false,
            expire_at: Some(now + conn.child_lifetime),
        });
        let encap = if sa.nat.encapsulate() {
            "ESPinUDP"
        } else {
            "ESP"
        };
        let kind = if nc.mode == Mode::Transport {
            "transport mode"
        } else {
            "tunnel"
        };
        let what = if nc.rekey_of.is_some() {
            "rekeyed Child SA"
        } else {
            "established Child SA"
        };
        let line = format!(
            "\"{}\" #{}: {role} {what} using #{}; IPsec {kind} {} {{{encap}=>0x{:08x} <0x{:08x} xfrm={}{} DPD={}}}",
            conn.name,
            id.0,
            sa.id.0,
            tunnel_line(&nc.local_ts, &nc.remote_ts),
            nc.outbound_spi,
            nc.inbound_spi,
            nc.suite.describe(),
            nc.suite.ke.map(|g| format!("-{}", ke_name(g))).unwrap_or_default(),
            if conn.dpd_delay.is_some() { "active" } else { "passive" }
        );
        self.log(line);
        let info = Box::new(ChildSaInfo {
            ike_sa: sa.id,
            conn: nc.conn,
            child: id,
            inbound_spi: nc.inbound_spi,
            outbound_spi: nc.outbound_spi,
            suite: nc.suite,
            inbound_keys,
            outbound_keys,
            local_ts: nc.local_ts,
            remote_ts: nc.remote_ts,
            mode: nc.mode,
            lifetime: conn.child_lifetime,
            local: sa.local,
            remote: sa.remote,
            nat: sa.nat,
        });
        match nc.rekey_of {
            Some(old) => self
                .events
                .push_back(Event::ChildSaRekeyed { old, new: info }),
            None => self.events.push_back(Event::ChildSaUp(info)),
        }
        Some(id)
    }
}
