//! Test PKI generated with openssl at test time (no committed keys).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pki::{Certificate, Crl, PrivateKey, UnixTime};

pub struct TestPki {
    pub dir: PathBuf,
}

impl TestPki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    pub fn cert(&self, name: &str) -> Certificate {
        let data = std::fs::read(self.path(&format!("{name}.crt"))).unwrap();
        Certificate::from_pem_or_der(&data).unwrap().remove(0)
    }
    pub fn key(&self, file: &str) -> PrivateKey {
        PrivateKey::from_pem_or_der(&std::fs::read(self.path(file)).unwrap()).unwrap()
    }
    pub fn crl(&self, file: &str) -> Crl {
        Crl::from_pem_or_der(&std::fs::read(self.path(file)).unwrap())
            .unwrap()
            .remove(0)
    }
}

/// Runs `cmd` in `dir`, panicking with its output on failure.
pub fn run(dir: &Path, cmd: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{cmd} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh directory under the target's test tmp dir, removed first if present.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The PKI of this test binary, generated once.
pub fn pki(binary: &str) -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = fresh_dir(&format!("pki-{binary}"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/mkpki.sh");
        run(&dir, &format!("bash {}", script.display()));
        TestPki { dir }
    })
}

pub fn now() -> UnixTime {
    UnixTime::now()
}
