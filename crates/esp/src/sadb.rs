//! The SA database of the userspace data plane: outbound SAs by id,
//! inbound SAs by SPI, each with caller data (e.g. traffic selectors).

use std::collections::HashMap;

use crate::buf::PacketBuf;
use crate::error::{EspError, Result};
use crate::lifetime::{Expiry, SaCounters};
use crate::sa::{Decapsulated, Encapsulated, InboundSa, OutboundSa};

/// Identifies an outbound SA (chosen by the caller, e.g. the Child SA serial).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaId(pub u64);

/// Which SA an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaRef {
    /// An outbound SA, by id.
    Outbound(SaId),
    /// An inbound SA, by SPI.
    Inbound(u32),
}

/// A lifetime event of an SA, for the daemon to rekey or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaEvent {
    /// The SA.
    pub sa: SaRef,
    /// Soft or hard.
    pub expiry: Expiry,
}

/// SAs of the userspace data plane. `O` and `I` are data kept with each
/// outbound and inbound SA (for example its tunnel endpoints and selectors).
#[derive(Debug)]
pub struct SaDb<O = (), I = ()> {
    outbound: HashMap<SaId, (OutboundSa, O)>,
    inbound: HashMap<u32, (InboundSa, I)>,
    events: Vec<SaEvent>,
}

impl<O, I> Default for SaDb<O, I> {
    fn default() -> Self {
        SaDb {
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            events: Vec::with_capacity(16),
        }
    }
}

impl<O, I> SaDb<O, I> {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an outbound SA; returns the one replaced.
    pub fn insert_outbound(
        &mut self,
        id: SaId,
        sa: OutboundSa,
        data: O,
    ) -> Option<(OutboundSa, O)> {
        self.outbound.insert(id, (sa, data))
    }

    /// Adds or replaces an inbound SA (keyed by its SPI); returns the one replaced.
    pub fn insert_inbound(&mut self, sa: InboundSa, data: I) -> Option<(InboundSa, I)> {
        self.inbound.insert(sa.spi(), (sa, data))
    }

    /// Removes an outbound SA.
    pub fn remove_outbound(&mut self, id: SaId) -> Option<(OutboundSa, O)> {
        self.outbound.remove(&id)
    }

    /// Removes an inbound SA.
    pub fn remove_inbound(&mut self, spi: u32) -> Option<(InboundSa, I)> {
        self.inbound.remove(&spi)
    }

    /// An outbound SA and its data.
    pub fn outbound(&self, id: SaId) -> Option<&(OutboundSa, O)> {
        self.outbound.get(&id)
    }

    /// The data of an outbound SA, mutable (e.g. to move its peer address
    /// after a NAT change while its sequence numbers go on).
    pub fn outbound_data_mut(&mut self, id: SaId) -> Option<&mut O> {
        self.outbound.get_mut(&id).map(|(_, d)| d)
    }

    /// The data of an inbound SA, mutable.
    pub fn inbound_data_mut(&mut self, spi: u32) -> Option<&mut I> {
        self.inbound.get_mut(&spi).map(|(_, d)| d)
    }

    /// An inbound SA and its data.
    pub fn inbound(&self, spi: u32) -> Option<&(InboundSa, I)> {
        self.inbound.get(&spi)
    }

    /// Counters of an outbound SA.
    pub fn outbound_counters(&self, id: SaId) -> Option<SaCounters> {
        self.outbound.get(&id).map(|(sa, _)| sa.counters())
    }

    /// Counters of an inbound SA.
    pub fn inbound_counters(&self, spi: u32) -> Option<SaCounters> {
        self.inbound.get(&spi).map(|(sa, _)| sa.counters())
    }

    /// Number of outbound and inbound SAs.
    pub fn len(&self) -> (usize, usize) {
        (self.outbound.len(), self.inbound.len())
    }

    /// Whether there are no SAs.
    pub fn is_empty(&self) -> bool {
        self.outbound.is_empty() && self.inbound.is_empty()
    }

    /// Encapsulates `buf` on outbound SA `id`; returns the result and the SA's data.
    pub fn encapsulate(
        &mut self,
        id: SaId,
        buf: &mut PacketBuf,
        next_header: u8,
    ) -> Result<(Encapsulated, &O)> {
        let (sa, data) = self
            .outbound
            .get_mut(&id)
            .ok_or(EspError::UnknownSa { id: id.0 })?;
        let r = sa.encapsulate(buf, next_header)?;
        if let Some(expiry) = r.expiry {
            self.events.push(SaEvent {
                sa: SaRef::Outbound(id),
                expiry,
            });
        }
        Ok((r, data))
    }

    /// Decapsulates the ESP packet in `buf` on the inbound SA named by its SPI.
    pub fn decapsulate(&mut self, buf: &mut PacketBuf) -> Result<(Decapsulated, &I)> {
        let spi = read_spi(buf.data()).ok_or(EspError::Malformed {
            spi: 0,
            len: buf.len(),
            reason: "shorter than an SPI",
        })?;
        let (sa, data) = self
            .inbound
            .get_mut(&spi)
            .ok_or(EspError::UnknownSpi { spi })?;
        let r = sa.decapsulate(buf)?;
        if let Some(expiry) = r.expiry {
            self.events.push(SaEvent {
                sa: SaRef::Inbound(spi),
                expiry,
            });
        }
        Ok((r, data))
    }

    /// Takes the lifetime events gathered since the last call.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, SaEvent> {
        self.events.drain(..)
    }
}

/// The SPI of an ESP packet.
pub fn read_spi(esp: &[u8]) -> Option<u32> {
    let b = esp.get(..4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
