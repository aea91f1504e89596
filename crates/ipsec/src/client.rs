//! The client end of the control socket.

use control::{copy_reply, write_request, FrameError, Rc, Request};
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: wrong call.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: the configuration cannot be loaded.
pub const EXIT_CONFIG: i32 = 3;
/// Exit status: unknown connection name (`RC_UNKNOWN_NAME`).
pub const EXIT_UNKNOWN_NAME: i32 = 21;
/// Exit status: daemon not running or socket unusable (`RC_WHACK_PROBLEM`).
pub const EXIT_WHACK_PROBLEM: i32 = 33;

/// The control socket to use: `--ctlsocket`, else `$IPSEC_RUNDIR/pluto.ctl`,
/// else `/run/pluto/pluto.ctl`.
pub fn ctlsocket(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os("IPSEC_RUNDIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("pluto.ctl"),
        _ => PathBuf::from(control::DEFAULT_CTLSOCKET),
    }
}

/// The configuration file to use: `--config`, else `$IPSEC_CONFS/ipsec.conf`,
/// else `/etc/ipsec.conf`.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os("IPSEC_CONFS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("ipsec.conf"),
        _ => PathBuf::from("/etc/ipsec.conf"),
    }
}

/// Sends one request and prints the reply to stdout; returns the exit status
/// (the reply's failure status, or 33 when the daemon cannot be reached).
pub fn send(socket: &Path, request: &Request, verbose: bool) -> i32 {
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "ipsec: cannot connect to pluto's control socket {}: {e} (is pluto running?)",
                socket.display()
            );
            return EXIT_WHACK_PROBLEM;
        }
    };
    // A daemon that refuses the request may answer before reading it all;
    // its reply is still there to read.
    let write_error = write_request(&mut stream, request).err();
    // Half-close: the daemon sees the end of the request.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let result = copy_reply(&mut reader, &mut out, verbose);
    let _ = out.flush();
    if let (Some(e), Err(_)) = (&write_error, &result) {
        eprintln!(
            "ipsec: cannot send the request to {}: {e}",
            socket.display()
        );
        return EXIT_WHACK_PROBLEM;
    }
    match result {
        Ok(rc) => rc.exit_status(),
        // Our stdout was closed (`ipsec auto --status | head`): not an error
        // of the daemon's.
        Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(FrameError::ReplyBrokenOff) => {
            eprintln!(
                "ipsec: the reply from {} broke off (did pluto exit?)",
                socket.display()
            );
            EXIT_WHACK_PROBLEM
        }
        Err(e) => {
            eprintln!("ipsec: bad reply from {}: {e}", socket.display());
            Rc::WHACK_PROBLEM.exit_status()
        }
    }
}
