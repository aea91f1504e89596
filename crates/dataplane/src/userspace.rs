//! The userspace backend of the [`Kernel`] boundary: a TUN device, ESP in
//! ferroswan's own code (crate `esp`), ESP-in-UDP or raw ESP sockets.
//!
//! Create and use a [`Userspace`] from a thread in the network namespace it
//! serves: the TUN device, the sockets and the `ip` commands act there.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use esp::udp_encap::NON_ESP_MARKER;
use esp::{InboundSa, OutboundSa, SaId};

use crate::error::{DataplaneError, Result};
use crate::kernel::{
    Encapsulation, Kernel, KernelEvent, Mode, Policy, PolicyAction, PolicyId, SaPair,
    SaPairCounters,
};
use crate::net::IpNet;
use crate::rtnl::{if_index, BypassRule, RouteSocket};
use crate::stats::DataplaneStats;
use crate::sys::{
    enable_udp_gro, random_bytes, set_mark, set_socket_buffers, EventFd, RawEspSocket, RawIpSocket,
    Tun,
};
use crate::worker::{Command, InMeta, InstallPair, OutMeta, Worker};

/// Default routing table of the data plane's routes.
pub const DEFAULT_ROUTE_TABLE: u32 = 4500;
/// Default firewall mark of sockets whose packets must not enter TUN
/// (the data plane's own; the daemon marks its IKE sockets with it too).
pub const DEFAULT_BYPASS_MARK: u32 = 0x4500;

/// Where the ESP-in-UDP sockets come from.
#[derive(Debug)]
pub enum UdpSource {
    /// Bind a socket to this address (normally `0.0.0.0:4500`).
    Bind(SocketAddr),
    /// Use a socket the daemon bound (it keeps a clone to send IKE).
    Socket(UdpSocket),
    /// Use these sockets the daemon bound, one per local address (it
    /// keeps clones to send IKE): the worker reads them all, and each SA
    /// sends from the one bound to its local address.
    Sockets(Vec<UdpSocket>),
    /// No ESP-in-UDP (raw ESP only).
    Disabled,
}

/// Settings of the userspace data plane.
#[derive(Debug)]
pub struct UserspaceConfig {
    /// TUN device name (e.g. `ipsec0`).
    pub tun_name: String,
    /// TUN MTU (1400 leaves room for ESP-in-UDP over a 1500-byte path).
    pub mtu: u16,
    /// Addresses to put on the TUN device (e.g. `leftsourceip`).
    pub tun_addresses: Vec<IpNet>,
    /// The ESP-in-UDP socket.
    pub udp: UdpSource,
    /// Open a raw IP protocol 50 socket for unencapsulated ESP (IPv4).
    pub raw_esp: bool,
    /// Packets per batch (recvmmsg/sendmmsg).
    pub batch: usize,
    /// TUN offloads (`IFF_VNET_HDR`, checksum and TSO): the kernel hands
    /// over TCP super-packets that the worker segments.
    pub offload: bool,
    /// Queue length of the TUN device: packets the kernel holds for the
    /// worker to read. Too short a queue drops packets (and TCP retransmits)
    /// whenever the worker is descheduled.
    pub txqueuelen: u32,
    /// Socket buffer size (SO_RCVBUFFORCE/SO_SNDBUFFORCE as root).
    pub socket_buffer: usize,
    /// Routing table of the data plane's routes.
    pub route_table: u32,
    /// Firewall mark of the data plane's own sockets; unmarked packets
    /// consult `route_table` first (an `ip rule` of preference `rule_pref`).
    pub bypass_mark: u32,
    /// Preference of that rule.
    pub rule_pref: u32,
}

impl UserspaceConfig {
    /// Defaults: MTU 1400, UDP on 0.0.0.0:4500, no raw ESP, batches of 64, TUN offloads,
    /// TUN queue of 5000 packets, 4 MiB socket buffers.
    pub fn new(tun_name: &str) -> Self {
        UserspaceConfig {
            tun_name: tun_name.to_string(),
            mtu: 1400,
            tun_addresses: Vec::new(),
            udp: UdpSource::Bind(SocketAddr::from(([0, 0, 0, 0], esp::udp_encap::NAT_T_PORT))),
            raw_esp: false,
            batch: 64,
            offload: true,
            txqueuelen: 5000,
            socket_buffer: 4 << 20,
            route_table: DEFAULT_ROUTE_TABLE,
            bypass_mark: DEFAULT_BYPASS_MARK,
            rule_pref: 100,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PairInfo {
    inbound_spi: u32,
    outbound_spi: u32,
    remote: IpAddr,
    /// The ESP-in-UDP socket it sends from.
    sock: usize,
}

/// The control side's clone of an ESP-in-UDP socket.
#[derive(Debug)]
struct UdpHandle {
    /// `None` once removed (the slot keeps the other sockets' indices).
    sock: Option<UdpSocket>,
    local: SocketAddr,
}

/// How every ESP-in-UDP socket is set up (also those added later).
#[derive(Debug, Clone, Copy)]
struct UdpSetup {
    socket_buffer: usize,
    bypass_mark: u32,
    offload: bool,
}

/// Most ESP-in-UDP sockets one data plane reads.
pub const MAX_UDP_SOCKETS: usize = crate::sys::MAX_POLL_FDS - 3;

/// Which of the sockets bound to `locals` an SA with local address
/// `local` sends from: the one bound to that address, else a wildcard
/// socket that reaches its family (`[::]` is dual-stack), else the first
/// of its family, else the first.
pub fn pick_socket(locals: &[SocketAddr], local: IpAddr) -> usize {
    let exact = locals.iter().position(|a| a.ip() == local);
    let wildcard = || {
        locals.iter().position(|a| {
            a.ip().is_unspecified() && (a.is_ipv6() || a.is_ipv4() == local.is_ipv4())
        })
    };
    let family = || locals.iter().position(|a| a.is_ipv4() == local.is_ipv4());
    exact.or_else(wildcard).or_else(family).unwrap_or(0)
}

/// Prepares an ESP-in-UDP socket for the worker (non-blocking, buffers,
/// bypass mark, GRO) and returns the control side's clone.
fn setup_udp(s: &UdpSocket, setup: UdpSetup) -> Result<UdpHandle> {
    s.set_nonblocking(true)
        .map_err(|e| DataplaneError::io("making the UDP socket non-blocking", e))?;
    set_socket_buffers(s.as_raw_fd(), setup.socket_buffer);
    set_mark(s.as_raw_fd(), setup.bypass_mark)
        .map_err(|e| DataplaneError::io("marking the UDP socket (SO_MARK)", e))?;
    if setup.offload {
        // Coalesced receive is an optimisation: without it, one datagram per message.
        let _ = enable_udp_gro(s.as_raw_fd());
    }
    let local = s
        .local_addr()
        .map_err(|e| DataplaneError::io("reading the UDP socket's address", e))?;
    let sock = s
        .try_clone()
        .map_err(|e| DataplaneError::io("cloning the UDP socket", e))?;
    Ok(UdpHandle {
        sock: Some(sock),
        local,
    })
}

/// The userspace data plane: a control handle; the packets flow in a worker thread.
#[derive(Debug)]
pub struct Userspace {
    tun_name: String,
    commands: Sender<Command>,
    wake: Arc<EventFd>,
    /// `wake` was notified and the worker has not drained it yet.
    wake_pending: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// ESP packets injected from TCP streams and not yet taken.
    injected: Arc<AtomicUsize>,
    events: Receiver<KernelEvent>,
    events_fd: Arc<EventFd>,
    /// Clones of the worker's ESP-in-UDP sockets, in the worker's order.
    udp: Vec<UdpHandle>,
    udp_setup: UdpSetup,
    spis: HashSet<u32>,
    pairs: HashMap<SaId, PairInfo>,
    policies: HashMap<PolicyId, Policy>,
    /// Routes in use: (remote subnet, is a pass shunt's throw route) -> policies using it.
    routes: HashMap<(IpNet, bool), usize>,
    route_socket: RouteSocket,
    tun_index: u32,
    raw_esp: bool,
    /// The bypass rules to remove on drop.
    rules: BypassRule,
    worker: Option<JoinHandle<()>>,
}

/// Splits the kernel's IPv4 `local` and `main` routing tables in the
/// calling thread's network namespace before the daemon listens for IKE
/// (see `RouteSocket::split_local_table`): the userspace data plane's first
/// routing rule, added at the first tunnel, would otherwise split them
/// then and drop packets to local addresses arriving in that instant, such
/// as a peer's IKE_SA_INIT. Uses (and removes again) `config`'s bypass rule.
pub fn split_local_routing_table(config: &UserspaceConfig) -> Result<()> {
    let socket = RouteSocket::open(config.route_table)
        .map_err(|e| DataplaneError::io("opening a NETLINK_ROUTE socket", e))?;
    socket
        .split_local_table(BypassRule {
            mark: config.bypass_mark,
            table: config.route_table,
            pref: config.rule_pref,
        })
        .map_err(|e| DataplaneError::io("adding and removing a routing rule", e))
}

impl Userspace {
    /// Creates the TUN device, brings it up with its addresses, opens the
    /// sockets and starts the worker thread.
    pub fn new(config: UserspaceConfig) -> Result<Self> {
        let tun = Tun::open(&config.tun_name, false, config.offload).map_err(|e| {
            DataplaneError::io(format!("creating TUN device {}", config.tun_name), e)
        })?;
        let tun_name = tun.name().to_string();
        let route_socket = RouteSocket::open(config.route_table)
            .map_err(|e| DataplaneError::io("opening a NETLINK_ROUTE socket", e))?;
        let tun_index = if_index(&tun_name)
            .map_err(|e| DataplaneError::io(format!("finding {tun_name}"), e))?;
        route_socket
            .link_up(tun_index, config.mtu, config.txqueuelen)
            .map_err(|e| DataplaneError::io(format!("bringing {tun_name} up"), e))?;
        for a in &config.tun_addresses {
            route_socket
                .replace_address(tun_index, a)
                .map_err(|e| DataplaneError::io(format!("adding {a} to {tun_name}"), e))?;
        }
        let rules = BypassRule {
            mark: config.bypass_mark,
            table: config.route_table,
            pref: config.rule_pref,
        };
        route_socket.add_bypass_rules(rules).map_err(|e| {
            DataplaneError::io(
                format!(
                    "adding the rule `not fwmark {:#x} lookup {} pref {}`",
                    rules.mark, rules.table, rules.pref
                ),
                e,
            )
        })?;
        let udp_worker = match config.udp {
            UdpSource::Bind(addr) => vec![UdpSocket::bind(addr)
                .map_err(|e| DataplaneError::io(format!("binding UDP {addr}"), e))?],
            UdpSource::Socket(s) => vec![s],
            UdpSource::Sockets(v) => v,
            UdpSource::Disabled => Vec::new(),
        };
        if udp_worker.len() > MAX_UDP_SOCKETS {
            return Err(DataplaneError::Unsupported {
                backend: "userspace",
                what: "more ESP-in-UDP sockets than MAX_UDP_SOCKETS",
            });
        }
        let udp_setup = UdpSetup {
            socket_buffer: config.socket_buffer,
            bypass_mark: config.bypass_mark,
            offload: config.offload,
        };
        let udp_control = udp_worker
            .iter()
            .map(|s| setup_udp(s, udp_setup))
            .collect::<Result<Vec<_>>>()?;
        let raw = if config.raw_esp {
            let r = RawEspSocket::open_v4()
                .map_err(|e| DataplaneError::io("opening a raw ESP socket", e))?;
            set_socket_buffers(r.fd(), config.socket_buffer);
            set_mark(r.fd(), config.bypass_mark)
                .map_err(|e| DataplaneError::io("marking the raw ESP socket (SO_MARK)", e))?;
            Some(r)
        } else {
            None
        };
        // Packets from TUN that no policy protects leave in the clear
        // through these (marked: the main table routes them). Without
        // them (no IPv6, no CAP_NET_RAW) such packets are counted and
        // dropped.
        let clear_socket = |v6: bool| {
            let s = RawIpSocket::open(v6).ok()?;
            set_mark(s.fd(), config.bypass_mark).ok()?;
            Some(s)
        };
        let clear = (clear_socket(false), clear_socket(true));
        let wake =
            Arc::new(EventFd::new().map_err(|e| DataplaneError::io("creating an eventfd", e))?);
        let events_fd =
            Arc::new(EventFd::new().map_err(|e| DataplaneError::io("creating an eventfd", e))?);
        let stop = Arc::new(AtomicBool::new(false));
        let wake_pending = Arc::new(AtomicBool::new(false));
        let injected = Arc::new(AtomicUsize::new(0));
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (ev_tx, ev_rx) = mpsc::channel();
        let worker = Worker {
            tun,
            udp: udp_worker,
            raw,
            clear,
            wake: wake.clone(),
            wake_pending: wake_pending.clone(),
            stop: stop.clone(),
            commands: cmd_rx,
            events: ev_tx,
            events_fd: events_fd.clone(),
            batch: config.batch,
            injected: injected.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("dp-{tun_name}"))
            .spawn(move || worker.run())
            .map_err(|e| DataplaneError::io("starting the data plane thread", e))?;
        Ok(Userspace {
            tun_name,
            commands: cmd_tx,
            wake,
            wake_pending,
            stop,
            injected,
            events: ev_rx,
            events_fd,
            udp: udp_control,
            udp_setup,
            spis: HashSet::new(),
            pairs: HashMap::new(),
            policies: HashMap::new(),
            routes: HashMap::new(),
            route_socket,
            tun_index,
            raw_esp: config.raw_esp,
            rules,
            worker: Some(handle),
        })
    }

    /// The TUN device's name.
    pub fn tun_name(&self) -> &str {
        &self.tun_name
    }

    /// The local address of the first open ESP-in-UDP socket.
    pub fn udp_local_addr(&self) -> Option<SocketAddr> {
        self.open_udp().next().map(|(_, u)| u.local)
    }

    /// The local addresses of the open ESP-in-UDP sockets.
    pub fn udp_local_addrs(&self) -> Vec<SocketAddr> {
        self.open_udp().map(|(_, u)| u.local).collect()
    }

    /// The open ESP-in-UDP sockets with their slots.
    fn open_udp(&self) -> impl Iterator<Item = (usize, &UdpHandle)> {
        self.udp
            .iter()
            .enumerate()
            .filter(|(_, u)| u.sock.is_some())
    }

    /// The socket an SA with local address `local` sends from
    /// ([`pick_socket`] among the open ones).
    fn socket_for(&self, local: IpAddr) -> usize {
        let open: Vec<(usize, SocketAddr)> = self.open_udp().map(|(i, u)| (i, u.local)).collect();
        let locals: Vec<SocketAddr> = open.iter().map(|(_, a)| *a).collect();
        open.get(pick_socket(&locals, local))
            .map(|(i, _)| *i)
            .unwrap_or(0)
    }

    /// The open socket that reaches `to` (its family, or a dual-stack one).
    fn socket_toward(&self, to: SocketAddr) -> Option<usize> {
        self.open_udp()
            .find(|(_, u)| u.local.is_ipv4() == to.is_ipv4())
            .or_else(|| self.open_udp().find(|(_, u)| u.local.ip().is_unspecified()))
            .map(|(i, _)| i)
    }

    /// The open socket in slot `sock`.
    fn udp_socket(&self, sock: usize) -> Result<&UdpSocket> {
        self.udp
            .get(sock)
            .and_then(|u| u.sock.as_ref())
            .ok_or(DataplaneError::Unsupported {
                backend: "userspace",
                what: "sending on an ESP-in-UDP socket that was removed",
            })
    }

    /// Sends an IKE message on an ESP-in-UDP socket of `to`'s family, with the non-ESP marker in front.
    pub fn send_ike(&self, to: SocketAddr, message: &[u8]) -> Result<()> {
        let sock = self.socket_toward(to).ok_or(DataplaneError::Unsupported {
            backend: "userspace",
            what: "sending IKE on port 4500 without an ESP-in-UDP socket",
        })?;
        let udp = self.udp_socket(sock)?;
        let to = self.udp_destination(sock, to);
        let mut datagram = Vec::with_capacity(4 + message.len());
        datagram.extend_from_slice(&NON_ESP_MARKER);
        datagram.extend_from_slice(message);
        udp.send_to(&datagram, to)
            .map_err(|e| DataplaneError::io(format!("sending IKE to {to}"), e))?;
        Ok(())
    }

    /// Sends a NAT keepalive (RFC 3948 2.3: the single byte 0xFF) to `to`
    /// from the ESP-in-UDP socket (`nat-keepalive`, driven by the daemon's timer).
    pub fn send_nat_keepalive(&self, to: SocketAddr) -> Result<()> {
        let sock = self.socket_toward(to).ok_or(DataplaneError::Unsupported {
            backend: "userspace",
            what: "NAT keepalives without an ESP-in-UDP socket",
        })?;
        let udp = self.udp_socket(sock)?;
        udp.send_to(
            &[esp::udp_encap::NAT_KEEPALIVE],
            self.udp_destination(sock, to),
        )
        .map_err(|e| DataplaneError::io(format!("sending a NAT keepalive to {to}"), e))?;
        Ok(())
    }

    /// Waits up to `timeout` for the next event.
    pub fn wait_event(&self, timeout: Duration) -> Option<KernelEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Data-plane-wide counters.
    pub fn stats(&self) -> Result<DataplaneStats> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Command::Stats(tx))?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| DataplaneError::WorkerGone)
    }

    /// The peer's address as UDP socket `sock` must see it: an IPv6 socket
    /// bound to `[::]` is dual-stack and reaches IPv4 peers as `::ffff:a.b.c.d`.
    fn udp_destination(&self, sock: usize, to: SocketAddr) -> SocketAddr {
        match (self.udp.get(sock).map(|u| u.local), to) {
            (Some(SocketAddr::V6(_)), SocketAddr::V4(v4)) => {
                SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => to,
        }
    }

    /// Whether ESP for `remote` goes in UDP (true) or raw (false); refuses
    /// what this data plane cannot send.
    fn encapsulation_is_udp(&self, remote: IpAddr, encapsulation: Encapsulation) -> Result<bool> {
        match encapsulation {
            Encapsulation::Udp { .. } if self.udp.is_empty() => Err(DataplaneError::Unsupported {
                backend: "userspace",
                what: "ESP-in-UDP SAs need the data plane's UDP socket, which is disabled",
            }),
            Encapsulation::Udp { .. } => Ok(true),
            Encapsulation::None if !self.raw_esp => Err(DataplaneError::Unsupported {
                backend: "userspace",
                what: "raw ESP SAs (encapsulation=no) need UserspaceConfig::raw_esp, which is off",
            }),
            Encapsulation::None if remote.is_ipv6() => Err(DataplaneError::Unsupported {
                backend: "userspace",
                what: "raw ESP over IPv6 is not built yet; use ESP-in-UDP (encapsulation=yes)",
            }),
            Encapsulation::None => Ok(false),
        }
    }

    fn send(&self, cmd: Command) -> Result<()> {
        self.commands
            .send(cmd)
            .map_err(|_| DataplaneError::WorkerGone)?;
        // The worker reads every queued command once woken: a wake-up
        // still pending covers this command too.
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            self.wake.notify();
        }
        Ok(())
    }

    /// Takes a reference on the route a policy needs: its remote subnet into
    /// TUN, or for a pass shunt a throw route (the subnet leaves the data
    /// plane's table and goes out in the clear by the main table). When a
    /// pass shunt and another policy share a remote subnet, the subnet goes
    /// into TUN and the worker sends the pass shunt's packets in the clear
    /// (it sees their source; a route does not).
    fn route_ref(&mut self, policy: &Policy) -> Result<()> {
        let pass = policy.action == PolicyAction::Pass;
        let net = policy.remote;
        let count = |me: &Self, pass: bool| me.routes.get(&(net, pass)).copied().unwrap_or(0);
        if count(self, pass) == 0 {
            if pass {
                if count(self, false) == 0 {
                    self.add_throw(&net)?;
                }
            } else {
                if count(self, true) > 0 {
                    self.remove_throw(&net)?;
                }
                self.add_tun_route(&net, policy.route_source)?;
            }
        }
        *self.routes.entry((net, pass)).or_insert(0) += 1;
        Ok(())
    }

    fn route_unref(&mut self, policy: &Policy) -> Result<()> {
        let pass = policy.action == PolicyAction::Pass;
        let net = policy.remote;
        let key = (net, pass);
        let Some(count) = self.routes.get_mut(&key) else {
            return Ok(());
        };
        *count -= 1;
        if *count > 0 {
            return Ok(());
        }
        self.routes.remove(&key);
        let other = self.routes.get(&(net, !pass)).copied().unwrap_or(0);
        if pass {
            if other == 0 {
                self.remove_throw(&net)?;
            }
        } else {
            self.remove_tun_route(&net)?;
            if other > 0 {
                self.add_throw(&net)?;
            }
        }
        Ok(())
    }

    fn route_error(&self, what: &str, net: &IpNet, e: std::io::Error) -> DataplaneError {
        DataplaneError::io(format!("{what} the route of {net} ({})", self.tun_name), e)
    }

    fn add_throw(&self, net: &IpNet) -> Result<()> {
        self.route_socket
            .add_throw(net)
            .map_err(|e| self.route_error("adding", net, e))
    }

    fn remove_throw(&self, net: &IpNet) -> Result<()> {
        self.route_socket
            .remove_throw(net)
            .map_err(|e| self.route_error("removing", net, e))
    }

    fn add_tun_route(&self, net: &IpNet, source: Option<IpAddr>) -> Result<()> {
        self.route_socket
            .add_route(net, self.tun_index, source)
            .map_err(|e| self.route_error("adding", net, e))
    }

    fn remove_tun_route(&self, net: &IpNet) -> Result<()> {
        self.route_socket
            .remove_route(net, self.tun_index)
            .map_err(|e| self.route_error("removing", net, e))
    }
}

impl Kernel for Userspace {
    fn name(&self) -> &'static str {
        "userspace"
    }

    fn allocate_spi(&mut self) -> Result<u32> {
        loop {
            let mut b = [0u8; 4];
            random_bytes(&mut b)
                .map_err(|e| DataplaneError::io("reading random bytes for an SPI", e))?;
            let spi = u32::from_be_bytes(b);
            // SPIs 1-255 are reserved by IANA; 0 is invalid.
            if spi >= 0x100 && self.spis.insert(spi) {
                return Ok(spi);
            }
        }
    }

    fn install_sa_pair(&mut self, pair: SaPair) -> Result<()> {
        let udp = self.encapsulation_is_udp(pair.remote, pair.encapsulation)?;
        let reused = self
            .pairs
            .values()
            .find(|p| p.outbound_spi == pair.outbound.spi && p.remote == pair.remote);
        if reused.is_some() {
            return Err(DataplaneError::OutboundSpiInUse {
                spi: pair.outbound.spi,
                remote: pair.remote,
            });
        }
        let old = self.pairs.get(&pair.id).copied();
        let spi = pair.inbound.spi;
        let owner = self
            .pairs
            .iter()
            .find(|(id, p)| p.inbound_spi == spi && **id != pair.id);
        if owner.is_some() {
            return Err(DataplaneError::SpiInUse(spi));
        }
        let sock = self.socket_for(pair.local);
        let outbound = OutboundSa::new(&pair.outbound)?;
        let inbound = InboundSa::new(&pair.inbound)?;
        let install = InstallPair {
            id: pair.id,
            outbound,
            out_meta: OutMeta {
                // Only the (possibly dual-stack) UDP socket wants IPv4 peers
                // as ::ffff:a.b.c.d; raw ESP goes to the plain address.
                dest: if udp {
                    self.udp_destination(sock, pair.remote_socket())
                } else {
                    pair.remote_socket()
                },
                udp,
                sock,
                transport: pair.mode == Mode::Transport,
                tcp: false,
            },
            inbound,
            in_meta: InMeta {
                id: pair.id,
                local_ts: if pair.local_ts.is_empty() {
                    vec![IpNet::host(pair.local).into()].into()
                } else {
                    pair.local_ts.clone().into()
                },
                remote_ts: if pair.remote_ts.is_empty() {
                    vec![IpNet::host(pair.remote).into()].into()
                } else {
                    pair.remote_ts.clone().into()
                },
                transport: pair.mode == Mode::Transport,
                local: pair.local,
                remote: pair.remote,
            },
            old_inbound_spi: old.map(|o| o.inbound_spi).filter(|s| *s != spi),
        };
        self.send(Command::InstallPair(Box::new(install)))?;
        if let Some(o) = old {
            if o.inbound_spi != spi {
                self.spis.remove(&o.inbound_spi);
            }
        }
        self.spis.insert(spi);
        self.pairs.insert(
            pair.id,
            PairInfo {
                inbound_spi: spi,
                outbound_spi: pair.outbound.spi,
                remote: pair.remote,
                sock,
            },
        );
        Ok(())
    }

    fn update_sa_endpoints(
        &mut self,
        id: SaId,
        remote: IpAddr,
        encapsulation: Encapsulation,
    ) -> Result<()> {
        let udp = self.encapsulation_is_udp(remote, encapsulation)?;
        let info = self
            .pairs
            .get(&id)
            .copied()
            .ok_or(DataplaneError::UnknownSa(id.0))?;
        let port = match encapsulation {
            Encapsulation::Udp { remote_port, .. } => remote_port,
            Encapsulation::None => 0,
        };
        self.send(Command::UpdateEndpoints {
            id,
            inbound_spi: info.inbound_spi,
            dest: self.udp_destination(info.sock, SocketAddr::new(remote, port)),
            udp,
            remote,
        })?;
        if let Some(p) = self.pairs.get_mut(&id) {
            p.remote = remote;
        }
        Ok(())
    }

    fn remove_sa_pair(&mut self, id: SaId) -> Result<()> {
        let info = self
            .pairs
            .remove(&id)
            .ok_or(DataplaneError::UnknownSa(id.0))?;
        self.spis.remove(&info.inbound_spi);
        self.send(Command::RemovePair {
            id,
            inbound_spi: info.inbound_spi,
        })
    }

    fn install_policy(&mut self, policy: Policy) -> Result<()> {
        if let PolicyAction::Protect(sa) = policy.action {
            if !self.pairs.contains_key(&sa) {
                return Err(DataplaneError::PolicyWithoutSa {
                    policy: policy.id.0,
                    sa: sa.0,
                });
            }
        }
        // Reference the new route before releasing the old one, so that
        // replacing a policy (rekey) never removes a route still in use.
        self.route_ref(&policy)?;
        if let Some(old) = self.policies.get(&policy.id).copied() {
            self.route_unref(&old)?;
        }
        self.policies.insert(policy.id, policy);
        self.send(Command::InstallPolicy(policy))
    }

    fn remove_policy(&mut self, id: PolicyId) -> Result<()> {
        let policy = self
            .policies
            .remove(&id)
            .ok_or(DataplaneError::UnknownPolicy(id.0))?;
        self.send(Command::RemovePolicy(id))?;
        self.route_unref(&policy)
    }

    fn counters_many(&mut self, ids: &[SaId]) -> Vec<Option<SaPairCounters>> {
        let pairs: Vec<Option<(SaId, u32)>> = ids
            .iter()
            .map(|id| self.pairs.get(id).map(|p| (*id, p.inbound_spi)))
            .collect();
        let (tx, rx) = mpsc::sync_channel(1);
        let asked = self.send(Command::CountersMany { pairs, reply: tx });
        let answer = asked
            .ok()
            .and_then(|()| rx.recv_timeout(Duration::from_secs(5)).ok());
        match answer {
            Some(all) if all.len() == ids.len() => all,
            _ => vec![None; ids.len()],
        }
    }

    fn counters(&mut self, id: SaId) -> Result<SaPairCounters> {
        let info = self.pairs.get(&id).ok_or(DataplaneError::UnknownSa(id.0))?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Command::Counters {
            id,
            inbound_spi: info.inbound_spi,
            reply: tx,
        })?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| DataplaneError::WorkerGone)?
            .ok_or(DataplaneError::UnknownSa(id.0))
    }

    fn poll_event(&mut self) -> Option<KernelEvent> {
        if let Ok(ev) = self.events.try_recv() {
            return Some(ev);
        }
        // Queue empty: reset the fd, then look once more for an event sent
        // before the reset (one sent after it makes the fd readable again).
        self.events_fd.drain();
        self.events.try_recv().ok()
    }

    fn event_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.events_fd.fd())
    }

    fn add_udp_socket(&mut self, socket: UdpSocket) -> Result<()> {
        // A removed socket's slot is used again.
        let index = self
            .udp
            .iter()
            .position(|u| u.sock.is_none())
            .unwrap_or(self.udp.len());
        if index >= MAX_UDP_SOCKETS {
            return Err(DataplaneError::Unsupported {
                backend: "userspace",
                what: "more ESP-in-UDP sockets than MAX_UDP_SOCKETS",
            });
        }
        let handle = setup_udp(&socket, self.udp_setup)?;
        self.send(Command::AddUdp {
            index,
            sock: socket,
        })?;
        match self.udp.get_mut(index) {
            Some(slot) => *slot = handle,
            None => self.udp.push(handle),
        }
        Ok(())
    }

    fn remove_udp_socket(&mut self, local: SocketAddr) -> Result<bool> {
        let Some((index, _)) = self.open_udp().find(|(_, u)| u.local == local) else {
            return Ok(false);
        };
        if self.pairs.values().any(|p| p.sock == index) {
            return Err(DataplaneError::Unsupported {
                backend: "userspace",
                what: "removing an ESP-in-UDP socket that an installed SA sends from",
            });
        }
        self.send(Command::RemoveUdp(index))?;
        if let Some(slot) = self.udp.get_mut(index) {
            slot.sock = None;
        }
        Ok(true)
    }

    fn set_tcp_sink(&mut self, id: SaId, sink: Arc<dyn crate::tcp_encap::EspSink>) -> Result<()> {
        if !self.pairs.contains_key(&id) {
            return Err(DataplaneError::UnknownSa(id.0));
        }
        self.send(Command::SetTcpSink { id, sink })
    }

    fn esp_injector(&self) -> Option<crate::tcp_encap::EspInjector> {
        Some(crate::tcp_encap::EspInjector {
            commands: self.commands.clone(),
            wake: self.wake.clone(),
            wake_pending: self.wake_pending.clone(),
            queued: self.injected.clone(),
        })
    }
}

impl Drop for Userspace {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify();
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
        let _ = self.route_socket.remove_bypass_rules(self.rules);
    }
}

#[cfg(test)]
mod tests {
    use super::pick_socket;
    use std::net::SocketAddr;

    #[test]
    fn an_sa_sends_from_the_socket_of_its_local_address() {
        let locals: Vec<SocketAddr> = ["192.0.2.1:4500", "192.0.2.11:4500", "[2001:db8::1]:4500"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(pick_socket(&locals, "192.0.2.11".parse().unwrap()), 1);
        assert_eq!(pick_socket(&locals, "2001:db8::1".parse().unwrap()), 2);
        // An address without its own socket: one of its family.
        assert_eq!(pick_socket(&locals, "2001:db8::9".parse().unwrap()), 2);
        assert_eq!(pick_socket(&locals, "198.51.100.1".parse().unwrap()), 0);
        // A dual-stack wildcard serves IPv4 too, before a socket of another address.
        let wild: Vec<SocketAddr> = ["[2001:db8::1]:4500", "[::]:4500"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(pick_socket(&wild, "192.0.2.1".parse().unwrap()), 1);
        assert_eq!(pick_socket(&[], "192.0.2.1".parse().unwrap()), 0);
    }
}
