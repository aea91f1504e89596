//! ferroswan crate `dataplane`: the [`Kernel`] boundary between the IKE
//! daemon and the packets, and its userspace backend ([`Userspace`]: TUN +
//! ESP from crate `esp`, ESP-in-UDP or raw ESP sockets).
//!
//! See `docs/dataplane.md` for the design: threads, socket ownership on
//! port 4500, what is missing.

pub mod error;
pub mod kernel;
pub mod net;
pub mod policy;
pub mod route;
mod sys;
pub mod userspace;
mod worker;

pub use error::{DataplaneError, Result};
pub use kernel::{
    Encapsulation, Expiry, Kernel, KernelEvent, Mode, Policy, PolicyAction, PolicyId, SaId, SaPair,
    SaPairCounters,
};
pub use net::IpNet;
pub use userspace::{UdpSource, Userspace, UserspaceConfig};
pub use worker::DataplaneStats;
