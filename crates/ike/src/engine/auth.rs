//! IKE_AUTH for both ends (RFC 7296 1.2, 2.15), with the Child SA it
//! carries (RFC 7296 1.2, 2.9, 2.17; RFC 6023 childless).

use std::time::Instant;

use crate::wire::{
    CertEncoding, CertPayload, ExchangeType, Notify, NotifyType, Payload, TrafficSelector,
    TsPayload,
};

use super::authenticate::{signed_octets, AuthFail};
use super::child::NewChild;
use super::config::{Authentication, ConnId, Connection, Identity, Mode};
use super::event::{Event, IkeSaInfo};
use super::ike_sa::{IkeSa, IkeState, PendingChild, RequestKind};
use super::proposal::{accept_esp, esp_sa_payload, select_esp};
use super::ts::{all_within, narrow};
use super::Engine;

fn ts_of(p: &[Payload], initiator: bool) -> Option<Vec<TrafficSelector>> {
    p.iter().find_map(|x| match (x, initiator) {
        (Payload::TsI(t), true) | (Payload::TsR(t), false) => Some(t.selectors.clone()),
        _ => None,
    })
}

impl Engine {
    /// The initiator sends IKE_AUTH; false ends the SA.
    pub(super) fn send_auth_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        conn: &Connection,
    ) -> bool {
        let (Some(keys), Some(suite)) = (sa.keys.as_ref(), sa.suite.as_ref()) else {
            return false;
        };
        let idi = conn.local_identity().to_payload();
        let mut octets = signed_octets(&sa.init_request, &sa.nr, suite.prf, &keys.sk_pi, &idi);
        octets.extend_from_slice(&Self::int_auth_suffix(sa, sa.next_message_id));
        let auth =
            match self.make_auth(conn, suite.prf, &keys.sk_pi, &sa.peer_auth_hints(), &octets) {
                Ok(a) => a,
                Err(e) => {
                    self.fail_auth(sa, &e);
                    return false;
                }
            };
        let mut inner = vec![Payload::IdI(idi)];
        if let Authentication::Certificate(c) = &conn.auth {
            for der in c.local_certificates(&sa.peer_auth_hints()) {
                inner.push(Payload::Cert(CertPayload {
                    encoding: CertEncoding::X509_SIGNATURE,
                    data: der,
                }));
            }
        }
        // RFC 7296 2.4: INITIAL_CONTACT only when we hold no other IKE SA
        // with this peer (the peer would delete those).
        if !self.other_sa_with_peer(sa) {
            inner.push(Payload::Notify(Notify::new(
                NotifyType::INITIAL_CONTACT,
                Vec::new(),
            )));
        }
        if let Authentication::Certificate(c) = &conn.auth {
            let req = c.certificate_request();
            if !req.is_empty() {
                inner.push(Payload::CertReq(CertPayload {
                    encoding: CertEncoding::X509_SIGNATURE,
                    data: req,
                }));
            }
        }
        if let Some(rid) = &conn.remote_id {
            inner.push(Payload::IdR(rid.to_payload()));
        }
        inner.push(Payload::Auth(auth));
        let childless = conn.childless && sa.peer_childless;
        if !childless {
            let spi = self.random_child_spi();
            let local_ts = conn.local_selectors(sa.local.ip());
            let remote_ts = conn.remote_selectors(sa.remote.ip());
            if conn.mode == Mode::Transport {
                inner.push(Payload::Notify(Notify::new(
                    NotifyType::USE_TRANSPORT_MODE,
                    Vec::new(),
                )));
            }
            inner.push(Payload::Sa(esp_sa_payload(
                &conn.esp_proposals(),
                spi,
                conn.esn,
                false,
            )));
            inner.push(Payload::TsI(TsPayload {
                selectors: local_ts.clone(),
            }));
            inner.push(Payload::TsR(TsPayload {
                selectors: remote_ts.clone(),
            }));
            sa.pending_child = Some(PendingChild {
                conn: sa.conn,
                inbound_spi: spi,
                local_ts,
                remote_ts,
            });
        }
        let mtu = Some(self.config.max_message_size);
        let auth_mid = sa.next_message_id;
        let packets = match sa.protect(
            ExchangeType::IkeAuth,
            false,
            auth_mid,
            &inner,
            mtu,
            &mut *self.rng,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.fail_auth(sa, &format!("cannot build IKE_AUTH request: {e}"));
                return false;
            }
        };
        sa.state = IkeState::AuthSent;
        let n = packets.len();
        self.send_request(now, sa, RequestKind::IkeAuth, packets);
        let desc = sa.suite.as_ref().map(|s| s.describe()).unwrap_or_default();
        if n > 1 {
            self.sa_log(
                sa,
                &format!("sent IKE_AUTH request {desc} in {n} fragments"),
            );
        } else {
            self.sa_log(sa, &format!("sent IKE_AUTH request {desc}"));
        }
        true
    }

    fn fail_auth(&mut self, sa: &mut IkeSa, why: &str) {
        self.sa_log(sa, why);
        self.report_down(sa, why);
    }

    /// The responder handles IKE_AUTH; false ends the SA.
    pub(super) fn responder_auth(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        message_id: u32,
        inner: Vec<Payload>,
    ) -> bool {
        if let Some(cas) = super::init::certificate_requests(&inner) {
            sa.peer_certreq = Some(cas);
        }
        let idi = inner.iter().find_map(|p| match p {
            Payload::IdI(i) => Some(i.clone()),
            _ => None,
        });
        let idr_req = inner.iter().find_map(|p| match p {
            Payload::IdR(i) => Some(i.clone()),
            _ => None,
        });
        let auth = inner.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a.clone()),
            _ => None,
        });
        let certs: Vec<Vec<u8>> = inner
            .iter()
            .filter_map(|p| match p {
                Payload::Cert(c) => Some(c.data.clone()),
                _ => None,
            })
            .collect();
        let (Some(idi), Some(auth)) = (idi, auth) else {
            self.sa_log(sa, "IKE_AUTH request lacks IDi or AUTH");
            self.auth_failed_reply(sa, message_id);
            return false;
        };
        let peer_identity = Identity::from_payload(&idi);
        // Find the connection by the peer's ID among those for its address.
        let candidates = self.candidate_connections(sa.local, sa.remote);
        // The IDr the peer asked for, decoded once for all candidates.
        let idr_wanted = idr_req.as_ref().map(Identity::from_payload);
        let mut matching = Vec::new();
        for c in candidates {
            let Some(conn) = self.connections.get(&c) else {
                continue;
            };
            let remote_ok = match (&conn.remote_id, &peer_identity) {
                (None, Some(Identity::Address(a))) => conn.remote_addr.is_none_or(|r| r.ip() == *a),
                // Without rightid=, certificate authentication checks the
                // peer's ID against its certificate.
                (None, Some(_)) => {
                    conn.remote_addr.is_none()
                        || matches!(
                            conn.auth,
                            Authentication::Null | Authentication::Certificate(_)
                        )
                }
                (Some(want), Some(got)) => want.same_as(got),
                _ => false,
            };
            if !remote_ok {
                continue;
            }
            let local_ok = match &idr_wanted {
                None => true,
                Some(want) => want
                    .as_ref()
                    .is_some_and(|id| id.same_as(&conn.local_identity())),
            };
            if local_ok {
                matching.push(c);
            }
        }
        // Among connections for this peer, prefer one whose traffic
        // selectors fit the proposed ones (several subnets to one peer).
        let (tsi, tsr) = (ts_of(&inner, true), ts_of(&inner, false));
        let fits = |c: &ConnId| -> bool {
            let (Some(conn), Some(tsi), Some(tsr)) = (self.connections.get(c), &tsi, &tsr) else {
                return false;
            };
            !narrow(tsi, &conn.remote_selectors(sa.remote.ip())).is_empty()
                && !narrow(tsr, &conn.local_selectors(sa.local.ip())).is_empty()
        };
        let chosen = matching
            .iter()
            .copied()
            .find(|c| fits(c))
            .or_else(|| matching.first().copied());
        let Some(conn_id) = chosen else {
            let who = peer_identity
                .as_ref()
                .map(Identity::describe)
                .unwrap_or_else(|| "an unsupported ID type".into());
            self.sa_log(
                sa,
                &format!("no connection matches peer {who}; sending AUTHENTICATION_FAILED"),
            );
            self.auth_failed_reply(sa, message_id);
            return false;
        };
        let Some(conn) = self.connections.get(&conn_id).cloned() else {
            return false;
        };
        self.move_sa_to(sa, conn_id);
        let (Some(keys), Some(suite)) = (sa.keys.as_ref(), sa.suite.as_ref()) else {
            return false;
        };
        let prf = suite.prf;
        let mut octets = signed_octets(&sa.init_request, &sa.nr, prf, &keys.sk_pi, &idi);
        octets.extend_from_slice(&Self::int_auth_suffix(sa, message_id));
        let how = match self.check_auth(&conn, prf, &keys.sk_pi, &octets, &auth, &idi, &certs) {
            Ok(how) => how,
            Err(AuthFail::Failed(why)) => {
                self.sa_log(
                    sa,
                    &format!("authentication failed: {why}; sending AUTHENTICATION_FAILED"),
                );
                self.auth_failed_reply(sa, message_id);
                return false;
            }
        };
        let idr = conn.local_identity().to_payload();
        let Some(keys) = sa.keys.as_ref() else {
            return false;
        };
        let mut octets_r = signed_octets(&sa.init_response, &sa.ni, prf, &keys.sk_pr, &idr);
        octets_r.extend_from_slice(&Self::int_auth_suffix(sa, message_id));
        let my_auth =
            match self.make_auth(&conn, prf, &keys.sk_pr, &sa.peer_auth_hints(), &octets_r) {
                Ok(a) => a,
                Err(e) => {
                    self.sa_log(sa, &e);
                    self.auth_failed_reply(sa, message_id);
                    return false;
                }
            };
        let mut reply = vec![Payload::IdR(idr)];
        if let Authentication::Certificate(c) = &conn.auth {
            for der in c.local_certificates(&sa.peer_auth_hints()) {
                reply.push(Payload::Cert(CertPayload {
                    encoding: CertEncoding::X509_SIGNATURE,
                    data: der,
                }));
            }
        }
        reply.push(Payload::Auth(my_auth));
        // The IKE SA is up.
        let remote_identity = peer_identity.unwrap_or(Identity::Null);
        sa.remote_id = Some(remote_identity.clone());
        sa.state = IkeState::Established;
        self.half_open = self.half_open.saturating_sub(1);
        self.half_open_by_peer.remove(&(sa.spi_i, sa.remote));
        // The Child SA.
        let sa_payload = inner.iter().find_map(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        });
        let tsi = ts_of(&inner, true);
        let tsr = ts_of(&inner, false);
        let mut child_up = None;
        match (sa_payload, tsi, tsr) {
            (Some(sa_payload), Some(tsi), Some(tsr)) => {
                let want_transport = inner.iter().any(
                    |p| matches!(p, Payload::Notify(n) if n.kind == NotifyType::USE_TRANSPORT_MODE),
                );
                let our_spi = self.random_child_spi();
                let remote_policy = conn.remote_selectors(sa.remote.ip());
                let local_policy = conn.local_selectors(sa.local.ip());
                let selected =
                    select_esp(&conn.esp_proposals(), conn.esn, sa_payload, None, our_spi);
                let narrowed_i = narrow(&tsi, &remote_policy);
                let narrowed_r = narrow(&tsr, &local_policy);
                let mode_ok =
                    want_transport == (conn.mode == Mode::Transport) || conn.mode == Mode::Tunnel;
                match selected {
                    None => {
                        self.sa_log(sa, "no acceptable ESP proposal; sending NO_PROPOSAL_CHOSEN");
                        reply.push(Payload::Notify(Notify::new(
                            NotifyType::NO_PROPOSAL_CHOSEN,
                            Vec::new(),
                        )));
                    }
                    Some(_) if narrowed_i.is_empty() || narrowed_r.is_empty() => {
                        self.sa_log(
                            sa,
                            "traffic selectors do not match; sending TS_UNACCEPTABLE",
                        );
                        reply.push(Payload::Notify(Notify::new(
                            NotifyType::TS_UNACCEPTABLE,
                            Vec::new(),
                        )));
                    }
                    Some(_) if !mode_ok => {
                        self.sa_log(
                            sa,
                            "peer wants tunnel mode but type=transport; sending NO_PROPOSAL_CHOSEN",
                        );
                        reply.push(Payload::Notify(Notify::new(
                            NotifyType::NO_PROPOSAL_CHOSEN,
                            Vec::new(),
                        )));
                    }
                    Some((child_suite, peer_spi, chosen)) => {
                        let mode = if want_transport && conn.mode == Mode::Transport {
                            reply.push(Payload::Notify(Notify::new(
                                NotifyType::USE_TRANSPORT_MODE,
                                Vec::new(),
                            )));
                            Mode::Transport
                        } else {
                            Mode::Tunnel
                        };
                        reply.push(Payload::Sa(crate::wire::SaPayload {
                            proposals: vec![chosen],
                        }));
                        reply.push(Payload::TsI(TsPayload {
                            selectors: narrowed_i.clone(),
                        }));
                        reply.push(Payload::TsR(TsPayload {
                            selectors: narrowed_r.clone(),
                        }));
                        child_up =
                            Some((child_suite, our_spi, peer_spi, narrowed_r, narrowed_i, mode));
                    }
                }
            }
            (None, None, None) => {
                self.sa_log(
                    sa,
                    "IKE_AUTH request does not propose a Child SA; creating childless SA",
                );
            }
            _ => {
                reply.push(Payload::Notify(Notify::new(
                    NotifyType::INVALID_SYNTAX,
                    Vec::new(),
                )));
            }
        }
        let mtu = Some(self.config.max_message_size);
        let packets = match sa.protect(
            ExchangeType::IkeAuth,
            true,
            message_id,
            &reply,
            mtu,
            &mut *self.rng,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.sa_log(sa, &format!("cannot build IKE_AUTH response: {e}"));
                return false;
            }
        };
        self.send_response(sa, message_id, packets);
        if inner
            .iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.kind == NotifyType::INITIAL_CONTACT))
        {
            self.initial_contact(sa);
        }
        self.ike_sa_up(now, sa, &conn, remote_identity, how, "responder");
        if let Some((suite, inbound_spi, outbound_spi, local_ts, remote_ts, mode)) = child_up {
            let (ni, nr) = (sa.ni.clone(), sa.nr.clone());
            self.install_child(
                now,
                sa,
                &conn,
                NewChild {
                    conn: sa.conn,
                    suite,
                    inbound_spi,
                    outbound_spi,
                    local_ts,
                    remote_ts,
                    mode,
                    ni,
                    nr,
                    pfs_shared: None,
                    rekey_of: None,
                },
                "responder",
            );
        }
        let _ = now;
        true
    }

    fn auth_failed_reply(&mut self, sa: &mut IkeSa, message_id: u32) {
        let inner = vec![Payload::Notify(Notify::new(
            NotifyType::AUTHENTICATION_FAILED,
            Vec::new(),
        ))];
        if let Ok(p) = sa.protect(
            ExchangeType::IkeAuth,
            true,
            message_id,
            &inner,
            None,
            &mut *self.rng,
        ) {
            self.send(sa, &p);
        }
        self.report_down(sa, "authentication failed");
    }

    fn ike_sa_up(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        conn: &Connection,
        remote_id: Identity,
        how: Option<String>,
        role: &str,
    ) {
        sa.rekey_at = self.rekey_time(now, conn, conn.ike_lifetime, sa.initiator);
        sa.expire_at = Some(now + conn.ike_lifetime);
        let Some(suite) = sa.suite.clone() else {
            return;
        };
        // Libreswan's wording for shared-secret/NULL and signature auth.
        let line = match how {
            None => format!(
                "{role} established IKE SA; authenticated peer using authby={} and {}",
                conn.auth.authby(),
                remote_id.describe()
            ),
            Some(how) => format!("{role} established IKE SA; authenticated peer {how}"),
        };
        self.sa_log(sa, &line);
        self.events.push_back(Event::IkeSaUp(Box::new(IkeSaInfo {
            ike_sa: sa.id,
            conn: sa.conn,
            initiator: sa.initiator,
            local: sa.local,
            remote: sa.remote,
            local_id: conn.local_identity(),
            remote_id,
            suite,
            nat: sa.nat,
        })));
    }

    /// The initiator handles the IKE_AUTH response; false ends the SA.
    pub(super) fn initiator_auth_response(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        inner: Vec<Payload>,
    ) -> bool {
        let Some(conn) = self.connections.get(&sa.conn).cloned() else {
            return false;
        };
        if inner
            .iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.kind == NotifyType::AUTHENTICATION_FAILED))
        {
            self.fail_auth(sa, "IKE_AUTH response contained AUTHENTICATION_FAILED");
            return false;
        }
        let idr = inner.iter().find_map(|p| match p {
            Payload::IdR(i) => Some(i.clone()),
            _ => None,
        });
        let auth = inner.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a.clone()),
            _ => None,
        });
        let certs: Vec<Vec<u8>> = inner
            .iter()
            .filter_map(|p| match p {
                Payload::Cert(c) => Some(c.data.clone()),
                _ => None,
            })
            .collect();
        let (Some(idr), Some(auth)) = (idr, auth) else {
            let err = inner.iter().find_map(|p| match p {
                Payload::Notify(n) if n.kind.is_error() => Some(n.kind),
                _ => None,
            });
            let why = match err {
                Some(k) => format!("IKE_AUTH response contained {k}"),
                None => "IKE_AUTH response lacks IDr or AUTH".to_string(),
            };
            self.fail_auth(sa, &why);
            return false;
        };
        let peer = Identity::from_payload(&idr);
        let expected = conn.remote_id.clone().or_else(|| match conn.auth {
            Authentication::Null | Authentication::Certificate(_) => None,
            _ => conn.remote_addr.map(|a| Identity::Address(a.ip())),
        });
        if let (Some(want), Some(got)) = (&expected, &peer) {
            if !want.same_as(got) {
                self.fail_auth(
                    sa,
                    &format!(
                        "peer ID {} does not match rightid {}",
                        got.describe(),
                        want.describe()
                    ),
                );
                return false;
            }
        }
        let (Some(keys), Some(suite)) = (sa.keys.as_ref(), sa.suite.as_ref()) else {
            return false;
        };
        let prf = suite.prf;
        let mut octets = signed_octets(&sa.init_response, &sa.ni, prf, &keys.sk_pr, &idr);
        let auth_mid = sa.next_message_id.wrapping_sub(1);
        octets.extend_from_slice(&Self::int_auth_suffix(sa, auth_mid));
        let how = match self.check_auth(&conn, prf, &keys.sk_pr, &octets, &auth, &idr, &certs) {
            Ok(how) => how,
            Err(AuthFail::Failed(why)) => {
                self.fail_auth(
                    sa,
                    &format!("authentication of the responder failed: {why}"),
                );
                return false;
            }
        };
        sa.state = IkeState::Established;
        let remote_identity = peer.unwrap_or(Identity::Null);
        sa.remote_id = Some(remote_identity.clone());
        self.ike_sa_up(now, sa, &conn, remote_identity, how, "initiator");
        let Some(pending) = sa.pending_child.take() else {
            return true;
        };
        if let Some(err) = inner.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind.is_error() => Some(n.kind),
            _ => None,
        }) {
            let why =
                format!("IKE_AUTH response rejected the Child SA with {err}; IKE SA stays up");
            self.sa_log(sa, &why);
            self.child_failed(sa, &why);
            return true;
        }
        let sa_payload = inner.iter().find_map(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        });
        let (Some(sa_payload), Some(tsi), Some(tsr)) =
            (sa_payload, ts_of(&inner, true), ts_of(&inner, false))
        else {
            let why = "IKE_AUTH response carries no Child SA";
            self.sa_log(sa, why);
            self.child_failed(sa, why);
            return true;
        };
        let Some((child_suite, peer_spi)) =
            accept_esp(&conn.esp_proposals(), conn.esn, sa_payload, None)
        else {
            self.sa_log(
                sa,
                "IKE_AUTH response chose an ESP proposal we did not offer; deleting the IKE SA",
            );
            return self.reject_child_delete(sa);
        };
        if !all_within(&tsi, &pending.local_ts) || !all_within(&tsr, &pending.remote_ts) {
            self.sa_log(
                sa,
                "IKE_AUTH response traffic selectors are not within ours; deleting the IKE SA",
            );
            return self.reject_child_delete(sa);
        }
        let transport = inner
            .iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.kind == NotifyType::USE_TRANSPORT_MODE));
        let mode = if transport && conn.mode == Mode::Transport {
            Mode::Transport
        } else if conn.mode == Mode::Transport {
            self.sa_log(sa, "peer refused transport mode; deleting the IKE SA");
            return self.reject_child_delete(sa);
        } else {
            Mode::Tunnel
        };
        let (ni, nr) = (sa.ni.clone(), sa.nr.clone());
        self.install_child(
            now,
            sa,
            &conn,
            NewChild {
                conn: sa.conn,
                suite: child_suite,
                inbound_spi: pending.inbound_spi,
                outbound_spi: peer_spi,
                local_ts: tsi,
                remote_ts: tsr,
                mode,
                ni,
                nr,
                pfs_shared: None,
                rekey_of: None,
            },
            "initiator",
        );
        true
    }

    /// Reports that a Child SA we asked for did not come up.
    pub(super) fn child_failed(&mut self, sa: &IkeSa, why: &str) {
        self.events.push_back(Event::ChildSaFailed {
            ike_sa: sa.id,
            conn: sa.conn,
            reason: why.to_string(),
        });
    }

    /// After an unacceptable Child SA in an IKE_AUTH response: the IKE SA
    /// is deleted (the responder installed a Child SA we cannot accept).
    fn reject_child_delete(&mut self, sa: &mut IkeSa) -> bool {
        self.child_failed(
            sa,
            "the responder's Child SA is not acceptable; deleting the IKE SA",
        );
        let id = sa.id;
        // The SA is re-inserted by the caller; schedule the delete on it.
        self.pending_deletes.push(id);
        true
    }
}
