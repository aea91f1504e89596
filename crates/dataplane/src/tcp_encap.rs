//! ESP over TCP (RFC 8229) in the userspace data plane: the hand-over
//! between the daemon, which owns the TCP streams, and the worker thread.
//!
//! - Outbound: the daemon gives the data plane an [`EspSink`] for each SA
//!   pair negotiated over TCP ([`crate::Kernel::set_tcp_sink`]). The worker
//!   encrypts as usual and hands the ESP packet to the sink instead of a
//!   UDP socket; the sink frames it and queues it on the stream's writer
//!   (a full queue drops the packet, as a full UDP socket buffer would).
//! - Inbound: the daemon's stream reader hands ESP frames to an
//!   [`EspInjector`] ([`crate::Kernel::esp_injector`]); the worker
//!   decrypts them like ESP-in-UDP and writes them to TUN.
//!
//! One copy per packet each way: this path trades speed for getting
//! through networks that block UDP.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use crate::sys::EventFd;
use crate::worker::Command;

/// Where the data plane writes an SA pair's outbound ESP when the pair is
/// carried over a TCP stream.
pub trait EspSink: Send + Sync {
    /// Queues one ESP packet (SPI first, no length field) on the stream;
    /// `false` when it was dropped (no stream, or its queue is full).
    fn send_esp(&self, packet: &[u8]) -> bool;
}

/// Feeds ESP packets read from TCP streams to the userspace data plane's
/// worker. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct EspInjector {
    pub(crate) commands: Sender<Command>,
    pub(crate) wake: Arc<EventFd>,
    pub(crate) wake_pending: Arc<AtomicBool>,
    /// Injected packets the worker has not taken yet.
    pub(crate) queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for EspInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspInjector").finish_non_exhaustive()
    }
}

/// Most injected packets waiting for the worker; more are dropped.
pub const MAX_INJECTED: usize = 4096;

impl EspInjector {
    /// Hands one inbound ESP packet (SPI first) to the worker; `false`
    /// when it was dropped: [`MAX_INJECTED`] packets wait already, or the
    /// data plane is gone.
    pub fn inject(&self, packet: Vec<u8>) -> bool {
        if self.queued.fetch_add(1, Ordering::SeqCst) >= MAX_INJECTED {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        if self.commands.send(Command::InboundEsp(packet)).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            self.wake.notify();
        }
        true
    }
}
