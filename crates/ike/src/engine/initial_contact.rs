//! INITIAL_CONTACT (RFC 7296 2.4): sent only when this end holds no other
//! IKE SA with the peer; on receipt, the peer's other IKE SAs go. IKE SAs
//! are indexed by the peer's address for it.

use std::net::IpAddr;

use super::ike_sa::IkeSa;
use super::{Engine, IkeSaId};

impl Engine {
    /// Moves an SA's entry in the peer index after the peer's address
    /// changed.
    pub(super) fn reindex_peer(&mut self, id: IkeSaId, old: IpAddr, new: IpAddr) {
        if old == new {
            return;
        }
        if let Some(set) = self.by_peer.get_mut(&old) {
            set.remove(&id);
            if set.is_empty() {
                self.by_peer.remove(&old);
            }
        }
        self.by_peer.entry(new).or_default().insert(id);
    }

    /// The other IKE SAs with `sa`'s peer address (an index, not a scan).
    fn other_sas_with_peer<'a>(&'a self, sa: &'a IkeSa) -> impl Iterator<Item = &'a IkeSa> + 'a {
        self.by_peer
            .get(&sa.remote.ip())
            .into_iter()
            .flatten()
            .filter(move |id| **id != sa.id)
            .filter_map(|id| self.sas.get(id))
    }

    /// Whether another IKE SA with `sa`'s peer exists, in any state: one
    /// still being negotiated may already be established on the peer, and
    /// one being deleted still waits for the peer's answer. INITIAL_CONTACT
    /// would make the peer drop them (RFC 7296 2.4).
    pub(super) fn other_sa_with_peer(&self, sa: &IkeSa) -> bool {
        self.other_sas_with_peer(sa).next().is_some()
    }

    /// Drops the other IKE SAs with the same peer address and identity, of
    /// any connection (INITIAL_CONTACT, RFC 7296 2.4: the peer restarted,
    /// and this IKE SA is the only one it holds with us).
    pub(super) fn initial_contact(&mut self, sa: &IkeSa) {
        let others: Vec<IkeSaId> = self
            .other_sas_with_peer(sa)
            .filter(|o| o.remote_id == sa.remote_id)
            .map(|o| o.id)
            .collect();
        for id in others {
            if let Some(mut old) = self.sas.remove(&id) {
                self.sa_log(&old, "INITIAL_CONTACT from the peer: deleting this IKE SA");
                self.report_down(&mut old, "replaced after INITIAL_CONTACT from the peer");
                self.forget_sa(old);
            }
        }
    }
}
