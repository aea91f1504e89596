//! IKE on the wire: the UDP port-500 and port-4500 sockets (one of each per
//! listening address), their reader tasks, and the state the daemon keeps beside the IKE
//! engine (SAs installed in the data plane, `--up` replies waiting for
//! their Child SA, routing of connections).

use crate::backend::{self, Backend};
use crate::reply::Replier;
use dataplane::{Policy, PolicyId, SaId};
use ike::engine::{ChildSaId, ConnId, IkeSaId, IkeSaInfo};
use ike::Engine;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The IKE port.
pub const IKE_PORT: u16 = 500;

/// A datagram read from an IKE socket.
#[derive(Debug)]
pub struct Datagram {
    /// The address it arrived on.
    pub local: SocketAddr,
    /// The sender.
    pub remote: SocketAddr,
    /// The UDP payload.
    pub bytes: Vec<u8>,
}

/// What a daemon timer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Initiate the connection again (auto=start and dpdaction=restart
    /// connections retry forever, as Libreswan 5's keyingtries=0).
    Revive(ConnId),
    /// Send NAT keepalives (RFC 3948 4) for SAs behind a NAT.
    Keepalive,
    /// `enable-tcp=fallback`: start this IKE SA's negotiation again over
    /// TCP if UDP got no answer yet.
    TcpFallback(ConnId, IkeSaId),
    /// Move a connection's policies to the Child SA that replaced this
    /// one, if the rekey's initiator has not deleted it by now.
    SwitchPolicies(ChildSaId),
}

/// How long the responder of a Child SA rekey keeps sending on the old
/// SA while it waits for the initiator's Delete of it.
pub const REKEY_SWITCH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Policies that will protect with a rekeyed Child SA's successor once
/// the peer, which started the rekey, deletes the old SA (or after
/// [`REKEY_SWITCH_LIMIT`]): until then the peer may not have the new SA's
/// keys yet, and packets sent on it would be dropped.
#[derive(Debug, Clone)]
pub struct DeferredSwitch {
    /// The connection.
    pub conn: ConnId,
    /// The new Child SA.
    pub child: ChildSaId,
    /// Its policies.
    pub policies: Vec<Policy>,
}

/// What [`Wire::close_vanished`] did with the socket of an address that
/// left the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketFate {
    /// Closed.
    Closed,
    /// Kept: an installed Child SA uses its address.
    KeptInUse,
    /// The daemon's copy is closed; the userspace data plane, which was
    /// handed a duplicate, refused to close it (an SA sends from it).
    DataPlaneKeeps,
}

/// Interval of NAT keepalives (`keep-alive=`, Libreswan's 20 s).
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(20);

/// An `--up` reply waiting for its IKE SAs' Child SAs.
#[derive(Debug)]
pub struct Waiter {
    /// The client's reply.
    pub reply: Replier,
    /// IKE SAs still negotiating their first Child SA.
    pub sas: HashSet<IkeSaId>,
}

/// A Child SA installed in the data plane.
#[derive(Debug, Clone)]
pub struct ChildRec {
    /// Its IKE SA.
    pub ike_sa: IkeSaId,
    /// Its connection.
    pub conn: ConnId,
    /// The connection's name.
    pub name: String,
    /// The data plane's id of its SA pair.
    pub sa: SaId,
    /// Inbound SPI.
    pub inbound_spi: u32,
    /// Outbound SPI.
    pub outbound_spi: u32,
    /// `10.1.0.0/16===10.2.0.0/16`.
    pub tunnel: String,
    /// Algorithms, Libreswan's wording.
    pub xfrm: String,
    /// ESP-in-UDP.
    pub encapsulated: bool,
    /// Extended sequence numbers.
    pub esn: bool,
    /// When it came up.
    pub since: Instant,
    /// Lifetime before rekey.
    pub lifetime: std::time::Duration,
    /// The peer's ID.
    pub peer_id: String,
}

/// An established IKE SA.
#[derive(Debug, Clone)]
pub struct IkeRec {
    /// What the engine negotiated.
    pub info: IkeSaInfo,
    /// The connection's name.
    pub name: String,
    /// When it came up.
    pub since: Instant,
    /// IKE SA lifetime.
    pub lifetime: std::time::Duration,
}

/// A connection's policies in the data plane.
#[derive(Debug, Clone, Default)]
pub struct ConnRoute {
    /// Installed policies.
    pub policies: Vec<Policy>,
    /// The Child SA the policies protect with.
    pub current: Option<ChildSaId>,
    /// `--route`/`auto=ondemand`: keep a trap when no SA protects.
    pub trap: bool,
}

/// The daemon's IKE and data plane state.
pub struct Wire {
    /// The IKE engine.
    pub engine: Engine,
    /// The data plane, once opened.
    pub backend: Option<Backend>,
    /// Why the data plane could not be opened.
    pub backend_error: Option<String>,
    /// `protostack=`: which data plane to open when the first tunnel
    /// needs one.
    pub protostack: backend::Protostack,
    /// Whether `Backend::prepare_routing` ran (before the first sockets).
    pub routing_prepared: bool,
    /// `listen=` (the daemon opens sockets only on this address,
    /// `Pluto::open_sockets`).
    pub listen: Option<IpAddr>,
    /// IKE sockets (ports 500 and 4500) by local address and port.
    pub sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// Reader tasks of the port-4500 sockets the daemon reads itself
    /// (before the data plane opens, and always with XFRM); the userspace
    /// data plane takes over reading when it opens.
    pub nat_t_readers: HashMap<SocketAddr, tokio::task::AbortHandle>,
    /// The readers of the port-500 sockets (stopped when the address goes
    /// away, [`Wire::close_vanished`]).
    pub ike_readers: HashMap<SocketAddr, tokio::task::AbortHandle>,
    /// Reader tasks hand datagrams to the event loop here.
    pub udp_tx: mpsc::Sender<Datagram>,
    /// The event loop's end (taken by `run`).
    pub udp_rx: Option<mpsc::Receiver<Datagram>>,
    /// Engine connection ids by name.
    pub conn_ids: HashMap<String, ConnId>,
    /// Names by engine connection id.
    pub conn_names: HashMap<ConnId, String>,
    /// Established IKE SAs.
    pub ike_sas: HashMap<IkeSaId, IkeRec>,
    /// Child SAs in the data plane.
    pub children: HashMap<ChildSaId, ChildRec>,
    /// Policies per connection.
    pub routes: HashMap<ConnId, ConnRoute>,
    /// `--up` replies waiting, in the order they were parked, each with
    /// the IKE SAs it started with.
    waiters: std::collections::BTreeMap<u64, (Waiter, Vec<IkeSaId>)>,
    /// The waiter of each IKE SA it waits for (an SA the waiter no
    /// longer holds may linger here until the waiter finishes).
    waiter_by_sa: HashMap<IkeSaId, u64>,
    /// Waiters handed out by [`Wire::waiter_of`] since the last
    /// [`Wire::finish_done_waiters`]: the only ones that can be done.
    touched_waiters: Vec<u64>,
    /// Key of the next waiter.
    next_waiter: u64,
    /// Set by `handle` when the current request's reply must wait.
    pub park: Option<HashSet<IkeSaId>>,
    /// The daemon's own timers (revival of failed connections, NAT
    /// keepalives), earliest first.
    pub timers: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, Timer)>>,
    /// A keepalive round is scheduled.
    pub keepalive_scheduled: bool,
    /// `config setup keep-alive=` (20 s).
    pub keepalive_interval: std::time::Duration,
    /// Receive and send buffer asked for on every IKE socket
    /// (`ike-socket-bufsize=`, [`crate::ikesock`]).
    pub ike_socket_bufsize: usize,
    /// Connections whose hosts are `%defaultroute` or DNS names, as
    /// written (the connection DB holds them resolved; [`crate::hosts`]).
    pub written_specs: HashMap<String, Arc<conf::ConnSpec>>,
    /// `leftsourceip=` addresses ferroswan added to the host.
    pub sourceips: crate::sourceip::SourceIps,
    /// Marks, VTI devices and NFLOG rules ([`crate::connext`]).
    pub extras: crate::connext::Extras,
    /// Failed attempts per connection since its last established SA
    /// (for the revival back-off).
    pub attempts: HashMap<ConnId, u32>,
    /// IKE SAs this end initiated (for the state names of SAs still
    /// negotiating).
    pub initiated: HashSet<IkeSaId>,
    /// IKE SAs that were established (still listed by the engine while
    /// their Delete is in flight).
    pub was_established: HashSet<IkeSaId>,
    /// Next id for a shunt connection (not in the engine; counted down
    /// from the top so it never meets the engine's ids).
    pub next_shunt_id: u32,
    /// Rekeys answered by this end whose policies still protect with the
    /// old Child SA, by the old Child SA.
    pub deferred: HashMap<ChildSaId, DeferredSwitch>,
    /// TCP encapsulation (RFC 8229): listeners and streams.
    pub tcp: crate::tcp::TcpEncap,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("engine", &self.engine)
            .field("backend", &self.backend)
            .field("sockets", &self.sockets.len())
            .finish_non_exhaustive()
    }
}

impl Default for Wire {
    fn default() -> Self {
        Self::new()
    }
}

impl Wire {
    /// An engine with no connections, no sockets and no data plane.
    pub fn new() -> Self {
        let (udp_tx, udp_rx) = mpsc::channel(1024);
        Wire {
            tcp: crate::tcp::TcpEncap::new(udp_tx.clone()),
            engine: Engine::new(
                ike::EngineConfig::default(),
                Box::new(ike::crypto::SystemRandom),
            ),
            backend: None,
            backend_error: None,
            protostack: backend::Protostack::Xfrm { explicit: false },
            routing_prepared: false,
            listen: None,
            sockets: HashMap::new(),
            nat_t_readers: HashMap::new(),
            ike_readers: HashMap::new(),
            udp_tx,
            udp_rx: Some(udp_rx),
            conn_ids: HashMap::new(),
            conn_names: HashMap::new(),
            ike_sas: HashMap::new(),
            children: HashMap::new(),
            routes: HashMap::new(),
            waiters: Default::default(),
            waiter_by_sa: HashMap::new(),
            touched_waiters: Vec::new(),
            next_waiter: 0,
            park: None,
            next_shunt_id: u32::MAX,
            deferred: HashMap::new(),
            initiated: HashSet::new(),
            was_established: HashSet::new(),
            timers: std::collections::BinaryHeap::new(),
            attempts: HashMap::new(),
            keepalive_scheduled: false,
            keepalive_interval: KEEPALIVE_INTERVAL,
            ike_socket_bufsize: crate::ikesock::DEFAULT_IKE_SOCKET_BUFSIZE,
            written_specs: HashMap::new(),
            sourceips: Default::default(),
            extras: Default::default(),
        }
    }

    /// Opens the data plane on first use (the first negotiation, trap or
    /// IKE message), so a daemon without tunnels touches no TUN device,
    /// route or rule. The port-4500 sockets go to it: the userspace data
    /// plane reads them from now on (the daemon's readers stop), with XFRM
    /// the kernel takes ESP from them and the daemon goes on reading IKE.
    pub fn ensure_backend(&mut self) -> Result<(), String> {
        if self.backend.is_some() {
            return Ok(());
        }
        let mut nat_t = Vec::new();
        for (local, sock) in &self.sockets {
            if local.port() != backend::NAT_T_PORT {
                continue;
            }
            match std_clone(sock) {
                Ok(s) => nat_t.push(s),
                Err(e) => tracing::warn!("UDP {local}: cannot hand it to the data plane: {e}"),
            }
        }
        match Backend::open(self.protostack, nat_t) {
            Ok(b) => {
                for n in &b.notes {
                    tracing::warn!("{n}");
                }
                for (local, sock) in &self.sockets {
                    if local.port() == backend::NAT_T_PORT {
                        continue; // prepared by Backend::open
                    }
                    if let Err(e) = b.prepare_ike_socket(sock.as_ref(), false) {
                        tracing::warn!("IKE socket {local}: {e}");
                    }
                }
                self.tcp.set_injector(b.esp_injector());
                self.backend = Some(b);
                self.backend_error = None;
                Ok(())
            }
            Err(e) => {
                let e = e.to_string();
                tracing::error!("cannot open the data plane: {e}");
                self.backend_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Sets an IKE socket's buffers (`ike_socket_bufsize`); returns
    /// `", receive buffer N bytes, send buffer M bytes"` for the log line,
    /// or nothing when the kernel refused (logged).
    fn set_buffers(&self, sock: &std::net::UdpSocket, local: SocketAddr) -> String {
        match crate::ikesock::set_buffers(sock.as_raw_fd(), self.ike_socket_bufsize) {
            Ok(b) => format!(", {b}"),
            Err(e) => {
                tracing::warn!(
                    "UDP {local}: cannot set socket buffers of {} bytes: {e}",
                    self.ike_socket_bufsize
                );
                String::new()
            }
        }
    }

    /// Opens the IKE sockets, ports 500 and 4500, on `addrs` (those not
    /// open yet) and starts their readers: the daemon reads port 500, and
    /// port 4500 until the userspace data plane opens (then that data
    /// plane reads it; a socket opened later goes straight to it). Needs a
    /// tokio runtime. Returns the errors.
    pub fn open_sockets(&mut self, addrs: &[IpAddr]) -> Vec<String> {
        let mut errors = Vec::new();
        for a in addrs {
            if let IpAddr::V6(v6) = a {
                // Link-local addresses need a scope; IKE does not use them.
                if v6.segments()[0] & 0xffc0 == 0xfe80 {
                    continue;
                }
            }
            for port in [IKE_PORT, backend::NAT_T_PORT] {
                let local = SocketAddr::new(*a, port);
                if !self.sockets.contains_key(&local) {
                    if let Err(e) = self.open_socket(local) {
                        errors.push(e);
                    }
                }
            }
        }
        errors
    }

    /// Opens one IKE socket (see [`Wire::open_sockets`]).
    fn open_socket(&mut self, local: SocketAddr) -> Result<(), String> {
        let nat_t = local.port() == backend::NAT_T_PORT;
        let std_sock = std::net::UdpSocket::bind(local)
            .map_err(|e| format!("cannot bind UDP {local}: {e}"))?;
        let mut warnings = Vec::new();
        if let Err(e) = backend::mark_bypass(std_sock.as_raw_fd()) {
            warnings.push(format!("cannot mark UDP {local} (SO_MARK): {e}"));
        }
        let buffers = self.set_buffers(&std_sock, local);
        if let Some(b) = &self.backend {
            if let Err(e) = b.prepare_ike_socket(&std_sock, nat_t) {
                warnings.push(format!("UDP {local}: {e}"));
            }
        }
        let sock = std_sock
            .set_nonblocking(true)
            .and_then(|()| UdpSocket::from_std(std_sock))
            .map(Arc::new)
            .map_err(|e| format!("cannot use UDP {local}: {e}"))?;
        let reader = self.spawn_reader(local, sock.clone());
        if nat_t {
            self.nat_t_readers.insert(local, reader);
        } else {
            self.ike_readers.insert(local, reader);
        }
        tracing::info!("listening for IKE messages on {local}{buffers}");
        self.sockets.insert(local, sock);
        match warnings.is_empty() {
            true => Ok(()),
            false => Err(warnings.join("; ")),
        }
    }

    /// Closes the IKE sockets of addresses that are no longer `present`
    /// on the host (`--ready`), except a port-4500 socket whose address an
    /// installed Child SA still uses (`in_use`): its ESP-in-UDP (kernel
    /// encapsulation, or the userspace data plane reading it) goes on
    /// until the SA is gone, and a later `--ready` closes it.
    pub fn close_vanished(
        &mut self,
        present: &[IpAddr],
        in_use: &HashSet<IpAddr>,
    ) -> Vec<(SocketAddr, SocketFate)> {
        let mut gone: Vec<SocketAddr> = self
            .sockets
            .keys()
            .filter(|a| !a.ip().is_unspecified() && !present.contains(&a.ip()))
            .copied()
            .collect();
        gone.sort();
        let mut out = Vec::new();
        for local in gone {
            let nat_t = local.port() == backend::NAT_T_PORT;
            if nat_t && in_use.contains(&local.ip()) {
                out.push((local, SocketFate::KeptInUse));
                continue;
            }
            // Handed to the userspace data plane: no reader of ours left.
            let handed = nat_t && !self.nat_t_readers.contains_key(&local);
            for readers in [&mut self.nat_t_readers, &mut self.ike_readers] {
                if let Some(r) = readers.remove(&local) {
                    r.abort();
                }
            }
            self.sockets.remove(&local);
            // The data plane gives its duplicate back and closes it.
            let fate = match (handed, self.backend.as_mut()) {
                (true, Some(b)) => match b.remove_nat_t_socket(local) {
                    Ok(_) => SocketFate::Closed,
                    Err(e) => {
                        tracing::warn!("UDP {local}: the data plane keeps it: {e}");
                        SocketFate::DataPlaneKeeps
                    }
                },
                (true, None) => SocketFate::Closed,
                (false, _) => SocketFate::Closed,
            };
            out.push((local, fate));
        }
        out
    }

    /// Hands the port-4500 socket of `local` to the userspace data plane
    /// (once; before a Child SA with that local address is installed), so
    /// ESP-in-UDP arrives there and leaves from it; the data plane then
    /// passes IKE on that socket on as events and the daemon's reader
    /// stops. With XFRM, or without such a socket, nothing to do.
    pub fn hand_nat_t_socket(&mut self, local: IpAddr) {
        let addr = SocketAddr::new(local, backend::NAT_T_PORT);
        if !self.nat_t_readers.contains_key(&addr) {
            return; // handed already, or no socket on that address
        }
        let Some(b) = self.backend.as_mut() else {
            return;
        };
        if !b.reads_nat_t_sockets() {
            return;
        }
        let Some(sock) = self.sockets.get(&addr) else {
            return;
        };
        let handed = std_clone(sock)
            .map_err(|e| e.to_string())
            .and_then(|s| b.add_nat_t_socket(s).map_err(|e| e.to_string()));
        match handed {
            Ok(()) => {
                if let Some(reader) = self.nat_t_readers.remove(&addr) {
                    reader.abort();
                }
                tracing::debug!("UDP {addr}: ESP-in-UDP goes to the data plane");
            }
            Err(e) => tracing::error!("UDP {addr}: cannot hand it to the data plane: {e}"),
        }
    }

    /// Reads datagrams from an IKE socket into the event loop (port-4500
    /// ones keep their non-ESP marker, which the engine expects there).
    fn spawn_reader(&self, local: SocketAddr, reader: Arc<UdpSocket>) -> tokio::task::AbortHandle {
        let tx = self.udp_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                match reader.recv_from(&mut buf).await {
                    Ok((n, remote)) => {
                        let bytes = buf.get(..n).unwrap_or(&[]).to_vec();
                        let d = Datagram {
                            local,
                            remote,
                            bytes,
                        };
                        if tx.send(d).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::debug!("UDP {local}: {e}");
                    }
                }
            }
        })
        .abort_handle()
    }

    /// Sends one datagram from the engine (port-4500 ones carry the
    /// non-ESP marker already, or are the keepalive octet) from the socket
    /// bound to its source address and port, else from one of the same
    /// port and family.
    pub fn send(&self, local: SocketAddr, remote: SocketAddr, payload: &[u8]) {
        if self.tcp.send_ike(local, remote, payload) {
            return;
        }
        let port = if local.port() == backend::NAT_T_PORT || remote.port() == backend::NAT_T_PORT {
            backend::NAT_T_PORT
        } else {
            IKE_PORT
        };
        let local = SocketAddr::new(local.ip(), port);
        let sock = self.sockets.get(&local).or_else(|| {
            self.sockets
                .iter()
                .find(|(a, _)| a.port() == port && a.is_ipv4() == remote.is_ipv4())
                .map(|(_, s)| s)
        });
        match sock {
            Some(s) => {
                if let Err(e) = s.try_send_to(payload, remote) {
                    tracing::warn!("sending IKE from {local} to {remote}: {e}");
                }
            }
            None => tracing::warn!("cannot send IKE to {remote}: no socket on {local}"),
        }
    }

    /// The source address the host would use toward `remote`.
    pub fn source_for(remote: IpAddr) -> Option<IpAddr> {
        let any: SocketAddr = match remote {
            IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
            IpAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
        };
        let s = std::net::UdpSocket::bind(any).ok()?;
        s.connect(SocketAddr::new(remote, IKE_PORT)).ok()?;
        s.local_addr().ok().map(|a| a.ip())
    }

    /// Schedules a daemon timer.
    pub fn schedule(&mut self, at: Instant, t: Timer) {
        self.timers.push(std::cmp::Reverse((at, t)));
    }

    /// When the next daemon timer fires.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|std::cmp::Reverse((t, _))| *t)
    }

    /// Removes and returns the timers due at `now`.
    pub fn due_timers(&mut self, now: Instant) -> Vec<Timer> {
        let mut out = Vec::new();
        while let Some(std::cmp::Reverse((t, k))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            out.push(k);
        }
        out
    }

    /// Parks an `--up` reply until its IKE SAs have their Child SAs or
    /// failed.
    pub fn park_waiter(&mut self, waiter: Waiter) {
        let key = self.next_waiter;
        self.next_waiter += 1;
        let sas: Vec<IkeSaId> = waiter.sas.iter().copied().collect();
        for sa in &sas {
            self.waiter_by_sa.insert(*sa, key);
        }
        self.waiters.insert(key, (waiter, sas));
    }

    /// Takes every waiting reply, oldest first (shutdown).
    pub fn take_waiters(&mut self) -> Vec<Waiter> {
        self.waiter_by_sa.clear();
        self.touched_waiters.clear();
        std::mem::take(&mut self.waiters)
            .into_values()
            .map(|(w, _)| w)
            .collect()
    }

    /// The waiter that holds IKE SA `sa`.
    pub fn waiter_of(&mut self, sa: IkeSaId) -> Option<&mut Waiter> {
        let key = *self.waiter_by_sa.get(&sa)?;
        let (w, _) = self
            .waiters
            .get_mut(&key)
            .filter(|(w, _)| w.sas.contains(&sa))?;
        self.touched_waiters.push(key);
        Some(w)
    }

    /// Takes IKE SA `sa` out of its waiter (which keeps waiting) and
    /// returns the waiter's key, for [`Wire::attach_waiter`].
    pub fn detach_waiter(&mut self, sa: IkeSaId) -> Option<u64> {
        let key = self.waiter_by_sa.remove(&sa)?;
        if let Some((w, _)) = self.waiters.get_mut(&key) {
            w.sas.remove(&sa);
        }
        // Not finished for being empty until it is attached again.
        self.touched_waiters.retain(|k| *k != key);
        Some(key)
    }

    /// Fails waiter `key` with `line` and finishes it (a waiter whose SAs
    /// were detached and will not be attached again).
    pub fn fail_waiter(&mut self, key: u64, line: String) {
        if let Some((w, _)) = self.waiters.get_mut(&key) {
            w.reply.fail(control::Rc::FATAL, line);
            w.sas.clear();
            self.touched_waiters.push(key);
        }
    }

    /// Makes waiter `key` wait for IKE SA `sa` too.
    pub fn attach_waiter(&mut self, key: u64, sa: IkeSaId) {
        if let Some((w, sas)) = self.waiters.get_mut(&key) {
            w.sas.insert(sa);
            sas.push(sa);
            self.waiter_by_sa.insert(sa, key);
        }
    }

    /// Finishes the waiters with nothing left to wait for.
    pub fn finish_done_waiters(&mut self) {
        for key in std::mem::take(&mut self.touched_waiters) {
            if !self
                .waiters
                .get(&key)
                .is_some_and(|(w, _)| w.sas.is_empty())
            {
                continue;
            }
            if let Some((w, sas)) = self.waiters.remove(&key) {
                for sa in sas {
                    if self.waiter_by_sa.get(&sa) == Some(&key) {
                        self.waiter_by_sa.remove(&sa);
                    }
                }
                w.reply.finish();
            }
        }
    }

    /// Removes a connection's policies (and its trap), leaving it unrouted.
    pub fn remove_policies(&mut self, conn: ConnId) {
        let Some(route) = self.routes.remove(&conn) else {
            return;
        };
        if let Some(b) = &mut self.backend {
            for p in route.policies {
                if let Err(e) = b.remove_policy(p.id) {
                    tracing::warn!("removing policy {:?}: {e}", p.id);
                }
            }
        }
    }

    /// The policy ids of a connection.
    pub fn policy_ids(&self, conn: ConnId) -> Vec<PolicyId> {
        self.routes
            .get(&conn)
            .map(|r| r.policies.iter().map(|p| p.id).collect())
            .unwrap_or_default()
    }
}

/// A blocking handle on the same socket (another descriptor), for the data
/// plane.
fn std_clone(sock: &UdpSocket) -> std::io::Result<std::net::UdpSocket> {
    use std::os::fd::AsFd;
    sock.as_fd()
        .try_clone_to_owned()
        .map(std::net::UdpSocket::from)
}
