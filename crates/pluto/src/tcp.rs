//! TCP encapsulation of IKE and ESP (RFC 8229) in the daemon.
//!
//! The daemon owns every TCP stream. One tokio task per stream reads and
//! writes it: IKE frames go to the event loop like UDP datagrams on port
//! 4500 (the engine sees the non-ESP marker it expects there), ESP frames
//! go to the userspace data plane through its [`EspInjector`], and frames
//! queued by the engine ([`TcpEncap::send_ike`]) or by the data plane
//! (through a [`LinkSink`]) are written out in order.
//!
//! - Responder (`config setup listen-tcp=yes`): a listener on TCP 4500 on
//!   each address the daemon listens on for UDP. A stream must start with
//!   `IKETCP` within [`FIRST_FRAME_TIMEOUT`]; a wrong prefix, a frame longer
//!   than [`FRAME_LIMIT`], a length of 0 or 1, a stream that ends inside a
//!   frame, or [`IDLE_TIMEOUT`] without a frame closes that stream only
//!   (frames too short for IKE or ESP are dropped). At most
//!   [`MAX_STREAMS`] streams are open; more connections are refused.
//! - Initiator (`enable-tcp=yes`, or `fallback` once UDP got no answer):
//!   the engine's connection uses port 4500 on both ends (IKE carries the
//!   non-ESP marker from IKE_SA_INIT on) and the first message to the peer
//!   opens the stream to `tcp-remoteport`. When a stream breaks, the next
//!   message the engine sends (a retransmission, a liveness check, a
//!   rekey) opens a new one (RFC 8229 section 6).
//!
//! Streams are keyed by the peer's address as the engine sees it: the
//! peer's `IP:tcp-remoteport` for streams this end opened, the peer's
//! `IP:port` of the connection for accepted ones.

use crate::wire::Datagram;
use dataplane::{EspInjector, EspSink};
use esp::tcp_encap::{self, Frame, FrameDecoder};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// The port TCP encapsulation listens on and connects to by default.
pub const TCP_PORT: u16 = 4500;
/// Largest frame accepted (length field included).
pub const FRAME_LIMIT: usize = tcp_encap::DEFAULT_FRAME_LIMIT;
/// Most TCP streams open at once (accepted and opened).
pub const MAX_STREAMS: usize = 256;
/// An accepted stream must send its prefix and first frame this soon.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream without a frame for this long is closed (the initiator opens
/// a new one when it next has something to send).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// How long opening a stream to the peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames queued for one stream's writer; more are dropped.
pub const WRITE_QUEUE: usize = 1024;
/// `enable-tcp=fallback`: how long IKE_SA_INIT over UDP may go unanswered
/// before the negotiation starts again over TCP (at most the
/// connection's `retransmit-timeout`). Libreswan waits out the whole
/// retransmit-timeout and uses TCP on the next attempt; ferroswan
/// switches within the same `--up`, after the first three UDP
/// transmissions (0, 0.5 and 1.5 s at the default retransmit-interval).
pub const FALLBACK_WAIT: Duration = Duration::from_secs(3);

/// What the streams report to the event loop.
#[derive(Debug)]
pub enum TcpEvent {
    /// A stream to the peer could not be opened.
    ConnectFailed {
        /// The peer (`IP:tcp-remoteport`).
        remote: SocketAddr,
        /// Why.
        error: String,
    },
}

/// One open (or opening) stream.
struct Link {
    id: u64,
    /// Frames to write (length field included).
    frames: mpsc::Sender<Vec<u8>>,
    /// The stream's task.
    task: tokio::task::AbortHandle,
    /// This end opened it.
    opened: bool,
}

/// State the stream tasks and the data plane's sinks share.
#[derive(Default)]
struct Shared {
    links: Mutex<HashMap<SocketAddr, Link>>,
    /// Peers (`IP:tcp-remoteport`) this end reaches over TCP.
    peers: Mutex<HashSet<SocketAddr>>,
    injector: Mutex<Option<EspInjector>>,
    streams: AtomicUsize,
    next_id: AtomicU64,
}

impl Shared {
    fn links(&self) -> MutexGuard<'_, HashMap<SocketAddr, Link>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message on the stream of `remote`; `false` when there is
    /// no such stream or its queue is full.
    fn queue(&self, remote: SocketAddr, message: &[u8]) -> bool {
        let Some(frame) = tcp_encap::encode(message) else {
            return false;
        };
        let links = self.links();
        match links.get(&remote) {
            Some(l) => l.frames.try_send(frame).is_ok(),
            None => false,
        }
    }

    /// Queues an ESP packet for `remote`: on its stream, else on the
    /// newest stream with the peer's address (an initiator that opened a
    /// new stream from another port, before its next IKE message moved
    /// the IKE SA there).
    fn queue_esp(&self, remote: SocketAddr, packet: &[u8]) -> bool {
        let Some(frame) = tcp_encap::encode(packet) else {
            return false;
        };
        let links = self.links();
        let link = links.get(&remote).or_else(|| {
            links
                .iter()
                .filter(|(k, _)| k.ip() == remote.ip())
                .max_by_key(|(_, l)| l.id)
                .map(|(_, l)| l)
        });
        link.is_some_and(|l| l.frames.try_send(frame).is_ok())
    }

    /// Forgets stream `id` of `remote` (not a newer one under that key).
    fn remove(&self, remote: SocketAddr, id: u64) {
        let mut links = self.links();
        if links.get(&remote).is_some_and(|l| l.id == id) {
            if let Some(l) = links.remove(&remote) {
                l.task.abort();
            }
        }
    }

    fn inject(&self, packet: Vec<u8>) {
        let injector = self
            .injector
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match injector {
            Some(i) => {
                if !i.inject(packet) {
                    tracing::debug!("TCP: ESP frame dropped (data plane busy or gone)");
                }
            }
            None => tracing::debug!("TCP: ESP frame before the data plane opened; dropped"),
        }
    }
}

/// One of the [`MAX_STREAMS`] stream slots, given back when the stream's
/// task ends or is aborted.
struct StreamSlot(Arc<Shared>);

impl StreamSlot {
    fn take(shared: Arc<Shared>) -> Self {
        shared.streams.fetch_add(1, Ordering::Relaxed);
        StreamSlot(shared)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The data plane's way to a peer's stream: looks the stream up per packet,
/// so it follows a stream the initiator opens again.
pub struct LinkSink {
    shared: Arc<Shared>,
    remote: SocketAddr,
}

impl EspSink for LinkSink {
    fn send_esp(&self, packet: &[u8]) -> bool {
        self.shared.queue_esp(self.remote, packet)
    }
}

/// The daemon's TCP encapsulation: listeners, streams, the peers reached
/// over TCP.
pub struct TcpEncap {
    shared: Arc<Shared>,
    /// `config setup listen-tcp=yes`.
    pub listen: bool,
    listeners: HashMap<SocketAddr, tokio::task::AbortHandle>,
    /// `enable-tcp=fallback` connections that moved to TCP.
    pub fallen_back: HashSet<String>,
    ike_tx: mpsc::Sender<Datagram>,
    events_tx: mpsc::Sender<TcpEvent>,
    /// The event loop's end of the stream events (taken by `run`).
    pub events_rx: Option<mpsc::Receiver<TcpEvent>>,
}

impl std::fmt::Debug for TcpEncap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpEncap")
            .field("listen", &self.listen)
            .field("listeners", &self.listeners.len())
            .field("streams", &self.shared.streams.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Which transport a connection's `enable-tcp=` asks for now.
pub fn wants_tcp(spec: &conf::ConnSpec, fallen_back: &HashSet<String>) -> bool {
    match spec.enable_tcp.as_str() {
        "yes" => true,
        "fallback" => fallen_back.contains(&spec.name),
        _ => false,
    }
}

impl TcpEncap {
    /// No listeners and no streams; IKE frames go to `ike_tx`.
    pub fn new(ike_tx: mpsc::Sender<Datagram>) -> Self {
        let (events_tx, events_rx) = mpsc::channel(64);
        TcpEncap {
            shared: Arc::new(Shared::default()),
            listen: false,
            listeners: HashMap::new(),
            fallen_back: HashSet::new(),
            ike_tx,
            events_tx,
            events_rx: Some(events_rx),
        }
    }

    /// Gives the streams the data plane's ESP input (once it opened).
    pub fn set_injector(&self, injector: Option<EspInjector>) {
        *self
            .shared
            .injector
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = injector;
    }

    /// Reaches `remote` (`IP:tcp-remoteport`) over TCP from now on.
    pub fn add_peer(&self, remote: SocketAddr) {
        self.peers().insert(remote);
    }

    /// Stops reaching `remote` over TCP (an open stream stays until it
    /// closes).
    pub fn remove_peer(&self, remote: SocketAddr) {
        self.peers().remove(&remote);
    }

    /// Closes the stream this end opened to `remote`, once the frames
    /// queued on it are written (accepted streams are left to the peer).
    pub fn close_opened(&self, remote: SocketAddr) {
        let mut links = self.shared.links();
        if links.get(&remote).is_some_and(|l| l.opened) {
            // Dropping the queue's sender ends the stream's task after it
            // wrote what is queued.
            links.remove(&remote);
            tracing::info!("TCP {remote}: no IKE SA left; closing the stream");
        }
    }

    fn peers(&self) -> MutexGuard<'_, HashSet<SocketAddr>> {
        self.shared.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this end opens streams to `remote`.
    pub fn is_peer(&self, remote: SocketAddr) -> bool {
        self.peers().contains(&remote)
    }

    /// Whether `remote` is reached over TCP (configured, or a stream is open).
    pub fn carries(&self, remote: SocketAddr) -> bool {
        self.is_peer(remote) || self.shared.links().contains_key(&remote)
    }

    /// Whether a stream with `remote` is open (or opening).
    pub fn has_stream(&self, remote: SocketAddr) -> bool {
        self.shared.links().contains_key(&remote)
    }

    /// Open streams.
    pub fn streams(&self) -> usize {
        self.shared.streams.load(Ordering::Relaxed)
    }

    /// A sink for the data plane's outbound ESP to `remote`, when IKE
    /// with `remote` runs over TCP.
    pub fn sink_for(&self, remote: SocketAddr) -> Option<Arc<dyn EspSink>> {
        if !self.carries(remote) {
            return None;
        }
        Some(Arc::new(LinkSink {
            shared: self.shared.clone(),
            remote,
        }))
    }

    /// Sends an engine message (non-ESP marker in front) over TCP when
    /// `remote` is reached that way, opening the stream if needed; `false`
    /// when `remote` is not a TCP peer (send it over UDP).
    pub fn send_ike(&self, local: SocketAddr, remote: SocketAddr, message: &[u8]) -> bool {
        if !self.carries(remote) {
            return false;
        }
        if message == [esp::udp_encap::NAT_KEEPALIVE] {
            return true; // no NAT keepalives over TCP (RFC 8229 section 4)
        }
        if self.shared.queue(remote, message) {
            return true;
        }
        if self.shared.links().contains_key(&remote) {
            tracing::warn!("TCP {remote}: write queue full; IKE message dropped");
            return true;
        }
        if !self.is_peer(remote) {
            return true; // an accepted stream that closed: the peer reconnects
        }
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("TCP {remote}: no event loop to open a stream");
            return true;
        }
        self.connect(local, remote);
        if !self.shared.queue(remote, message) {
            tracing::warn!("TCP {remote}: cannot queue the IKE message");
        }
        true
    }

    /// Opens a stream to `remote` from `local`'s address (in the
    /// background; messages queue meanwhile).
    fn connect(&self, local: SocketAddr, remote: SocketAddr) {
        if self.shared.streams.load(Ordering::Relaxed) >= MAX_STREAMS {
            tracing::warn!("TCP {remote}: {MAX_STREAMS} streams open already; not connecting");
            return;
        }
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared.clone();
        let ike_tx = self.ike_tx.clone();
        let events = self.events_tx.clone();
        let slot = StreamSlot::take(shared.clone());
        let mut links = self.shared.links();
        let task = tokio::spawn(async move {
            let _slot = slot;
            match open_stream(local, remote).await {
                Ok(stream) => {
                    let from = stream
                        .local_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    tracing::info!("TCP {remote}: connected from {from}; IKE and ESP go over TCP");
                    let dec = FrameDecoder::initiator(FRAME_LIMIT);
                    drive(&shared, stream, remote, local, dec, rx, &ike_tx, true).await;
                }
                Err(error) => {
                    tracing::warn!("TCP {remote}: {error}");
                    let _ = events.send(TcpEvent::ConnectFailed { remote, error }).await;
                }
            }
            shared.remove(remote, id);
        })
        .abort_handle();
        links.insert(
            remote,
            Link {
                id,
                frames: tx,
                task,
                opened: true,
            },
        );
    }

    /// Listens on TCP 4500 on `addrs` (those not listening yet), when
    /// `listen-tcp=yes`. Needs a tokio runtime. Returns the errors.
    pub fn open_listeners(&mut self, addrs: &[std::net::IpAddr]) -> Vec<String> {
        let mut errors = Vec::new();
        if !self.listen {
            return errors;
        }
        for a in addrs {
            if let std::net::IpAddr::V6(v6) = a {
                if v6.segments()[0] & 0xffc0 == 0xfe80 {
                    continue;
                }
            }
            let local = SocketAddr::new(*a, TCP_PORT);
            if self.listeners.contains_key(&local) {
                continue;
            }
            if let Err(e) = self.listen_on(local) {
                errors.push(e);
            }
        }
        errors
    }

    /// Listens on `local` (port 0: one the kernel picks); returns the
    /// address bound.
    fn listen_on(&mut self, local: SocketAddr) -> Result<SocketAddr, String> {
        let l = bind_listener(local)?;
        let local = l.local_addr().map_err(|e| format!("TCP {local}: {e}"))?;
        tracing::info!("listening for IKE over TCP on {local}");
        let task = tokio::spawn(accept_loop(
            l,
            local,
            self.shared.clone(),
            self.ike_tx.clone(),
        ))
        .abort_handle();
        self.listeners.insert(local, task);
        Ok(local)
    }
}

impl Drop for TcpEncap {
    fn drop(&mut self) {
        for (_, l) in self.listeners.drain() {
            l.abort();
        }
        for (_, l) in self.shared.links().drain() {
            l.task.abort();
        }
    }
}

/// A TCP socket of the daemon: marked so the data plane's routes let it
/// out in the clear.
fn socket_for(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let s = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Err(e) = crate::backend::mark_bypass(s.as_raw_fd()) {
        tracing::debug!("TCP {addr}: cannot set SO_MARK: {e}");
    }
    Ok(s)
}

fn bind_listener(local: SocketAddr) -> Result<TcpListener, String> {
    let s = socket_for(local).map_err(|e| format!("cannot open TCP {local}: {e}"))?;
    s.set_reuseaddr(true)
        .and_then(|()| s.bind(local))
        .and_then(|()| s.listen(64))
        .map_err(|e| format!("cannot listen on TCP {local}: {e}"))
}

async fn open_stream(local: SocketAddr, remote: SocketAddr) -> Result<TcpStream, String> {
    let s = socket_for(remote).map_err(|e| format!("cannot open a TCP socket: {e}"))?;
    if !local.ip().is_unspecified() && local.is_ipv4() == remote.is_ipv4() {
        s.bind(SocketAddr::new(local.ip(), 0))
            .map_err(|e| format!("cannot bind TCP to {}: {e}", local.ip()))?;
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, s.connect(remote)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(format!(
            "cannot open TCP to {remote}: {e} (does the peer have listen-tcp=yes?)"
        )),
        Err(_) => Err(format!(
            "cannot open TCP to {remote}: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

async fn accept_loop(
    listener: TcpListener,
    local: SocketAddr,
    shared: Arc<Shared>,
    ike_tx: mpsc::Sender<Datagram>,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("TCP {local}: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let remote = unmap(remote);
        if shared.streams.load(Ordering::Relaxed) >= MAX_STREAMS {
            tracing::warn!("TCP {local}: {MAX_STREAMS} streams open; refusing {remote}");
            continue;
        }
        if let Err(e) = crate::backend::mark_bypass(stream.as_raw_fd()) {
            tracing::debug!("TCP {remote}: cannot set SO_MARK: {e}");
        }
        let _ = stream.set_nodelay(true);
        tracing::info!("TCP {local}: stream from {remote}");
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = StreamSlot::take(shared.clone());
        let sh = shared.clone();
        let itx = ike_tx.clone();
        let mut links = shared.links();
        let task = tokio::spawn(async move {
            let _slot = slot;
            let dec = FrameDecoder::responder(FRAME_LIMIT);
            drive(&sh, stream, remote, local, dec, rx, &itx, false).await;
            sh.remove(remote, id);
        })
        .abort_handle();
        let old = links.insert(
            remote,
            Link {
                id,
                frames: tx,
                task,
                opened: false,
            },
        );
        drop(links);
        if let Some(old) = old {
            old.task.abort();
        }
    }
}

/// IPv4 peers on a dual-stack socket appear as `::ffff:a.b.c.d`.
fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// What one frame asks for, copied out of the decoder.
enum Item {
    Ike(Vec<u8>),
    Esp(Vec<u8>),
}

/// Runs one stream until it closes: writes queued frames (after the
/// `IKETCP` prefix when this end opened it) and reads frames.
#[allow(clippy::too_many_arguments)]
async fn drive(
    shared: &Shared,
    stream: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    mut dec: FrameDecoder,
    mut frames: mpsc::Receiver<Vec<u8>>,
    ike_tx: &mpsc::Sender<Datagram>,
    send_prefix: bool,
) {
    let (mut rd, mut wr) = stream.into_split();
    if send_prefix {
        if let Err(e) = wr.write_all(tcp_encap::STREAM_PREFIX).await {
            tracing::warn!("TCP {remote}: {e}");
            return;
        }
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut seen_frame = send_prefix;
    loop {
        let wait = if seen_frame {
            IDLE_TIMEOUT
        } else {
            FIRST_FRAME_TIMEOUT
        };
        tokio::select! {
            f = frames.recv() => {
                let Some(f) = f else { return };
                if let Err(e) = wr.write_all(&f).await {
                    tracing::warn!("TCP {remote}: {e}; closing the stream");
                    return;
                }
            }
            r = tokio::time::timeout(wait, rd.read(&mut buf)) => {
                let n = match r {
                    Err(_) => {
                        tracing::info!("TCP {remote}: no frame for {}s; closing the stream", wait.as_secs());
                        return;
                    }
                    Ok(Ok(0)) => {
                        if dec.pending() > 0 || !dec.prefix_done() {
                            tracing::warn!("TCP {remote}: stream ended inside a frame; closed");
                        } else {
                            tracing::info!("TCP {remote}: the peer closed the stream");
                        }
                        return;
                    }
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => {
                        tracing::info!("TCP {remote}: {e}; stream closed");
                        return;
                    }
                };
                if let Err(e) = dec.push(buf.get(..n).unwrap_or(&[])) {
                    tracing::warn!("TCP {remote}: {e}; closing the stream");
                    return;
                }
                loop {
                    let item = match dec.next_frame() {
                        Ok(Some(Frame::Ike(m))) => Item::Ike(m.to_vec()),
                        Ok(Some(Frame::Esp(m))) => Item::Esp(m.to_vec()),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("TCP {remote}: {e}; closing the stream");
                            return;
                        }
                    };
                    seen_frame = true;
                    match item {
                        Item::Ike(bytes) => {
                            let d = Datagram { local, remote, bytes };
                            if ike_tx.send(d).await.is_err() {
                                return;
                            }
                        }
                        Item::Esp(p) => shared.inject(p),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike_message(tag: u8) -> Vec<u8> {
        let mut m = vec![0, 0, 0, 0];
        m.extend(std::iter::repeat_n(tag, 40));
        m
    }

    async fn read_frame(s: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len)) - 2];
        s.read_exact(&mut body).await.unwrap();
        body
    }

    async fn closed(s: &mut TcpStream) -> bool {
        let mut b = [0u8; 16];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    async fn wait_streams(t: &TcpEncap, n: usize) {
        for _ in 0..100 {
            if t.streams() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} streams, expected {n}", t.streams());
    }

    #[tokio::test]
    async fn responder_passes_ike_up_and_answers_on_the_stream() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut t = TcpEncap::new(tx);
        let addr = t.listen_on("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut bytes = tcp_encap::STREAM_PREFIX.to_vec();
        bytes.extend(tcp_encap::encode(&ike_message(1)).unwrap());
        c.write_all(&bytes).await.unwrap();
        let d = rx.recv().await.unwrap();
        assert_eq!(d.bytes, ike_message(1));
        assert_eq!(d.local, addr);
        assert_eq!(d.remote, c.local_addr().unwrap());
        assert!(t.carries(d.remote) && t.has_stream(d.remote));
        // The answer goes back on the same stream.
        assert!(t.send_ike(d.local, d.remote, &ike_message(2)));
        assert_eq!(read_frame(&mut c).await, ike_message(2));
        assert_eq!(t.streams(), 1);
        // Garbage closes this stream; another one still works.
        let mut good = TcpStream::connect(addr).await.unwrap();
        good.write_all(tcp_encap::STREAM_PREFIX).await.unwrap();
        c.write_all(&[0xff, 0xff]).await.unwrap();
        assert!(closed(&mut c).await);
        good.write_all(&tcp_encap::encode(&ike_message(3)).unwrap())
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap().bytes, ike_message(3));
        drop(good);
        wait_streams(&t, 0).await;
        // No stream, not a peer: UDP's turn.
        assert!(!t.send_ike(addr, "127.0.0.1:9".parse().unwrap(), &ike_message(4)));
    }

    #[tokio::test]
    async fn wrong_prefix_closes_the_stream() {
        let (tx, _rx) = mpsc::channel(8);
        let mut t = TcpEncap::new(tx);
        let addr = t.listen_on("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"SSH-2.0-x\r\n").await.unwrap();
        assert!(closed(&mut c).await);
        wait_streams(&t, 0).await;
    }

    #[tokio::test]
    async fn initiator_opens_the_stream_with_the_prefix_and_reports_refusals() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut t = TcpEncap::new(tx);
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let remote = server.local_addr().unwrap();
        t.add_peer(remote);
        let local: SocketAddr = "127.0.0.1:4500".parse().unwrap();
        assert!(t.send_ike(local, remote, &ike_message(5)));
        // NAT keepalives never go over TCP.
        assert!(t.send_ike(local, remote, &[0xff]));
        let (mut s, _) = server.accept().await.unwrap();
        let mut prefix = [0u8; 6];
        s.read_exact(&mut prefix).await.unwrap();
        assert_eq!(&prefix, tcp_encap::STREAM_PREFIX);
        assert_eq!(read_frame(&mut s).await, ike_message(5));
        // The answer comes up as a datagram from the peer's key; ESP from
        // the data plane goes on the same stream.
        s.write_all(&tcp_encap::encode(&ike_message(6)).unwrap())
            .await
            .unwrap();
        let d = rx.recv().await.unwrap();
        assert_eq!(
            (d.local, d.remote, d.bytes),
            (local, remote, ike_message(6))
        );
        let sink = t.sink_for(remote).unwrap();
        let esp = [0, 0, 1, 0, 0, 0, 0, 1, 7, 7, 7];
        assert!(sink.send_esp(&esp));
        assert_eq!(read_frame(&mut s).await, esp);
        // A closed port: the event loop hears why.
        let mut events = t.events_rx.take().unwrap();
        drop(server);
        let refused: SocketAddr = "127.0.0.1:1".parse().unwrap();
        t.add_peer(refused);
        assert!(t.send_ike(local, refused, &ike_message(7)));
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(TcpEvent::ConnectFailed { remote, error })) => {
                assert_eq!(remote, refused);
                assert!(error.contains("listen-tcp=yes"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
