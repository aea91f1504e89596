//! IKE_INTERMEDIATE (RFC 9242) carrying the additional key exchanges of
//! RFC 9370 (e.g. Curve25519 + ML-KEM-768), and the IntAuth chain that
//! binds those messages into the IKE_AUTH signature.

use std::time::Instant;

use crate::crypto::auth::intermediate_auth;
use crate::crypto::{KeyExchange, Secret};
use crate::wire::{
    encode_payload_chain, ExchangeType, KePayload, Notify, NotifyType, Payload, HEADER_LEN,
};

use super::ike_sa::{IkeSa, IkeState, RequestKind};
use super::proposal::ke_name;
use super::Engine;

/// IntAuth_A of a message sent as `packets`: its octets up to the SK
/// payload header, or for a fragmented message those it would have had
/// unfragmented (RFC 9242 3.3.2).
fn sent_aad(
    sa: &IkeSa,
    response: bool,
    mid: u32,
    packets: &[Vec<u8>],
    plain: &[u8],
    first: u8,
) -> Vec<u8> {
    if let [one] = packets {
        if let Some(a) = one.get(..HEADER_LEN + 4) {
            return a.to_vec();
        }
    }
    synthetic_aad(
        sa,
        sa.cipher_out.as_ref().map(|c| c.encrypted_len(plain.len())),
        response,
        sa.initiator,
        mid,
        first,
    )
}

fn synthetic_aad(
    sa: &IkeSa,
    body_len: Option<usize>,
    response: bool,
    from_initiator: bool,
    mid: u32,
    first: u8,
) -> Vec<u8> {
    let body = body_len.unwrap_or(0);
    let mut h = sa.header(ExchangeType::IkeIntermediate, response, mid);
    h.initiator = from_initiator;
    h.next_payload = 46;
    h.length = u32::try_from(HEADER_LEN + 4 + body).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER_LEN + 4);
    h.encode(&mut out);
    out.push(first);
    out.push(0);
    out.extend_from_slice(&u16::try_from(4 + body).unwrap_or(u16::MAX).to_be_bytes());
    out
}

impl Engine {
    /// Extends one IntAuth chain: `initiator_side` selects IntAuth_i (with
    /// SK_pi) or IntAuth_r (with SK_pr), using the keys in force.
    fn extend_int_auth(&self, sa: &mut IkeSa, initiator_side: bool, aad: &[u8], plain: &[u8]) {
        let Some(keys) = sa.keys.as_ref() else {
            return;
        };
        let sk_p = if initiator_side {
            &keys.sk_pi
        } else {
            &keys.sk_pr
        };
        let (prev_i, prev_r) = match &sa.int_auth {
            Some((i, r)) => (Some(i.clone()), Some(r.clone())),
            None => (None, None),
        };
        let prev = if initiator_side {
            prev_i.as_ref()
        } else {
            prev_r.as_ref()
        };
        let next = intermediate_auth(keys.prf, sk_p, prev, aad, plain);
        let (i, r) = if initiator_side {
            (next, prev_r.unwrap_or_default())
        } else {
            (prev_i.unwrap_or_default(), next)
        };
        sa.int_auth = Some((i, r));
    }

    /// The suffix RFC 9242 adds to both ends' signed octets:
    /// IntAuth_iN | IntAuth_rN | IKE_AUTH message ID.
    pub(super) fn int_auth_suffix(sa: &IkeSa, auth_mid: u32) -> Vec<u8> {
        match &sa.int_auth {
            Some((i, r)) => {
                let mut v = Vec::with_capacity(i.len() + r.len() + 4);
                v.extend_from_slice(i.as_bytes());
                v.extend_from_slice(r.as_bytes());
                v.extend_from_slice(&auth_mid.to_be_bytes());
                v
            }
            None => Vec::new(),
        }
    }

    /// Replaces the IKE SA keys after one additional key exchange:
    /// SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) and the seven keys.
    fn apply_additional_key(&mut self, sa: &mut IkeSa, shared: &Secret) -> bool {
        let Some(keys) = sa.keys.as_ref() else {
            return false;
        };
        let new = match keys.derive_additional(shared, &sa.ni, &sa.nr, &sa.spi_i, &sa.spi_r) {
            Ok(k) => k,
            Err(e) => {
                self.sa_log(sa, &format!("additional key derivation failed: {e}"));
                return false;
            }
        };
        let (out, inc) = if sa.initiator {
            (new.initiator_cipher(), new.responder_cipher())
        } else {
            (new.responder_cipher(), new.initiator_cipher())
        };
        let (Ok(out), Ok(inc)) = (out, inc) else {
            return false;
        };
        sa.cipher_out = Some(out);
        sa.cipher_in = Some(inc);
        sa.keys = Some(new);
        true
    }

    /// The initiator sends the next IKE_INTERMEDIATE request; false ends
    /// the SA.
    pub(super) fn send_intermediate_request(&mut self, now: Instant, sa: &mut IkeSa) -> bool {
        let Some(group) = sa.addke_pending.first().copied() else {
            return false;
        };
        let (ke, public) = match KeyExchange::generate(group, &mut *self.rng) {
            Ok(x) => x,
            Err(e) => {
                self.fail_intermediate(sa, &format!("cannot generate {}: {e}", ke_name(group)));
                return false;
            }
        };
        sa.ke = Some(ke);
        let inner = vec![Payload::Ke(KePayload {
            group: group.transform_id(),
            data: public,
        })];
        let mut plain = Vec::new();
        if encode_payload_chain(&inner, &mut plain).is_err() {
            return false;
        }
        let mid = sa.next_message_id;
        let packets = match sa.protect(
            ExchangeType::IkeIntermediate,
            false,
            mid,
            &inner,
            Some(self.config.max_message_size),
            &mut *self.rng,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.fail_intermediate(sa, &format!("cannot build IKE_INTERMEDIATE request: {e}"));
                return false;
            }
        };
        let aad = sent_aad(sa, false, mid, &packets, &plain, 34);
        self.extend_int_auth(sa, true, &aad, &plain);
        sa.state = IkeState::IntermediateSent;
        self.send_request(now, sa, RequestKind::Intermediate, packets);
        let remote = sa.remote;
        self.sa_log(
            sa,
            &format!(
                "sent IKE_INTERMEDIATE request to {remote} with additional key exchange {}",
                ke_name(group)
            ),
        );
        true
    }

    fn fail_intermediate(&mut self, sa: &mut IkeSa, why: &str) {
        self.sa_log(sa, why);
        self.report_down(sa, why);
    }

    /// IntAuth_A of the message just decrypted.
    fn received_aad(&self, sa: &IkeSa, response: bool, mid: u32) -> Vec<u8> {
        match &sa.last_aad {
            Some(a) => a.clone(),
            None => synthetic_aad(
                sa,
                sa.cipher_in
                    .as_ref()
                    .map(|c| c.encrypted_len(sa.last_plaintext.len())),
                response,
                !sa.initiator,
                mid,
                sa.last_first_inner,
            ),
        }
    }

    /// The responder handles an IKE_INTERMEDIATE request; false ends the SA.
    pub(super) fn responder_intermediate(
        &mut self,
        sa: &mut IkeSa,
        mid: u32,
        inner: Vec<Payload>,
    ) -> bool {
        let aad = self.received_aad(sa, false, mid);
        let plain = std::mem::take(&mut sa.last_plaintext);
        let Some(group) = sa.addke_pending.first().copied() else {
            self.sa_log(
                sa,
                "unexpected IKE_INTERMEDIATE request; sending INVALID_SYNTAX",
            );
            let reply = vec![Payload::Notify(Notify::new(
                NotifyType::INVALID_SYNTAX,
                Vec::new(),
            ))];
            if let Ok(p) = sa.protect(
                ExchangeType::IkeIntermediate,
                true,
                mid,
                &reply,
                None,
                &mut *self.rng,
            ) {
                self.send_response(sa, mid, p);
            }
            return false;
        };
        let ke = inner.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        });
        let Some(ke) = ke.filter(|k| k.group == group.transform_id()) else {
            self.sa_log(
                sa,
                "IKE_INTERMEDIATE request lacks the negotiated KE; sending INVALID_SYNTAX",
            );
            let reply = vec![Payload::Notify(Notify::new(
                NotifyType::INVALID_SYNTAX,
                Vec::new(),
            ))];
            if let Ok(p) = sa.protect(
                ExchangeType::IkeIntermediate,
                true,
                mid,
                &reply,
                None,
                &mut *self.rng,
            ) {
                self.send_response(sa, mid, p);
            }
            return false;
        };
        let (public, shared) = match KeyExchange::respond(group, &ke.data, &mut *self.rng) {
            Ok(x) => x,
            Err(e) => {
                self.sa_log(sa, &format!("{} key exchange failed: {e}", ke_name(group)));
                let reply = vec![Payload::Notify(Notify::new(
                    NotifyType::INVALID_SYNTAX,
                    Vec::new(),
                ))];
                if let Ok(p) = sa.protect(
                    ExchangeType::IkeIntermediate,
                    true,
                    mid,
                    &reply,
                    None,
                    &mut *self.rng,
                ) {
                    self.send_response(sa, mid, p);
                }
                return false;
            }
        };
        self.extend_int_auth(sa, true, &aad, &plain);
        let reply = vec![Payload::Ke(KePayload {
            group: group.transform_id(),
            data: public,
        })];
        let mut reply_plain = Vec::new();
        if encode_payload_chain(&reply, &mut reply_plain).is_err() {
            return false;
        }
        let packets = match sa.protect(
            ExchangeType::IkeIntermediate,
            true,
            mid,
            &reply,
            Some(self.config.max_message_size),
            &mut *self.rng,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.sa_log(sa, &format!("cannot build IKE_INTERMEDIATE response: {e}"));
                return false;
            }
        };
        let reply_aad = sent_aad(sa, true, mid, &packets, &reply_plain, 34);
        self.extend_int_auth(sa, false, &reply_aad, &reply_plain);
        self.send_response(sa, mid, packets);
        if !self.apply_additional_key(sa, &shared) {
            return false;
        }
        sa.addke_pending.remove(0);
        self.sa_log(
            sa,
            &format!(
                "processed IKE_INTERMEDIATE request; additional key exchange {} done",
                ke_name(group)
            ),
        );
        true
    }

    /// The initiator handles the IKE_INTERMEDIATE response; false ends the
    /// SA.
    pub(super) fn initiator_intermediate_response(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        mid: u32,
        inner: Vec<Payload>,
    ) -> bool {
        let aad = self.received_aad(sa, true, mid);
        let plain = std::mem::take(&mut sa.last_plaintext);
        if let Some(err) = inner.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind.is_error() => Some(n.kind),
            _ => None,
        }) {
            self.fail_intermediate(sa, &format!("IKE_INTERMEDIATE response contained {err}"));
            return false;
        }
        let Some(group) = sa.addke_pending.first().copied() else {
            return false;
        };
        let ke = inner.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k.clone()),
            _ => None,
        });
        let (Some(ke), Some(state)) =
            (ke.filter(|k| k.group == group.transform_id()), sa.ke.take())
        else {
            self.fail_intermediate(sa, "IKE_INTERMEDIATE response lacks the negotiated KE");
            return false;
        };
        let shared = match state.complete(&ke.data) {
            Ok(s) => s,
            Err(e) => {
                self.fail_intermediate(sa, &format!("{} key exchange failed: {e}", ke_name(group)));
                return false;
            }
        };
        self.extend_int_auth(sa, false, &aad, &plain);
        if !self.apply_additional_key(sa, &shared) {
            self.fail_intermediate(sa, "additional key derivation failed");
            return false;
        }
        sa.addke_pending.remove(0);
        self.sa_log(
            sa,
            &format!(
                "processed IKE_INTERMEDIATE response; additional key exchange {} done",
                ke_name(group)
            ),
        );
        let Some(conn) = self.connections.get(&sa.conn).cloned() else {
            return false;
        };
        if sa.addke_pending.is_empty() {
            self.send_auth_request(now, sa, &conn)
        } else {
            self.send_intermediate_request(now, sa)
        }
    }
}
