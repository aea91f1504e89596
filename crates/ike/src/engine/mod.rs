//! The IKEv2 engine, sans-IO: the daemon feeds it datagrams, timeouts and
//! commands and drains datagrams to send, events and its next deadline.
//! It owns no socket, clock or thread; time is passed in and the random
//! source is injected, so two engines can talk in memory under a fake
//! clock (see `crates/ike/tests`).
//!
//! ```text
//! let mut engine = Engine::new(EngineConfig::default(), Box::new(SystemRandom));
//! let conn = engine.add_connection(connection)?;        // from ipsec.conf
//! engine.initiate(now, conn)?;                           // ipsec auto --up
//! engine.handle_datagram(now, local, remote, &bytes);    // UDP 500/4500 arrived
//! engine.handle_timeout(now);                            // when poll_timeout() passed
//! while let Some(t) = engine.poll_transmit() { /* send t.payload from t.local to t.remote */ }
//! while let Some(ev) = engine.poll_event() { /* ChildSaUp -> data plane, Log -> whack */ }
//! let next = engine.poll_timeout();
//! ```
//!
//! Datagrams on port 4500 carry (and [`Transmit`]s get) the 4-octet
//! non-ESP marker; a 4500 datagram without it is ESP and ignored here.
//! IKE SAs are found by our SPI in a hash map, half-open ones by the
//! initiator's SPI and address, connections by the peer's address (and
//! then by ID in IKE_AUTH); nothing scans all SAs per packet.
//!
//! Implemented: IKE_SA_INIT (proposal choice, INVALID_KE_PAYLOAD retry,
//! cookies above [`EngineConfig::cookie_threshold`] half-open SAs, NAT
//! detection and the move to port 4500, fragmentation and signature-hash
//! and childless notifies), IKE_INTERMEDIATE with RFC 9370 additional key
//! exchanges (e.g. Curve25519 + ML-KEM-768), IKE_AUTH with PSK, raw-key
//! signatures (RFC 7427 or legacy), NULL, or certificates through
//! [`CertAuth`], the Child SA with traffic selector narrowing, transport
//! mode and ESN; CREATE_CHILD_SA (new Child SA, Child SA and IKE SA rekey
//! with PFS, collisions); INFORMATIONAL (delete, liveness); message IDs
//! with window 1, retransmission with back-off, cached responses,
//! half-open expiry, lifetimes (rekey, then expiry); IKE fragmentation
//! (RFC 7383); INITIAL_CONTACT. Not implemented: EAP, configuration
//! payloads (address pools), MOBIKE, redirects, PPK.

mod auth;
mod authenticate;
mod child;
pub mod config;
mod create_child;
mod dispatch;
pub mod event;
mod ike_rekey;
mod ike_sa;
mod info;
mod init;
mod init_responder;
mod initial_contact;
mod intermediate;
pub mod proposal;
mod timers;
pub mod ts;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::crypto::Random;
use crate::wire::{ExchangeType, Header, Message, Notify, NotifyType, WireError};

pub use config::{
    default_esp_proposals, default_ike_proposals, Authentication, CertAuth, CertAuthError, ConnId,
    Connection, EsnPolicy, EspProposal, Fragmentation, Identity, IkeProposal, Mode, PeerAuthHints,
    DEFAULT_IKE_GROUPS,
};
pub use event::{ChildSaId, ChildSaInfo, Event, IkeSaId, IkeSaInfo, NatInfo, Transmit};
pub use proposal::{ChildSuite, IkeSuite};

use ike_sa::{IkeSa, IkeState, Outstanding, RequestKind};

/// Engine-wide settings (pluto's `config setup`).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Above this many half-open IKE SAs the responder demands cookies
    /// (RFC 7296 2.6; Libreswan's `ddos-ike-threshold`, 25000).
    pub cookie_threshold: usize,
    /// A responder's half-open IKE SA is dropped after this long.
    pub half_open_timeout: Duration,
    /// Largest IKE datagram sent unfragmented once fragmentation is
    /// negotiated (RFC 7383).
    pub max_message_size: usize,
    /// Largest number of half-open SAs kept at all (Libreswan's
    /// `max-halfopen-ike`, 50000).
    pub max_half_open: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cookie_threshold: 25_000,
            half_open_timeout: Duration::from_secs(30),
            max_message_size: 1280,
            max_half_open: 50_000,
        }
    }
}

/// How long one cookie secret is used (RFC 7296 2.6: change it often).
pub(crate) const COOKIE_SECRET_LIFETIME: Duration = Duration::from_secs(300);

/// How long a rekeyed IKE SA waits for the peer's Delete.
pub(crate) const REKEYED_SA_GRACE: Duration = Duration::from_secs(60);

/// What to terminate or rekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One IKE SA (and its Child SAs).
    IkeSa(IkeSaId),
    /// Every IKE SA of a connection.
    Connection(ConnId),
    /// One Child SA.
    ChildSa(ChildSaId),
}

/// Errors of the engine's commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No connection with that id.
    #[error("no connection with id {0:?}")]
    UnknownConnection(ConnId),
    /// A connection with that name exists already.
    #[error("connection \"{0}\" already exists")]
    DuplicateName(String),
    /// No SA with that id.
    #[error("no SA matches {0:?}")]
    UnknownSa(Target),
    /// The connection has no fixed remote address (`right=%any`).
    #[error("connection \"{0}\" has no remote address to initiate to (right=%any)")]
    NoRemoteAddress(String),
    /// The connection's settings cannot be used.
    #[error("connection \"{0}\": {1}")]
    InvalidConnection(String, String),
    /// The SA is busy with another exchange or not established; retry.
    #[error("busy: {0}")]
    Busy(String),
    /// A feature not built yet.
    #[error("not implemented yet: {0}")]
    NotImplemented(&'static str),
    /// A cryptographic operation failed.
    #[error("crypto failure: {0}")]
    Crypto(String),
}

/// The IKEv2 engine.
pub struct Engine {
    config: EngineConfig,
    rng: Box<dyn Random + Send>,
    connections: HashMap<ConnId, Connection>,
    connections_by_name: HashMap<String, ConnId>,
    connections_by_remote: HashMap<IpAddr, Vec<ConnId>>,
    connections_any_remote: Vec<ConnId>,
    next_conn: u32,
    sas: HashMap<IkeSaId, IkeSa>,
    by_local_spi: HashMap<[u8; 8], IkeSaId>,
    half_open_by_peer: HashMap<([u8; 8], SocketAddr), IkeSaId>,
    child_owner: HashMap<ChildSaId, IkeSaId>,
    half_open: usize,
    /// (version, secret): the current one first, then the previous one.
    cookie_secrets: [(u8, [u8; 32]); 2],
    cookie_rotated_at: Option<Instant>,
    next_serial: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// (deadline, SA), one entry per SA with a deadline.
    timers: BTreeSet<(Instant, IkeSaId)>,
    scheduled: HashMap<IkeSaId, Instant>,
    pending_deletes: Vec<IkeSaId>,
    by_conn: HashMap<ConnId, HashSet<IkeSaId>>,
    /// IKE SAs by the peer's address (INITIAL_CONTACT, RFC 7296 2.4).
    by_peer: HashMap<IpAddr, HashSet<IkeSaId>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("connections", &self.connections.len())
            .field("ike_sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A new engine with its random source (the system's CSPRNG in the
    /// daemon, a seeded one in tests).
    pub fn new(config: EngineConfig, mut rng: Box<dyn Random + Send>) -> Self {
        let mut cookie_secret = [0u8; 32];
        rng.fill(&mut cookie_secret);
        let cookie_secrets = [(0u8, cookie_secret), (0u8, cookie_secret)];
        Engine {
            config,
            rng,
            connections: HashMap::new(),
            connections_by_name: HashMap::new(),
            connections_by_remote: HashMap::new(),
            connections_any_remote: Vec::new(),
            next_conn: 1,
            sas: HashMap::new(),
            by_local_spi: HashMap::new(),
            half_open_by_peer: HashMap::new(),
            child_owner: HashMap::new(),
            half_open: 0,
            cookie_secrets,
            cookie_rotated_at: None,
            next_serial: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: BTreeSet::new(),
            scheduled: HashMap::new(),
            pending_deletes: Vec::new(),
            by_conn: HashMap::new(),
            by_peer: HashMap::new(),
        }
    }

    /// Adds a connection; its name must be new.
    pub fn add_connection(&mut self, conn: Connection) -> Result<ConnId, EngineError> {
        if self.connections_by_name.contains_key(&conn.name) {
            return Err(EngineError::DuplicateName(conn.name));
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.connections_by_name.insert(conn.name.clone(), id);
        match conn.remote_addr {
            Some(a) => self
                .connections_by_remote
                .entry(a.ip())
                .or_default()
                .push(id),
            None => self.connections_any_remote.push(id),
        }
        self.connections.insert(id, conn);
        Ok(id)
    }

    /// Removes a connection, deleting its IKE SAs first.
    pub fn remove_connection(&mut self, now: Instant, id: ConnId) -> Result<(), EngineError> {
        if !self.connections.contains_key(&id) {
            return Err(EngineError::UnknownConnection(id));
        }
        let _ = self.terminate(now, Target::Connection(id));
        if let Some(conn) = self.connections.remove(&id) {
            self.connections_by_name.remove(&conn.name);
            match conn.remote_addr {
                Some(a) => {
                    if let Some(v) = self.connections_by_remote.get_mut(&a.ip()) {
                        v.retain(|c| *c != id);
                        if v.is_empty() {
                            self.connections_by_remote.remove(&a.ip());
                        }
                    }
                }
                None => self.connections_any_remote.retain(|c| *c != id),
            }
        }
        Ok(())
    }

    /// The connection called `name`.
    pub fn connection_by_name(&self, name: &str) -> Option<ConnId> {
        self.connections_by_name.get(name).copied()
    }

    /// A connection's settings.
    pub fn connection(&self, id: ConnId) -> Option<&Connection> {
        self.connections.get(&id)
    }

    /// The IKE SAs of a connection (established or negotiating).
    pub fn ike_sas_of(&self, conn: ConnId) -> Vec<IkeSaId> {
        let mut v: Vec<IkeSaId> = self
            .by_conn
            .get(&conn)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| self.sas.contains_key(id))
            .collect();
        v.sort();
        v
    }

    /// What an established IKE SA negotiated (for `ipsec status`).
    pub fn ike_sa_info(&self, id: IkeSaId) -> Option<IkeSaInfo> {
        let sa = self.sas.get(&id)?;
        if sa.state != IkeState::Established {
            return None;
        }
        let conn = self.connections.get(&sa.conn)?;
        Some(IkeSaInfo {
            ike_sa: sa.id,
            conn: sa.conn,
            initiator: sa.initiator,
            local: sa.local,
            remote: sa.remote,
            local_id: conn.local_identity(),
            remote_id: sa.remote_id.clone().unwrap_or(Identity::Null),
            suite: sa.suite.clone()?,
            nat: sa.nat,
        })
    }

    /// The SPIs and keys of an IKE SA (once IKE_SA_INIT computed them), for a key log an
    /// independent decoder reads ([`crate::keylog`]). Secret: write them
    /// only when the user asked for it.
    pub fn ike_sa_keylog(&self, id: IkeSaId) -> Option<crate::keylog::IkeSaKeylog> {
        let sa = self.sas.get(&id)?;
        Some(crate::keylog::IkeSaKeylog {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            keys: sa.keys.clone()?,
        })
    }

    /// The Child SAs of an IKE SA: (id, inbound SPI, outbound SPI).
    pub fn child_sas(&self, ike_sa: IkeSaId) -> Vec<(ChildSaId, u32, u32)> {
        self.sas
            .get(&ike_sa)
            .map(|s| {
                s.children
                    .iter()
                    .map(|c| (c.id, c.inbound_spi, c.outbound_spi))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether an IKE SA is established.
    pub fn is_established(&self, sa: IkeSaId) -> bool {
        self.sas
            .get(&sa)
            .is_some_and(|s| s.state == IkeState::Established)
    }

    /// Starts negotiating an IKE SA (and its Child SA) for `conn`.
    pub fn initiate(&mut self, now: Instant, conn: ConnId) -> Result<IkeSaId, EngineError> {
        self.start_initiator(now, conn)
    }

    /// Deletes an IKE SA, all IKE SAs of a connection, or one Child SA,
    /// telling the peer with an INFORMATIONAL Delete.
    pub fn terminate(&mut self, now: Instant, target: Target) -> Result<(), EngineError> {
        match target {
            Target::IkeSa(id) => {
                if !self.sas.contains_key(&id) {
                    return Err(EngineError::UnknownSa(target));
                }
                self.delete_ike_sa(now, id);
                Ok(())
            }
            Target::Connection(c) => {
                if !self.connections.contains_key(&c) {
                    return Err(EngineError::UnknownConnection(c));
                }
                for id in self.ike_sas_of(c) {
                    self.delete_ike_sa(now, id);
                }
                Ok(())
            }
            Target::ChildSa(child) => {
                let Some(owner) = self.child_owner.get(&child).copied() else {
                    return Err(EngineError::UnknownSa(target));
                };
                self.delete_child_sa(now, owner, child);
                Ok(())
            }
        }
    }

    /// Rekeys an IKE SA, every IKE SA of a connection, or a Child SA
    /// (CREATE_CHILD_SA with REKEY_SA, PFS per the connection). While
    /// another exchange of the IKE SA is in flight the rekey is queued.
    pub fn rekey(&mut self, now: Instant, target: Target) -> Result<(), EngineError> {
        match target {
            Target::IkeSa(id) => {
                let spi = self.random_spi();
                self.with_sa(id, target, |e, sa| {
                    e.create_or_queue(now, sa, ike_sa::CreateKind::RekeyIke(spi))
                })
            }
            Target::ChildSa(child) => {
                let owner = self
                    .child_owner
                    .get(&child)
                    .copied()
                    .ok_or(EngineError::UnknownSa(target))?;
                self.with_sa(owner, target, |e, sa| {
                    e.create_or_queue(now, sa, ike_sa::CreateKind::RekeyChild(child))
                })
            }
            Target::Connection(c) => {
                if !self.connections.contains_key(&c) {
                    return Err(EngineError::UnknownConnection(c));
                }
                for id in self.ike_sas_of(c) {
                    if self.is_established(id) {
                        self.rekey(now, Target::IkeSa(id))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Negotiates an additional Child SA for an established IKE SA, with
    /// its connection's traffic selectors (CREATE_CHILD_SA).
    pub fn create_child_sa(&mut self, now: Instant, ike_sa: IkeSaId) -> Result<(), EngineError> {
        self.with_sa(ike_sa, Target::IkeSa(ike_sa), |e, sa| {
            e.create_or_queue(now, sa, ike_sa::CreateKind::NewChild)
        })
    }

    /// Starts a CREATE_CHILD_SA now, or queues it behind the exchange in
    /// flight (window size 1).
    fn create_or_queue(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        kind: ike_sa::CreateKind,
    ) -> Result<(), EngineError> {
        if sa.state == IkeState::Established
            && sa.rekeyed_to.is_none()
            && (sa.outstanding.is_some() || sa.pending_create.is_some())
        {
            if !sa.queued_creates.contains(&kind) {
                sa.queued_creates.push_back(kind);
            }
            return Ok(());
        }
        self.start_create(now, sa, kind, None)
    }

    fn with_sa(
        &mut self,
        id: IkeSaId,
        target: Target,
        f: impl FnOnce(&mut Self, &mut IkeSa) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let mut sa = self.sas.remove(&id).ok_or(EngineError::UnknownSa(target))?;
        let r = f(self, &mut sa);
        self.sas.insert(id, sa);
        self.schedule(id);
        r
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Engine::handle_timeout`] next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Processes every timer due at `now`: retransmissions, give-ups,
    /// half-open expiry, liveness checks, rekeys and expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each SA once per call; what it schedules next waits for the next
        // call (so a timer that cannot make progress never spins).
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.remove(&(t, id));
            self.scheduled.remove(&id);
            due.push(id);
        }
        for id in due {
            self.sa_timeout(now, id);
        }
    }

    /// Processes one received datagram.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        let data = match bytes.get(..4) {
            Some([0, 0, 0, 0]) => bytes.get(4..).unwrap_or(&[]),
            _ if local.port() == 4500 || remote.port() == 4500 => return, // ESP, not IKE
            _ => bytes,
        };
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.log(format!("dropping packet from {remote}: {e}"));
                if let (WireError::UnsupportedCritical(t), Ok(h)) = (&e, Header::decode(data)) {
                    if h.exchange == ExchangeType::IkeSaInit && !h.response && h.spi_r == [0; 8] {
                        self.init_notify_reply(
                            local,
                            remote,
                            &h,
                            [0; 8],
                            Notify::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![*t]),
                        );
                    }
                }
                return;
            }
        };
        let data = data.get(..msg.header.length as usize).unwrap_or(data);
        let h = &msg.header;
        if h.exchange == ExchangeType::IkeSaInit && !h.response && h.spi_r == [0; 8] {
            self.responder_init(now, local, remote, data, msg);
            return;
        }
        let local_spi = if h.initiator { h.spi_r } else { h.spi_i };
        let Some(id) = self.by_local_spi.get(&local_spi).copied() else {
            self.log(format!(
                "dropping {} {} from {remote}: no IKE SA for SPI {}",
                h.exchange.name(),
                if h.response { "response" } else { "request" },
                hex::encode(local_spi)
            ));
            return;
        };
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        // The I flag must say the sender is the other end.
        if h.initiator == sa.initiator {
            self.sas.insert(id, sa);
            return;
        }
        let keep = self.sa_message(now, &mut sa, local, remote, data, msg);
        if keep {
            self.sas.insert(id, sa);
            self.schedule(id);
        } else {
            self.forget_sa(sa);
        }
        for id in std::mem::take(&mut self.pending_deletes) {
            self.delete_ike_sa(now, id);
        }
    }

    // ----- internals shared by the exchange modules -----

    fn serial(&mut self) -> u64 {
        let s = self.next_serial;
        self.next_serial += 1;
        s
    }

    fn random_spi(&mut self) -> [u8; 8] {
        loop {
            let mut spi = [0u8; 8];
            self.rng.fill(&mut spi);
            if spi != [0; 8] && !self.by_local_spi.contains_key(&spi) {
                return spi;
            }
        }
    }

    fn random_child_spi(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            self.rng.fill(&mut b);
            let v = u32::from_be_bytes(b);
            // SPIs 1-255 are reserved (RFC 4303 2.1).
            if v > 255 {
                return v;
            }
        }
    }

    fn nonce(&mut self) -> Vec<u8> {
        let mut n = vec![0u8; 32];
        self.rng.fill(&mut n);
        n
    }

    fn log(&mut self, line: String) {
        self.events.push_back(Event::Log(line));
    }

    fn sa_log(&mut self, sa: &IkeSa, line: &str) {
        let name = self
            .connections
            .get(&sa.conn)
            .map(|c| c.name.as_str())
            .unwrap_or("?");
        let l = format!("\"{name}\" #{}: {line}", sa.id.0);
        self.events.push_back(Event::Log(l));
    }

    fn send(&mut self, sa: &IkeSa, packets: &[Vec<u8>]) {
        for p in packets {
            self.transmit(sa.local, sa.remote, p.clone());
        }
    }

    fn transmit(&mut self, local: SocketAddr, remote: SocketAddr, payload: Vec<u8>) {
        let payload = if local.port() == 4500 || remote.port() == 4500 {
            let mut v = Vec::with_capacity(payload.len() + 4);
            v.extend_from_slice(&[0, 0, 0, 0]);
            v.extend_from_slice(&payload);
            v
        } else {
            payload
        };
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload,
        });
    }

    /// Sends a request and arms its retransmission.
    fn send_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        kind: RequestKind,
        packets: Vec<Vec<u8>>,
    ) {
        let (interval, timeout) = self
            .connections
            .get(&sa.conn)
            .map(|c| (c.retransmit_interval, c.retransmit_timeout))
            .unwrap_or((Duration::from_millis(500), Duration::from_secs(60)));
        self.send(sa, &packets);
        let message_id = sa.next_message_id;
        sa.next_message_id = sa.next_message_id.wrapping_add(1);
        sa.outstanding = Some(Outstanding {
            message_id,
            kind,
            packets,
            next_retransmit: now + interval,
            interval,
            give_up_at: now + timeout,
            retransmits: 0,
        });
    }

    /// Sends a response and caches it for retransmitted requests.
    fn send_response(&mut self, sa: &mut IkeSa, message_id: u32, packets: Vec<Vec<u8>>) {
        self.send(sa, &packets);
        sa.last_response = Some((message_id, packets));
        sa.expected_request_id = message_id.wrapping_add(1);
    }

    fn deadline_of(&self, id: IkeSaId) -> Option<Instant> {
        let sa = self.sas.get(&id)?;
        let dpd = self.connections.get(&sa.conn).and_then(|c| c.dpd_delay);
        sa.next_deadline(self.config.half_open_timeout, dpd)
    }

    /// Keeps exactly one timer entry per SA, at its current deadline.
    fn schedule(&mut self, id: IkeSaId) {
        let new = self.deadline_of(id);
        let old = self.scheduled.get(&id).copied();
        if old == new {
            return;
        }
        if let Some(o) = old {
            self.timers.remove(&(o, id));
        }
        match new {
            Some(n) => {
                self.timers.insert((n, id));
                self.scheduled.insert(id, n);
            }
            None => {
                self.scheduled.remove(&id);
            }
        }
    }

    fn insert_sa(&mut self, sa: IkeSa) {
        let id = sa.id;
        self.by_local_spi.insert(sa.local_spi(), id);
        self.by_conn.entry(sa.conn).or_default().insert(id);
        self.by_peer.entry(sa.remote.ip()).or_default().insert(id);
        self.sas.insert(id, sa);
        self.schedule(id);
    }

    /// Moves an SA to another connection (the responder's choice by ID).
    fn move_sa_to(&mut self, sa: &mut IkeSa, conn: ConnId) {
        if sa.conn == conn {
            return;
        }
        if let Some(set) = self.by_conn.get_mut(&sa.conn) {
            set.remove(&sa.id);
        }
        self.by_conn.entry(conn).or_default().insert(sa.id);
        sa.conn = conn;
    }

    /// Removes every index entry of an SA that is being dropped.
    fn forget_sa(&mut self, sa: IkeSa) {
        self.by_local_spi.remove(&sa.local_spi());
        if let Some(t) = self.scheduled.remove(&sa.id) {
            self.timers.remove(&(t, sa.id));
        }
        if let Some(set) = self.by_conn.get_mut(&sa.conn) {
            set.remove(&sa.id);
            if set.is_empty() {
                self.by_conn.remove(&sa.conn);
            }
        }
        if let Some(set) = self.by_peer.get_mut(&sa.remote.ip()) {
            set.remove(&sa.id);
            if set.is_empty() {
                self.by_peer.remove(&sa.remote.ip());
            }
        }
        if !sa.initiator {
            if let Some(k) = self.half_open_by_peer.get(&(sa.spi_i, sa.remote)).copied() {
                if k == sa.id {
                    self.half_open_by_peer.remove(&(sa.spi_i, sa.remote));
                }
            }
        }
        if sa.state == IkeState::InitAnswered {
            self.half_open = self.half_open.saturating_sub(1);
        }
        for c in &sa.children {
            self.child_owner.remove(&c.id);
        }
    }

    /// Reports the Child SAs and the IKE SA down (the SA stays in the map
    /// only if the caller re-inserts it).
    fn report_down(&mut self, sa: &mut IkeSa, reason: &str) {
        for c in std::mem::take(&mut sa.children) {
            self.child_owner.remove(&c.id);
            self.events.push_back(Event::ChildSaDown {
                ike_sa: sa.id,
                conn: c.conn,
                child: c.id,
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
            });
        }
        if sa.rekeyed_to.is_some() {
            return;
        }
        if matches!(sa.state, IkeState::Established | IkeState::Deleting) {
            self.events.push_back(Event::IkeSaDown {
                ike_sa: sa.id,
                conn: sa.conn,
                reason: reason.to_string(),
            });
        } else {
            self.events.push_back(Event::IkeSaDown {
                ike_sa: sa.id,
                conn: sa.conn,
                reason: format!("negotiation failed: {reason}"),
            });
        }
    }
}
