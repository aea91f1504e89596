//! Timers of an IKE SA: retransmission with back-off and give-up,
//! half-open expiry, liveness checks, rekeys and lifetimes.

use std::time::Instant;

use super::ike_sa::{self, IkeSa, IkeState, RequestKind};
use super::{Engine, IkeSaId, REKEYED_SA_GRACE};

impl Engine {
    pub(super) fn sa_timeout(&mut self, now: Instant, id: IkeSaId) {
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        let keep = self.sa_timeout_inner(now, &mut sa);
        if keep {
            self.sas.insert(id, sa);
            self.schedule(id);
        } else {
            self.forget_sa(sa);
        }
    }

    fn sa_timeout_inner(&mut self, now: Instant, sa: &mut IkeSa) -> bool {
        if sa.state == IkeState::InitAnswered && now >= sa.created + self.config.half_open_timeout {
            self.sa_log(sa, "deleting half-open IKE SA: no IKE_AUTH request arrived");
            return false;
        }
        if sa.rekeyed_to.is_some()
            && sa.outstanding.is_none()
            && now >= sa.last_received + REKEYED_SA_GRACE
        {
            self.sa_log(sa, "the peer never deleted the rekeyed IKE SA; dropping it");
            return false;
        }
        if let Some(o) = sa.outstanding.as_mut() {
            if now >= o.next_retransmit {
                if now >= o.give_up_at {
                    let kind = o.kind;
                    let what = match kind {
                        RequestKind::IkeSaInit => "IKE_SA_INIT",
                        RequestKind::IkeAuth => "IKE_AUTH",
                        RequestKind::Intermediate => "IKE_INTERMEDIATE",
                        RequestKind::Liveness => "liveness check",
                        _ => "INFORMATIONAL",
                    };
                    let line = format!(
                        "{what} request timed out after {} retransmits; giving up",
                        o.retransmits
                    );
                    self.sa_log(sa, &line);
                    if sa.state != IkeState::Deleting {
                        self.report_down(sa, &line);
                    }
                    return false;
                }
                o.retransmits += 1;
                o.interval = o.interval.saturating_mul(2);
                o.next_retransmit = now + o.interval;
                let packets = o.packets.clone();
                let n = o.retransmits;
                self.send(sa, &packets);
                self.sa_log(sa, &format!("retransmitting request (attempt {n})"));
            }
            return true;
        }
        if sa.state == IkeState::Established && sa.rekeyed_to.is_none() {
            if sa.expire_at.is_some_and(|t| now >= t) {
                self.sa_log(sa, "IKE SA lifetime expired without a rekey");
                self.begin_delete_ike(now, sa, "lifetime expired");
                return true;
            }
            let expired = sa
                .children
                .iter()
                .find(|c| c.expire_at.is_some_and(|t| now >= t))
                .map(|c| c.id);
            if let Some(child) = expired {
                self.sa_log(sa, &format!("Child SA #{} lifetime expired", child.0));
                self.delete_child_on(now, sa, child);
                return true;
            }
            if sa.rekey_at.is_some_and(|t| now >= t) {
                sa.rekey_at = None;
                let spi = self.random_spi();
                if let Err(e) = self.start_create(now, sa, ike_sa::CreateKind::RekeyIke(spi), None)
                {
                    self.sa_log(sa, &format!("cannot rekey the IKE SA: {e}"));
                }
                return true;
            }
            let due = sa
                .children
                .iter()
                .find(|c| !c.replaced && c.rekey_at.is_some_and(|t| now >= t))
                .map(|c| c.id);
            if let Some(child) = due {
                if let Err(e) =
                    self.start_create(now, sa, ike_sa::CreateKind::RekeyChild(child), None)
                {
                    self.sa_log(sa, &format!("cannot rekey Child SA #{}: {e}", child.0));
                    if let Some(c) = sa.children.iter_mut().find(|c| c.id == child) {
                        c.rekey_at = None;
                    }
                }
                return true;
            }
            let dpd = self.connections.get(&sa.conn).and_then(|c| c.dpd_delay);
            if let Some(d) = dpd {
                if now >= sa.last_received + d {
                    self.send_liveness(now, sa);
                }
            }
        }
        true
    }
}
