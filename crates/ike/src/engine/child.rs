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

/// The margin before the end of `lifetime` at which an SA rekeys, as
/// Libreswan computes it: `rekeymargin` (`margin`; unset: 9 min, at most a
/// quarter of the lifetime; set: at most the lifetime), plus, for the
/// initiator, a random part of up to `fuzz_percent` of it (`rekeyfuzz=`,
/// `fraction` in [0, 1)); the responder uses half the margin and no fuzz,
/// so that the initiator usually rekeys first. ferroswan limits the fuzz
/// to half the time the margin leaves, so an SA never rekeys as soon as
/// it is created.
pub(crate) fn rekey_margin(
    lifetime: Duration,
    margin: Option<Duration>,
    fuzz_percent: u32,
    initiator: bool,
    fraction: f64,
) -> Duration {
    let margin = match margin {
        Some(m) => m.min(lifetime),
        None => Duration::from_secs(540).min(lifetime / 4),
    };
    if !initiator {
        return margin / 2;
    }
    let fuzz = margin
        .mul_f64(f64::from(fuzz_percent) / 100.0)
        .min(lifetime.saturating_sub(margin) / 2);
    margin + fuzz.mul_f64(fraction.clamp(0.0, 1.0))
}

impl Engine {
    /// When to rekey an SA of `lifetime` created `now` under `conn`
    /// ([`rekey_margin`] with a fresh random fraction); `None` when the
    /// connection does not rekey (`rekey=no`).
    pub(crate) fn rekey_time(
        &mut self,
        now: Instant,
        conn: &Connection,
        lifetime: Duration,
        initiator: bool,
    ) -> Option<Instant> {
        if !conn.rekey {
            return None;
        }
        let mut b = [0u8; 4];
        self.rng.fill(&mut b);
        let fraction = f64::from(u32::from_be_bytes(b)) / 4_294_967_296.0;
        let margin = rekey_margin(
            lifetime,
            conn.rekey_margin,
            conn.rekey_fuzz,
            initiator,
            fraction,
        );
        Some(now + lifetime.saturating_sub(margin))
    }

    /// When an IKE SA will rekey, if it will.
    pub fn ike_sa_rekey_at(&self, id: super::IkeSaId) -> Option<Instant> {
        self.sas.get(&id).and_then(|sa| sa.rekey_at)
    }

    /// When a Child SA will rekey, if it will.
    pub fn child_sa_rekey_at(&self, id: ChildSaId) -> Option<Instant> {
        let owner = self.child_owner.get(&id)?;
        self.sas
            .get(owner)?
            .children
            .iter()
            .find(|c| c.id == id && !c.replaced)
            .and_then(|c| c.rekey_at)
    }
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
            rekey_at: self.rekey_time(now, conn, conn.child_lifetime, sa.initiator),
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
            Some(old) => self.events.push_back(Event::ChildSaRekeyed {
                old,
                new: info,
                initiator: role == "initiator",
            }),
            None => self.events.push_back(Event::ChildSaUp(info)),
        }
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::rekey_margin;
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);
    const MARGIN: Duration = Duration::from_secs(540);

    #[test]
    fn initiator_margin_is_the_margin_plus_up_to_fuzz_of_it() {
        let m = |fuzz, fraction| rekey_margin(8 * HOUR, Some(MARGIN), fuzz, true, fraction);
        // rekeyfuzz=100% (the default): 9 to 18 minutes before expiry.
        assert_eq!(m(100, 0.0), MARGIN);
        assert_eq!(m(100, 0.5), MARGIN + MARGIN / 2);
        assert_eq!(m(100, 1.0), MARGIN * 2);
        // rekeyfuzz=0%: exactly the margin; 50%: at most half more.
        assert_eq!(m(0, 0.99), MARGIN);
        assert_eq!(m(50, 1.0), MARGIN + MARGIN / 2);
        // Fuzz above 100% (Libreswan accepts it): up to 3x the margin.
        assert_eq!(m(200, 1.0), MARGIN * 3);
        for i in 0..=100 {
            let got = m(100, f64::from(i) / 100.0);
            assert!(got >= MARGIN && got <= MARGIN * 2, "{got:?}");
        }
    }

    #[test]
    fn responder_margin_is_half_without_fuzz() {
        for fraction in [0.0, 0.7, 1.0] {
            assert_eq!(
                rekey_margin(8 * HOUR, Some(MARGIN), 100, false, fraction),
                MARGIN / 2
            );
        }
    }

    #[test]
    fn default_margin_and_limits() {
        // Unset: 9 min, at most a quarter of the lifetime.
        assert_eq!(rekey_margin(8 * HOUR, None, 0, true, 0.0), MARGIN);
        let short = Duration::from_secs(60);
        assert_eq!(rekey_margin(short, None, 0, true, 0.0), short / 4);
        // The fuzz never takes more than half of what the margin leaves:
        // a 3597 s margin on a 1 h lifetime rekeys 1.5 to 3 s in.
        let m = Duration::from_secs(3597);
        let got = rekey_margin(HOUR, Some(m), 100, true, 1.0);
        assert_eq!(got, m + Duration::from_millis(1500));
        // A margin longer than the lifetime is the lifetime, no fuzz.
        assert_eq!(rekey_margin(HOUR, Some(2 * HOUR), 100, true, 0.9), HOUR);
        // An out-of-range fraction is clamped.
        assert_eq!(
            rekey_margin(8 * HOUR, Some(MARGIN), 100, true, 7.0),
            MARGIN * 2
        );
    }
}
