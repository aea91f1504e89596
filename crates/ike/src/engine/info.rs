//! INFORMATIONAL exchanges (RFC 7296 1.4): Delete of IKE and Child SAs,
//! liveness checks; and the answer to exchanges not implemented yet.

use std::time::Instant;

use crate::wire::{DeletePayload, ExchangeType, Payload, ProtocolId};

use super::event::{ChildSaId, Event, IkeSaId};
use super::ike_sa::{IkeSa, IkeState, RequestKind};
use super::Engine;

impl Engine {
    /// Deletes an IKE SA: reports it and its Child SAs down at once, and
    /// sends the Delete (retransmitted until answered or timed out).
    pub(super) fn delete_ike_sa(&mut self, now: Instant, id: IkeSaId) {
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        if sa.state != IkeState::Established {
            // Nothing to tell the peer (no keys or not authenticated).
            self.sa_log(&sa, "deleting IKE SA before it was established");
            self.report_down(&mut sa, "deleted by request");
            self.forget_sa(sa);
            return;
        }
        self.begin_delete_ike(now, &mut sa, "deleted by request");
        self.sas.insert(id, sa);
        self.schedule(id);
    }

    /// Reports an established IKE SA and its Child SAs down and sends the
    /// Delete; the SA stays (state Deleting) until answered or timed out.
    pub(super) fn begin_delete_ike(&mut self, now: Instant, sa: &mut IkeSa, reason: &str) {
        let aged = now.saturating_duration_since(sa.created).as_secs_f64();
        self.sa_log(
            sa,
            &format!(
                "deleting state (STATE_V2_ESTABLISHED_IKE_SA) aged {aged:.6}s and sending notification"
            ),
        );
        self.report_down(sa, reason);
        sa.state = IkeState::Deleting;
        let inner = vec![Payload::Delete(DeletePayload {
            protocol: ProtocolId::Ike,
            spi_size: 0,
            spis: Vec::new(),
        })];
        self.send_informational(now, sa, RequestKind::DeleteIke, inner);
    }

    /// Deletes one Child SA with an INFORMATIONAL Delete.
    pub(super) fn delete_child_sa(&mut self, now: Instant, owner: IkeSaId, child: ChildSaId) {
        let Some(mut sa) = self.sas.remove(&owner) else {
            return;
        };
        self.delete_child_on(now, &mut sa, child);
        self.sas.insert(owner, sa);
        self.schedule(owner);
    }

    /// Deletes a Child SA of `sa`: reports it down and sends the Delete.
    pub(super) fn delete_child_on(&mut self, now: Instant, sa: &mut IkeSa, child: ChildSaId) {
        if let Some(pos) = sa.children.iter().position(|c| c.id == child) {
            let c = sa.children.remove(pos);
            self.child_owner.remove(&c.id);
            self.events.push_back(Event::ChildSaDown {
                ike_sa: sa.id,
                conn: c.conn,
                child: c.id,
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
            });
            let inner = vec![Payload::Delete(DeletePayload {
                protocol: ProtocolId::Esp,
                spi_size: 4,
                spis: vec![c.inbound_spi.to_be_bytes().to_vec()],
            })];
            self.sa_log(sa, &format!("deleting Child SA #{}", c.id.0));
            self.send_informational(now, sa, RequestKind::DeleteChild, inner);
        }
    }

    /// Sends the next queued INFORMATIONAL request, if the window is free.
    pub(super) fn send_queued(&mut self, now: Instant, sa: &mut IkeSa) {
        if sa.outstanding.is_some() || sa.pending_create.is_some() {
            return;
        }
        if let Some((kind, inner)) = sa.queued.pop_front() {
            self.send_informational(now, sa, kind, inner);
            return;
        }
        while let Some(kind) = sa.queued_creates.pop_front() {
            match self.start_create(now, sa, kind, None) {
                Ok(()) => return,
                Err(e) => self.sa_log(sa, &format!("queued CREATE_CHILD_SA dropped: {e}")),
            }
        }
    }

    /// Sends an empty INFORMATIONAL request (liveness check).
    pub(super) fn send_liveness(&mut self, now: Instant, sa: &mut IkeSa) {
        self.send_informational(now, sa, RequestKind::Liveness, Vec::new());
    }

    pub(super) fn send_informational(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        kind: RequestKind,
        inner: Vec<Payload>,
    ) {
        if sa.outstanding.is_some() {
            // Window size 1: a request is already in flight. The Delete of
            // an IKE SA supersedes it; anything else waits its turn.
            if kind != RequestKind::DeleteIke {
                if kind != RequestKind::Liveness {
                    sa.queued.push_back((kind, inner));
                }
                return;
            }
            sa.outstanding = None;
            sa.queued.clear();
        }
        let mid = sa.next_message_id;
        match sa.protect(
            ExchangeType::Informational,
            false,
            mid,
            &inner,
            None,
            &mut *self.rng,
        ) {
            Ok(p) => self.send_request(now, sa, kind, p),
            Err(e) => self.sa_log(sa, &format!("cannot build INFORMATIONAL request: {e}")),
        }
    }

    /// The answer to our INFORMATIONAL request; false ends the SA.
    pub(super) fn informational_response(
        &mut self,
        _now: Instant,
        sa: &mut IkeSa,
        kind: RequestKind,
        _inner: Vec<Payload>,
    ) -> bool {
        match kind {
            RequestKind::DeleteIke => {
                self.sa_log(sa, "IKE SA deleted; peer acknowledged");
                false
            }
            _ => true,
        }
    }

    /// An INFORMATIONAL request from the peer; false ends the SA.
    pub(super) fn informational_request(
        &mut self,
        _now: Instant,
        sa: &mut IkeSa,
        message_id: u32,
        inner: Vec<Payload>,
    ) -> bool {
        let mut reply = Vec::new();
        let mut delete_ike = false;
        let mut deleted_spis = Vec::new();
        for p in &inner {
            if let Payload::Delete(d) = p {
                match d.protocol {
                    ProtocolId::Ike => delete_ike = true,
                    ProtocolId::Esp | ProtocolId::Ah => {
                        for spi in &d.spis {
                            let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                                continue;
                            };
                            let out = u32::from_be_bytes(b);
                            if let Some(pos) =
                                sa.children.iter().position(|c| c.outbound_spi == out)
                            {
                                let c = sa.children.remove(pos);
                                self.child_owner.remove(&c.id);
                                deleted_spis.push(c.inbound_spi.to_be_bytes().to_vec());
                                self.sa_log(
                                    sa,
                                    &format!("received Delete for Child SA #{}", c.id.0),
                                );
                                self.events.push_back(Event::ChildSaDown {
                                    ike_sa: sa.id,
                                    conn: c.conn,
                                    child: c.id,
                                    inbound_spi: c.inbound_spi,
                                    outbound_spi: c.outbound_spi,
                                });
                            }
                        }
                    }
                    ProtocolId::Other(_) => {}
                }
            }
        }
        if !delete_ike && !deleted_spis.is_empty() {
            reply.push(Payload::Delete(DeletePayload {
                protocol: ProtocolId::Esp,
                spi_size: 4,
                spis: deleted_spis,
            }));
        }
        match sa.protect(
            ExchangeType::Informational,
            true,
            message_id,
            &reply,
            None,
            &mut *self.rng,
        ) {
            Ok(p) => self.send_response(sa, message_id, p),
            Err(e) => self.sa_log(sa, &format!("cannot build INFORMATIONAL response: {e}")),
        }
        if delete_ike {
            self.sa_log(sa, "received Delete for the IKE SA; deleting it");
            if sa.state != IkeState::Deleting {
                self.report_down(sa, "deleted by the peer");
            }
            return false;
        }
        true
    }
}
