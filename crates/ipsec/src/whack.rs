//! `ipsec whack`: the low-level control command (the options `--showonly`
//! prints).

use crate::client::{self, EXIT_OK, EXIT_USAGE};
use crate::usage;
use control::{ListKind, Request, StatusKind};
use std::path::PathBuf;

/// A parsed `ipsec whack` command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WhackArgs {
    /// `--ctlsocket FILE` (or `--rundir DIR` + `/pluto.ctl`).
    pub ctlsocket: Option<PathBuf>,
    /// `--name NAME`.
    pub name: Option<String>,
    /// `--remote-host IP`.
    pub remote_host: Option<String>,
    /// `--asynchronous`.
    pub asynchronous: bool,
    /// `--utc`.
    pub utc: bool,
    /// `--json`.
    pub json: bool,
    /// `--help`.
    pub help: bool,
    /// `--version`.
    pub version: bool,
    /// Operations in the order they run.
    pub ops: Vec<WhackOp>,
}

/// One whack operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WhackOp {
    /// `--listen`.
    Listen,
    /// `--rereadsecrets`.
    RereadSecrets,
    /// `--rereadcerts`.
    RereadCerts,
    /// `--fetchcrls`.
    FetchCrls,
    /// `--rereadall`.
    RereadAll,
    /// `--delete`.
    Delete,
    /// `--route`.
    Route,
    /// `--unroute`.
    Unroute,
    /// `--initiate`.
    Initiate,
    /// `--terminate`.
    Terminate,
    /// `--rekey-ike`.
    RekeyIke,
    /// `--rekey-ipsec`.
    RekeyIpsec,
    /// A list operation.
    List(ListKindOrd),
    /// `--listall`.
    ListAll,
    /// `--purgeocsp`.
    PurgeOcsp,
    /// A status report.
    Status(StatusOrd),
    /// `--shutdown`.
    Shutdown,
}

/// [`ListKind`] with an order, for sorting operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ListKindOrd {
    /// `--listpubkeys`.
    Pubkeys,
    /// `--listcerts`.
    Certs,
    /// `--listcacerts`.
    Cacerts,
    /// `--listcrls`.
    Crls,
    /// `--listpsks`.
    Psks,
    /// `--checkpubkeys`.
    CheckPubkeys,
}

/// [`StatusKind`] with an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusOrd {
    /// `--status`.
    Full,
    /// `--briefstatus`.
    Brief,
    /// `--showstates`.
    States,
    /// `--trafficstatus`.
    Traffic,
    /// `--shuntstatus`.
    Shunts,
}

/// Parses the arguments after `whack`.
pub fn parse(args: Vec<String>) -> Result<WhackArgs, String> {
    let mut a = WhackArgs::default();
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
        let op = match flag.as_str() {
            "--help" => {
                a.help = true;
                None
            }
            "--version" => {
                a.version = true;
                None
            }
            "--ctlsocket" => {
                a.ctlsocket = Some(value()?.into());
                None
            }
            "--rundir" => {
                a.ctlsocket = Some(PathBuf::from(value()?).join("pluto.ctl"));
                None
            }
            "--name" => {
                a.name = Some(value()?);
                None
            }
            "--remote-host" => {
                a.remote_host = Some(value()?);
                None
            }
            "--asynchronous" => {
                a.asynchronous = true;
                None
            }
            "--utc" => {
                a.utc = true;
                None
            }
            "--json" => {
                a.json = true;
                None
            }
            "--listen" => Some(WhackOp::Listen),
            "--rereadsecrets" => Some(WhackOp::RereadSecrets),
            "--rereadcerts" => Some(WhackOp::RereadCerts),
            "--fetchcrls" => Some(WhackOp::FetchCrls),
            "--rereadall" => Some(WhackOp::RereadAll),
            "--delete" => Some(WhackOp::Delete),
            "--route" => Some(WhackOp::Route),
            "--unroute" => Some(WhackOp::Unroute),
            "--initiate" => Some(WhackOp::Initiate),
            "--terminate" => Some(WhackOp::Terminate),
            "--rekey-ike" => Some(WhackOp::RekeyIke),
            "--rekey-ipsec" => Some(WhackOp::RekeyIpsec),
            "--listpubkeys" => Some(WhackOp::List(ListKindOrd::Pubkeys)),
            "--listcerts" => Some(WhackOp::List(ListKindOrd::Certs)),
            "--listcacerts" => Some(WhackOp::List(ListKindOrd::Cacerts)),
            "--listcrls" => Some(WhackOp::List(ListKindOrd::Crls)),
            "--listpsks" => Some(WhackOp::List(ListKindOrd::Psks)),
            "--checkpubkeys" => Some(WhackOp::List(ListKindOrd::CheckPubkeys)),
            "--listall" => Some(WhackOp::ListAll),
            "--purgeocsp" => Some(WhackOp::PurgeOcsp),
            "--status" => Some(WhackOp::Status(StatusOrd::Full)),
            "--briefstatus" => Some(WhackOp::Status(StatusOrd::Brief)),
            "--showstates" => Some(WhackOp::Status(StatusOrd::States)),
            "--trafficstatus" => Some(WhackOp::Status(StatusOrd::Traffic)),
            "--shuntstatus" => Some(WhackOp::Status(StatusOrd::Shunts)),
            "--shutdown" => Some(WhackOp::Shutdown),
            _ => return Err(format!("unknown option \"{arg}\"")),
        };
        if let Some(op) = op {
            if !a.ops.contains(&op) {
                a.ops.push(op);
            }
        }
    }
    a.ops.sort();
    let needs_name = a.ops.iter().any(|o| {
        matches!(
            o,
            WhackOp::Delete
                | WhackOp::Route
                | WhackOp::Unroute
                | WhackOp::Initiate
                | WhackOp::Terminate
                | WhackOp::RekeyIke
                | WhackOp::RekeyIpsec
        )
    });
    if needs_name && a.name.is_none() {
        return Err("this operation needs --name <connection_name>".into());
    }
    Ok(a)
}

fn list_kind(k: ListKindOrd) -> ListKind {
    match k {
        ListKindOrd::Pubkeys => ListKind::Pubkeys,
        ListKindOrd::Certs => ListKind::Certs,
        ListKindOrd::Cacerts => ListKind::Cacerts,
        ListKindOrd::Crls => ListKind::Crls,
        ListKindOrd::Psks => ListKind::Psks,
        ListKindOrd::CheckPubkeys => ListKind::CheckPubkeys,
    }
}

/// The requests a whack command line sends, in order.
pub fn requests(a: &WhackArgs) -> Vec<Request> {
    let name = a.name.clone().unwrap_or_default();
    let mut out = Vec::new();
    let mut lists = Vec::new();
    for op in &a.ops {
        let r = match *op {
            WhackOp::Listen => Request::Listen,
            WhackOp::RereadSecrets => Request::RereadSecrets,
            WhackOp::RereadCerts => Request::RereadCerts,
            WhackOp::FetchCrls => Request::FetchCrls,
            WhackOp::RereadAll => Request::RereadAll,
            WhackOp::Delete => Request::Delete { name: name.clone() },
            WhackOp::Route => Request::Route { name: name.clone() },
            WhackOp::Unroute => Request::Unroute { name: name.clone() },
            WhackOp::Initiate => Request::Initiate {
                name: name.clone(),
                remote_host: a.remote_host.clone(),
                asynchronous: a.asynchronous,
            },
            WhackOp::Terminate => Request::Terminate { name: name.clone() },
            WhackOp::RekeyIke => Request::Rekey {
                name: name.clone(),
                kind: control::RekeyKind::Ike,
            },
            WhackOp::RekeyIpsec => Request::Rekey {
                name: name.clone(),
                kind: control::RekeyKind::Ipsec,
            },
            WhackOp::List(k) => {
                lists.push(list_kind(k));
                continue;
            }
            WhackOp::ListAll => {
                lists.extend(ListKind::ALL);
                continue;
            }
            WhackOp::PurgeOcsp => Request::PurgeOcsp,
            WhackOp::Status(s) => Request::Status {
                kind: match s {
                    StatusOrd::Full => StatusKind::Full,
                    StatusOrd::Brief => StatusKind::Brief,
                    StatusOrd::States => StatusKind::States,
                    StatusOrd::Traffic => StatusKind::Traffic,
                    StatusOrd::Shunts => StatusKind::Shunts,
                },
                json: a.json,
            },
            WhackOp::Shutdown => Request::Shutdown,
        };
        out.push(r);
    }
    if !lists.is_empty() {
        let mut seen = Vec::new();
        lists.retain(|k| {
            let new = !seen.contains(k);
            seen.push(*k);
            new
        });
        let pos = out
            .iter()
            .position(|r| {
                matches!(
                    r,
                    Request::PurgeOcsp | Request::Status { .. } | Request::Shutdown
                )
            })
            .unwrap_or(out.len());
        out.insert(
            pos,
            Request::List {
                kinds: lists,
                utc: a.utc,
            },
        );
    }
    out
}

/// `ipsec whack ARGS...`.
pub fn main(args: Vec<String>) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("whack error: {e}");
            return EXIT_USAGE;
        }
    };
    if a.help {
        print!("{}", usage::WHACK);
        return EXIT_OK;
    }
    if a.version {
        println!("{}", usage::version());
        return EXIT_OK;
    }
    let reqs = requests(&a);
    if reqs.is_empty() {
        eprint!("{}", usage::WHACK);
        return EXIT_USAGE;
    }
    let socket = client::ctlsocket(a.ctlsocket.as_deref());
    for r in reqs {
        let code = client::send(&socket, &r, true);
        if code != EXIT_OK {
            return code;
        }
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_and_orders() {
        let a = parse(v(&["--initiate", "--name", "x", "--asynchronous"])).unwrap();
        assert_eq!(
            requests(&a),
            vec![Request::Initiate {
                name: "x".into(),
                remote_host: None,
                asynchronous: true
            }]
        );
        let a = parse(v(&["--listcerts", "--listpubkeys", "--utc"])).unwrap();
        assert_eq!(
            requests(&a),
            vec![Request::List {
                kinds: vec![ListKind::Pubkeys, ListKind::Certs],
                utc: true
            }]
        );
        let a = parse(v(&["--rundir", "/tmp/r", "--status", "--json"])).unwrap();
        assert_eq!(a.ctlsocket, Some(PathBuf::from("/tmp/r/pluto.ctl")));
        assert_eq!(
            requests(&a),
            vec![Request::Status {
                kind: StatusKind::Full,
                json: true
            }]
        );
    }

    #[test]
    fn errors() {
        assert!(parse(v(&["--initiate"])).is_err());
        assert!(parse(v(&["--bogus"])).is_err());
        assert!(parse(v(&["--name"])).is_err());
        let a = parse(v(&["--shutdown"])).unwrap();
        assert_eq!(requests(&a), vec![Request::Shutdown]);
    }

    #[test]
    fn rekey_needs_a_name() {
        assert!(parse(v(&["--rekey-ipsec"])).is_err());
        let a = parse(v(&["--name", "x", "--rekey-ike"])).unwrap();
        assert_eq!(
            requests(&a),
            vec![Request::Rekey {
                name: "x".into(),
                kind: control::RekeyKind::Ike
            }]
        );
        let a = parse(v(&["--rekey-ipsec", "--name", "x"])).unwrap();
        assert_eq!(
            requests(&a),
            vec![Request::Rekey {
                name: "x".into(),
                kind: control::RekeyKind::Ipsec
            }]
        );
    }
}
