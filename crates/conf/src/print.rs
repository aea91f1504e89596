//! Printing a loaded configuration back as ipsec.conf text.

use std::fmt::Write;

use crate::Config;

/// Quotes a value when the lexer would otherwise split or drop it.
pub(crate) fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && !v.contains(char::is_whitespace)
        && !v.starts_with(['"', '{', '#'])
        && !v.contains('"');
    if plain {
        v.to_string()
    } else if !v.contains('"') && !v.contains('\n') {
        format!("\"{v}\"")
    } else {
        format!("{{{v}}}")
    }
}

pub(crate) fn config_to_string(c: &Config) -> String {
    let mut out = String::new();
    out.push_str(
        "# written by ferroswan: every connection fully resolved\nversion 2\n\nconfig setup\n",
    );
    for (k, v) in &c.setup.raw {
        let _ = writeln!(out, "\t{k}={}", quote(v));
    }
    for conn in &c.conns {
        let _ = writeln!(out, "\nconn {}", conn.name);
        for (k, v) in &conn.raw {
            let _ = writeln!(out, "\t{k}={}", quote(v));
        }
    }
    out
}
