//! The responder's IKE_SA_INIT (RFC 7296 1.2): cookies (2.6) with a
//! rotating secret, proposal and group choice, INVALID_KE_PAYLOAD and
//! NO_PROPOSAL_CHOSEN, NAT detection, and the half-open IKE SA.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use aws_lc_rs::digest;

use crate::crypto::{IkeSaKeys, KeyExchange};
use crate::wire::{ExchangeType, KePayload, Message, Notify, NotifyType, Payload};

use super::config::{Connection, Fragmentation};
use super::create_child::{ke_of, nonce_of, sa_of};
use super::event::IkeSaId;
use super::ike_sa::{IkeSa, IkeState};
use super::init::{detect_nat, nat_hash, signature_hashes, SIGNATURE_HASHES};
use super::proposal::{ke_name, select_ike};
use super::{ConnId, Engine, COOKIE_SECRET_LIFETIME};

impl Engine {
    /// Changes the cookie secret every [`COOKIE_SECRET_LIFETIME`]; cookies
    /// made with the previous secret stay valid for one more period.
    fn rotate_cookie_secret(&mut self, now: Instant) {
        let periods = match self.cookie_rotated_at {
            None => 1,
            Some(t) => {
                let elapsed = now.saturating_duration_since(t).as_secs();
                (elapsed / COOKIE_SECRET_LIFETIME.as_secs().max(1)).min(2)
            }
        };
        for _ in 0..periods {
            let mut fresh = [0u8; 32];
            self.rng.fill(&mut fresh);
            let version = self.cookie_secrets[0].0.wrapping_add(1);
            self.cookie_secrets[1] = self.cookie_secrets[0];
            self.cookie_secrets[0] = (version, fresh);
            self.cookie_rotated_at = Some(now);
        }
    }

    /// Whether `cookie` is one we made for this request.
    fn cookie_valid(&self, cookie: &[u8], ni: &[u8], remote: SocketAddr, spi_i: &[u8; 8]) -> bool {
        let Some(version) = cookie.first() else {
            return false;
        };
        self.cookie_secrets
            .iter()
            .filter(|(v, _)| v == version)
            .any(|(v, secret)| self.cookie_for(*v, secret, ni, remote, spi_i) == cookie)
    }

    fn cookie_for(
        &self,
        version: u8,
        secret: &[u8; 32],
        ni: &[u8],
        remote: SocketAddr,
        spi_i: &[u8; 8],
    ) -> Vec<u8> {
        // RFC 7296 2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(ni);
        match remote.ip() {
            std::net::IpAddr::V4(a) => ctx.update(&a.octets()),
            std::net::IpAddr::V6(a) => ctx.update(&a.octets()),
        }
        ctx.update(spi_i);
        ctx.update(secret);
        let mut v = vec![version];
        v.extend_from_slice(ctx.finish().as_ref());
        v
    }

    /// Connections that may answer a peer at `remote` on `local`.
    pub(super) fn candidate_connections(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Vec<ConnId> {
        let mut v: Vec<ConnId> = self
            .connections_by_remote
            .get(&remote.ip())
            .into_iter()
            .flatten()
            .chain(self.connections_any_remote.iter())
            .copied()
            .filter(|c| {
                self.connections.get(c).is_some_and(|conn| {
                    conn.local_addr.ip() == local.ip() || conn.local_addr.ip().is_unspecified()
                })
            })
            .collect();
        v.dedup();
        v
    }

    /// The first of [`Engine::candidate_connections`], without listing
    /// them all.
    fn first_candidate(&self, local: SocketAddr, remote: SocketAddr) -> Option<ConnId> {
        self.connections_by_remote
            .get(&remote.ip())
            .into_iter()
            .flatten()
            .chain(self.connections_any_remote.iter())
            .copied()
            .find(|c| {
                self.connections.get(c).is_some_and(|conn| {
                    conn.local_addr.ip() == local.ip() || conn.local_addr.ip().is_unspecified()
                })
            })
    }

    /// The responder handles an IKE_SA_INIT request.
    pub(super) fn responder_init(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        raw: &[u8],
        msg: Message,
    ) {
        let h = msg.header.clone();
        // A retransmitted request: answer from the cache.
        if let Some(id) = self.half_open_by_peer.get(&(h.spi_i, remote)).copied() {
            if let Some(sa) = self.sas.get(&id) {
                if sa.init_request == raw {
                    if let Some((_, packets)) = sa.last_response.clone() {
                        for p in packets {
                            self.transmit(local, remote, p);
                        }
                    }
                    return;
                }
            }
        }
        let Some(conn_id) = self.first_candidate(local, remote) else {
            self.log(format!(
                "dropping IKE_SA_INIT request from {remote}: no connection matches"
            ));
            return;
        };
        let p = &msg.payloads;
        let nonce = nonce_of(p);
        let sa_payload = sa_of(p);
        let ke_payload = ke_of(p);
        let (Some(nonce), Some(sa_payload), Some(ke_payload)) = (nonce, sa_payload, ke_payload)
        else {
            self.init_notify_reply(
                local,
                remote,
                &h,
                [0; 8],
                Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
            return;
        };
        if nonce.len() < 16 || nonce.len() > 256 {
            self.init_notify_reply(
                local,
                remote,
                &h,
                [0; 8],
                Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
            return;
        }
        if self.half_open >= self.config.cookie_threshold {
            self.rotate_cookie_secret(now);
            let ok = msg
                .notify(NotifyType::COOKIE)
                .is_some_and(|c| self.cookie_valid(&c.data, nonce, remote, &h.spi_i));
            if !ok {
                let (version, secret) = self.cookie_secrets[0];
                let expected = self.cookie_for(version, &secret, nonce, remote, &h.spi_i);
                self.init_notify_reply(
                    local,
                    remote,
                    &h,
                    [0; 8],
                    Notify::new(NotifyType::COOKIE, expected),
                );
                return;
            }
        }
        if self.half_open >= self.config.max_half_open {
            return;
        }
        let conn: Connection = match self.connections.get(&conn_id) {
            Some(c) => c.clone(),
            None => return,
        };
        let spi_r = self.random_spi();
        let Some((suite, chosen)) = select_ike(
            &conn.ike_proposals(),
            sa_payload,
            Some(ke_payload.group),
            &[],
        ) else {
            self.log(format!(
                "\"{}\": IKE_SA_INIT request from {remote}: no acceptable proposal; sending NO_PROPOSAL_CHOSEN",
                conn.name
            ));
            self.init_notify_reply(
                local,
                remote,
                &h,
                [0; 8],
                Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
            return;
        };
        if suite.ke.transform_id() != ke_payload.group {
            self.log(format!(
                "\"{}\": IKE_SA_INIT request from {remote} has KE {}; sending INVALID_KE_PAYLOAD for {}",
                conn.name,
                ke_payload.group,
                ke_name(suite.ke)
            ));
            self.init_notify_reply(
                local,
                remote,
                &h,
                [0; 8],
                Notify::new(
                    NotifyType::INVALID_KE_PAYLOAD,
                    suite.ke.transform_id().to_be_bytes().to_vec(),
                ),
            );
            return;
        }
        if !suite.addke.is_empty()
            && msg
                .notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
                .is_none()
        {
            self.init_notify_reply(
                local,
                remote,
                &h,
                [0; 8],
                Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()),
            );
            return;
        }
        let (public, shared) =
            match KeyExchange::respond(suite.ke, &ke_payload.data, &mut *self.rng) {
                Ok(x) => x,
                Err(e) => {
                    self.log(format!(
                        "\"{}\": IKE_SA_INIT request from {remote}: {e}",
                        conn.name
                    ));
                    self.init_notify_reply(
                        local,
                        remote,
                        &h,
                        [0; 8],
                        Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()),
                    );
                    return;
                }
            };
        let nr = self.nonce();
        let keys = match IkeSaKeys::derive(
            suite.prf,
            suite.encr,
            suite.integ,
            &shared,
            nonce,
            &nr,
            &h.spi_i,
            &spi_r,
        ) {
            Ok(k) => k,
            Err(e) => {
                self.log(format!("\"{}\": key derivation failed: {e}", conn.name));
                return;
            }
        };
        let (Ok(cipher_out), Ok(cipher_in)) = (keys.responder_cipher(), keys.initiator_cipher())
        else {
            return;
        };
        let id = IkeSaId(self.serial());
        let frag = conn.fragmentation == Fragmentation::Yes
            && msg
                .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some();
        let nat = detect_nat(p, &h.spi_i, &[0; 8], remote, local);
        let mut sa = IkeSa {
            id,
            conn: conn_id,
            initiator: false,
            spi_i: h.spi_i,
            spi_r,
            local,
            remote,
            state: IkeState::InitAnswered,
            created: now,
            last_received: now,
            suite: None,
            keys: Some(keys),
            cipher_out: Some(cipher_out),
            cipher_in: Some(cipher_in),
            ke: None,
            ni: nonce.clone(),
            nr: nr.clone(),
            init_request: raw.to_vec(),
            init_response: Vec::new(),
            cookie: None,
            ke_retries: 0,
            peer_fragmentation: frag,
            peer_childless: msg.notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED).is_some(),
            last_aad: None,
            last_plaintext: Vec::new(),
            last_first_inner: 0,
            addke_pending: suite.addke.clone(),
            int_auth: None,
            peer_signature_hashes: signature_hashes(&msg),
            peer_certreq: None,
            nat,
            remote_id: None,
            next_message_id: 0,
            outstanding: None,
            expected_request_id: 1,
            last_response: None,
            reassembly: None,
            children: Vec::new(),
            pending_child: None,
            pending_create: None,
            queued: VecDeque::new(),
            queued_creates: VecDeque::new(),
            rekeyed_to: None,
            rekey_at: None,
            expire_at: None,
        };
        if nat.local_behind_nat {
            self.log(format!(
                "\"{}\": NAT detected: this end is behind a NAT",
                conn.name
            ));
        }
        if nat.remote_behind_nat {
            self.log(format!(
                "\"{}\": NAT detected: the peer {remote} is behind a NAT",
                conn.name
            ));
        }
        let mut payloads = vec![
            Payload::Sa(crate::wire::SaPayload {
                proposals: vec![chosen],
            }),
            Payload::Ke(KePayload {
                group: suite.ke.transform_id(),
                data: public,
            }),
            Payload::Nonce(nr),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                nat_hash(&sa.spi_i, &sa.spi_r, local),
            )),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(&sa.spi_i, &sa.spi_r, remote),
            )),
        ];
        if frag {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            )));
        }
        if msg.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS).is_some() {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                SIGNATURE_HASHES
                    .iter()
                    .flat_map(|x| x.to_be_bytes())
                    .collect(),
            )));
        }
        // RFC 7296 1.2: a responder that authenticates with certificates
        // names the CAs it trusts in its IKE_SA_INIT response.
        if let crate::engine::Authentication::Certificate(c) = &conn.auth {
            let req = c.certificate_request();
            if !req.is_empty() {
                payloads.push(Payload::CertReq(crate::wire::CertPayload {
                    encoding: crate::wire::CertEncoding::X509_SIGNATURE,
                    data: req,
                }));
            }
        }
        if msg
            .notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
            .is_some()
        {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED,
                Vec::new(),
            )));
        }
        // RFC 6023: a responder that can set up an IKE SA without a Child
        // SA says so, whether or not the initiator announced it (strongSwan's
        // `childless = force` never does, and gives up without this).
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::CHILDLESS_IKEV2_SUPPORTED,
            Vec::new(),
        )));
        let reply = Message {
            header: sa.header(ExchangeType::IkeSaInit, true, 0),
            payloads,
        };
        let Ok(bytes) = reply.encode() else {
            return;
        };
        sa.init_response = bytes.clone();
        let desc = suite.describe();
        sa.suite = Some(suite);
        self.send_response(&mut sa, 0, vec![bytes]);
        self.sa_log(&sa, &format!("sent IKE_SA_INIT reply {desc}"));
        self.half_open += 1;
        self.half_open_by_peer.insert((sa.spi_i, remote), id);
        self.insert_sa(sa);
    }
}
