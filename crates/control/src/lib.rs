//! The pluto control-socket protocol, both ends: request and reply types,
//! Libreswan's status codes and the framing.
//!
//! One request per socket connection: the client writes one [`Request`]
//! frame, the daemon streams [`ReplyLine`]s and ends with a final [`Rc`].

mod frame;
mod rc;
mod request;

pub use frame::{
    copy_reply, decode_body, decode_header, decode_request, encode_request, read_reply,
    read_request, write_request, FrameError, ReplyLine, HEADER_LEN, MAGIC, MAX_REPLY_LINE,
    MAX_REQUEST,
};
pub use rc::Rc;
pub use request::{AddConns, ListKind, RekeyKind, Request, StatusKind};

/// The default control socket path.
pub const DEFAULT_CTLSOCKET: &str = "/run/pluto/pluto.ctl";
/// The default run directory (socket and pid file).
pub const DEFAULT_RUNDIR: &str = "/run/pluto";
