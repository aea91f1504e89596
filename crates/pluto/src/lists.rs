//! The list operations (`--listpubkeys`, `--listcerts`, ...), in Libreswan's
//! layout. Certificates, CA certificates and CRLs are empty until ferroswan
//! loads certificates; raw public keys come from the connections and the
//! pre-shared secrets from ipsec.secrets (never the secret itself).

use crate::connection::{id_type, Connection};
use crate::reply::Replier;
use crate::secrets::SecretsStore;

const BLANK: &str = " ";

/// A list header followed by an empty list.
pub fn header(r: &mut Replier, title: &str) {
    r.info(BLANK);
    r.info(title);
    r.info(BLANK);
}

/// `List of Public Keys:` with the raw keys configured on connections.
pub fn pubkeys<'a>(r: &mut Replier, conns: impl Iterator<Item = &'a Connection>) {
    header(r, "List of Public Keys:");
    let mut any = false;
    for c in conns {
        for end in [&c.info.this, &c.info.that] {
            let Some((kind, shown)) = &end.pubkey else {
                continue;
            };
            let id = end.shown_id();
            r.info(format!(
                "{kind} Key {shown} (no private key), until --- -- --:--:-- ---- ok (expires never), from \"{}\"",
                c.info.name
            ));
            r.info(format!("       {} '{id}'", id_type(id)));
            any = true;
        }
    }
    if any {
        r.info(BLANK);
    }
}

/// `List of Pre-shared secrets (from FILE)`: index and IDs of every PSK.
pub fn psks(r: &mut Replier, secrets: &SecretsStore) {
    r.info(format!(
        "List of Pre-shared secrets (from {})",
        secrets.path().display()
    ));
    r.info(BLANK);
    let entries = secrets.psk_index_lines();
    let n = entries.len();
    for (i, ids) in entries.into_iter().enumerate() {
        r.info(format!("{:>5}: {ids}", n - i));
    }
    r.info(BLANK);
}
