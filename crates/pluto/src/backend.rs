//! The data plane the daemon drives: chosen by `config setup protostack=`,
//! plus the translation from the IKE engine's Child SAs to `dataplane`
//! SA pairs and policies.
//!
//! `protostack=xfrm` (the default) needs a kernel that can install ESP SAs
//! and ferroswan's XFRM backend; when the kernel cannot, the daemon says so
//! and falls back to the userspace data plane, unless `protostack=xfrm` was
//! written explicitly.

use dataplane::userspace::DEFAULT_BYPASS_MARK;
use dataplane::{
    Encapsulation, IpNet, Kernel, KernelEvent, Marks, Mode, Policy, PolicyAction, PolicyId,
    PortRange, ProtoPort, SaId, SaPair, SaPairCounters, Selector, UdpSource, Userspace,
    UserspaceConfig, XfrmKernel, XfrmKernelConfig,
};
use esp::{AesKeySize, Integrity, Lifetime, SaKeys, SaParams, Transform};
use ike::crypto::{EncrAlg, EspKeys, IntegAlg};
use ike::engine::ChildSaInfo;
use ike::wire::TrafficSelector;
use std::net::{IpAddr, UdpSocket};

/// The userspace data plane's TUN device.
pub const USERSPACE_TUN: &str = "ipsec0";

/// The NAT-T port.
pub const NAT_T_PORT: u16 = 4500;

/// Why no data plane could be opened.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// `protostack=xfrm` was asked for and cannot be served.
    #[error("protostack=xfrm: {0}")]
    Xfrm(String),
    /// The data plane failed to start or to act.
    #[error("{0}")]
    Dataplane(#[from] dataplane::DataplaneError),
    /// A socket could not be opened.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Which data plane `config setup protostack=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protostack {
    /// XFRM; `explicit` when the configuration says so (no fallback).
    Xfrm {
        /// `protostack=xfrm` was written.
        explicit: bool,
    },
    /// The userspace data plane.
    Userspace,
}

/// A running data plane.
///
/// The daemon binds UDP 4500 itself, one socket per local address, and
/// keeps each one to send IKE (with the non-ESP marker). With userspace
/// the data plane reads them (ESP, and IKE handed back as
/// [`KernelEvent::IkeDatagram`]) and sends each SA's ESP from the socket of
/// its local address; with XFRM the kernel takes ESP from them
/// (`UDP_ENCAP_ESPINUDP`) and the daemon keeps reading IKE.
pub struct Backend {
    kernel: Box<dyn Kernel>,
    /// The kernel does ESP (XFRM): IKE sockets need
    /// [`Backend::prepare_ike_socket`].
    xfrm: bool,
    /// Log lines from start-up (the fallback), for the caller to log.
    pub notes: Vec<String>,
    /// The userspace data plane's TUN device.
    tun: Option<String>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("kernel", &self.kernel.name())
            .finish_non_exhaustive()
    }
}

/// Clones a socket (one more descriptor of the same socket).
fn clone_socket(sock: &UdpSocket) -> Result<UdpSocket, BackendError> {
    sock.try_clone().map_err(|e| BackendError::Io {
        what: "cloning a port 4500 socket".into(),
        source: e,
    })
}

impl Backend {
    /// Checks at start-up that `protostack` can be served at all: an
    /// explicit `protostack=xfrm` on a kernel that cannot install ESP SAs
    /// makes the daemon refuse to start instead of falling back.
    pub fn check(protostack: Protostack) -> Result<(), BackendError> {
        if let Protostack::Xfrm { explicit: true } = protostack {
            let probe = dataplane::xfrm::kernel_supports_esp();
            if !probe.is_supported() {
                return Err(BackendError::Xfrm(format!(
                    "the kernel cannot install ESP SAs ({probe}); use protostack=userspace"
                )));
            }
        }
        Ok(())
    }

    /// Before the daemon first listens for IKE: when the userspace data
    /// plane may be used (`protostack=userspace`, or the default, which
    /// falls back to it), has the kernel split its local and main routing
    /// tables now rather than when that data plane adds its first rule
    /// (which would drop packets to this host arriving in that instant:
    /// `dataplane::split_local_routing_table`). A failure is returned for
    /// the log; nothing depends on it.
    pub fn prepare_routing(protostack: Protostack) -> Result<(), BackendError> {
        if let Protostack::Xfrm { explicit: true } = protostack {
            return Ok(());
        }
        dataplane::split_local_routing_table(&UserspaceConfig::new(USERSPACE_TUN))?;
        Ok(())
    }

    /// Opens the data plane `protostack` asks for (see the module docs),
    /// given the daemon's port-4500 sockets (one per local address).
    pub fn open(protostack: Protostack, nat_t: Vec<UdpSocket>) -> Result<Backend, BackendError> {
        Self::check(protostack)?;
        let mut notes = Vec::new();
        if let Protostack::Xfrm { explicit } = protostack {
            let probe = dataplane::xfrm::kernel_supports_esp();
            if probe.is_supported() {
                match Self::open_xfrm(&nat_t) {
                    Ok(mut b) => {
                        b.notes
                            .push("using the XFRM data plane (kernel ESP)".into());
                        return Ok(b);
                    }
                    Err(e) if explicit => return Err(BackendError::Xfrm(e.to_string())),
                    Err(e) => notes.push(format!(
                        "protostack=xfrm: cannot open the XFRM data plane ({e}); \
                         falling back to the userspace data plane"
                    )),
                }
            } else {
                notes.push(format!(
                    "protostack=xfrm: the kernel cannot install ESP SAs ({probe}); \
                     falling back to the userspace data plane"
                ));
            }
        }
        // The userspace data plane gets a port-4500 socket when a Child SA
        // with that local address is installed (Wire::hand_nat_t_socket):
        // a host with many addresses need not have all of them polled.
        drop(nat_t);
        let mut b = Self::open_userspace(Vec::new())?;
        notes.append(&mut b.notes);
        b.notes = notes;
        Ok(b)
    }

    /// The XFRM data plane: the kernel does ESP; `UDP_ENCAP_ESPINUDP` is
    /// set on every port-4500 socket, from which the daemon keeps reading IKE.
    fn open_xfrm(nat_t: &[UdpSocket]) -> Result<Backend, BackendError> {
        let kernel = XfrmKernel::open(XfrmKernelConfig::default())?;
        for sock in nat_t {
            XfrmKernel::prepare_ike_socket(sock, true)?;
        }
        Ok(Backend {
            kernel: Box::new(kernel),
            xfrm: true,
            notes: Vec::new(),
            tun: None,
        })
    }

    /// The userspace data plane: a TUN device; it reads the port-4500
    /// sockets and hands IKE on as events.
    fn open_userspace(nat_t: Vec<UdpSocket>) -> Result<Backend, BackendError> {
        let mut notes = Vec::new();
        let spare = nat_t
            .iter()
            .map(clone_socket)
            .collect::<Result<Vec<_>, _>>()?;
        let mut cfg = UserspaceConfig::new(USERSPACE_TUN);
        cfg.udp = UdpSource::Sockets(nat_t);
        cfg.raw_esp = true;
        let user = match Userspace::new(cfg) {
            Ok(u) => u,
            Err(e) => {
                // Raw ESP needs a raw socket; without it ESP-in-UDP only.
                notes.push(format!(
                    "userspace data plane with raw ESP failed ({e}); retrying with ESP-in-UDP only"
                ));
                let mut cfg = UserspaceConfig::new(USERSPACE_TUN);
                cfg.udp = UdpSource::Sockets(spare);
                Userspace::new(cfg)?
            }
        };
        notes.push(format!(
            "using the userspace data plane (TUN device {})",
            user.tun_name()
        ));
        let tun = Some(user.tun_name().to_string());
        Ok(Backend {
            kernel: Box::new(user),
            xfrm: false,
            notes,
            tun,
        })
    }

    /// Prepares an IKE socket for this data plane: with XFRM it is
    /// exempted from IPsec policies, and a port-4500 one (`nat_t`) gets
    /// `UDP_ENCAP_ESPINUDP` (nothing to do for userspace, whose routes skip
    /// the sockets' bypass mark).
    pub fn prepare_ike_socket(
        &self,
        socket: &impl std::os::fd::AsRawFd,
        nat_t: bool,
    ) -> Result<(), BackendError> {
        if self.xfrm {
            XfrmKernel::prepare_ike_socket(socket, nat_t)?;
        }
        Ok(())
    }

    /// Whether the data plane reads the port-4500 sockets itself
    /// (userspace); with XFRM the daemon reads IKE from them.
    pub fn reads_nat_t_sockets(&self) -> bool {
        !self.xfrm
    }

    /// Hands the userspace data plane a port-4500 socket opened after it
    /// started (an address found by `--ready`).
    pub fn add_nat_t_socket(&mut self, socket: UdpSocket) -> Result<(), BackendError> {
        self.kernel.add_udp_socket(socket)?;
        Ok(())
    }

    /// Closes the data plane's duplicate of the port-4500 socket of
    /// `local` (handed to it by [`Backend::add_nat_t_socket`]); `Ok(false)`
    /// when it has none.
    pub fn remove_nat_t_socket(
        &mut self,
        local: std::net::SocketAddr,
    ) -> Result<bool, BackendError> {
        Ok(self.kernel.remove_udp_socket(local)?)
    }

    /// The userspace data plane's TUN device (`None` with XFRM).
    pub fn tun_device(&self) -> Option<String> {
        self.tun.clone()
    }

    /// The backend's name (`userspace`, `xfrm`).
    pub fn name(&self) -> &'static str {
        self.kernel.name()
    }

    /// The data plane's event descriptor.
    pub fn event_fd(&self) -> Option<std::os::fd::RawFd> {
        self.kernel.event_fd()
    }

    /// The next data plane event.
    pub fn poll_event(&mut self) -> Option<KernelEvent> {
        self.kernel.poll_event()
    }

    /// Counters of a Child SA's pair.
    pub fn counters(&mut self, sa: SaId) -> Option<SaPairCounters> {
        self.kernel.counters(sa).ok()
    }

    /// Counters of several Child SAs' pairs, in the order of `sas`, in
    /// one round trip to the data plane where it can.
    pub fn counters_many(&mut self, sas: &[SaId]) -> Vec<Option<SaPairCounters>> {
        self.kernel.counters_many(sas)
    }

    /// Installs a Child SA's SA pair; returns its id.
    pub fn install_child(
        &mut self,
        info: &ChildSaInfo,
        replay_window: u32,
        force_encaps: bool,
        max_bytes: Option<u64>,
        max_packets: Option<u64>,
        marks: Marks,
    ) -> Result<SaId, BackendError> {
        let transform = esp_transform(info, self.kernel.name())?;
        let lifetime = Lifetime {
            soft: Default::default(),
            hard: esp::lifetime::Limits {
                bytes: max_bytes,
                packets: max_packets,
            },
        };
        let params = |spi: u32, keys: &EspKeys, window: u32| SaParams {
            spi,
            transform,
            keys: sa_keys(&transform, keys),
            esn: info.suite.esn,
            replay_window: window,
            lifetime,
        };
        let encapsulation = if info.nat.encapsulate()
            || force_encaps
            || info.remote.port() == NAT_T_PORT
            || info.local.port() == NAT_T_PORT
            || info.remote.is_ipv6()
        {
            Encapsulation::Udp {
                local_port: NAT_T_PORT,
                remote_port: if info.remote.port() == 500 {
                    NAT_T_PORT
                } else {
                    info.remote.port()
                },
            }
        } else {
            Encapsulation::None
        };
        let id = SaId(info.child.0);
        let pair = SaPair {
            id,
            outbound: params(info.outbound_spi, &info.outbound_keys, 0),
            inbound: params(info.inbound_spi, &info.inbound_keys, replay_window),
            mode: match info.mode {
                ike::engine::Mode::Tunnel => Mode::Tunnel,
                ike::engine::Mode::Transport => Mode::Transport,
            },
            local: info.local.ip(),
            remote: info.remote.ip(),
            encapsulation,
            local_ts: info.local_ts.iter().map(ts_selector).collect(),
            remote_ts: info.remote_ts.iter().map(ts_selector).collect(),
        };
        self.kernel.install_sa_pair_marked(pair, marks)?;
        Ok(id)
    }

    /// Carries a Child SA's outbound ESP over a TCP stream (RFC 8229);
    /// only the userspace data plane can.
    pub fn set_tcp_sink(
        &mut self,
        sa: SaId,
        sink: std::sync::Arc<dyn dataplane::EspSink>,
    ) -> Result<(), BackendError> {
        self.kernel.set_tcp_sink(sa, sink)?;
        Ok(())
    }

    /// The data plane's input for ESP read from TCP streams (userspace).
    pub fn esp_injector(&self) -> Option<dataplane::EspInjector> {
        self.kernel.esp_injector()
    }

    /// Removes a Child SA's SA pair.
    pub fn remove_child(&mut self, sa: SaId) -> Result<(), BackendError> {
        self.kernel.remove_sa_pair(sa)?;
        Ok(())
    }

    /// Installs (or replaces) a policy, with the connection's XFRM marks
    /// (refused by the userspace data plane unless there are none).
    pub fn install_policy(&mut self, p: Policy, marks: Marks) -> Result<(), BackendError> {
        self.kernel.install_policy_marked(p, marks)?;
        Ok(())
    }

    /// Removes a policy.
    pub fn remove_policy(&mut self, id: PolicyId) -> Result<(), BackendError> {
        self.kernel.remove_policy(id)?;
        Ok(())
    }
}

/// The policies of a connection: one per (local, remote) selector pair of
/// the same family, with the pair's protocol and ports, numbered from the
/// connection's id; their routes point at `route_via` (the nexthop, or a
/// trap's peer) when it is of the pair's family.
pub fn policies(
    conn_id: u32,
    local: &[Selector],
    remote: &[Selector],
    action: PolicyAction,
    route_source: Option<IpAddr>,
    route_via: Option<IpAddr>,
) -> Vec<Policy> {
    let mut out = Vec::new();
    let mut n = 0u64;
    for l in local {
        for r in remote {
            if l.net.addr().is_ipv4() != r.net.addr().is_ipv4() {
                continue;
            }
            out.push(Policy {
                id: PolicyId(u64::from(conn_id) << 16 | n),
                local: l.net,
                remote: r.net,
                action,
                route_source: route_source.filter(|s| s.is_ipv4() == l.net.addr().is_ipv4()),
                route_via: route_via.filter(|v| v.is_ipv4() == r.net.addr().is_ipv4()),
                protoport: ProtoPort::of(l, r),
            });
            n += 1;
        }
    }
    out
}

fn esp_transform(info: &ChildSaInfo, backend: &'static str) -> Result<Transform, BackendError> {
    let unsupported = |what: &'static str| {
        BackendError::Dataplane(dataplane::DataplaneError::Unsupported { backend, what })
    };
    let integ = match info.suite.integ {
        None => None,
        Some(IntegAlg::HmacSha1_96) => Some(Integrity::HmacSha1_96),
        Some(IntegAlg::HmacSha2_256_128) => Some(Integrity::HmacSha2_256_128),
        Some(IntegAlg::HmacSha2_384_192) => Some(Integrity::HmacSha2_384_192),
        Some(IntegAlg::HmacSha2_512_256) => Some(Integrity::HmacSha2_512_256),
    };
    Ok(match (info.suite.encr, integ) {
        (EncrAlg::AesGcm16_128, None) => Transform::aes_gcm16(AesKeySize::Aes128),
        (EncrAlg::AesGcm16_256, None) => Transform::aes_gcm16(AesKeySize::Aes256),
        (EncrAlg::ChaCha20Poly1305, None) => Transform::chacha20_poly1305(),
        (EncrAlg::AesCbc128, Some(i)) => Transform::aes_cbc(AesKeySize::Aes128, i),
        (EncrAlg::AesCbc256, Some(i)) => Transform::aes_cbc(AesKeySize::Aes256, i),
        _ => return Err(unsupported("this ESP algorithm combination")),
    })
}

fn sa_keys(t: &Transform, k: &EspKeys) -> SaKeys {
    if t.encryption.is_aead() {
        SaKeys::aead(k.encr_keymat().as_bytes())
    } else {
        SaKeys::cipher_integrity(k.encr_key.as_bytes(), k.integ_key.as_bytes())
    }
}

/// The smallest prefix that covers a selector's address range.
pub fn ts_net(ts: &TrafficSelector) -> IpNet {
    let prefix = match (ts.start_addr, ts.end_addr) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u32::from(s) ^ u32::from(e)).leading_zeros() as u8,
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s) ^ u128::from(e)).leading_zeros() as u8,
        _ => 0,
    };
    IpNet::new(ts.start_addr, prefix).unwrap_or_else(|_| IpNet::host(ts.start_addr))
}

/// A traffic selector as the data plane takes it: the prefix that covers
/// its addresses, its protocol and its ports.
pub fn ts_selector(ts: &TrafficSelector) -> Selector {
    Selector {
        net: ts_net(ts),
        protocol: ts.ip_protocol,
        ports: PortRange {
            start: ts.start_port,
            end: ts.end_port,
        },
    }
}

/// Marks a socket so the data plane's routes do not capture its packets
/// (IKE to a peer whose address is protected).
pub fn mark_bypass(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    let mark: libc::c_int = DEFAULT_BYPASS_MARK as libc::c_int;
    // SAFETY: `fd` is an open socket owned by the caller; the option value
    // points to a live c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_to_prefix() {
        let ts = TrafficSelector::from_prefix("10.2.0.0".parse().unwrap(), 16);
        assert_eq!(
            ts_net(&ts),
            IpNet::new("10.2.0.0".parse().unwrap(), 16).unwrap()
        );
        let h = TrafficSelector::host("2001:db8::1".parse().unwrap());
        assert_eq!(ts_net(&h).prefix(), 128);
    }

    #[test]
    fn explicit_xfrm_needs_a_kernel_with_esp() {
        let probe = dataplane::xfrm::kernel_supports_esp();
        let explicit = Backend::check(Protostack::Xfrm { explicit: true });
        if probe.is_supported() {
            assert!(explicit.is_ok(), "{explicit:?}");
        } else {
            let e = explicit.expect_err("refused without ESP").to_string();
            assert!(
                e.starts_with("protostack=xfrm: the kernel cannot install ESP SAs ("),
                "{e}"
            );
            assert!(e.ends_with("use protostack=userspace"), "{e}");
        }
        // The default and userspace never refuse: the default falls back.
        assert!(Backend::check(Protostack::Xfrm { explicit: false }).is_ok());
        assert!(Backend::check(Protostack::Userspace).is_ok());
    }

    #[test]
    fn policies_pair_families() {
        let l = [
            IpNet::new("10.1.0.0".parse().unwrap(), 16).unwrap().into(),
            IpNet::new("2001:db8:1::".parse().unwrap(), 48)
                .unwrap()
                .into(),
        ];
        let r = [IpNet::new("10.2.0.0".parse().unwrap(), 16).unwrap().into()];
        let via = "192.0.2.2".parse().ok();
        let p = policies(3, &l, &r, PolicyAction::Drop, None, via);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].id, PolicyId(3 << 16));
        assert!(p[0].protoport.is_any());
        assert_eq!(p[0].route_via, via);
        // A nexthop of the other family is left out.
        let p = policies(
            3,
            &l,
            &r,
            PolicyAction::Drop,
            None,
            "2001:db8::1".parse().ok(),
        );
        assert_eq!(p[0].route_via, None);
    }

    #[test]
    fn selectors_carry_protocol_and_ports() {
        let mut ts = TrafficSelector::from_prefix("10.2.0.0".parse().unwrap(), 16);
        ts.ip_protocol = 6;
        ts.start_port = 5001;
        ts.end_port = 5001;
        let theirs = ts_selector(&ts);
        assert_eq!(theirs.ports, PortRange::single(5001));
        let mut mine = TrafficSelector::from_prefix("10.1.0.0".parse().unwrap(), 16);
        mine.ip_protocol = 6;
        let p = policies(
            1,
            &[ts_selector(&mine)],
            &[theirs],
            PolicyAction::Drop,
            None,
            None,
        );
        assert_eq!(p[0].protoport.protocol, 6);
        assert_eq!(p[0].protoport.remote_ports, PortRange::single(5001));
        assert!(p[0].protoport.local_ports.is_any());
    }
}
