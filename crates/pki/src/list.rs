//! Libreswan's list outputs (`--listpubkeys`, `--listcerts`, `--listcacerts`,
//! `--listcrls`, `--checkpubkeys`) rendered from a [`CertStore`].
//!
//! Each function returns the lines without whack's `000 ` prefix; a blank
//! line is a single space, as pluto prints it. Like pluto's separators,
//! blank lines never come two in a row: a section ends with the blank line
//! it has pending, and [`join_sections`] merges the blank lines where
//! sections meet (`--listall`, `--rereadall`).
//!
//! The formats are Libreswan 4's: certificate and CRL times in GMT as
//! `%a %b %d %H:%M:%S %Y` whatever `--utc` says, public key times as
//! `Mon DD HH:MM:SS [UTC ]YYYY` (local time unless `--utc`), ID types by
//! their `ID_` names.

use crate::cert::Certificate;
use crate::crl::Crl;
use crate::dn::DistinguishedName;
use crate::id::Id;
use crate::pubkey::{KeyType, PublicKey};
use crate::store::{CertStore, StoredCert};
use crate::time::{TimeZone, UnixTime};

/// Libreswan's PUBKEY_WARNING_INTERVAL: keys expiring within two weeks are warned about.
pub const PUBKEY_WARNING_INTERVAL_SECS: i64 = 14 * 24 * 3600;

const BLANK: &str = " ";

/// Removes every blank line that follows another, as pluto's separators do.
fn collapse_blanks(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for l in lines {
        if l == BLANK && out.last().is_some_and(|p| p == BLANK) {
            continue;
        }
        out.push(l);
    }
    out
}

/// Concatenates list sections (each as returned by this module's
/// functions, or other whack lines such as the pre-shared secrets list)
/// into one output, with a single blank line where two meet: what
/// `--listall` prints.
pub fn join_sections<I>(sections: I) -> Vec<String>
where
    I: IntoIterator<Item = Vec<String>>,
{
    collapse_blanks(sections.into_iter().flatten().collect())
}

/// A public key as pluto lists it: raw keys from `leftrsasigkey=` and keys
/// taken from certificates.
#[derive(Debug, Clone)]
pub struct PubkeyEntry {
    /// When the key was installed.
    pub installed: UnixTime,
    /// The key.
    pub key: PublicKey,
    /// The ID it belongs to.
    pub id: Id,
    /// The certificate issuer, for keys from certificates.
    pub issuer: Option<DistinguishedName>,
    /// Expiry (the certificate's notAfter), `None` for keys that never expire.
    pub until: Option<UnixTime>,
    /// Whether the matching private key is available.
    pub has_private_key: bool,
}

impl PubkeyEntry {
    /// The entry for a certificate's key, with the subject as its ID.
    pub fn from_cert(cert: &Certificate, installed: UnixTime, has_private_key: bool) -> Self {
        PubkeyEntry {
            installed,
            key: cert.public_key().clone(),
            id: Id::from_cert(cert),
            issuer: Some(cert.issuer().clone()),
            until: Some(cert.not_after()),
            has_private_key,
        }
    }
}

/// The public keys of the store's end certificates, as pluto lists them
/// once connections use them (`installed` is when they were loaded): with
/// [`list_pubkeys`] and [`check_pubkeys`], what `--listpubkeys` and
/// `--checkpubkeys` show of certificates.
pub fn cert_pubkeys(store: &CertStore, installed: UnixTime) -> Vec<PubkeyEntry> {
    store
        .end_certs()
        .map(|s| PubkeyEntry::from_cert(&s.cert, installed, store.has_private_key(&s.cert)))
        .collect()
}

/// Libreswan's `check_expiry`: `ok (expires never)`, `fatal (expired)`,
/// `warning (expires in N days|hours|minutes|seconds)`, or `None` when the
/// expiry is further away than `warning_interval` seconds.
pub fn check_expiry(
    until: Option<UnixTime>,
    now: UnixTime,
    warning_interval: i64,
) -> Option<String> {
    let Some(until) = until else {
        return Some("ok (expires never)".into());
    };
    let mut left = until.secs() - now.secs();
    if left < 0 {
        return Some("fatal (expired)".into());
    }
    if left > warning_interval {
        return None;
    }
    let unit = if left > 2 * 86_400 {
        left /= 86_400;
        "day"
    } else if left > 2 * 3600 {
        left /= 3600;
        "hour"
    } else if left > 2 * 60 {
        left /= 60;
        "minute"
    } else {
        "second"
    };
    Some(format!(
        "warning (expires in {left} {unit}{})",
        if left == 1 { "" } else { "s" }
    ))
}

/// The size `--listpubkeys` prints: Libreswan 4 prints 8 times the size of
/// the key's public value, which for ECDSA is the uncompressed point
/// (`04 || X || Y`): 520 for P-256, 776 for P-384, 1064 for P-521.
/// (`--listcerts` prints NSS's strength instead: 256 for P-256.)
fn key_bits(kt: KeyType) -> usize {
    match kt {
        KeyType::Rsa { bits } => bits.div_ceil(8) * 8,
        KeyType::Ecdsa(c) => 8 * (1 + 2 * c.bits().div_ceil(8)),
        KeyType::Ed25519 => 256,
    }
}

fn pubkey_lines(out: &mut Vec<String>, e: &PubkeyEntry, zone: TimeZone, expiry: Option<&str>) {
    out.push(format!(
        "{}, {:4} {} Key {} ({} private key), until {} {}",
        e.installed.realtime(zone),
        key_bits(e.key.key_type()),
        e.key.key_type().name(),
        e.key.keyid(),
        if e.has_private_key { "has" } else { "no" },
        UnixTime::realtime_opt(e.until, zone),
        expiry.unwrap_or("ok"),
    ));
    out.push(format!("       {} '{}'", e.id.type_name(), e.id));
    if let Some(issuer) = &e.issuer {
        out.push(format!("       Issuer '{issuer}'"));
    }
}

/// `--listpubkeys`.
pub fn list_pubkeys(keys: &[PubkeyEntry], now: UnixTime, zone: TimeZone) -> Vec<String> {
    let mut out = vec![
        BLANK.to_string(),
        "List of Public Keys:".into(),
        BLANK.into(),
    ];
    for e in keys {
        let exp = check_expiry(e.until, now, PUBKEY_WARNING_INTERVAL_SECS);
        pubkey_lines(&mut out, e, zone, exp.as_deref());
    }
    out
}

/// `--checkpubkeys`: only the keys that expire within `warning_interval`
/// seconds or have expired (no header, as pluto prints it); keys that never
/// expire are not listed.
pub fn check_pubkeys(
    keys: &[PubkeyEntry],
    now: UnixTime,
    zone: TimeZone,
    warning_interval: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    for e in keys {
        if let Some(msg) = check_expiry(e.until, now, warning_interval) {
            if !msg.starts_with("ok") {
                pubkey_lines(&mut out, e, zone, Some(&msg));
            }
        }
    }
    out
}

/// Certificates of a store that expire within `warning_interval` seconds or
/// have expired, with Libreswan's expiry message (`warning (expires in 3
/// days)`, `fatal (expired)`), by nickname, in store order: for logging
/// at `--checkpubkeys` and at start-up.
pub fn expiring_certs(
    store: &CertStore,
    now: UnixTime,
    warning_interval: i64,
) -> Vec<(String, String)> {
    store
        .certs()
        .iter()
        .filter_map(|s| {
            check_expiry(Some(s.cert.not_after()), now, warning_interval)
                .map(|m| (s.nickname.clone(), m))
        })
        .collect()
}

fn cert_detail(out: &mut Vec<String>, s: &StoredCert, has_private_key: bool) {
    let c = &s.cert;
    out.push(format!(
        "{}{} certificate \"{}\" - SN: {}",
        if c.is_self_signed() { "Root " } else { "" },
        if c.is_ca() { "CA" } else { "End" },
        s.nickname,
        c.serial_hex()
    ));
    out.push(format!("  subject: {}", c.subject()));
    out.push(format!("  issuer: {}", c.issuer()));
    // Libreswan prints certificate times in GMT whatever --utc says.
    out.push(format!(
        "  not before: {}",
        c.not_before().asctime(TimeZone::Utc)
    ));
    out.push(format!(
        "  not after: {}",
        c.not_after().asctime(TimeZone::Utc)
    ));
    let kt = c.public_key().key_type();
    out.push(format!(
        "  {} bit{}{}",
        kt.bits(),
        if matches!(kt, KeyType::Rsa { .. }) {
            " RSA"
        } else {
            "(other)"
        },
        if has_private_key {
            ": has private key"
        } else {
            ""
        }
    ));
    out.push(BLANK.into());
}

/// `--listcerts`: the end certificates.
pub fn list_certs(store: &CertStore) -> Vec<String> {
    let mut out = vec![
        BLANK.to_string(),
        "List of X.509 End Certificates:".into(),
        BLANK.into(),
    ];
    for s in store.end_certs() {
        cert_detail(&mut out, s, store.has_private_key(&s.cert));
    }
    out
}

/// `--listcacerts`: the trusted CA certificates.
pub fn list_cacerts(store: &CertStore) -> Vec<String> {
    let mut out = vec![
        BLANK.to_string(),
        "List of X.509 CA Certificates:".into(),
        BLANK.into(),
    ];
    for s in store.ca_certs().filter(|s| s.trust.trusted_ca) {
        cert_detail(&mut out, s, store.has_private_key(&s.cert));
    }
    out
}

fn crl_detail(out: &mut Vec<String>, crl: &Crl) {
    out.push(BLANK.into());
    out.push(format!("issuer: {}", crl.issuer()));
    out.push(format!("revoked certs: {}", crl.revoked().len()));
    out.push(format!(
        "updates: this {}",
        crl.this_update().asctime(TimeZone::Utc)
    ));
    if let Some(n) = crl.next_update() {
        out.push(format!("         next {}", n.asctime(TimeZone::Utc)));
    }
}

/// `--listcrls`.
pub fn list_crls(store: &CertStore) -> Vec<String> {
    let mut out = vec![BLANK.to_string(), "List of CRLs:".into(), BLANK.into()];
    for crl in store.crls().iter() {
        crl_detail(&mut out, crl);
    }
    collapse_blanks(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_messages() {
        let now = UnixTime(1_000_000);
        let w = PUBKEY_WARNING_INTERVAL_SECS;
        assert_eq!(check_expiry(None, now, w).unwrap(), "ok (expires never)");
        assert_eq!(
            check_expiry(Some(UnixTime(999_999)), now, w).unwrap(),
            "fatal (expired)"
        );
        assert_eq!(check_expiry(Some(now.add_secs(w + 1)), now, w), None);
        assert_eq!(
            check_expiry(Some(now.add_secs(5 * 86_400 + 7)), now, w).unwrap(),
            "warning (expires in 5 days)"
        );
        assert_eq!(
            check_expiry(Some(now.add_secs(3 * 3600)), now, w).unwrap(),
            "warning (expires in 3 hours)"
        );
        assert_eq!(
            check_expiry(Some(now.add_secs(1)), now, w).unwrap(),
            "warning (expires in 1 second)"
        );
    }

    #[test]
    fn listed_key_sizes() {
        use crate::pubkey::Curve;
        assert_eq!(key_bits(KeyType::Rsa { bits: 2048 }), 2048);
        assert_eq!(key_bits(KeyType::Rsa { bits: 3071 }), 3072);
        assert_eq!(key_bits(KeyType::Ecdsa(Curve::P256)), 520);
        assert_eq!(key_bits(KeyType::Ecdsa(Curve::P384)), 776);
        assert_eq!(key_bits(KeyType::Ecdsa(Curve::P521)), 1064);
    }

    #[test]
    fn blank_lines_never_repeat() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            join_sections([v(&[" ", "a", " "]), v(&[" ", "b", " ", " "]), v(&["c"])]),
            v(&[" ", "a", " ", "b", " ", "c"])
        );
        assert_eq!(join_sections([v(&[]), v(&[" "])]), v(&[" "]));
    }
}
