//! Authentication of IKE_AUTH (RFC 7296 2.15): the signed octets, and
//! making and checking AUTH payloads for PSK, NULL (RFC 7619), raw-key
//! signatures (RFC 7427 and the legacy methods) and certificates through
//! [`super::CertAuth`].

use crate::crypto::auth::{null_auth, psk_auth, verify_psk_auth};
use crate::crypto::sign::{decode_digital_signature, encode_digital_signature};
use crate::crypto::{LegacyAuthMethod, PrfAlg, Secret};
use crate::wire::{AuthMethod, AuthPayload, IdPayload};

use super::config::{Authentication, Connection, Identity, PeerAuthHints};
use super::Engine;

/// The octets one end signs or MACs (RFC 7296 2.15): its first message,
/// the peer's nonce and prf(SK_p, ID').
pub(crate) fn signed_octets(
    first_message: &[u8],
    peer_nonce: &[u8],
    prf: PrfAlg,
    sk_p: &Secret,
    id: &IdPayload,
) -> Vec<u8> {
    let mac_id = prf.prf(sk_p.as_bytes(), &id.id_body());
    let mut v = Vec::with_capacity(first_message.len() + peer_nonce.len() + mac_id.len());
    v.extend_from_slice(first_message);
    v.extend_from_slice(peer_nonce);
    v.extend_from_slice(mac_id.as_bytes());
    v
}

/// "RSASSA-PSS SHA2_256" -> "RSASSA-PSS with SHA2_256", as Libreswan
/// words a signature scheme.
fn scheme_words(name: &str) -> String {
    match name.rsplit_once(' ') {
        Some((alg, hash)) => format!("{alg} with {hash}"),
        None => name.to_string(),
    }
}

/// Why authentication failed.
pub(super) enum AuthFail {
    Failed(String),
}

impl Engine {
    /// Builds our AUTH payload for `octets`; `sk_p` is our SK_pi/SK_pr
    /// (the NULL method MACs with it), `peer` what the peer announced
    /// (SIGNATURE_HASH_ALGORITHMS, CERTREQ).
    pub(super) fn make_auth(
        &self,
        conn: &Connection,
        prf: PrfAlg,
        sk_p: &Secret,
        peer: &PeerAuthHints,
        octets: &[u8],
    ) -> Result<AuthPayload, String> {
        let peer_hashes = &peer.signature_hashes;
        match &conn.auth {
            Authentication::Psk(secret) => Ok(AuthPayload {
                method: AuthMethod::Psk,
                data: psk_auth(prf, secret, octets).as_bytes().to_vec(),
            }),
            Authentication::Null => Ok(AuthPayload {
                method: AuthMethod::Null,
                data: null_auth(prf, sk_p, octets).as_bytes().to_vec(),
            }),
            Authentication::Certificate(c) => {
                let (method, data) = c.sign(peer, octets).map_err(|e| e.to_string())?;
                Ok(AuthPayload { method, data })
            }
            Authentication::RawKey { private_key, .. } => {
                let key_type = private_key.key_type();
                // RFC 7427 when the peer announced hashes we can sign with.
                let scheme = key_type
                    .schemes()
                    .iter()
                    .copied()
                    .find(|s| peer_hashes.contains(&s.hash().id()));
                match (scheme, LegacyAuthMethod::for_key(key_type)) {
                    (Some(scheme), _) => Ok(AuthPayload {
                        method: AuthMethod::DigitalSignature,
                        data: encode_digital_signature(
                            scheme,
                            &private_key
                                .sign(scheme, octets)
                                .map_err(|e| e.to_string())?,
                        ),
                    }),
                    (None, Some(legacy)) => Ok(AuthPayload {
                        method: AuthMethod::from_u8(legacy.auth_method()),
                        data: private_key
                            .sign_legacy(legacy, octets)
                            .map_err(|e| e.to_string())?,
                    }),
                    (None, None) => Err(format!(
                        "the peer supports no signature hash usable with a {key_type:?} key"
                    )),
                }
            }
        }
    }

    /// Checks the peer's AUTH payload over `octets`; `sk_p` is the peer's
    /// SK_pi/SK_pr.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_auth(
        &self,
        conn: &Connection,
        prf: PrfAlg,
        sk_p: &Secret,
        octets: &[u8],
        auth: &AuthPayload,
        peer_id: &IdPayload,
        certs: &[Vec<u8>],
    ) -> Result<Option<String>, AuthFail> {
        match &conn.auth {
            Authentication::Psk(secret) => {
                if auth.method != AuthMethod::Psk {
                    return Err(AuthFail::Failed(format!(
                        "peer used AUTH method {:?}, expected PSK",
                        auth.method
                    )));
                }
                if verify_psk_auth(prf, secret, octets, &auth.data) {
                    Ok(None)
                } else {
                    Err(AuthFail::Failed("PSK AUTH payload does not verify".into()))
                }
            }
            Authentication::Null => {
                if auth.method != AuthMethod::Null {
                    return Err(AuthFail::Failed(
                        "peer did not use NULL authentication".into(),
                    ));
                }
                if null_auth(prf, sk_p, octets).ct_eq(&auth.data) {
                    Ok(None)
                } else {
                    Err(AuthFail::Failed("NULL AUTH payload does not verify".into()))
                }
            }
            Authentication::Certificate(c) => c
                .verify_described(peer_id, certs, auth.method, octets, &auth.data)
                .map_err(|e| AuthFail::Failed(e.to_string())),
            Authentication::RawKey {
                peer_public_key, ..
            } => {
                let bits = peer_public_key.bits();
                let (result, what) = match auth.method {
                    AuthMethod::DigitalSignature => match decode_digital_signature(&auth.data) {
                        Ok((scheme, sig)) => (
                            peer_public_key.verify(scheme, octets, sig),
                            scheme_words(scheme.name()),
                        ),
                        Err(e) => (Err(e), String::new()),
                    },
                    m => match LegacyAuthMethod::from_auth_method(m.to_u8()) {
                        Some(legacy) => (
                            peer_public_key.verify_legacy(legacy, octets, &auth.data),
                            format!("{legacy:?}"),
                        ),
                        None => {
                            return Err(AuthFail::Failed(format!(
                                "peer used AUTH method {m:?}, expected a signature"
                            )))
                        }
                    },
                };
                let peer = Identity::from_payload(peer_id)
                    .map(|i| i.text())
                    .unwrap_or_default();
                result
                    .map(|()| {
                        Some(format!(
                            "'{bits}-bit {what}' digital signature using preloaded certificate '{peer}'"
                        ))
                    })
                    .map_err(|e| AuthFail::Failed(format!("signature does not verify: {e}")))
            }
        }
    }
}
