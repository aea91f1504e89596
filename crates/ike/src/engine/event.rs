//! What the engine hands to the daemon: datagrams to send and events.

use std::net::SocketAddr;
use std::time::Duration;

use crate::crypto::EspKeys;
use crate::wire::TrafficSelector;

use super::config::{ConnId, Identity, Mode};
use super::proposal::{ChildSuite, IkeSuite};

/// An IKE SA, by its serial number (Libreswan's `#N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

/// A Child SA, by its serial number (`#N`, same counter as IKE SAs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildSaId(pub u64);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address and port (the local IKE socket).
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// UDP payload (with the non-ESP marker on port 4500).
    pub payload: Vec<u8>,
}

/// NAT detection results (RFC 7296 2.23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatInfo {
    /// Our address is translated (the peer saw another source).
    pub local_behind_nat: bool,
    /// The peer's address is translated.
    pub remote_behind_nat: bool,
}

impl NatInfo {
    /// True when ESP must be UDP-encapsulated (RFC 3948).
    pub fn encapsulate(&self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }
}

/// Everything the data plane needs to install a Child SA. The keys are
/// [`EspKeys`] (zeroized on drop, redacted in Debug).
#[derive(Debug, Clone)]
pub struct ChildSaInfo {
    /// The IKE SA it belongs to.
    pub ike_sa: IkeSaId,
    /// Its connection.
    pub conn: ConnId,
    /// The Child SA's serial.
    pub child: ChildSaId,
    /// SPI of the inbound ESP SA (chosen by us).
    pub inbound_spi: u32,
    /// SPI of the outbound ESP SA (chosen by the peer).
    pub outbound_spi: u32,
    /// Algorithms.
    pub suite: ChildSuite,
    /// Keys for inbound packets.
    pub inbound_keys: EspKeys,
    /// Keys for outbound packets.
    pub outbound_keys: EspKeys,
    /// Local traffic selectors as negotiated.
    pub local_ts: Vec<TrafficSelector>,
    /// Remote traffic selectors as negotiated.
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Lifetime before rekey.
    pub lifetime: Duration,
    /// Local IKE endpoint (the outer source address of ESP).
    pub local: SocketAddr,
    /// Remote IKE endpoint (the outer destination of ESP).
    pub remote: SocketAddr,
    /// NAT detection results.
    pub nat: NatInfo,
}

/// Details of an established IKE SA.
#[derive(Debug, Clone)]
pub struct IkeSaInfo {
    /// Its serial.
    pub ike_sa: IkeSaId,
    /// Its connection.
    pub conn: ConnId,
    /// We initiated it.
    pub initiator: bool,
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
    /// Our identity.
    pub local_id: Identity,
    /// The peer's authenticated identity.
    pub remote_id: Identity,
    /// Algorithms.
    pub suite: IkeSuite,
    /// NAT detection results.
    pub nat: NatInfo,
}

/// Something the daemon should act on.
#[derive(Debug, Clone)]
pub enum Event {
    /// An IKE SA is established.
    IkeSaUp(Box<IkeSaInfo>),
    /// An IKE SA is gone (deleted, failed or timed out); its Child SAs
    /// were reported down before.
    IkeSaDown {
        /// The SA.
        ike_sa: IkeSaId,
        /// Its connection.
        conn: ConnId,
        /// Why, in words.
        reason: String,
    },
    /// An IKE SA was rekeyed: its Child SAs now belong to `new`; the old
    /// one goes away without an `IkeSaDown`.
    IkeSaRekeyed {
        /// The old IKE SA.
        old: IkeSaId,
        /// The new one.
        new: Box<IkeSaInfo>,
    },
    /// A Child SA is established: install it.
    ChildSaUp(Box<ChildSaInfo>),
    /// A Child SA we asked for (in IKE_AUTH or CREATE_CHILD_SA) was
    /// refused or could not be accepted; the IKE SA stays unless an
    /// `IkeSaDown` follows.
    ChildSaFailed {
        /// The IKE SA.
        ike_sa: IkeSaId,
        /// Its connection.
        conn: ConnId,
        /// Why, in words (e.g. the notify the peer sent).
        reason: String,
    },
    /// A Child SA replaced an older one (rekey): install the new, then
    /// remove the old after the `ChildSaDown` that follows.
    ChildSaRekeyed {
        /// The Child SA that was rekeyed.
        old: ChildSaId,
        /// Its successor.
        new: Box<ChildSaInfo>,
        /// This end started the CREATE_CHILD_SA exchange. The responder
        /// of a rekey should keep sending on the old SA until the
        /// initiator, who installs the new one only when the response
        /// arrives, deletes the old one (RFC 7296 2.8).
        initiator: bool,
    },
    /// A Child SA is gone: remove it from the data plane.
    ChildSaDown {
        /// The IKE SA it belonged to.
        ike_sa: IkeSaId,
        /// Its connection.
        conn: ConnId,
        /// The Child SA.
        child: ChildSaId,
        /// Its inbound SPI.
        inbound_spi: u32,
        /// Its outbound SPI.
        outbound_spi: u32,
    },
    /// A log line, worded as Libreswan's pluto words it, already prefixed
    /// with `"conn" #N: `.
    Log(String),
}
