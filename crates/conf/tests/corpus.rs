//! The yardstick: Libreswan's own test configurations
//! (/work/shared/corpus/libreswan-testing, see its README).
//!
//! - every config of a `good` test whose console is `clean` loads with no
//!   error and no failed connection;
//! - every secrets file loads;
//! - every `addconn-*` negative case is rejected with a message naming
//!   file and line (a load error, or a connection that fails to load).
//!
//! Upstream's absolute include paths (`/testing/...`, `/etc/ipsec.d/...`)
//! are resolved with `LoadOptions::rootdir` pointing at a directory of
//! symbolic links that lays the corpus out as upstream's test machines see it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use conf::{ConfError, Config, LoadOptions, Secrets};

/// Cases excluded from the yardstick, with the reason.
const EXCLUDED: &[(&str, &str, &str)] = &[
    // good+clean files Libreswan itself cannot load as they stand
    ("addconn-04-config-path", "west.conf", "a decoy: the test proves this file is NOT read, it contains a deliberate syntax error"),
    ("whack-pluto-03-seedbits", "ipsec.conf", "seedbits=XXX is a placeholder the test script rewrites before use; Libreswan rejects it too"),
    ("certoe-10-symmetric-cert-whack", "east-ikev2-oe.conf", "a fragment: the test copies it to /etc/ipsec.d/ikev2-oe.conf and loads it through east.conf, which defines conn mycert"),
    ("certoe-10-symmetric-cert-whack", "road-ikev2-oe.conf", "a fragment: the test copies it to /etc/ipsec.d/ikev2-oe.conf and loads it through road.conf, which defines conn mycert"),
    ("ikev2-nss-cert-pkcs11-uri-01", "east.conf", "conn eastcert comes from OUTPUT/eastcert.conf, generated while the test runs and absent from the corpus"),
    // addconn-* negatives whose errors do not come from the file in the corpus
    ("addconn-01-left-is-right", "west.conf", "the errors come from missing-prefix.conf and implied-prefix.conf, written by the test script (not in the corpus)"),
    ("addconn-07-defaultroute", "road.conf", "the file only has config setup; the failing connections are added with ipsec whack"),
    ("addconn-13-selectors", "west.conf", "the file only has config setup; the failing connections are added with ipsec whack"),
    ("addconn-22-authby-hash-algo", "west.conf", "the failing connections (ecdsa-sha1, IKEv1 rsa-sha2/ecdsa) are added with ipsec whack; every conn in the file is valid"),
    ("addconn-25-missing-cert", "west.conf", "the error is a certificate missing from the NSS database, a property of the host, not of the file"),
    ("addconn-37-nic-offload", "west.conf", "the file only has conn %default; the failing connections are added with ipsec whack"),
    ("addconn-44-narrowing", "west.conf", "the failing connection is added with ipsec whack (narrowing=--encrypt); the conns in the file are valid"),
    ("addconn-45-unknown-parameter", "west.conf", "the errors come from bad-conn-key.conf and bad-config-setup-key.conf, written by the test script"),
    ("addconn-46-iptfs", "west.conf", "the file only has conn %default; the failing connections are added with ipsec whack"),
];

/// Connections of the negative cases not compared with Libreswan's
/// outcome, with the reason.
const NOT_COMPARED: &[(&str, &str, &str)] = &[
    ("addconn-05-bogus-left-interface", "west", "left=%eth1 names an interface of upstream's test machine; whether it exists depends on the host running the test"),
    ("addconn-14-addresspool", "ipv4-range-overlap-slash-24", "overlap with another connection's address pool is checked by the daemon when both are added, not by the configuration"),
    ("addconn-14-addresspool", "ipv6-range-overlap-slash-124", "overlap with another connection's address pool is checked by the daemon when both are added, not by the configuration"),
];

fn corpus_dir() -> PathBuf {
    // Beside the checkout (../shared), else the workplace's copy; the
    // environment may name another place.
    let candidates = [
        std::env::var_os("FERROSWAN_CORPUS").map(PathBuf::from),
        Some(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/libreswan-testing"),
        ),
        Some(PathBuf::from("/work/shared/corpus/libreswan-testing")),
    ];
    let dir = candidates
        .iter()
        .flatten()
        .find(|d| d.join("MANIFEST.tsv").is_file())
        .cloned()
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/libreswan-testing")
        });
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the Libreswan test corpus is missing: expected {}/MANIFEST.tsv",
        dir.display()
    );
    dir
}

/// A root directory in which /testing/pluto, /testing/baseconfigs and
/// /etc/ipsec.d point into the corpus.
struct Root(PathBuf);

impl Root {
    fn new(corpus: &Path) -> Root {
        let root = std::env::temp_dir().join(format!("conf-corpus-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("testing")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let corpus = corpus.canonicalize().unwrap();
        std::os::unix::fs::symlink(corpus.join("tests"), root.join("testing/pluto")).unwrap();
        std::os::unix::fs::symlink(corpus.join("baseconfigs"), root.join("testing/baseconfigs"))
            .unwrap();
        std::os::unix::fs::symlink(
            corpus.join("baseconfigs/all/etc/ipsec.d"),
            root.join("etc/ipsec.d"),
        )
        .unwrap();
        Root(root)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Row {
    test: String,
    file: String,
    testlist: String,
    console: String,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(Row {
                test: f.next()?.to_string(),
                file: f.next()?.to_string(),
                testlist: f.next()?.to_string(),
                console: f.next()?.to_string(),
            })
        })
        .collect()
}

/// The addresses of upstream's test machine a file is written for
/// (`west.conf` runs on west), as its `ipsec add` saw them.
fn upstream_host_addrs(file: &str) -> Vec<IpAddr> {
    let addrs: &[&str] = match file.split(['.', '-']).next().unwrap_or("") {
        "west" | "ipsec" => &[
            "192.1.2.45",
            "192.0.1.254",
            "2001:db8:1:2::45",
            "2001:db8:0:1::254",
        ],
        "east" => &[
            "192.1.2.23",
            "192.0.2.254",
            "2001:db8:1:2::23",
            "2001:db8:0:2::254",
        ],
        "road" => &["192.1.3.209", "2001:db8:1:3::209"],
        "north" => &["192.1.3.33", "192.0.3.254", "2001:db8:1:3::33"],
        _ => &[],
    };
    addrs.iter().filter_map(|a| a.parse().ok()).collect()
}

/// `"NAME": added ...` (true) and `"NAME": failed to add connection` (false).
fn outcome_names(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('"') else {
            continue;
        };
        let Some((name, tail)) = rest.split_once("\": ") else {
            continue;
        };
        if tail.starts_with("added ") {
            out.push((name.to_string(), true));
        } else if tail.starts_with("failed to add connection") {
            out.push((name.to_string(), false));
        }
    }
    out
}

fn has_file_line(e: &ConfError) -> bool {
    e.diagnostic()
        .is_some_and(|d| d.line > 0 && !d.file.as_os_str().is_empty())
}

#[test]
fn libreswan_corpus() {
    let dir = corpus_dir();
    let root = Root::new(&dir);
    let opts = LoadOptions {
        rootdir: Some(root.0.clone()),
        local_addrs: Vec::new(),
    };
    let excluded: BTreeMap<(&str, &str), &str> = EXCLUDED
        .iter()
        .map(|(t, f, why)| ((*t, *f), *why))
        .collect();

    let (mut good_ok, mut good_bad, mut sec_ok, mut sec_bad) = (0, Vec::new(), 0, Vec::new());
    let (mut neg_total, mut neg_rejected, mut neg_missed) = (0, 0, Vec::new());
    let mut neg_mismatch: Vec<String> = Vec::new();
    let (mut good_compared, mut good_refused) = (0, Vec::new());
    let mut other_loaded = 0;
    for row in manifest(&dir) {
        let path = dir.join("tests").join(&row.test).join(&row.file);
        if excluded.contains_key(&(row.test.as_str(), row.file.as_str())) {
            continue;
        }
        if row.file.ends_with(".secrets") {
            match Secrets::load(&path, &opts) {
                Ok(_) => sec_ok += 1,
                Err(e) => sec_bad.push(format!("{}/{}: {e}", row.test, row.file)),
            }
            continue;
        }
        let res = Config::load(&path, &opts);
        if row.testlist == "good" && row.console == "clean" {
            if let Ok(c) = &res {
                // what Libreswan added from this file must pass the add-time checks
                let outcome = std::fs::read_to_string(
                    dir.join("tests").join(&row.test).join("add-outcome.txt"),
                )
                .unwrap_or_default();
                let local = upstream_host_addrs(&row.file);
                for (name, added) in outcome_names(&outcome) {
                    let Some(spec) = c.conn(&name).filter(|_| added) else {
                        continue;
                    };
                    good_compared += 1;
                    match spec.orient(&local) {
                        Ok(_) | Err(ConfError::Unoriented(_)) => {}
                        Err(e) => good_refused.push(format!("{}/{}: {e}", row.test, row.file)),
                    }
                }
            }
            match &res {
                Ok(c) if c.failed.is_empty() => good_ok += 1,
                Ok(c) => good_bad.push(format!(
                    "{}/{}: {}",
                    row.test,
                    row.file,
                    c.failed
                        .iter()
                        .map(|f| f.error.to_string())
                        .collect::<Vec<_>>()
                        .join(" | ")
                )),
                Err(e) => good_bad.push(format!("{}/{}: {e}", row.test, row.file)),
            }
        } else if row.test.starts_with("addconn-") && row.console == "console-shows-error" {
            neg_total += 1;
            let rejected = match &res {
                Err(e) => has_file_line(e),
                Ok(c) => {
                    // conns that fail to resolve, or fail Libreswan's add-time checks
                    let add_errors: Vec<ConfError> =
                        c.conns.iter().filter_map(|s| s.check_add().err()).collect();
                    (!c.failed.is_empty() || !add_errors.is_empty())
                        && c.failed.iter().all(|f| has_file_line(&f.error))
                        && add_errors.iter().all(has_file_line)
                }
            };
            if rejected {
                neg_rejected += 1;
            } else {
                neg_missed.push(format!("{}/{}", row.test, row.file));
            }
            // connection by connection: what Libreswan added we load, what it
            // refused we refuse
            if let Ok(c) = &res {
                let outcome = std::fs::read_to_string(
                    dir.join("tests").join(&row.test).join("add-outcome.txt"),
                )
                .unwrap_or_default();
                for (name, added) in outcome_names(&outcome) {
                    if NOT_COMPARED
                        .iter()
                        .any(|(t, n, _)| *t == row.test && *n == name)
                    {
                        continue;
                    }
                    let local = upstream_host_addrs(&row.file);
                    let ours_ok = match c.conn(&name) {
                        Some(spec) => match spec.orient(&local) {
                            Ok(_) | Err(ConfError::Unoriented(_)) => true,
                            Err(_) => false,
                        },
                        None if c.conn_error(&name).is_some() => false,
                        None => continue,
                    };
                    if ours_ok != added {
                        neg_mismatch.push(format!(
                            "{}/{}: conn '{name}': Libreswan {}, ferroswan {}",
                            row.test,
                            row.file,
                            if added { "added it" } else { "refused it" },
                            if ours_ok { "accepts it" } else { "refuses it" }
                        ));
                    }
                }
            }
        } else if res.is_ok() {
            other_loaded += 1;
        }
    }
    println!(
        "corpus: {good_ok} good+clean configs loaded, {} failed; {sec_ok} secrets files loaded, {} failed; {neg_rejected}/{neg_total} addconn negatives rejected; {other_loaded} other configs loaded; {} cases excluded",
        good_bad.len(),
        sec_bad.len(),
        EXCLUDED.len()
    );
    for g in &good_bad {
        println!("GOOD FAILED: {g}");
    }
    for s in &sec_bad {
        println!("SECRETS FAILED: {s}");
    }
    for n in &neg_missed {
        println!("NEGATIVE ACCEPTED: {n}");
    }
    println!(
        "corpus: {good_compared} connections Libreswan added from good+clean configs checked with ConnSpec::orient, {} refused",
        good_refused.len()
    );
    for g in &good_refused {
        println!("GOOD CONN REFUSED: {g}");
    }
    for m in &neg_mismatch {
        println!("NEGATIVE MISMATCH: {m}");
    }
    assert!(
        neg_mismatch.is_empty(),
        "{} connections of addconn negatives differ from Libreswan",
        neg_mismatch.len()
    );
    assert!(
        good_bad.is_empty(),
        "{} good+clean configs failed to load",
        good_bad.len()
    );
    assert!(
        sec_bad.is_empty(),
        "{} secrets files failed to load",
        sec_bad.len()
    );
    assert!(
        neg_missed.is_empty(),
        "{} addconn negatives were accepted",
        neg_missed.len()
    );
    assert!(good_ok > 1000 && sec_ok > 300, "the corpus looks truncated");
}
