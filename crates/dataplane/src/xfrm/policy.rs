//! Security Policies: IPsec policies with templates, trap policies for
//! `--route`/`--ondemand`, and pass/drop shunts.

use std::fmt;
use std::net::IpAddr;

use super::error::{Result, XfrmError};
use super::types::{IpsecProto, Lifetimes, Mark, Mode, Selector};
use super::wire::*;
use super::Xfrm;

/// The direction a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Packets arriving for this host (`XFRM_POLICY_IN`).
    In,
    /// Packets leaving this host (`XFRM_POLICY_OUT`).
    Out,
    /// Packets forwarded through this host (`XFRM_POLICY_FWD`).
    Fwd,
}

impl Direction {
    pub(crate) fn number(self) -> u8 {
        match self {
            Direction::In => 0,
            Direction::Out => 1,
            Direction::Fwd => 2,
        }
    }
    fn from_number(n: u8) -> Option<Direction> {
        match n {
            0 => Some(Direction::In),
            1 => Some(Direction::Out),
            2 => Some(Direction::Fwd),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Fwd => "fwd",
        })
    }
}

/// What a policy does with matching packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyAction {
    /// Let them through: through the templates' SAs when there are
    /// templates, in clear otherwise (a pass shunt).
    Allow,
    /// Drop them (a drop/reject shunt).
    Block,
}

/// A policy template: which SA (by reqid, protocol, mode and tunnel
/// endpoints) the packets must go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Template {
    /// Tunnel source (outer) address; `None` in transport mode.
    pub src: Option<IpAddr>,
    /// Tunnel destination (outer) address; `None` in transport mode.
    pub dst: Option<IpAddr>,
    /// ESP or AH.
    pub proto: IpsecProto,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Matches the SAs of the same reqid.
    pub reqid: u32,
    /// An optional template (IPcomp-style): traffic may skip it.
    pub optional: bool,
}

impl Template {
    /// An ESP tunnel-mode template between two gateways.
    pub fn esp_tunnel(src: IpAddr, dst: IpAddr, reqid: u32) -> Template {
        Template {
            src: Some(src),
            dst: Some(dst),
            proto: IpsecProto::Esp,
            mode: Mode::Tunnel,
            reqid,
            optional: false,
        }
    }

    /// An ESP transport-mode template.
    pub fn esp_transport(reqid: u32) -> Template {
        Template {
            src: None,
            dst: None,
            proto: IpsecProto::Esp,
            mode: Mode::Transport,
            reqid,
            optional: false,
        }
    }

    fn encode(&self, sel_family: u16) -> Result<[u8; USER_TMPL_LEN]> {
        let family = match (self.src, self.dst) {
            (Some(s), Some(d)) if family_of(&s) != family_of(&d) => {
                return Err(XfrmError::Invalid {
                    what: "template",
                    detail: format!("tunnel endpoints {s} and {d} differ in address family"),
                })
            }
            (Some(a), _) | (_, Some(a)) => family_of(&a),
            (None, None) => sel_family,
        };
        let mut b = [0u8; USER_TMPL_LEN];
        put_addr(&mut b, 0, self.dst);
        put_u8(&mut b, 20, self.proto.number());
        put_u16(&mut b, 24, family);
        put_addr(&mut b, 28, self.src);
        put_u32(&mut b, 44, self.reqid);
        put_u8(&mut b, 48, self.mode.number());
        put_u8(&mut b, 50, u8::from(self.optional));
        put_u32(&mut b, 52, u32::MAX);
        put_u32(&mut b, 56, u32::MAX);
        put_u32(&mut b, 60, u32::MAX);
        Ok(b)
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Template> {
        let family = get_u16(b, 24)?;
        let nonzero = |a: Option<IpAddr>| a.filter(|a| !a.is_unspecified());
        Some(Template {
            dst: nonzero(get_addr(b, 0, family)),
            proto: IpsecProto::from_number(get_u8(b, 20)?)?,
            src: nonzero(get_addr(b, 28, family)),
            reqid: get_u32(b, 44)?,
            mode: Mode::from_number(get_u8(b, 48)?)?,
            optional: get_u8(b, 50)? != 0,
        })
    }
}

/// A security policy to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The traffic it applies to.
    pub selector: Selector,
    /// Its direction.
    pub dir: Direction,
    /// Allow or block.
    pub action: PolicyAction,
    /// Lower values win (Libreswan computes them from the selector's prefix lengths).
    pub priority: u32,
    /// The SAs traffic must pass through (empty for shunts).
    pub templates: Vec<Template>,
    /// Mark.
    pub mark: Option<Mark>,
}

impl Policy {
    /// An IPsec policy: matching traffic goes through the SA of `template`.
    pub fn ipsec(selector: Selector, dir: Direction, template: Template, priority: u32) -> Policy {
        Policy {
            selector,
            dir,
            action: PolicyAction::Allow,
            priority,
            templates: vec![template],
            mark: None,
        }
    }

    /// A trap policy (`--route`, `auto=ondemand`): an outbound IPsec policy
    /// whose SA does not exist yet, so the first matching packet makes the
    /// kernel send an ACQUIRE (see [`super::XfrmMonitor`]).
    pub fn trap(selector: Selector, template: Template, priority: u32) -> Policy {
        Policy::ipsec(selector, Direction::Out, template, priority)
    }

    /// A pass shunt (`type=passthrough`): matching traffic flows in clear.
    pub fn pass(selector: Selector, dir: Direction, priority: u32) -> Policy {
        Policy {
            selector,
            dir,
            action: PolicyAction::Allow,
            priority,
            templates: Vec::new(),
            mark: None,
        }
    }

    /// A drop shunt (`type=drop`/`reject`, failureshunt=drop): matching traffic is discarded.
    pub fn drop(selector: Selector, dir: Direction, priority: u32) -> Policy {
        Policy {
            selector,
            dir,
            action: PolicyAction::Block,
            priority,
            templates: Vec::new(),
            mark: None,
        }
    }

    /// The key that identifies this policy in the kernel.
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            dir: self.dir,
            mark: self.mark,
        }
    }

    fn encode(&self, msg_type: u16) -> Result<MsgBuilder> {
        let family = self.selector.family()?;
        let mut info = [0u8; USERPOLICY_INFO_LEN];
        put_bytes(&mut info, 0, &self.selector.encode()?);
        // No limits: volume limits XFRM_INF, time limits 0. (XFRM_INF in a
        // time field overflows the kernel's expiry arithmetic and expires
        // the policy at once.)
        put_bytes(&mut info, 56, &Lifetimes::default().encode());
        put_u32(&mut info, 152, self.priority);
        put_u8(&mut info, 160, self.dir.number());
        put_u8(
            &mut info,
            161,
            match self.action {
                PolicyAction::Allow => 0,
                PolicyAction::Block => 1,
            },
        );
        let mut m = MsgBuilder::new(msg_type, NLM_F_REQUEST | NLM_F_ACK);
        m.payload(&info);
        if !self.templates.is_empty() {
            let mut t = Vec::with_capacity(self.templates.len() * USER_TMPL_LEN);
            for tmpl in &self.templates {
                t.extend_from_slice(&tmpl.encode(family)?);
            }
            m.attr(XFRMA_TMPL, &t);
        }
        if let Some(mark) = &self.mark {
            m.attr(XFRMA_MARK, &mark.encode());
        }
        Ok(m)
    }
}

/// The kernel's key for a policy: selector, direction (and mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// Selector.
    pub selector: Selector,
    /// Direction.
    pub dir: Direction,
    /// Mark, when the policy has one.
    pub mark: Option<Mark>,
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} policy {}", self.dir, self.selector)
    }
}

/// A policy as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// Selector.
    pub selector: Selector,
    /// Direction.
    pub dir: Direction,
    /// Allow or block.
    pub action: PolicyAction,
    /// Priority.
    pub priority: u32,
    /// The kernel's index of the policy (ACQUIREs name it).
    pub index: u32,
    /// Templates.
    pub templates: Vec<Template>,
    /// Mark.
    pub mark: Option<Mark>,
}

impl PolicyInfo {
    /// The key to delete this policy.
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            dir: self.dir,
            mark: self.mark,
        }
    }

    /// Decodes `struct xfrm_userpolicy_info` at the start of `p`, and the
    /// attributes after `attrs_at` (None: no attributes to read).
    pub(crate) fn decode(p: &[u8], attrs_at: Option<usize>) -> Option<PolicyInfo> {
        let mut info = PolicyInfo {
            selector: Selector::decode(p, 0)?,
            priority: get_u32(p, 152)?,
            index: get_u32(p, 156)?,
            dir: Direction::from_number(get_u8(p, 160)?)?,
            action: match get_u8(p, 161)? {
                0 => PolicyAction::Allow,
                _ => PolicyAction::Block,
            },
            templates: Vec::new(),
            mark: None,
        };
        if let Some(off) = attrs_at {
            for (kind, v) in attrs(p.get(off..).unwrap_or(&[])) {
                match kind {
                    XFRMA_TMPL => {
                        info.templates = v
                            .chunks_exact(USER_TMPL_LEN)
                            .filter_map(Template::decode)
                            .collect();
                    }
                    XFRMA_MARK => info.mark = Mark::decode(v),
                    _ => {}
                }
            }
        }
        Some(info)
    }
}

impl Xfrm {
    /// Installs a new policy (`XFRM_MSG_NEWPOLICY`); EEXIST when one with
    /// the same selector and direction exists.
    pub fn add_policy(&self, policy: &Policy) -> Result<()> {
        let m = policy.encode(XFRM_MSG_NEWPOLICY)?;
        let op = || format!("add {}", policy.id());
        self.transact(&op, m, false)?;
        self.remember_policy(policy.id());
        Ok(())
    }

    /// Installs or replaces a policy (`XFRM_MSG_UPDPOLICY`), e.g. turning a
    /// trap into the IPsec policy of an established tunnel.
    pub fn update_policy(&self, policy: &Policy) -> Result<()> {
        let m = policy.encode(XFRM_MSG_UPDPOLICY)?;
        let op = || format!("update {}", policy.id());
        self.transact(&op, m, false)?;
        self.remember_policy(policy.id());
        Ok(())
    }

    /// Deletes a policy (`XFRM_MSG_DELPOLICY`).
    pub fn delete_policy(&self, id: &PolicyId) -> Result<()> {
        let mut b = [0u8; USERPOLICY_ID_LEN];
        put_bytes(&mut b, 0, &id.selector.encode()?);
        put_u8(&mut b, 60, id.dir.number());
        let mut m = MsgBuilder::new(XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK);
        m.payload(&b);
        if let Some(mark) = &id.mark {
            m.attr(XFRMA_MARK, &mark.encode());
        }
        let op = || format!("delete {id}");
        self.transact(&op, m, false)?;
        self.forget_policy(id);
        Ok(())
    }

    /// Lists the policies of this network namespace (`XFRM_MSG_GETPOLICY`
    /// dump); per-socket policies are left out.
    pub fn list_policies(&self) -> Result<Vec<PolicyInfo>> {
        let mut m = MsgBuilder::new(XFRM_MSG_GETPOLICY, NLM_F_REQUEST | NLM_F_DUMP);
        m.payload(&[0u8; USERPOLICY_ID_LEN]);
        let op = || "list policies".to_string();
        let replies = self.transact(&op, m, true)?;
        Ok(replies
            .iter()
            .filter(|(t, _)| *t == XFRM_MSG_NEWPOLICY)
            .filter_map(|(_, p)| PolicyInfo::decode(p, Some(USERPOLICY_INFO_LEN)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_message_decodes_back() {
        let sel = Selector::new(
            "198.51.100.0/24".parse().expect("subnet"),
            "203.0.113.0/24".parse().expect("subnet"),
        );
        let mut p = Policy::trap(
            sel,
            Template::esp_tunnel(
                "192.0.2.1".parse().expect("a"),
                "192.0.2.2".parse().expect("a"),
                9,
            ),
            1000,
        );
        p.mark = Some(Mark { value: 1, mask: 1 });
        let b = p.encode(XFRM_MSG_NEWPOLICY).expect("encodes").finish(1);
        let msgs = messages(&b);
        let info = PolicyInfo::decode(msgs[0].payload, Some(USERPOLICY_INFO_LEN)).expect("decodes");
        assert_eq!(info.selector, sel);
        assert_eq!(info.dir, Direction::Out);
        assert_eq!(info.action, PolicyAction::Allow);
        assert_eq!(info.priority, 1000);
        assert_eq!(info.templates, p.templates);
        assert_eq!(info.mark, p.mark);
        assert_eq!(info.id(), p.id());
    }
}
