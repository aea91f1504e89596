//! Counters of the userspace data plane as a whole.

/// Data-plane-wide counters (per-SA counters live in the SAs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataplaneStats {
    /// Packets read from TUN.
    pub tun_rx: u64,
    /// Packets written to TUN.
    pub tun_tx: u64,
    /// ESP packets sent.
    pub esp_tx: u64,
    /// ESP packets received (before checks).
    pub esp_rx: u64,
    /// Outbound packets matching no policy (sent in the clear).
    pub no_policy: u64,
    /// Outbound packets dropped by a drop shunt.
    pub shunt_drops: u64,
    /// Packets from TUN sent in the clear (no policy, or a pass shunt).
    pub clear_tx: u64,
    /// Packets from TUN that could not be sent in the clear (no route in
    /// the main table, ...).
    pub clear_errors: u64,
    /// Packets from TUN to a multicast, broadcast or link-local address
    /// that no policy protects: dropped, since sending them in the clear
    /// would route them back into TUN (the kernel's own MLD and router
    /// solicitations on the device would loop forever).
    pub link_scoped_drops: u64,
    /// Outbound packets that hit a trap policy.
    pub trapped: u64,
    /// Outbound packets whose policy names an SA that is not installed.
    pub no_sa: u64,
    /// Outbound packets that failed ESP (sequence overflow, hard expiry, ...).
    pub encap_errors: u64,
    /// Inbound ESP with an unknown SPI.
    pub unknown_spi: u64,
    /// Inbound ESP that failed checks (replay, ICV, format, lifetime).
    pub decap_errors: u64,
    /// Inner packets whose addresses are outside the SA's traffic selectors.
    pub selector_mismatch: u64,
    /// Packets dropped because the TUN queue was full.
    pub tun_full: u64,
    /// Packets that failed to send on a socket.
    pub send_errors: u64,
    /// IKE messages handed to the daemon from the ESP-in-UDP socket.
    pub ike_forwarded: u64,
    /// NAT keepalives received.
    pub keepalives: u64,
    /// Malformed packets (from TUN or the network).
    pub malformed: u64,
    /// TCP super-packets from TUN cut into segments (offload).
    pub tso_packets: u64,
    /// UDP GSO messages sent (each carrying several ESP packets).
    pub gso_sends: u64,
    /// Packets kept by a holding trap.
    pub held: u64,
    /// Held packets sent once their SA was up.
    pub released: u64,
}
