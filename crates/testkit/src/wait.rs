//! Bounded waits: poll a condition until it holds or a deadline passes.

use std::time::{Duration, Instant};

/// Polls `cond` until it returns true or `timeout` passes. The poll interval
/// starts at 2 ms and doubles up to 100 ms, so fast conditions are seen fast
/// and slow ones do not burn a core. Returns how long it took, or an error
/// naming `what` when the deadline passed.
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if cond() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
