//! Line-level lexing of ipsec.conf: section headers at column 0, indented
//! `key=value` items, `#` comments, `"quoted"` and `{braced}` values.

/// One lexical item of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// A line starting at column 0: its words (comment removed).
    Header { words: Vec<String>, line: u32 },
    /// An indented `x-...` / `x_...` line: a comment Libreswan warns about.
    XComment { text: String, line: u32 },
    /// An indented `key=value`.
    KeyVal {
        key: String,
        value: String,
        line: u32,
    },
}

/// A lexical error: line and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub line: u32,
    pub message: String,
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// Splits a column-0 line into words, honouring quotes and stopping at a comment.
fn header_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            Some('"') => {
                chars.next();
                let mut w = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => break,
                        Some(c) => w.push(c),
                    }
                }
                words.push(w);
            }
            Some(_) => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                words.push(w);
            }
        }
    }
    Ok(words)
}

/// Lexes a whole file.
pub(crate) fn lex(text: &str) -> Result<Vec<Item>, LexError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut items = Vec::new();
    let mut i = 0usize;
    while let Some(&raw) = lines.get(i) {
        let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
        i += 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !raw.starts_with(|c: char| c.is_whitespace()) {
            let words = header_words(raw).map_err(|message| LexError {
                line: lineno,
                message,
            })?;
            items.push(Item::Header {
                words,
                line: lineno,
            });
            continue;
        }
        // `x-`/`x_` at the start of a body line: the whole line is a comment
        if trimmed.len() >= 2 && trimmed.is_char_boundary(2) && {
            let p = trimmed[..2].to_ascii_lowercase();
            p == "x-" || p == "x_"
        } {
            items.push(Item::XComment {
                text: trimmed.trim_end().to_string(),
                line: lineno,
            });
            continue;
        }
        // an indented body line: one KEY=VALUE, optionally a trailing comment
        {
            let r = trimmed;
            let key_len = r.find(|c: char| !is_key_char(c)).unwrap_or(r.len());
            let key = &r[..key_len];
            let after = r[key_len..].trim_start();
            if key.is_empty() || !after.starts_with('=') {
                let shown: String = r.chars().take(40).collect();
                return Err(LexError {
                    line: lineno,
                    message: format!("syntax error, expecting KEY=VALUE, got '{shown}'"),
                });
            }
            let key = key.to_string();
            let after_eq = &after[1..];
            let v = after_eq.trim_start_matches([' ', '\t']);
            let (value, remainder): (String, String) = if v.is_empty() || v.starts_with('#') {
                (String::new(), String::new())
            } else if let Some(q) = v.strip_prefix('"') {
                match q.find('"') {
                    Some(end) => (q[..end].to_string(), q[end + 1..].to_string()),
                    None => {
                        return Err(LexError {
                            line: lineno,
                            message: format!("unterminated quoted value for '{key}'"),
                        })
                    }
                }
            } else if let Some(b) = v.strip_prefix('{') {
                // braced values may continue over several lines
                let mut acc = String::new();
                let mut cur = b.to_string();
                loop {
                    if let Some(end) = cur.find('}') {
                        acc.push_str(&cur[..end]);
                        break (acc.trim().to_string(), cur[end + 1..].to_string());
                    }
                    acc.push_str(&cur);
                    acc.push(' ');
                    match lines.get(i) {
                        Some(next) => {
                            cur = next.strip_suffix('\r').unwrap_or(next).to_string();
                            i += 1;
                        }
                        None => {
                            return Err(LexError {
                                line: lineno,
                                message: format!("unterminated braced value for '{key}'"),
                            })
                        }
                    }
                }
            } else {
                let end = v.find(char::is_whitespace).unwrap_or(v.len());
                (v[..end].to_string(), v[end..].to_string())
            };
            let tail = remainder.trim_start();
            if !tail.is_empty() && !tail.starts_with('#') {
                return Err(LexError {
                    line: lineno,
                    message: format!(
                        "syntax error after '{key}=': unexpected '{}' (one KEY=VALUE per line; quote values that contain spaces)",
                        tail.chars().take(40).collect::<String>()
                    ),
                });
            }
            items.push(Item::KeyVal {
                key,
                value,
                line: lineno,
            });
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(items: &[Item]) -> Vec<(String, String, u32)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::KeyVal { key, value, line } => Some((key.clone(), value.clone(), *line)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn values_quotes_braces_comments() {
        let t = "conn a # c\n\tleft=1.2.3.4 # comment\n\tleftid=\"@x y\"\n\tk={a\n b}\n\tempty=\n\tx = y\n\tu=@#1\n";
        let items = lex(t).unwrap();
        assert_eq!(
            items[0],
            Item::Header {
                words: vec!["conn".into(), "a".into()],
                line: 1
            }
        );
        assert_eq!(
            kv(&items),
            vec![
                ("left".into(), "1.2.3.4".into(), 2),
                ("leftid".into(), "@x y".into(), 3),
                ("k".into(), "a  b".into(), 4),
                ("empty".into(), "".into(), 6),
                ("x".into(), "y".into(), 7),
                ("u".into(), "@#1".into(), 8),
            ]
        );
    }

    #[test]
    fn errors_carry_line() {
        let e = lex("conn a\n\tleft 1.2.3.4\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = lex("conn a\n\tleftid=\"open\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = lex("conn a\n\n\tleft=1.2.3.4 right=5.6.7.8\n").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
