//! Proposals on the wire: building SA payloads from a connection's
//! proposals and choosing one from the peer's (RFC 7296 2.7, 3.3.6).

use crate::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg};
use crate::wire::{Proposal, ProtocolId, SaPayload, Transform, TransformType};

use super::config::{EsnPolicy, EspProposal, IkeProposal};

/// The algorithms of an IKE SA, one of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSuite {
    /// Encryption.
    pub encr: EncrAlg,
    /// PRF.
    pub prf: PrfAlg,
    /// Integrity (`None` with an AEAD).
    pub integ: Option<IntegAlg>,
    /// Key exchange method.
    pub ke: KeGroup,
    /// Additional key exchanges (RFC 9370), in order.
    pub addke: Vec<KeGroup>,
}

impl IkeSuite {
    /// Libreswan's `{cipher=... integ=... prf=... group=...}` wording.
    pub fn describe(&self) -> String {
        format!(
            "{{cipher={} integ={} prf={} group={}}}",
            self.encr.name(),
            self.integ.map(|i| i.name()).unwrap_or("n/a"),
            self.prf.name(),
            ke_name(self.ke),
        )
    }
}

/// Libreswan's name for a key exchange method: DH19, MODP2048, ...
pub fn ke_name(g: KeGroup) -> String {
    match g {
        KeGroup::Modp2048 => "MODP2048".into(),
        KeGroup::Modp3072 => "MODP3072".into(),
        KeGroup::Modp4096 => "MODP4096".into(),
        KeGroup::MlKem768 => "ML_KEM_768".into(),
        other => format!("DH{}", other.transform_id()),
    }
}

/// The algorithms of a Child SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSuite {
    /// Encryption.
    pub encr: EncrAlg,
    /// Integrity (`None` with an AEAD).
    pub integ: Option<IntegAlg>,
    /// PFS key exchange, if any.
    pub ke: Option<KeGroup>,
    /// Extended sequence numbers.
    pub esn: bool,
}

impl ChildSuite {
    /// Libreswan's `xfrm=AES_GCM_16_256-NONE` wording.
    pub fn describe(&self) -> String {
        format!(
            "{}-{}",
            self.encr.name(),
            self.integ.map(|i| i.name()).unwrap_or("NONE")
        )
    }
}

fn encr_transform(e: EncrAlg) -> Transform {
    match e.key_length_attribute() {
        Some(bits) => Transform::with_key_length(TransformType::Encr, e.transform_id(), bits),
        None => Transform::new(TransformType::Encr, e.transform_id()),
    }
}

fn parse_encr(t: &Transform) -> Option<EncrAlg> {
    EncrAlg::from_id(t.id, t.key_length())
}

/// The SA payload for a set of IKE proposals (`spi`: empty in
/// IKE_SA_INIT, 8 octets for a rekey).
pub fn ike_sa_payload(props: &[IkeProposal], spi: &[u8]) -> SaPayload {
    let proposals = props
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut transforms = Vec::new();
            transforms.extend(p.encr.iter().map(|e| encr_transform(*e)));
            transforms.extend(
                p.prf
                    .iter()
                    .map(|f| Transform::new(TransformType::Prf, f.transform_id())),
            );
            transforms.extend(
                p.integ
                    .iter()
                    .map(|a| Transform::new(TransformType::Integ, a.transform_id())),
            );
            transforms.extend(
                p.ke.iter()
                    .map(|g| Transform::new(TransformType::Ke, g.transform_id())),
            );
            for (n, list) in p.addke.iter().enumerate() {
                let kind = TransformType::AddKe(u8::try_from(n + 1).unwrap_or(7).min(7));
                transforms.extend(list.iter().map(|g| Transform::new(kind, g.transform_id())));
            }
            Proposal {
                number: u8::try_from(i + 1).unwrap_or(u8::MAX),
                protocol: ProtocolId::Ike,
                spi: spi.to_vec(),
                transforms,
            }
        })
        .collect();
    SaPayload { proposals }
}

/// The SA payload for ESP proposals; `pfs` adds the key exchange methods.
pub fn esp_sa_payload(props: &[EspProposal], spi: u32, esn: EsnPolicy, pfs: bool) -> SaPayload {
    let proposals = props
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut transforms = Vec::new();
            transforms.extend(p.encr.iter().map(|e| encr_transform(*e)));
            transforms.extend(
                p.integ
                    .iter()
                    .map(|a| Transform::new(TransformType::Integ, a.transform_id())),
            );
            if pfs {
                transforms.extend(
                    p.ke.iter()
                        .map(|g| Transform::new(TransformType::Ke, g.transform_id())),
                );
            }
            match esn {
                EsnPolicy::No => transforms.push(Transform::new(TransformType::Esn, 0)),
                EsnPolicy::Yes => transforms.push(Transform::new(TransformType::Esn, 1)),
                EsnPolicy::Either => {
                    transforms.push(Transform::new(TransformType::Esn, 1));
                    transforms.push(Transform::new(TransformType::Esn, 0));
                }
            }
            Proposal {
                number: u8::try_from(i + 1).unwrap_or(u8::MAX),
                protocol: ProtocolId::Esp,
                spi: spi.to_be_bytes().to_vec(),
                transforms,
            }
        })
        .collect();
    SaPayload { proposals }
}

fn has_unknown_type(p: &Proposal) -> bool {
    p.transforms
        .iter()
        .any(|t| matches!(t.kind, TransformType::Other(_)))
}

fn pick_integ(p: &Proposal, ours: &[IntegAlg]) -> Option<Option<IntegAlg>> {
    let theirs: Vec<&Transform> = p
        .of_type(TransformType::Integ)
        .filter(|t| t.id != 0)
        .collect();
    if ours.is_empty() {
        return if theirs.is_empty() { Some(None) } else { None };
    }
    theirs
        .iter()
        .filter_map(|t| IntegAlg::from_id(t.id))
        .find(|a| ours.contains(a))
        .map(Some)
}

fn pick_ke(
    p: &Proposal,
    kind: TransformType,
    ours: &[KeGroup],
    preferred: Option<u16>,
) -> Option<KeGroup> {
    let theirs: Vec<KeGroup> = p
        .of_type(kind)
        .filter_map(|t| KeGroup::from_id(t.id))
        .filter(|g| ours.contains(g))
        .collect();
    if let Some(want) = preferred {
        if let Some(g) = theirs.iter().find(|g| g.transform_id() == want) {
            return Some(*g);
        }
    }
    theirs.first().copied()
}

/// Chooses an IKE suite from the peer's SA payload (responder): the first
/// of the peer's proposals that one of ours accepts; within it, the
/// peer's first acceptable transform of each type, and the group of the
/// peer's KE payload (`ke_group`) when acceptable. Returns the suite and
/// the proposal to send back.
pub fn select_ike(
    ours: &[IkeProposal],
    theirs: &SaPayload,
    ke_group: Option<u16>,
    spi: &[u8],
) -> Option<(IkeSuite, Proposal)> {
    for p in &theirs.proposals {
        if p.protocol != ProtocolId::Ike || has_unknown_type(p) {
            continue;
        }
        for o in ours {
            let Some(encr) = p
                .of_type(TransformType::Encr)
                .filter_map(parse_encr)
                .find(|e| o.encr.contains(e))
            else {
                continue;
            };
            let Some(prf) = p
                .of_type(TransformType::Prf)
                .filter_map(|t| PrfAlg::from_id(t.id))
                .find(|f| o.prf.contains(f))
            else {
                continue;
            };
            let Some(integ) = pick_integ(p, &o.integ) else {
                continue;
            };
            if encr.is_aead() != integ.is_none() {
                continue;
            }
            let Some(ke) = pick_ke(p, TransformType::Ke, &o.ke, ke_group) else {
                continue;
            };
            let mut addke = Vec::new();
            let mut ok = true;
            for n in 1..=7u8 {
                let kind = TransformType::AddKe(n);
                let offered = p.of_type(kind).count() > 0;
                let ours_n = o.addke.get(usize::from(n - 1));
                match (offered, ours_n) {
                    (false, _) => {}
                    (true, Some(list)) => match pick_ke(p, kind, list, None) {
                        Some(g) => addke.push((kind, g)),
                        None => {
                            // NONE (0) is an acceptable choice for an ADDKE.
                            if !p.of_type(kind).any(|t| t.id == 0) {
                                ok = false;
                            }
                        }
                    },
                    (true, None) => {
                        if !p.of_type(kind).any(|t| t.id == 0) {
                            ok = false;
                        }
                    }
                }
            }
            if !ok {
                continue;
            }
            let mut transforms = vec![
                encr_transform(encr),
                Transform::new(TransformType::Prf, prf.transform_id()),
            ];
            if let Some(i) = integ {
                transforms.push(Transform::new(TransformType::Integ, i.transform_id()));
            }
            transforms.push(Transform::new(TransformType::Ke, ke.transform_id()));
            for (kind, g) in &addke {
                transforms.push(Transform::new(*kind, g.transform_id()));
            }
            let suite = IkeSuite {
                encr,
                prf,
                integ,
                ke,
                addke: addke.into_iter().map(|(_, g)| g).collect(),
            };
            let chosen = Proposal {
                number: p.number,
                protocol: ProtocolId::Ike,
                spi: spi.to_vec(),
                transforms,
            };
            return Some((suite, chosen));
        }
    }
    None
}

/// Checks the responder's answer (initiator): exactly one proposal, one
/// transform of each type, all of them among what we offered.
pub fn accept_ike(ours: &[IkeProposal], reply: &SaPayload) -> Option<IkeSuite> {
    let [p] = reply.proposals.as_slice() else {
        return None;
    };
    let (suite, _) = select_ike(ours, reply, None, &[])?;
    let count = |k| p.of_type(k).count();
    if count(TransformType::Encr) != 1
        || count(TransformType::Prf) != 1
        || count(TransformType::Ke) != 1
    {
        return None;
    }
    Some(suite)
}

/// Chooses an ESP suite (responder). `pfs_group`: the KE payload's group
/// in CREATE_CHILD_SA (`None` in IKE_AUTH, where no KE transform is
/// negotiated). Returns the suite, the peer's SPI and the proposal to send
/// back with our SPI.
pub fn select_esp(
    ours: &[EspProposal],
    esn: EsnPolicy,
    theirs: &SaPayload,
    pfs_group: Option<u16>,
    our_spi: u32,
) -> Option<(ChildSuite, u32, Proposal)> {
    for p in &theirs.proposals {
        if p.protocol != ProtocolId::Esp || has_unknown_type(p) {
            continue;
        }
        let Ok(peer_spi) = <[u8; 4]>::try_from(p.spi.as_slice()) else {
            continue;
        };
        for o in ours {
            let Some(encr) = p
                .of_type(TransformType::Encr)
                .filter_map(parse_encr)
                .find(|e| o.encr.contains(e))
            else {
                continue;
            };
            let Some(integ) = pick_integ(p, &o.integ) else {
                continue;
            };
            if encr.is_aead() != integ.is_none() {
                continue;
            }
            let offered_ke: Vec<u16> = p
                .of_type(TransformType::Ke)
                .map(|t| t.id)
                .filter(|id| *id != 0)
                .collect();
            let ke = match pfs_group {
                None => None,
                Some(g) => {
                    if offered_ke.is_empty() {
                        None
                    } else {
                        let chosen = pick_ke(p, TransformType::Ke, &o.ke, Some(g));
                        match chosen {
                            Some(c) => Some(c),
                            None => continue,
                        }
                    }
                }
            };
            let esn_offered: Vec<u16> = p.of_type(TransformType::Esn).map(|t| t.id).collect();
            let esn_choice = if esn_offered.is_empty() {
                Some(false)
            } else {
                match esn {
                    EsnPolicy::No => esn_offered.contains(&0).then_some(false),
                    EsnPolicy::Yes => esn_offered.contains(&1).then_some(true),
                    EsnPolicy::Either => esn_offered.first().map(|v| *v == 1),
                }
            };
            let Some(esn_on) = esn_choice else {
                continue;
            };
            let mut transforms = vec![encr_transform(encr)];
            if let Some(i) = integ {
                transforms.push(Transform::new(TransformType::Integ, i.transform_id()));
            }
            if let Some(g) = ke {
                transforms.push(Transform::new(TransformType::Ke, g.transform_id()));
            }
            transforms.push(Transform::new(TransformType::Esn, u16::from(esn_on)));
            let chosen = Proposal {
                number: p.number,
                protocol: ProtocolId::Esp,
                spi: our_spi.to_be_bytes().to_vec(),
                transforms,
            };
            return Some((
                ChildSuite {
                    encr,
                    integ,
                    ke,
                    esn: esn_on,
                },
                u32::from_be_bytes(peer_spi),
                chosen,
            ));
        }
    }
    None
}

/// Checks the responder's ESP answer (initiator); returns the suite and
/// the responder's SPI.
pub fn accept_esp(
    ours: &[EspProposal],
    esn: EsnPolicy,
    reply: &SaPayload,
    pfs_group: Option<u16>,
) -> Option<(ChildSuite, u32)> {
    let [p] = reply.proposals.as_slice() else {
        return None;
    };
    if p.of_type(TransformType::Encr).count() != 1 {
        return None;
    }
    select_esp(ours, esn, reply, pfs_group, 0).map(|(s, spi, _)| (s, spi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::{default_esp_proposals, default_ike_proposals};

    #[test]
    fn responder_honours_the_ke_payload_group() {
        let ours = default_ike_proposals();
        let sa = ike_sa_payload(&ours, &[]);
        let (suite, chosen) = select_ike(&ours, &sa, Some(31), &[]).expect("a proposal");
        assert_eq!(suite.encr, EncrAlg::AesGcm16_256);
        assert_eq!(suite.prf, PrfAlg::HmacSha2_512);
        assert_eq!(suite.ke, KeGroup::Curve25519);
        assert_eq!(suite.integ, None);
        let reply = SaPayload {
            proposals: vec![chosen],
        };
        assert_eq!(accept_ike(&ours, &reply), Some(suite));
    }

    #[test]
    fn no_common_proposal() {
        let ours = vec![IkeProposal {
            encr: vec![EncrAlg::AesCbc128],
            prf: vec![PrfAlg::HmacSha1],
            integ: vec![IntegAlg::HmacSha1_96],
            ke: vec![KeGroup::Modp2048],
            addke: vec![],
        }];
        let sa = ike_sa_payload(&default_ike_proposals(), &[]);
        assert!(select_ike(&ours, &sa, None, &[]).is_none());
    }

    #[test]
    fn esp_selection_and_esn() {
        let ours = default_esp_proposals();
        // From the first CBC proposal on (after GCM-256, GCM-128, ChaCha20).
        let sa = esp_sa_payload(&ours[3..], 0x1234_5678, EsnPolicy::Either, false);
        let (suite, peer_spi, chosen) =
            select_esp(&ours, EsnPolicy::Either, &sa, None, 0xabcd).expect("a proposal");
        assert_eq!(peer_spi, 0x1234_5678);
        assert_eq!(suite.encr, EncrAlg::AesCbc256);
        assert_eq!(suite.integ, Some(IntegAlg::HmacSha2_512_256));
        assert!(suite.esn);
        let reply = SaPayload {
            proposals: vec![chosen],
        };
        let (back, spi) = accept_esp(&ours, EsnPolicy::Either, &reply, None).expect("accepted");
        assert_eq!(back, suite);
        assert_eq!(spi, 0xabcd);
        assert!(select_esp(
            &ours,
            EsnPolicy::No,
            &esp_sa_payload(&ours, 1, EsnPolicy::Yes, false),
            None,
            2
        )
        .is_none());
    }
}
