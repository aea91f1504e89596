//! IKE SA rekey (RFC 7296 1.3.2, 2.18): the responder's side and the
//! creation of the new IKE SA that takes over the Child SAs.

use std::collections::VecDeque;
use std::time::Instant;

use crate::crypto::{IkeSaKeys, KeyExchange};
use crate::wire::{ExchangeType, KePayload, Notify, NotifyType, Payload, ProtocolId, SaPayload};

use super::config::Connection;
use super::event::{Event, IkeSaId, IkeSaInfo};
use super::ike_sa::{Collision, CreateKind, IkeSa, IkeState, RequestKind};
use super::proposal::select_ike;
use super::Engine;

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rekey_ike_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        conn: &Connection,
        mid: u32,
        sa_payload: &SaPayload,
        ni: Vec<u8>,
        ke: Option<KePayload>,
    ) -> bool {
        let colliding = sa
            .pending_create
            .as_ref()
            .is_some_and(|p| matches!(p.kind, CreateKind::RekeyIke(_)));
        let busy =
            (sa.pending_create.is_some() && !colliding) || sa.children.iter().any(|c| c.replaced);
        if busy {
            // RFC 7296 2.25: a rekey of ours is in flight; the peer retries.
            self.sa_log(sa, "IKE SA rekey request while an exchange of ours is in flight; sending TEMPORARY_FAILURE");
            self.create_error_reply(
                sa,
                mid,
                Notify::new(NotifyType::TEMPORARY_FAILURE, Vec::new()),
            );
            return true;
        }
        let Some(ke) = ke else {
            self.create_error_reply(sa, mid, Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
            return true;
        };
        let our_spi = self.random_spi();
        let Some((suite, chosen)) =
            select_ike(&conn.ike_proposals(), sa_payload, Some(ke.group), &our_spi)
        else {
            self.sa_log(
                sa,
                "no acceptable IKE proposal for the rekey; sending NO_PROPOSAL_CHOSEN",
            );
            self.create_error_reply(
                sa,
                mid,
                Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
            return true;
        };
        let Some(their_spi) = sa_payload
            .proposals
            .iter()
            .find(|p| p.number == chosen.number && p.protocol == ProtocolId::Ike)
            .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
        else {
            self.create_error_reply(sa, mid, Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
            return true;
        };
        if suite.ke.transform_id() != ke.group {
            self.create_error_reply(
                sa,
                mid,
                Notify::new(
                    NotifyType::INVALID_KE_PAYLOAD,
                    suite.ke.transform_id().to_be_bytes().to_vec(),
                ),
            );
            return true;
        }
        let (public, shared) = match KeyExchange::respond(suite.ke, &ke.data, &mut *self.rng) {
            Ok(x) => x,
            Err(e) => {
                self.sa_log(sa, &format!("IKE SA rekey key exchange failed: {e}"));
                self.create_error_reply(
                    sa,
                    mid,
                    Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()),
                );
                return true;
            }
        };
        let nr = self.nonce();
        let Some(old_keys) = sa.keys.as_ref() else {
            return false;
        };
        let keys = match old_keys.derive_rekey(
            suite.prf,
            suite.encr,
            suite.integ,
            &[&shared],
            &ni,
            &nr,
            &their_spi,
            &our_spi,
        ) {
            Ok(k) => k,
            Err(e) => {
                self.sa_log(sa, &format!("IKE SA rekey key derivation failed: {e}"));
                return true;
            }
        };
        let reply = vec![
            Payload::Sa(SaPayload {
                proposals: vec![chosen],
            }),
            Payload::Nonce(nr.clone()),
            Payload::Ke(KePayload {
                group: suite.ke.transform_id(),
                data: public,
            }),
        ];
        let packets = match sa.protect(
            ExchangeType::CreateChildSa,
            true,
            mid,
            &reply,
            None,
            &mut *self.rng,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.sa_log(sa, &format!("cannot build CREATE_CHILD_SA response: {e}"));
                return true;
            }
        };
        self.send_response(sa, mid, packets);
        // In a collision with our own IKE SA rekey (RFC 7296 2.8.2) the
        // Child SAs stay until both exchanges are done and the survivor is
        // known.
        let created = self.replace_ike_sa(
            now,
            sa,
            conn,
            keys,
            suite,
            their_spi,
            our_spi,
            false,
            ni.clone(),
            nr.clone(),
            !colliding,
        );
        if colliding {
            if let Some(p) = sa.pending_create.as_mut() {
                p.collision = Some(Collision { ni, nr, created });
            }
        }
        true
    }

    /// Ends an IKE SA rekey: the Child SAs move to `survivor`, the old SA
    /// is marked rekeyed (and deleted by us when `delete_old`), a
    /// redundant new SA from a collision is marked too and deleted by us
    /// when its flag says so.
    pub(super) fn settle_ike_rekey(
        &mut self,
        now: Instant,
        old: &mut IkeSa,
        survivor: IkeSaId,
        redundant: Option<(IkeSaId, bool)>,
        delete_old: bool,
    ) {
        let children = std::mem::take(&mut old.children);
        for c in &children {
            self.child_owner.insert(c.id, survivor);
        }
        let Some(conn) = self.connections.get(&old.conn).cloned() else {
            return;
        };
        if let Some(new) = self.sas.get_mut(&survivor) {
            new.children.extend(children);
        }
        old.rekeyed_to = Some(survivor);
        if let Some(new) = self.sas.get(&survivor) {
            if let Some(suite) = new.suite.clone() {
                self.events.push_back(Event::IkeSaRekeyed {
                    old: old.id,
                    new: Box::new(IkeSaInfo {
                        ike_sa: survivor,
                        conn: new.conn,
                        initiator: new.initiator,
                        local: new.local,
                        remote: new.remote,
                        local_id: conn.local_identity(),
                        remote_id: new.remote_id.clone().unwrap_or(super::Identity::Null),
                        suite,
                        nat: new.nat,
                    }),
                });
            }
        }
        self.schedule(survivor);
        if let Some((r, we_delete)) = redundant {
            if let Some(red) = self.sas.get_mut(&r) {
                red.rekeyed_to = Some(survivor);
            }
            if we_delete {
                self.pending_deletes.push(r);
            }
        }
        if delete_old {
            self.delete_old_ike_sa(now, old);
        }
    }

    /// We initiated the surviving rekey: delete the old IKE SA.
    pub(super) fn delete_old_ike_sa(&mut self, now: Instant, sa: &mut IkeSa) {
        self.sa_log(
            sa,
            "deleting the rekeyed IKE SA; sending Delete notification",
        );
        sa.state = IkeState::Deleting;
        let inner = vec![Payload::Delete(crate::wire::DeletePayload {
            protocol: ProtocolId::Ike,
            spi_size: 0,
            spis: Vec::new(),
        })];
        sa.outstanding = None;
        let mid = sa.next_message_id;
        if let Ok(p) = sa.protect(
            ExchangeType::Informational,
            false,
            mid,
            &inner,
            None,
            &mut *self.rng,
        ) {
            self.send_request(now, sa, RequestKind::DeleteIke, p);
        }
    }

    /// Creates the IKE SA that replaces `old` after a rekey and moves the
    /// Child SAs over.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn replace_ike_sa(
        &mut self,
        now: Instant,
        old: &mut IkeSa,
        conn: &Connection,
        keys: IkeSaKeys,
        suite: super::IkeSuite,
        spi_i: [u8; 8],
        spi_r: [u8; 8],
        initiator: bool,
        ni: Vec<u8>,
        nr: Vec<u8>,
        settle: bool,
    ) -> Option<IkeSaId> {
        let (out, inc) = if initiator {
            (keys.initiator_cipher().ok()?, keys.responder_cipher().ok()?)
        } else {
            (keys.responder_cipher().ok()?, keys.initiator_cipher().ok()?)
        };
        let id = IkeSaId(self.serial());
        let children = if settle {
            std::mem::take(&mut old.children)
        } else {
            Vec::new()
        };
        for c in &children {
            self.child_owner.insert(c.id, id);
        }
        let desc = suite.describe();
        let new = IkeSa {
            id,
            conn: old.conn,
            initiator,
            spi_i,
            spi_r,
            local: old.local,
            remote: old.remote,
            state: IkeState::Established,
            created: now,
            last_received: now,
            suite: Some(suite.clone()),
            keys: Some(keys),
            cipher_out: Some(out),
            cipher_in: Some(inc),
            ke: None,
            ni,
            nr,
            init_request: Vec::new(),
            init_response: Vec::new(),
            cookie: None,
            ke_retries: 0,
            peer_fragmentation: old.peer_fragmentation,
            peer_childless: old.peer_childless,
            last_aad: None,
            last_plaintext: Vec::new(),
            last_first_inner: 0,
            addke_pending: Vec::new(),
            int_auth: None,
            peer_signature_hashes: old.peer_signature_hashes.clone(),
            peer_certreq: old.peer_certreq.clone(),
            nat: old.nat,
            remote_id: old.remote_id.clone(),
            next_message_id: 0,
            outstanding: None,
            expected_request_id: 0,
            last_response: None,
            reassembly: None,
            children,
            pending_child: None,
            pending_create: None,
            queued: VecDeque::new(),
            queued_creates: VecDeque::new(),
            rekeyed_to: None,
            rekey_at: self.rekey_time(now, conn, conn.ike_lifetime, initiator),
            expire_at: Some(now + conn.ike_lifetime),
        };
        let line = format!(
            "\"{}\" #{}: {} rekeyed IKE SA #{} {desc}",
            conn.name,
            id.0,
            if initiator { "initiator" } else { "responder" },
            old.id.0
        );
        self.log(line);
        if settle {
            old.rekeyed_to = Some(id);
            self.events.push_back(Event::IkeSaRekeyed {
                old: old.id,
                new: Box::new(IkeSaInfo {
                    ike_sa: id,
                    conn: old.conn,
                    initiator,
                    local: old.local,
                    remote: old.remote,
                    local_id: conn.local_identity(),
                    remote_id: old.remote_id.clone().unwrap_or(super::Identity::Null),
                    suite,
                    nat: old.nat,
                }),
            });
        }
        self.insert_sa(new);
        Some(id)
    }
}
