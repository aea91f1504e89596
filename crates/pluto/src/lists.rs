//! The list operations (`--listpubkeys`, `--listpsks`), in Libreswan's
//! layout: raw public keys come from the connections, keys of certificates
//! from the certificate store (rendered by `certs`), and the pre-shared
//! secrets from ipsec.secrets (never the secret itself). Certificates, CA
//! certificates and CRLs are listed by [`crate::certs::Certs`].

use crate::connection::{id_type, Connection};
use crate::reply::Replier;
use crate::secrets::SecretsStore;

const BLANK: &str = " ";

/// The blank line a list reply starts with.
pub fn start(r: &mut Replier) {
    r.info(BLANK);
}

/// A list header (the list's entries, if any, follow, then a blank line).
pub fn header(r: &mut Replier, title: &str) {
    r.info(title);
    r.info(BLANK);
}

/// `List of Public Keys:` with the raw keys configured on connections, then
/// `from_certs` (the lines of the certificates' keys).
pub fn pubkeys<'a>(
    r: &mut Replier,
    conns: impl Iterator<Item = &'a Connection>,
    from_certs: &[String],
) {
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
    for l in from_certs {
        r.info(l);
        any = true;
    }
    if any {
        r.info(BLANK);
    }
}

/// `List of Pre-shared secrets (from FILE)`: index and IDs of every PSK,
/// then `private_keys` (the lines of the certificates' private keys).
pub fn psks(r: &mut Replier, secrets: &SecretsStore, private_keys: &[String]) {
    header(
        r,
        &format!(
            "List of Pre-shared secrets (from {})",
            secrets.path().display()
        ),
    );
    let entries = secrets.psk_index_lines();
    let n = entries.len();
    for (i, ids) in entries.into_iter().enumerate() {
        r.info(format!("{:>5}: {ids}", n - i));
    }
    for l in private_keys {
        r.info(l);
    }
    if n > 0 || !private_keys.is_empty() {
        r.info(BLANK);
    }
}
