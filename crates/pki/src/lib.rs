//! ferroswan crate `pki`: X.509 certificates, private keys, CA chains, CRLs,
//! OCSP and the stores that hold them (a PEM `ipsec.d` folder and an NSS
//! database read natively), plus Libreswan's list outputs.
//!
//! Nothing here reads the clock implicitly: validation and listings take the
//! time as a parameter ([`UnixTime`]).
//!
//! How the IKE side uses it:
//! - load a store: [`NssDb::open`] + [`NssDb::load`] (with the NSS password,
//!   see [`nss::password_from_nsspassword`]) or [`CertStore::load_pem_dir`];
//! - `leftcert=`: [`CertStore::cert_by_nickname`], its key with
//!   [`CertStore::private_key_for`] (or `leftckaid=`:
//!   [`CertStore::private_key_by_ckaid`]), signing with [`PrivateKey::sign`];
//!   `leftid=%fromcert`: [`Id::from_cert`];
//! - CERTREQ: [`CertStore::certreq_authorities`] to send,
//!   [`CertStore::cas_requested`] for a received one; CERT payloads to send:
//!   the certificate's [`Certificate::der`] and [`CertStore::issuer_chain`];
//! - a peer's CERT payloads: [`CertStore::authenticate_peer`] (chain, CRLs,
//!   `rightca=`, ID) gives the [`PublicKey`] to [`PublicKey::verify`] the AUTH
//!   payload with a [`SignatureScheme`];
//! - revocation: [`CrlStore`], [`OcspRequest`] / [`verify_response`] /
//!   [`OcspCache`]; fetching CRLs (http:// and ldap://) and OCSP answers
//!   off the IKE thread: [`fetch::Fetcher`] (LDAP client in [`ldap`]);
//! - `ipsec auto --list*`: the [`list`] module.

pub mod auth;
pub mod cert;
pub mod chain;
pub mod crl;
mod der;
pub mod dn;
pub mod error;
pub mod fetch;
pub mod id;
pub mod key;
pub mod ldap;
pub mod list;
pub mod nss;
pub mod ocsp;
pub mod pem;
pub mod pubkey;
mod rsa_legacy;
pub mod store;
pub mod time;
pub mod zone;

pub use auth::{PeerCert, PeerCertError};
pub use cert::{BasicConstraints, Certificate, ExtendedKeyUsage, GeneralName, KeyUsage};
pub use chain::{validate_chain, ChainError, ValidatedChain, ValidationOptions, MAX_CA_PATH_LEN};
pub use crl::{Crl, CrlStore, RevocationStatus, RevokedEntry};
pub use dn::DistinguishedName;
pub use error::{PkiError, Result};
pub use id::Id;
pub use key::PrivateKey;
pub use nss::{NssDb, NssPrivateKey};
pub use ocsp::{verify_response, CertId, OcspCache, OcspCertStatus, OcspRequest, OcspStatus};
pub use pubkey::{Curve, Hash, KeyType, PublicKey, SignatureScheme};
pub use store::{CertStore, StoredCert, Trust};
pub use time::{TimeZone, UnixTime};
pub use zone::ZoneInfo;
