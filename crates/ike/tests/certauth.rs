//! The `CertAuth` trait: a stand-in "certificate" implementation (the
//! certificate is the SubjectPublicKeyInfo, trusted when it is the one
//! configured) shows the engine carries CERT/CERTREQ payloads and hands
//! the right octets to the trait on both ends.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ike::crypto::sign::{decode_digital_signature, encode_digital_signature};
use ike::crypto::{KeyType, PrivateKey, PublicKey, SignatureScheme};
use ike::engine::{Authentication, CertAuth, CertAuthError, PeerAuthHints};
use ike::wire::{AuthMethod, IdPayload};

struct SpkiCert {
    key: PrivateKey,
    trusted_peer: Vec<u8>,
    seen_peer_certs: Mutex<usize>,
}

impl CertAuth for SpkiCert {
    fn local_certificates(&self, _peer: &PeerAuthHints) -> Vec<Vec<u8>> {
        self.key
            .public_key()
            .map(|p| vec![p.to_spki_der()])
            .unwrap_or_default()
    }
    fn sign(
        &self,
        peer: &PeerAuthHints,
        octets: &[u8],
    ) -> Result<(AuthMethod, Vec<u8>), CertAuthError> {
        // Both engines announce SIGNATURE_HASH_ALGORITHMS with SHA2-256.
        if !peer.signature_hashes.contains(&2) {
            return Err(CertAuthError::SignFailed("peer lacks SHA2-256".into()));
        }
        let sig = self
            .key
            .sign(SignatureScheme::EcdsaSha256, octets)
            .map_err(|e| CertAuthError::SignFailed(e.to_string()))?;
        Ok((
            AuthMethod::DigitalSignature,
            encode_digital_signature(SignatureScheme::EcdsaSha256, &sig),
        ))
    }
    fn verify(
        &self,
        _peer_id: &IdPayload,
        certs: &[Vec<u8>],
        method: AuthMethod,
        octets: &[u8],
        auth_data: &[u8],
    ) -> Result<(), CertAuthError> {
        *self.seen_peer_certs.lock().unwrap() += certs.len();
        let cert = certs
            .first()
            .ok_or_else(|| CertAuthError::Rejected("no certificate".into()))?;
        if *cert != self.trusted_peer || method != AuthMethod::DigitalSignature {
            return Err(CertAuthError::Rejected("untrusted certificate".into()));
        }
        let key =
            PublicKey::from_spki_der(cert).map_err(|e| CertAuthError::Rejected(e.to_string()))?;
        let (scheme, sig) = decode_digital_signature(auth_data)
            .map_err(|e| CertAuthError::Rejected(e.to_string()))?;
        key.verify(scheme, octets, sig)
            .map_err(|e| CertAuthError::Rejected(e.to_string()))
    }
    fn certificate_request(&self) -> Vec<u8> {
        vec![0x5a; 20]
    }
}

fn pair_of(trust_right_peer: bool) -> (Arc<SpkiCert>, Arc<SpkiCert>) {
    let w = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let e = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let w_spki = w.public_key().unwrap().to_spki_der();
    let e_spki = if trust_right_peer {
        e.public_key().unwrap().to_spki_der()
    } else {
        other.public_key().unwrap().to_spki_der()
    };
    (
        Arc::new(SpkiCert {
            key: w,
            trusted_peer: e_spki,
            seen_peer_certs: Mutex::new(0),
        }),
        Arc::new(SpkiCert {
            key: e,
            trusted_peer: w_spki,
            seen_peer_certs: Mutex::new(0),
        }),
    )
}

#[test]
fn certificate_auth_through_the_trait() {
    let (wc, ec) = pair_of(true);
    let (w, mut e) = conns(Authentication::Certificate(wc.clone()));
    e.auth = Authentication::Certificate(ec.clone());
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    pair.assert_established();
    assert_eq!(*wc.seen_peer_certs.lock().unwrap(), 1);
    assert_eq!(*ec.seen_peer_certs.lock().unwrap(), 1);
}

#[test]
fn untrusted_certificate_fails() {
    let (wc, ec) = pair_of(false);
    let (w, mut e) = conns(Authentication::Certificate(wc));
    e.auth = Authentication::Certificate(ec);
    let mut pair = Pair::new(w, e);
    pair.initiate();
    pair.run_for(Duration::from_secs(1));
    // East trusts west; west does not trust east's certificate.
    assert_eq!(Pair::ike_up(&pair.west_events), 0);
    assert!(Pair::logs(&pair.west_events)
        .iter()
        .any(|l| l.contains("untrusted certificate")));
}
