//! Connections: what the daemon maps from an ipsec.conf `conn` section.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::{EncrAlg, IntegAlg, KeGroup, KeyType, PrfAlg, PrivateKey, PublicKey, Secret};
use crate::wire::{AuthMethod, IdPayload, IdType, TrafficSelector};

/// Identifies a connection added to an [`super::Engine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// An identity (`leftid=` / `rightid=`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    Address(IpAddr),
    /// ID_FQDN (`@host.example`).
    Fqdn(String),
    /// ID_RFC822_ADDR (`user@example`).
    Rfc822(String),
    /// ID_DER_ASN1_DN: the DER encoding of the distinguished name.
    DerAsn1Dn(Vec<u8>),
    /// ID_KEY_ID (`@#hex`).
    KeyId(Vec<u8>),
    /// ID_NULL (RFC 7619), for `authby=null`.
    Null,
}

impl Identity {
    /// The ID payload body for this identity.
    pub fn to_payload(&self) -> IdPayload {
        let (id_type, data) = match self {
            Identity::Address(IpAddr::V4(a)) => (IdType::Ipv4Addr, a.octets().to_vec()),
            Identity::Address(IpAddr::V6(a)) => (IdType::Ipv6Addr, a.octets().to_vec()),
            Identity::Fqdn(s) => (IdType::Fqdn, s.as_bytes().to_vec()),
            Identity::Rfc822(s) => (IdType::Rfc822Addr, s.as_bytes().to_vec()),
            Identity::DerAsn1Dn(d) => (IdType::DerAsn1Dn, d.clone()),
            Identity::KeyId(d) => (IdType::KeyId, d.clone()),
            Identity::Null => (IdType::Null, Vec::new()),
        };
        IdPayload { id_type, data }
    }

    /// The identity an ID payload names, if its type is supported.
    pub fn from_payload(p: &IdPayload) -> Option<Identity> {
        Some(match p.id_type {
            IdType::Ipv4Addr => {
                let a: [u8; 4] = p.data.as_slice().try_into().ok()?;
                Identity::Address(IpAddr::from(a))
            }
            IdType::Ipv6Addr => {
                let a: [u8; 16] = p.data.as_slice().try_into().ok()?;
                Identity::Address(IpAddr::from(a))
            }
            IdType::Fqdn => Identity::Fqdn(String::from_utf8(p.data.clone()).ok()?),
            IdType::Rfc822Addr => Identity::Rfc822(String::from_utf8(p.data.clone()).ok()?),
            IdType::DerAsn1Dn => Identity::DerAsn1Dn(p.data.clone()),
            IdType::KeyId => Identity::KeyId(p.data.clone()),
            IdType::Null => Identity::Null,
            _ => return None,
        })
    }

    /// Whether two identities name the same thing: equal octets, or, for
    /// distinguished names, the same RDNs whatever their string encoding
    /// (a peer may encode a DN typed in its configuration differently
    /// from the certificate's subject).
    pub fn same_as(&self, other: &Identity) -> bool {
        if self == other {
            return true;
        }
        match (self, other) {
            (Identity::DerAsn1Dn(a), Identity::DerAsn1Dn(b)) => {
                match (
                    pki::DistinguishedName::from_der(a),
                    pki::DistinguishedName::from_der(b),
                ) {
                    (Ok(a), Ok(b)) => a.same_as(&b),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The identity as written in ipsec.conf: `@east`, `user@example`,
    /// an address, `@#hex` for a key ID.
    pub fn text(&self) -> String {
        match self {
            Identity::Address(a) => a.to_string(),
            Identity::Fqdn(s) => format!("@{s}"),
            Identity::Rfc822(s) => s.clone(),
            Identity::DerAsn1Dn(d) => match pki::DistinguishedName::from_der(d) {
                Ok(dn) => dn.to_string(),
                Err(_) => format!("DER DN ({} octets)", d.len()),
            },
            Identity::KeyId(d) => format!("@#0x{}", hex::encode(d)),
            Identity::Null => "ID_NULL".to_string(),
        }
    }

    /// Libreswan's wording, e.g. `ID_FQDN '@east.example'`.
    pub fn describe(&self) -> String {
        match self {
            Identity::Address(IpAddr::V4(a)) => format!("ID_IPV4_ADDR '{a}'"),
            Identity::Address(IpAddr::V6(a)) => format!("ID_IPV6_ADDR '{a}'"),
            Identity::Fqdn(s) => format!("ID_FQDN '@{s}'"),
            Identity::Rfc822(s) => format!("ID_USER_FQDN '{s}'"),
            Identity::DerAsn1Dn(_) => format!("ID_DER_ASN1_DN '{}'", self.text()),
            Identity::KeyId(d) => format!("ID_KEY_ID '@#0x{}'", hex::encode(d)),
            Identity::Null => "ID_NULL 'ID_NULL'".to_string(),
        }
    }
}

/// Errors of certificate authentication, returned by a [`CertAuth`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertAuthError {
    /// The peer's certificate or signature did not verify.
    #[error("peer authentication failed: {0}")]
    Rejected(String),
    /// The local private key could not sign.
    #[error("signing failed: {0}")]
    SignFailed(String),
}

/// What the peer announced that shapes this end's CERT and AUTH payloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerAuthHints {
    /// The hash algorithms of the peer's SIGNATURE_HASH_ALGORITHMS notify
    /// (RFC 7427 4), in its order; empty when it sent none (then only the
    /// legacy AUTH methods are safe).
    pub signature_hashes: Vec<u16>,
    /// The peer's CERTREQ payloads (X.509 signature encoding): `None` when
    /// it sent none; else the SHA-1 hashes of the CA public keys it named
    /// (empty: it asked for a certificate without naming a CA).
    pub certificate_request: Option<Vec<[u8; 20]>>,
}

impl PeerAuthHints {
    /// Whether the peer sent a CERTREQ.
    pub fn asked_for_certificate(&self) -> bool {
        self.certificate_request.is_some()
    }
}

/// Certificate-based authentication, implemented by the `pki` integration.
/// The engine hands it the exact octets RFC 7296 2.15 signs; it never sees
/// a private key itself.
pub trait CertAuth: Send + Sync {
    /// The local certificate chain to send in CERT payloads (DER, end
    /// entity first; empty to send none), given what the peer asked for.
    fn local_certificates(&self, peer: &PeerAuthHints) -> Vec<Vec<u8>>;
    /// Signs `octets` and returns the AUTH method used and the AUTH
    /// payload's Authentication Data (for RFC 7427, including the
    /// AlgorithmIdentifier prefix), choosing a hash the peer announced.
    fn sign(
        &self,
        peer: &PeerAuthHints,
        octets: &[u8],
    ) -> Result<(AuthMethod, Vec<u8>), CertAuthError>;
    /// Checks the peer: its ID, the certificates it sent, and its AUTH
    /// payload over `octets`.
    fn verify(
        &self,
        peer_id: &IdPayload,
        peer_certificates: &[Vec<u8>],
        method: AuthMethod,
        octets: &[u8],
        auth_data: &[u8],
    ) -> Result<(), CertAuthError>;
    /// Like [`CertAuth::verify`], and says what was verified in Libreswan's
    /// words (`'2048-bit RSASSA-PSS with SHA2_256' digital signature using
    /// peer certificate 'DN' issued by CA 'DN'`), for the log line of the
    /// established IKE SA; `None` leaves the generic wording.
    fn verify_described(
        &self,
        peer_id: &IdPayload,
        peer_certificates: &[Vec<u8>],
        method: AuthMethod,
        octets: &[u8],
        auth_data: &[u8],
    ) -> Result<Option<String>, CertAuthError> {
        self.verify(peer_id, peer_certificates, method, octets, auth_data)
            .map(|()| None)
    }
    /// SHA-1 hashes of trusted CA public keys for a CERTREQ payload
    /// (concatenated; empty sends no CERTREQ).
    fn certificate_request(&self) -> Vec<u8>;
}

/// How this end authenticates and how it authenticates the peer
/// (`authby=`).
#[derive(Clone)]
pub enum Authentication {
    /// `authby=secret`: the shared secret from ipsec.secrets.
    Psk(Secret),
    /// `authby=rsasig`/`ecdsa` with raw keys (`leftrsasigkey=`,
    /// `leftpubkey=`/`rightpubkey=`): the local private key (from
    /// ipsec.secrets or the NSS database) and the peer's public key.
    /// Signs with RFC 7427 Digital Signatures when the peer announced
    /// SIGNATURE_HASH_ALGORITHMS, else with the legacy method of the key
    /// type (RSA 1, ECDSA 9/10/11).
    RawKey {
        /// Local private key.
        private_key: Arc<PrivateKey>,
        /// Peer public key.
        peer_public_key: Arc<PublicKey>,
    },
    /// `authby=null` (RFC 7619).
    Null,
    /// Certificates through the `pki` integration.
    Certificate(Arc<dyn CertAuth>),
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authentication::Psk(_) => f.write_str("Psk([REDACTED])"),
            Authentication::RawKey { .. } => f.write_str("RawKey([REDACTED])"),
            Authentication::Null => f.write_str("Null"),
            Authentication::Certificate(_) => f.write_str("Certificate"),
        }
    }
}

impl Authentication {
    /// Libreswan's `authby=` word.
    pub fn authby(&self) -> &'static str {
        match self {
            Authentication::Psk(_) => "secret",
            Authentication::RawKey { private_key, .. } => match private_key.key_type() {
                KeyType::Rsa => "rsasig",
                KeyType::Ed25519 => "eddsa",
                _ => "ecdsa",
            },
            Authentication::Null => "null",
            Authentication::Certificate(_) => "rsasig",
        }
    }
}

/// One IKE proposal (`ike=`): each list holds the acceptable algorithms of
/// one transform type, in preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposal {
    /// Encryption algorithms.
    pub encr: Vec<EncrAlg>,
    /// PRFs.
    pub prf: Vec<PrfAlg>,
    /// Integrity algorithms (empty with an AEAD).
    pub integ: Vec<IntegAlg>,
    /// Key exchange methods.
    pub ke: Vec<KeGroup>,
    /// Additional key exchanges (RFC 9370, `addke1=`...), one list per
    /// ADDKE transform type in order.
    pub addke: Vec<Vec<KeGroup>>,
}

/// One ESP proposal (`esp=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    /// Encryption algorithms.
    pub encr: Vec<EncrAlg>,
    /// Integrity algorithms (empty with an AEAD).
    pub integ: Vec<IntegAlg>,
    /// PFS key exchange methods for CREATE_CHILD_SA (empty: no PFS).
    pub ke: Vec<KeGroup>,
}

/// Libreswan 5's default key exchange groups for IKEv2, in its order
/// (`default_ikev2_groups` in Libreswan's lib/libswan/ike_info.c), without
/// MODP8192, which ferroswan does not implement. The first one is the
/// group of the KE payload in IKE_SA_INIT. See docs/design.md, "Default
/// proposals".
pub const DEFAULT_IKE_GROUPS: [KeGroup; 7] = [
    KeGroup::Ecp256,
    KeGroup::Ecp384,
    KeGroup::Ecp521,
    KeGroup::Curve25519,
    KeGroup::Modp4096,
    KeGroup::Modp3072,
    KeGroup::Modp2048,
];

/// Libreswan 5's default IKE proposals (`ike=` unset): one proposal per
/// cipher (AES-GCM-16-256, AES-GCM-16-128, ChaCha20-Poly1305, AES-CBC-256,
/// AES-CBC-128), each with PRF HMAC-SHA2-512 and -256 (and the matching
/// integrity algorithms for CBC) and [`DEFAULT_IKE_GROUPS`].
pub fn default_ike_proposals() -> Vec<IkeProposal> {
    let prf = vec![PrfAlg::HmacSha2_512, PrfAlg::HmacSha2_256];
    let proposal = |encr: EncrAlg, integ: Vec<IntegAlg>| IkeProposal {
        encr: vec![encr],
        prf: prf.clone(),
        integ,
        ke: DEFAULT_IKE_GROUPS.to_vec(),
        addke: vec![],
    };
    let cbc_integ = || vec![IntegAlg::HmacSha2_512_256, IntegAlg::HmacSha2_256_128];
    vec![
        proposal(EncrAlg::AesGcm16_256, vec![]),
        proposal(EncrAlg::AesGcm16_128, vec![]),
        proposal(EncrAlg::ChaCha20Poly1305, vec![]),
        proposal(EncrAlg::AesCbc256, cbc_integ()),
        proposal(EncrAlg::AesCbc128, cbc_integ()),
    ]
}

/// Libreswan 5's default ESP proposals (`esp=` unset): AES-GCM-16-256,
/// AES-GCM-16-128, ChaCha20-Poly1305, AES-CBC-256 and AES-CBC-128 with
/// HMAC-SHA2-512-256 or -256-128. No KE transform: with `pfs=yes` a
/// CREATE_CHILD_SA proposes the IKE SA's group.
pub fn default_esp_proposals() -> Vec<EspProposal> {
    let proposal = |encr: EncrAlg, integ: Vec<IntegAlg>| EspProposal {
        encr: vec![encr],
        integ,
        ke: vec![],
    };
    let cbc_integ = || vec![IntegAlg::HmacSha2_512_256, IntegAlg::HmacSha2_256_128];
    vec![
        proposal(EncrAlg::AesGcm16_256, vec![]),
        proposal(EncrAlg::AesGcm16_128, vec![]),
        proposal(EncrAlg::ChaCha20Poly1305, vec![]),
        proposal(EncrAlg::AesCbc256, cbc_integ()),
        proposal(EncrAlg::AesCbc128, cbc_integ()),
    ]
}

/// IPsec mode (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `type=tunnel`.
    Tunnel,
    /// `type=transport` (USE_TRANSPORT_MODE).
    Transport,
}

/// `esn=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsnPolicy {
    /// Only 32-bit sequence numbers (Libreswan's default `esn=no`).
    No,
    /// Only extended sequence numbers.
    Yes,
    /// Either; prefer ESN.
    Either,
}

/// `fragmentation=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragmentation {
    /// Announce and use IKE fragmentation when the peer supports it.
    Yes,
    /// Never fragment.
    No,
}

/// A connection (one `conn` section, resolved).
#[derive(Debug, Clone)]
pub struct Connection {
    /// Name (`conn NAME`).
    pub name: String,
    /// Local IKE endpoint (`left=`, port 500).
    pub local_addr: SocketAddr,
    /// Remote IKE endpoint (`right=`); `None` for `%any` (responder only).
    pub remote_addr: Option<SocketAddr>,
    /// Local identity (`leftid=`); the local address when `None`.
    pub local_id: Option<Identity>,
    /// Expected remote identity (`rightid=`); any when `None`... for a
    /// fixed remote address the remote address.
    pub remote_id: Option<Identity>,
    /// Authentication.
    pub auth: Authentication,
    /// IKE proposals; Libreswan's defaults when empty.
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP proposals; Libreswan's defaults when empty.
    pub esp_proposals: Vec<EspProposal>,
    /// Local traffic selectors (`leftsubnet=`); the local host when empty.
    pub local_ts: Vec<TrafficSelector>,
    /// Remote traffic selectors (`rightsubnet=`); the remote host when
    /// empty.
    pub remote_ts: Vec<TrafficSelector>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// IKE SA lifetime (`ikelifetime=`, default 8 h).
    pub ike_lifetime: Duration,
    /// Child SA lifetime (`salifetime=`, default 8 h).
    pub child_lifetime: Duration,
    /// First retransmission interval (`retransmit-interval=`, 500 ms).
    pub retransmit_interval: Duration,
    /// Give up after (`retransmit-timeout=`, 60 s).
    pub retransmit_timeout: Duration,
    /// IKE fragmentation.
    pub fragmentation: Fragmentation,
    /// ESN.
    pub esn: EsnPolicy,
    /// PFS on CREATE_CHILD_SA (`pfs=`, default yes).
    pub pfs: bool,
    /// Negotiate no Child SA in IKE_AUTH (RFC 6023; `childless=yes`).
    pub childless: bool,
    /// Liveness check interval (`dpddelay=`); none when `None`.
    pub dpd_delay: Option<Duration>,
    /// Rekey this long before the lifetime ends (`rekeymargin=`); `None`:
    /// 9 minutes, at most a quarter of the lifetime.
    pub rekey_margin: Option<Duration>,
    /// `rekeyfuzz=` in percent (default 100): the initiator rekeys up to
    /// this share of the margin earlier, at random.
    pub rekey_fuzz: u32,
    /// Rekey at all (`rekey=`); with `false` the SAs expire.
    pub rekey: bool,
}

impl Connection {
    /// A connection with Libreswan's defaults.
    pub fn new(
        name: &str,
        local_addr: SocketAddr,
        remote_addr: Option<SocketAddr>,
        auth: Authentication,
    ) -> Self {
        Connection {
            name: name.to_string(),
            local_addr,
            remote_addr,
            local_id: None,
            remote_id: None,
            auth,
            ike_proposals: Vec::new(),
            esp_proposals: Vec::new(),
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            mode: Mode::Tunnel,
            ike_lifetime: Duration::from_secs(8 * 3600),
            child_lifetime: Duration::from_secs(8 * 3600),
            retransmit_interval: Duration::from_millis(500),
            retransmit_timeout: Duration::from_secs(60),
            fragmentation: Fragmentation::Yes,
            esn: EsnPolicy::No,
            pfs: true,
            childless: false,
            dpd_delay: None,
            rekey_margin: None,
            rekey_fuzz: 100,
            rekey: true,
        }
    }

    /// The IKE proposals in force.
    pub fn ike_proposals(&self) -> Vec<IkeProposal> {
        if self.ike_proposals.is_empty() {
            default_ike_proposals()
        } else {
            self.ike_proposals.clone()
        }
    }

    /// The ESP proposals in force.
    pub fn esp_proposals(&self) -> Vec<EspProposal> {
        if self.esp_proposals.is_empty() {
            default_esp_proposals()
        } else {
            self.esp_proposals.clone()
        }
    }

    /// The local identity in force.
    pub fn local_identity(&self) -> Identity {
        match (&self.local_id, &self.auth) {
            (Some(id), _) => id.clone(),
            (None, Authentication::Null) => Identity::Null,
            (None, _) => Identity::Address(self.local_addr.ip()),
        }
    }

    /// The local traffic selectors in force.
    pub fn local_selectors(&self, local: IpAddr) -> Vec<TrafficSelector> {
        if self.local_ts.is_empty() {
            vec![TrafficSelector::host(local)]
        } else {
            self.local_ts.clone()
        }
    }

    /// The remote traffic selectors in force.
    pub fn remote_selectors(&self, remote: IpAddr) -> Vec<TrafficSelector> {
        if self.remote_ts.is_empty() {
            vec![TrafficSelector::host(remote)]
        } else {
            self.remote_ts.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Identity;

    /// `CN=<value>` with the value as a PrintableString (0x13) or a
    /// UTF8String (0x0c).
    fn cn(tag: u8, value: u8) -> Identity {
        Identity::DerAsn1Dn(vec![
            0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, tag, 0x01, value,
        ])
    }

    #[test]
    fn distinguished_names_compare_whatever_their_encoding() {
        assert!(cn(0x13, b'x').same_as(&cn(0x0c, b'x')));
        assert!(!cn(0x13, b'x').same_as(&cn(0x0c, b'y')));
        assert_eq!(cn(0x0c, b'x').text(), "CN=x");
        assert!(Identity::Fqdn("a".into()).same_as(&Identity::Fqdn("a".into())));
        assert!(!Identity::Fqdn("a".into()).same_as(&cn(0x13, b'a')));
    }
}
