//! Transport mode in the userspace data plane: the IP header comes off
//! before ESP and is rebuilt from the SA's endpoints after it.

use std::net::IpAddr;

use esp::PacketBuf;

/// Transport mode, outbound: removes the IP header of the packet in `buf`
/// and returns its protocol (the ESP next header). IPv4 fragments and IPv6
/// extension headers are refused.
pub(crate) fn strip_ip_header(buf: &mut PacketBuf) -> Option<u8> {
    let d = buf.data();
    let (len, nh) = match d.first()? >> 4 {
        4 => {
            let ihl = usize::from(d[0] & 0x0f) * 4;
            let frag = u16::from_be_bytes([*d.get(6)?, *d.get(7)?]) & 0x3fff;
            if ihl < 20 || frag != 0 {
                return None;
            }
            (ihl, *d.get(9)?)
        }
        6 => {
            let nh = *d.get(6)?;
            // Hop-by-hop, routing, fragment, destination options: not handled.
            if matches!(nh, 0 | 43 | 44 | 60) {
                return None;
            }
            (40, nh)
        }
        _ => return None,
    };
    if len > d.len() {
        return None;
    }
    buf.pull_front(len);
    Some(nh)
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in header.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Transport mode, inbound: puts an IP header from `src` to `dst` with
/// protocol `nh` in front of the decrypted payload in `buf`.
pub(crate) fn rebuild_ip_header(buf: &mut PacketBuf, nh: u8, src: IpAddr, dst: IpAddr) -> bool {
    let payload = buf.len();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let Ok(total) = u16::try_from(payload + 20) else {
                return false;
            };
            let Ok(h) = buf.push_front(20) else {
                return false;
            };
            h[..12].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, nh, 0, 0]);
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = ip_checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            true
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let Ok(len) = u16::try_from(payload) else {
                return false;
            };
            let Ok(h) = buf.push_front(40) else {
                return false;
            };
            h[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, nh, 64]);
            h[4..6].copy_from_slice(&len.to_be_bytes());
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_rebuilds_ipv4() {
        let mut pkt = vec![
            0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        pkt.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0, 8, 0, 0]);
        let mut buf = PacketBuf::from_slice(&pkt, 64, 0);
        assert_eq!(strip_ip_header(&mut buf), Some(17));
        assert_eq!(buf.data(), &pkt[20..]);
        assert!(rebuild_ip_header(
            &mut buf,
            17,
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap()
        ));
        let d = buf.data();
        assert_eq!(&d[12..20], &pkt[12..20]);
        assert_eq!(u16::from_be_bytes([d[2], d[3]]), 28);
        assert_eq!(d[9], 17);
        assert_eq!(ip_checksum(&d[..20]), 0, "header checksum verifies");
        // Fragments are refused.
        let mut frag = pkt.clone();
        frag[6] = 0x20;
        assert_eq!(
            strip_ip_header(&mut PacketBuf::from_slice(&frag, 0, 0)),
            None
        );
    }

    #[test]
    fn strips_and_rebuilds_ipv6() {
        let mut pkt = vec![0x60, 0, 0, 0, 0, 4, 58, 64];
        pkt.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        pkt.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        pkt.extend_from_slice(&[128, 0, 0, 0]);
        let mut buf = PacketBuf::from_slice(&pkt, 64, 0);
        assert_eq!(strip_ip_header(&mut buf), Some(58));
        assert!(rebuild_ip_header(
            &mut buf,
            58,
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap()
        ));
        assert_eq!(buf.data(), &pkt[..]);
        // Mixed families cannot be rebuilt; hop-by-hop headers are refused.
        assert!(!rebuild_ip_header(
            &mut buf,
            58,
            "2001:db8::1".parse().unwrap(),
            "192.0.2.2".parse().unwrap()
        ));
        let mut hbh = pkt.clone();
        hbh[6] = 0;
        assert_eq!(
            strip_ip_header(&mut PacketBuf::from_slice(&hbh, 0, 0)),
            None
        );
    }
}
