//! The `Kernel` boundary: what the daemon asks of a data plane, whether
//! the Linux XFRM stack or ferroswan's userspace ESP.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use esp::{SaCounters, SaParams};

use crate::error::Result;
use crate::net::IpNet;
use crate::selector::{ProtoPort, Selector};

pub use esp::SaId;

/// IPsec mode of an SA pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The whole inner packet is protected (`type=tunnel`).
    Tunnel,
    /// Only the transport payload is protected (`type=transport`).
    Transport,
}

/// How ESP travels between the tunnel endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// ESP-in-UDP (RFC 3948) between these ports (normally 4500 both).
    Udp {
        /// Our port.
        local_port: u16,
        /// The peer's port (after NAT, as IKE saw it).
        remote_port: u16,
    },
    /// Plain ESP, IP protocol 50.
    None,
}

/// An outbound + inbound SA pair of one Child SA, as IKE negotiated it.
#[derive(Clone)]
pub struct SaPair {
    /// Identifies the pair (e.g. the Child SA serial); policies refer to it.
    pub id: SaId,
    /// Outbound SA; its SPI is the one the peer chose.
    pub outbound: SaParams,
    /// Inbound SA; its SPI is ours (from [`Kernel::allocate_spi`]).
    pub inbound: SaParams,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our tunnel endpoint address.
    pub local: IpAddr,
    /// The peer's tunnel endpoint address.
    pub remote: IpAddr,
    /// ESP-in-UDP or raw ESP.
    pub encapsulation: Encapsulation,
    /// Our side's traffic selectors (all of those negotiated): inbound
    /// inner packets must be addressed into one of them.
    pub local_ts: Vec<Selector>,
    /// The peer's traffic selectors: inbound inner packets must come from
    /// one of them.
    pub remote_ts: Vec<Selector>,
}

impl fmt::Debug for SaPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaPair")
            .field("id", &self.id)
            .field("outbound", &self.outbound)
            .field("inbound", &self.inbound)
            .field("mode", &self.mode)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("encapsulation", &self.encapsulation)
            .field("local_ts", &self.local_ts)
            .field("remote_ts", &self.remote_ts)
            .finish()
    }
}

impl SaPair {
    /// The peer's address for outbound ESP.
    pub fn remote_socket(&self) -> SocketAddr {
        match self.encapsulation {
            Encapsulation::Udp { remote_port, .. } => SocketAddr::new(self.remote, remote_port),
            Encapsulation::None => SocketAddr::new(self.remote, 0),
        }
    }

    /// The subnets of the first selector pair (ours, the peer's), or the
    /// endpoints when none was given.
    pub fn first_nets(&self) -> (IpNet, IpNet) {
        (
            self.local_ts
                .first()
                .map(|s| s.net)
                .unwrap_or_else(|| IpNet::host(self.local)),
            self.remote_ts
                .first()
                .map(|s| s.net)
                .unwrap_or_else(|| IpNet::host(self.remote)),
        )
    }
}

/// Packets a holding trap keeps per policy while IKE negotiates.
pub const MAX_HELD_PACKETS: usize = 16;

/// Identifies a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId(pub u64);

/// What a policy does with outbound packets from `local` to `remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyAction {
    /// Protect with this SA pair.
    Protect(SaId),
    /// A trap (`auto=route`, `--route`, `--ondemand`): report an acquire.
    /// With `hold` (Libreswan's `negotiationshunt=hold`) up to
    /// [`MAX_HELD_PACKETS`] packets are kept and sent once the policy is
    /// replaced by one that protects with an SA; otherwise they are dropped.
    Trap {
        /// Keep the packets until the SA is up.
        hold: bool,
    },
    /// A pass shunt (`type=passthrough`): send in the clear.
    Pass,
    /// A drop shunt (`type=drop`/`reject`): drop.
    Drop,
}

/// A policy: local subnet <-> remote subnet and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Identifies the policy.
    pub id: PolicyId,
    /// Our subnet (source of outbound packets).
    pub local: IpNet,
    /// The peer's subnet (destination of outbound packets).
    pub remote: IpNet,
    /// The action.
    pub action: PolicyAction,
    /// The source address for the route (Libreswan's `leftsourceip`), if any.
    pub route_source: Option<IpAddr>,
    /// Where the route of `remote` points: the connection's nexthop
    /// (`leftnexthop=`), or for a trap or shunt the peer's address. The
    /// XFRM backend routes `remote` the way the kernel reaches this address
    /// (through it when it is on-link, Libreswan's `%direct`; through its
    /// gateway otherwise), so a routed connection needs no route to the
    /// remote subnet beforehand. `None`: as the pair's peer is reached
    /// (`Protect`), else as the remote subnet itself is. The userspace
    /// backend routes `remote` into its TUN device and does not use it.
    pub route_via: Option<IpAddr>,
    /// The protocol and ports it is limited to (`leftprotoport=`); other
    /// traffic between the subnets is not covered by it.
    pub protoport: ProtoPort,
}

/// An XFRM mark: packets whose `skb->mark & mask == value` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XfrmMark {
    /// The value.
    pub value: u32,
    /// The bits compared.
    pub mask: u32,
}

/// The XFRM marks of a connection's SAs and policies (Libreswan's `mark=`,
/// `mark-in=`, `mark-out=`): the outbound SA and out policies carry
/// `outbound`, the inbound SA and the in/fwd policies `inbound`. Only the
/// XFRM data plane has marks; the others refuse any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Marks {
    /// Mark of the inbound SA and the in/fwd policies.
    pub inbound: Option<XfrmMark>,
    /// Mark of the outbound SA and the out policies.
    pub outbound: Option<XfrmMark>,
}

impl Marks {
    /// No marks.
    pub const NONE: Marks = Marks {
        inbound: None,
        outbound: None,
    };

    /// Whether neither direction has a mark.
    pub fn is_none(&self) -> bool {
        self.inbound.is_none() && self.outbound.is_none()
    }
}

/// The error of a backend without XFRM marks asked for some.
fn marks_unsupported(backend: &'static str) -> crate::error::DataplaneError {
    crate::error::DataplaneError::Unsupported {
        backend,
        what: "XFRM marks (mark=, mark-in=, mark-out=, vti-interface=) need protostack=xfrm",
    }
}

/// Counters of an SA pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaPairCounters {
    /// The outbound SA.
    pub outbound: SaCounters,
    /// The inbound SA.
    pub inbound: SaCounters,
}

/// Which lifetime an SA reached.
pub use esp::Expiry;

/// Something the data plane reports to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// An SA reached a lifetime: rekey (soft) or replace (hard).
    Expire {
        /// The SA pair.
        sa: SaId,
        /// Whether the inbound (true) or outbound SA expired.
        inbound: bool,
        /// Soft or hard.
        expiry: Expiry,
    },
    /// A packet hit a trap policy: start a negotiation.
    Acquire {
        /// The trap policy.
        policy: PolicyId,
        /// The packet's source.
        src: IpAddr,
        /// The packet's destination.
        dst: IpAddr,
        /// The packet's transport protocol.
        protocol: u8,
    },
    /// An IKE message arrived on the ESP-in-UDP socket (non-ESP marker removed).
    IkeDatagram {
        /// Our address and port it arrived on (the bound address).
        local: SocketAddr,
        /// Who sent it.
        remote: SocketAddr,
        /// The IKE message.
        message: Vec<u8>,
    },
    /// The data plane stopped (an I/O error on its TUN or sockets).
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// The operations the daemon needs from a data plane. Implemented by the
/// userspace backend ([`crate::userspace::Userspace`]); an XFRM backend
/// implements the same trait.
pub trait Kernel: Send {
    /// The backend's name for logs (`userspace`, `xfrm`).
    fn name(&self) -> &'static str;

    /// A fresh inbound SPI, unique among this data plane's SAs.
    fn allocate_spi(&mut self) -> Result<u32>;

    /// Installs (or replaces) an outbound + inbound SA pair. Installing an
    /// outbound SPI that is already installed towards the same peer is
    /// refused: a fresh SA restarts its sequence numbers, and with the same
    /// keys that would reuse AES-GCM/ChaCha20 nonces. Use
    /// [`Kernel::update_sa_endpoints`] to move an SA, new SPIs to rekey.
    fn install_sa_pair(&mut self, pair: SaPair) -> Result<()>;

    /// [`Kernel::install_sa_pair`] with XFRM marks on the SAs. Only the
    /// XFRM backend has marks: by default, marks are refused.
    fn install_sa_pair_marked(&mut self, pair: SaPair, marks: Marks) -> Result<()> {
        if marks.is_none() {
            self.install_sa_pair(pair)
        } else {
            Err(marks_unsupported(self.name()))
        }
    }

    /// Moves an installed SA pair to a new peer address and encapsulation
    /// (NAT mapping change, MOBIKE), keeping its sequence numbers and replay
    /// window.
    fn update_sa_endpoints(
        &mut self,
        id: SaId,
        remote: IpAddr,
        encapsulation: Encapsulation,
    ) -> Result<()>;

    /// Removes an SA pair (both directions); its SPI is released.
    fn remove_sa_pair(&mut self, id: SaId) -> Result<()>;

    /// Installs (or replaces) a policy and routes the remote subnet into the data plane.
    fn install_policy(&mut self, policy: Policy) -> Result<()>;

    /// [`Kernel::install_policy`] with XFRM marks on its kernel policies
    /// (out: `marks.outbound`; in and fwd: `marks.inbound`). Only the XFRM
    /// backend has marks: by default, marks are refused.
    fn install_policy_marked(&mut self, policy: Policy, marks: Marks) -> Result<()> {
        if marks.is_none() {
            self.install_policy(policy)
        } else {
            Err(marks_unsupported(self.name()))
        }
    }

    /// Removes a policy (and its route).
    fn remove_policy(&mut self, id: PolicyId) -> Result<()>;

    /// Counters of an SA pair.
    fn counters(&mut self, id: SaId) -> Result<SaPairCounters>;

    /// Counters of several SA pairs, in the order of `ids` (`None` for one
    /// that is not installed); a backend may answer them all at once.
    fn counters_many(&mut self, ids: &[SaId]) -> Vec<Option<SaPairCounters>> {
        ids.iter().map(|id| self.counters(*id).ok()).collect()
    }

    /// The next event, if one is waiting (never blocks).
    fn poll_event(&mut self) -> Option<KernelEvent>;

    /// A file descriptor that becomes readable when events wait (for the
    /// daemon's event loop, e.g. tokio's `AsyncFd`). When it is readable,
    /// call [`Kernel::poll_event`] until it returns `None`.
    fn event_fd(&self) -> Option<std::os::fd::RawFd>;

    /// Hands the data plane another ESP-in-UDP socket (port 4500 on a
    /// local address found after it opened). SAs whose local address is
    /// the socket's send from it. Only the userspace backend reads ESP
    /// from sockets; the others refuse.
    fn add_udp_socket(&mut self, socket: std::net::UdpSocket) -> Result<()> {
        drop(socket);
        Err(crate::error::DataplaneError::Unsupported {
            backend: self.name(),
            what: "ESP-in-UDP sockets handed to the data plane",
        })
    }

    /// Closes the ESP-in-UDP socket bound to `local` that was handed to the
    /// data plane (its address left the host). `Ok(false)` when the data
    /// plane has no such socket; an error while an installed SA sends
    /// from it. Only the userspace backend holds such sockets.
    fn remove_udp_socket(&mut self, local: std::net::SocketAddr) -> Result<bool> {
        let _ = local;
        Ok(false)
    }

    /// Carries an installed SA pair's outbound ESP over a TCP stream
    /// (RFC 8229) through `sink` instead of UDP or raw ESP. Only the
    /// userspace backend does; the others refuse.
    fn set_tcp_sink(
        &mut self,
        id: SaId,
        sink: std::sync::Arc<dyn crate::tcp_encap::EspSink>,
    ) -> Result<()> {
        let _ = (id, sink);
        Err(crate::error::DataplaneError::Unsupported {
            backend: self.name(),
            what: "TCP encapsulation (RFC 8229) needs the userspace data plane \
                   (protostack=userspace)",
        })
    }

    /// A handle that feeds ESP read from TCP streams to this data plane,
    /// when it can take them (userspace).
    fn esp_injector(&self) -> Option<crate::tcp_encap::EspInjector> {
        None
    }
}
