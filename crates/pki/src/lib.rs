//! ferroswan crate `pki`: X.509 certificates, private keys, CA chains, CRLs,
//! OCSP and the stores that hold them (a PEM `ipsec.d` folder and an NSS
//! database read natively), plus Libreswan's list outputs.
//!
//! Nothing here reads the clock implicitly: validation and listings take the
//! time as a parameter ([`UnixTime`]).

pub mod auth;
pub mod cert;
pub mod chain;
pub mod crl;
mod der;
pub mod dn;
pub mod error;
pub mod id;
pub mod key;
pub mod list;
pub mod nss;
pub mod ocsp;
pub mod pem;
pub mod pubkey;
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
