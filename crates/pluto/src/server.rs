//! The control socket: accepts clients, checks their credentials, reads one
//! request each and hands it to the event loop; streams the reply back.

use crate::reply::Replier;
use control::{decode_body, decode_header, FrameError, Rc, Request, HEADER_LEN};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A request from a client, on its way to the event loop.
#[derive(Debug)]
pub struct ControlCommand {
    /// What the client asked.
    pub request: Request,
    /// Where the answer goes.
    pub reply: Replier,
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another daemon answers on the socket.
    #[error("pluto is already running: {0} answers")]
    InUse(PathBuf),
    /// Creating, binding or chmod-ing the socket failed.
    #[error("cannot create control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Checks that no daemon answers on the control socket path and that the
/// path is free or a stale socket, without creating anything.
pub fn check_free(path: &Path) -> Result<(), SocketError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(SocketError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a socket",
                ),
            });
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(SocketError::InUse(path.to_path_buf()));
        }
    }
    Ok(())
}

/// Binds the control socket with mode 0600, replacing a stale socket file.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    check_free(path)?;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
    }
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// Whether a peer with this uid may use the socket: root or the daemon's uid.
pub fn peer_allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == 0 || peer_uid == own_uid
}

/// Accepts clients until `shutdown` turns true, then waits (bounded) for the
/// replies in flight to be written.
pub async fn serve(
    listener: UnixListener,
    commands: mpsc::Sender<ControlCommand>,
    own_uid: u32,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let commands = commands.clone();
                    clients.spawn(client(stream, commands, own_uid));
                }
                Err(e) => {
                    tracing::warn!("control socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    let drain = async { while clients.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        clients.abort_all();
    }
}

/// Reads the request frame, with the size bound and a timeout.
async fn read_request(stream: &mut UnixStream) -> Result<Request, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    read_full(stream, &mut header).await?;
    let len = decode_header(&header)?;
    let mut body = vec![0u8; len];
    read_full(stream, &mut body).await?;
    decode_body(&body)
}

async fn read_full(stream: &mut UnixStream, buf: &mut [u8]) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        let n = stream.read(rest).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                got,
                want: buf.len(),
            });
        }
        got += n;
    }
    Ok(())
}

/// Most bytes read and thrown away after an error reply.
const DRAIN_LIMIT: usize = 2 * control::MAX_REQUEST;

/// Sends an error reply, then reads and discards what the client still
/// sends (bounded in bytes and time), so closing does not reset the
/// connection before the client has read the reply.
async fn send_error(stream: &mut UnixStream, rc: Rc, text: &str) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut r = Replier::new(tx);
    r.fail(rc, text);
    r.finish();
    while let Ok(chunk) = rx.try_recv() {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 8192];
        let mut total = 0;
        while total < DRAIN_LIMIT {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

async fn client(mut stream: UnixStream, commands: mpsc::Sender<ControlCommand>, own_uid: u32) {
    let uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(e) => {
            tracing::warn!("control socket: cannot read peer credentials: {e}");
            return;
        }
    };
    if !peer_allowed(uid, own_uid) {
        tracing::warn!("control socket: refused request from uid {uid}");
        send_error(
            &mut stream,
            Rc::BADWHACKMESSAGE,
            &format!(
                "permission denied: uid {uid} may not control pluto (root or uid {own_uid} only)"
            ),
        )
        .await;
        return;
    }
    // A client may send further requests on the same connection once it
    // has read a reply's final line (`ipsec` sends one and closes; a
    // program driving the daemon keeps one connection, as a vici client
    // does). An idle connection is closed after REQUEST_TIMEOUT.
    let mut first = true;
    loop {
        let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
            Ok(Ok(r)) => r,
            Ok(Err(FrameError::Truncated { got: 0, .. })) => {
                if first {
                    // Connected and closed without a byte: a liveness probe.
                    tracing::debug!("control socket: client closed without a request");
                }
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!("control socket: {e}");
                send_error(&mut stream, Rc::BADWHACKMESSAGE, &e.to_string()).await;
                return;
            }
            Err(_) if !first => return,
            Err(_) => {
                send_error(
                    &mut stream,
                    Rc::BADWHACKMESSAGE,
                    "truncated request: no complete request within 10s",
                )
                .await;
                return;
            }
        };
        first = false;
        tracing::debug!("control request from uid {uid}: {}", request.op_name());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let command = ControlCommand {
            request,
            reply: Replier::new(tx),
        };
        if commands.send(command).await.is_err() {
            send_error(&mut stream, Rc::INTERNAL_ERROR, "pluto is shutting down").await;
            return;
        }
        while let Some(chunk) = rx.recv().await {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bind_refuses_files_and_live_sockets() {
        let dir = std::env::temp_dir().join(format!("ferroswan-bind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-a-socket");
        std::fs::write(&file, "keep me").unwrap();
        assert!(bind(&file).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        let sock = dir.join("pluto.ctl");
        let first = bind(&sock).unwrap();
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(bind(&sock), Err(SocketError::InUse(_))));
        drop(first);
        // A stale socket file is replaced.
        assert!(bind(&sock).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn credentials() {
        assert!(peer_allowed(0, 0));
        assert!(peer_allowed(0, 1000));
        assert!(peer_allowed(1000, 1000));
        assert!(!peer_allowed(65534, 0));
        assert!(!peer_allowed(1001, 1000));
    }
}
