//! Socket buffers of the IKE sockets (`config setup ike-socket-bufsize=`,
//! `pluto --ike-socket-bufsize`).
//!
//! A burst of IKE_SA_INIT requests (hundreds of peers or connections
//! started at once) overflows the kernel's default receive buffer of about
//! 208 KiB: the datagrams are dropped (`RcvbufErrors`) and only the
//! initiators' retransmissions bring them back, seconds later. ferroswan
//! asks for 4 MiB in each direction; as root with `SO_RCVBUFFORCE` /
//! `SO_SNDBUFFORCE`, which ignore `net.core.rmem_max`/`wmem_max`, else
//! with the plain options, which the kernel caps at those limits.

use std::io;
use std::os::fd::RawFd;

/// The buffer size the daemon asks for when `ike-socket-bufsize=` is unset.
pub const DEFAULT_IKE_SOCKET_BUFSIZE: usize = 4 << 20;

/// A socket's buffer sizes as the kernel reports them (`getsockopt`; Linux
/// reports twice the size asked for, the bookkeeping overhead included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketBuffers {
    /// `SO_RCVBUF`, bytes.
    pub receive: usize,
    /// `SO_SNDBUF`, bytes.
    pub send: usize,
}

impl std::fmt::Display for SocketBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "receive buffer {} bytes, send buffer {} bytes",
            self.receive, self.send
        )
    }
}

fn set_int(fd: RawFd, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is an open socket owned by the caller; the option value
    // points to a live c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_int(fd: RawFd, option: libc::c_int) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket owned by the caller; `value` and `len`
    // are live and `len` holds the size of `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(usize::try_from(value).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The buffer sizes of socket `fd`.
pub fn buffer_sizes(fd: RawFd) -> io::Result<SocketBuffers> {
    Ok(SocketBuffers {
        receive: get_int(fd, libc::SO_RCVBUF)?,
        send: get_int(fd, libc::SO_SNDBUF)?,
    })
}

/// Asks for `bytes` of receive and send buffer on socket `fd` (forced as
/// root, else capped by the kernel's limits) and returns what it got.
pub fn set_buffers(fd: RawFd, bytes: usize) -> io::Result<SocketBuffers> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for (forced, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if set_int(fd, forced, value).is_err() {
            set_int(fd, plain, value)?;
        }
    }
    buffer_sizes(fd)
}

/// Parses `ike-socket-bufsize=` (bytes, at least 4096; `None` when unset).
pub fn parse_bufsize(value: Option<&str>) -> Result<usize, String> {
    let Some(v) = value else {
        return Ok(DEFAULT_IKE_SOCKET_BUFSIZE);
    };
    match conf::values::parse_unsigned(v) {
        Ok(n) if n >= 4096 => usize::try_from(n)
            .ok()
            .filter(|n| libc::c_int::try_from(*n).is_ok())
            .ok_or_else(|| format!("ike-socket-bufsize={v} is too large")),
        Ok(_) => Err(format!("ike-socket-bufsize={v} is below 4096 bytes")),
        Err(e) => Err(format!("ike-socket-bufsize={v}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn buffers_are_applied() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let before = buffer_sizes(sock.as_raw_fd()).expect("getsockopt");
        let asked = 3 << 20;
        let got = set_buffers(sock.as_raw_fd(), asked).expect("setsockopt");
        assert_eq!(got, buffer_sizes(sock.as_raw_fd()).expect("getsockopt"));
        if testkit_is_root() {
            // Forced: the kernel doubles what was asked, whatever rmem_max.
            assert_eq!(got.receive, 2 * asked, "{got} (before: {before})");
            assert_eq!(got.send, 2 * asked, "{got} (before: {before})");
        } else {
            // Capped at rmem_max/wmem_max, never below what it was.
            assert!(got.receive >= before.receive.min(2 * asked), "{got}");
        }
    }

    fn testkit_is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn bufsize_setting() {
        assert_eq!(parse_bufsize(None), Ok(DEFAULT_IKE_SOCKET_BUFSIZE));
        assert_eq!(parse_bufsize(Some("1048576")), Ok(1 << 20));
        assert!(parse_bufsize(Some("100")).is_err());
        assert!(parse_bufsize(Some("lots")).is_err());
        assert!(parse_bufsize(Some("99999999999")).is_err());
    }
}
