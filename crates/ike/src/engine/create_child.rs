//! The CREATE_CHILD_SA exchange: a new Child SA, a Child SA rekey and an
//! IKE SA rekey, with PFS and the collision rules of RFC 7296 2.8
//! (RFC 7296 1.3, 2.17, 2.18, 2.25).

use std::time::{Duration, Instant};

use crate::crypto::{KeGroup, KeyExchange};
use crate::wire::{
    ExchangeType, KePayload, Notify, NotifyType, Payload, ProtocolId, SaPayload, TrafficSelector,
    TsPayload,
};

use super::child::NewChild;
use super::config::{ConnId, Connection, EspProposal, Mode};
use super::ike_sa::{
    Collision, CreateKind, IkeSa, IkeState, PendingChild, PendingCreate, RequestKind,
};
use super::proposal::{
    accept_esp, accept_ike, esp_sa_payload, ike_sa_payload, ke_name, select_esp,
};
use super::ts::{all_within, narrow};
use super::{Engine, EngineError};

/// The ESP proposals for CREATE_CHILD_SA: with `pfs=yes` and no group in
/// `esp=`, the IKE SA's group (as Libreswan does); without PFS none.
fn esp_for_create(conn: &Connection, ike_group: KeGroup) -> Vec<EspProposal> {
    conn.esp_proposals()
        .into_iter()
        .map(|mut p| {
            if !conn.pfs {
                p.ke.clear();
            } else if p.ke.is_empty() {
                p.ke = vec![ike_group];
            }
            p
        })
        .collect()
}

/// The first Nonce payload.
pub(super) fn nonce_of(p: &[Payload]) -> Option<&Vec<u8>> {
    super::init::first(p, |x| match x {
        Payload::Nonce(n) => Some(n),
        _ => None,
    })
}

/// The first KE payload.
pub(super) fn ke_of(p: &[Payload]) -> Option<&KePayload> {
    super::init::first(p, |x| match x {
        Payload::Ke(k) => Some(k),
        _ => None,
    })
}

/// The first SA payload.
pub(super) fn sa_of(p: &[Payload]) -> Option<&SaPayload> {
    super::init::first(p, |x| match x {
        Payload::Sa(s) => Some(s),
        _ => None,
    })
}

fn ts_of(p: &[Payload], initiator: bool) -> Option<Vec<TrafficSelector>> {
    p.iter().find_map(|x| match (x, initiator) {
        (Payload::TsI(t), true) | (Payload::TsR(t), false) => Some(t.selectors.clone()),
        _ => None,
    })
}

fn has_notify(p: &[Payload], kind: NotifyType) -> bool {
    p.iter()
        .any(|x| matches!(x, Payload::Notify(n) if n.kind == kind))
}

/// True when the lowest of the four nonces belongs to exchange `a`
/// (RFC 7296 2.8: its SA is the redundant one).
fn lowest_is(a: (&[u8], &[u8]), b: (&[u8], &[u8])) -> bool {
    let min_a = a.0.min(a.1);
    let min_b = b.0.min(b.1);
    min_a < min_b
}

impl Engine {
    /// Starts a CREATE_CHILD_SA exchange on `sa`.
    pub(super) fn start_create(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        kind: CreateKind,
        group: Option<KeGroup>,
    ) -> Result<(), EngineError> {
        if sa.state != IkeState::Established || sa.rekeyed_to.is_some() {
            return Err(EngineError::Busy(format!(
                "IKE SA #{} is not established",
                sa.id.0
            )));
        }
        if sa.outstanding.is_some() || sa.pending_create.is_some() {
            return Err(EngineError::Busy(format!(
                "IKE SA #{} has an exchange in progress",
                sa.id.0
            )));
        }
        // A Child SA rekey follows the rekeyed SA's connection.
        let conn_id = match kind {
            CreateKind::RekeyChild(old) => sa
                .children
                .iter()
                .find(|c| c.id == old)
                .map_or(sa.conn, |c| c.conn),
            _ => sa.conn,
        };
        let conn = self
            .connections
            .get(&conn_id)
            .cloned()
            .ok_or(EngineError::UnknownConnection(conn_id))?;
        let ike_group = sa
            .suite
            .as_ref()
            .map(|s| s.ke)
            .ok_or(EngineError::Busy("no IKE suite".into()))?;
        let ni = self.nonce();
        let mut inner = Vec::new();
        let mut pending_child = None;
        let mut ke = None;
        match kind {
            CreateKind::RekeyIke(new_spi) => {
                let g = group.unwrap_or(ike_group);
                let (k, public) = KeyExchange::generate(g, &mut *self.rng)
                    .map_err(|e| EngineError::Crypto(e.to_string()))?;
                ke = Some(k);
                inner.push(Payload::Sa(ike_sa_payload(&conn.ike_proposals(), &new_spi)));
                inner.push(Payload::Nonce(ni.clone()));
                inner.push(Payload::Ke(KePayload {
                    group: g.transform_id(),
                    data: public,
                }));
                self.sa_log(sa, "initiating rekey of the IKE SA");
            }
            CreateKind::NewChild | CreateKind::RekeyChild(_) => {
                let (local_ts, remote_ts, mode) = match kind {
                    CreateKind::RekeyChild(old) => {
                        let c = sa
                            .children
                            .iter_mut()
                            .find(|c| c.id == old)
                            .ok_or(EngineError::UnknownSa(super::Target::ChildSa(old)))?;
                        inner.push(Payload::Notify(Notify {
                            protocol: Some(ProtocolId::Esp),
                            spi: c.inbound_spi.to_be_bytes().to_vec(),
                            kind: NotifyType::REKEY_SA,
                            data: Vec::new(),
                        }));
                        c.replaced = true;
                        (c.local_ts.clone(), c.remote_ts.clone(), c.mode)
                    }
                    _ => (
                        conn.local_selectors(sa.local.ip()),
                        conn.remote_selectors(sa.remote.ip()),
                        conn.mode,
                    ),
                };
                if mode == Mode::Transport {
                    inner.push(Payload::Notify(Notify::new(
                        NotifyType::USE_TRANSPORT_MODE,
                        Vec::new(),
                    )));
                }
                let props = esp_for_create(&conn, ike_group);
                let spi = self.random_child_spi();
                inner.push(Payload::Sa(esp_sa_payload(&props, spi, conn.esn, true)));
                inner.push(Payload::Nonce(ni.clone()));
                let pfs_group = group.or_else(|| props.first().and_then(|p| p.ke.first().copied()));
                if let Some(g) = pfs_group {
                    let (k, public) = KeyExchange::generate(g, &mut *self.rng)
                        .map_err(|e| EngineError::Crypto(e.to_string()))?;
                    ke = Some(k);
                    inner.push(Payload::Ke(KePayload {
                        group: g.transform_id(),
                        data: public,
                    }));
                }
                inner.push(Payload::TsI(TsPayload {
                    selectors: local_ts.clone(),
                }));
                inner.push(Payload::TsR(TsPayload {
                    selectors: remote_ts.clone(),
                }));
                pending_child = Some(PendingChild {
                    conn: conn_id,
                    inbound_spi: spi,
                    local_ts,
                    remote_ts,
                });
                let line = match kind {
                    CreateKind::RekeyChild(old) => {
                        format!("initiating rekey of Child SA #{}", old.0)
                    }
                    _ => "initiating CREATE_CHILD_SA for a new Child SA".to_string(),
                };
                self.sa_log(sa, &line);
            }
        }
        let mid = sa.next_message_id;
        let packets = sa
            .protect(
                ExchangeType::CreateChildSa,
                false,
                mid,
                &inner,
                Some(self.config.max_message_size),
                &mut *self.rng,
            )
            .map_err(|e| EngineError::Crypto(e.to_string()))?;
        self.send_request(now, sa, RequestKind::CreateChild, packets);
        let retries = sa.pending_create.as_ref().map_or(0, |p| p.ke_retries);
        sa.pending_create = Some(PendingCreate {
            kind,
            ni,
            ke,
            child: pending_child,
            collision: None,
            ke_retries: retries,
        });
        Ok(())
    }

    pub(super) fn create_error_reply(&mut self, sa: &mut IkeSa, mid: u32, notify: Notify) {
        let reply = vec![Payload::Notify(notify)];
        match sa.protect(
            ExchangeType::CreateChildSa,
            true,
            mid,
            &reply,
            None,
            &mut *self.rng,
        ) {
            Ok(p) => self.send_response(sa, mid, p),
            Err(e) => self.sa_log(sa, &format!("cannot build CREATE_CHILD_SA response: {e}")),
        }
    }

    /// The connection a new Child SA the peer asks for belongs to: the IKE
    /// SA's when the selectors fit it, else another connection to the same
    /// peer with the same IDs whose selectors fit (several subnets to one
    /// peer over one IKE SA, as Libreswan and strongSwan do). The IKE SA's
    /// when none fits (its narrowing then answers TS_UNACCEPTABLE).
    fn child_connection(
        &self,
        sa: &IkeSa,
        ike_conn: &Connection,
        tsi: &[TrafficSelector],
        tsr: &[TrafficSelector],
    ) -> ConnId {
        let fits = |c: &Connection| {
            !narrow(tsi, &c.remote_selectors(sa.remote.ip())).is_empty()
                && !narrow(tsr, &c.local_selectors(sa.local.ip())).is_empty()
        };
        if fits(ike_conn) {
            return sa.conn;
        }
        self.candidate_connections(sa.local, sa.remote)
            .into_iter()
            .find(|id| {
                self.connections.get(id).is_some_and(|c| {
                    c.remote_id == ike_conn.remote_id
                        && c.local_identity() == ike_conn.local_identity()
                        && fits(c)
                })
            })
            .unwrap_or(sa.conn)
    }

    /// A CREATE_CHILD_SA request from the peer; false ends the SA.
    pub(super) fn create_child_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        mid: u32,
        inner: Vec<Payload>,
    ) -> bool {
        let Some(conn) = self.connections.get(&sa.conn).cloned() else {
            return false;
        };
        if sa.state != IkeState::Established || sa.rekeyed_to.is_some() {
            self.create_error_reply(
                sa,
                mid,
                Notify::new(NotifyType::TEMPORARY_FAILURE, Vec::new()),
            );
            return true;
        }
        let (Some(sa_payload), Some(ni)) = (sa_of(&inner).cloned(), nonce_of(&inner).cloned())
        else {
            self.create_error_reply(sa, mid, Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
            return true;
        };
        if ni.len() < 16 || ni.len() > 256 {
            self.create_error_reply(sa, mid, Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
            return true;
        }
        let ke = ke_of(&inner).cloned();
        let Some(ike_group) = sa.suite.as_ref().map(|s| s.ke) else {
            return false;
        };
        if sa_payload.proposals.first().map(|p| p.protocol) == Some(ProtocolId::Ike) {
            return self.rekey_ike_request(now, sa, &conn, mid, &sa_payload, ni, ke);
        }
        // A new Child SA or a Child SA rekey.
        let rekey_of = match inner.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind == NotifyType::REKEY_SA => Some(n),
            _ => None,
        }) {
            None => None,
            Some(n) => {
                let spi = <[u8; 4]>::try_from(n.spi.as_slice())
                    .ok()
                    .map(u32::from_be_bytes);
                match sa
                    .children
                    .iter()
                    .find(|c| Some(c.outbound_spi) == spi)
                    .map(|c| c.id)
                {
                    Some(id) => Some(id),
                    None => {
                        self.sa_log(
                            sa,
                            "REKEY_SA for an unknown Child SA; sending CHILD_SA_NOT_FOUND",
                        );
                        let mut nf = Notify::new(NotifyType::CHILD_SA_NOT_FOUND, Vec::new());
                        nf.protocol = n.protocol;
                        nf.spi = n.spi.clone();
                        self.create_error_reply(sa, mid, nf);
                        return true;
                    }
                }
            }
        };
        if rekey_of.is_none()
            && sa
                .pending_create
                .as_ref()
                .is_some_and(|p| matches!(p.kind, CreateKind::RekeyIke(_)))
        {
            // RFC 7296 2.25: no new Child SA while we rekey the IKE SA.
            self.create_error_reply(
                sa,
                mid,
                Notify::new(NotifyType::TEMPORARY_FAILURE, Vec::new()),
            );
            return true;
        }
        let (Some(tsi), Some(tsr)) = (ts_of(&inner, true), ts_of(&inner, false)) else {
            self.create_error_reply(sa, mid, Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
            return true;
        };
        let conn_id = match rekey_of.and_then(|old| sa.children.iter().find(|c| c.id == old)) {
            Some(c) => c.conn,
            None => self.child_connection(sa, &conn, &tsi, &tsr),
        };
        let conn = match self.connections.get(&conn_id) {
            Some(c) if conn_id != sa.conn => c.clone(),
            _ => conn,
        };
        let our_spi = self.random_child_spi();
        let props = esp_for_create(&conn, ike_group);
        let Some((suite, peer_spi, chosen)) = select_esp(
            &props,
            conn.esn,
            &sa_payload,
            ke.as_ref().map(|k| k.group),
            our_spi,
        ) else {
            self.sa_log(
                sa,
                "no acceptable ESP proposal in CREATE_CHILD_SA; sending NO_PROPOSAL_CHOSEN",
            );
            self.create_error_reply(
                sa,
                mid,
                Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
            return true;
        };
        let mut pfs = None;
        if let Some(g) = suite.ke {
            match &ke {
                Some(k) if k.group == g.transform_id() => {
                    match KeyExchange::respond(g, &k.data, &mut *self.rng) {
                        Ok(x) => pfs = Some(x),
                        Err(e) => {
                            self.sa_log(sa, &format!("CREATE_CHILD_SA key exchange failed: {e}"));
                            self.create_error_reply(
                                sa,
                                mid,
                                Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()),
                            );
                            return true;
                        }
                    }
                }
                Some(_) => {
                    self.sa_log(
                        sa,
                        &format!(
                            "CREATE_CHILD_SA KE group differs; sending INVALID_KE_PAYLOAD for {}",
                            ke_name(g)
                        ),
                    );
                    self.create_error_reply(
                        sa,
                        mid,
                        Notify::new(
                            NotifyType::INVALID_KE_PAYLOAD,
                            g.transform_id().to_be_bytes().to_vec(),
                        ),
                    );
                    return true;
                }
                None => {
                    self.create_error_reply(
                        sa,
                        mid,
                        Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()),
                    );
                    return true;
                }
            }
        }
        let narrowed_i = narrow(&tsi, &conn.remote_selectors(sa.remote.ip()));
        let narrowed_r = narrow(&tsr, &conn.local_selectors(sa.local.ip()));
        if narrowed_i.is_empty() || narrowed_r.is_empty() {
            self.sa_log(
                sa,
                "CREATE_CHILD_SA traffic selectors do not match; sending TS_UNACCEPTABLE",
            );
            self.create_error_reply(
                sa,
                mid,
                Notify::new(NotifyType::TS_UNACCEPTABLE, Vec::new()),
            );
            return true;
        }
        let transport =
            has_notify(&inner, NotifyType::USE_TRANSPORT_MODE) && conn.mode == Mode::Transport;
        let nr = self.nonce();
        let mut reply = Vec::new();
        if transport {
            reply.push(Payload::Notify(Notify::new(
                NotifyType::USE_TRANSPORT_MODE,
                Vec::new(),
            )));
        }
        reply.push(Payload::Sa(SaPayload {
            proposals: vec![chosen],
        }));
        reply.push(Payload::Nonce(nr.clone()));
        let pfs_shared = match (pfs, suite.ke) {
            (Some((public, shared)), Some(g)) => {
                reply.push(Payload::Ke(KePayload {
                    group: g.transform_id(),
                    data: public,
                }));
                Some(shared)
            }
            _ => None,
        };
        reply.push(Payload::TsI(TsPayload {
            selectors: narrowed_i.clone(),
        }));
        reply.push(Payload::TsR(TsPayload {
            selectors: narrowed_r.clone(),
        }));
        let packets = match sa.protect(
            ExchangeType::CreateChildSa,
            true,
            mid,
            &reply,
            Some(self.config.max_message_size),
            &mut *self.rng,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.sa_log(sa, &format!("cannot build CREATE_CHILD_SA response: {e}"));
                return true;
            }
        };
        self.send_response(sa, mid, packets);
        if let Some(old) = rekey_of {
            if let Some(c) = sa.children.iter_mut().find(|c| c.id == old) {
                c.replaced = true;
            }
        }
        let created = self.install_child(
            now,
            sa,
            &conn,
            NewChild {
                conn: conn_id,
                suite,
                inbound_spi: our_spi,
                outbound_spi: peer_spi,
                local_ts: narrowed_r,
                remote_ts: narrowed_i,
                mode: if transport {
                    Mode::Transport
                } else {
                    Mode::Tunnel
                },
                ni: ni.clone(),
                nr: nr.clone(),
                pfs_shared,
                rekey_of,
            },
            "responder",
        );
        // A collision with our own rekey of the same Child SA (RFC 7296 2.8).
        if let (Some(old), Some(_)) = (rekey_of, created) {
            if let Some(p) = sa.pending_create.as_mut() {
                if p.kind == CreateKind::RekeyChild(old) {
                    p.collision = Some(Collision {
                        ni,
                        nr,
                        created: None,
                    });
                }
            }
        }
        true
    }

    /// The answer to our CREATE_CHILD_SA request; false ends the SA.
    pub(super) fn create_child_response(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        inner: Vec<Payload>,
    ) -> bool {
        let Some(pending) = sa.pending_create.take() else {
            return true;
        };
        let Some(conn) = self.connections.get(&sa.conn).cloned() else {
            return false;
        };
        let unmark = |sa: &mut IkeSa, retry: Option<Instant>| {
            if let CreateKind::RekeyChild(old) = pending.kind {
                if let Some(c) = sa.children.iter_mut().find(|c| c.id == old) {
                    c.replaced = false;
                    c.rekey_at = retry;
                }
            }
            if let CreateKind::RekeyIke(_) = pending.kind {
                sa.rekey_at = retry;
            }
        };
        if let Some(err) = inner.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind.is_error() => Some(n.clone()),
            _ => None,
        }) {
            let why = format!("CREATE_CHILD_SA response contained {}", err.kind);
            self.sa_log(sa, &why);
            // Our IKE SA rekey failed but the peer's, which crossed it,
            // succeeded: that one is the survivor, and the peer deletes
            // the old IKE SA.
            if let (CreateKind::RekeyIke(_), Some(created)) = (
                pending.kind,
                pending.collision.as_ref().and_then(|c| c.created),
            ) {
                self.settle_ike_rekey(now, sa, created, None, false);
                return true;
            }
            if err.kind != NotifyType::TEMPORARY_FAILURE
                && err.kind != NotifyType::INVALID_KE_PAYLOAD
                && pending.kind == CreateKind::NewChild
            {
                self.child_failed(sa, &why);
            }
            match err.kind {
                NotifyType::INVALID_KE_PAYLOAD if pending.ke_retries < 2 => {
                    let g = err
                        .data
                        .first_chunk::<2>()
                        .map(|b| u16::from_be_bytes(*b))
                        .and_then(KeGroup::from_id);
                    unmark(sa, None);
                    if let Some(g) = g {
                        let retries = pending.ke_retries + 1;
                        match self.start_create(now, sa, pending.kind, Some(g)) {
                            Ok(()) => {
                                if let Some(p) = sa.pending_create.as_mut() {
                                    p.ke_retries = retries;
                                }
                            }
                            Err(e) => {
                                self.sa_log(sa, &format!("cannot retry CREATE_CHILD_SA: {e}"))
                            }
                        }
                    }
                }
                NotifyType::TEMPORARY_FAILURE => {
                    // Retry after a pause; the original initiator sooner.
                    let wait = if sa.initiator { 2 } else { 5 };
                    unmark(sa, Some(now + Duration::from_secs(wait)));
                }
                _ => unmark(sa, None),
            }
            return true;
        }
        let (Some(sa_payload), Some(nr)) = (sa_of(&inner), nonce_of(&inner)) else {
            self.sa_log(sa, "CREATE_CHILD_SA response lacks SA or Nonce");
            unmark(sa, None);
            return true;
        };
        let ke_payload = ke_of(&inner);
        let shared = match (&pending.ke, ke_payload) {
            (Some(k), Some(p)) if p.group == k.group().transform_id() => {
                match k.complete(&p.data) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.sa_log(sa, &format!("CREATE_CHILD_SA key exchange failed: {e}"));
                        unmark(sa, None);
                        return true;
                    }
                }
            }
            (None, None) => None,
            _ => {
                self.sa_log(sa, "CREATE_CHILD_SA response KE does not match the request");
                unmark(sa, None);
                return true;
            }
        };
        match pending.kind {
            CreateKind::RekeyIke(our_spi) => {
                let Some(suite) = accept_ike(&conn.ike_proposals(), sa_payload) else {
                    self.sa_log(
                        sa,
                        "IKE SA rekey response chose a proposal we did not offer",
                    );
                    unmark(sa, None);
                    return true;
                };
                let their_spi = sa_payload
                    .proposals
                    .first()
                    .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok());
                let (Some(their_spi), Some(shared), Some(old_keys)) =
                    (their_spi, shared, sa.keys.as_ref())
                else {
                    self.sa_log(sa, "IKE SA rekey response lacks the SPI or KE");
                    unmark(sa, None);
                    return true;
                };
                let keys = match old_keys.derive_rekey(
                    suite.prf,
                    suite.encr,
                    suite.integ,
                    &[&shared],
                    &pending.ni,
                    nr,
                    &our_spi,
                    &their_spi,
                ) {
                    Ok(k) => k,
                    Err(e) => {
                        self.sa_log(sa, &format!("IKE SA rekey key derivation failed: {e}"));
                        unmark(sa, None);
                        return true;
                    }
                };
                let nr = nr.clone();
                let collision = pending.collision.clone();
                let settle = collision.as_ref().and_then(|c| c.created).is_none();
                let Some(ours) = self.replace_ike_sa(
                    now,
                    sa,
                    &conn,
                    keys,
                    suite,
                    our_spi,
                    their_spi,
                    true,
                    pending.ni.clone(),
                    nr.clone(),
                    settle,
                ) else {
                    return true;
                };
                if let Some(c) = collision.as_ref() {
                    if let Some(theirs) = c.created {
                        // RFC 7296 2.8.2: the IKE SA from the exchange with
                        // the lowest nonce is redundant and deleted by the
                        // node that started that exchange; the node that
                        // started the surviving one deletes the old SA.
                        if lowest_is((&pending.ni, &nr), (&c.ni, &c.nr)) {
                            self.sa_log(
                                sa,
                                "simultaneous IKE SA rekey: our new IKE SA is redundant; deleting it",
                            );
                            self.settle_ike_rekey(now, sa, theirs, Some((ours, true)), false);
                        } else {
                            self.sa_log(
                                sa,
                                "simultaneous IKE SA rekey: the peer's new IKE SA is redundant; it deletes it",
                            );
                            self.settle_ike_rekey(now, sa, ours, Some((theirs, false)), true);
                        }
                        return true;
                    }
                }
                self.delete_old_ike_sa(now, sa);
                true
            }
            CreateKind::NewChild | CreateKind::RekeyChild(_) => {
                let Some(pc) = pending.child.clone() else {
                    return true;
                };
                let conn = match self.connections.get(&pc.conn) {
                    Some(c) if pc.conn != sa.conn => c.clone(),
                    _ => conn,
                };
                let Some(ike_group) = sa.suite.as_ref().map(|s| s.ke) else {
                    return true;
                };
                let props = esp_for_create(&conn, ike_group);
                let Some((suite, peer_spi)) =
                    accept_esp(&props, conn.esn, sa_payload, ke_payload.map(|k| k.group))
                else {
                    self.sa_log(
                        sa,
                        "CREATE_CHILD_SA response chose an ESP proposal we did not offer",
                    );
                    unmark(sa, None);
                    return true;
                };
                let (Some(tsi), Some(tsr)) = (ts_of(&inner, true), ts_of(&inner, false)) else {
                    unmark(sa, None);
                    return true;
                };
                if !all_within(&tsi, &pc.local_ts) || !all_within(&tsr, &pc.remote_ts) {
                    self.sa_log(
                        sa,
                        "CREATE_CHILD_SA response traffic selectors are not within ours",
                    );
                    unmark(sa, None);
                    return true;
                }
                let rekey_of = match pending.kind {
                    CreateKind::RekeyChild(old) => Some(old),
                    _ => None,
                };
                let mode = if has_notify(&inner, NotifyType::USE_TRANSPORT_MODE) {
                    Mode::Transport
                } else {
                    Mode::Tunnel
                };
                let created = self.install_child(
                    now,
                    sa,
                    &conn,
                    NewChild {
                        conn: pc.conn,
                        suite,
                        inbound_spi: pc.inbound_spi,
                        outbound_spi: peer_spi,
                        local_ts: tsi,
                        remote_ts: tsr,
                        mode,
                        ni: pending.ni.clone(),
                        nr: nr.clone(),
                        pfs_shared: shared,
                        rekey_of,
                    },
                    "initiator",
                );
                let Some(old) = rekey_of else {
                    return true;
                };
                let ours_redundant = match &pending.collision {
                    Some(c) => lowest_is((&pending.ni, nr), (&c.ni, &c.nr)),
                    None => false,
                };
                if ours_redundant {
                    // RFC 7296 2.8: the SA from the exchange with the lowest
                    // nonce is deleted by the node that started that exchange.
                    if let Some(new) = created {
                        self.sa_log(
                            sa,
                            "simultaneous rekey: our new Child SA is redundant; deleting it",
                        );
                        self.delete_child_on(now, sa, new);
                    }
                } else {
                    if pending.collision.is_some() {
                        self.sa_log(sa, "simultaneous rekey: the peer's new Child SA is redundant; it deletes it");
                    }
                    self.delete_child_on(now, sa, old);
                }
                true
            }
        }
    }
}
