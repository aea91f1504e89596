//! IKE_SA_INIT for both ends (RFC 7296 1.2, 2.6 cookies, 2.23 NAT
//! detection, 1.3 INVALID_KE_PAYLOAD, RFC 7383 and RFC 6023 notifies).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use aws_lc_rs::digest;

use crate::crypto::{IkeSaKeys, KeGroup, KeyExchange};
use crate::wire::{
    ExchangeType, Header, KePayload, Message, Notify, NotifyType, Payload, IKEV2_VERSION,
};

use super::config::{Connection, Fragmentation};
use super::event::{IkeSaId, NatInfo};
use super::ike_sa::{IkeSa, IkeState, RequestKind};
use super::proposal::{accept_ike, ike_sa_payload, ke_name, select_ike};
use super::{ConnId, Engine, EngineError, COOKIE_SECRET_LIFETIME};

/// SIGNATURE_HASH_ALGORITHMS we accept (RFC 7427 4): SHA2-256, SHA2-384,
/// SHA2-512, Identity (RFC 8420).
const SIGNATURE_HASHES: [u16; 4] = [2, 3, 4, 5];

/// The hash algorithms of a SIGNATURE_HASH_ALGORITHMS notify.
fn signature_hashes(msg: &Message) -> Vec<u16> {
    msg.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .map(|n| {
            n.data
                .chunks_exact(2)
                .map(|c| match c {
                    [a, b] => u16::from_be_bytes([*a, *b]),
                    _ => 0,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | port).
pub(crate) fn nat_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match addr.ip() {
        std::net::IpAddr::V4(a) => ctx.update(&a.octets()),
        std::net::IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}

fn notifies(payloads: &[Payload], kind: NotifyType) -> impl Iterator<Item = &Notify> {
    payloads.iter().filter_map(move |p| match p {
        Payload::Notify(n) if n.kind == kind => Some(n),
        _ => None,
    })
}

/// NAT detection from the peer's notifies: `sender` is the peer's address
/// as we see it, `receiver` ours.
fn detect_nat(
    payloads: &[Payload],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    sender: SocketAddr,
    receiver: SocketAddr,
) -> NatInfo {
    let src = nat_hash(spi_i, spi_r, sender);
    let dst = nat_hash(spi_i, spi_r, receiver);
    let mut srcs = notifies(payloads, NotifyType::NAT_DETECTION_SOURCE_IP).peekable();
    let remote_behind_nat = srcs.peek().is_some() && !srcs.any(|n| n.data == src);
    let mut dsts = notifies(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP).peekable();
    let local_behind_nat = dsts.peek().is_some() && !dsts.any(|n| n.data == dst);
    NatInfo {
        local_behind_nat,
        remote_behind_nat,
    }
}

fn first<T>(payloads: &[Payload], f: impl Fn(&Payload) -> Option<&T>) -> Option<&T> {
    payloads.iter().find_map(f)
}

impl Engine {
    pub(super) fn start_initiator(
        &mut self,
        now: Instant,
        conn_id: ConnId,
    ) -> Result<IkeSaId, EngineError> {
        let conn = self
            .connections
            .get(&conn_id)
            .ok_or(EngineError::UnknownConnection(conn_id))?;
        let remote = conn
            .remote_addr
            .ok_or_else(|| EngineError::NoRemoteAddress(conn.name.clone()))?;
        let local = conn.local_addr;
        let group = conn
            .ike_proposals()
            .first()
            .and_then(|p| p.ke.first().copied())
            .ok_or_else(|| {
                EngineError::InvalidConnection(conn.name.clone(), "ike= has no key exchange".into())
            })?;
        let id = IkeSaId(self.serial());
        let spi_i = self.random_spi();
        let ni = self.nonce();
        let mut sa = IkeSa {
            id,
            conn: conn_id,
            initiator: true,
            spi_i,
            spi_r: [0; 8],
            local,
            remote,
            state: IkeState::InitSent,
            created: now,
            last_received: now,
            suite: None,
            keys: None,
            cipher_out: None,
            cipher_in: None,
            ke: None,
            ni,
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            cookie: None,
            ke_retries: 0,
            peer_fragmentation: false,
            peer_childless: false,
            last_aad: None,
            last_plaintext: Vec::new(),
            last_first_inner: 0,
            addke_pending: Vec::new(),
            int_auth: None,
            peer_signature_hashes: Vec::new(),
            nat: NatInfo::default(),
            remote_id: None,
            next_message_id: 0,
            outstanding: None,
            expected_request_id: 0,
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
        self.sa_log(&sa, "initiating IKEv2 connection");
        if let Err(e) = self.send_init_request(now, &mut sa, group) {
            return Err(EngineError::Crypto(e));
        }
        self.insert_sa(sa);
        Ok(id)
    }

    /// (Re)builds and sends the IKE_SA_INIT request with `group`.
    fn send_init_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        group: KeGroup,
    ) -> Result<(), String> {
        let conn = self
            .connections
            .get(&sa.conn)
            .ok_or_else(|| "connection removed".to_string())?;
        let props = conn.ike_proposals();
        let frag = conn.fragmentation == Fragmentation::Yes;
        let childless = conn.childless;
        let intermediate = props.iter().any(|p| !p.addke.is_empty());
        let (ke, public) =
            KeyExchange::generate(group, &mut *self.rng).map_err(|e| e.to_string())?;
        sa.ke = Some(ke);
        let mut payloads = Vec::new();
        if let Some(c) = &sa.cookie {
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
        }
        payloads.push(Payload::Sa(ike_sa_payload(&props, &[])));
        payloads.push(Payload::Ke(KePayload {
            group: group.transform_id(),
            data: public,
        }));
        payloads.push(Payload::Nonce(sa.ni.clone()));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            nat_hash(&sa.spi_i, &[0; 8], sa.local),
        )));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_hash(&sa.spi_i, &[0; 8], sa.remote),
        )));
        if frag {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            )));
        }
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            SIGNATURE_HASHES
                .iter()
                .flat_map(|h| h.to_be_bytes())
                .collect(),
        )));
        if childless {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::CHILDLESS_IKEV2_SUPPORTED,
                Vec::new(),
            )));
        }
        if intermediate {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED,
                Vec::new(),
            )));
        }
        let msg = Message {
            header: sa.header(ExchangeType::IkeSaInit, false, 0),
            payloads,
        };
        let bytes = msg.encode().map_err(|e| e.to_string())?;
        sa.init_request = bytes.clone();
        sa.next_message_id = 0;
        self.send_request(now, sa, RequestKind::IkeSaInit, vec![bytes]);
        let remote = sa.remote;
        self.sa_log(sa, &format!("sent IKE_SA_INIT request to {remote}"));
        Ok(())
    }

    /// The initiator handles the IKE_SA_INIT response; false ends the SA.
    pub(super) fn initiator_init_response(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        raw: &[u8],
        msg: Message,
    ) -> bool {
        if sa.state != IkeState::InitSent {
            return true;
        }
        let p = &msg.payloads;
        if let Some(c) = msg.notify(NotifyType::COOKIE) {
            if sa.cookie.is_some() && sa.ke_retries > 3 {
                return true;
            }
            sa.ke_retries += 1;
            sa.cookie = Some(c.data.clone());
            let group = sa.ke.as_ref().map(|k| k.group());
            self.sa_log(sa, "received COOKIE; resending IKE_SA_INIT request with it");
            if let Some(g) = group {
                sa.outstanding = None;
                if let Err(e) = self.send_init_request(now, sa, g) {
                    self.sa_log(sa, &format!("cannot resend IKE_SA_INIT: {e}"));
                    return false;
                }
            }
            return true;
        }
        if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = n
                .data
                .first_chunk::<2>()
                .map(|b| u16::from_be_bytes(*b))
                .and_then(KeGroup::from_id);
            let offered = self
                .connections
                .get(&sa.conn)
                .map(|c| c.ike_proposals())
                .unwrap_or_default();
            match wanted {
                Some(g) if sa.ke_retries < 3 && offered.iter().any(|p| p.ke.contains(&g)) => {
                    sa.ke_retries += 1;
                    self.sa_log(
                        sa,
                        &format!(
                            "IKE_SA_INIT response contained INVALID_KE_PAYLOAD; resending with {}",
                            ke_name(g)
                        ),
                    );
                    sa.outstanding = None;
                    if let Err(e) = self.send_init_request(now, sa, g) {
                        self.sa_log(sa, &format!("cannot resend IKE_SA_INIT: {e}"));
                        return false;
                    }
                    return true;
                }
                _ => {
                    self.fail(sa, "IKE_SA_INIT response contained INVALID_KE_PAYLOAD for a group we did not propose");
                    return false;
                }
            }
        }
        if let Some(err) = p.iter().find_map(|x| match x {
            Payload::Notify(n) if n.kind.is_error() => Some(n.kind),
            _ => None,
        }) {
            self.fail(sa, &format!("IKE_SA_INIT response contained {err}"));
            return false;
        }
        let conn = match self.connections.get(&sa.conn) {
            Some(c) => c.clone(),
            None => return false,
        };
        let sa_payload = first(p, |x| match x {
            Payload::Sa(s) => Some(s),
            _ => None,
        });
        let ke_payload = first(p, |x| match x {
            Payload::Ke(k) => Some(k),
            _ => None,
        });
        let nonce = first(p, |x| match x {
            Payload::Nonce(n) => Some(n),
            _ => None,
        });
        let (Some(sa_payload), Some(ke_payload), Some(nonce)) = (sa_payload, ke_payload, nonce)
        else {
            self.fail(sa, "IKE_SA_INIT response lacks SA, KE or Nonce");
            return false;
        };
        if nonce.len() < 16 || nonce.len() > 256 {
            self.fail(sa, "IKE_SA_INIT response has an invalid nonce length");
            return false;
        }
        let Some(suite) = accept_ike(&conn.ike_proposals(), sa_payload) else {
            self.fail(sa, "IKE_SA_INIT response chose a proposal we did not offer");
            return false;
        };
        let Some(ke) = sa.ke.take() else {
            return false;
        };
        if suite.ke != ke.group() || ke_payload.group != ke.group().transform_id() {
            self.fail(
                sa,
                "IKE_SA_INIT response KE group differs from the one proposed",
            );
            return false;
        }
        if !suite.addke.is_empty()
            && msg
                .notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
                .is_none()
        {
            self.fail(
                sa,
                "IKE_SA_INIT response chose additional key exchanges without INTERMEDIATE_EXCHANGE_SUPPORTED",
            );
            return false;
        }
        let shared = match ke.complete(&ke_payload.data) {
            Ok(s) => s,
            Err(e) => {
                self.fail(sa, &format!("key exchange failed: {e}"));
                return false;
            }
        };
        sa.spi_r = msg.header.spi_r;
        sa.nr = nonce.clone();
        let keys = match IkeSaKeys::derive(
            suite.prf,
            suite.encr,
            suite.integ,
            &shared,
            &sa.ni,
            &sa.nr,
            &sa.spi_i,
            &sa.spi_r,
        ) {
            Ok(k) => k,
            Err(e) => {
                self.fail(sa, &format!("key derivation failed: {e}"));
                return false;
            }
        };
        let (Ok(out), Ok(inc)) = (keys.initiator_cipher(), keys.responder_cipher()) else {
            self.fail(sa, "cannot build the SK ciphers");
            return false;
        };
        sa.cipher_out = Some(out);
        sa.cipher_in = Some(inc);
        sa.keys = Some(keys);
        sa.nat = detect_nat(p, &sa.spi_i, &sa.spi_r, remote, local);
        sa.peer_fragmentation = conn.fragmentation == Fragmentation::Yes
            && msg
                .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some();
        sa.peer_childless = msg.notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED).is_some();
        sa.peer_signature_hashes = signature_hashes(&msg);
        sa.init_response = raw.to_vec();
        sa.outstanding = None;
        sa.last_received = now;
        sa.suite = Some(suite);
        if sa.nat.encapsulate() && sa.remote.port() == 500 {
            // RFC 7296 2.23: move to port 4500 once a NAT is detected.
            sa.remote.set_port(4500);
            sa.local.set_port(4500);
        }
        if sa.nat.local_behind_nat {
            self.sa_log(sa, "NAT detected: this end is behind a NAT");
        }
        if sa.nat.remote_behind_nat {
            self.sa_log(sa, "NAT detected: the peer is behind a NAT");
        }
        sa.addke_pending = sa
            .suite
            .as_ref()
            .map(|s| s.addke.clone())
            .unwrap_or_default();
        if sa.addke_pending.is_empty() {
            self.send_auth_request(now, sa, &conn)
        } else {
            self.send_intermediate_request(now, sa)
        }
    }

    fn fail(&mut self, sa: &mut IkeSa, why: &str) {
        self.sa_log(sa, why);
        self.report_down(sa, why);
    }

    /// A stateless IKE_SA_INIT answer (cookie or error notify).
    pub(super) fn init_notify_reply(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        request: &Header,
        spi_r: [u8; 8],
        notify: Notify,
    ) {
        let msg = Message {
            header: Header {
                spi_i: request.spi_i,
                spi_r,
                next_payload: 0,
                version: IKEV2_VERSION,
                exchange: ExchangeType::IkeSaInit,
                initiator: false,
                version_flag: false,
                response: true,
                message_id: 0,
                length: 0,
            },
            payloads: vec![Payload::Notify(notify)],
        };
        if let Ok(b) = msg.encode() {
            self.transmit(local, remote, b);
        }
    }

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
        let candidates = self.candidate_connections(local, remote);
        let Some(conn_id) = candidates.first().copied() else {
            self.log(format!(
                "dropping IKE_SA_INIT request from {remote}: no connection matches"
            ));
            return;
        };
        let p = &msg.payloads;
        let nonce = first(p, |x| match x {
            Payload::Nonce(n) => Some(n),
            _ => None,
        });
        let sa_payload = first(p, |x| match x {
            Payload::Sa(s) => Some(s),
            _ => None,
        });
        let ke_payload = first(p, |x| match x {
            Payload::Ke(k) => Some(k),
            _ => None,
        });
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
        if msg
            .notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
            .is_some()
        {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED,
                Vec::new(),
            )));
        }
        if conn.childless || sa.peer_childless {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::CHILDLESS_IKEV2_SUPPORTED,
                Vec::new(),
            )));
        }
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
