//! Wire format of the control socket.
//!
//! A request is one frame: the magic `FSW1`, a 32-bit big-endian body length
//! and the body, a JSON [`Request`]. The body is at most [`MAX_REQUEST`]
//! bytes. The client then half-closes its end and reads the reply.
//!
//! A reply is a stream of `\n`-terminated UTF-8 lines, each a [`ReplyLine`]:
//!
//! | wire              | meaning                                             |
//! |-------------------|-----------------------------------------------------|
//! | `NNN text`        | a line with status prefix `NNN` (shown as is)       |
//! | `~NNN text`       | a log line shown only with `--verbose`              |
//! | `\|text`          | a line shown without prefix (JSON, key=value)       |
//! | `=NNN`            | the end of the reply, with the final status `NNN`   |
//!
//! A reply that ends without `=NNN` was broken off.

use crate::{Rc, Request};
use std::io::{BufRead, Read, Write};

/// The four bytes every request frame starts with.
pub const MAGIC: [u8; 4] = *b"FSW1";
/// Length of the frame header: magic and body length.
pub const HEADER_LEN: usize = 8;
/// Largest request body the daemon accepts, in bytes.
pub const MAX_REQUEST: usize = 1024 * 1024;
/// Largest reply line a client accepts, in bytes.
pub const MAX_REPLY_LINE: usize = 1024 * 1024;

/// Why a request or reply could not be framed or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame does not start with [`MAGIC`].
    #[error("malformed request: bad magic (not a ferroswan control request)")]
    BadMagic,
    /// The announced body is larger than [`MAX_REQUEST`].
    #[error("oversized request: {len} bytes, the limit is {MAX_REQUEST}")]
    Oversized {
        /// The announced length.
        len: usize,
    },
    /// The stream ended inside the frame.
    #[error("truncated request: {got} of {want} bytes")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// The body is not a valid request.
    #[error("malformed request: {0}")]
    BadBody(String),
    /// A reply line is not in the reply syntax.
    #[error("malformed reply line: {0:?}")]
    BadReplyLine(String),
    /// A reply line is longer than [`MAX_REPLY_LINE`].
    #[error("reply line longer than {MAX_REPLY_LINE} bytes")]
    ReplyLineTooLong,
    /// The reply ended without its final status.
    #[error("the reply ended without a final status (daemon exited or broke off)")]
    ReplyBrokenOff,
    /// Reading or writing the socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Encodes a request as one frame.
pub fn encode_request(request: &Request) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(request).map_err(|e| FrameError::BadBody(e.to_string()))?;
    if body.len() > MAX_REQUEST {
        return Err(FrameError::Oversized { len: body.len() });
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::Oversized { len: body.len() })?;
    let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Decodes a frame header and returns the body length it announces.
pub fn decode_header(header: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let (magic, len) = header.split_at(4);
    if magic != MAGIC {
        return Err(FrameError::BadMagic);
    }
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(len);
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_REQUEST {
        return Err(FrameError::Oversized { len });
    }
    Ok(len)
}

/// Decodes a request body.
pub fn decode_body(body: &[u8]) -> Result<Request, FrameError> {
    serde_json::from_slice(body).map_err(|e| FrameError::BadBody(e.to_string()))
}

/// Decodes a whole frame held in memory.
pub fn decode_request(frame: &[u8]) -> Result<Request, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let Some(head) = frame.get(..HEADER_LEN) else {
        return Err(FrameError::Truncated {
            got: frame.len(),
            want: HEADER_LEN,
        });
    };
    header.copy_from_slice(head);
    let len = decode_header(&header)?;
    let body = frame.get(HEADER_LEN..).unwrap_or_default();
    if body.len() < len {
        return Err(FrameError::Truncated {
            got: body.len(),
            want: len,
        });
    }
    if body.len() > len {
        return Err(FrameError::BadBody(format!(
            "{} bytes after the request body",
            body.len() - len
        )));
    }
    decode_body(body)
}

/// Reads exactly `buf.len()` bytes, reporting a short read as truncation.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => {
                return Err(FrameError::Truncated {
                    got,
                    want: buf.len(),
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads one request frame from a blocking reader.
pub fn read_request<R: Read>(r: &mut R) -> Result<Request, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    read_full(r, &mut header)?;
    let len = decode_header(&header)?;
    let mut body = vec![0u8; len];
    read_full(r, &mut body)?;
    decode_body(&body)
}

/// Writes one request frame to a blocking writer.
pub fn write_request<W: Write>(w: &mut W, request: &Request) -> Result<(), FrameError> {
    let frame = encode_request(request)?;
    w.write_all(&frame)?;
    w.flush()?;
    Ok(())
}

/// One line of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyLine {
    /// A line shown with its status prefix (`000 text`).
    Line {
        /// The status code of the line.
        rc: Rc,
        /// The text, without newline.
        text: String,
    },
    /// A log line shown only with `--verbose`.
    Verbose {
        /// The status code of the line.
        rc: Rc,
        /// The text, without newline.
        text: String,
    },
    /// A line shown without prefix.
    Raw(String),
    /// The end of the reply with its final status.
    Done(Rc),
}

impl ReplyLine {
    /// A `000` line.
    pub fn info(text: impl Into<String>) -> Self {
        ReplyLine::Line {
            rc: Rc::COMMENT,
            text: text.into(),
        }
    }

    /// Encodes the line for the wire, newline included. Newlines inside the
    /// text become spaces, so one line stays one line.
    pub fn encode(&self) -> String {
        fn clean(text: &str) -> String {
            text.replace(['\n', '\r'], " ")
        }
        match self {
            ReplyLine::Line { rc, text } => format!("{rc} {}\n", clean(text)),
            ReplyLine::Verbose { rc, text } => format!("~{rc} {}\n", clean(text)),
            ReplyLine::Raw(text) => format!("|{}\n", clean(text)),
            ReplyLine::Done(rc) => format!("={rc}\n"),
        }
    }

    /// Parses one wire line (with or without its newline).
    pub fn parse(line: &str) -> Result<ReplyLine, FrameError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let bad = || FrameError::BadReplyLine(line.chars().take(80).collect());
        let rc_and_text = |s: &str| -> Result<(Rc, String), FrameError> {
            let digits = s.get(..3).ok_or_else(bad)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let code: u16 = digits.parse().map_err(|_| bad())?;
            let rest = s.get(3..).unwrap_or_default();
            let text = match rest.strip_prefix(' ') {
                Some(t) => t,
                None if rest.is_empty() => "",
                None => return Err(bad()),
            };
            Ok((Rc(code), text.to_string()))
        };
        if let Some(rest) = line.strip_prefix('=') {
            let (rc, text) = rc_and_text(rest)?;
            if !text.is_empty() {
                return Err(bad());
            }
            Ok(ReplyLine::Done(rc))
        } else if let Some(rest) = line.strip_prefix('~') {
            let (rc, text) = rc_and_text(rest)?;
            Ok(ReplyLine::Verbose { rc, text })
        } else if let Some(rest) = line.strip_prefix('|') {
            Ok(ReplyLine::Raw(rest.to_string()))
        } else {
            let (rc, text) = rc_and_text(line)?;
            Ok(ReplyLine::Line { rc, text })
        }
    }

    /// How a client prints this line: `None` for [`ReplyLine::Done`] and for
    /// verbose lines when not `verbose`.
    pub fn display(&self, verbose: bool) -> Option<String> {
        match self {
            ReplyLine::Line { rc, text } => Some(format!("{rc} {text}")),
            ReplyLine::Verbose { rc, text } if verbose => Some(format!("{rc} {text}")),
            ReplyLine::Verbose { .. } => None,
            ReplyLine::Raw(text) => Some(text.clone()),
            ReplyLine::Done(_) => None,
        }
    }
}

/// Reads a whole reply from a blocking reader, handing every line but the
/// last to `each`, and returns the final status.
pub fn read_reply<R: BufRead>(
    r: &mut R,
    mut each: impl FnMut(&ReplyLine),
) -> Result<Rc, FrameError> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r
            .by_ref()
            .take(MAX_REPLY_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(FrameError::ReplyBrokenOff);
        }
        if buf.last() != Some(&b'\n') {
            if n > MAX_REPLY_LINE {
                return Err(FrameError::ReplyLineTooLong);
            }
            return Err(FrameError::ReplyBrokenOff);
        }
        let text = String::from_utf8_lossy(&buf);
        match ReplyLine::parse(&text)? {
            ReplyLine::Done(rc) => return Ok(rc),
            line => each(&line),
        }
    }
}

/// Reads a whole reply and writes what a user sees to `out` (verbose lines
/// only with `verbose`), copying bytes without building [`ReplyLine`]s;
/// returns the final status. Same output as [`read_reply`] with
/// [`ReplyLine::display`].
pub fn copy_reply<R: BufRead, W: Write>(
    r: &mut R,
    out: &mut W,
    verbose: bool,
) -> Result<Rc, FrameError> {
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        let n = r
            .by_ref()
            .take(MAX_REPLY_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(FrameError::ReplyBrokenOff);
        }
        if buf.last() != Some(&b'\n') {
            if n > MAX_REPLY_LINE {
                return Err(FrameError::ReplyLineTooLong);
            }
            return Err(FrameError::ReplyBrokenOff);
        }
        let digits_ok = |b: &[u8]| {
            b.get(..3).is_some_and(|d| d.iter().all(u8::is_ascii_digit))
                && matches!(b.get(3), Some(b' ') | Some(b'\n'))
        };
        match buf.first() {
            Some(b'0'..=b'9') if digits_ok(&buf) => out.write_all(&buf)?,
            Some(b'~') if digits_ok(buf.get(1..).unwrap_or_default()) => {
                if verbose {
                    out.write_all(buf.get(1..).unwrap_or_default())?;
                }
            }
            Some(b'|') => out.write_all(buf.get(1..).unwrap_or_default())?,
            Some(b'=') => {
                let text = String::from_utf8_lossy(&buf);
                return match ReplyLine::parse(&text)? {
                    ReplyLine::Done(rc) => Ok(rc),
                    _ => Err(FrameError::BadReplyLine(text.into_owned())),
                };
            }
            _ => {
                let text = String::from_utf8_lossy(&buf);
                return Err(FrameError::BadReplyLine(text.chars().take(80).collect()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AddConns, ListKind, StatusKind};

    fn sample_requests() -> Vec<Request> {
        vec![
            Request::Add(AddConns {
                config: "/etc/ipsec.conf".into(),
                rootdir: None,
                names: vec!["west-east".into()],
                autoall: false,
            }),
            Request::Delete { name: "x".into() },
            Request::Initiate {
                name: "x".into(),
                remote_host: Some("192.0.2.9".into()),
                asynchronous: true,
            },
            Request::Status {
                kind: StatusKind::Full,
                json: true,
            },
            Request::List {
                kinds: ListKind::ALL.to_vec(),
                utc: false,
            },
            Request::Shutdown,
        ]
    }

    #[test]
    fn request_round_trip() {
        for req in sample_requests() {
            let frame = encode_request(&req).unwrap();
            assert_eq!(frame.get(..4), Some(&MAGIC[..]));
            assert_eq!(decode_request(&frame).unwrap(), req);
            let mut cursor = std::io::Cursor::new(frame);
            assert_eq!(read_request(&mut cursor).unwrap(), req);
        }
    }

    #[test]
    fn truncated_request_is_refused() {
        let frame = encode_request(&Request::Listen).unwrap();
        for cut in [0, 3, HEADER_LEN, frame.len() - 1] {
            let err = decode_request(&frame[..cut]).unwrap_err();
            assert!(matches!(err, FrameError::Truncated { .. }), "{cut}: {err}");
            let mut cursor = std::io::Cursor::new(frame[..cut].to_vec());
            assert!(matches!(
                read_request(&mut cursor),
                Err(FrameError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn oversized_request_is_refused() {
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&((MAX_REQUEST as u32) + 1).to_be_bytes());
        let err = decode_request(&frame).unwrap_err();
        assert!(matches!(err, FrameError::Oversized { .. }));
        assert!(err.to_string().contains("oversized"));
        let huge = Request::Delete {
            name: "n".repeat(MAX_REQUEST + 1),
        };
        assert!(matches!(
            encode_request(&huge),
            Err(FrameError::Oversized { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            decode_request(b"GET / HTTP/1.0\r\n\r\n"),
            Err(FrameError::BadMagic)
        ));
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&5u32.to_be_bytes());
        frame.extend_from_slice(b"{nop}");
        assert!(matches!(
            decode_request(&frame),
            Err(FrameError::BadBody(_))
        ));
        let mut frame = MAGIC.to_vec();
        let body = br#"{"op":"frobnicate"}"#;
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(body);
        assert!(matches!(
            decode_request(&frame),
            Err(FrameError::BadBody(_))
        ));
    }

    #[test]
    fn reply_lines_round_trip() {
        let lines = [
            ReplyLine::info("interface lo UDP 127.0.0.1:500"),
            ReplyLine::Line {
                rc: Rc::UNKNOWN_NAME,
                text: "no connection named \"x\"".into(),
            },
            ReplyLine::Verbose {
                rc: Rc::LOG,
                text: "debug".into(),
            },
            ReplyLine::Raw("{\"a\": 1}".into()),
            ReplyLine::info(""),
            ReplyLine::Done(Rc::DUPNAME),
        ];
        for line in &lines {
            assert_eq!(&ReplyLine::parse(&line.encode()).unwrap(), line);
        }
        assert_eq!(
            ReplyLine::info("a\nb").encode(),
            "000 a b\n",
            "embedded newlines are flattened"
        );
    }

    #[test]
    fn reply_stream_and_broken_reply() {
        let wire = "000 hello\n~002 noise\n|raw\n=021\n";
        let mut shown = Vec::new();
        let rc = read_reply(&mut wire.as_bytes(), |l| {
            if let Some(s) = l.display(false) {
                shown.push(s);
            }
        })
        .unwrap();
        assert_eq!(rc, Rc::UNKNOWN_NAME);
        assert_eq!(shown, vec!["000 hello".to_string(), "raw".to_string()]);

        for verbose in [false, true] {
            let mut copied = Vec::new();
            let rc = copy_reply(&mut wire.as_bytes(), &mut copied, verbose).unwrap();
            assert_eq!(rc, Rc::UNKNOWN_NAME);
            let mut expected = String::new();
            read_reply(&mut wire.as_bytes(), |l| {
                if let Some(s) = l.display(verbose) {
                    expected.push_str(&s);
                    expected.push('\n');
                }
            })
            .unwrap();
            assert_eq!(String::from_utf8(copied).unwrap(), expected);
        }
        assert!(matches!(
            copy_reply(&mut "000 a\n".as_bytes(), &mut Vec::new(), false),
            Err(FrameError::ReplyBrokenOff)
        ));
        assert!(matches!(
            copy_reply(&mut "12x\n".as_bytes(), &mut Vec::new(), false),
            Err(FrameError::BadReplyLine(_))
        ));

        let broken = "000 hello\n";
        assert!(matches!(
            read_reply(&mut broken.as_bytes(), |_| {}),
            Err(FrameError::ReplyBrokenOff)
        ));
        assert!(matches!(
            read_reply(&mut "xyz\n".as_bytes(), |_| {}),
            Err(FrameError::BadReplyLine(_))
        ));
    }
}
