//! `ipsec addconn`: load connections from ipsec.conf into the daemon, or
//! just check the configuration (`--checkconfig`).

use crate::client::{self, EXIT_OK, EXIT_USAGE};
use crate::{usage, validate};
use control::{AddConns, Request};
use std::path::PathBuf;

/// A parsed `ipsec addconn` command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AddconnArgs {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--ctlsocket FILE`.
    pub ctlsocket: Option<PathBuf>,
    /// `--checkconfig`.
    pub checkconfig: bool,
    /// `--rootdir DIR`.
    pub rootdir: Option<PathBuf>,
    /// `--autoall`.
    pub autoall: bool,
    /// `--verbose`.
    pub verbose: bool,
    /// `--help`.
    pub help: bool,
    /// Connection names.
    pub names: Vec<String>,
}

/// Parses the arguments after `addconn`.
pub fn parse(args: Vec<String>) -> Result<AddconnArgs, String> {
    let mut a = AddconnArgs::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("option \"{flag}\" needs an argument"))
        };
        match flag.as_str() {
            "--help" => a.help = true,
            "--config" => a.config = Some(value()?.into()),
            "--ctlsocket" => a.ctlsocket = Some(value()?.into()),
            "--rootdir" => a.rootdir = Some(value()?.into()),
            "--checkconfig" => a.checkconfig = true,
            "--autoall" => a.autoall = true,
            "--verbose" => a.verbose = true,
            f if f.starts_with('-') => return Err(format!("unknown option \"{arg}\"")),
            _ => a.names.push(arg),
        }
    }
    Ok(a)
}

/// `ipsec addconn ARGS...`.
pub fn main(args: Vec<String>) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ipsec addconn: {e}");
            eprint!("{}", usage::ADDCONN);
            return EXIT_USAGE;
        }
    };
    if a.help {
        print!("{}", usage::ADDCONN);
        return EXIT_OK;
    }
    let config_path = client::config_path(a.config.as_deref());
    let config = match validate::load(&config_path, a.rootdir.as_deref(), a.verbose) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if a.checkconfig {
        let mut rc = validate::check_all(&config);
        if rc.is_ok() {
            rc = validate::check_names(&config, &a.names).map_err(|_| client::EXIT_CONFIG);
        }
        return match rc {
            Ok(()) => {
                if a.verbose {
                    eprintln!(
                        "{}: {} connections, configuration OK",
                        config_path.display(),
                        config.conns.len()
                    );
                }
                EXIT_OK
            }
            Err(code) => code,
        };
    }
    if let Err(code) = validate::check_names(&config, &a.names) {
        return code;
    }
    if a.names.is_empty() && !a.autoall {
        // Nothing to add: the configuration was checked, that is all.
        return EXIT_OK;
    }
    let socket = client::ctlsocket(a.ctlsocket.as_deref());
    let request = Request::Add(AddConns {
        config: validate::absolute(&config_path),
        rootdir: a.rootdir.as_deref().map(validate::absolute),
        names: a.names,
        autoall: a.autoall,
    });
    client::send(&socket, &request, a.verbose)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses() {
        let a = parse(v(&[
            "--config",
            "/c",
            "--checkconfig",
            "--rootdir=/r",
            "a",
            "b",
        ]))
        .unwrap();
        assert_eq!(a.config, Some(PathBuf::from("/c")));
        assert_eq!(a.rootdir, Some(PathBuf::from("/r")));
        assert!(a.checkconfig);
        assert_eq!(a.names, v(&["a", "b"]));
        assert!(parse(v(&["--bogus"])).is_err());
        assert!(parse(v(&["--config"])).is_err());
    }
}
