//! The AUTH payload computations of RFC 7296 2.15 that use the PRF:
//! MACedID, the SignedOctets, shared key MIC (PSK) and NULL authentication
//! (RFC 7619), and the IntAuth chain of IKE_INTERMEDIATE (RFC 9242).

use super::alg::PrfAlg;
use super::secret::Secret;

/// The pad string of RFC 7296 2.15.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// MACedIDForI = prf(SK_pi, RestOfInitIDPayload), and likewise for the
/// responder with SK_pr. `id_payload_body` is the ID payload after its
/// generic header: ID Type (1 octet) | RESERVED (3 octets) | ID data.
pub fn maced_id(prf: PrfAlg, sk_p: &Secret, id_payload_body: &[u8]) -> Secret {
    prf.prf(sk_p.as_bytes(), id_payload_body)
}

/// InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
/// (and ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR):
/// the whole first message this side sent (IKE_SA_INIT request or
/// response, as sent, including a COOKIE or a retried KE), the nonce data
/// of the peer (without payload header), and this side's MACedID. With
/// IKE_INTERMEDIATE exchanges (RFC 9242 3.3.2) `int_auth` is IntAuth =
/// IntAuth_iN | IntAuth_rN | IKE_AUTH_MID, appended at the end; otherwise
/// pass `None`.
pub fn signed_octets(
    first_message: &[u8],
    peer_nonce: &[u8],
    maced_id: &Secret,
    int_auth: Option<&[u8]>,
) -> Vec<u8> {
    let extra = int_auth.unwrap_or_default();
    let mut v =
        Vec::with_capacity(first_message.len() + peer_nonce.len() + maced_id.len() + extra.len());
    v.extend_from_slice(first_message);
    v.extend_from_slice(peer_nonce);
    v.extend_from_slice(maced_id.as_bytes());
    v.extend_from_slice(extra);
    v
}

/// The AUTH value of Shared Key Message Integrity Code (method 2):
/// prf(prf(Shared Secret, "Key Pad for IKEv2"), &lt;SignedOctets&gt;).
pub fn psk_auth(prf: PrfAlg, shared_secret: &Secret, signed_octets: &[u8]) -> Secret {
    let key = prf.prf(shared_secret.as_bytes(), KEY_PAD);
    prf.prf(key.as_bytes(), signed_octets)
}

/// Checks a received shared-key AUTH value in constant time.
pub fn verify_psk_auth(
    prf: PrfAlg,
    shared_secret: &Secret,
    signed_octets: &[u8],
    received: &[u8],
) -> bool {
    psk_auth(prf, shared_secret, signed_octets).ct_eq(received)
}

/// The AUTH value of NULL Authentication (method 13, RFC 7619 3): the
/// shared key MIC computed with the sender's SK_p (SK_pi for the
/// initiator, SK_pr for the responder) as the shared secret, as Libreswan
/// and strongSwan do.
pub fn null_auth(prf: PrfAlg, sk_p: &Secret, signed_octets: &[u8]) -> Secret {
    psk_auth(prf, sk_p, signed_octets)
}

/// One link of the IntAuth chain of RFC 9242 3.3.2 for one direction:
/// IntAuth_1 = prf(SK_p1, IntAuth_1_A | IntAuth_1_P) and IntAuth_n =
/// prf(SK_pn, IntAuth_n-1 | IntAuth_n_A | IntAuth_n_P), where SK_pn is the
/// SK_pi (for messages from the initiator) or SK_pr current when that
/// IKE_INTERMEDIATE message was sent, A the octets from the first octet of
/// the IKE header to the last octet of the Encrypted payload header, and P
/// the inner payloads in clear. How A's length fields are adjusted is
/// RFC 9242's rule for the codec to apply.
pub fn intermediate_auth(
    prf: PrfAlg,
    sk_p: &Secret,
    previous: Option<&Secret>,
    authenticated: &[u8],
    plaintext: &[u8],
) -> Secret {
    let prev = previous.map(Secret::as_bytes).unwrap_or_default();
    prf.prf_parts(sk_p.as_bytes(), &[prev, authenticated, plaintext])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psk_auth_is_nested_prf() {
        let prf = PrfAlg::HmacSha2_256;
        let psk = Secret::from_slice(b"secret");
        let inner = prf.prf(b"secret", b"Key Pad for IKEv2");
        let expect = prf.prf(inner.as_bytes(), b"octets");
        assert_eq!(psk_auth(prf, &psk, b"octets"), expect);
        assert!(verify_psk_auth(prf, &psk, b"octets", expect.as_bytes()));
        assert!(!verify_psk_auth(prf, &psk, b"octetz", expect.as_bytes()));
        assert!(!verify_psk_auth(
            prf,
            &psk,
            b"octets",
            &expect.as_bytes()[1..]
        ));
    }

    #[test]
    fn signed_octets_layout() {
        let id = Secret::from_slice(&[9, 9]);
        assert_eq!(
            signed_octets(&[1, 2], &[3], &id, Some(&[4])),
            vec![1, 2, 3, 9, 9, 4]
        );
        assert_eq!(signed_octets(&[1], &[], &id, None), vec![1, 9, 9]);
    }
}
