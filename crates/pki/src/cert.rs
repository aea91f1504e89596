//! X.509 certificates: an owned, parsed view of everything ferroswan uses.

use std::fmt;
use std::net::IpAddr;

use x509_parser::extensions::{
    DistributionPointName, GeneralName as XGeneralName, ParsedExtension,
};
use x509_parser::prelude::X509Certificate;

use crate::dn::DistinguishedName;
use crate::error::{PkiError, Result};
use crate::pubkey::{Hash, PublicKey, SignatureScheme};
use crate::time::UnixTime;

/// A name from a subjectAltName (or an issuer/CRL distribution point name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GeneralName {
    /// dNSName.
    Dns(String),
    /// rfc822Name (an e-mail address).
    Email(String),
    /// iPAddress.
    Ip(IpAddr),
    /// uniformResourceIdentifier.
    Uri(String),
    /// directoryName.
    DirectoryName(DistinguishedName),
    /// Any other kind, kept as a description.
    Other(String),
}

impl GeneralName {
    pub(crate) fn from_x509(gn: &XGeneralName<'_>) -> GeneralName {
        match gn {
            XGeneralName::DNSName(s) => GeneralName::Dns((*s).to_string()),
            XGeneralName::RFC822Name(s) => GeneralName::Email((*s).to_string()),
            XGeneralName::URI(s) => GeneralName::Uri((*s).to_string()),
            XGeneralName::DirectoryName(n) => {
                GeneralName::DirectoryName(DistinguishedName::from_x509(n))
            }
            XGeneralName::IPAddress(b) => match b.len() {
                4 => {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(b);
                    GeneralName::Ip(IpAddr::from(a))
                }
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    GeneralName::Ip(IpAddr::from(a))
                }
                _ => GeneralName::Other(format!("IP:{}", hex::encode(b))),
            },
            other => GeneralName::Other(format!("{other:?}")),
        }
    }
}

impl fmt::Display for GeneralName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeneralName::Dns(s) => write!(f, "DNS:{s}"),
            GeneralName::Email(s) => write!(f, "email:{s}"),
            GeneralName::Ip(a) => write!(f, "IP:{a}"),
            GeneralName::Uri(s) => write!(f, "URI:{s}"),
            GeneralName::DirectoryName(d) => write!(f, "DirName:{d}"),
            GeneralName::Other(s) => write!(f, "{s}"),
        }
    }
}

/// The keyUsage bits of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    /// digitalSignature.
    pub digital_signature: bool,
    /// nonRepudiation (contentCommitment).
    pub non_repudiation: bool,
    /// keyEncipherment.
    pub key_encipherment: bool,
    /// dataEncipherment.
    pub data_encipherment: bool,
    /// keyAgreement.
    pub key_agreement: bool,
    /// keyCertSign.
    pub key_cert_sign: bool,
    /// cRLSign.
    pub crl_sign: bool,
}

/// The extendedKeyUsage purposes of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtendedKeyUsage {
    /// anyExtendedKeyUsage.
    pub any: bool,
    /// id-kp-serverAuth.
    pub server_auth: bool,
    /// id-kp-clientAuth.
    pub client_auth: bool,
    /// id-kp-OCSPSigning.
    pub ocsp_signing: bool,
    /// id-kp-ipsecIKE (1.3.6.1.5.5.7.3.17).
    pub ipsec_ike: bool,
    /// Other purposes as dotted OIDs.
    pub other: Vec<String>,
}

/// The basicConstraints extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasicConstraints {
    /// cA.
    pub ca: bool,
    /// pathLenConstraint.
    pub path_len: Option<u32>,
}

/// An X.509 certificate, parsed once and kept with its DER.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    version: u32,
    serial: Vec<u8>,
    subject: DistinguishedName,
    issuer: DistinguishedName,
    not_before: UnixTime,
    not_after: UnixTime,
    public_key: PublicKey,
    signature_scheme: std::result::Result<SignatureScheme, String>,
    signature: Vec<u8>,
    subject_alt_names: Vec<GeneralName>,
    key_usage: Option<KeyUsage>,
    extended_key_usage: Option<ExtendedKeyUsage>,
    basic_constraints: Option<BasicConstraints>,
    crl_distribution_points: Vec<String>,
    ocsp_uris: Vec<String>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    unhandled_critical: Vec<String>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject.to_string())
            .field("issuer", &self.issuer.to_string())
            .field("serial", &self.serial_hex())
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate> {
        let (rest, x) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| PkiError::parse("certificate", e))?;
        let used = der.len() - rest.len();
        let der = der.get(..used).unwrap_or(der).to_vec();
        Self::from_x509(&x, der)
    }

    /// Parses every certificate of a PEM file (or the one certificate of a DER file).
    pub fn from_pem_or_der(data: &[u8]) -> Result<Vec<Certificate>> {
        let objs = crate::pem::der_objects(data, &["CERTIFICATE", "X509 CERTIFICATE"])?;
        objs.iter().map(|d| Certificate::from_der(d)).collect()
    }

    fn from_x509(x: &X509Certificate<'_>, der: Vec<u8>) -> Result<Certificate> {
        let tbs = x.tbs_certificate.as_ref().to_vec();
        let mut c = Certificate {
            tbs,
            version: x.version().0 + 1,
            serial: x.raw_serial().to_vec(),
            subject: DistinguishedName::from_x509(x.subject()),
            issuer: DistinguishedName::from_x509(x.issuer()),
            not_before: UnixTime(x.validity().not_before.timestamp()),
            not_after: UnixTime(x.validity().not_after.timestamp()),
            public_key: PublicKey::from_x509(x.public_key())?,
            signature_scheme: SignatureScheme::from_algorithm(&x.signature_algorithm)
                .map_err(|e| e.to_string()),
            signature: x.signature_value.data.to_vec(),
            subject_alt_names: Vec::new(),
            key_usage: None,
            extended_key_usage: None,
            basic_constraints: None,
            crl_distribution_points: Vec::new(),
            ocsp_uris: Vec::new(),
            subject_key_id: None,
            authority_key_id: None,
            unhandled_critical: Vec::new(),
            der,
        };
        for ext in x.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    c.subject_alt_names = san
                        .general_names
                        .iter()
                        .map(GeneralName::from_x509)
                        .collect();
                }
                ParsedExtension::KeyUsage(ku) => {
                    c.key_usage = Some(KeyUsage {
                        digital_signature: ku.digital_signature(),
                        non_repudiation: ku.non_repudiation(),
                        key_encipherment: ku.key_encipherment(),
                        data_encipherment: ku.data_encipherment(),
                        key_agreement: ku.key_agreement(),
                        key_cert_sign: ku.key_cert_sign(),
                        crl_sign: ku.crl_sign(),
                    })
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let other: Vec<String> = eku.other.iter().map(|o| o.to_id_string()).collect();
                    c.extended_key_usage = Some(ExtendedKeyUsage {
                        any: eku.any,
                        server_auth: eku.server_auth,
                        client_auth: eku.client_auth,
                        ocsp_signing: eku.ocsp_signing,
                        ipsec_ike: other.iter().any(|o| o == "1.3.6.1.5.5.7.3.17"),
                        other,
                    })
                }
                ParsedExtension::BasicConstraints(bc) => {
                    c.basic_constraints = Some(BasicConstraints {
                        ca: bc.ca,
                        path_len: bc.path_len_constraint,
                    })
                }
                ParsedExtension::CRLDistributionPoints(points) => {
                    for p in &points.points {
                        if let Some(DistributionPointName::FullName(names)) = &p.distribution_point
                        {
                            for n in names {
                                if let XGeneralName::URI(u) = n {
                                    c.crl_distribution_points.push((*u).to_string());
                                }
                            }
                        }
                    }
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    for d in &aia.accessdescs {
                        if d.access_method.to_id_string() == "1.3.6.1.5.5.7.48.1" {
                            if let XGeneralName::URI(u) = &d.access_location {
                                c.ocsp_uris.push((*u).to_string());
                            }
                        }
                    }
                }
                ParsedExtension::SubjectKeyIdentifier(k) => c.subject_key_id = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    c.authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => {}
            }
            // Extensions ferroswan enforces; any other critical one makes the
            // certificate unusable in a chain (RFC 5280 4.2).
            const HANDLED: &[&str] = &[
                "2.5.29.15", // keyUsage
                "2.5.29.37", // extKeyUsage
                "2.5.29.19", // basicConstraints
                "2.5.29.17", // subjectAltName
                "2.5.29.14", // subjectKeyIdentifier
                "2.5.29.35", // authorityKeyIdentifier
            ];
            let oid = ext.oid.to_id_string();
            if ext.critical && !HANDLED.contains(&oid.as_str()) {
                c.unhandled_critical.push(oid);
            }
        }
        Ok(c)
    }

    /// The DER encoding (what a CERT payload carries).
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The DER of the TBSCertificate (what the issuer signed).
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs
    }
    /// X.509 version (1, 2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The serial number as its DER INTEGER contents (big-endian, maybe a leading zero).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
    /// The serial number as Libreswan prints it: `0x` and lowercase hex.
    pub fn serial_hex(&self) -> String {
        format!("0x{}", hex::encode(&self.serial))
    }
    /// The subject name.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }
    /// The issuer name.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }
    /// Start of validity.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }
    /// End of validity.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }
    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    /// The issuer's signature scheme, or why it is not supported.
    pub fn signature_scheme(&self) -> Result<SignatureScheme> {
        self.signature_scheme
            .clone()
            .map_err(|detail| PkiError::Unsupported {
                what: "certificate signature",
                detail,
            })
    }
    /// The subjectAltName entries.
    pub fn subject_alt_names(&self) -> &[GeneralName] {
        &self.subject_alt_names
    }
    /// The keyUsage extension, if present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.key_usage
    }
    /// The extendedKeyUsage extension, if present.
    pub fn extended_key_usage(&self) -> Option<&ExtendedKeyUsage> {
        self.extended_key_usage.as_ref()
    }
    /// The basicConstraints extension, if present.
    pub fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.basic_constraints
    }
    /// Whether the certificate is a CA (basicConstraints cA, or an X.509v1
    /// self-signed root, as NSS treats it).
    pub fn is_ca(&self) -> bool {
        match self.basic_constraints {
            Some(bc) => bc.ca,
            None => self.version < 3 && self.is_self_issued(),
        }
    }
    /// Whether subject and issuer are the same name.
    pub fn is_self_issued(&self) -> bool {
        self.subject.same_as(&self.issuer)
    }
    /// Whether the certificate is self-signed (self-issued and its own key verifies it).
    pub fn is_self_signed(&self) -> bool {
        self.is_self_issued() && self.verify_signed_by(&self.public_key).is_ok()
    }
    /// URIs of the cRLDistributionPoints.
    pub fn crl_distribution_points(&self) -> &[String] {
        &self.crl_distribution_points
    }
    /// OCSP responder URIs from authorityInfoAccess.
    pub fn ocsp_uris(&self) -> &[String] {
        &self.ocsp_uris
    }
    /// OIDs of critical extensions ferroswan does not enforce (e.g. name
    /// constraints, policies); such a certificate is refused in a chain.
    pub fn unhandled_critical_extensions(&self) -> &[String] {
        &self.unhandled_critical
    }
    /// subjectKeyIdentifier.
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_deref()
    }
    /// authorityKeyIdentifier keyIdentifier.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }
    /// SHA-1 fingerprint of the DER certificate.
    pub fn sha1_fingerprint(&self) -> [u8; 20] {
        let d = Hash::Sha1.digest(&self.der);
        let mut out = [0u8; 20];
        out.copy_from_slice(d.get(..20).unwrap_or(&[0u8; 20]));
        out
    }
    /// SHA-256 fingerprint of the DER certificate.
    pub fn sha256_fingerprint(&self) -> Vec<u8> {
        Hash::Sha256.digest(&self.der)
    }
    /// Whether `time` is within the validity period.
    pub fn is_valid_at(&self, time: UnixTime) -> bool {
        self.not_before <= time && time <= self.not_after
    }
    /// Verifies this certificate's signature with `issuer_key`.
    pub fn verify_signed_by(&self, issuer_key: &PublicKey) -> Result<()> {
        issuer_key.verify(self.signature_scheme()?, &self.tbs, &self.signature)
    }
}
