//! The userspace data plane's worker thread. It owns the TUN queue, the
//! sockets' receive side, the SA database and the policy table: no lock and
//! no allocation per packet. The control side talks to it through a command
//! channel and an eventfd that wakes its `poll`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::udp_encap::{classify, EncapPayload};
use esp::{
    tunnel_next_header, EspError, InboundSa, OutboundSa, PacketBuf, SaDb, SaEvent, SaId, SaRef,
    NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE,
};

use crate::gro::Coalescer;
use crate::kernel::{
    KernelEvent, Policy, PolicyAction, PolicyId, SaPairCounters, MAX_HELD_PACKETS,
};
use crate::net::packet_info;
use crate::offload::{complete_checksum, TcpSegmenter, VnetHdr, VNET_HDR_LEN};
use crate::policy::PolicyTable;
use crate::selector::{inbound_allowed, Selector};
use crate::stats::DataplaneStats;
use crate::sys::{poll_readable, EventFd, MmsgBatch, RawEspSocket, RawIpSocket, Tun};
use crate::tcp_encap::EspSink;
use crate::transport::{rebuild_ip_header, strip_ip_header};

/// Headroom reserved in front of packets read from TUN (ESP header and IV).
const HEADROOM: usize = 64;
/// Headroom of receive buffers: after ESP is removed, a transport mode IP
/// header (40) and the virtio-net header (10) go in front of the payload.
const RX_HEADROOM: usize = 64;
/// Size of each packet buffer (jumbo frames plus ESP overhead).
const BUF_SIZE: usize = 9216 + 256;
/// Size of a buffer that takes a TSO super-packet from TUN.
const GSO_BUF_SIZE: usize = 65_536 + VNET_HDR_LEN + HEADROOM + 256;
/// Most ESP packets in one UDP GSO message.
const MAX_GSO_SEGMENTS: usize = 64;
/// Most bytes in one UDP GSO message.
const MAX_GSO_BYTES: usize = 60_000;
/// How often a trap policy may report an acquire.
const ACQUIRE_INTERVAL: Duration = Duration::from_secs(1);

/// Outbound SA data: where ESP goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutMeta {
    pub(crate) dest: SocketAddr,
    pub(crate) udp: bool,
    /// The ESP-in-UDP socket it leaves from (index in the order the
    /// sockets were given: the one bound to the SA's local address).
    pub(crate) sock: usize,
    /// Transport mode: the IP header is removed before ESP.
    pub(crate) transport: bool,
    /// ESP goes to the pair's TCP sink (RFC 8229), not to `dest`.
    pub(crate) tcp: bool,
}

/// Inbound SA data: the pair id and the selectors inner packets must match.
#[derive(Debug, Clone)]
pub(crate) struct InMeta {
    pub(crate) id: SaId,
    pub(crate) local_ts: Box<[Selector]>,
    pub(crate) remote_ts: Box<[Selector]>,
    /// Transport mode: the IP header is rebuilt from the SA's endpoints.
    pub(crate) transport: bool,
    pub(crate) local: IpAddr,
    pub(crate) remote: IpAddr,
}

/// An SA pair keyed on the control side, ready for the worker.
pub(crate) struct InstallPair {
    pub(crate) id: SaId,
    pub(crate) outbound: OutboundSa,
    pub(crate) out_meta: OutMeta,
    pub(crate) inbound: InboundSa,
    pub(crate) in_meta: InMeta,
    /// The inbound SPI this pair replaces, if its SPI changed.
    pub(crate) old_inbound_spi: Option<u32>,
}

/// Requests from the control side.
pub(crate) enum Command {
    InstallPair(Box<InstallPair>),
    UpdateEndpoints {
        id: SaId,
        inbound_spi: u32,
        dest: SocketAddr,
        udp: bool,
        remote: IpAddr,
    },
    /// Another ESP-in-UDP socket (a new local address).
    AddUdp {
        /// Its slot: a removed socket's, or one past the last.
        index: usize,
        sock: UdpSocket,
    },
    /// Closes the ESP-in-UDP socket in this slot (its address left the
    /// host and no SA uses it).
    RemoveUdp(usize),
    RemovePair {
        id: SaId,
        inbound_spi: u32,
    },
    InstallPolicy(Policy),
    RemovePolicy(PolicyId),
    Counters {
        id: SaId,
        inbound_spi: u32,
        reply: SyncSender<Option<SaPairCounters>>,
    },
    /// Counters of several pairs (id and inbound SPI; `None` answers
    /// `None`), in one round trip.
    CountersMany {
        pairs: Vec<Option<(SaId, u32)>>,
        reply: SyncSender<Vec<Option<SaPairCounters>>>,
    },
    Stats(SyncSender<DataplaneStats>),
    /// Send the pair's outbound ESP to this TCP stream (RFC 8229).
    SetTcpSink {
        id: SaId,
        sink: Arc<dyn EspSink>,
    },
    /// ESP read from a TCP stream, to decrypt.
    InboundEsp(Vec<u8>),
}

/// Everything the worker thread owns.
pub(crate) struct Worker {
    pub(crate) tun: Tun,
    /// ESP-in-UDP sockets, one per local address (moved into the state).
    pub(crate) udp: Vec<UdpSocket>,
    pub(crate) raw: Option<RawEspSocket>,
    /// Sends packets from TUN that no policy protects in the clear, past
    /// the data plane's routes (bypass mark): IPv4 and IPv6.
    pub(crate) clear: (Option<RawIpSocket>, Option<RawIpSocket>),
    pub(crate) wake: Arc<EventFd>,
    /// Set by the control side when it notified `wake`; cleared here after
    /// draining `wake` and before reading the commands, so a burst of
    /// commands costs one wake-up.
    pub(crate) wake_pending: Arc<AtomicBool>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) commands: Receiver<Command>,
    pub(crate) events: Sender<KernelEvent>,
    pub(crate) events_fd: Arc<EventFd>,
    pub(crate) batch: usize,
    /// Injected ESP packets not taken yet ([`crate::tcp_encap::EspInjector`]).
    pub(crate) injected: Arc<AtomicUsize>,
}

/// An ESP-in-UDP socket and the address it is bound to.
struct UdpSock {
    /// `None` once removed (the slot keeps the other sockets' indices).
    sock: Option<UdpSocket>,
    local: Option<SocketAddr>,
}

impl UdpSock {
    fn new(sock: UdpSocket) -> Self {
        let local = sock.local_addr().ok();
        UdpSock {
            sock: Some(sock),
            local,
        }
    }

    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.sock.as_ref().map(|s| s.as_raw_fd())
    }
}

struct State {
    udp: Vec<UdpSock>,
    /// Counts changes to `udp`, so the poll set is rebuilt after each.
    udp_generation: u64,
    sadb: SaDb<OutMeta, InMeta>,
    policies: PolicyTable,
    last_acquire: HashMap<PolicyId, Instant>,
    stats: DataplaneStats,
    out_bufs: Vec<PacketBuf>,
    gso_buf: PacketBuf,
    /// Socket index and destination of each queued packet.
    out_dest: Vec<(usize, SocketAddr)>,
    in_bufs: Vec<PacketBuf>,
    seg_buf: PacketBuf,
    mmsg_out: MmsgBatch,
    mmsg_in: MmsgBatch,
    expiry_scratch: Vec<SaEvent>,
    gro: Coalescer,
    group_len: Vec<usize>,
    udp_gso: bool,
    held: HashMap<PolicyId, Vec<Vec<u8>>>,
    /// TCP streams of the pairs carried over TCP.
    tcp_sinks: HashMap<SaId, Arc<dyn EspSink>>,
}

/// Writes one packet to TUN, counting it.
fn write_tun(tun: &Tun, packet: &[u8], stats: &mut DataplaneStats) {
    match tun.write(packet) {
        Ok(true) => stats.tun_tx += 1,
        Ok(false) | Err(_) => stats.tun_full += 1,
    }
}

impl Worker {
    /// Runs until stopped or the control side goes away.
    pub(crate) fn run(mut self) {
        let batch = self.batch.max(1);
        let out_size = if self.tun.vnet_hdr() {
            GSO_BUF_SIZE
        } else {
            BUF_SIZE
        };
        let mut st = State {
            udp: std::mem::take(&mut self.udp)
                .into_iter()
                .map(UdpSock::new)
                .collect(),
            udp_generation: 0,
            sadb: SaDb::new(),
            policies: PolicyTable::new(),
            last_acquire: HashMap::new(),
            stats: DataplaneStats::default(),
            out_bufs: (0..batch)
                .map(|_| PacketBuf::new(out_size, HEADROOM))
                .collect(),
            gso_buf: PacketBuf::new(out_size, HEADROOM),
            out_dest: vec![(0, SocketAddr::from(([0, 0, 0, 0], 0))); batch],
            in_bufs: (0..batch)
                .map(|_| PacketBuf::new(out_size + RX_HEADROOM, RX_HEADROOM))
                .collect(),
            seg_buf: PacketBuf::new(BUF_SIZE, RX_HEADROOM),
            mmsg_out: MmsgBatch::new(batch),
            mmsg_in: MmsgBatch::new(batch),
            expiry_scratch: Vec::with_capacity(16),
            gro: Coalescer::new(),
            group_len: vec![0; batch],
            udp_gso: self.tun.vnet_hdr(),
            held: HashMap::new(),
            tcp_sinks: HashMap::new(),
        };
        if let Err(reason) = self.main_loop(&mut st) {
            let _ = self.events.send(KernelEvent::Failed { reason });
            self.events_fd.notify();
        }
    }

    fn main_loop(&self, st: &mut State) -> Result<(), String> {
        let mut fds = Vec::new();
        let mut ready = Vec::new();
        let mut raw_idx = None;
        let mut udp_base = 0;
        // How many UDP sockets `fds` holds, and of which generation.
        let mut polled_udp = 0;
        let mut polled_generation = None;
        loop {
            if polled_generation != Some(st.udp_generation) {
                fds.clear();
                fds.push(self.wake.fd());
                fds.push(self.tun.fd());
                raw_idx = self.raw.as_ref().map(|r| {
                    fds.push(r.fd());
                    fds.len() - 1
                });
                udp_base = fds.len();
                // A removed socket polls as -1, which poll(2) skips.
                fds.extend(st.udp.iter().map(|u| u.fd().unwrap_or(-1)));
                ready = vec![false; fds.len()];
                polled_udp = st.udp.len();
                polled_generation = Some(st.udp_generation);
            }
            poll_readable(&fds, &mut ready, 1000).map_err(|e| format!("poll: {e}"))?;
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if ready[0] {
                self.wake.drain();
                self.wake_pending.store(false, Ordering::SeqCst);
                if !self.handle_commands(st) {
                    return Ok(());
                }
            }
            if ready[1] {
                self.tun_to_net(st)
                    .map_err(|e| format!("TUN {}: {e}", self.tun.name()))?;
            }
            for k in 0..polled_udp {
                if ready.get(udp_base + k).copied().unwrap_or(false) {
                    self.udp_to_tun(st, k).map_err(|e| {
                        let local = st.udp.get(k).and_then(|u| u.local);
                        format!("ESP-in-UDP socket {local:?}: {e}")
                    })?;
                }
            }
            if let Some(i) = raw_idx {
                if ready[i] {
                    self.raw_to_tun(st)
                        .map_err(|e| format!("raw ESP socket: {e}"))?;
                }
            }
            self.report_expiries(st);
        }
    }

    /// Applies queued commands; `false` when the control side is gone.
    fn handle_commands(&self, st: &mut State) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(cmd) => self.apply(st, cmd),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn apply(&self, st: &mut State, cmd: Command) {
        match cmd {
            Command::InstallPair(p) => {
                let p = *p;
                if let Some(old) = p.old_inbound_spi {
                    st.sadb.remove_inbound(old);
                }
                st.sadb.insert_outbound(p.id, p.outbound, p.out_meta);
                st.sadb.insert_inbound(p.inbound, p.in_meta);
            }
            Command::UpdateEndpoints {
                id,
                inbound_spi,
                dest,
                udp,
                remote,
            } => {
                if let Some(meta) = st.sadb.outbound_data_mut(id) {
                    meta.dest = dest;
                    meta.udp = udp;
                    meta.tcp = st.tcp_sinks.contains_key(&id);
                }
                if let Some(meta) = st.sadb.inbound_data_mut(inbound_spi) {
                    meta.remote = remote;
                }
            }
            Command::AddUdp { index, sock } => {
                match st.udp.get_mut(index) {
                    Some(slot) => *slot = UdpSock::new(sock),
                    None => st.udp.push(UdpSock::new(sock)),
                }
                st.udp_generation += 1;
            }
            Command::RemoveUdp(index) => {
                if let Some(slot) = st.udp.get_mut(index) {
                    slot.sock = None;
                }
                st.udp_generation += 1;
            }
            Command::SetTcpSink { id, sink } => {
                if let Some(meta) = st.sadb.outbound_data_mut(id) {
                    meta.tcp = true;
                    st.tcp_sinks.insert(id, sink);
                }
            }
            Command::InboundEsp(packet) => {
                self.injected.fetch_sub(1, Ordering::SeqCst);
                let buf = &mut st.in_bufs[0];
                buf.reset(RX_HEADROOM);
                match buf.push_back(packet.len()) {
                    Ok(d) => d.copy_from_slice(&packet),
                    Err(_) => {
                        st.stats.malformed += 1;
                        return;
                    }
                }
                self.inbound_one(st, 0);
                self.flush_gro(st);
            }
            Command::RemovePair { id, inbound_spi } => {
                st.tcp_sinks.remove(&id);
                st.sadb.remove_outbound(id);
                st.sadb.remove_inbound(inbound_spi);
            }
            Command::InstallPolicy(p) => {
                st.last_acquire.remove(&p.id);
                st.policies.insert(p);
                if let Some(packets) = st.held.remove(&p.id) {
                    if matches!(p.action, PolicyAction::Protect(_)) {
                        self.release_held(st, &packets);
                    } else if !matches!(p.action, PolicyAction::Trap { hold: true }) {
                        st.stats.shunt_drops += packets.len() as u64;
                    } else {
                        st.held.insert(p.id, packets);
                    }
                }
            }
            Command::RemovePolicy(id) => {
                st.policies.remove(id);
                st.last_acquire.remove(&id);
                if let Some(packets) = st.held.remove(&id) {
                    st.stats.shunt_drops += packets.len() as u64;
                }
            }
            Command::CountersMany { pairs, reply } => {
                let all = pairs
                    .into_iter()
                    .map(|p| {
                        let (id, inbound_spi) = p?;
                        Some(SaPairCounters {
                            outbound: st.sadb.outbound_counters(id)?,
                            inbound: st.sadb.inbound_counters(inbound_spi)?,
                        })
                    })
                    .collect();
                let _ = reply.send(all);
            }
            Command::Counters {
                id,
                inbound_spi,
                reply,
            } => {
                let c = match (
                    st.sadb.outbound_counters(id),
                    st.sadb.inbound_counters(inbound_spi),
                ) {
                    (Some(outbound), Some(inbound)) => Some(SaPairCounters { outbound, inbound }),
                    _ => None,
                };
                let _ = reply.send(c);
            }
            Command::Stats(reply) => {
                let _ = reply.send(st.stats);
            }
        }
    }

    fn emit(&self, ev: KernelEvent) {
        if self.events.send(ev).is_ok() {
            self.events_fd.notify();
        }
    }

    fn report_expiries(&self, st: &mut State) {
        let State {
            sadb,
            expiry_scratch,
            ..
        } = st;
        expiry_scratch.extend(sadb.drain_events());
        for ev in expiry_scratch.drain(..) {
            let (sa, inbound) = match ev.sa {
                SaRef::Outbound(id) => (Some(id), false),
                SaRef::Inbound(spi) => (sadb.inbound(spi).map(|(_, m)| m.id), true),
            };
            if let Some(sa) = sa {
                self.emit(KernelEvent::Expire {
                    sa,
                    inbound,
                    expiry: ev.expiry,
                });
            }
        }
    }

    /// Reads a batch from TUN (cutting TSO super-packets into segments),
    /// encapsulates, sends ESP-in-UDP with `sendmmsg`.
    fn tun_to_net(&self, st: &mut State) -> std::io::Result<()> {
        let batch = st.out_bufs.len();
        let vnet = self.tun.vnet_hdr();
        let mut queued = 0;
        let mut reads = 0;
        while reads < batch {
            if queued == batch {
                self.flush(st, queued);
                queued = 0;
            }
            let buf = &mut st.out_bufs[queued];
            buf.reset(HEADROOM);
            let len = match self.tun.read(buf.writable())? {
                Some(l) => l,
                None => break,
            };
            reads += 1;
            st.stats.tun_rx += 1;
            if buf.set_len(len).is_err() {
                st.stats.malformed += 1;
                continue;
            }
            if vnet {
                let Some(h) = VnetHdr::parse(buf.data()) else {
                    st.stats.malformed += 1;
                    continue;
                };
                buf.pull_front(VNET_HDR_LEN);
                if h.is_tcp_gso() {
                    std::mem::swap(&mut st.out_bufs[queued], &mut st.gso_buf);
                    let Some(mut seg) = TcpSegmenter::new(st.gso_buf.data(), h.gso_size) else {
                        st.stats.malformed += 1;
                        continue;
                    };
                    st.stats.tso_packets += 1;
                    loop {
                        if queued == batch {
                            self.flush(st, queued);
                            queued = 0;
                        }
                        if !seg.next_into(st.gso_buf.data(), &mut st.out_bufs[queued], HEADROOM) {
                            break;
                        }
                        if let Some(dest) = self.outbound_one(st, queued) {
                            st.out_dest[queued] = dest;
                            queued += 1;
                        }
                    }
                    continue;
                }
                if !h.is_plain()
                    || (h.needs_csum()
                        && !complete_checksum(
                            buf.data_mut(),
                            usize::from(h.csum_start),
                            usize::from(h.csum_offset),
                        ))
                {
                    st.stats.malformed += 1;
                    continue;
                }
            }
            if let Some(dest) = self.outbound_one(st, queued) {
                st.out_dest[queued] = dest;
                queued += 1;
            }
        }
        self.flush(st, queued);
        Ok(())
    }

    /// Sends the first `queued` ESP packets of `out_bufs` with one
    /// `sendmmsg`. Runs of same-size packets to one peer (the segments of a
    /// TSO super-packet) go as one UDP GSO message each.
    fn flush(&self, st: &mut State, queued: usize) {
        // One `sendmmsg` per run of packets leaving from the same socket
        // (one run with a single local address).
        let mut start = 0;
        while start < queued {
            let sock = st.out_dest[start].0;
            let mut end = start + 1;
            while end < queued && st.out_dest[end].0 == sock {
                end += 1;
            }
            self.flush_run(st, sock, start, end);
            start = end;
        }
    }

    /// Sends `out_bufs[start..end]`, all from socket `sock`.
    fn flush_run(&self, st: &mut State, sock: usize, start: usize, end: usize) {
        let Some(fd) = st.udp.get(sock).and_then(UdpSock::fd) else {
            st.stats.send_errors += (end - start) as u64;
            return;
        };
        let queued = end;
        let mut msgs = 0;
        let mut i = start;
        while i < queued {
            let size = st.out_bufs[i].len();
            let dest = st.out_dest[i].1;
            let mut count = 1;
            let mut total = size;
            if st.udp_gso {
                while i + count < queued && count < MAX_GSO_SEGMENTS {
                    let l = st.out_bufs[i + count].len();
                    if st.out_dest[i + count].1 != dest || l > size || total + l > MAX_GSO_BYTES {
                        break;
                    }
                    total += l;
                    count += 1;
                    if l < size {
                        break;
                    }
                }
            }
            for k in i..i + count {
                st.mmsg_out.set_iov(k, st.out_bufs[k].data());
            }
            st.mmsg_out.prepare_gso(msgs, i, count, &dest, size as u16);
            st.group_len[msgs] = count;
            msgs += 1;
            i += count;
        }
        if msgs == 0 {
            return;
        }
        let _ = st.mmsg_out.send(fd, msgs);
        for m in 0..msgs {
            let n = st.group_len[m] as u64;
            if st.mmsg_out.failed(m) {
                st.stats.send_errors += n;
                if n > 1 {
                    // The path cannot do UDP GSO: send one datagram per message from now on.
                    st.udp_gso = false;
                }
            } else {
                st.stats.esp_tx += n;
                if n > 1 {
                    st.stats.gso_sends += 1;
                }
            }
        }
    }

    /// Handles one packet from TUN in `out_bufs[slot]`; returns the UDP
    /// destination when it is to be sent in the batch.
    fn outbound_one(&self, st: &mut State, slot: usize) -> Option<(usize, SocketAddr)> {
        let State {
            sadb,
            policies,
            stats,
            out_bufs,
            last_acquire,
            held,
            tcp_sinks,
            ..
        } = st;
        let buf = &mut out_bufs[slot];
        let Some(info) = packet_info(buf.data()) else {
            stats.malformed += 1;
            return None;
        };
        let Some(policy) = policies.lookup(&info) else {
            // No policy covers it (another protocol or port, or a source
            // outside every policy): in the clear, as the kernel would.
            stats.no_policy += 1;
            self.send_clear(stats, buf.data(), info.dst);
            return None;
        };
        match policy.action {
            PolicyAction::Protect(id) => {
                let transport = sadb.outbound(id).is_some_and(|(_, m)| m.transport);
                let nh = if transport {
                    match strip_ip_header(buf) {
                        Some(nh) => nh,
                        None => {
                            stats.malformed += 1;
                            return None;
                        }
                    }
                } else {
                    tunnel_next_header(buf.data()).unwrap_or(NEXT_HEADER_IPV4)
                };
                match sadb.encapsulate(id, buf, nh) {
                    Ok((_, meta)) => {
                        if meta.tcp {
                            match tcp_sinks.get(&id) {
                                Some(s) if s.send_esp(buf.data()) => stats.esp_tx += 1,
                                _ => stats.send_errors += 1,
                            }
                            return None;
                        }
                        if meta.udp {
                            return Some((meta.sock, meta.dest));
                        }
                        match &self.raw {
                            Some(raw) if raw.send(buf.data(), meta.dest.ip()).is_ok() => {
                                stats.esp_tx += 1
                            }
                            _ => stats.send_errors += 1,
                        }
                        None
                    }
                    Err(EspError::UnknownSa { .. }) => {
                        stats.no_sa += 1;
                        None
                    }
                    Err(_) => {
                        stats.encap_errors += 1;
                        None
                    }
                }
            }
            PolicyAction::Trap { hold } => {
                stats.trapped += 1;
                if hold {
                    let queue = held.entry(policy.id).or_default();
                    if queue.len() < MAX_HELD_PACKETS {
                        queue.push(buf.data().to_vec());
                        stats.held += 1;
                    }
                }
                let now = Instant::now();
                let due = last_acquire
                    .get(&policy.id)
                    .is_none_or(|t| now.duration_since(*t) >= ACQUIRE_INTERVAL);
                if due {
                    last_acquire.insert(policy.id, now);
                    self.emit(KernelEvent::Acquire {
                        policy: policy.id,
                        src: info.src,
                        dst: info.dst,
                        protocol: info.protocol,
                    });
                }
                None
            }
            PolicyAction::Pass => {
                // A pass shunt whose subnet shares its route with a tunnel
                // (otherwise its throw route keeps it out of TUN).
                self.send_clear(stats, buf.data(), info.dst);
                None
            }
            PolicyAction::Drop => {
                stats.shunt_drops += 1;
                None
            }
        }
    }

    /// Sends an IP packet from TUN in the clear through the raw socket of
    /// its family (marked, so the main routing table takes it).
    fn send_clear(&self, stats: &mut DataplaneStats, packet: &[u8], dst: IpAddr) {
        if link_scoped(dst) {
            stats.link_scoped_drops += 1;
            return;
        }
        let sock = if dst.is_ipv4() {
            self.clear.0.as_ref()
        } else {
            self.clear.1.as_ref()
        };
        match sock.map(|s| s.send(packet, dst)) {
            Some(Ok(())) => stats.clear_tx += 1,
            _ => stats.clear_errors += 1,
        }
    }

    /// Receives a batch from the ESP-in-UDP socket with one `recvmmsg`.
    fn udp_to_tun(&self, st: &mut State, sock: usize) -> std::io::Result<()> {
        let Some((fd, local_udp)) = st
            .udp
            .get(sock)
            .and_then(|u| u.fd().map(|fd| (fd, u.local)))
        else {
            return Ok(());
        };
        let n = st.in_bufs.len();
        for i in 0..n {
            let buf = &mut st.in_bufs[i];
            buf.reset(RX_HEADROOM);
            st.mmsg_in.prepare_recv(i, buf.writable());
        }
        let got = st.mmsg_in.recv(fd, n)?;
        for i in 0..got {
            let (len, from, gro_size) = st.mmsg_in.received(i);
            if len == 0 || st.in_bufs[i].set_len(len).is_err() {
                st.stats.malformed += 1;
                continue;
            }
            match gro_size {
                Some(size) if size < len => {
                    // Several datagrams coalesced by UDP GRO: one at a time.
                    let State {
                        sadb,
                        stats,
                        in_bufs,
                        gro,
                        seg_buf,
                        ..
                    } = &mut *st;
                    for chunk in in_bufs[i].data().chunks(size) {
                        seg_buf.reset(RX_HEADROOM);
                        match seg_buf.push_back(chunk.len()) {
                            Ok(d) => d.copy_from_slice(chunk),
                            Err(_) => {
                                stats.malformed += 1;
                                continue;
                            }
                        }
                        self.datagram(sadb, stats, gro, seg_buf, from, local_udp);
                    }
                }
                _ => {
                    let State {
                        sadb,
                        stats,
                        in_bufs,
                        gro,
                        ..
                    } = &mut *st;
                    self.datagram(sadb, stats, gro, &mut in_bufs[i], from, local_udp);
                }
            }
        }
        self.flush_gro(st);
        Ok(())
    }

    /// Handles one datagram from the ESP-in-UDP socket: IKE up, keepalives
    /// dropped, ESP decapsulated.
    fn datagram(
        &self,
        sadb: &mut SaDb<OutMeta, InMeta>,
        stats: &mut DataplaneStats,
        gro: &mut Coalescer,
        buf: &mut PacketBuf,
        from: Option<SocketAddr>,
        local_udp: Option<SocketAddr>,
    ) {
        match classify(buf.data()) {
            EncapPayload::Keepalive => stats.keepalives += 1,
            EncapPayload::Invalid => stats.malformed += 1,
            EncapPayload::Ike(msg) => {
                stats.ike_forwarded += 1;
                if let (Some(remote), Some(local)) = (from, local_udp) {
                    // IPv4 peers on a dual-stack socket appear as ::ffff:a.b.c.d.
                    let remote = match remote {
                        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                            None => remote,
                        },
                        v4 => v4,
                    };
                    self.emit(KernelEvent::IkeDatagram {
                        local,
                        remote,
                        message: msg.to_vec(),
                    });
                }
            }
            EncapPayload::Esp(_) => self.inbound(sadb, stats, gro, buf),
        }
    }

    /// Receives raw ESP (IPv4 header included), one packet per call, up to a batch.
    fn raw_to_tun(&self, st: &mut State) -> std::io::Result<()> {
        let Some(raw) = &self.raw else { return Ok(()) };
        for _ in 0..st.in_bufs.len() {
            let buf = &mut st.in_bufs[0];
            buf.reset(RX_HEADROOM);
            let Some(len) = raw.recv(buf.writable())? else {
                break;
            };
            if buf.set_len(len).is_err() {
                st.stats.malformed += 1;
                continue;
            }
            let ihl = buf
                .data()
                .first()
                .map(|b| usize::from(b & 0x0f) * 4)
                .unwrap_or(0);
            if ihl < 20 || ihl >= len {
                st.stats.malformed += 1;
                continue;
            }
            buf.pull_front(ihl);
            self.inbound_one(st, 0);
        }
        self.flush_gro(st);
        Ok(())
    }

    /// Decapsulates `in_bufs[slot]` (raw ESP path).
    fn inbound_one(&self, st: &mut State, slot: usize) {
        let State {
            sadb,
            stats,
            in_bufs,
            gro,
            ..
        } = st;
        self.inbound(sadb, stats, gro, &mut in_bufs[slot]);
    }

    /// Decapsulates `buf`, checks selectors and writes to TUN.
    fn inbound(
        &self,
        sadb: &mut SaDb<OutMeta, InMeta>,
        stats: &mut DataplaneStats,
        gro: &mut Coalescer,
        buf: &mut PacketBuf,
    ) {
        stats.esp_rx += 1;
        match sadb.decapsulate(buf) {
            Ok((d, meta)) => {
                if d.next_header == NEXT_HEADER_NONE {
                    // A dummy packet (RFC 4303 2.6).
                    stats.malformed += 1;
                    return;
                }
                if meta.transport {
                    if !rebuild_ip_header(buf, d.next_header, meta.remote, meta.local) {
                        stats.malformed += 1;
                        return;
                    }
                } else if d.next_header != NEXT_HEADER_IPV4 && d.next_header != NEXT_HEADER_IPV6 {
                    stats.malformed += 1;
                    return;
                }
                match packet_info(buf.data()) {
                    Some(info) if inbound_allowed(&meta.local_ts, &meta.remote_ts, &info) => {}
                    Some(_) => {
                        stats.selector_mismatch += 1;
                        return;
                    }
                    None => {
                        stats.malformed += 1;
                        return;
                    }
                }
            }
            Err(EspError::UnknownSpi { .. }) => {
                stats.unknown_spi += 1;
                return;
            }
            Err(_) => {
                stats.decap_errors += 1;
                return;
            }
        }
        if self.tun.vnet_hdr() {
            let tun = &self.tun;
            gro.push(buf.data(), &mut |b: &[u8]| write_tun(tun, b, stats));
            return;
        }
        write_tun(&self.tun, buf.data(), stats);
    }

    /// Sends packets a holding trap kept, now that their policy protects
    /// them (the slow path: one packet at a time).
    fn release_held(&self, st: &mut State, packets: &[Vec<u8>]) {
        for p in packets {
            let buf = &mut st.out_bufs[0];
            buf.reset(HEADROOM);
            match buf.push_back(p.len()) {
                Ok(d) => d.copy_from_slice(p),
                Err(_) => continue,
            }
            st.stats.released += 1;
            if let Some(dest) = self.outbound_one(st, 0) {
                st.out_dest[0] = dest;
                self.flush(st, 1);
            }
        }
    }

    /// Writes the packet the coalescer still holds.
    fn flush_gro(&self, st: &mut State) {
        let State { gro, stats, .. } = st;
        let tun = &self.tun;
        gro.flush(&mut |b: &[u8]| write_tun(tun, b, stats));
    }
}

/// Whether `dst` is a multicast, broadcast or link-local address: traffic
/// of the TUN device's own link, which has nowhere to go in the clear.
fn link_scoped(dst: IpAddr) -> bool {
    match dst {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.is_link_local(),
        IpAddr::V6(a) => {
            a.is_multicast() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod link_scope_tests {
    #[test]
    fn link_scoped_destinations_never_leave_in_the_clear() {
        for a in [
            "ff02::16",
            "ff02::2",
            "fe80::1",
            "::",
            "224.0.0.22",
            "255.255.255.255",
            "169.254.1.1",
        ] {
            assert!(super::link_scoped(a.parse().unwrap()), "{a}");
        }
        for a in ["2001:db8::1", "192.0.2.1", "10.1.2.3"] {
            assert!(!super::link_scoped(a.parse().unwrap()), "{a}");
        }
    }
}
