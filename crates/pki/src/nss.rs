//! Native reading of an NSS database (`cert9.db` and `key4.db`, SQLite), so a
//! Libreswan user's `/var/lib/ipsec/nss` works unchanged.
//!
//! cert9.db's table `nssPublic` holds PKCS#11 objects, one column per
//! attribute (`a` + the attribute type in hex): certificates (CKA_CLASS 1,
//! CKA_LABEL = nickname, CKA_VALUE = DER) and NSS trust objects (class
//! 0xce534353, linked by issuer and serial). key4.db's `nssPrivate` holds
//! private keys whose secret attributes are encrypted with PKCS#5 PBES2
//! (PBKDF2-HMAC-SHA256, AES-256-CBC) under a key derived from
//! SHA-1(global salt || password); `metaData` row `password` holds the global
//! salt and an encrypted `password-check`.
//!
//! The per-attribute integrity MACs (`sig_key_*` rows) are not verified.

use std::path::{Path, PathBuf};

use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use crate::cert::Certificate;
use crate::crl::Crl;
use crate::der::{self, tag, Reader};
use crate::error::{PkiError, Result};
use crate::key::PrivateKey;
use crate::pubkey::Hash;
use crate::store::{CertStore, Trust};

const CKO_CERTIFICATE: u32 = 1;
const CKO_PRIVATE_KEY: u32 = 3;
const CKO_NSS_TRUST: u32 = 0xce53_4353;
const CKO_NSS_CRL: u32 = 0xce53_4352;
const CKK_RSA: u32 = 0;
const CKK_EC: u32 = 3;
const CKT_NSS_TRUSTED: u32 = 0xce53_4351;
const CKT_NSS_TRUSTED_DELEGATOR: u32 = 0xce53_4352;
const CKT_NSS_VALID_DELEGATOR: u32 = 0xce53_435b;
/// An attribute value as stored in SQLite.
type Blob = Option<Vec<u8>>;

/// NSS's marker for an attribute present with an empty value.
const EXPLICIT_NULL: &[u8] = &[0xa5, 0x00, 0x5a];

/// An NSS database directory (`nssdir=`, e.g. `/var/lib/ipsec/nss`).
#[derive(Debug, Clone)]
pub struct NssDb {
    dir: PathBuf,
}

/// A private key read from key4.db.
#[derive(Debug)]
pub struct NssPrivateKey {
    /// CKA_LABEL (often the certificate's nickname).
    pub label: String,
    /// CKA_ID: Libreswan's CKAID (SHA-1 of the modulus or public point).
    pub ckaid: Vec<u8>,
    /// The key.
    pub key: PrivateKey,
}

fn attr(v: Option<Vec<u8>>) -> Option<Vec<u8>> {
    v.filter(|b| b.as_slice() != EXPLICIT_NULL)
}

fn ulong(v: &Option<Vec<u8>>) -> Option<u32> {
    let b = v.as_ref()?;
    let a: [u8; 4] = b.as_slice().try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

fn text(v: Option<Vec<u8>>) -> String {
    attr(v)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Reads the password for the NSS database from a Libreswan `nsspassword`
/// file's contents: a line `NSS Certificate DB:password` (or the FIPS token
/// name), or a bare password on the first line.
pub fn password_from_nsspassword(contents: &str) -> Option<Zeroizing<String>> {
    for line in contents.lines() {
        for token in ["NSS Certificate DB:", "NSS FIPS 140-2 Certificate DB:"] {
            if let Some(p) = line.strip_prefix(token) {
                return Some(Zeroizing::new(p.to_string()));
            }
        }
    }
    contents
        .lines()
        .next()
        .filter(|l| !l.contains(':'))
        .map(|l| Zeroizing::new(l.to_string()))
}

impl NssDb {
    /// Opens the database in `dir` (a `sql:` prefix is accepted); checks that
    /// cert9.db exists.
    pub fn open(dir: &Path) -> Result<NssDb> {
        let s = dir.to_string_lossy();
        let dir = PathBuf::from(s.strip_prefix("sql:").unwrap_or(&s));
        let cert9 = dir.join("cert9.db");
        if !cert9.is_file() {
            return Err(PkiError::Nss {
                path: cert9,
                reason: "not found (only the SQLite format, cert9.db/key4.db, is supported)".into(),
            });
        }
        Ok(NssDb { dir })
    }

    fn connect(&self, file: &str) -> Result<Connection> {
        let path = self.dir.join(file);
        Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| PkiError::Nss {
            path,
            reason: e.to_string(),
        })
    }

    fn sql_err(&self, file: &str, e: rusqlite::Error) -> PkiError {
        PkiError::Nss {
            path: self.dir.join(file),
            reason: e.to_string(),
        }
    }

    /// Certificates of cert9.db with their nicknames and trust.
    pub fn certificates(&self) -> Result<Vec<(String, Certificate, Trust)>> {
        let conn = self.connect("cert9.db")?;
        let mut stmt = conn
            .prepare("SELECT a0, a3, a11, a81, a82, ace536358, ace536359 FROM nssPublic")
            .map_err(|e| self.sql_err("cert9.db", e))?;
        type Row = [Option<Vec<u8>>; 7];
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok([
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ])
            })
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| self.sql_err("cert9.db", e))?;
        // Trust objects, keyed by (issuer DER, serial DER).
        let mut trusts: Vec<(Vec<u8>, Vec<u8>, Trust)> = Vec::new();
        for [class, _, _, issuer, serial, server, client] in &rows {
            if ulong(class) != Some(CKO_NSS_TRUST) {
                continue;
            }
            let (Some(issuer), Some(serial)) = (issuer, serial) else {
                continue;
            };
            let (s, c) = (ulong(server), ulong(client));
            let any = |v: u32| s == Some(v) || c == Some(v);
            trusts.push((
                issuer.clone(),
                serial.clone(),
                Trust {
                    trusted_ca: any(CKT_NSS_TRUSTED_DELEGATOR),
                    trusted_peer: any(CKT_NSS_TRUSTED),
                    valid_ca: any(CKT_NSS_VALID_DELEGATOR),
                },
            ));
        }
        let mut out = Vec::new();
        for [class, label, value, issuer, serial, _, _] in rows {
            if ulong(&class) != Some(CKO_CERTIFICATE) {
                continue;
            }
            let Some(value) = attr(value) else { continue };
            let cert = Certificate::from_der(&value)?;
            let trust = trusts
                .iter()
                .find(|(i, s, _)| Some(i) == issuer.as_ref() && Some(s) == serial.as_ref())
                .map(|(_, _, t)| *t)
                .unwrap_or_default();
            let mut nickname = text(label);
            if nickname.is_empty() {
                nickname = cert.subject().to_string();
            }
            out.push((nickname, cert, trust));
        }
        Ok(out)
    }

    /// CRLs stored in cert9.db (imported with `crlutil -I`).
    pub fn crls(&self) -> Result<Vec<Crl>> {
        let conn = self.connect("cert9.db")?;
        let mut stmt = conn
            .prepare("SELECT a0, a11 FROM nssPublic")
            .map_err(|e| self.sql_err("cert9.db", e))?;
        let rows: Vec<(Blob, Blob)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| self.sql_err("cert9.db", e))?;
        rows.into_iter()
            .filter(|(class, _)| ulong(class) == Some(CKO_NSS_CRL))
            .filter_map(|(_, value)| attr(value))
            .map(|der| Crl::from_der(&der))
            .collect()
    }

    /// Verifies `password` against key4.db's password check.
    pub fn check_password(&self, password: &str) -> Result<()> {
        self.pass_key(password).map(|_| ())
    }

    fn pass_key(&self, password: &str) -> Result<Zeroizing<Vec<u8>>> {
        let conn = self.connect("key4.db")?;
        let (salt, check): (Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT item1, item2 FROM metaData WHERE id = 'password'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.sql_err("key4.db", e))?;
        let mut input = Zeroizing::new(salt);
        input.extend_from_slice(password.as_bytes());
        let key = Zeroizing::new(Hash::Sha1.digest(&input));
        let plain = decrypt_pbe(&key, &check)
            .map_err(|_| PkiError::BadPassword(self.dir.join("key4.db").display().to_string()))?;
        if plain.as_slice() != b"password-check" {
            return Err(PkiError::BadPassword(
                self.dir.join("key4.db").display().to_string(),
            ));
        }
        Ok(key)
    }

    /// Decrypts the private keys of key4.db with `password` (empty for a
    /// database made with `certutil -N --empty-password`).
    pub fn private_keys(&self, password: &str) -> Result<Vec<NssPrivateKey>> {
        let key = self.pass_key(password)?;
        let conn = self.connect("key4.db")?;
        let mut stmt = conn
            .prepare(
                "SELECT a0, a3, a100, a102, a11, a120, a122, a123, a124, a125, a126, a127, a128, a180 \
                 FROM nssPrivate",
            )
            .map_err(|e| self.sql_err("key4.db", e))?;
        type Row = Vec<Option<Vec<u8>>>;
        let rows: Vec<Row> = stmt
            .query_map([], |r| (0..14).map(|i| r.get(i)).collect())
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| self.sql_err("key4.db", e))?;
        let mut out = Vec::new();
        for row in rows {
            let mut row = row.into_iter().map(attr);
            let mut next = || row.next().flatten();
            let (class, label, ktype, id) = (next(), next(), next(), next());
            if ulong(&class) != Some(CKO_PRIVATE_KEY) {
                continue;
            }
            let value = next();
            let rsa: Vec<Option<Vec<u8>>> = (0..8).map(|_| next()).collect();
            let ec_params = next();
            let label = text(label);
            let dec = |v: &Option<Vec<u8>>| -> Result<Zeroizing<Vec<u8>>> {
                let v = v.as_ref().ok_or_else(|| PkiError::Nss {
                    path: self.dir.join("key4.db"),
                    reason: format!("private key \"{label}\" lacks an attribute"),
                })?;
                decrypt_pbe(&key, v)
            };
            let key = match ulong(&ktype) {
                Some(CKK_RSA) => {
                    let [n, e, d, p, q, dp, dq, qi] = rsa.as_slice() else {
                        continue;
                    };
                    let plain = |v: &Option<Vec<u8>>| v.clone().unwrap_or_default();
                    let parts: Vec<Zeroizing<Vec<u8>>> = vec![
                        Zeroizing::new(der::uint(&[0])),
                        Zeroizing::new(der::uint(&plain(n))),
                        Zeroizing::new(der::uint(&plain(e))),
                        Zeroizing::new(der::uint(&dec(d)?)),
                        Zeroizing::new(der::uint(&dec(p)?)),
                        Zeroizing::new(der::uint(&dec(q)?)),
                        Zeroizing::new(der::uint(&dec(dp)?)),
                        Zeroizing::new(der::uint(&dec(dq)?)),
                        Zeroizing::new(der::uint(&dec(qi)?)),
                    ];
                    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
                    let pkcs1 = Zeroizing::new(der::seq(&refs));
                    PrivateKey::from_rsa_der(&pkcs1)?
                }
                Some(CKK_EC) => {
                    let params = ec_params.unwrap_or_default();
                    let scalar = dec(&value)?;
                    let sec1 = Zeroizing::new(der::seq(&[
                        &der::uint(&[1]),
                        &der::tlv(tag::OCTET_STRING, &scalar),
                        &der::tlv(0xa0, &params),
                    ]));
                    PrivateKey::from_ec_der(&sec1)?
                }
                other => {
                    return Err(PkiError::Unsupported {
                        what: "NSS private key type",
                        detail: format!("CKK {other:?} for \"{label}\""),
                    })
                }
            };
            out.push(NssPrivateKey {
                label,
                ckaid: id.unwrap_or_default(),
                key,
            });
        }
        Ok(out)
    }

    /// Loads certificates, trust and (when `password` is given) private keys
    /// into a [`CertStore`].
    pub fn load(&self, password: Option<&str>) -> Result<CertStore> {
        let mut store = CertStore::new();
        for (nick, cert, trust) in self.certificates()? {
            store.add_cert(&nick, cert, trust);
        }
        for crl in self.crls()? {
            if let Err(e) = store.add_crl(crl) {
                store.warn(format!("CRL in {}: {e}", self.dir.display()));
            }
        }
        if let Some(pw) = password {
            for k in self.private_keys(pw)? {
                store.add_private_key(k.key);
            }
        }
        Ok(store)
    }
}

/// PBKDF2 with HMAC-SHA-256 for one or more 32-byte blocks.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, password);
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(salt);
        ctx.update(&(i as u32 + 1).to_be_bytes());
        let mut u = Zeroizing::new(ctx.sign().as_ref().to_vec());
        let mut t = u.clone();
        for _ in 1..iterations {
            u = Zeroizing::new(hmac::sign(&key, &u).as_ref().to_vec());
            for (a, b) in t.iter_mut().zip(u.iter()) {
                *a ^= b;
            }
        }
        for (o, v) in chunk.iter_mut().zip(t.iter()) {
            *o = *v;
        }
    }
}

/// Decrypts an NSS PBES2 blob (`EncryptedPrivateKeyInfo`-like) with the
/// password key derived from the global salt.
fn decrypt_pbe(pass_key: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let what = "NSS encrypted attribute";
    let mut top = Reader::new(blob, what).nested(tag::SEQUENCE)?;
    let mut alg = top.nested(tag::SEQUENCE)?;
    let alg_oid = alg.oid()?;
    if alg_oid != "1.2.840.113549.1.5.13" {
        return Err(PkiError::Unsupported {
            what: "NSS key encryption",
            detail: format!("{alg_oid} (only PKCS#5 PBES2)"),
        });
    }
    let mut params = alg.nested(tag::SEQUENCE)?;
    let mut kdf = params.nested(tag::SEQUENCE)?;
    let kdf_oid = kdf.oid()?;
    if kdf_oid != "1.2.840.113549.1.5.12" {
        return Err(PkiError::Unsupported {
            what: "PBES2 key derivation",
            detail: kdf_oid,
        });
    }
    let mut kdf_params = kdf.nested(tag::SEQUENCE)?;
    let salt = kdf_params.expect(tag::OCTET_STRING)?.value;
    let iterations = u32::try_from(kdf_params.small_uint()?)
        .ok()
        .filter(|&i| (1..=10_000_000).contains(&i))
        .ok_or_else(|| PkiError::parse(what, "bad PBKDF2 iteration count"))?;
    // keyLength is optional; AES-256 needs 32 bytes.
    let key_len = 32;
    if let Some(kl) = kdf_params.optional(tag::INTEGER)? {
        if kl.value != [32] {
            return Err(PkiError::parse(what, "PBKDF2 key length is not 32"));
        }
    }
    if let Some(prf) = kdf_params.optional(tag::SEQUENCE)? {
        let prf_oid = Reader::new(prf.value, what).oid()?;
        if prf_oid != "1.2.840.113549.2.9" {
            return Err(PkiError::Unsupported {
                what: "PBKDF2 PRF",
                detail: format!("{prf_oid} (only HMAC-SHA-256)"),
            });
        }
    }
    let mut enc = params.nested(tag::SEQUENCE)?;
    let enc_oid = enc.oid()?;
    if enc_oid != "2.16.840.1.101.3.4.1.42" {
        return Err(PkiError::Unsupported {
            what: "PBES2 cipher",
            detail: format!("{enc_oid} (only AES-256-CBC)"),
        });
    }
    // NSS encodes the 16-byte IV as an OCTET STRING of 14 bytes whose DER
    // header (04 0e) is part of the IV.
    let iv_tlv = enc.expect(tag::OCTET_STRING)?;
    let iv: [u8; 16] = match iv_tlv.raw.len() {
        16 => iv_tlv.raw.try_into(),
        _ => iv_tlv.value.try_into(),
    }
    .map_err(|_| PkiError::parse(what, "bad AES-CBC IV length"))?;
    let ciphertext = top.expect(tag::OCTET_STRING)?.value;

    let mut aes_key = Zeroizing::new(vec![0u8; key_len]);
    pbkdf2_sha256(pass_key, salt, iterations, &mut aes_key);
    let unbound = UnboundCipherKey::new(&AES_256, &aes_key)
        .map_err(|_| PkiError::parse(what, "bad AES key"))?;
    let dkey = PaddedBlockDecryptingKey::cbc_pkcs7(unbound)
        .map_err(|_| PkiError::parse(what, "AES-CBC unavailable"))?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let plain = dkey
        .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| PkiError::parse(what, "decryption failed (wrong password?)"))?;
    Ok(Zeroizing::new(plain.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_rfc7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64).
        let mut out = [0u8; 64];
        pbkdf2_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(hex::encode(&out[..16]), "55ac046e56e3089fec1691c22544b605");
    }

    #[test]
    fn nsspassword_file() {
        assert_eq!(
            password_from_nsspassword("NSS Certificate DB:s3cret\n")
                .unwrap()
                .as_str(),
            "s3cret"
        );
        assert_eq!(
            password_from_nsspassword("plain\n").unwrap().as_str(),
            "plain"
        );
        assert!(password_from_nsspassword("other token:x\n").is_none());
    }
}
