//! Receive-side coalescing for TUN with offloads: consecutive in-order TCP
//! segments of one flow, decapsulated from a batch of ESP packets, are
//! joined into one super-packet with a virtio-net GSO header, so the
//! kernel's TCP stack takes one large packet instead of dozens.

use esp::PacketBuf;

use crate::offload::VNET_HDR_LEN;

const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const F_NEEDS_CSUM: u8 = 1;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
/// Largest IP packet the coalescer builds.
const MAX_SUPER: usize = 65_535;

/// The TCP segment a packet carries, if it may be coalesced.
#[derive(Debug, Clone, Copy)]
struct Segment {
    ipv4: bool,
    ip_len: usize,
    headers: usize,
    seq: u32,
    payload: usize,
    psh: bool,
}

fn tcp_segment(p: &[u8]) -> Option<Segment> {
    let (ipv4, ip_len) = match p.first()? >> 4 {
        4 => {
            // No IP options, not a fragment, TCP.
            if p[0] != 0x45
                || *p.get(9)? != 6
                || u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x3fff != 0
            {
                return None;
            }
            if usize::from(u16::from_be_bytes([p[2], p[3]])) != p.len() {
                return None;
            }
            (true, 20)
        }
        6 => {
            if *p.get(6)? != 6
                || usize::from(u16::from_be_bytes([*p.get(4)?, *p.get(5)?])) + 40 != p.len()
            {
                return None;
            }
            (false, 40)
        }
        _ => return None,
    };
    let tcp = p.get(ip_len..ip_len + 20)?;
    let doff = usize::from(tcp[12] >> 4) * 4;
    let headers = ip_len + doff;
    let flags = tcp[13];
    // Only plain data segments: ACK, optionally PSH.
    if doff < 20 || headers >= p.len() || flags & !TCP_PSH != TCP_ACK {
        return None;
    }
    Some(Segment {
        ipv4,
        ip_len,
        headers,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        payload: p.len() - headers,
        psh: flags & TCP_PSH != 0,
    })
}

/// Joins TCP segments; writes packets through a callback (each with its
/// virtio-net header in front).
pub struct Coalescer {
    buf: PacketBuf,
    seg: Option<Segment>,
    next_seq: u32,
    count: usize,
    closed: bool,
}

impl Default for Coalescer {
    fn default() -> Self {
        Self::new()
    }
}

impl Coalescer {
    /// An empty coalescer with its 64 KiB buffer.
    pub fn new() -> Self {
        Coalescer {
            buf: PacketBuf::new(MAX_SUPER + VNET_HDR_LEN + 64, VNET_HDR_LEN),
            seg: None,
            next_seq: 0,
            count: 0,
            closed: false,
        }
    }

    /// Whether `p` continues the pending super-packet.
    fn continues(&self, p: &[u8], s: &Segment) -> bool {
        let Some(first) = &self.seg else { return false };
        let q = self.buf.data();
        !self.closed
            && s.ipv4 == first.ipv4
            && s.headers == first.headers
            && s.seq == self.next_seq
            && s.payload <= first.payload
            && q.len() + s.payload <= MAX_SUPER
            // Same addresses (and IPv4 TOS/TTL, IPv6 class/flow/hop limit).
            && (if s.ipv4 {
                q[1] == p[1] && q[8] == p[8] && q[12..20] == p[12..20]
            } else {
                q[..4] == p[..4] && q[7..40] == p[7..40]
            })
            // Same ports, ack, data offset, window; same options.
            && q[s.ip_len..s.ip_len + 4] == p[s.ip_len..s.ip_len + 4]
            && q[s.ip_len + 8..s.ip_len + 13] == p[s.ip_len + 8..s.ip_len + 13]
            && q[s.ip_len + 14..s.ip_len + 16] == p[s.ip_len + 14..s.ip_len + 16]
            && q[s.ip_len + 20..s.headers] == p[s.ip_len + 20..s.headers]
    }

    /// Offers one decapsulated IP packet.
    pub fn push(&mut self, p: &[u8], write: &mut impl FnMut(&[u8])) {
        let Some(s) = tcp_segment(p) else {
            self.flush(write);
            write_plain(p, &mut self.buf, write);
            return;
        };
        if self.continues(p, &s) {
            if let Ok(dst) = self.buf.push_back(s.payload) {
                dst.copy_from_slice(&p[s.headers..]);
                self.next_seq = s.seq.wrapping_add(s.payload as u32);
                self.count += 1;
                let first_payload = self.seg.map_or(0, |f| f.payload);
                if s.psh || s.payload < first_payload {
                    if let Some(f) = &mut self.seg {
                        f.psh |= s.psh;
                    }
                    self.closed = true;
                }
                return;
            }
        }
        self.flush(write);
        self.buf.reset(VNET_HDR_LEN);
        if let Ok(dst) = self.buf.push_back(p.len()) {
            dst.copy_from_slice(p);
            self.seg = Some(s);
            self.next_seq = s.seq.wrapping_add(s.payload as u32);
            self.count = 1;
            self.closed = s.psh;
        }
    }

    /// Writes the pending packet, if any.
    pub fn flush(&mut self, write: &mut impl FnMut(&[u8])) {
        let Some(s) = self.seg.take() else { return };
        let count = std::mem::take(&mut self.count);
        let len = self.buf.len();
        if count == 1 {
            // As received: checksums are intact.
            if let Ok(h) = self.buf.push_front(VNET_HDR_LEN) {
                h.fill(0);
                write(self.buf.data());
            }
            return;
        }
        let d = self.buf.data_mut();
        if s.psh {
            d[s.ip_len + 13] |= TCP_PSH;
        }
        let tcp_len = len - s.ip_len;
        let pseudo = if s.ipv4 {
            d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            d[10..12].copy_from_slice(&[0, 0]);
            let c = !fold(sum(&d[..20], 0));
            d[10..12].copy_from_slice(&c.to_be_bytes());
            fold(sum(&d[12..20], 6 + tcp_len as u64))
        } else {
            d[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
            fold(sum(&d[8..40], 6 + tcp_len as u64))
        };
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
        d[s.ip_len + 16..s.ip_len + 18].copy_from_slice(&pseudo.to_be_bytes());
        let gso_size = s.payload as u16;
        if let Ok(h) = self.buf.push_front(VNET_HDR_LEN) {
            h[0] = F_NEEDS_CSUM;
            h[1] = if s.ipv4 { GSO_TCPV4 } else { GSO_TCPV6 };
            h[2..4].copy_from_slice(&(s.headers as u16).to_le_bytes());
            h[4..6].copy_from_slice(&gso_size.to_le_bytes());
            h[6..8].copy_from_slice(&(s.ip_len as u16).to_le_bytes());
            h[8..10].copy_from_slice(&16u16.to_le_bytes());
            write(self.buf.data());
        }
    }
}

fn write_plain(p: &[u8], scratch: &mut PacketBuf, write: &mut impl FnMut(&[u8])) {
    scratch.reset(0);
    if let Ok(dst) = scratch.push_back(VNET_HDR_LEN + p.len()) {
        dst[..VNET_HDR_LEN].fill(0);
        dst[VNET_HDR_LEN..].copy_from_slice(p);
        write(scratch.data());
    }
}

fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u64::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::TcpSegmenter;

    fn super_packet(payload: usize, seq: u32) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1, 10, 2, 0, 1,
        ];
        p.extend_from_slice(&[0x13, 0x89, 0xc3, 0x50]);
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend((0..payload).map(|i| (i % 253) as u8));
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    fn segments(p: &[u8], mss: u16) -> Vec<Vec<u8>> {
        let mut s = TcpSegmenter::new(p, mss).unwrap();
        let mut out = PacketBuf::new(4096, 0);
        let mut v = Vec::new();
        while s.next_into(p, &mut out, 0) {
            v.push(out.data().to_vec());
        }
        v
    }

    #[test]
    fn joins_in_order_segments_back_into_one_super_packet() {
        let original = super_packet(5000, 7);
        let segs = segments(&original, 1380);
        assert_eq!(segs.len(), 4);
        let mut c = Coalescer::new();
        let mut written = Vec::new();
        let mut w = |b: &[u8]| written.push(b.to_vec());
        for s in &segs {
            c.push(s, &mut w);
        }
        c.flush(&mut w);
        assert_eq!(written.len(), 1, "one super-packet");
        let out = &written[0];
        let h = crate::offload::VnetHdr::parse(out).unwrap();
        assert!(h.is_tcp_gso() && h.needs_csum());
        assert_eq!(
            (h.gso_size, h.csum_start, h.csum_offset, h.hdr_len),
            (1380, 20, 16, 40)
        );
        let p = &out[VNET_HDR_LEN..];
        assert_eq!(p.len(), original.len());
        assert_eq!(&p[40..], &original[40..], "payload in order");
        assert_eq!(fold(sum(&p[..20], 0)), 0xffff, "IPv4 header checksum");
        assert_eq!(p[33] & TCP_PSH, TCP_PSH, "PSH of the last segment kept");
    }

    #[test]
    fn gaps_other_flows_and_non_tcp_are_written_apart() {
        let a = segments(&super_packet(2760, 1000), 1380);
        let b = segments(&super_packet(1380, 99_999), 1380);
        let mut icmp = super_packet(10, 0);
        icmp[9] = 1;
        let mut c = Coalescer::new();
        let mut written = Vec::new();
        let mut w = |x: &[u8]| written.push(x.to_vec());
        c.push(&a[0], &mut w);
        c.push(&b[0], &mut w); // sequence gap: a new packet
        c.push(&icmp, &mut w); // not TCP: flushes, written plain
        c.push(&a[1], &mut w);
        c.flush(&mut w);
        assert_eq!(written.len(), 4);
        for x in &written {
            let h = crate::offload::VnetHdr::parse(x).unwrap();
            assert!(h.is_plain() && !h.needs_csum());
        }
        assert_eq!(&written[2][VNET_HDR_LEN..], &icmp[..]);
    }
}
