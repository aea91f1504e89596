//! `conn %default` and `also=`: from sections to one flat set of keys per
//! connection, as Libreswan's confread does it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::error::{ConfError, Diagnostic};
use crate::keywords::Kind;
use crate::parser::{Entry, RawConfig, Section, SectionKind};

/// How deep `also=` may nest (a guard against runaway recursion).
pub const MAX_ALSO_DEPTH: usize = 64;

/// A connection with `%default` and `also=` applied: one entry per
/// canonical key (list keywords accumulate every value).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The conn's name.
    pub name: String,
    /// File of its `conn` line.
    pub file: Arc<Path>,
    /// Line of its `conn` line.
    pub line: u32,
    /// Canonical key (`leftsubnet`) to entry.
    pub values: BTreeMap<Arc<str>, Entry>,
}

impl Resolved {
    /// The entry for `key`, if set.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.values.get(key)
    }

    /// A diagnostic at the conn line.
    pub fn diag(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file.to_path_buf(), self.line, message)
    }
}

fn append(existing: &mut Entry, value: &str) {
    if value.is_empty() {
        return;
    }
    if existing.value.is_empty() {
        existing.value = Arc::from(value);
    } else {
        existing.value = Arc::from(format!("{} {value}", existing.value));
    }
}

struct Ctx<'a> {
    /// The first section of each conn name (what `also=` refers to).
    by_name: &'a HashMap<&'a str, &'a Section>,
    conn: &'a str,
    stack: Vec<&'a str>,
    visited: HashSet<&'a str>,
    values: BTreeMap<Arc<str>, Entry>,
}

impl<'a> Ctx<'a> {
    fn find(&self, name: &str) -> Option<&'a Section> {
        self.by_name.get(name).copied()
    }

    fn translate(&mut self, sec: &'a Section, name: &'a str) -> Result<(), ConfError> {
        self.visited.insert(name);
        self.stack.push(name);
        for e in &sec.entries {
            match e.kw.kind {
                Kind::Also => {
                    for target in e.value.split_whitespace() {
                        if self.stack.contains(&target) {
                            let mut chain: Vec<&str> = self.stack.clone();
                            chain.push(target);
                            return Err(ConfError::Also(e.diag(format!(
                                "also={target} in conn '{}' makes a loop: {}",
                                self.conn,
                                chain.join(" -> ")
                            ))));
                        }
                        if self.visited.contains(target) {
                            continue;
                        }
                        if self.stack.len() >= MAX_ALSO_DEPTH {
                            return Err(ConfError::Also(e.diag(format!(
                                "also={target} in conn '{}' nests deeper than {MAX_ALSO_DEPTH} levels",
                                self.conn
                            ))));
                        }
                        let Some(t) = self.find(target) else {
                            return Err(ConfError::Also(e.diag(format!(
                                "cannot find conn '{target}' needed by conn '{}'",
                                self.conn
                            ))));
                        };
                        let tname = match &t.kind {
                            SectionKind::Conn(n) => n.as_str(),
                            _ => target,
                        };
                        self.translate(t, tname)?;
                    }
                }
                Kind::AppendList => {
                    let key = e.key.clone();
                    match self.values.get_mut(&key) {
                        Some(x) => append(x, &e.value),
                        None => {
                            self.values.insert(key, e.clone());
                        }
                    }
                }
                _ => {
                    let key = e.key.clone();
                    if let Some(old) = self.values.get(&key) {
                        if old.value != e.value {
                            return Err(ConfError::Also(e.diag(format!(
                                "duplicate key '{key}' in conn '{}' while processing '{name}': '{}' conflicts with '{}' set at {}:{}",
                                self.conn,
                                e.value,
                                old.value,
                                old.file.display(),
                                old.line
                            ))));
                        }
                    } else {
                        self.values.insert(key, e.clone());
                    }
                }
            }
        }
        self.stack.pop();
        Ok(())
    }
}

/// Resolves every conn of `raw` (file order, `%default` excluded; a name
/// defined twice keeps its last definition, with a warning).
pub fn resolve_all(
    raw: &RawConfig,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<(String, Result<Resolved, ConfError>)> {
    // conn %default, possibly several times; later values override earlier ones
    let mut defaults: BTreeMap<Arc<str>, Entry> = BTreeMap::new();
    for sec in raw
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Default)
    {
        for e in &sec.entries {
            match e.kw.kind {
                Kind::Also => warnings.push(e.diag("also= is not valid in conn %default; ignored")),
                Kind::AppendList => {
                    let key = e.key.clone();
                    match defaults.get_mut(&key) {
                        Some(x) => append(x, &e.value),
                        None => {
                            defaults.insert(key, e.clone());
                        }
                    }
                }
                _ => {
                    defaults.insert(e.key.clone(), e.clone());
                }
            }
        }
    }

    let mut by_name: HashMap<&str, &Section> = HashMap::new();
    for sec in &raw.sections {
        if let SectionKind::Conn(n) = &sec.kind {
            by_name.entry(n.as_str()).or_insert(sec);
        }
    }
    let mut out: Vec<(String, Result<Resolved, ConfError>)> = Vec::new();
    let mut seen: BTreeMap<&str, (usize, &Section)> = BTreeMap::new();
    for sec in &raw.sections {
        let SectionKind::Conn(name) = &sec.kind else {
            continue;
        };
        let mut ctx = Ctx {
            by_name: &by_name,
            conn: name,
            stack: Vec::new(),
            visited: HashSet::new(),
            values: BTreeMap::new(),
        };
        let res = ctx.translate(sec, name).map(|()| {
            let mut values = ctx.values;
            for (k, e) in &defaults {
                match values.get_mut(k) {
                    // list keywords accumulate: %default's values come first
                    Some(v) if e.kw.kind == Kind::AppendList && !e.value.is_empty() => {
                        if !v.value.is_empty() {
                            v.value = Arc::from(format!("{} {}", e.value, v.value));
                        } else {
                            v.value = e.value.clone();
                        }
                    }
                    Some(_) => {}
                    None => {
                        values.insert(k.clone(), e.clone());
                    }
                }
            }
            Resolved {
                name: name.clone(),
                file: sec.file.clone(),
                line: sec.line,
                values,
            }
        });
        if let Some((idx, prev)) = seen.get(name.as_str()).copied() {
            warnings.push(Diagnostic::new(
                sec.file.to_path_buf(),
                sec.line,
                format!(
                    "conn '{name}' defined again; replaces the definition at {}:{}",
                    prev.file.display(),
                    prev.line
                ),
            ));
            if let Some(slot) = out.get_mut(idx) {
                *slot = (name.clone(), res);
            }
            seen.insert(name, (idx, sec));
        } else {
            seen.insert(name, (out.len(), sec));
            out.push((name.clone(), res));
        }
    }
    out
}
