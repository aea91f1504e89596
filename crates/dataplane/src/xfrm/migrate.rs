//! `XFRM_MSG_MIGRATE`: moving installed SAs and the templates of a policy
//! to new tunnel endpoints (a NAT mapping that changed, MOBIKE), keeping
//! the SAs' SPIs, keys, sequence numbers, replay window and counters (the
//! kernel clones each state with its runtime data, then deletes the old).
//!
//! The kernel migrates per policy: the request names one policy (selector
//! and direction) and up to six moves `(old src, old dst) → (new src, new
//! dst)` for a protocol, mode and reqid. Each move re-addresses the first
//! SA matching it (if any is left to move) and every template of that
//! policy matching it; an optional ESP-in-UDP encapsulation replaces the
//! moved SAs' one. It needs `CONFIG_XFRM_MIGRATE` (ENOPROTOOPT without).

use std::net::IpAddr;

use super::error::{Result, XfrmError};
use super::policy::PolicyId;
use super::sa::{Encap, SaId};
use super::types::{IpsecProto, Mode};
use super::wire::*;
use super::Xfrm;

/// `XFRM_MSG_MIGRATE`.
const XFRM_MSG_MIGRATE: u16 = 0x21;
/// `XFRMA_MIGRATE`: an array of `struct xfrm_user_migrate`.
const XFRMA_MIGRATE: u16 = 17;
/// `sizeof(struct xfrm_user_migrate)`.
const USER_MIGRATE_LEN: usize = 76;
/// `XFRM_MAX_DEPTH`: the most moves one request carries.
const MAX_MOVES: usize = 6;

/// One move: the SA (and templates) between `old_src` and `old_dst` with
/// this protocol, mode and reqid goes to `new_src` → `new_dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Current source (outer) address.
    pub old_src: IpAddr,
    /// Current destination (outer) address.
    pub old_dst: IpAddr,
    /// New source address.
    pub new_src: IpAddr,
    /// New destination address.
    pub new_dst: IpAddr,
    /// ESP or AH.
    pub proto: IpsecProto,
    /// Tunnel or transport.
    pub mode: Mode,
    /// The reqid of the SAs and templates to move.
    pub reqid: u32,
}

impl Migration {
    fn encode(&self) -> [u8; USER_MIGRATE_LEN] {
        let mut b = [0u8; USER_MIGRATE_LEN];
        put_addr(&mut b, 0, Some(self.old_dst));
        put_addr(&mut b, 16, Some(self.old_src));
        put_addr(&mut b, 32, Some(self.new_dst));
        put_addr(&mut b, 48, Some(self.new_src));
        put_u8(&mut b, 64, self.proto.number());
        put_u8(&mut b, 65, self.mode.number());
        put_u32(&mut b, 68, self.reqid);
        put_u16(&mut b, 72, family_of(&self.old_dst));
        put_u16(&mut b, 74, family_of(&self.new_dst));
        b
    }

    /// The id the SA this move addresses has after the move.
    pub fn new_sa_id(&self, spi: u32) -> SaId {
        SaId {
            dst: self.new_dst,
            spi,
            proto: self.proto,
            mark: None,
        }
    }
}

impl Xfrm {
    /// Moves the SAs and the templates of `policy` as `moves` say
    /// (`XFRM_MSG_MIGRATE`), with `encap` as the moved SAs' new ESP-in-UDP
    /// encapsulation (None keeps theirs). The policy must exist (ENOENT
    /// otherwise). `moved` names SAs installed through this handle with
    /// their ids after the move, so [`Xfrm::flush_installed`] follows them.
    pub fn migrate(
        &self,
        policy: &PolicyId,
        moves: &[Migration],
        encap: Option<&Encap>,
        moved: &[(SaId, SaId)],
    ) -> Result<()> {
        if moves.is_empty() || moves.len() > MAX_MOVES {
            return Err(XfrmError::Invalid {
                what: "migration",
                detail: format!("{} moves (1 to {MAX_MOVES} per request)", moves.len()),
            });
        }
        for m in moves {
            let f = family_of(&m.old_dst);
            if family_of(&m.old_src) != f || family_of(&m.new_src) != family_of(&m.new_dst) {
                return Err(XfrmError::Invalid {
                    what: "migration",
                    detail: format!(
                        "{} -> {} to {} -> {} mixes address families within one end pair",
                        m.old_src, m.old_dst, m.new_src, m.new_dst
                    ),
                });
            }
        }
        let mut id = [0u8; USERPOLICY_ID_LEN];
        put_bytes(&mut id, 0, &policy.selector.encode()?);
        put_u8(&mut id, 60, policy.dir.number());
        let mut m = MsgBuilder::new(XFRM_MSG_MIGRATE, NLM_F_REQUEST | NLM_F_ACK);
        m.payload(&id);
        let mut v = Vec::with_capacity(moves.len() * USER_MIGRATE_LEN);
        for mv in moves {
            v.extend_from_slice(&mv.encode());
        }
        m.attr(XFRMA_MIGRATE, &v);
        if let Some(e) = encap {
            m.attr(XFRMA_ENCAP, &e.encode());
        }
        if let Some(mark) = &policy.mark {
            m.attr(XFRMA_MARK, &mark.encode());
        }
        let op = || format!("migrate {policy}");
        self.transact(&op, m, false)?;
        for (old, new) in moved {
            self.forget_sa(old);
            self.remember_sa(*new);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_migrate_layout() {
        let m = Migration {
            old_src: "192.0.2.1".parse().expect("a"),
            old_dst: "192.0.2.2".parse().expect("a"),
            new_src: "192.0.2.1".parse().expect("a"),
            new_dst: "198.51.100.7".parse().expect("a"),
            proto: IpsecProto::Esp,
            mode: Mode::Tunnel,
            reqid: 0x0102_0304,
        };
        let b = m.encode();
        assert_eq!(&b[0..4], &[192, 0, 2, 2]);
        assert_eq!(&b[16..20], &[192, 0, 2, 1]);
        assert_eq!(&b[32..36], &[198, 51, 100, 7]);
        assert_eq!(&b[48..52], &[192, 0, 2, 1]);
        assert_eq!(b[64], 50);
        assert_eq!(b[65], 1);
        assert_eq!(get_u32(&b, 68), Some(0x0102_0304));
        assert_eq!(get_u16(&b, 72), Some(libc::AF_INET as u16));
        assert_eq!(get_u16(&b, 74), Some(libc::AF_INET as u16));
    }
}
