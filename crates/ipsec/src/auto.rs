//! `ipsec auto`: argument parsing and the plan of addconn/whack steps each
//! operation stands for (what `--showonly` prints).

use control::{ListKind, Request, StatusKind};
use std::path::PathBuf;

/// An `ipsec auto` operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `--add`.
    Add,
    /// `--delete`.
    Delete,
    /// `--replace`.
    Replace,
    /// `--start`.
    Start,
    /// `--up`.
    Up,
    /// `--down`.
    Down,
    /// `--route`.
    Route,
    /// `--unroute`.
    Unroute,
    /// `--ondemand`.
    Ondemand,
    /// `--ready`.
    Ready,
    /// `--status`.
    Status,
    /// `--rereadsecrets`.
    RereadSecrets,
    /// `--rereadcerts`.
    RereadCerts,
    /// `--fetchcrls`.
    FetchCrls,
    /// `--rereadall`.
    RereadAll,
    /// `--listpubkeys`.
    ListPubkeys,
    /// `--listcerts`.
    ListCerts,
    /// `--checkpubkeys`.
    CheckPubkeys,
    /// `--listcacerts`.
    ListCacerts,
    /// `--listcrls`.
    ListCrls,
    /// `--listall`.
    ListAll,
    /// `--purgeocsp`.
    PurgeOcsp,
}

impl Op {
    /// The operation a word names (`add`, `up`, ...).
    pub fn from_word(word: &str) -> Option<Op> {
        Some(match word {
            "add" => Op::Add,
            "delete" => Op::Delete,
            "replace" => Op::Replace,
            "start" => Op::Start,
            "up" => Op::Up,
            "down" => Op::Down,
            "route" => Op::Route,
            "unroute" => Op::Unroute,
            "ondemand" => Op::Ondemand,
            "ready" => Op::Ready,
            "status" => Op::Status,
            "rereadsecrets" => Op::RereadSecrets,
            "rereadcerts" => Op::RereadCerts,
            "fetchcrls" => Op::FetchCrls,
            "rereadall" => Op::RereadAll,
            "listpubkeys" => Op::ListPubkeys,
            "listcerts" => Op::ListCerts,
            "checkpubkeys" => Op::CheckPubkeys,
            "listcacerts" => Op::ListCacerts,
            "listcrls" => Op::ListCrls,
            "listall" => Op::ListAll,
            "purgeocsp" => Op::PurgeOcsp,
            _ => return None,
        })
    }

    /// Whether the operation takes a connection name.
    pub fn takes_name(self) -> bool {
        matches!(
            self,
            Op::Add
                | Op::Delete
                | Op::Replace
                | Op::Start
                | Op::Up
                | Op::Down
                | Op::Route
                | Op::Unroute
                | Op::Ondemand
        )
    }
}

/// A parsed `ipsec auto` command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoArgs {
    /// The operation.
    pub op: Option<Op>,
    /// The connection name.
    pub name: Option<String>,
    /// `--showonly`, `--dry-run`, `-n`.
    pub showonly: bool,
    /// `--asynchronous`.
    pub asynchronous: bool,
    /// `--verbose`.
    pub verbose: bool,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--ctlsocket FILE`.
    pub ctlsocket: Option<PathBuf>,
    /// `--utc`.
    pub utc: bool,
    /// `--remote-host IP`.
    pub remote_host: Option<String>,
    /// `--json` (ferroswan, with `--status`).
    pub json: bool,
    /// The old `ipsec auto NAME OP` syntax was used.
    pub obsolete_syntax: bool,
}

/// Why an `ipsec auto` command line was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AutoError {
    /// `--help`: print the usage on stdout, exit 0.
    #[error("help")]
    Help,
    /// Wrong number of operations or names: print the usage on stderr.
    #[error("usage")]
    Usage,
    /// An unknown option.
    #[error("ipsec auto: unknown option \"{0}\"")]
    UnknownOption(String),
}

impl AutoArgs {
    /// Parses the arguments after `auto`.
    pub fn parse<I, S>(args: I) -> Result<AutoArgs, AutoError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut a = AutoArgs::default();
        let mut names = Vec::new();
        let mut ops = 0;
        let mut it = args.into_iter().map(Into::into);
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| it.next()).ok_or(AutoError::Usage);
            match flag.as_str() {
                "--help" | "-h" => return Err(AutoError::Help),
                "--showonly" | "--dry-run" | "-n" => a.showonly = true,
                "--asynchronous" => a.asynchronous = true,
                "--verbose" | "-v" => a.verbose = true,
                "--utc" => a.utc = true,
                "--json" => a.json = true,
                "--config" => a.config = Some(value()?.into()),
                "--ctlsocket" => a.ctlsocket = Some(value()?.into()),
                "--remote-host" | "--remote_host" => a.remote_host = Some(value()?),
                f if f.starts_with("--") => match f.strip_prefix("--").and_then(Op::from_word) {
                    Some(op) => {
                        ops += 1;
                        a.op = Some(op);
                    }
                    None => return Err(AutoError::UnknownOption(arg)),
                },
                f if f.starts_with('-') && f.len() > 1 => {
                    return Err(AutoError::UnknownOption(arg))
                }
                _ => names.push(arg),
            }
        }
        if ops > 1 {
            return Err(AutoError::Usage);
        }
        if a.op.is_none() {
            // The old syntax: `ipsec auto NAME OP`.
            if let [name, word] = names.as_slice() {
                if let Some(op) = Op::from_word(word) {
                    a.op = Some(op);
                    a.name = Some(name.clone());
                    a.obsolete_syntax = true;
                    names.clear();
                }
            }
        }
        let op = a.op.ok_or(AutoError::Usage)?;
        if a.obsolete_syntax {
            return if op.takes_name() {
                Ok(a)
            } else {
                Err(AutoError::Usage)
            };
        }
        match (op.takes_name(), names.len()) {
            (true, 1) => a.name = names.pop(),
            (false, 0) => {}
            _ => return Err(AutoError::Usage),
        }
        if a.remote_host.is_some() && op != Op::Up {
            return Err(AutoError::Usage);
        }
        if a.json && op != Op::Status {
            return Err(AutoError::Usage);
        }
        Ok(a)
    }
}

/// One step of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Add (or, with `replace`, replace) a connection from the configuration:
    /// `ipsec addconn NAME` (preceded by `whack --delete` for replace).
    AddConn {
        /// The connection.
        name: String,
        /// Delete a loaded connection of that name first.
        replace: bool,
    },
    /// A whack request.
    Whack {
        /// The whack flags `--showonly` prints.
        flags: Vec<String>,
        /// The request.
        request: Request,
    },
}

fn s(x: &str) -> String {
    x.to_string()
}

/// The steps an operation stands for.
pub fn plan(a: &AutoArgs) -> Vec<Step> {
    let Some(op) = a.op else { return Vec::new() };
    let name = a.name.clone().unwrap_or_default();
    let named = |verb: &str, request: Request| {
        let mut flags = Vec::new();
        if a.asynchronous && matches!(verb, "--initiate" | "--terminate") {
            flags.push(s("--asynchronous"));
        }
        flags.extend([s("--name"), name.clone(), s(verb)]);
        if verb == "--initiate" {
            if let Some(h) = &a.remote_host {
                flags.extend([s("--remote-host"), h.clone()]);
            }
        }
        Step::Whack { flags, request }
    };
    let initiate = || {
        named(
            "--initiate",
            Request::Initiate {
                name: name.clone(),
                remote_host: a.remote_host.clone(),
                asynchronous: a.asynchronous,
            },
        )
    };
    let route = || named("--route", Request::Route { name: name.clone() });
    let add = |replace| Step::AddConn {
        name: name.clone(),
        replace,
    };
    let global = |verb: &str, request: Request| {
        let mut flags = Vec::new();
        if a.utc {
            flags.push(s("--utc"));
        }
        flags.push(s(verb));
        Step::Whack { flags, request }
    };
    let list = |verb: &str, kinds: Vec<ListKind>| global(verb, Request::List { kinds, utc: a.utc });
    match op {
        Op::Add => vec![add(false)],
        Op::Replace => vec![add(true)],
        Op::Start => vec![add(false), initiate()],
        Op::Ondemand => vec![add(false), route()],
        Op::Up => vec![initiate()],
        Op::Down => vec![named(
            "--terminate",
            Request::Terminate { name: name.clone() },
        )],
        Op::Delete => vec![named("--delete", Request::Delete { name: name.clone() })],
        Op::Route => vec![route()],
        Op::Unroute => vec![named("--unroute", Request::Unroute { name: name.clone() })],
        Op::Ready => vec![global("--listen", Request::Listen)],
        Op::Status => {
            let mut step = global(
                "--status",
                Request::Status {
                    kind: StatusKind::Full,
                    json: a.json,
                },
            );
            if a.json {
                if let Step::Whack { flags, .. } = &mut step {
                    flags.push(s("--json"));
                }
            }
            vec![step]
        }
        Op::RereadSecrets => vec![global("--rereadsecrets", Request::RereadSecrets)],
        Op::RereadCerts => vec![global("--rereadcerts", Request::RereadCerts)],
        Op::FetchCrls => vec![global("--fetchcrls", Request::FetchCrls)],
        Op::RereadAll => vec![global("--rereadall", Request::RereadAll)],
        Op::ListPubkeys => vec![list("--listpubkeys", vec![ListKind::Pubkeys])],
        Op::ListCerts => vec![list("--listcerts", vec![ListKind::Certs])],
        Op::CheckPubkeys => vec![list("--checkpubkeys", vec![ListKind::CheckPubkeys])],
        Op::ListCacerts => vec![list("--listcacerts", vec![ListKind::Cacerts])],
        Op::ListCrls => vec![list("--listcrls", vec![ListKind::Crls])],
        Op::ListAll => vec![list("--listall", ListKind::ALL.to_vec())],
        Op::PurgeOcsp => vec![global("--purgeocsp", Request::PurgeOcsp)],
    }
}

/// The command lines `--showonly` prints for the steps.
pub fn showonly_lines(a: &AutoArgs, ctlsocket: &str, steps: &[Step]) -> Vec<String> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::AddConn { name, replace } => {
                if *replace {
                    out.push(format!(
                        "ipsec whack --ctlsocket {ctlsocket} --name {name} --delete"
                    ));
                }
                let mut line = format!("ipsec addconn --ctlsocket {ctlsocket}");
                if a.verbose {
                    line.push_str(" --verbose");
                }
                if let Some(c) = &a.config {
                    line.push_str(&format!(" --config {}", c.display()));
                }
                line.push(' ');
                line.push_str(name);
                out.push(line);
            }
            Step::Whack { flags, .. } => {
                out.push(format!(
                    "ipsec whack --ctlsocket {ctlsocket} {}",
                    flags.join(" ")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(args: &[&str]) -> Vec<String> {
        let a = AutoArgs::parse(args.iter().copied()).unwrap();
        showonly_lines(&a, "/run/pluto/pluto.ctl", &plan(&a))
    }

    #[test]
    fn showonly_matches_libreswan() {
        let c = "/run/pluto/pluto.ctl";
        assert_eq!(
            lines(&["--showonly", "--add", "x"]),
            vec![format!("ipsec addconn --ctlsocket {c} x")]
        );
        assert_eq!(
            lines(&["--showonly", "--up", "x"]),
            vec![format!("ipsec whack --ctlsocket {c} --name x --initiate")]
        );
        assert_eq!(
            lines(&["--showonly", "--replace", "x"]),
            vec![
                format!("ipsec whack --ctlsocket {c} --name x --delete"),
                format!("ipsec addconn --ctlsocket {c} x")
            ]
        );
        assert_eq!(
            lines(&["--showonly", "--start", "x"]),
            vec![
                format!("ipsec addconn --ctlsocket {c} x"),
                format!("ipsec whack --ctlsocket {c} --name x --initiate")
            ]
        );
        assert_eq!(
            lines(&["--showonly", "--ondemand", "x"]),
            vec![
                format!("ipsec addconn --ctlsocket {c} x"),
                format!("ipsec whack --ctlsocket {c} --name x --route")
            ]
        );
        assert_eq!(
            lines(&["--showonly", "--ready"]),
            vec![format!("ipsec whack --ctlsocket {c} --listen")]
        );
        assert_eq!(
            lines(&["--showonly", "--asynchronous", "--up", "x"]),
            vec![format!(
                "ipsec whack --ctlsocket {c} --asynchronous --name x --initiate"
            )]
        );
        assert_eq!(
            lines(&[
                "--showonly",
                "--config",
                "/some/ipsec.conf",
                "--verbose",
                "--add",
                "x"
            ]),
            vec![format!(
                "ipsec addconn --ctlsocket {c} --verbose --config /some/ipsec.conf x"
            )]
        );
        assert_eq!(
            lines(&["--showonly", "--utc", "--listall"]),
            vec![format!("ipsec whack --ctlsocket {c} --utc --listall")]
        );
        assert_eq!(
            lines(&["--remote-host", "192.0.2.9", "--up", "x"]),
            vec![format!(
                "ipsec whack --ctlsocket {c} --name x --initiate --remote-host 192.0.2.9"
            )]
        );
        assert_eq!(
            lines(&["-n", "--down", "x"]),
            vec![format!("ipsec whack --ctlsocket {c} --name x --terminate")]
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(AutoArgs::parse(Vec::<&str>::new()), Err(AutoError::Usage));
        assert_eq!(AutoArgs::parse(["--add"]), Err(AutoError::Usage));
        assert_eq!(AutoArgs::parse(["--up", "a", "b"]), Err(AutoError::Usage));
        assert_eq!(AutoArgs::parse(["--status", "x"]), Err(AutoError::Usage));
        assert_eq!(
            AutoArgs::parse(["--add", "--delete", "x"]),
            Err(AutoError::Usage)
        );
        assert_eq!(
            AutoArgs::parse(["--bogus"]),
            Err(AutoError::UnknownOption("--bogus".into()))
        );
        assert_eq!(AutoArgs::parse(["--help"]), Err(AutoError::Help));
        assert_eq!(AutoArgs::parse(["--config"]), Err(AutoError::Usage));
        assert_eq!(
            AutoArgs::parse(["--remote-host", "1.2.3.4", "--add", "x"]),
            Err(AutoError::Usage)
        );
        assert_eq!(
            AutoArgs::parse(["--json", "--add", "x"]),
            Err(AutoError::Usage)
        );
    }

    #[test]
    fn old_syntax_and_seed_order() {
        let a = AutoArgs::parse(["--showonly", "x", "up"]).unwrap();
        assert!(a.obsolete_syntax);
        assert_eq!(a.op, Some(Op::Up));
        assert_eq!(a.name.as_deref(), Some("x"));
        // The seed's order: --remote-host after the name.
        let a = AutoArgs::parse(["--up", "x", "--remote-host", "192.0.2.9"]).unwrap();
        assert_eq!(a.remote_host.as_deref(), Some("192.0.2.9"));
        let a = AutoArgs::parse(["--config=/a.conf", "--status", "--json"]).unwrap();
        assert_eq!(a.config, Some(PathBuf::from("/a.conf")));
        assert!(a.json);
    }

    #[test]
    fn requests() {
        let a = AutoArgs::parse(["--asynchronous", "--up", "x"]).unwrap();
        assert_eq!(
            plan(&a),
            vec![Step::Whack {
                flags: vec![s("--asynchronous"), s("--name"), s("x"), s("--initiate")],
                request: Request::Initiate {
                    name: s("x"),
                    remote_host: None,
                    asynchronous: true
                }
            }]
        );
        let a = AutoArgs::parse(["--listall"]).unwrap();
        match plan(&a).as_slice() {
            [Step::Whack {
                request: Request::List { kinds, .. },
                ..
            }] => assert_eq!(kinds, &ListKind::ALL.to_vec()),
            other => panic!("{other:?}"),
        }
    }
}
