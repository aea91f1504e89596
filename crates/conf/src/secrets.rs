//! ipsec.secrets(5): `index ... : KIND secret` records and the PSK lookup.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::addr::Id;
use crate::error::{ConfError, Diagnostic};
use crate::parser::MAX_INCLUDE_DEPTH;
use crate::LoadOptions;

/// A shared secret (PSK, XAUTH password, PPK). Zeroized on drop, never
/// printed; compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Psk(Vec<u8>);

impl PartialEq for Psk {
    fn eq(&self, other: &Psk) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl Eq for Psk {}

impl Psk {
    /// A secret from bytes.
    pub fn new(bytes: Vec<u8>) -> Psk {
        Psk(bytes)
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// An index of a record: an ID, or `%any` (a wildcard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretIndex {
    /// A specific identity.
    Id(Id),
    /// `%any`, `%any6`, `0.0.0.0`, `::`: matches anything.
    Any,
}

/// What kind of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKind {
    /// `PSK`.
    Psk(Psk),
    /// `XAUTH` user password.
    Xauth(Psk),
    /// `PPKS "ID" secret`: a post-quantum preshared key.
    Ppks {
        /// The PPK identity.
        ppk_id: String,
        /// The key.
        key: Psk,
    },
    /// `RSA`, `ECDSA`, `PIN` and other records ferroswan accepts but ignores
    /// (private keys live in the NSS database in Libreswan).
    Ignored(String),
}

/// One record of a secrets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// The indices (empty: matches everything).
    pub indices: Vec<SecretIndex>,
    /// The secret.
    pub kind: SecretKind,
    /// File.
    pub file: PathBuf,
    /// Line of the record's start.
    pub line: u32,
}

/// A loaded ipsec.secrets.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    records: Vec<SecretRecord>,
    warnings: Vec<Diagnostic>,
    files: Vec<PathBuf>,
}

fn sdiag(file: &Path, line: u32, m: impl Into<String>) -> ConfError {
    ConfError::Secrets(Diagnostic::new(file, line, m))
}

/// Tokens of a record: quoted strings keep their quotes stripped but are
/// marked, braces are single tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Colon,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            // comment to end of line
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            continue;
        }
        if c == '"' || c == '\'' {
            let q = c;
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == q {
                    closed = true;
                    break;
                }
                s.push(c);
            }
            if !closed {
                s.zeroize();
                return Err("unterminated quoted string".into());
            }
            out.push(Tok::Quoted(s));
            continue;
        }
        if c == '{' {
            let mut depth = 0usize;
            let mut s = String::new();
            for c in chars.by_ref() {
                s.push(c);
                if c == '{' {
                    depth += 1;
                } else if c == '}' {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
            }
            out.push(Tok::Word(s));
            continue;
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '"' {
                break;
            }
            w.push(c);
            chars.next();
        }
        // a ':' ending a word and followed by whitespace is the separator
        if w == ":" {
            out.push(Tok::Colon);
        } else if let Some(stripped) = w.strip_suffix(':') {
            if chars.peek().is_none_or(|c| c.is_whitespace()) && !stripped.is_empty() {
                out.push(Tok::Word(stripped.to_string()));
                out.push(Tok::Colon);
            } else {
                out.push(Tok::Word(w));
            }
        } else {
            out.push(Tok::Word(w));
        }
    }
    Ok(out)
}

fn parse_index(t: &Tok) -> Result<SecretIndex, String> {
    let s = match t {
        Tok::Word(s) | Tok::Quoted(s) => s.as_str(),
        Tok::Colon => return Err("unexpected ':'".into()),
    };
    match s.to_ascii_lowercase().as_str() {
        "%any" | "%any6" | "0.0.0.0" | "::" | "%none" => return Ok(SecretIndex::Any),
        _ => {}
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(SecretIndex::Id(Id::from_ip(a)));
    }
    Id::parse(s)
        .map(SecretIndex::Id)
        .map_err(|e| format!("bad index '{s}': {e}"))
}

/// Decodes a secret value: `"text"`, `0x` hex, `0s` base64, `0t` text.
fn parse_secret(t: &Tok) -> Result<Psk, String> {
    match t {
        Tok::Quoted(s) => Ok(Psk::new(s.as_bytes().to_vec())),
        Tok::Word(w) => {
            if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
                let h: String = h.chars().filter(|c| *c != '_').collect();
                hex::decode(h)
                    .map(Psk::new)
                    .map_err(|_| "secret in 0x form is not valid hex".into())
            } else if let Some(b) = w.strip_prefix("0s") {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map(Psk::new)
                    .map_err(|_| "secret in 0s form is not valid base64".into())
            } else if let Some(t) = w.strip_prefix("0t") {
                Ok(Psk::new(t.as_bytes().to_vec()))
            } else {
                Err("secret must be a quoted string or start with 0x, 0s or 0t".into())
            }
        }
        Tok::Colon => Err("expected a secret, found ':'".into()),
    }
}

fn same_id(a: &Id, b: &Id) -> bool {
    fn norm_dn(s: &str) -> String {
        s.split(',')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                format!("{}={}", k.trim().to_ascii_uppercase(), v.trim())
            })
            .collect::<Vec<_>>()
            .join(",")
    }
    match (a, b) {
        (Id::Fqdn(x), Id::Fqdn(y)) | (Id::UserFqdn(x), Id::UserFqdn(y)) => {
            x.eq_ignore_ascii_case(y)
        }
        (Id::Dn(x), Id::Dn(y)) => norm_dn(x) == norm_dn(y),
        _ => a == b,
    }
}

impl Secrets {
    /// Loads `path` and its includes.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Secrets, ConfError> {
        let mut text = std::fs::read_to_string(path).map_err(|source| ConfError::Io {
            diag: Diagnostic::new(path, 0, "cannot open secrets file"),
            source,
        })?;
        let res = Self::parse_str(&text, path, opts);
        text.zeroize();
        res
    }

    /// Parses `text` as the file `name`.
    pub fn parse_str(text: &str, name: &Path, opts: &LoadOptions) -> Result<Secrets, ConfError> {
        let mut s = Secrets::default();
        s.parse_file(text, name, opts, 0)?;
        Ok(s)
    }

    fn parse_file(
        &mut self,
        text: &str,
        file: &Path,
        opts: &LoadOptions,
        depth: usize,
    ) -> Result<(), ConfError> {
        self.files.push(file.to_path_buf());
        // group lines into records: a record starts at column 0, indented lines continue it
        let mut records: Vec<(u32, String)> = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let line = line.strip_suffix('\r').unwrap_or(line);
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if line.starts_with(char::is_whitespace) {
                if let Some((_, r)) = records.last_mut() {
                    r.push('\n');
                    r.push_str(line);
                    continue;
                }
            }
            records.push((lineno, line.to_string()));
        }
        for (line, mut text) in records {
            let res = self.record(&text, file, line, opts, depth);
            text.zeroize();
            res?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        text: &str,
        file: &Path,
        line: u32,
        opts: &LoadOptions,
        depth: usize,
    ) -> Result<(), ConfError> {
        let mut toks = tokenize(text).map_err(|m| sdiag(file, line, m))?;
        if let Some(Tok::Word(w)) = toks.first() {
            if w == "include" {
                let res = match toks.get(1) {
                    Some(Tok::Word(p)) | Some(Tok::Quoted(p)) => {
                        self.include(p, file, line, opts, depth)
                    }
                    _ => Err(sdiag(file, line, "include needs a file name")),
                };
                return res;
            }
        }
        let result = self.record_tokens(&toks, file, line);
        for t in &mut toks {
            if let Tok::Word(s) | Tok::Quoted(s) = t {
                s.zeroize();
            }
        }
        result
    }

    fn record_tokens(&mut self, toks: &[Tok], file: &Path, line: u32) -> Result<(), ConfError> {
        let Some(colon) = toks.iter().position(|t| *t == Tok::Colon) else {
            return Err(sdiag(
                file,
                line,
                "missing ':' between indices and the secret",
            ));
        };
        let (idx, rest) = toks.split_at(colon);
        let rest = rest.get(1..).unwrap_or(&[]);
        let indices = idx
            .iter()
            .map(parse_index)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| sdiag(file, line, m))?;
        let Some((kind_tok, args)) = rest.split_first() else {
            return Err(sdiag(file, line, "missing secret kind after ':'"));
        };
        let kind = match kind_tok {
            Tok::Word(k) => k.to_ascii_uppercase(),
            // a bare quoted string after ':' is an (old style) PSK
            Tok::Quoted(_) => "PSK_IMPLIED".into(),
            Tok::Colon => return Err(sdiag(file, line, "unexpected ':'")),
        };
        let warn = |this: &mut Self, m: String| this.warnings.push(Diagnostic::new(file, line, m));
        let (kind, used) = match kind.as_str() {
            "PSK" | "PSK_IMPLIED" => {
                let (tok, used) = if kind == "PSK" {
                    (args.first(), 1)
                } else {
                    (Some(kind_tok), 0)
                };
                let tok = tok.ok_or_else(|| sdiag(file, line, "PSK record without a secret"))?;
                let psk = parse_secret(tok).map_err(|m| sdiag(file, line, format!("PSK: {m}")))?;
                if psk.len() < 8 {
                    warn(
                        self,
                        format!(
                            "PSK is shorter than 8 characters ({} bytes); use a longer secret",
                            psk.len()
                        ),
                    );
                }
                (SecretKind::Psk(psk), used)
            }
            "XAUTH" => {
                let tok = args
                    .first()
                    .ok_or_else(|| sdiag(file, line, "XAUTH record without a password"))?;
                let p = parse_secret(tok).map_err(|m| sdiag(file, line, format!("XAUTH: {m}")))?;
                (SecretKind::Xauth(p), 1)
            }
            "PPKS" => {
                let (id, key) = match args {
                    [Tok::Quoted(id) | Tok::Word(id), key, ..] => (id.clone(), key),
                    _ => return Err(sdiag(file, line, "PPKS record needs a PPK ID and a key")),
                };
                let key = parse_secret(key).map_err(|m| sdiag(file, line, format!("PPKS: {m}")))?;
                (SecretKind::Ppks { ppk_id: id, key }, 2)
            }
            "RSA" | "ECDSA" | "EDDSA" | "PIN" | "XMIT" | "PRIVATE" => {
                warn(
                    self,
                    format!("{kind} record ignored (private keys come from the NSS database)"),
                );
                (SecretKind::Ignored(kind.clone()), args.len())
            }
            other => return Err(sdiag(file, line, format!("unknown secret kind '{other}'"))),
        };
        self.records.push(SecretRecord {
            indices,
            kind,
            file: file.to_path_buf(),
            line,
        });
        let extra = args.get(used..).unwrap_or(&[]);
        if !extra.is_empty() {
            if extra.first() == Some(&Tok::Colon) {
                // another record on the same line with no index
                return self.record_tokens(extra, file, line);
            }
            warn(self, "ignoring unexpected text after the secret".into());
        }
        Ok(())
    }

    fn include(
        &mut self,
        pattern: &str,
        from: &Path,
        line: u32,
        opts: &LoadOptions,
        depth: usize,
    ) -> Result<(), ConfError> {
        if depth + 1 > MAX_INCLUDE_DEPTH {
            self.warnings.push(Diagnostic::new(
                from,
                line,
                format!("including '{pattern}' exceeds max inclusion depth of {MAX_INCLUDE_DEPTH}"),
            ));
            return Ok(());
        }
        let p = Path::new(pattern);
        let target = if p.is_absolute() {
            match &opts.rootdir {
                Some(root) => root.join(p.strip_prefix("/").unwrap_or(p)),
                None => p.to_path_buf(),
            }
        } else {
            from.parent().map_or_else(|| p.to_path_buf(), |d| d.join(p))
        };
        let globbed = pattern.contains(['*', '?', '[']);
        let mut paths = Vec::new();
        if globbed {
            let g = glob::glob(&target.to_string_lossy())
                .map_err(|e| sdiag(from, line, format!("bad include pattern '{pattern}': {e}")))?;
            paths.extend(g.flatten());
            paths.sort();
        } else {
            paths.push(target);
        }
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(mut text) => {
                    let res = self.parse_file(&text, &path, opts, depth + 1);
                    text.zeroize();
                    res?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !globbed => {
                    self.warnings.push(Diagnostic::new(
                        from,
                        line,
                        format!("could not open include filename: '{pattern}'"),
                    ));
                }
                Err(source) => {
                    return Err(ConfError::Io {
                        diag: Diagnostic::new(
                            from,
                            line,
                            format!("cannot read included file '{}'", path.display()),
                        ),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Every record, in file order.
    pub fn records(&self) -> &[SecretRecord] {
        &self.records
    }

    /// Warnings (short PSKs, ignored records, missing includes).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Files read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// How well a record's indices match, Libreswan's way: bits
    /// default (1, no index, or only our own ID), any (2, `%any`), remote (4),
    /// local (8); a higher number is a better match; 0 means no match.
    fn score(indices: &[SecretIndex], local: &Id, remote: &Id) -> u8 {
        const DEFAULT: u8 = 1;
        const ANY: u8 = 2;
        const REMOTE: u8 = 4;
        const LOCAL: u8 = 8;
        if indices.is_empty() {
            return DEFAULT;
        }
        let mut m = 0u8;
        for i in indices {
            match i {
                SecretIndex::Any => m |= ANY,
                SecretIndex::Id(id) => {
                    if same_id(id, local) {
                        m |= LOCAL;
                    }
                    if same_id(id, remote) {
                        m |= REMOTE;
                    }
                }
            }
        }
        // our own ID as the only index: any peer
        if m == LOCAL && indices.len() == 1 {
            m |= DEFAULT;
        }
        match m {
            DEFAULT | ANY => m,
            x if x == LOCAL | DEFAULT || x == LOCAL | ANY || x == REMOTE | ANY => m,
            x if x & (LOCAL | REMOTE) == LOCAL | REMOTE => m,
            // only one side named among other IDs: not a match for a shared secret
            _ => 0,
        }
    }

    /// The PSK for a pair of IDs: the most specific record wins (both IDs
    /// named; our ID and `%any`; our ID alone; the peer's ID and `%any`;
    /// `%any`; no index), as Libreswan ranks them; equally specific records
    /// must hold the same secret.
    pub fn psk(&self, local: &Id, remote: &Id) -> Result<Option<&Psk>, ConfError> {
        self.lookup(local, remote, |k| match k {
            SecretKind::Psk(p) => Some(p),
            _ => None,
        })
    }

    /// The XAUTH password for a user ID.
    pub fn xauth(&self, user: &Id) -> Option<&Psk> {
        self.records.iter().find_map(|r| match &r.kind {
            SecretKind::Xauth(p)
                if r.indices
                    .iter()
                    .any(|i| matches!(i, SecretIndex::Id(id) if same_id(id, user))) =>
            {
                Some(p)
            }
            _ => None,
        })
    }

    /// The PPK (id, key) for a pair of IDs, same matching rules as PSKs.
    pub fn ppk(&self, local: &Id, remote: &Id) -> Result<Option<&Psk>, ConfError> {
        self.lookup(local, remote, |k| match k {
            SecretKind::Ppks { key, .. } => Some(key),
            _ => None,
        })
    }

    fn lookup<'a>(
        &'a self,
        local: &Id,
        remote: &Id,
        pick: impl Fn(&'a SecretKind) -> Option<&'a Psk>,
    ) -> Result<Option<&'a Psk>, ConfError> {
        let mut best_score = 0u8;
        let mut best: Vec<(&SecretRecord, &Psk)> = Vec::new();
        for r in &self.records {
            let Some(p) = pick(&r.kind) else {
                continue;
            };
            let s = Self::score(&r.indices, local, remote);
            if s == 0 || s < best_score {
                continue;
            }
            if s > best_score {
                best_score = s;
                best.clear();
            }
            best.push((r, p));
        }
        let Some(&(first, psk)) = best.first() else {
            return Ok(None);
        };
        if let Some((r, _)) = best.iter().find(|(_, p)| *p != psk) {
            return Err(sdiag(
                &r.file,
                r.line,
                format!(
                    "multiple ipsec.secrets entries with distinct secrets match {local} and {remote} equally well (also {}:{})",
                    first.file.display(),
                    first.line
                ),
            ));
        }
        Ok(Some(psk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Secrets {
        Secrets::parse_str(t, Path::new("/etc/ipsec.secrets"), &LoadOptions::default()).unwrap()
    }

    #[test]
    fn formats_and_lookup() {
        let s = parse(
            "# c\n@west @east : PSK \"westeastsecret\"\n%any %any : PSK 0x6162636465666768\n: PSK 0sYWJjZGVmZ2hp\n@west %any : PSK 0tlongenough\n\"2001:db8::1\" 192.0.2.1: PSK \"v6v4secret\"\n@u : XAUTH \"pw\"\n: RSA {\n\tModulus: 0x00\n\t}\n@west @east : PPKS \"PPK_ID_1\" \"ppksecret\"\n",
        );
        assert_eq!(s.records().len(), 8);
        let west = Id::Fqdn("west".into());
        let east = Id::Fqdn("east".into());
        let other = Id::Fqdn("other".into());
        assert_eq!(
            s.psk(&west, &east).unwrap().unwrap().as_bytes(),
            b"westeastsecret"
        );
        assert_eq!(
            s.psk(&east, &west).unwrap().unwrap().as_bytes(),
            b"westeastsecret"
        );
        assert_eq!(
            s.psk(&west, &other).unwrap().unwrap().as_bytes(),
            b"longenough"
        );
        // two wildcard records disagree
        assert!(s.psk(&other, &Id::Fqdn("x".into())).is_err());
        let v6: Id = Id::parse("2001:db8::1").unwrap();
        let v4: Id = Id::parse("192.0.2.1").unwrap();
        assert_eq!(s.psk(&v6, &v4).unwrap().unwrap().as_bytes(), b"v6v4secret");
        assert!(s
            .warnings()
            .iter()
            .any(|w| w.message.contains("RSA record ignored")));
        assert_eq!(s.xauth(&Id::Fqdn("u".into())).unwrap().as_bytes(), b"pw");
        assert_eq!(
            s.ppk(&west, &east).unwrap().unwrap().as_bytes(),
            b"ppksecret"
        );
    }

    #[test]
    fn short_psk_warns_without_printing_it() {
        let s = parse("@a @b : PSK \"short\"\n");
        let w = &s.warnings()[0];
        assert!(w.message.contains("shorter than 8"));
        assert!(!w.to_string().contains("short\""));
        assert_eq!(format!("{:?}", s.records()[0].kind), "Psk(Psk(<redacted>))");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = Secrets::parse_str(
            "@a @b : PSK \"ok-secret\"\n@a @b PSK \"x\"\n",
            Path::new("s"),
            &LoadOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.diagnostic().unwrap().line, 2);
        assert!(e.to_string().starts_with("s:2:"));
        let e = Secrets::parse_str("@a : PSK nothex\n", Path::new("s"), &LoadOptions::default())
            .unwrap_err();
        assert!(!e.to_string().contains("nothex"));
        let e = Secrets::parse_str("@a : FOO \"x\"\n", Path::new("s"), &LoadOptions::default())
            .unwrap_err();
        assert!(e.to_string().contains("FOO"));
    }

    #[test]
    fn libreswan_ranking() {
        let west = Id::Fqdn("west".into());
        let east = Id::Fqdn("east".into());
        let s = parse("%any %any : PSK \"anyanyany\"\n@west : PSK \"westonly\"\n@west @road : PSK \"westroad\"\n");
        // our ID alone beats %any; a list naming us and a stranger does not match
        assert_eq!(
            s.psk(&west, &east).unwrap().unwrap().as_bytes(),
            b"westonly"
        );
        let s = parse("@west : PSK \"westonly\"\n@west %any : PSK \"westany1\"\n");
        assert_eq!(
            s.psk(&west, &east).unwrap().unwrap().as_bytes(),
            b"westany1"
        );
        // the peer's ID alone is not enough
        let s = parse("@east : PSK \"eastonly\"\n");
        assert!(s.psk(&west, &east).unwrap().is_none());
        let s = parse("@east %any : PSK \"eastany1\"\n");
        assert_eq!(
            s.psk(&west, &east).unwrap().unwrap().as_bytes(),
            b"eastany1"
        );
    }

    #[test]
    fn same_line_second_record() {
        let s = parse(": PSK \"firstsecret\": PSK \"secondsecret\"\n");
        assert_eq!(s.records().len(), 2);
    }
}
