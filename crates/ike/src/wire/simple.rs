//! The payloads with a small fixed header: KE, ID, CERT, CERTREQ, AUTH,
//! Delete, Configuration, SK and SKF.

use super::reader::Reader;
use super::sa::ProtocolId;
use super::{put_u16, WireError, WireResult};

/// Key Exchange payload (RFC 7296 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KePayload {
    /// Key exchange method (Diffie-Hellman group number).
    pub group: u16,
    /// Public value.
    pub data: Vec<u8>,
}

impl KePayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "KE payload");
        let group = r.u16()?;
        let _reserved = r.u16()?;
        Ok(KePayload {
            group,
            data: r.rest().to_vec(),
        })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u16(out, self.group);
        put_u16(out, 0);
        out.extend_from_slice(&self.data);
    }
}

/// Identification type (RFC 7296 3.5, RFC 7619 for NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdType {
    /// ID_IPV4_ADDR (1).
    Ipv4Addr,
    /// ID_FQDN (2).
    Fqdn,
    /// ID_RFC822_ADDR (3).
    Rfc822Addr,
    /// ID_IPV6_ADDR (5).
    Ipv6Addr,
    /// ID_DER_ASN1_DN (9).
    DerAsn1Dn,
    /// ID_DER_ASN1_GN (10).
    DerAsn1Gn,
    /// ID_KEY_ID (11).
    KeyId,
    /// ID_NULL (13, RFC 7619).
    Null,
    /// Any other value.
    Other(u8),
}

impl IdType {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            IdType::Ipv4Addr => 1,
            IdType::Fqdn => 2,
            IdType::Rfc822Addr => 3,
            IdType::Ipv6Addr => 5,
            IdType::DerAsn1Dn => 9,
            IdType::DerAsn1Gn => 10,
            IdType::KeyId => 11,
            IdType::Null => 13,
            IdType::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => IdType::Ipv4Addr,
            2 => IdType::Fqdn,
            3 => IdType::Rfc822Addr,
            5 => IdType::Ipv6Addr,
            9 => IdType::DerAsn1Dn,
            10 => IdType::DerAsn1Gn,
            11 => IdType::KeyId,
            13 => IdType::Null,
            v => IdType::Other(v),
        }
    }
}

/// IDi / IDr payload (RFC 7296 3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdPayload {
    /// ID type.
    pub id_type: IdType,
    /// Identification data.
    pub data: Vec<u8>,
}

impl IdPayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "ID payload");
        let id_type = IdType::from_u8(r.u8()?);
        let _reserved = r.take(3)?;
        Ok(IdPayload {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id_body());
    }

    /// The octets the AUTH payload covers (RFC 7296 2.15: the ID payload
    /// without its generic header): type, three reserved octets, data.
    pub fn id_body(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.data.len());
        v.push(self.id_type.to_u8());
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(&self.data);
        v
    }
}

/// Certificate encoding (RFC 7296 3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertEncoding(pub u8);

impl CertEncoding {
    /// X.509 Certificate - Signature (4).
    pub const X509_SIGNATURE: CertEncoding = CertEncoding(4);
    /// Certificate Revocation List (7).
    pub const CRL: CertEncoding = CertEncoding(7);
    /// Raw RSA Key (11).
    pub const RAW_RSA_KEY: CertEncoding = CertEncoding(11);
    /// Hash and URL of X.509 certificate (12).
    pub const HASH_URL_X509: CertEncoding = CertEncoding(12);
    /// Raw Public Key (15, RFC 7670).
    pub const RAW_PUBLIC_KEY: CertEncoding = CertEncoding(15);
}

/// CERT or CERTREQ payload (RFC 7296 3.6, 3.7); for CERTREQ `data` is the
/// concatenation of SHA-1 hashes of trusted CA public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPayload {
    /// Encoding.
    pub encoding: CertEncoding,
    /// Certificate data or CA hashes.
    pub data: Vec<u8>,
}

impl CertPayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "CERT payload");
        let encoding = CertEncoding(r.u8()?);
        Ok(CertPayload {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
    }
}

/// Authentication method (RFC 7296 3.8, RFC 7427, RFC 7619).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// RSA Digital Signature (1).
    RsaSig,
    /// Shared Key Message Integrity Code (2).
    Psk,
    /// DSS Digital Signature (3).
    DssSig,
    /// ECDSA with SHA-256 on P-256 (9).
    EcdsaP256,
    /// ECDSA with SHA-384 on P-384 (10).
    EcdsaP384,
    /// ECDSA with SHA-512 on P-521 (11).
    EcdsaP521,
    /// NULL Authentication (13).
    Null,
    /// Digital Signature (14, RFC 7427).
    DigitalSignature,
    /// Any other value.
    Other(u8),
}

impl AuthMethod {
    /// The IANA number.
    pub fn to_u8(self) -> u8 {
        match self {
            AuthMethod::RsaSig => 1,
            AuthMethod::Psk => 2,
            AuthMethod::DssSig => 3,
            AuthMethod::EcdsaP256 => 9,
            AuthMethod::EcdsaP384 => 10,
            AuthMethod::EcdsaP521 => 11,
            AuthMethod::Null => 13,
            AuthMethod::DigitalSignature => 14,
            AuthMethod::Other(v) => v,
        }
    }

    /// From the IANA number.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => AuthMethod::RsaSig,
            2 => AuthMethod::Psk,
            3 => AuthMethod::DssSig,
            9 => AuthMethod::EcdsaP256,
            10 => AuthMethod::EcdsaP384,
            11 => AuthMethod::EcdsaP521,
            13 => AuthMethod::Null,
            14 => AuthMethod::DigitalSignature,
            v => AuthMethod::Other(v),
        }
    }
}

/// AUTH payload (RFC 7296 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPayload {
    /// Method.
    pub method: AuthMethod,
    /// Authentication data.
    pub data: Vec<u8>,
}

impl AuthPayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "AUTH payload");
        let method = AuthMethod::from_u8(r.u8()?);
        let _reserved = r.take(3)?;
        Ok(AuthPayload {
            method,
            data: r.rest().to_vec(),
        })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.method.to_u8());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// Delete payload (RFC 7296 3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePayload {
    /// Protocol: IKE (no SPIs), ESP or AH.
    pub protocol: ProtocolId,
    /// SPI size: 0 for IKE, 4 for ESP/AH.
    pub spi_size: u8,
    /// SPIs, each `spi_size` octets.
    pub spis: Vec<Vec<u8>>,
}

impl DeletePayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "Delete payload");
        let protocol = ProtocolId::from_u8(r.u8()?);
        let spi_size = r.u8()?;
        let n = r.u16()? as usize;
        if spi_size == 0 && n != 0 {
            return Err(WireError::BadValue("Delete SPI count", n as u32));
        }
        let mut spis = Vec::with_capacity(if spi_size == 0 {
            0
        } else {
            n.min(r.remaining() / spi_size as usize)
        });
        for _ in 0..n {
            spis.push(r.take(spi_size as usize)?.to_vec());
        }
        if !r.is_empty() {
            return Err(WireError::BadLength("Delete payload", body.len()));
        }
        Ok(DeletePayload {
            protocol,
            spi_size,
            spis,
        })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> WireResult<()> {
        out.push(self.protocol.to_u8());
        out.push(self.spi_size);
        let n = u16::try_from(self.spis.len())
            .map_err(|_| WireError::TooLong("Delete payload", self.spis.len()))?;
        put_u16(out, n);
        for s in &self.spis {
            if s.len() != self.spi_size as usize {
                return Err(WireError::BadLength("Delete SPI", s.len()));
            }
            out.extend_from_slice(s);
        }
        Ok(())
    }
}

/// Configuration payload type (RFC 7296 3.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CfgType(pub u8);

impl CfgType {
    /// CFG_REQUEST (1).
    pub const REQUEST: CfgType = CfgType(1);
    /// CFG_REPLY (2).
    pub const REPLY: CfgType = CfgType(2);
    /// CFG_SET (3).
    pub const SET: CfgType = CfgType(3);
    /// CFG_ACK (4).
    pub const ACK: CfgType = CfgType(4);
}

/// A configuration attribute (RFC 7296 3.15.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgAttribute {
    /// Attribute type (15 bits), e.g. 1 = INTERNAL_IP4_ADDRESS.
    pub kind: u16,
    /// Value (may be empty in a request).
    pub value: Vec<u8>,
}

/// Configuration payload (RFC 7296 3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpPayload {
    /// CFG type.
    pub cfg_type: CfgType,
    /// Attributes.
    pub attributes: Vec<CfgAttribute>,
}

impl CpPayload {
    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "CP payload");
        let cfg_type = CfgType(r.u8()?);
        let _reserved = r.take(3)?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let kind = r.u16()? & 0x7fff;
            let len = r.u16()? as usize;
            attributes.push(CfgAttribute {
                kind,
                value: r.take(len)?.to_vec(),
            });
        }
        Ok(CpPayload {
            cfg_type,
            attributes,
        })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> WireResult<()> {
        out.push(self.cfg_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        for a in &self.attributes {
            put_u16(out, a.kind & 0x7fff);
            let l = u16::try_from(a.value.len())
                .map_err(|_| WireError::TooLong("CP attribute", a.value.len()))?;
            put_u16(out, l);
            out.extend_from_slice(&a.value);
        }
        Ok(())
    }
}

/// The Encrypted and Authenticated payload (RFC 7296 3.14) as it travels:
/// IV, ciphertext, padding and ICV, opaque to the codec. Its generic
/// header's Next Payload field names the first inner payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkPayload {
    /// Type of the first payload inside.
    pub first_inner: u8,
    /// IV || ciphertext || ICV.
    pub data: Vec<u8>,
}

/// The Encrypted and Authenticated Fragment payload (RFC 7383 2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkfPayload {
    /// Type of the first inner payload (fragment 1 only, else 0).
    pub first_inner: u8,
    /// Fragment number, from 1.
    pub fragment_number: u16,
    /// Total number of fragments.
    pub total_fragments: u16,
    /// IV || ciphertext || ICV.
    pub data: Vec<u8>,
}

impl SkfPayload {
    /// Decodes the payload body (after the generic header).
    pub fn decode(first_inner: u8, body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "SKF payload");
        let fragment_number = r.u16()?;
        let total_fragments = r.u16()?;
        if fragment_number == 0 || fragment_number > total_fragments {
            return Err(WireError::BadValue(
                "SKF fragment number",
                fragment_number.into(),
            ));
        }
        Ok(SkfPayload {
            first_inner,
            fragment_number,
            total_fragments,
            data: r.rest().to_vec(),
        })
    }

    /// The 4 octets before the encrypted data (covered by the ICV).
    pub fn encode_prefix(&self, out: &mut Vec<u8>) {
        put_u16(out, self.fragment_number);
        put_u16(out, self.total_fragments);
    }
}
