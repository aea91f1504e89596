//! ferroswan crate `esp`: ESP packet transforms for the userspace data plane.
//!
//! - [`OutboundSa`] / [`InboundSa`]: RFC 4303 ESP in place in a [`PacketBuf`],
//!   with AES-GCM-16 (RFC 4106), ChaCha20-Poly1305 (RFC 7634) and AES-CBC with
//!   HMAC-SHA1-96 / HMAC-SHA2 (RFC 4868), ESN, padding and constant-time ICV checks.
//! - [`ReplayWindow`]: the anti-replay window (RFC 4303 3.4.3, Appendix A).
//! - [`SaDb`]: SAs by id (outbound) and SPI (inbound), lifetime events.
//! - [`udp_encap`]: ESP-in-UDP demultiplexing (RFC 3948).
//!
//! Nothing here allocates per packet.

pub mod buf;
pub mod error;
pub mod lifetime;
pub mod replay;
pub mod sa;
pub mod sadb;
pub mod tcp_encap;
pub mod transform;
pub mod udp_encap;

pub use buf::PacketBuf;
pub use error::{EspError, Result};
pub use lifetime::{Expiry, Lifetime, Limits, SaCounters};
pub use replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW};
pub use sa::{
    tunnel_next_header, Decapsulated, Encapsulated, InboundSa, OutboundSa, SaParams,
    NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE,
};
pub use sadb::{read_spi, SaDb, SaEvent, SaId, SaRef};
pub use transform::{AesKeySize, Encryption, Integrity, SaKeys, Transform};
