//! IKE_SA_INIT for both ends (RFC 7296 1.2, 2.6 cookies, 2.23 NAT
//! detection, 1.3 INVALID_KE_PAYLOAD, RFC 7383 and RFC 6023 notifies).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use aws_lc_rs::digest;

use crate::crypto::{IkeSaKeys, KeGroup, KeyExchange};
use crate::wire::{
    CertEncoding, ExchangeType, Header, KePayload, Message, Notify, NotifyType, Payload,
    IKEV2_VERSION,
};

use super::config::Fragmentation;
use super::create_child::{ke_of, nonce_of, sa_of};
use super::event::{IkeSaId, NatInfo};
use super::ike_sa::{IkeSa, IkeState, RequestKind};
use super::proposal::{accept_ike, ike_sa_payload, ke_name};
use super::{ConnId, Engine, EngineError};

/// SIGNATURE_HASH_ALGORITHMS we accept (RFC 7427 4): SHA2-256, SHA2-384,
/// SHA2-512, Identity (RFC 8420).
pub(super) const SIGNATURE_HASHES: [u16; 4] = [2, 3, 4, 5];

/// The hash algorithms of a SIGNATURE_HASH_ALGORITHMS notify.
pub(super) fn signature_hashes(msg: &Message) -> Vec<u16> {
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

/// The CA key hashes of the X.509 CERTREQ payloads among `payloads`
/// (RFC 7296 3.7: concatenated 20-octet SHA-1 hashes; a trailing partial
/// hash is ignored); `None` when there is no such CERTREQ.
pub(super) fn certificate_requests(payloads: &[Payload]) -> Option<Vec<[u8; 20]>> {
    let mut found = None;
    for p in payloads {
        if let Payload::CertReq(req) = p {
            if req.encoding != CertEncoding::X509_SIGNATURE {
                continue;
            }
            let cas: &mut Vec<[u8; 20]> = found.get_or_insert_with(Vec::new);
            for chunk in req.data.chunks_exact(20) {
                if let Ok(hash) = <[u8; 20]>::try_from(chunk) {
                    if !cas.contains(&hash) {
                        cas.push(hash);
                    }
                }
            }
        }
    }
    found
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
pub(super) fn detect_nat(
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

pub(super) fn first<T>(payloads: &[Payload], f: impl Fn(&Payload) -> Option<&T>) -> Option<&T> {
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
            peer_certreq: None,
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
        let sa_payload = sa_of(p);
        let ke_payload = ke_of(p);
        let nonce = nonce_of(p);
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
        sa.peer_certreq = certificate_requests(&msg.payloads);
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
}
