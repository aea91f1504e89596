//! The LDAPv3 messages ferroswan sends and reads (RFC 4511), BER-encoded:
//! an anonymous simple BindRequest, one SearchRequest and an
//! UnbindRequest out; BindResponse, SearchResultEntry,
//! SearchResultReference, SearchResultDone, IntermediateResponse and the
//! Notice of Disconnection (an ExtendedResponse) in.

use std::io::Read;

use super::filter::Filter;
use super::url::Scope;
use super::LdapError;
use crate::der::{seq, tag, tlv, uint, Reader};
use crate::error::PkiError;

/// Application tags of the protocol operations.
mod op {
    pub const BIND_REQUEST: u8 = 0x60;
    pub const BIND_RESPONSE: u8 = 0x61;
    pub const UNBIND_REQUEST: u8 = 0x42;
    pub const SEARCH_REQUEST: u8 = 0x63;
    pub const SEARCH_RESULT_ENTRY: u8 = 0x64;
    pub const SEARCH_RESULT_DONE: u8 = 0x65;
    pub const SEARCH_RESULT_REFERENCE: u8 = 0x73;
    pub const EXTENDED_RESPONSE: u8 = 0x78;
    pub const INTERMEDIATE_RESPONSE: u8 = 0x79;
}

const BOOLEAN: u8 = 0x01;
const SET: u8 = 0x31;

/// `resultCode` success.
pub const SUCCESS: u32 = 0;
/// `resultCode` sizeLimitExceeded.
pub const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// The name of a `resultCode` (RFC 4511 appendix A).
pub fn result_code_name(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "unknown",
    }
}

fn int(v: u32) -> Vec<u8> {
    uint(&v.to_be_bytes())
}

fn octets(v: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, v)
}

fn message(id: u32, protocol_op: &[u8]) -> Vec<u8> {
    seq(&[&int(id), protocol_op])
}

/// An anonymous simple BindRequest (version 3, empty name and password).
pub fn encode_bind_request(message_id: u32) -> Vec<u8> {
    let bind = tlv(
        op::BIND_REQUEST,
        &[int(3), octets(b""), tlv(0x80, b"")].concat(),
    );
    message(message_id, &bind)
}

/// What a SearchRequest asks.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    /// `baseObject`.
    pub base: &'a str,
    /// `scope`.
    pub scope: Scope,
    /// `sizeLimit` (entries; 0: no limit).
    pub size_limit: u32,
    /// `timeLimit` (seconds; 0: no limit).
    pub time_limit: u32,
    /// `filter`.
    pub filter: &'a Filter,
    /// `attributes`.
    pub attributes: &'a [String],
}

/// A SearchRequest (aliases never dereferenced, values wanted).
pub fn encode_search_request(message_id: u32, req: &SearchRequest<'_>) -> Vec<u8> {
    let attrs: Vec<u8> = req
        .attributes
        .iter()
        .flat_map(|a| octets(a.as_bytes()))
        .collect();
    let search = tlv(
        op::SEARCH_REQUEST,
        &[
            octets(req.base.as_bytes()),
            tlv(tag::ENUMERATED, &[req.scope.code()]),
            tlv(tag::ENUMERATED, &[0]),
            int(req.size_limit),
            int(req.time_limit),
            tlv(BOOLEAN, &[0]),
            req.filter.encode(),
            tlv(tag::SEQUENCE, &attrs),
        ]
        .concat(),
    );
    message(message_id, &search)
}

/// An UnbindRequest.
pub fn encode_unbind_request(message_id: u32) -> Vec<u8> {
    message(message_id, &tlv(op::UNBIND_REQUEST, b""))
}

/// An `LDAPResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapResult {
    /// `resultCode`.
    pub code: u32,
    /// `matchedDN`.
    pub matched_dn: String,
    /// `diagnosticMessage`.
    pub message: String,
}

impl std::fmt::Display for LdapResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code, result_code_name(self.code))?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// One attribute of a SearchResultEntry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Its description, options included (`certificateRevocationList;binary`).
    pub name: String,
    /// Its values.
    pub values: Vec<Vec<u8>>,
}

/// A protocol operation received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolOp {
    /// BindResponse.
    BindResponse(LdapResult),
    /// SearchResultEntry.
    SearchResultEntry {
        /// `objectName`.
        dn: String,
        /// Its attributes.
        attributes: Vec<Attribute>,
    },
    /// SearchResultReference (a continuation reference, not followed).
    SearchResultReference,
    /// SearchResultDone.
    SearchResultDone(LdapResult),
    /// ExtendedResponse (with message ID 0: a Notice of Disconnection).
    ExtendedResponse(LdapResult),
    /// IntermediateResponse (ignored).
    IntermediateResponse,
    /// Any other operation, by tag.
    Other(u8),
}

impl ProtocolOp {
    /// The operation's name, for messages (`SearchResultEntry`, ...).
    pub fn name(&self) -> String {
        match self {
            ProtocolOp::BindResponse(_) => "a BindResponse".into(),
            ProtocolOp::SearchResultEntry { .. } => "a SearchResultEntry".into(),
            ProtocolOp::SearchResultReference => "a SearchResultReference".into(),
            ProtocolOp::SearchResultDone(_) => "a SearchResultDone".into(),
            ProtocolOp::ExtendedResponse(_) => "an ExtendedResponse".into(),
            ProtocolOp::IntermediateResponse => "an IntermediateResponse".into(),
            ProtocolOp::Other(t) => format!("an operation with tag {t:#04x}"),
        }
    }
}

/// A received LDAPMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapMessage {
    /// `messageID`.
    pub id: u32,
    /// `protocolOp`.
    pub op: ProtocolOp,
}

fn malformed(e: PkiError) -> LdapError {
    match e {
        PkiError::Parse { reason, .. } => LdapError::Malformed(reason),
        other => LdapError::Malformed(other.to_string()),
    }
}

fn small(v: &[u8], what: &str) -> Result<u32, LdapError> {
    if v.is_empty() || v.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(LdapError::Malformed(format!("bad {what}")));
    }
    let v = v
        .get(v.iter().take_while(|&&b| b == 0).count()..)
        .unwrap_or_default();
    if v.len() > 4 {
        return Err(LdapError::Malformed(format!("{what} out of range")));
    }
    Ok(v.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)))
}

/// The longest server-supplied text (DN, diagnostic message) kept.
const MAX_TEXT: usize = 256;

/// Server-supplied text made safe for logs: control characters replaced,
/// at most [`MAX_TEXT`] characters.
fn text(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out: String = s
        .chars()
        .take(MAX_TEXT)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX_TEXT).is_some() {
        out.push_str("...");
    }
    out
}

fn ldap_result(r: &mut Reader<'_>) -> Result<LdapResult, LdapError> {
    let code = small(
        r.expect(tag::ENUMERATED).map_err(malformed)?.value,
        "resultCode",
    )?;
    let matched_dn = text(r.expect(tag::OCTET_STRING).map_err(malformed)?.value);
    let message = text(r.expect(tag::OCTET_STRING).map_err(malformed)?.value);
    // referral, serverSaslCreds, responseName...: not used.
    Ok(LdapResult {
        code,
        matched_dn,
        message,
    })
}

fn search_entry(r: &mut Reader<'_>) -> Result<ProtocolOp, LdapError> {
    let dn = text(r.expect(tag::OCTET_STRING).map_err(malformed)?.value);
    let mut list = r.nested(tag::SEQUENCE).map_err(malformed)?;
    let mut attributes = Vec::new();
    while !list.is_empty() {
        let mut a = list.nested(tag::SEQUENCE).map_err(malformed)?;
        let name = text(a.expect(tag::OCTET_STRING).map_err(malformed)?.value);
        let mut vals = a.nested(SET).map_err(malformed)?;
        let mut values = Vec::new();
        while !vals.is_empty() {
            values.push(
                vals.expect(tag::OCTET_STRING)
                    .map_err(malformed)?
                    .value
                    .to_vec(),
            );
        }
        attributes.push(Attribute { name, values });
    }
    Ok(ProtocolOp::SearchResultEntry { dn, attributes })
}

/// Parses one whole LDAPMessage (as [`read_message`] returns it).
pub fn parse_message(data: &[u8]) -> Result<LdapMessage, LdapError> {
    let mut outer = Reader::new(data, "LDAP reply");
    let mut m = outer.nested(tag::SEQUENCE).map_err(malformed)?;
    if !outer.is_empty() {
        return Err(LdapError::Malformed("junk after the LDAPMessage".into()));
    }
    let id = small(
        m.expect(tag::INTEGER).map_err(malformed)?.value,
        "messageID",
    )?;
    let p = m.any().map_err(malformed)?;
    let mut r = Reader::new(p.value, "LDAP reply");
    let op = match p.tag {
        op::BIND_RESPONSE => ProtocolOp::BindResponse(ldap_result(&mut r)?),
        op::SEARCH_RESULT_ENTRY => search_entry(&mut r)?,
        op::SEARCH_RESULT_DONE => ProtocolOp::SearchResultDone(ldap_result(&mut r)?),
        op::SEARCH_RESULT_REFERENCE => ProtocolOp::SearchResultReference,
        op::EXTENDED_RESPONSE => ProtocolOp::ExtendedResponse(ldap_result(&mut r)?),
        op::INTERMEDIATE_RESPONSE => ProtocolOp::IntermediateResponse,
        other => ProtocolOp::Other(other),
    };
    // Controls ([0]) may follow; they are not used.
    Ok(LdapMessage { id, op })
}

fn io_error(e: std::io::Error) -> LdapError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => LdapError::Timeout,
        std::io::ErrorKind::UnexpectedEof => {
            LdapError::Disconnected("the server closed the connection".into())
        }
        _ => LdapError::Io(e.to_string()),
    }
}

/// Reads one LDAPMessage from `r`: its tag and length first, refusing
/// anything but a definite-length SEQUENCE of at most `max` bytes, then its
/// contents. Returns the whole encoding.
pub fn read_message(r: &mut (impl Read + ?Sized), max: usize) -> Result<Vec<u8>, LdapError> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).map_err(io_error)?;
    let [t, l0] = head;
    if t != tag::SEQUENCE {
        return Err(LdapError::Malformed(format!(
            "expected an LDAPMessage (tag 0x30), found tag {t:#04x}"
        )));
    }
    let mut out = head.to_vec();
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else if l0 == 0x80 {
        return Err(LdapError::Malformed(
            "indefinite length (not allowed in LDAP)".into(),
        ));
    } else {
        let n = usize::from(l0 & 0x7f);
        if n > 4 {
            return Err(LdapError::Malformed(format!("{n}-byte length")));
        }
        let mut lb = [0u8; 4];
        let lb = lb.get_mut(..n).unwrap_or_default();
        r.read_exact(lb).map_err(io_error)?;
        out.extend_from_slice(lb);
        lb.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b))
    };
    if len > max {
        return Err(LdapError::TooLarge { limit: max });
    }
    let want = u64::try_from(len).unwrap_or(u64::MAX);
    let got = r.take(want).read_to_end(&mut out).map_err(io_error)?;
    if got < len {
        return Err(LdapError::Disconnected(format!(
            "the server closed the connection in the middle of a message ({got} of {len} bytes)"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_request_bytes() {
        // RFC 4511: SEQUENCE { 1, [APPLICATION 0] { 3, "", [0] "" } }
        assert_eq!(
            encode_bind_request(1),
            [0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00]
        );
        assert_eq!(
            encode_unbind_request(3),
            [0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00]
        );
        // Message IDs above 127 get a leading zero byte.
        assert_eq!(
            &encode_unbind_request(200)[..5],
            [0x30, 0x06, 0x02, 0x02, 0x00]
        );
    }

    #[test]
    fn search_request_bytes() {
        let filter = Filter::Present("objectClass".into());
        let attrs = ["certificateRevocationList;binary".to_string()];
        let req = SearchRequest {
            base: "cn=ca,dc=example",
            scope: Scope::Base,
            size_limit: 8,
            time_limit: 5,
            filter: &filter,
            attributes: &attrs,
        };
        let enc = encode_search_request(2, &req);
        let mut expected = vec![0x02, 0x01, 0x02];
        let mut body = vec![0x04, 16];
        body.extend_from_slice(b"cn=ca,dc=example");
        body.extend_from_slice(&[0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00]);
        body.extend_from_slice(&[0x02, 0x01, 0x08, 0x02, 0x01, 0x05, 0x01, 0x01, 0x00]);
        body.extend_from_slice(b"\x87\x0bobjectClass");
        body.extend_from_slice(&[0x30, 34, 0x04, 32]);
        body.extend_from_slice(b"certificateRevocationList;binary");
        expected.push(0x63);
        expected.push(body.len() as u8);
        expected.extend(body);
        let mut whole = vec![0x30, expected.len() as u8];
        whole.extend(expected);
        assert_eq!(enc, whole);
        // Sub scope.
        let req = SearchRequest {
            scope: Scope::Sub,
            ..req
        };
        let enc = encode_search_request(2, &req);
        assert_eq!(enc.get(25..28), Some(&[0x0a, 0x01, 0x02][..]));
    }

    fn entry(dn: &str, attrs: &[(&str, &[&[u8]])]) -> Vec<u8> {
        let mut list = Vec::new();
        for (name, vals) in attrs {
            let v: Vec<u8> = vals.iter().flat_map(|v| octets(v)).collect();
            list.extend(seq(&[&octets(name.as_bytes()), &tlv(SET, &v)]));
        }
        message(
            2,
            &tlv(
                op::SEARCH_RESULT_ENTRY,
                &[octets(dn.as_bytes()), tlv(tag::SEQUENCE, &list)].concat(),
            ),
        )
    }

    fn done(id: u32, code: u8, diag: &str) -> Vec<u8> {
        message(
            id,
            &tlv(
                op::SEARCH_RESULT_DONE,
                &[
                    tlv(tag::ENUMERATED, &[code]),
                    octets(b""),
                    octets(diag.as_bytes()),
                ]
                .concat(),
            ),
        )
    }

    #[test]
    fn parse_replies() {
        let e = entry(
            "cn=ca",
            &[("certificateRevocationList;binary", &[b"\x30\x00", b"x"])],
        );
        let m = parse_message(&e).unwrap();
        assert_eq!(m.id, 2);
        assert_eq!(
            m.op,
            ProtocolOp::SearchResultEntry {
                dn: "cn=ca".into(),
                attributes: vec![Attribute {
                    name: "certificateRevocationList;binary".into(),
                    values: vec![b"\x30\x00".to_vec(), b"x".to_vec()],
                }],
            }
        );
        let d = parse_message(&done(2, 32, "no such entry")).unwrap();
        let ProtocolOp::SearchResultDone(r) = d.op else {
            panic!("{d:?}")
        };
        assert_eq!(r.to_string(), "32 (noSuchObject): no such entry");
        // Server text is made safe for logs.
        let long = format!("bad\n{}", "x".repeat(400));
        let d = parse_message(&done(2, 80, &long)).unwrap();
        let ProtocolOp::SearchResultDone(r) = d.op else {
            panic!("{d:?}")
        };
        assert!(r.message.starts_with("bad?xxx"), "{}", r.message);
        assert_eq!(r.message.chars().count(), 256 + 3);
        // A BindResponse with a referral and controls after it.
        let mut b = [tlv(tag::ENUMERATED, &[0]), octets(b""), octets(b"")].concat();
        b.extend(tlv(0xa3, &octets(b"ldap://elsewhere/")));
        let mut msg = [int(1), tlv(op::BIND_RESPONSE, &b)].concat();
        msg.extend(tlv(0xa0, b""));
        let m = parse_message(&tlv(tag::SEQUENCE, &msg)).unwrap();
        assert!(matches!(
            m.op,
            ProtocolOp::BindResponse(LdapResult { code: 0, .. })
        ));
    }

    #[test]
    fn malformed_replies_are_errors() {
        let good = entry("cn=ca", &[("a", &[b"v"])]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "truncated"),
            (vec![0x31, 0x00], "expected tag 0x30"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            ([good.clone(), vec![0]].concat(), "junk after"),
            (
                tlv(tag::SEQUENCE, &[0x02, 0x01, 0xff, 0x42, 0x00]),
                "bad messageID",
            ),
            (
                tlv(tag::SEQUENCE, &[0x02, 0x05, 1, 0, 0, 0, 0, 0x42, 0x00]),
                "messageID out of range",
            ),
            (tlv(tag::SEQUENCE, &int(5)), "truncated"),
            // A SearchResultEntry whose value is not an OCTET STRING.
            (
                message(
                    2,
                    &tlv(
                        op::SEARCH_RESULT_ENTRY,
                        &[
                            octets(b"cn=x"),
                            seq(&[&seq(&[&octets(b"a"), &tlv(SET, &int(1))])]),
                        ]
                        .concat(),
                    ),
                ),
                "expected tag 0x04",
            ),
            // A result without its diagnosticMessage.
            (
                message(
                    1,
                    &tlv(
                        op::BIND_RESPONSE,
                        &[tlv(tag::ENUMERATED, &[0]), octets(b"")].concat(),
                    ),
                ),
                "truncated",
            ),
        ];
        for (bytes, why) in cases {
            let e = parse_message(&bytes).unwrap_err();
            assert!(matches!(e, LdapError::Malformed(_)), "{e}");
            assert!(e.to_string().contains(why), "{bytes:02x?}: {e}");
        }
    }

    #[test]
    fn framing() {
        let d = done(2, 0, "");
        let mut two = d.clone();
        two.extend(&d);
        let mut c = std::io::Cursor::new(two);
        assert_eq!(read_message(&mut c, 1000).unwrap(), d);
        assert_eq!(read_message(&mut c, 1000).unwrap(), d);
        let e = read_message(&mut c, 1000).unwrap_err();
        assert!(matches!(e, LdapError::Disconnected(_)), "{e}");
        // Long-form length.
        let big = tlv(tag::SEQUENCE, &[0u8; 300]);
        assert_eq!(read_message(&mut &big[..], 1000).unwrap(), big);
        for (bytes, why) in [
            (big.clone(), "exceeds 100 bytes"),
            (vec![0x04, 0x00], "found tag 0x04"),
            (vec![0x30, 0x80, 0, 0], "indefinite length"),
            (vec![0x30, 0x85, 1, 1, 1, 1, 1], "5-byte length"),
            (
                vec![0x30, 0x05, 1, 2],
                "in the middle of a message (2 of 5 bytes)",
            ),
            (vec![0x30], "closed the connection"),
        ] {
            let e = read_message(&mut &bytes[..], 100).unwrap_err().to_string();
            assert!(e.contains(why), "{bytes:02x?}: {e}");
        }
    }
}
