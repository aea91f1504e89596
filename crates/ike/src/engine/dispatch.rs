//! Messages for an existing IKE SA: response matching, retransmitted
//! requests, decryption (SK/SKF) and the dispatch to the exchanges.

use std::net::SocketAddr;
use std::time::Instant;

use crate::wire::{ExchangeType, Header, Message, Notify, NotifyType, Payload, WireError};

use super::ike_sa::{self, IkeSa, IkeState, RequestKind};
use super::Engine;

impl Engine {
    /// Handles a message for an existing SA; false when the SA is gone.
    pub(super) fn sa_message(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        raw: &[u8],
        msg: Message,
    ) -> bool {
        let h = msg.header.clone();
        if h.response {
            let Some((o_mid, kind)) = sa.outstanding.as_ref().map(|o| (o.message_id, o.kind))
            else {
                return true;
            };
            if o_mid != h.message_id {
                return true;
            }
            if h.exchange == ExchangeType::IkeSaInit {
                return self.initiator_init_response(now, sa, local, remote, raw, msg);
            }
            let Some(inner) = self.decrypt(sa, raw, &h, &msg) else {
                return true;
            };
            self.update_endpoints(sa, local, remote);
            sa.last_received = now;
            sa.outstanding = None;
            let keep = match (h.exchange, kind) {
                (ExchangeType::IkeAuth, RequestKind::IkeAuth) => {
                    self.initiator_auth_response(now, sa, inner)
                }
                (ExchangeType::IkeIntermediate, RequestKind::Intermediate) => {
                    self.initiator_intermediate_response(now, sa, h.message_id, inner)
                }
                (ExchangeType::CreateChildSa, RequestKind::CreateChild) => {
                    self.create_child_response(now, sa, inner)
                }
                (ExchangeType::Informational, k) => self.informational_response(now, sa, k, inner),
                _ => true,
            };
            if keep {
                self.send_queued(now, sa);
            }
            return keep;
        }
        // A request.
        if let Some((mid, packets)) = &sa.last_response {
            if *mid == h.message_id {
                let packets = packets.clone();
                // Only answer once the retransmission really authenticates.
                if self.decrypt_check(sa, raw, &h, &msg) {
                    self.update_endpoints(sa, local, remote);
                    self.send(sa, &packets);
                }
                return true;
            }
        }
        if h.message_id != sa.expected_request_id {
            return true;
        }
        let Some(inner) = self.decrypt(sa, raw, &h, &msg) else {
            return true;
        };
        self.update_endpoints(sa, local, remote);
        sa.last_received = now;
        match h.exchange {
            ExchangeType::IkeIntermediate
                if !sa.initiator && sa.state == IkeState::InitAnswered =>
            {
                self.responder_intermediate(sa, h.message_id, inner)
            }
            ExchangeType::IkeAuth
                if !sa.initiator
                    && sa.state == IkeState::InitAnswered
                    && sa.addke_pending.is_empty() =>
            {
                self.responder_auth(now, sa, h.message_id, inner)
            }
            ExchangeType::Informational if sa.state != IkeState::InitAnswered => {
                self.informational_request(now, sa, h.message_id, inner)
            }
            ExchangeType::CreateChildSa if sa.state != IkeState::InitAnswered => {
                self.create_child_request(now, sa, h.message_id, inner)
            }
            _ => true,
        }
    }

    /// Follows the peer to the address and port an authenticated message
    /// came from (RFC 7296 2.23: after a NAT, or the move to port 4500).
    fn update_endpoints(&mut self, sa: &mut IkeSa, local: SocketAddr, remote: SocketAddr) {
        if sa.local != local || sa.remote != remote {
            let line = format!(
                "peer moved from {} to {} (local {} -> {})",
                sa.remote, remote, sa.local, local
            );
            self.reindex_peer(sa.id, sa.remote.ip(), remote.ip());
            sa.local = local;
            sa.remote = remote;
            self.sa_log(sa, &line);
        }
    }

    /// Decrypts the SK/SKF payload of a message; `None` when it does not
    /// verify (the message is then ignored, RFC 7296 2.21.2) or when more
    /// fragments are needed.
    fn decrypt(
        &mut self,
        sa: &mut IkeSa,
        raw: &[u8],
        h: &Header,
        msg: &Message,
    ) -> Option<Vec<Payload>> {
        let result = match msg.payloads.last() {
            Some(Payload::Sk(sk)) => sa
                .unprotect_sk(raw, h.length as usize, sk.first_inner, sk.data.len())
                .map(Some),
            Some(Payload::Skf(skf)) => sa.unprotect_skf(raw, h.length as usize, h.message_id, skf),
            _ => {
                self.sa_log(
                    sa,
                    &format!("ignoring unprotected {} message", h.exchange.name()),
                );
                return None;
            }
        };
        match result {
            Ok(x) => x,
            Err(ike_sa::ProtectError::Wire(WireError::UnsupportedCritical(t)))
                if !h.response && h.message_id == sa.expected_request_id =>
            {
                // RFC 7296 2.5: reject a request with a critical payload we
                // do not understand.
                self.sa_log(
                    sa,
                    &format!(
                        "{} request has unsupported critical payload {t}; sending UNSUPPORTED_CRITICAL_PAYLOAD",
                        h.exchange.name()
                    ),
                );
                let reply = vec![Payload::Notify(Notify::new(
                    NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
                    vec![t],
                ))];
                if let Ok(p) =
                    sa.protect(h.exchange, true, h.message_id, &reply, None, &mut *self.rng)
                {
                    self.send_response(sa, h.message_id, p);
                }
                None
            }
            Err(e) => {
                self.sa_log(sa, &format!("dropping {} message: {e}", h.exchange.name()));
                None
            }
        }
    }

    fn decrypt_check(&mut self, sa: &mut IkeSa, raw: &[u8], h: &Header, msg: &Message) -> bool {
        match msg.payloads.last() {
            Some(Payload::Sk(sk)) => sa
                .unprotect_sk(raw, h.length as usize, sk.first_inner, sk.data.len())
                .is_ok(),
            // A retransmitted fragment: answer when it verifies.
            // A retransmitted fragmented request: answer once per
            // retransmission, on its first fragment (RFC 7383 2.6.1).
            Some(Payload::Skf(skf)) => {
                skf.fragment_number == 1
                    && sa
                        .cipher_in
                        .as_ref()
                        .zip(raw.get(..(h.length as usize).saturating_sub(skf.data.len())))
                        .is_some_and(|(c, aad)| c.decrypt(aad, &skf.data).is_ok())
            }
            _ => false,
        }
    }
}
