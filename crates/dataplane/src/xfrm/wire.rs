//! Netlink framing and the byte layouts of the kernel's XFRM structures
//! (`<linux/xfrm.h>`, x86_64/aarch64 layout: natural alignment, host byte
//! order for counters, network byte order for addresses, SPIs and ports).
//!
//! Everything here is plain byte manipulation with bounds checks; nothing
//! panics on a short or malformed message from the kernel.

use std::net::IpAddr;

use zeroize::Zeroizing;

// ---------------------------------------------------------------- netlink
pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;

// ---------------------------------------------------------------- XFRM messages
pub(crate) const XFRM_MSG_NEWSA: u16 = 0x10;
pub(crate) const XFRM_MSG_DELSA: u16 = 0x11;
pub(crate) const XFRM_MSG_GETSA: u16 = 0x12;
pub(crate) const XFRM_MSG_NEWPOLICY: u16 = 0x13;
pub(crate) const XFRM_MSG_DELPOLICY: u16 = 0x14;
pub(crate) const XFRM_MSG_GETPOLICY: u16 = 0x15;
pub(crate) const XFRM_MSG_ALLOCSPI: u16 = 0x16;
pub(crate) const XFRM_MSG_ACQUIRE: u16 = 0x17;
pub(crate) const XFRM_MSG_EXPIRE: u16 = 0x18;
pub(crate) const XFRM_MSG_UPDPOLICY: u16 = 0x19;
pub(crate) const XFRM_MSG_UPDSA: u16 = 0x1a;
pub(crate) const XFRM_MSG_POLEXPIRE: u16 = 0x1b;

// ---------------------------------------------------------------- attributes
pub(crate) const XFRMA_ALG_AUTH: u16 = 1;
pub(crate) const XFRMA_ALG_CRYPT: u16 = 2;
pub(crate) const XFRMA_ENCAP: u16 = 4;
pub(crate) const XFRMA_TMPL: u16 = 5;
pub(crate) const XFRMA_REPLAY_VAL: u16 = 10;
pub(crate) const XFRMA_ALG_AEAD: u16 = 18;
pub(crate) const XFRMA_ALG_AUTH_TRUNC: u16 = 20;
pub(crate) const XFRMA_MARK: u16 = 21;
pub(crate) const XFRMA_REPLAY_ESN_VAL: u16 = 23;

// ---------------------------------------------------------------- multicast groups
/// Bit of `XFRMNLGRP_ACQUIRE` in the legacy `nl_groups` bind mask.
pub(crate) const XFRMGRP_ACQUIRE: u32 = 1;
/// Bit of `XFRMNLGRP_EXPIRE` in the legacy `nl_groups` bind mask.
pub(crate) const XFRMGRP_EXPIRE: u32 = 2;

// ---------------------------------------------------------------- values
pub(crate) const XFRM_INF: u64 = u64::MAX;
pub(crate) const XFRM_STATE_ESN: u8 = 128;
pub(crate) const UDP_ENCAP_ESPINUDP: u16 = 2;
pub(crate) const AF_INET: u16 = libc::AF_INET as u16;
pub(crate) const AF_INET6: u16 = libc::AF_INET6 as u16;

// ---------------------------------------------------------------- sizes
pub(crate) const SELECTOR_LEN: usize = 56;
pub(crate) const LIFETIME_CFG_LEN: usize = 64;
pub(crate) const USERSA_INFO_LEN: usize = 224;
pub(crate) const USERSA_ID_LEN: usize = 24;
pub(crate) const USERSPI_INFO_LEN: usize = USERSA_INFO_LEN + 8;
pub(crate) const USERPOLICY_INFO_LEN: usize = 168;
pub(crate) const USERPOLICY_ID_LEN: usize = 64;
pub(crate) const USER_TMPL_LEN: usize = 64;
pub(crate) const USER_ACQUIRE_LEN: usize = 280;
pub(crate) const USER_EXPIRE_LEN: usize = USERSA_INFO_LEN + 8;
pub(crate) const ALGO_NAME_LEN: usize = 64;
pub(crate) const ENCAP_TMPL_LEN: usize = 24;
pub(crate) const REPLAY_ESN_HDR_LEN: usize = 24;
/// Largest replay window the kernel accepts (`XFRMA_REPLAY_ESN_MAX` bytes of bitmap).
pub(crate) const REPLAY_WINDOW_MAX: u32 = 4096 * 8;

/// Rounds up to the 4-byte netlink alignment.
pub(crate) const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

// ---------------------------------------------------------------- writing
/// Writes `v` in host byte order at `off`; `buf` is always sized by the caller
/// to hold the whole structure, so the range exists.
pub(crate) fn put_u16(buf: &mut [u8], off: usize, v: u16) {
    if let Some(s) = buf.get_mut(off..off + 2) {
        s.copy_from_slice(&v.to_ne_bytes());
    }
}
pub(crate) fn put_u32(buf: &mut [u8], off: usize, v: u32) {
    if let Some(s) = buf.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_ne_bytes());
    }
}
pub(crate) fn put_u64(buf: &mut [u8], off: usize, v: u64) {
    if let Some(s) = buf.get_mut(off..off + 8) {
        s.copy_from_slice(&v.to_ne_bytes());
    }
}
pub(crate) fn put_bytes(buf: &mut [u8], off: usize, v: &[u8]) {
    if let Some(s) = buf.get_mut(off..off + v.len()) {
        s.copy_from_slice(v);
    }
}
pub(crate) fn put_u8(buf: &mut [u8], off: usize, v: u8) {
    if let Some(s) = buf.get_mut(off) {
        *s = v;
    }
}
/// Writes an `xfrm_address_t` (16 bytes, network order, IPv4 in the first 4).
pub(crate) fn put_addr(buf: &mut [u8], off: usize, addr: Option<IpAddr>) {
    match addr {
        Some(IpAddr::V4(a)) => put_bytes(buf, off, &a.octets()),
        Some(IpAddr::V6(a)) => put_bytes(buf, off, &a.octets()),
        None => {}
    }
}

/// The address family constant for an address.
pub(crate) fn family_of(addr: &IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

// ---------------------------------------------------------------- reading
pub(crate) fn get_u8(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}
pub(crate) fn get_u16(buf: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(off..off + 2)?.try_into().ok()?))
}
pub(crate) fn get_be16(buf: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes(buf.get(off..off + 2)?.try_into().ok()?))
}
pub(crate) fn get_u32(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(off..off + 4)?.try_into().ok()?))
}
pub(crate) fn get_be32(buf: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(off..off + 4)?.try_into().ok()?))
}
pub(crate) fn get_i32(buf: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(buf.get(off..off + 4)?.try_into().ok()?))
}
pub(crate) fn get_u64(buf: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(buf.get(off..off + 8)?.try_into().ok()?))
}
/// Reads an `xfrm_address_t` of the given family.
pub(crate) fn get_addr(buf: &[u8], off: usize, family: u16) -> Option<IpAddr> {
    match family {
        AF_INET => {
            let b: [u8; 4] = buf.get(off..off + 4)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        AF_INET6 => {
            let b: [u8; 16] = buf.get(off..off + 16)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}
/// Reads a NUL-terminated C string from a fixed-size field.
pub(crate) fn get_cstr(buf: &[u8], off: usize, len: usize) -> Option<String> {
    let field = buf.get(off..off + len)?;
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    Some(String::from_utf8_lossy(field.get(..end)?).into_owned())
}

// ---------------------------------------------------------------- message building
/// A netlink request under construction. The buffer is zeroized on drop
/// because SA messages carry keys.
pub(crate) struct MsgBuilder {
    buf: Zeroizing<Vec<u8>>,
}

impl MsgBuilder {
    /// Starts a message of `msg_type` with `flags`; seq and pid are set at send time.
    pub(crate) fn new(msg_type: u16, flags: u16) -> Self {
        let mut buf = Zeroizing::new(vec![0u8; NLMSG_HDRLEN]);
        put_u16(&mut buf, 4, msg_type);
        put_u16(&mut buf, 6, flags);
        MsgBuilder { buf }
    }

    /// Appends the fixed header structure (already aligned sizes).
    pub(crate) fn payload(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.pad();
    }

    /// Appends one attribute (`struct nlattr` + data, padded).
    pub(crate) fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        let mut hdr = [0u8; 4];
        put_u16(&mut hdr, 0, len as u16);
        put_u16(&mut hdr, 2, kind);
        self.buf.extend_from_slice(&hdr);
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        let want = align4(self.buf.len());
        self.buf.resize(want, 0);
    }

    /// Finishes the message with `seq`, returning its bytes.
    pub(crate) fn finish(mut self, seq: u32) -> Zeroizing<Vec<u8>> {
        let len = self.buf.len() as u32;
        put_u32(&mut self.buf, 0, len);
        put_u32(&mut self.buf, 8, seq);
        self.buf
    }
}

// ---------------------------------------------------------------- message parsing
/// One netlink message inside a received datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NlMsg<'a> {
    pub(crate) msg_type: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    /// The bytes after the 16-byte header.
    pub(crate) payload: &'a [u8],
}

/// Splits a datagram into netlink messages; stops at the first malformed one.
pub(crate) fn messages(mut data: &[u8]) -> Vec<NlMsg<'_>> {
    let mut out = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let Some(len) = get_u32(data, 0).map(|l| l as usize) else {
            break;
        };
        if len < NLMSG_HDRLEN || len > data.len() {
            break;
        }
        let (Some(msg_type), Some(flags), Some(seq)) =
            (get_u16(data, 4), get_u16(data, 6), get_u32(data, 8))
        else {
            break;
        };
        let Some(payload) = data.get(NLMSG_HDRLEN..len) else {
            break;
        };
        out.push(NlMsg {
            msg_type,
            flags,
            seq,
            payload,
        });
        data = data.get(align4(len).min(data.len())..).unwrap_or(&[]);
    }
    out
}

/// Iterates over the `struct nlattr` TLVs in `data`: yields (type, value).
pub(crate) fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let (Some(len), Some(kind)) = (get_u16(data, 0), get_u16(data, 2)) else {
            break;
        };
        let len = len as usize;
        if len < 4 || len > data.len() {
            break;
        }
        if let Some(v) = data.get(4..len) {
            // NLA_F_NESTED / NLA_F_NET_BYTEORDER live in the top two bits.
            out.push((kind & 0x3fff, v));
        }
        data = data.get(align4(len).min(data.len())..).unwrap_or(&[]);
    }
    out
}

/// The decoded `struct nlmsgerr` of an `NLMSG_ERROR` message.
#[derive(Debug, Clone)]
pub(crate) struct NlError {
    /// 0 for an acknowledgement, else a negative errno.
    pub(crate) error: i32,
    /// The kernel's extended-ack message, when it gave one.
    pub(crate) ext_ack: Option<String>,
}

/// Decodes an `NLMSG_ERROR` payload.
pub(crate) fn parse_error(msg: &NlMsg<'_>) -> Option<NlError> {
    let error = get_i32(msg.payload, 0)?;
    let mut ext_ack = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // After the error code comes the original request header, and its
        // payload too unless the kernel capped it.
        let orig_len = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            get_u32(msg.payload, 4).map(|l| l as usize)?
        };
        let tlv_off = 4 + align4(orig_len);
        if let Some(tlvs) = msg.payload.get(tlv_off..) {
            for (kind, v) in attrs(tlvs) {
                if kind == NLMSGERR_ATTR_MSG {
                    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                    let text = String::from_utf8_lossy(v.get(..end).unwrap_or(&[])).into_owned();
                    if !text.is_empty() {
                        ext_ack = Some(text);
                    }
                }
            }
        }
    }
    Some(NlError { error, ext_ack })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_length_type_and_alignment() {
        let mut m = MsgBuilder::new(XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_ACK);
        m.payload(&[1, 2, 3]);
        m.attr(XFRMA_MARK, &[9; 5]);
        let b = m.finish(77);
        // 16 header + 4 (3 padded) + 4 attr header + 8 (5 padded)
        assert_eq!(b.len(), 32);
        assert_eq!(get_u32(&b, 0), Some(32));
        assert_eq!(get_u16(&b, 4), Some(XFRM_MSG_GETSA));
        assert_eq!(get_u32(&b, 8), Some(77));
        let msgs = messages(&b);
        assert_eq!(msgs.len(), 1);
        let a = attrs(msgs[0].payload.get(4..).unwrap_or(&[]));
        assert_eq!(a, vec![(XFRMA_MARK, &[9u8; 5][..])]);
    }

    #[test]
    fn truncated_input_is_rejected_without_panic() {
        assert!(messages(&[0xff; 10]).is_empty());
        let mut b = vec![0u8; 20];
        put_u32(&mut b, 0, 400); // claims more than present
        assert!(messages(&b).is_empty());
        assert!(attrs(&[8, 0, 1, 0, 1]).is_empty());
        assert_eq!(get_addr(&[1, 2, 3], 0, AF_INET), None);
        assert_eq!(get_addr(&[0; 16], 0, 99), None);
    }

    #[test]
    fn error_with_ext_ack_is_decoded() {
        // nlmsgerr: error, capped original header, then NLMSGERR_ATTR_MSG.
        let mut p = vec![0u8; 4 + NLMSG_HDRLEN];
        put_u32(&mut p, 0, (-libc::ENOSYS) as u32);
        put_u32(&mut p, 4, NLMSG_HDRLEN as u32);
        let text = b"Requested AEAD algorithm not found\0";
        let mut a = vec![0u8; 4];
        put_u16(&mut a, 0, (4 + text.len()) as u16);
        put_u16(&mut a, 2, NLMSGERR_ATTR_MSG);
        a.extend_from_slice(text);
        p.extend_from_slice(&a);
        let msg = NlMsg {
            msg_type: NLMSG_ERROR,
            flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
            seq: 1,
            payload: &p,
        };
        let e = parse_error(&msg).expect("decodes");
        assert_eq!(e.error, -libc::ENOSYS);
        assert_eq!(
            e.ext_ack.as_deref(),
            Some("Requested AEAD algorithm not found")
        );
    }
}
