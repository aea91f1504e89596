//! ESP-in-UDP (RFC 3948): telling ESP, IKE and NAT keepalives apart on port 4500.

/// The non-ESP marker: four zero bytes in front of IKE messages on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The NAT-keepalive payload (RFC 3948 2.3).
pub const NAT_KEEPALIVE: u8 = 0xff;

/// The standard NAT-T port.
pub const NAT_T_PORT: u16 = 4500;

/// What a UDP datagram received on the NAT-T port carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapPayload<'a> {
    /// An IKE message (the non-ESP marker removed).
    Ike(&'a [u8]),
    /// An ESP packet (starting with the SPI).
    Esp(&'a [u8]),
    /// A NAT keepalive: drop it.
    Keepalive,
    /// Too short to be any of these: drop it.
    Invalid,
}

/// Classifies a UDP payload received on the NAT-T port.
pub fn classify(payload: &[u8]) -> EncapPayload<'_> {
    match payload {
        [NAT_KEEPALIVE] => EncapPayload::Keepalive,
        [0, 0, 0, 0, ike @ ..] => EncapPayload::Ike(ike),
        // An SPI is never 0 and an ESP header is at least SPI + sequence number.
        p if p.len() >= 8 => EncapPayload::Esp(p),
        _ => EncapPayload::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_rfc3948_payloads() {
        assert_eq!(classify(&[0xff]), EncapPayload::Keepalive);
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2]), EncapPayload::Ike(&[1, 2]));
        let esp = [0, 0, 1, 0, 0, 0, 0, 1, 9];
        assert_eq!(classify(&esp), EncapPayload::Esp(&esp));
        assert_eq!(classify(&[1, 2, 3]), EncapPayload::Invalid);
        assert_eq!(classify(&[]), EncapPayload::Invalid);
    }
}
