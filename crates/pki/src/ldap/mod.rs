//! A minimal LDAPv3 client (RFC 4511) for CRLs published at `ldap://`
//! distribution points (RFC 4516 URLs such as
//! `ldap://ldap.example.com/cn=Example%20CA,o=Example?certificateRevocationList;binary`).
//!
//! One exchange per fetch, over plain TCP: an anonymous simple bind, one
//! SearchRequest (the URL's DN, scope, filter and attributes; aliases never
//! dereferenced), the SearchResultEntries' values of the asked attributes
//! (options such as `;binary` are matched loosely: `certificateRevocationList`
//! also takes `certificateRevocationList;binary`), the SearchResultDone,
//! then an UnbindRequest. Referrals and continuation references are not
//! followed; `ldaps://`, SASL and StartTLS are not supported (CRLs are
//! signed, so the transport needs no protection).
//!
//! Everything is bounded: the whole exchange (name resolution, connect,
//! bind, search) by one timeout (`crl-timeout`), each message and the sum
//! of the values by the response size limit. Every malformed or unexpected
//! reply is an [`LdapError`] saying what was wrong.
//!
//! [`crate::fetch::fetch_crl_url`] uses [`search_values`] for `ldap://`
//! URLs; the BER encoding and decoding are in [`message`].

pub mod filter;
pub mod message;
pub mod url;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub use filter::Filter;
pub use message::{LdapMessage, LdapResult, ProtocolOp, SearchRequest};
pub use url::{LdapUrl, Scope};

/// Room for the envelope (DNs, attribute names, BER headers) on top of the
/// values' size limit.
const ENVELOPE_ALLOWANCE: usize = 64 * 1024;

/// The most entries one search asks the server for.
pub const SIZE_LIMIT: u32 = 16;

/// Why an LDAP fetch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LdapError {
    /// The URL cannot be used.
    #[error("bad LDAP URL {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server's name does not resolve.
    #[error("cannot resolve the LDAP server \"{host}\": {detail}")]
    Resolve {
        /// The host name.
        host: String,
        /// Why.
        detail: String,
    },
    /// No address of the server accepted the connection.
    #[error("cannot connect to the LDAP server {server}: {detail}")]
    Connect {
        /// host:port.
        server: String,
        /// The error of the last address tried.
        detail: String,
    },
    /// The exchange did not finish within the timeout.
    #[error("the LDAP server did not answer in time")]
    Timeout,
    /// Sending or receiving failed.
    #[error("the LDAP connection failed: {0}")]
    Io(String),
    /// The server closed the connection (or sent a Notice of Disconnection).
    #[error("the LDAP server disconnected: {0}")]
    Disconnected(String),
    /// A reply is not valid BER/LDAP.
    #[error("malformed LDAP reply: {0}")]
    Malformed(String),
    /// A reply, or the values found, exceed the size limit.
    #[error("the LDAP reply exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A well-formed reply that does not belong in the exchange.
    #[error("unexpected LDAP reply: {0}")]
    Unexpected(String),
    /// The anonymous bind was refused.
    #[error("the LDAP server refused the anonymous bind: {0}")]
    BindRefused(LdapResult),
    /// The search ended with an error result.
    #[error("the LDAP search of \"{dn}\" failed: {result}")]
    SearchFailed {
        /// The base DN.
        dn: String,
        /// The SearchResultDone's result.
        result: LdapResult,
    },
    /// The search found no value of the asked attributes.
    #[error("the LDAP search of \"{dn}\" found no {} value", .attributes.join(" or "))]
    NotFound {
        /// The base DN.
        dn: String,
        /// The attributes asked for.
        attributes: Vec<String>,
    },
}

/// A TCP connection whose reads and writes share one deadline.
struct Conn {
    stream: TcpStream,
    deadline: Instant,
}

impl Conn {
    fn remaining(&self) -> std::io::Result<Duration> {
        let r = self.deadline.saturating_duration_since(Instant::now());
        if r.is_zero() {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "deadline passed",
            ))
        } else {
            Ok(r)
        }
    }

    fn send(&mut self, data: &[u8]) -> Result<(), LdapError> {
        let mut rest = data;
        while !rest.is_empty() {
            let r = self.remaining().map_err(|_| LdapError::Timeout)?;
            self.stream
                .set_write_timeout(Some(r))
                .map_err(|e| LdapError::Io(e.to_string()))?;
            match self.stream.write(rest) {
                Ok(0) => return Err(LdapError::Disconnected("the connection is closed".into())),
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) =>
                {
                    return Err(LdapError::Timeout)
                }
                Err(e) => return Err(LdapError::Io(e.to_string())),
            }
        }
        Ok(())
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.remaining()?;
        self.stream.set_read_timeout(Some(r))?;
        self.stream.read(buf)
    }
}

fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, LdapError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // The system resolver has no timeout of its own: ask it on a thread and
    // wait no longer than the deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("pki-ldap-resolve".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect::<Vec<_>>),
            );
        })
        .map_err(|e| LdapError::Resolve {
            host: host.to_string(),
            detail: e.to_string(),
        })?;
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(LdapError::Resolve {
            host: host.to_string(),
            detail: "no address".into(),
        }),
        Ok(Err(e)) => Err(LdapError::Resolve {
            host: host.to_string(),
            detail: e.to_string(),
        }),
        Err(_) => Err(LdapError::Timeout),
    }
}

fn connect(url: &LdapUrl, deadline: Instant) -> Result<Conn, LdapError> {
    let server = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let mut last = String::from("no address");
    for addr in resolve(&url.host, url.port, deadline)? {
        let r = deadline.saturating_duration_since(Instant::now());
        if r.is_zero() {
            return Err(LdapError::Timeout);
        }
        match TcpStream::connect_timeout(&addr, r) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Conn { stream, deadline });
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(LdapError::Timeout),
            Err(e) => last = e.to_string(),
        }
    }
    Err(LdapError::Connect {
        server,
        detail: last,
    })
}

/// The part of an attribute description before its options.
fn base_name(attr: &str) -> &str {
    attr.split(';').next().unwrap_or(attr)
}

/// Runs the exchange on `conn`: bind, search, collect the values of the
/// URL's attributes. `limit` bounds the sum of the values.
fn exchange(
    conn: &mut dyn Read,
    send: &mut dyn FnMut(&[u8]) -> Result<(), LdapError>,
    url: &LdapUrl,
    time_limit: u32,
    limit: usize,
) -> Result<Vec<Vec<u8>>, LdapError> {
    let max_message = limit.saturating_add(ENVELOPE_ALLOWANCE);
    let mut budget = max_message;
    let mut next = |conn: &mut dyn Read| -> Result<LdapMessage, LdapError> {
        let raw = message::read_message(conn, budget)?;
        budget = budget.saturating_sub(raw.len());
        let m = message::parse_message(&raw)?;
        if let (0, ProtocolOp::ExtendedResponse(r)) = (m.id, &m.op) {
            return Err(LdapError::Disconnected(format!(
                "notice of disconnection: {r}"
            )));
        }
        Ok(m)
    };
    send(&message::encode_bind_request(1))?;
    loop {
        let m = next(&mut *conn)?;
        match m.op {
            ProtocolOp::IntermediateResponse => continue,
            _ if m.id != 1 => {
                return Err(LdapError::Unexpected(format!(
                    "message ID {} while waiting for the BindResponse (ID 1)",
                    m.id
                )))
            }
            ProtocolOp::BindResponse(r) if r.code == message::SUCCESS => break,
            ProtocolOp::BindResponse(r) => return Err(LdapError::BindRefused(r)),
            other => {
                return Err(LdapError::Unexpected(format!(
                    "{} instead of the BindResponse",
                    other.name()
                )))
            }
        }
    }
    send(&message::encode_search_request(
        2,
        &SearchRequest {
            base: &url.dn,
            scope: url.scope,
            size_limit: SIZE_LIMIT,
            time_limit,
            filter: &url.filter,
            attributes: &url.attributes,
        },
    ))?;
    let wanted: Vec<&str> = url.attributes.iter().map(|a| base_name(a)).collect();
    let mut values = Vec::new();
    let mut total = 0usize;
    loop {
        let m = next(&mut *conn)?;
        if m.id != 2 && m.op != ProtocolOp::IntermediateResponse {
            return Err(LdapError::Unexpected(format!(
                "message ID {} while waiting for search results (ID 2)",
                m.id
            )));
        }
        match m.op {
            ProtocolOp::SearchResultEntry { attributes, .. } => {
                for a in attributes {
                    let base = base_name(&a.name);
                    if !wanted.iter().any(|w| w.eq_ignore_ascii_case(base)) {
                        continue;
                    }
                    for v in a.values {
                        total = total.saturating_add(v.len());
                        if total > limit {
                            return Err(LdapError::TooLarge { limit });
                        }
                        values.push(v);
                    }
                }
            }
            ProtocolOp::SearchResultReference | ProtocolOp::IntermediateResponse => {}
            ProtocolOp::SearchResultDone(r) => {
                let partial_ok = r.code == message::SIZE_LIMIT_EXCEEDED && !values.is_empty();
                if r.code != message::SUCCESS && !partial_ok {
                    return Err(LdapError::SearchFailed {
                        dn: url.dn.clone(),
                        result: r,
                    });
                }
                break;
            }
            other => {
                return Err(LdapError::Unexpected(format!(
                    "{} among the search results",
                    other.name()
                )))
            }
        }
    }
    // Best effort: the server closes the connection either way.
    let _ = send(&message::encode_unbind_request(3));
    if values.is_empty() {
        return Err(LdapError::NotFound {
            dn: url.dn.clone(),
            attributes: url.attributes.clone(),
        });
    }
    Ok(values)
}

/// Searches the server of `url` as the URL says, within `timeout` for the
/// whole exchange, and returns the values of the URL's attributes (at most
/// `limit` bytes in all) from every entry found.
pub fn search_values(
    url: &LdapUrl,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<Vec<u8>>, LdapError> {
    let deadline = Instant::now() + timeout;
    let mut reader = connect(url, deadline)?;
    let mut writer = Conn {
        stream: reader
            .stream
            .try_clone()
            .map_err(|e| LdapError::Io(e.to_string()))?,
        deadline,
    };
    let time_limit = u32::try_from(timeout.as_secs().max(1)).unwrap_or(u32::MAX);
    let result = exchange(
        &mut reader,
        &mut |data: &[u8]| writer.send(data),
        url,
        time_limit,
        limit,
    );
    let _ = reader.stream.shutdown(std::net::Shutdown::Both);
    result
}

/// Parses `url` and fetches the values of its attributes (see
/// [`search_values`]).
pub fn fetch_url(url: &str, timeout: Duration, limit: usize) -> Result<Vec<Vec<u8>>, LdapError> {
    search_values(&LdapUrl::parse(url)?, timeout, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::{seq, tag, tlv, uint};

    fn reply(id: u8, op: u8, body: &[u8]) -> Vec<u8> {
        seq(&[&uint(&[id]), &tlv(op, body)])
    }

    fn result(code: u8, diag: &str) -> Vec<u8> {
        [
            tlv(tag::ENUMERATED, &[code]),
            tlv(tag::OCTET_STRING, b""),
            tlv(tag::OCTET_STRING, diag.as_bytes()),
        ]
        .concat()
    }

    fn entry(attr: &str, values: &[&[u8]]) -> Vec<u8> {
        let vals: Vec<u8> = values
            .iter()
            .flat_map(|v| tlv(tag::OCTET_STRING, v))
            .collect();
        reply(
            2,
            0x64,
            &[
                tlv(tag::OCTET_STRING, b"cn=ca"),
                seq(&[&seq(&[
                    &tlv(tag::OCTET_STRING, attr.as_bytes()),
                    &tlv(0x31, &vals),
                ])]),
            ]
            .concat(),
        )
    }

    fn run(url: &str, replies: &[Vec<u8>], limit: usize) -> (Values, Vec<Vec<u8>>) {
        let url = LdapUrl::parse(url).unwrap();
        let input = replies.concat();
        let mut sent = Vec::new();
        let r = exchange(
            &mut &input[..],
            &mut |d: &[u8]| {
                sent.push(d.to_vec());
                Ok(())
            },
            &url,
            5,
            limit,
        );
        (r, sent)
    }

    type Values = Result<Vec<Vec<u8>>, LdapError>;

    const URL: &str = "ldap://192.0.2.1/cn=ca?certificateRevocationList";

    #[test]
    fn a_whole_exchange() {
        let (r, sent) = run(
            URL,
            &[
                reply(1, 0x61, &result(0, "")),
                entry("certificateRevocationList;binary", &[b"crl1"]),
                entry("description", &[b"not this"]),
                reply(2, 0x73, &tlv(tag::OCTET_STRING, b"ldap://elsewhere/")),
                entry("CERTIFICATEREVOCATIONLIST", &[b"crl2"]),
                reply(2, 0x65, &result(0, "")),
            ],
            100,
        );
        assert_eq!(r.unwrap(), [b"crl1".to_vec(), b"crl2".to_vec()]);
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0], message::encode_bind_request(1));
        assert_eq!(sent[2], message::encode_unbind_request(3));
        let attrs = ["certificateRevocationList".to_string()];
        let filter = Filter::Present("objectClass".into());
        assert_eq!(
            sent[1],
            message::encode_search_request(
                2,
                &SearchRequest {
                    base: "cn=ca",
                    scope: Scope::Base,
                    size_limit: SIZE_LIMIT,
                    time_limit: 5,
                    filter: &filter,
                    attributes: &attrs,
                }
            )
        );
    }

    #[test]
    fn server_errors_are_explained() {
        let bind_ok = reply(1, 0x61, &result(0, ""));
        let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
            (
                vec![reply(1, 0x61, &result(48, "anonymous bind disallowed"))],
                "refused the anonymous bind: 48 (inappropriateAuthentication): anonymous bind disallowed",
            ),
            (
                vec![bind_ok.clone(), reply(2, 0x65, &result(32, ""))],
                "the LDAP search of \"cn=ca\" failed: 32 (noSuchObject)",
            ),
            (
                vec![bind_ok.clone(), reply(2, 0x65, &result(0, ""))],
                "found no certificateRevocationList value",
            ),
            (
                vec![bind_ok.clone(), reply(2, 0x65, &result(4, ""))],
                "4 (sizeLimitExceeded)",
            ),
            (
                vec![reply(0, 0x78, &result(52, "shutting down"))],
                "notice of disconnection: 52 (unavailable): shutting down",
            ),
            (vec![reply(7, 0x61, &result(0, ""))], "message ID 7 while waiting for the BindResponse"),
            (vec![reply(1, 0x65, &result(0, ""))], "a SearchResultDone instead of the BindResponse"),
            (
                vec![bind_ok.clone(), reply(3, 0x65, &result(0, ""))],
                "message ID 3 while waiting for search results",
            ),
            (vec![bind_ok.clone(), reply(2, 0x61, &result(0, ""))], "a BindResponse among the search results"),
            (vec![bind_ok.clone(), reply(2, 0x66, b"")], "an operation with tag 0x66 among the search results"),
            (vec![bind_ok.clone()], "closed the connection"),
            (vec![], "closed the connection"),
            (vec![vec![0x30, 0x03, 0x02, 0x01]], "in the middle of a message"),
            (vec![b"HTTP/1.0 400 Bad Request\r\n".to_vec()], "found tag 0x48"),
            (
                vec![bind_ok.clone(), entry("certificateRevocationList", &[&[0u8; 60], &[0u8; 60]])],
                "exceeds 100 bytes",
            ),
        ];
        for (replies, why) in cases {
            let (r, _) = run(URL, &replies, 100);
            let e = r.unwrap_err().to_string();
            assert!(e.contains(why), "{why}: {e}");
        }
        // Size limit exceeded after some values: what came is used.
        let (r, _) = run(
            URL,
            &[
                bind_ok.clone(),
                entry("certificateRevocationList", &[b"c"]),
                reply(2, 0x65, &result(4, "")),
            ],
            100,
        );
        assert_eq!(r.unwrap(), [b"c".to_vec()]);
    }

    #[test]
    fn the_whole_exchange_has_one_deadline() {
        // A server that accepts and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("ldap://127.0.0.1:{port}/cn=ca");
        let started = Instant::now();
        let e = fetch_url(&url, Duration::from_millis(300), 1000).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, LdapError::Timeout), "{e}");
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{took:?}"
        );
        drop(listener);
        // A server that trickles a valid-looking reply one byte at a time
        // cannot stretch the exchange past the deadline.
        let trickle = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tport = trickle.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::Write as _;
            let (mut c, _) = trickle.accept().unwrap();
            let reply = [0x30u8, 0x7f]
                .iter()
                .chain([0u8; 127].iter())
                .copied()
                .collect::<Vec<_>>();
            for b in reply {
                if c.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let started = Instant::now();
        let e = fetch_url(
            &format!("ldap://127.0.0.1:{tport}/cn=ca"),
            Duration::from_millis(500),
            1000,
        )
        .unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, LdapError::Timeout), "{e}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        let _ = server.join();
        // Nobody listening any more: connection refused.
        let e = fetch_url(&url, Duration::from_secs(2), 1000).unwrap_err();
        assert!(matches!(e, LdapError::Connect { .. }), "{e}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    proptest::proptest! {
        /// Whatever the server sends, the exchange ends in a value or an
        /// error, never a panic.
        #[test]
        fn arbitrary_replies_never_panic(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            after_bind in proptest::prelude::any::<bool>(),
        ) {
            let mut replies = Vec::new();
            if after_bind {
                replies.push(reply(1, 0x61, &result(0, "")));
            }
            replies.push(data);
            let _ = run(URL, &replies, 200);
        }

        /// Entries whose values are arbitrary: what is returned is exactly
        /// what was sent, within the limit.
        #[test]
        fn values_come_back_unchanged(
            values in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 1..4),
        ) {
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let (r, _) = run(
                URL,
                &[
                    reply(1, 0x61, &result(0, "")),
                    entry("certificateRevocationList", &refs),
                    reply(2, 0x65, &result(0, "")),
                ],
                2000,
            );
            proptest::prop_assert_eq!(r.unwrap(), values);
        }
    }
}
