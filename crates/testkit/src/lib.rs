//! Test support for ferroswan's root-level tests: network namespaces joined
//! by veth pairs, strongSwan's charon and Libreswan's pluto running inside a
//! namespace, temporary directories, and bounded waits for a condition.
//!
//! Everything created here is removed again when its owner is dropped, also
//! when a test fails, so tests can run in parallel and leave nothing behind.

pub mod charon;
pub mod libreswan;
pub mod netns;
pub mod tempdir;
pub mod wait;

pub use charon::{Charon, CharonConn};
pub use libreswan::{Libreswan, LibreswanConn, LswOutput};
pub use netns::{NetPair, Netns};
pub use tempdir::TempDir;
pub use wait::wait_until;

/// True when the process runs as root. Tests that need root call this and
/// print a visible skip message otherwise; CI always runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Returns true (and prints why) when a root-only test has to be skipped.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED {test}: needs root (network namespaces); CI runs it as root");
    true
}

/// True when `program` is found on PATH or is an existing path.
pub fn have_program(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}
