//! Running iproute2's `ip` for the changes the default updown makes
//! (source addresses, VTI devices and their routes).

use std::process::{Command, Stdio};

/// Runs `ip ARGS`; its standard output, or an error naming the command
/// and what `ip` printed.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
