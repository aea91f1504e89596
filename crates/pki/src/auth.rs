//! Checking a peer's certificates as received in IKE CERT payloads: chain
//! validation against the store, `rightca=`, and the peer's ID.

use crate::cert::Certificate;
use crate::chain::{ChainError, ValidatedChain, ValidationOptions};
use crate::dn::DistinguishedName;
use crate::error::PkiError;
use crate::id::Id;
use crate::pubkey::PublicKey;
use crate::store::CertStore;

/// Why a peer's certificate is refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerCertError {
    /// The peer sent no CERT payload and no public key is known.
    #[error("the peer sent no certificate")]
    NoCertificate,
    /// A CERT payload is not an X.509 certificate ferroswan can use.
    #[error("cannot use the peer's certificate: {0}")]
    Parse(#[from] PkiError),
    /// The chain does not validate.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The certificate does not prove the peer's ID.
    #[error("certificate \"{subject}\" does not prove the peer's ID \"{id}\"")]
    IdMismatch {
        /// The certificate's subject.
        subject: String,
        /// The ID the peer claimed (or the configuration requires).
        id: String,
    },
    /// The chain does not go through the CA the configuration requires.
    #[error("certificate \"{subject}\" is not issued under CA \"{ca}\"")]
    WrongCa {
        /// The certificate's subject.
        subject: String,
        /// The required CA (`rightca=`).
        ca: String,
    },
}

/// An accepted peer certificate.
#[derive(Debug, Clone)]
pub struct PeerCert {
    /// The validated chain, end certificate first.
    pub chain: ValidatedChain,
    /// The key to verify the peer's AUTH payload with.
    pub public_key: PublicKey,
    /// DN wildcards used to match the ID (fewer is a better match).
    pub id_wildcards: usize,
}

impl PeerCert {
    /// The peer's end certificate.
    pub fn cert(&self) -> Option<&Certificate> {
        self.chain.end()
    }
}

impl CertStore {
    /// Authenticates a peer's CERT payloads (DER, the end certificate first,
    /// then intermediates): validates the chain to this store's trust anchors
    /// (with its CRLs), requires `ca` in the chain when given (`rightca=`),
    /// and requires the end certificate to prove `id`.
    pub fn authenticate_peer(
        &self,
        certs_der: &[&[u8]],
        id: &Id,
        ca: Option<&DistinguishedName>,
        opts: &ValidationOptions,
    ) -> Result<PeerCert, PeerCertError> {
        let (end, rest) = certs_der
            .split_first()
            .ok_or(PeerCertError::NoCertificate)?;
        let end = Certificate::from_der(end)?;
        let intermediates = rest
            .iter()
            .map(|d| Certificate::from_der(d))
            .collect::<Result<Vec<_>, _>>()?;
        let chain = self.validate(&end, &intermediates, opts)?;
        if let Some(ca) = ca {
            if !chain.has_ca(ca) {
                return Err(PeerCertError::WrongCa {
                    subject: end.subject().to_string(),
                    ca: ca.to_string(),
                });
            }
        }
        let id_wildcards =
            id.match_cert_wildcards(&end)
                .ok_or_else(|| PeerCertError::IdMismatch {
                    subject: end.subject().to_string(),
                    id: id.to_string(),
                })?;
        Ok(PeerCert {
            public_key: end.public_key().clone(),
            chain,
            id_wildcards,
        })
    }
}
