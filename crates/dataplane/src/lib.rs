//! ferroswan crate `dataplane`: the [`Kernel`] boundary between the IKE
//! daemon and the packets, and its userspace backend ([`Userspace`]: TUN +
//! ESP from crate `esp`, ESP-in-UDP or raw ESP sockets).
//!
//! See `docs/dataplane.md` for the design: threads, socket ownership on
//! port 4500, what is missing.

pub mod error;
pub mod gro;
pub mod kernel;
pub mod net;
pub mod offload;
pub mod policy;
mod rtnl;
pub mod selector;
pub mod stats;
mod sys;
pub mod tcp_encap;
mod transport;
pub mod userspace;
mod worker;
pub mod xfrm;

pub use error::{DataplaneError, Result};
pub use kernel::{
    Encapsulation, Expiry, Kernel, KernelEvent, Marks, Mode, Policy, PolicyAction, PolicyId, SaId,
    SaPair, SaPairCounters, XfrmMark,
};
pub use net::IpNet;
pub use selector::{PortRange, ProtoPort, Selector};
pub use stats::DataplaneStats;
pub use tcp_encap::{EspInjector, EspSink};
pub use userspace::{split_local_routing_table, UdpSource, Userspace, UserspaceConfig};
pub use xfrm::{XfrmKernel, XfrmKernelConfig};

/// Moves the calling thread into the named network namespace
/// (`/run/netns/NAME`, as `ip netns add` creates). A [`Userspace`] created
/// afterwards on this thread serves that namespace. For tools and tests that
/// drive several namespaces from one process.
pub fn enter_netns(name: &str) -> Result<()> {
    let path = std::path::Path::new("/run/netns").join(name);
    sys::enter_netns(&path)
        .map_err(|e| DataplaneError::io(format!("entering network namespace {name}"), e))
}
