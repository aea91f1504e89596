//! The connection database: connections by name, with an alias index.

use crate::connection::Connection;
use std::collections::HashMap;

/// Why a database operation failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// A connection with that name is loaded already.
    #[error("attempt to redefine connection \"{0}\"")]
    Duplicate(String),
    /// No connection with that name or alias.
    #[error("no connection named \"{0}\"")]
    Unknown(String),
}

/// Connections by name; aliases map to names. Lookups are hash lookups.
#[derive(Debug, Default)]
pub struct ConnDb {
    by_name: HashMap<String, Connection>,
    by_alias: HashMap<String, Vec<String>>,
    next_serial: u64,
}

impl ConnDb {
    /// An empty database.
    pub fn new() -> Self {
        ConnDb {
            next_serial: 1,
            ..ConnDb::default()
        }
    }

    /// Number of loaded connections.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no connection is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The next serial number `add` will give.
    pub fn next_serial(&self) -> u64 {
        self.next_serial
    }

    /// Adds a connection; its serial is assigned here. A loaded name is refused.
    pub fn add(&mut self, mut conn: Connection) -> Result<u64, DbError> {
        let name = conn.info.name.clone();
        if self.by_name.contains_key(&name) {
            return Err(DbError::Duplicate(name));
        }
        conn.serial = self.next_serial;
        self.next_serial += 1;
        for alias in &conn.info.aliases {
            self.by_alias
                .entry(alias.clone())
                .or_default()
                .push(name.clone());
        }
        let serial = conn.serial;
        self.by_name.insert(name, conn);
        Ok(serial)
    }

    /// Deletes the connection with exactly this name.
    pub fn delete(&mut self, name: &str) -> Result<Connection, DbError> {
        let conn = self
            .by_name
            .remove(name)
            .ok_or_else(|| DbError::Unknown(name.to_string()))?;
        for alias in &conn.info.aliases {
            if let Some(names) = self.by_alias.get_mut(alias) {
                names.retain(|n| n != name);
                if names.is_empty() {
                    self.by_alias.remove(alias);
                }
            }
        }
        Ok(conn)
    }

    /// Replaces (or adds) a connection: the old one with that name goes.
    /// Returns the old connection, if any.
    pub fn replace(&mut self, conn: Connection) -> Option<Connection> {
        let old = self.delete(&conn.info.name).ok();
        // `add` cannot fail: the name was just removed.
        let _ = self.add(conn);
        old
    }

    /// A connection by exact name.
    pub fn get(&self, name: &str) -> Option<&Connection> {
        self.by_name.get(name)
    }

    /// A connection by exact name, mutable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Connection> {
        self.by_name.get_mut(name)
    }

    /// The names a name-or-alias designates: the connection with that name,
    /// else every connection with that alias (sorted).
    pub fn resolve(&self, name_or_alias: &str) -> Vec<String> {
        if self.by_name.contains_key(name_or_alias) {
            return vec![name_or_alias.to_string()];
        }
        let mut names = self
            .by_alias
            .get(name_or_alias)
            .cloned()
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Every connection, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.by_name.values()
    }

    /// Every connection sorted by name (the order status shows).
    pub fn sorted(&self) -> Vec<&Connection> {
        let mut v: Vec<&Connection> = self.by_name.values().collect();
        v.sort_unstable_by(|a, b| a.info.name.cmp(&b.info.name));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{ConnInfo, Routing};
    use std::sync::Arc;

    pub(crate) fn conn(name: &str, aliases: &[&str]) -> Connection {
        let mut info = ConnInfo::example(name, "192.0.2.1", "192.0.2.2");
        info.aliases = aliases.iter().map(|s| s.to_string()).collect();
        Connection {
            info,
            spec: Arc::new(crate::spec::example_spec(name)),
            serial: 0,
            routing: Routing::Unrouted,
            newest_ike_sa: 0,
            newest_ipsec_sa: 0,
            newest_ike_algorithms: None,
            newest_esp_algorithms: None,
        }
    }

    #[test]
    fn add_duplicate_delete() {
        let mut db = ConnDb::new();
        assert_eq!(db.add(conn("a", &[])), Ok(1));
        assert_eq!(db.add(conn("b", &[])), Ok(2));
        assert_eq!(db.add(conn("a", &[])), Err(DbError::Duplicate("a".into())));
        assert_eq!(db.len(), 2);
        assert!(db.delete("a").is_ok());
        assert_eq!(db.delete("a").unwrap_err(), DbError::Unknown("a".into()));
        assert_eq!(db.add(conn("a", &[])), Ok(3));
    }

    #[test]
    fn aliases_and_replace() {
        let mut db = ConnDb::new();
        db.add(conn("a", &["grp"])).unwrap();
        db.add(conn("b", &["grp", "bee"])).unwrap();
        assert_eq!(db.resolve("grp"), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(db.resolve("bee"), vec!["b".to_string()]);
        assert_eq!(db.resolve("a"), vec!["a".to_string()]);
        assert!(db.resolve("nothing").is_empty());
        let old = db.replace(conn("b", &[])).unwrap();
        assert_eq!(old.serial, 2);
        assert_eq!(db.get("b").map(|c| c.serial), Some(3));
        assert_eq!(db.resolve("grp"), vec!["a".to_string()]);
        assert!(db.resolve("bee").is_empty());
        db.delete("a").unwrap();
        assert!(db.resolve("grp").is_empty());
        let names: Vec<_> = db.sorted().iter().map(|c| c.info.name.clone()).collect();
        assert_eq!(names, vec!["b".to_string()]);
    }
}
