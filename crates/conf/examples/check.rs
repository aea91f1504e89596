//! Loads an ipsec.conf (or, with `--secrets`, an ipsec.secrets) and prints
//! what was understood: `cargo run -p conf --example check -- FILE [--rootdir DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use conf::{Config, LoadOptions, Secrets};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut secrets = false;
    let mut opts = LoadOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secrets" => secrets = true,
            "--rootdir" => opts.rootdir = args.next().map(PathBuf::from),
            _ => file = Some(PathBuf::from(a)),
        }
    }
    let Some(file) = file else {
        eprintln!("usage: check [--secrets] [--rootdir DIR] FILE");
        return ExitCode::from(2);
    };
    if secrets {
        return match Secrets::load(&file, &opts) {
            Ok(s) => {
                for w in s.warnings() {
                    println!("warning: {w}");
                }
                println!("{} records", s.records().len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(3)
            }
        };
    }
    match Config::load(&file, &opts) {
        Ok(c) => {
            for w in &c.warnings {
                println!("warning: {w}");
            }
            for conn in &c.conns {
                println!(
                    "conn {} ({}:{}) {} {:?}",
                    conn.name,
                    conn.file.display(),
                    conn.line,
                    conn.ike_version,
                    conn.auto
                );
            }
            for f in &c.failed {
                println!("FAILED {}: {}", f.name, f.error);
            }
            if c.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}
