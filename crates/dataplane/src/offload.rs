//! TUN offloads: the virtio-net header the kernel puts in front of each
//! packet with `IFF_VNET_HDR`, checksum completion for `NEEDS_CSUM`
//! packets, and TCP segmentation of the super-packets (up to 64 KiB) the
//! kernel hands over with TSO, so its TCP stack works in large segments.

use esp::PacketBuf;

/// Length of `struct virtio_net_hdr`.
pub const VNET_HDR_LEN: usize = 10;
const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_ECN: u8 = 0x80;

/// The virtio-net header of one TUN read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_*` flags.
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*` type.
    pub gso_type: u8,
    /// Length of the headers (unreliable; recomputed).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts.
    pub csum_start: u16,
    /// Where the checksum is stored, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Parses the header at the front of `b`.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let h = b.get(..VNET_HDR_LEN)?;
        let le = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        Some(VnetHdr {
            flags: h[0],
            gso_type: h[1],
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        })
    }

    /// Whether the packet is a TCP super-packet to segment.
    pub fn is_tcp_gso(&self) -> bool {
        matches!(self.gso_type & !GSO_ECN, GSO_TCPV4 | GSO_TCPV6)
    }

    /// Whether the packet is a plain packet.
    pub fn is_plain(&self) -> bool {
        self.gso_type == GSO_NONE
    }

    /// Whether the checksum must be completed.
    pub fn needs_csum(&self) -> bool {
        self.flags & F_NEEDS_CSUM != 0
    }
}

/// Adds `data` as big-endian 16-bit words to a one's complement sum.
fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        acc += u64::from(rest[i]) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Completes a partial checksum (`VIRTIO_NET_HDR_F_NEEDS_CSUM`): the one's
/// complement of the sum from `start` to the end, stored at `start + offset`.
pub fn complete_checksum(packet: &mut [u8], start: usize, offset: usize) -> bool {
    let at = start + offset;
    if at + 2 > packet.len() || start > packet.len() {
        return false;
    }
    let c = !fold(sum(&packet[start..], 0));
    packet[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Header layout of a TCP super-packet.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegmenter {
    ipv4: bool,
    ip_len: usize,
    headers: usize,
    gso_size: usize,
    payload: usize,
    next: usize,
    count: usize,
}

impl TcpSegmenter {
    /// Prepares to cut `packet` (IP + TCP + payload) into `gso_size` segments.
    pub fn new(packet: &[u8], gso_size: u16) -> Option<TcpSegmenter> {
        let version = packet.first()? >> 4;
        let (ipv4, ip_len) = match version {
            4 => {
                let ihl = usize::from(packet[0] & 0x0f) * 4;
                if ihl < 20 || *packet.get(9)? != 6 {
                    return None;
                }
                (true, ihl)
            }
            6 => {
                if *packet.get(6)? != 6 {
                    return None; // extension headers are not segmented here
                }
                (false, 40)
            }
            _ => return None,
        };
        let doff = usize::from(packet.get(ip_len + 12)? >> 4) * 4;
        let headers = ip_len + doff;
        if doff < 20 || headers > packet.len() || gso_size == 0 {
            return None;
        }
        let payload = packet.len() - headers;
        let gso_size = usize::from(gso_size);
        Some(TcpSegmenter {
            ipv4,
            ip_len,
            headers,
            gso_size,
            payload,
            next: 0,
            count: payload.div_ceil(gso_size).max(1),
        })
    }

    /// Segments still to write.
    pub fn remaining(&self) -> usize {
        self.count - self.next
    }

    /// Writes the next segment of `packet` into `out` (after `headroom`);
    /// `false` when done or `out` is too small.
    pub fn next_into(&mut self, packet: &[u8], out: &mut PacketBuf, headroom: usize) -> bool {
        if self.next >= self.count {
            return false;
        }
        let i = self.next;
        self.next += 1;
        let off = i * self.gso_size;
        let len = self.gso_size.min(self.payload - off.min(self.payload));
        let seg_len = self.headers + len;
        out.reset(headroom);
        let Some(dst) = out.writable().get_mut(..seg_len) else {
            return false;
        };
        dst[..self.headers].copy_from_slice(&packet[..self.headers]);
        dst[self.headers..].copy_from_slice(&packet[self.headers + off..self.headers + off + len]);
        let first = i == 0;
        let last = self.next == self.count;
        let (ip, tcp) = dst.split_at_mut(self.ip_len);
        // IP header: lengths, IPv4 id and checksum.
        let pseudo = if self.ipv4 {
            ip[2..4].copy_from_slice(&(seg_len as u16).to_be_bytes());
            let id = u16::from_be_bytes([ip[4], ip[5]]).wrapping_add(i as u16);
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            ip[10..12].copy_from_slice(&[0, 0]);
            let c = !fold(sum(ip, 0));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            sum(&ip[12..20], 6 + (seg_len - self.ip_len) as u64)
        } else {
            ip[4..6].copy_from_slice(&((seg_len - 40) as u16).to_be_bytes());
            sum(&ip[8..40], 6 + (seg_len - 40) as u64)
        };
        // TCP header: sequence number, flags, checksum.
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]).wrapping_add(off as u32);
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        const FIN: u8 = 0x01;
        const PSH: u8 = 0x08;
        const CWR: u8 = 0x80;
        if !last {
            tcp[13] &= !(FIN | PSH);
        }
        if !first {
            tcp[13] &= !CWR;
        }
        tcp[16..18].copy_from_slice(&[0, 0]);
        let c = !fold(sum(tcp, pseudo));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        out.set_len(seg_len).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify_tcp(seg: &[u8]) -> bool {
        let (ip_len, pseudo) = if seg[0] >> 4 == 4 {
            let ihl = usize::from(seg[0] & 0xf) * 4;
            assert_eq!(fold(sum(&seg[..ihl], 0)), 0xffff, "IPv4 header checksum");
            (ihl, sum(&seg[12..20], 6 + (seg.len() - ihl) as u64))
        } else {
            (40, sum(&seg[8..40], 6 + (seg.len() - 40) as u64))
        };
        fold(sum(&seg[ip_len..], pseudo)) == 0xffff
    }

    fn super_packet(v6: bool, payload: usize) -> Vec<u8> {
        let mut p = Vec::new();
        if v6 {
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&((20 + payload) as u16).to_be_bytes());
            p.extend_from_slice(&[6, 64]);
            p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            p.extend_from_slice(&[
                0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1, 10, 2, 0, 1,
            ]);
        }
        // TCP: ports, seq 0xfffffff0 (wraps), ack, data offset 5, flags CWR|PSH|FIN|ACK.
        p.extend_from_slice(&[
            0x13, 0x89, 0xc3, 0x50, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 1, 0x50, 0x99, 0xff, 0xff,
        ]);
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend((0..payload).map(|i| (i % 251) as u8));
        p
    }

    #[test]
    fn segments_ipv4_and_ipv6_tcp() {
        for v6 in [false, true] {
            let pkt = super_packet(v6, 3000);
            let mut seg = TcpSegmenter::new(&pkt, 1000).unwrap();
            assert_eq!(seg.remaining(), 3);
            let mut out = PacketBuf::new(4096, 32);
            let mut payload = Vec::new();
            let mut n = 0u32;
            while seg.next_into(&pkt, &mut out, 32) {
                let d = out.data();
                let hl = if v6 { 60 } else { 40 };
                assert_eq!(d.len(), hl + 1000);
                assert!(verify_tcp(d), "checksum of segment {n} (v6 {v6})");
                let tcp = &d[hl - 20..];
                let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
                assert_eq!(seq, 0xffff_fff0u32.wrapping_add(n * 1000));
                let flags = tcp[13];
                assert_eq!(flags & 0x80 != 0, n == 0, "CWR only on the first");
                assert_eq!(flags & 0x09 != 0, n == 2, "FIN/PSH only on the last");
                if !v6 {
                    assert_eq!(u16::from_be_bytes([d[4], d[5]]), 0x1234 + n as u16);
                }
                payload.extend_from_slice(&d[hl..]);
                n += 1;
            }
            assert_eq!(n, 3);
            assert_eq!(payload, pkt[if v6 { 60 } else { 40 }..]);
        }
    }

    #[test]
    fn uneven_last_segment_and_refusals() {
        let pkt = super_packet(false, 2500);
        let mut seg = TcpSegmenter::new(&pkt, 1000).unwrap();
        let mut out = PacketBuf::new(4096, 0);
        let mut lens = Vec::new();
        while seg.next_into(&pkt, &mut out, 0) {
            assert!(verify_tcp(out.data()));
            lens.push(out.len());
        }
        assert_eq!(lens, vec![1040, 1040, 540]);
        assert!(TcpSegmenter::new(&pkt[..30], 1000).is_none());
        assert!(TcpSegmenter::new(&pkt, 0).is_none());
        let mut udp = pkt.clone();
        udp[9] = 17;
        assert!(TcpSegmenter::new(&udp, 1000).is_none());
    }

    #[test]
    fn completes_partial_checksums() {
        let mut pkt = super_packet(false, 333);
        // As the kernel leaves it: the pseudo-header sum, not complemented, in the field.
        let tcp_len = pkt.len() - 20;
        let pseudo = fold(sum(&pkt[12..20], 6 + tcp_len as u64));
        pkt[36..38].copy_from_slice(&pseudo.to_be_bytes());
        let total = pkt.len() as u16;
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        assert!(complete_checksum(&mut pkt, 20, 16));
        assert!(fold(sum(&pkt[20..], sum(&pkt[12..20], 6 + tcp_len as u64))) == 0xffff);
        assert!(!complete_checksum(&mut pkt, 20, 10_000));
    }

    #[test]
    fn parses_vnet_header() {
        let h = VnetHdr::parse(&[1, 0x81, 54, 0, 0xb4, 0x05, 34, 0, 16, 0]).unwrap();
        assert!(h.needs_csum() && h.is_tcp_gso() && !h.is_plain());
        assert_eq!(
            (h.hdr_len, h.gso_size, h.csum_start, h.csum_offset),
            (54, 1460, 34, 16)
        );
        assert!(VnetHdr::parse(&[0; 9]).is_none());
    }
}
