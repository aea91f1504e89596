//! From files to sections: `config setup`, `conn NAME`, `include`,
//! `version`, keyword lookup, obsolete and `x-` keys, duplicates.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ConfError, Diagnostic};
use crate::keywords::{self, KeyEnd, Keyword, Kind, Lookup, Section as KwSection};
use crate::lexer::{self, Item};
use crate::LoadOptions;

/// Deepest `include` nesting Libreswan follows.
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// One `key=value` of a section, with the keyword it names.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The canonical keyword.
    pub kw: &'static Keyword,
    /// Which end for per-end keywords.
    pub end: KeyEnd,
    /// The canonical spelling of the key (`leftsubnet`).
    pub key: Arc<str>,
    /// The key as written in the file.
    pub written: Arc<str>,
    /// The value (quotes and braces removed).
    pub value: Arc<str>,
    /// The file it comes from.
    pub file: Arc<Path>,
    /// Its line.
    pub line: u32,
}

impl Entry {
    /// The canonical spelling of the key (`leftsubnet`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A diagnostic at this entry.
    pub fn diag(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file.to_path_buf(), self.line, message)
    }
}

/// What a section is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// `config setup`.
    Setup,
    /// `conn %default`.
    Default,
    /// `conn NAME`.
    Conn(String),
}

/// A section with its entries in file order.
#[derive(Debug, Clone)]
pub struct Section {
    /// What it is.
    pub kind: SectionKind,
    /// Where it starts.
    pub file: Arc<Path>,
    /// Line of the header.
    pub line: u32,
    /// The entries.
    pub entries: Vec<Entry>,
}

/// A parsed configuration before `%default` and `also=` are applied.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    /// Sections in the order read (includes expanded in place).
    pub sections: Vec<Section>,
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
    /// The `version` line's value, if any.
    pub version: Option<String>,
}

/// Reads and parses `path` and its includes.
pub fn parse_file(path: &Path, opts: &LoadOptions) -> Result<RawConfig, ConfError> {
    let mut raw = RawConfig::default();
    let text = std::fs::read_to_string(path).map_err(|source| ConfError::Io {
        diag: Diagnostic::new(path, 0, "cannot open configuration file"),
        source,
    })?;
    Parser {
        opts,
        raw: &mut raw,
        seen: HashSet::new(),
    }
    .file(&text, path, 0)?;
    Ok(raw)
}

/// Parses `text` as the file `name`.
pub fn parse_text(text: &str, name: &Path, opts: &LoadOptions) -> Result<RawConfig, ConfError> {
    let mut raw = RawConfig::default();
    Parser {
        opts,
        raw: &mut raw,
        seen: HashSet::new(),
    }
    .file(text, name, 0)?;
    Ok(raw)
}

struct Parser<'a> {
    opts: &'a LoadOptions,
    raw: &'a mut RawConfig,
    /// Keys already set in the section being read (keyword address, end).
    seen: HashSet<(usize, KeyEnd)>,
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Parser<'_> {
    fn file(&mut self, text: &str, path: &Path, depth: usize) -> Result<(), ConfError> {
        self.raw.files.push(path.to_path_buf());
        let file: Arc<Path> = Arc::from(path);
        let items = lexer::lex(text)
            .map_err(|e| ConfError::Syntax(Diagnostic::new(path, e.line, e.message)))?;
        // sections of this file; pushed when the next header arrives
        let mut current: Option<Section> = None;
        for item in items {
            match item {
                Item::Header { words, line } => {
                    if let Some(s) = current.take() {
                        self.raw.sections.push(s);
                    }
                    let first = words.first().map(|w| w.to_ascii_lowercase());
                    let d = |m: String| Diagnostic::new(path, line, m);
                    match (first.as_deref(), words.len()) {
                        (Some("config"), 2)
                            if words
                                .get(1)
                                .is_some_and(|w| w.eq_ignore_ascii_case("setup")) =>
                        {
                            self.seen.clear();
                            current = Some(Section {
                                kind: SectionKind::Setup,
                                file: file.clone(),
                                line,
                                entries: Vec::new(),
                            });
                        }
                        (Some("conn"), 2) => {
                            let name = words.get(1).cloned().unwrap_or_default();
                            if name.is_empty() {
                                return Err(ConfError::Syntax(d("conn without a name".into())));
                            }
                            let kind = if name == "%default" {
                                SectionKind::Default
                            } else {
                                SectionKind::Conn(name)
                            };
                            self.seen.clear();
                            current = Some(Section {
                                kind,
                                file: file.clone(),
                                line,
                                entries: Vec::new(),
                            });
                        }
                        (Some("include"), 2) => {
                            let pattern = words.get(1).cloned().unwrap_or_default();
                            self.include(&pattern, path, line, depth)?;
                        }
                        (Some("version"), 2) => {
                            self.raw.version = words.get(1).cloned();
                        }
                        (Some("conn" | "include" | "version"), _) => {
                            return Err(ConfError::Syntax(d(format!(
                                "'{}' expects exactly one argument",
                                first.unwrap_or_default()
                            ))));
                        }
                        _ => {
                            return Err(ConfError::Syntax(d(format!(
                                "syntax error: expecting 'config setup', 'conn NAME', 'include FILE' or 'version 2' at the start of a line, got '{}'",
                                words.join(" ")
                            ))));
                        }
                    }
                }
                Item::XComment { text, line } => {
                    self.raw.warnings.push(Diagnostic::new(
                        path,
                        line,
                        format!("X- style comment ignored: {text}"),
                    ));
                }
                Item::KeyVal { key, value, line } => {
                    let Some(sec) = current.as_mut() else {
                        return Err(ConfError::Syntax(Diagnostic::new(
                            path,
                            line,
                            format!("'{key}=' outside of a 'config setup' or 'conn' section"),
                        )));
                    };
                    self.entry(sec, &file, key, value, line)?;
                }
            }
        }
        if let Some(s) = current.take() {
            self.raw.sections.push(s);
        }
        Ok(())
    }

    fn entry(
        &mut self,
        sec: &mut Section,
        file: &Arc<Path>,
        key: String,
        value: String,
        line: u32,
    ) -> Result<(), ConfError> {
        let section = match sec.kind {
            SectionKind::Setup => KwSection::Setup,
            _ => KwSection::Conn,
        };
        let where_ = || match section {
            KwSection::Setup => "'config setup'",
            KwSection::Conn => "'conn'",
        };
        let d = |m: String| Diagnostic::new(file.to_path_buf(), line, m);
        match keywords::lookup(&key, section) {
            Lookup::XComment => {
                self.raw
                    .warnings
                    .push(d(format!("X- style comment ignored: {key}={value}")));
            }
            Lookup::Obsolete(_) => {
                self.raw
                    .warnings
                    .push(d(format!("obsolete keyword ignored: {key}={value}")));
            }
            Lookup::Unknown => {
                return Err(ConfError::UnknownKeyword(d(format!(
                    "unrecognized {} keyword '{key}'",
                    where_()
                ))));
            }
            Lookup::NeedsPrefix(kw) => {
                return Err(ConfError::UnknownKeyword(d(format!(
                    "keyword \"{}\" requires \"left\" or \"right\" prefix",
                    kw.name
                ))));
            }
            Lookup::Known { kw, end, .. } => {
                if kw.kind == Kind::Also && section == KwSection::Setup {
                    return Err(ConfError::UnknownKeyword(d(
                        "also= is not valid in 'config setup'".into(),
                    )));
                }
                let accumulates = matches!(kw.kind, Kind::Also | Kind::AppendList);
                if section == KwSection::Setup {
                    // Libreswan: a later value overrides an earlier one, with a warning
                    if let Some(pos) = sec.entries.iter().position(|e| std::ptr::eq(e.kw, kw)) {
                        self.raw.warnings.push(d(format!(
                            "overriding earlier 'config setup' keyword with new value: {key}={value}"
                        )));
                        sec.entries.remove(pos);
                    }
                } else if !accumulates && !self.seen.insert((kw as *const Keyword as usize, end)) {
                    self.raw
                        .warnings
                        .push(d(format!("ignoring duplicate conn keyword: {key}={value}")));
                    return Ok(());
                }
                sec.entries.push(Entry {
                    kw,
                    end,
                    key: Arc::from(keywords::key_name(kw, end)),
                    written: Arc::from(key),
                    value: Arc::from(value),
                    file: file.clone(),
                    line,
                });
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        pattern: &str,
        from: &Path,
        line: u32,
        depth: usize,
    ) -> Result<(), ConfError> {
        let d = |m: String| Diagnostic::new(from, line, m);
        if depth + 1 > MAX_INCLUDE_DEPTH {
            self.raw.warnings.push(d(format!(
                "including '{pattern}' exceeds max inclusion depth of {MAX_INCLUDE_DEPTH}"
            )));
            return Ok(());
        }
        let target = self.include_path(pattern, from);
        let target_s = target.to_string_lossy().into_owned();
        let mut paths: Vec<PathBuf> = Vec::new();
        if has_glob_chars(pattern) {
            let g = glob::glob(&target_s).map_err(|e| {
                ConfError::Include(d(format!("bad include pattern '{pattern}': {e}")))
            })?;
            for p in g.flatten() {
                paths.push(p);
            }
            paths.sort();
            // no match is not an error (Libreswan)
        } else {
            paths.push(target);
        }
        for p in paths {
            match std::fs::read_to_string(&p) {
                Ok(text) => self.file(&text, &p, depth + 1)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !has_glob_chars(pattern) => {
                    self.raw
                        .warnings
                        .push(d(format!("could not open include filename: '{pattern}'")));
                }
                Err(source) => {
                    return Err(ConfError::Io {
                        diag: d(format!("cannot read included file '{}'", p.display())),
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Where an include pattern points: absolute paths under rootdir,
    /// relative paths next to the including file.
    fn include_path(&self, pattern: &str, from: &Path) -> PathBuf {
        let p = Path::new(pattern);
        if p.is_absolute() {
            match &self.opts.rootdir {
                Some(root) => root.join(p.strip_prefix("/").unwrap_or(p)),
                None => p.to_path_buf(),
            }
        } else {
            match from.parent() {
                Some(dir) => dir.join(p),
                None => p.to_path_buf(),
            }
        }
    }
}
