//! [`XfrmKernel`]: the [`Kernel`] trait over the Linux XFRM stack.
//!
//! - `allocate_spi`: `XFRM_MSG_ALLOCSPI`. The trait names no addresses, so
//!   the larval SA that reserves the SPI is keyed to the unspecified
//!   address; `install_sa_pair` installs the real inbound SA for
//!   (our address, SPI) and deletes the larval one. The kernel expires an
//!   unused larval SA after `net.core.xfrm_acq_expires` (30 s by default).
//! - `install_sa_pair`: the outbound and inbound SAs (`XFRM_MSG_NEWSA`, or
//!   `UPDSA` when the pair replaces one with the same SPI), with the pair's
//!   transform, keys, mode, ESP-in-UDP ports, replay window, ESN and
//!   byte/packet lifetimes. All pairs between the same traffic selectors
//!   share one reqid (a rekeyed Child SA keeps its reqid, so the inbound
//!   policy accepts the old and the new SA while both live).
//! - `install_policy`: `Protect` gives out, in and fwd policies (in and out
//!   in transport mode) whose template names the pair's reqid and tunnel
//!   endpoints; `Trap` gives an outbound policy with a transport template
//!   and a reqid of its own, so the first packet makes the kernel send an
//!   ACQUIRE; `Pass`/`Drop` give out, in and fwd policies without template
//!   (allow/block). More specific selectors get better (lower) priorities,
//!   and shunts beat tunnels of the same selectors. The remote subnet is
//!   routed the way the kernel reaches the peer (see [`super::routes`]).
//! - `poll_event`: ACQUIRE → [`KernelEvent::Acquire`] (matched by reqid);
//!   EXPIRE → [`KernelEvent::Expire`] (matched by destination and SPI).
//!
//! How pluto uses it:
//!
//! ```no_run
//! use dataplane::{Kernel, KernelEvent, XfrmKernel, XfrmKernelConfig};
//! use dataplane::xfrm::kernel_supports_esp;
//!
//! // At start-up: protostack=xfrm only when the kernel has ESP.
//! let esp = kernel_supports_esp();
//! if !esp.is_supported() {
//!     eprintln!("protostack=xfrm unavailable: {esp}; using userspace");
//! }
//! let mut kernel = XfrmKernel::open(XfrmKernelConfig::default())?;
//! // Every IKE socket, right after bind: 500 without, 4500 with ESP-in-UDP.
//! let ike = std::net::UdpSocket::bind("0.0.0.0:500").expect("bind");
//! let natt = std::net::UdpSocket::bind("0.0.0.0:4500").expect("bind");
//! XfrmKernel::prepare_ike_socket(&ike, false)?;
//! XfrmKernel::prepare_ike_socket(&natt, true)?;
//! // The event loop watches kernel.event_fd() and then drains:
//! while let Some(ev) = kernel.poll_event() {
//!     match ev {
//!         KernelEvent::Acquire { policy, .. } => { /* initiate the trap's connection */ }
//!         KernelEvent::Expire { sa, expiry, .. } => { /* rekey (soft) or replace (hard) */ }
//!         _ => {}
//!     }
//! }
//! # Ok::<(), dataplane::DataplaneError>(())
//! ```
//!
//! Held packets: whether the kernel queues packets of a trap while IKE
//! negotiates depends on the namespace's `net.core.xfrm_larval_drop`
//! sysctl (1, the default: drop), not on the policy; `Trap { hold }` does
//! not change it.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use esp::SaCounters as EspCounters;

use super::error::XfrmError;
use super::monitor::{XfrmEvent, XfrmMonitor};
use super::policy::{Direction, Policy as XPolicy, PolicyId as XPolicyId, Template};
use super::routes::{self, Route};
use super::sa::{SaConfig, SaId as XSaId, SpiRequest};
use super::translate;
use super::types::IpsecProto;
use super::Migration;
use super::{FlushReport, Xfrm};
use crate::error::{DataplaneError, Result};
use crate::kernel::{
    Expiry, Kernel, KernelEvent, Marks, Mode, Policy, PolicyAction, PolicyId, SaId, SaPair,
    SaPairCounters, XfrmMark,
};
use crate::net::IpNet;

/// How an [`XfrmKernel`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XfrmKernelConfig {
    /// Serve the network namespace `/run/netns/NAME` (its XFRM sockets are
    /// opened there and routes are set with `ip -n NAME`); `None`, as pluto
    /// uses it: the caller's namespace.
    pub netns: Option<String>,
    /// First reqid handed out; pluto's connections use 16384 and up
    /// (`Xfrm::flush_reqids` cleans up after a crash with the same range).
    pub reqid_base: u32,
    /// Lowest SPI [`Kernel::allocate_spi`] returns (at least 0x100).
    pub spi_min: u32,
    /// Highest SPI [`Kernel::allocate_spi`] returns.
    pub spi_max: u32,
    /// Route remote subnets as the peer is reached (with `leftsourceip`).
    pub routes: bool,
}

impl Default for XfrmKernelConfig {
    fn default() -> Self {
        XfrmKernelConfig {
            netns: None,
            reqid_base: 16384,
            spi_min: 0x100,
            spi_max: 0xffff_ffff,
            routes: true,
        }
    }
}

/// An installed SA pair.
#[derive(Debug, Clone)]
struct PairState {
    reqid: u32,
    outbound: XSaId,
    inbound: XSaId,
    local: IpAddr,
    remote: IpAddr,
    mode: Mode,
    encapsulation: crate::Encapsulation,
}

/// An installed policy: its kernel policies and its route.
#[derive(Debug, Clone)]
struct PolicyState {
    /// The policy as the caller gave it.
    policy: Policy,
    kernel: Vec<XPolicyId>,
    trap_reqid: Option<u32>,
    route: Option<Route>,
}

/// The XFRM data plane: implements [`Kernel`] with the kernel's SAs and
/// policies. Everything it installed is removed by [`XfrmKernel::flush`]
/// and on drop.
pub struct XfrmKernel {
    xfrm: Xfrm,
    monitor: XfrmMonitor,
    config: XfrmKernelConfig,
    next_reqid: u32,
    /// reqid per (local, remote) traffic selector pair.
    reqids: HashMap<(IpNet, IpNet), u32>,
    /// SPIs handed out by `allocate_spi` and not yet used by an SA pair.
    larval: HashMap<u32, XSaId>,
    pairs: HashMap<SaId, PairState>,
    /// (destination, SPI) of each installed SA → its pair and direction.
    by_spi: HashMap<(IpAddr, u32), (SaId, bool)>,
    policies: HashMap<PolicyId, PolicyState>,
    traps: HashMap<u32, PolicyId>,
    events: VecDeque<KernelEvent>,
}

impl std::fmt::Debug for XfrmKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XfrmKernel")
            .field("config", &self.config)
            .field("pairs", &self.pairs.len())
            .field("policies", &self.policies.len())
            .finish()
    }
}

/// An XFRM error as a data plane error, naming what the data plane did.
fn xerr(what: impl Into<String>, e: XfrmError) -> DataplaneError {
    let kind = match e.errno() {
        Some(n) => std::io::Error::from_raw_os_error(n).kind(),
        None => std::io::ErrorKind::Other,
    };
    DataplaneError::Io {
        what: what.into(),
        source: std::io::Error::new(kind, e),
    }
}

/// A mark in XFRM's type.
fn xmark(m: Option<XfrmMark>) -> Option<super::Mark> {
    m.map(|m| super::Mark {
        value: m.value,
        mask: m.mask,
    })
}

/// Lower is preferred: more specific selectors first, shunts before
/// tunnels and traps of the same selectors.
fn priority(policy: &Policy) -> u32 {
    const BASE: u32 = 1 << 16;
    let specificity = (u32::from(policy.local.prefix()) + u32::from(policy.remote.prefix())) * 8;
    // Limited to a protocol or ports: before all traffic of the same subnets.
    let protoport = if policy.protoport.is_any() { 0 } else { 4 };
    let shunt = match policy.action {
        PolicyAction::Pass | PolicyAction::Drop => 2,
        PolicyAction::Protect(_) | PolicyAction::Trap { .. } => 0,
    };
    BASE - specificity - protoport - shunt
}

/// Most kernel selector pairs one policy may need for its port ranges
/// (each pair gets out/in/fwd policies).
const MAX_SELECTOR_PAIRS: usize = 64;

/// The kernel selector pairs (outbound, inbound) of a policy limited to
/// its protocol and ports. An XFRM selector matches a port under a mask,
/// not a range: a range becomes the fewest aligned blocks
/// ([`super::port_blocks`]), one selector pair per combination of a local
/// and a remote block.
fn limit_selectors(
    policy: &Policy,
    out_sel: crate::xfrm::Selector,
    in_sel: crate::xfrm::Selector,
) -> Result<Vec<(crate::xfrm::Selector, crate::xfrm::Selector)>> {
    let pp = policy.protoport;
    // (port, mask) blocks; `None`: any port.
    let blocks = |r: crate::PortRange| -> Vec<Option<(u16, u16)>> {
        if r.is_any() {
            vec![None]
        } else {
            super::port_blocks(r.start, r.end)
                .into_iter()
                .map(Some)
                .collect()
        }
    };
    let (local, remote) = (blocks(pp.local_ports), blocks(pp.remote_ports));
    if local.len() * remote.len() > MAX_SELECTOR_PAIRS {
        return Err(DataplaneError::Unsupported {
            backend: "xfrm",
            what: "port ranges needing more than 64 kernel selectors per direction \
                   (narrow leftprotoport=/rightprotoport= or the peer's traffic selectors)",
        });
    }
    let set =
        |sel: &mut crate::xfrm::Selector, src: Option<(u16, u16)>, dst: Option<(u16, u16)>| {
            sel.proto = pp.protocol;
            sel.src_port = src.map(|b| b.0);
            sel.src_port_mask = src.map_or(0xffff, |b| b.1);
            sel.dst_port = dst.map(|b| b.0);
            sel.dst_port_mask = dst.map_or(0xffff, |b| b.1);
        };
    let mut out = Vec::with_capacity(local.len() * remote.len());
    for l in &local {
        for r in &remote {
            let (mut o, mut i) = (out_sel, in_sel);
            set(&mut o, *l, *r);
            set(&mut i, *r, *l);
            out.push((o, i));
        }
    }
    Ok(out)
}

impl XfrmKernel {
    /// Opens the XFRM request and event sockets (in `config.netns` when set).
    /// Fails when the kernel has no XFRM netlink or the caller lacks
    /// CAP_NET_ADMIN. Whether ESP SAs can be installed is a separate
    /// question: ask [`super::kernel_supports_esp`] (or
    /// [`XfrmKernel::supports_esp`]) at start-up.
    pub fn open(config: XfrmKernelConfig) -> Result<XfrmKernel> {
        if config.spi_min < 0x100 || config.spi_min > config.spi_max {
            return Err(DataplaneError::Io {
                what: "XFRM data plane configuration".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "SPI range 0x{:x}..=0x{:x} is empty or below 0x100",
                        config.spi_min, config.spi_max
                    ),
                ),
            });
        }
        let (xfrm, monitor) = match &config.netns {
            Some(ns) => {
                let path = PathBuf::from("/run/netns").join(ns);
                let what = || format!("opening XFRM sockets in network namespace {ns}");
                (
                    Xfrm::open_in_netns(&path).map_err(|e| xerr(what(), e))?,
                    XfrmMonitor::open_in_netns(&path).map_err(|e| xerr(what(), e))?,
                )
            }
            None => {
                let what = "opening XFRM sockets";
                (
                    Xfrm::open().map_err(|e| xerr(what, e))?,
                    XfrmMonitor::open().map_err(|e| xerr(what, e))?,
                )
            }
        };
        Ok(XfrmKernel {
            xfrm,
            monitor,
            next_reqid: config.reqid_base,
            config,
            reqids: HashMap::new(),
            larval: HashMap::new(),
            pairs: HashMap::new(),
            by_spi: HashMap::new(),
            policies: HashMap::new(),
            traps: HashMap::new(),
            events: VecDeque::new(),
        })
    }

    /// Prepares one of pluto's IKE sockets for the XFRM data plane:
    /// exempts it from IPsec policies (so IKE to a peer inside a protected
    /// subnet stays in the clear) and, with `nat_t` (the port-4500 socket),
    /// enables `UDP_ENCAP_ESPINUDP` so the kernel takes the ESP-in-UDP
    /// packets arriving on it. Call it on every 500 and 4500 socket, IPv4
    /// and IPv6, right after binding. On a `nat_t` socket the kernel then
    /// delivers only IKE (with its 4-byte non-ESP marker still in front, to
    /// be stripped by pluto) and consumes ESP and NAT keepalives itself.
    pub fn prepare_ike_socket(socket: &impl AsRawFd, nat_t: bool) -> Result<()> {
        super::bypass_ipsec_policy(socket)
            .map_err(|e| xerr("exempting an IKE socket from IPsec policies", e))?;
        if nat_t {
            super::enable_espinudp(socket)
                .map_err(|e| xerr("enabling ESP-in-UDP on the NAT-T socket", e))?;
        }
        Ok(())
    }

    /// Whether this namespace's kernel can install ESP SAs (the start-up
    /// probe: pluto falls back to userspace when it cannot).
    pub fn supports_esp(&self) -> super::EspSupport {
        self.xfrm.probe_esp()
    }

    /// The netlink client underneath, for status displays (`list_sas`).
    pub fn xfrm(&self) -> &Xfrm {
        &self.xfrm
    }

    /// The reqid of the pair `id`, as `ip xfrm state` shows it.
    pub fn reqid(&self, id: SaId) -> Option<u32> {
        self.pairs.get(&id).map(|p| p.reqid)
    }

    /// Removes every policy, route, SA and reserved SPI this instance
    /// installed (policies first, so nothing leaks in clear meanwhile).
    pub fn flush(&mut self) -> Result<FlushReport> {
        let mut first_err = None;
        let ns = self.config.netns.clone();
        for (_, p) in self.policies.drain() {
            if let Some(r) = &p.route {
                if let Err(e) = routes::remove(ns.as_deref(), r) {
                    first_err.get_or_insert(e);
                }
            }
        }
        self.pairs.clear();
        self.by_spi.clear();
        self.larval.clear();
        self.traps.clear();
        let report = self
            .xfrm
            .flush_installed()
            .map_err(|e| xerr("removing the XFRM data plane's SAs and policies", e));
        match (report, first_err) {
            (Ok(r), None) => Ok(r),
            (Err(e), _) | (Ok(_), Some(e)) => Err(e),
        }
    }

    fn reqid_for(&mut self, local: IpNet, remote: IpNet) -> u32 {
        if let Some(r) = self.reqids.get(&(local, remote)) {
            return *r;
        }
        let r = self.next_reqid;
        self.next_reqid = self.next_reqid.wrapping_add(1).max(1);
        self.reqids.insert((local, remote), r);
        r
    }

    fn install_sa(&self, sa: &SaConfig, replace: bool, pair: SaId) -> Result<()> {
        let r = if replace {
            self.xfrm.update_sa(sa)
        } else {
            self.xfrm.add_sa(sa)
        };
        r.map_err(|e| {
            let what = if !e.is_unsupported_by_kernel() {
                format!("installing SA pair {}", pair.0)
            } else if self.xfrm.probe_esp().is_supported() {
                // ESP works with the probe's AES-CBC + HMAC-SHA2-256.
                format!(
                    "installing SA pair {}: the kernel has ESP but not this SA's algorithm \
                     (check /proc/crypto; choose another esp= proposal)",
                    pair.0
                )
            } else {
                format!(
                    "installing SA pair {}: the kernel has no ESP (protostack=xfrm needs the \
                     esp4/esp6 modules or CONFIG_INET_ESP; use protostack=userspace)",
                    pair.0
                )
            };
            xerr(what, e)
        })
    }

    /// The kernel policies of `policy`, and the reqid of a trap.
    fn kernel_policies(
        &mut self,
        policy: &Policy,
        marks: Marks,
    ) -> Result<(Vec<XPolicy>, Option<u32>)> {
        let out_sel = translate::selector(&policy.local, &policy.remote);
        let in_sel = translate::selector(&policy.remote, &policy.local);
        let selectors = limit_selectors(policy, out_sel, in_sel)?;
        let prio = priority(policy);
        let mut v = Vec::new();
        let mut trap = None;
        for (out_sel, in_sel) in selectors {
            match policy.action {
                PolicyAction::Protect(sa) => {
                    let p = self.pairs.get(&sa).ok_or(DataplaneError::PolicyWithoutSa {
                        policy: policy.id.0,
                        sa: sa.0,
                    })?;
                    match p.mode {
                        Mode::Tunnel => {
                            let out = Template::esp_tunnel(p.local, p.remote, p.reqid);
                            let inb = Template::esp_tunnel(p.remote, p.local, p.reqid);
                            v.push(XPolicy::ipsec(out_sel, Direction::Out, out, prio));
                            v.push(XPolicy::ipsec(in_sel, Direction::In, inb, prio));
                            v.push(XPolicy::ipsec(in_sel, Direction::Fwd, inb, prio));
                        }
                        Mode::Transport => {
                            let t = Template::esp_transport(p.reqid);
                            v.push(XPolicy::ipsec(out_sel, Direction::Out, t, prio));
                            v.push(XPolicy::ipsec(in_sel, Direction::In, t, prio));
                        }
                    }
                }
                PolicyAction::Trap { .. } => {
                    let reqid = self.reqid_for(policy.local, policy.remote);
                    trap = Some(reqid);
                    v.push(XPolicy::trap(out_sel, Template::esp_transport(reqid), prio));
                }
                PolicyAction::Pass => {
                    v.push(XPolicy::pass(out_sel, Direction::Out, prio));
                    v.push(XPolicy::pass(in_sel, Direction::In, prio));
                    v.push(XPolicy::pass(in_sel, Direction::Fwd, prio));
                }
                PolicyAction::Drop => {
                    v.push(XPolicy::drop(out_sel, Direction::Out, prio));
                    v.push(XPolicy::drop(in_sel, Direction::In, prio));
                    v.push(XPolicy::drop(in_sel, Direction::Fwd, prio));
                }
            }
        }
        for k in &mut v {
            k.mark = match k.dir {
                Direction::Out => xmark(marks.outbound),
                Direction::In | Direction::Fwd => xmark(marks.inbound),
            };
        }
        Ok((v, trap))
    }

    /// The route for `policy`'s remote subnet: the way to `route_via` (the
    /// nexthop, or a trap's peer), else to a protected pair's tunnel
    /// endpoint, else to the subnet itself. None when routes are off, the
    /// subnet covers everything or contains the peer (host-to-host), or the
    /// kernel has no route toward the target.
    fn route_for(&self, policy: &Policy) -> Option<Route> {
        if !self.config.routes || policy.remote.prefix() == 0 {
            return None;
        }
        let via_hint = policy
            .route_via
            .filter(|a| a.is_ipv4() == policy.remote.addr().is_ipv4());
        let target = match policy.action {
            PolicyAction::Protect(sa) => {
                let p = self.pairs.get(&sa)?;
                if policy.remote.contains(p.remote) {
                    return None;
                }
                Some(via_hint.unwrap_or(p.remote))
            }
            // A host-to-host trap: the peer's own address is the subnet.
            _ => via_hint.filter(|a| !policy.remote.contains(*a)),
        };
        let (via, dev) = routes::lookup(
            self.config.netns.as_deref(),
            target.unwrap_or(policy.remote.addr()),
        )?;
        // An on-link peer or nexthop is its own next hop (Libreswan's %direct).
        let via = via.or(target);
        Some(Route {
            dst: policy.remote,
            via,
            dev,
            src: policy.route_source,
        })
    }

    fn translate_event(&mut self, ev: XfrmEvent) -> Option<KernelEvent> {
        match ev {
            XfrmEvent::Acquire(a) => {
                let policy = a
                    .reqid()
                    .and_then(|r| self.traps.get(&r).copied())
                    .or_else(|| {
                        self.policies.iter().find_map(|(id, p)| {
                            p.kernel
                                .iter()
                                .any(|k| k.dir == Direction::Out && k.selector == a.policy.selector)
                                .then_some(*id)
                        })
                    })?;
                Some(KernelEvent::Acquire {
                    policy,
                    src: a.selector.src.addr,
                    dst: a.selector.dst.addr,
                    protocol: a.selector.proto,
                })
            }
            XfrmEvent::Expire(e) => {
                let (sa, inbound) = *self.by_spi.get(&(e.sa.id.dst, e.sa.id.spi))?;
                Some(KernelEvent::Expire {
                    sa,
                    inbound,
                    expiry: if e.hard { Expiry::Hard } else { Expiry::Soft },
                })
            }
            // Policies ferroswan installs have no lifetimes; a lost event
            // shows up again (an ACQUIRE repeats, an expired SA is gone
            // from `counters`).
            XfrmEvent::PolicyExpire(_) | XfrmEvent::Lost => None,
        }
    }
}

impl Kernel for XfrmKernel {
    fn name(&self) -> &'static str {
        "xfrm"
    }

    fn allocate_spi(&mut self) -> Result<u32> {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut req = SpiRequest::esp(any, any, 0);
        req.min = self.config.spi_min;
        req.max = self.config.spi_max;
        // The kernel checks uniqueness per destination address; ferroswan
        // also keeps SPIs distinct across all its inbound SAs.
        for _ in 0..16 {
            let spi = self
                .xfrm
                .alloc_spi(&req)
                .map_err(|e| xerr("allocating an SPI", e))?;
            let id = XSaId {
                dst: any,
                spi,
                proto: IpsecProto::Esp,
                mark: None,
            };
            let in_use = self.by_spi.keys().any(|(_, s)| *s == spi);
            if !in_use {
                self.larval.insert(spi, id);
                return Ok(spi);
            }
            let _ = self.xfrm.delete_sa(&id);
        }
        Err(DataplaneError::Io {
            what: "allocating an SPI".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "the kernel kept offering SPIs already in use; widen the range 0x{:x}..=0x{:x}",
                    self.config.spi_min, self.config.spi_max
                ),
            ),
        })
    }

    fn install_sa_pair(&mut self, pair: SaPair) -> Result<()> {
        self.install_sa_pair_marked(pair, Marks::NONE)
    }

    fn install_sa_pair_marked(&mut self, pair: SaPair, marks: Marks) -> Result<()> {
        let reqid = match self.pairs.get(&pair.id) {
            Some(old) => old.reqid,
            None => {
                let (l, r) = pair.first_nets();
                self.reqid_for(l, r)
            }
        };
        let bad = |e: String| DataplaneError::Io {
            what: format!("SA pair {}", pair.id.0),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        };
        let mut out = translate::sa_config(&pair, false, reqid).map_err(bad)?;
        let mut inb = translate::sa_config(&pair, true, reqid).map_err(bad)?;
        out.mark = xmark(marks.outbound);
        inb.mark = xmark(marks.inbound);
        if self
            .by_spi
            .get(&(inb.dst, inb.spi))
            .is_some_and(|(owner, _)| *owner != pair.id)
        {
            return Err(DataplaneError::SpiInUse(inb.spi));
        }
        let old = self.pairs.get(&pair.id).cloned();
        let same = |x: &XSaId| {
            old.as_ref()
                .is_some_and(|o| o.outbound == *x || o.inbound == *x)
        };
        self.install_sa(&inb, same(&inb.id()), pair.id)?;
        if let Err(e) = self.install_sa(&out, same(&out.id()), pair.id) {
            if !same(&inb.id()) {
                let _ = self.xfrm.delete_sa(&inb.id());
            }
            return Err(e);
        }
        if let Some(l) = self.larval.remove(&inb.spi) {
            if l != inb.id() {
                let _ = self.xfrm.delete_sa(&l);
            }
        }
        if let Some(o) = &old {
            for x in [o.outbound, o.inbound] {
                if x != out.id() && x != inb.id() {
                    let _ = self.xfrm.delete_sa(&x);
                    self.by_spi.remove(&(x.dst, x.spi));
                }
            }
        }
        self.by_spi.insert((out.dst, out.spi), (pair.id, false));
        self.by_spi.insert((inb.dst, inb.spi), (pair.id, true));
        self.pairs.insert(
            pair.id,
            PairState {
                reqid,
                outbound: out.id(),
                inbound: inb.id(),
                local: pair.local,
                remote: pair.remote,
                mode: pair.mode,
                encapsulation: pair.encapsulation,
            },
        );
        Ok(())
    }

    fn update_sa_endpoints(
        &mut self,
        id: SaId,
        remote: IpAddr,
        encapsulation: crate::Encapsulation,
    ) -> Result<()> {
        let p = self
            .pairs
            .get(&id)
            .cloned()
            .ok_or(DataplaneError::UnknownSa(id.0))?;
        let invalid = |detail: String| DataplaneError::Io {
            what: format!("moving SA pair {} to {remote}", id.0),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, detail),
        };
        if p.local.is_ipv4() != remote.is_ipv4() {
            return Err(invalid(format!(
                "the new peer address is not of the family of our address {}",
                p.local
            )));
        }
        if p.mode == Mode::Transport {
            return Err(DataplaneError::Unsupported {
                backend: "xfrm",
                what: "moving a transport-mode SA pair (its policies name the peer's address); \
                       rekey the Child SA instead",
            });
        }
        let (out_encap, in_encap) = match (p.encapsulation, encapsulation) {
            (crate::Encapsulation::Udp { .. }, crate::Encapsulation::None) => {
                return Err(DataplaneError::Unsupported {
                    backend: "xfrm",
                    what: "moving an ESP-in-UDP SA pair to raw ESP (XFRM_MSG_MIGRATE keeps \
                           the encapsulation); rekey the Child SA instead",
                })
            }
            (_, crate::Encapsulation::None) => (None, None),
            (
                _,
                crate::Encapsulation::Udp {
                    local_port,
                    remote_port,
                },
            ) => (
                Some(super::Encap {
                    src_port: local_port,
                    dst_port: remote_port,
                    original_addr: None,
                }),
                Some(super::Encap {
                    src_port: remote_port,
                    dst_port: local_port,
                    original_addr: None,
                }),
            ),
        };
        // The kernel finds the SAs to move by reqid and addresses: another
        // pair of the same reqid between the same ends (a rekey's
        // predecessor) could be moved in this one's place.
        if self.pairs.iter().any(|(other, o)| {
            *other != id && o.reqid == p.reqid && o.local == p.local && o.remote == p.remote
        }) {
            return Err(DataplaneError::Unsupported {
                backend: "xfrm",
                what: "moving an SA pair while a rekeyed pair of the same Child SA is still \
                       installed; remove the old pair first",
            });
        }
        let protecting: Vec<(PolicyId, Vec<XPolicyId>)> = self
            .policies
            .iter()
            .filter(|(_, st)| st.policy.action == PolicyAction::Protect(id))
            .map(|(pid, st)| (*pid, st.kernel.clone()))
            .collect();
        if protecting.iter().all(|(_, k)| k.is_empty()) {
            // XFRM_MSG_MIGRATE moves SAs only along with a policy.
            return Err(invalid(
                "no policy protects this SA pair yet (install its Protect policy first)".into(),
            ));
        }
        let out_move = Migration {
            old_src: p.local,
            old_dst: p.remote,
            new_src: p.local,
            new_dst: remote,
            proto: IpsecProto::Esp,
            mode: super::Mode::Tunnel,
            reqid: p.reqid,
        };
        let in_move = Migration {
            old_src: p.remote,
            old_dst: p.local,
            new_src: remote,
            new_dst: p.local,
            ..out_move
        };
        let mut new_out = out_move.new_sa_id(p.outbound.spi);
        new_out.mark = p.outbound.mark;
        let what = || format!("moving SA pair {} to {remote}", id.0);
        // Out first (it moves the outbound SA), then in (the inbound SA),
        // then fwd (templates only: the inbound SA has moved already).
        let mut ordered: Vec<XPolicyId> = protecting.iter().flat_map(|(_, k)| k.clone()).collect();
        ordered.sort_by_key(|k| match k.dir {
            Direction::Out => 0,
            Direction::In => 1,
            _ => 2,
        });
        let mut moved_out = false;
        for k in &ordered {
            let first_out = k.dir == Direction::Out && !moved_out;
            let r = match k.dir {
                Direction::Out => {
                    let moved = [(p.outbound, new_out)];
                    let moved: &[_] = if first_out { &moved } else { &[] };
                    self.xfrm.migrate(k, &[out_move], out_encap.as_ref(), moved)
                }
                _ => self.xfrm.migrate(k, &[in_move], in_encap.as_ref(), &[]),
            };
            if let Err(e) = r {
                if e.errno() == Some(libc::ENOPROTOOPT) {
                    return Err(DataplaneError::Unsupported {
                        backend: "xfrm",
                        what: "moving an SA pair: this kernel has no XFRM_MSG_MIGRATE \
                               (CONFIG_XFRM_MIGRATE); rekey the Child SA instead",
                    });
                }
                // Half moved (the outbound SA went, the rest did not): the
                // pair is still ours to remove; the caller should rekey.
                let detail = if moved_out {
                    "; the outbound SA moved already, rekey the Child SA"
                } else {
                    ""
                };
                return Err(xerr(format!("{}{detail}", what()), e));
            }
            if first_out {
                moved_out = true;
                self.by_spi.remove(&(p.outbound.dst, p.outbound.spi));
                self.by_spi.insert((new_out.dst, new_out.spi), (id, false));
                if let Some(st) = self.pairs.get_mut(&id) {
                    st.outbound = new_out;
                }
            }
        }
        if let Some(st) = self.pairs.get_mut(&id) {
            st.remote = remote;
            st.encapsulation = encapsulation;
        }
        // The routes of the protected subnets follow the peer.
        let ns = self.config.netns.clone();
        let mut route_err = None;
        for (pid, _) in &protecting {
            let Some(st) = self.policies.get(pid) else {
                continue;
            };
            let (policy, old_route) = (st.policy, st.route.clone());
            if let Some(r) = &old_route {
                if let Err(e) = routes::remove(ns.as_deref(), r) {
                    route_err.get_or_insert(e);
                }
            }
            let route = match self.route_for(&policy) {
                Some(r) => match routes::add(ns.as_deref(), &r) {
                    Ok(ours) => ours.then_some(r),
                    Err(e) => {
                        route_err.get_or_insert(e);
                        None
                    }
                },
                None => None,
            };
            if let Some(st) = self.policies.get_mut(pid) {
                st.route = route;
            }
        }
        match route_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn remove_sa_pair(&mut self, id: SaId) -> Result<()> {
        let p = self
            .pairs
            .remove(&id)
            .ok_or(DataplaneError::UnknownSa(id.0))?;
        let mut first_err = None;
        for x in [p.outbound, p.inbound] {
            self.by_spi.remove(&(x.dst, x.spi));
            match self.xfrm.delete_sa(&x) {
                Ok(()) => {}
                // A hard lifetime removed it already.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_err.get_or_insert(xerr(format!("removing SA pair {}", id.0), e));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn install_policy(&mut self, policy: Policy) -> Result<()> {
        self.install_policy_marked(policy, Marks::NONE)
    }

    fn install_policy_marked(&mut self, policy: Policy, marks: Marks) -> Result<()> {
        let (kernel, trap) = self.kernel_policies(&policy, marks)?;
        let what = || format!("installing policy {}", policy.id.0);
        let old = self.policies.get(&policy.id).cloned();
        let mut installed = Vec::new();
        for k in &kernel {
            // UPDPOLICY replaces a policy of the same selector and direction
            // (e.g. the trap that this tunnel's policy supersedes).
            if let Err(e) = self.xfrm.update_policy(k) {
                if old.is_none() {
                    for id in &installed {
                        let _ = self.xfrm.delete_policy(id);
                    }
                }
                return Err(xerr(what(), e));
            }
            installed.push(k.id());
        }
        let ns = self.config.netns.clone();
        let mut route_err = None;
        if let Some(o) = &old {
            for id in o.kernel.iter().filter(|id| !installed.contains(id)) {
                let _ = self.xfrm.delete_policy(id);
            }
            if let Some(r) = &o.route {
                if let Err(e) = routes::remove(ns.as_deref(), r) {
                    route_err = Some(e);
                }
            }
            if let Some(r) = o.trap_reqid {
                self.traps.remove(&r);
            }
        }
        // Another of our policies with the same selector was just replaced
        // in the kernel: it no longer owns those kernel policies.
        for (id, p) in self.policies.iter_mut() {
            if *id != policy.id {
                p.kernel.retain(|k| !installed.contains(k));
            }
        }
        // The policies are in; a route that cannot be set is reported, and
        // the policy stays recorded so that remove_policy/flush clean up.
        let route = match self.route_for(&policy) {
            Some(r) => match routes::add(ns.as_deref(), &r) {
                Ok(ours) => ours.then_some(r),
                Err(e) => {
                    route_err.get_or_insert(e);
                    None
                }
            },
            None => None,
        };
        if let Some(r) = trap {
            self.traps.insert(r, policy.id);
        }
        self.policies.insert(
            policy.id,
            PolicyState {
                policy,
                kernel: installed,
                trap_reqid: trap,
                route,
            },
        );
        match route_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn remove_policy(&mut self, id: PolicyId) -> Result<()> {
        let p = self
            .policies
            .remove(&id)
            .ok_or(DataplaneError::UnknownPolicy(id.0))?;
        if let Some(r) = p.trap_reqid {
            self.traps.remove(&r);
        }
        let mut first_err = None;
        for k in &p.kernel {
            match self.xfrm.delete_policy(k) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_err.get_or_insert(xerr(format!("removing policy {}", id.0), e));
                }
            }
        }
        if let Some(r) = &p.route {
            if let Err(e) = routes::remove(self.config.netns.as_deref(), r) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn counters(&mut self, id: SaId) -> Result<SaPairCounters> {
        let p = self.pairs.get(&id).ok_or(DataplaneError::UnknownSa(id.0))?;
        let read = |x: &XSaId| -> Result<EspCounters> {
            let c = self
                .xfrm
                .get_sa(x)
                .map_err(|e| xerr(format!("reading the counters of SA pair {}", id.0), e))?
                .counters;
            Ok(EspCounters {
                packets: c.packets,
                bytes: c.bytes,
                replay_errors: u64::from(c.replay_errors),
                auth_errors: u64::from(c.integrity_failures),
                decode_errors: 0,
            })
        };
        Ok(SaPairCounters {
            outbound: read(&p.outbound)?,
            inbound: read(&p.inbound)?,
        })
    }

    fn poll_event(&mut self) -> Option<KernelEvent> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            match self.monitor.recv(Some(Duration::ZERO)) {
                Ok(Some(ev)) => {
                    if let Some(k) = self.translate_event(ev) {
                        self.events.push_back(k);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    return Some(KernelEvent::Failed {
                        reason: format!("XFRM event socket: {e}"),
                    })
                }
            }
        }
    }

    fn event_fd(&self) -> Option<RawFd> {
        Some(self.monitor.as_raw_fd())
    }
}

impl Drop for XfrmKernel {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str, p: u8) -> IpNet {
        IpNet::new(s.parse().expect("addr"), p).expect("net")
    }

    #[test]
    fn specific_selectors_and_shunts_win() {
        let tunnel = Policy {
            id: PolicyId(1),
            local: net("10.1.0.0", 16),
            remote: net("10.2.0.0", 16),
            action: PolicyAction::Trap { hold: false },
            route_source: None,
            route_via: None,
            protoport: crate::ProtoPort::ANY,
        };
        let narrower = Policy {
            remote: net("10.2.3.0", 24),
            ..tunnel
        };
        let shunt = Policy {
            action: PolicyAction::Pass,
            ..tunnel
        };
        assert!(priority(&narrower) < priority(&tunnel));
        assert!(priority(&shunt) < priority(&tunnel));
        let widest = Policy {
            local: net("0.0.0.0", 0),
            remote: net("0.0.0.0", 0),
            ..tunnel
        };
        let host = Policy {
            local: net("::", 0),
            remote: IpNet::host("2001:db8::1".parse().expect("addr")),
            action: PolicyAction::Drop,
            ..tunnel
        };
        assert!(priority(&widest) > priority(&host));
        // The full IPv6 range still leaves a positive priority.
        let v6 = Policy {
            local: IpNet::host("2001:db8::2".parse().expect("addr")),
            remote: IpNet::host("2001:db8::1".parse().expect("addr")),
            action: PolicyAction::Drop,
            ..tunnel
        };
        assert!(priority(&v6) > 0);
        // TCP to one port of the same subnets goes before all traffic,
        // even before a shunt.
        let tcp = Policy {
            protoport: crate::ProtoPort {
                protocol: 6,
                local_ports: crate::PortRange::ANY,
                remote_ports: crate::PortRange::single(5001),
            },
            ..tunnel
        };
        assert!(priority(&tcp) < priority(&shunt));
        assert!(priority(&tcp) > priority(&narrower));
    }

    #[test]
    fn protocol_and_ports_reach_the_kernel_selectors() {
        let p = Policy {
            id: PolicyId(1),
            local: net("10.1.0.0", 16),
            remote: net("10.2.0.0", 16),
            action: PolicyAction::Trap { hold: false },
            route_source: None,
            route_via: None,
            protoport: crate::ProtoPort {
                protocol: 6,
                local_ports: crate::PortRange::ANY,
                remote_ports: crate::PortRange::single(5001),
            },
        };
        let out_sel = translate::selector(&p.local, &p.remote);
        let in_sel = translate::selector(&p.remote, &p.local);
        let one = limit_selectors(&p, out_sel, in_sel).expect("one port");
        let [(o, i)] = one.as_slice() else {
            panic!("one port gives one selector pair: {one:?}");
        };
        assert_eq!(
            (o.proto, o.src_port, o.dst_port, o.dst_port_mask),
            (6, None, Some(5001), 0xffff)
        );
        assert_eq!(
            (i.proto, i.src_port, i.src_port_mask, i.dst_port),
            (6, Some(5001), 0xffff, None)
        );
        // A range: one selector pair per aligned block, mirrored inbound.
        let range = Policy {
            protoport: crate::ProtoPort {
                remote_ports: crate::PortRange {
                    start: 5000,
                    end: 5010,
                },
                ..p.protoport
            },
            ..p
        };
        let pairs = limit_selectors(&range, out_sel, in_sel).expect("range");
        let out_ports: Vec<_> = pairs
            .iter()
            .map(|(o, _)| (o.dst_port, o.dst_port_mask))
            .collect();
        assert_eq!(
            out_ports,
            [
                (Some(5000), 0xfff8),
                (Some(5008), 0xfffe),
                (Some(5010), 0xffff)
            ]
        );
        assert!(pairs
            .iter()
            .all(|(o, i)| o.dst_port == i.src_port && o.dst_port_mask == i.src_port_mask));
        // Both ends ranges: every combination.
        let both = Policy {
            protoport: crate::ProtoPort {
                local_ports: crate::PortRange {
                    start: 1024,
                    end: 65535,
                },
                ..range.protoport
            },
            ..range
        };
        assert_eq!(
            limit_selectors(&both, out_sel, in_sel)
                .expect("6 x 3")
                .len(),
            18
        );
        // Too many combinations are refused with a reason.
        let worst = crate::PortRange {
            start: 1,
            end: 65534,
        };
        let huge = Policy {
            protoport: crate::ProtoPort {
                protocol: 17,
                local_ports: worst,
                remote_ports: worst,
            },
            ..p
        };
        assert!(matches!(
            limit_selectors(&huge, out_sel, in_sel),
            Err(DataplaneError::Unsupported { .. })
        ));
    }
}
