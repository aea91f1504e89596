//! Printing a loaded configuration back as ipsec.conf text.

use std::fmt::Write;

use crate::Config;

/// Quotes a value when the lexer would otherwise split or drop it.
/// A value as ipsec.conf text that reads back as the same value: bare
/// when it can be (a bare word may hold `"` and `}` after its first
/// character: the lexer only looks at how a value starts), else quoted,
/// else braced. Every value the lexer produces has one of these forms: a
/// quoted value holds no `"`, a braced one no `}`, a bare one no space.
pub(crate) fn quote(v: &str) -> String {
    let plain =
        !v.is_empty() && !v.contains(char::is_whitespace) && !v.starts_with(['"', '{', '#']);
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

#[cfg(test)]
mod tests {
    use super::quote;
    use crate::lexer::{lex, Item};

    /// Each value reads back unchanged from `key=<quote(value)>`.
    #[test]
    fn quoted_values_read_back() {
        for v in [
            "plain",
            "/tug}\"all\"",
            "a\"b",
            "with space",
            "say \"hi\" there",
            "{braced} start",
            "\"starts with a quote",
            "#hash",
            "",
            "u=@#1",
        ] {
            let text = format!("conn a\n\tk={}\n", quote(v));
            let items = lex(&text).unwrap_or_else(|e| panic!("{v:?} as {text:?}: {e:?}"));
            let got = items.iter().find_map(|i| match i {
                Item::KeyVal { value, .. } => Some(value.clone()),
                _ => None,
            });
            assert_eq!(got.as_deref(), Some(v), "{text:?}");
        }
    }
}
