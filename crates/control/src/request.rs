//! What a client asks the daemon: one [`Request`] per socket connection.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which connections an add or replace takes from the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddConns {
    /// Absolute path of the ipsec.conf the daemon loads (and re-validates).
    pub config: PathBuf,
    /// `--rootdir`: absolute `include` paths are resolved under this directory.
    pub rootdir: Option<PathBuf>,
    /// Names (or aliases) of the connections to add.
    pub names: Vec<String>,
    /// `--autoall`: add every connection whose `auto=` is not `ignore`.
    pub autoall: bool,
}

/// A list operation (`--listpubkeys` and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// `--listpubkeys` (and the pre-shared secrets list that follows it).
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

impl ListKind {
    /// What `--listall` lists, in Libreswan's order.
    pub const ALL: [ListKind; 4] = [
        ListKind::Pubkeys,
        ListKind::Certs,
        ListKind::Cacerts,
        ListKind::Crls,
    ];
}

/// Which status report `--status` and its relatives ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    /// `--status`: everything.
    Full,
    /// `--briefstatus`: the SA counters.
    Brief,
    /// `--showstates`: one line per state.
    States,
    /// `--trafficstatus`: one line per established IPsec SA.
    Traffic,
    /// `--shuntstatus`: the bare shunts.
    Shunts,
}

/// What `--rekey-ike` / `--rekey-ipsec` rekeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RekeyKind {
    /// `--rekey-ike`: the connection's newest IKE SA.
    Ike,
    /// `--rekey-ipsec`: the connection's newest Child SA.
    Ipsec,
}

/// One request to the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Add connections; a loaded name is refused with `RC_DUPNAME`.
    Add(AddConns),
    /// Replace connections: delete each one that is loaded, then add it.
    Replace(AddConns),
    /// Delete a connection (`--delete`); an unknown name is `RC_UNKNOWN_NAME`.
    Delete {
        /// Connection name or alias.
        name: String,
    },
    /// Bring a connection up (`--initiate`).
    Initiate {
        /// Connection name or alias.
        name: String,
        /// `--remote-host`: the peer address to use for a `%any` end.
        remote_host: Option<String>,
        /// `--asynchronous`: reply before the exchange ends.
        asynchronous: bool,
    },
    /// Take a connection down (`--terminate`).
    Terminate {
        /// Connection name or alias.
        name: String,
    },
    /// Rekey the connection's newest IKE SA or Child SA (`--rekey-ike`,
    /// `--rekey-ipsec`).
    Rekey {
        /// Connection name or alias.
        name: String,
        /// Which SA.
        kind: RekeyKind,
    },
    /// Install the connection's trap policy (`--route`).
    Route {
        /// Connection name or alias.
        name: String,
    },
    /// Remove the connection's trap policy (`--unroute`).
    Unroute {
        /// Connection name or alias.
        name: String,
    },
    /// Scan interfaces and listen for IKE (`--listen`, `ipsec auto --ready`).
    Listen,
    /// A status report.
    Status {
        /// Which report.
        kind: StatusKind,
        /// One JSON document instead of text (only for [`StatusKind::Full`]).
        json: bool,
    },
    /// Forget and re-read ipsec.secrets.
    RereadSecrets,
    /// Re-read the certificates.
    RereadCerts,
    /// Fetch CRLs.
    FetchCrls,
    /// `--rereadall`: secrets, certificates and CRLs.
    RereadAll,
    /// List operations, in the given order.
    List {
        /// What to list.
        kinds: Vec<ListKind>,
        /// `--utc`: print times in UTC.
        utc: bool,
    },
    /// Purge the OCSP cache.
    PurgeOcsp,
    /// Shut the daemon down.
    Shutdown,
}

impl Request {
    /// A short name of the operation, for logs.
    pub fn op_name(&self) -> &'static str {
        match self {
            Request::Add(_) => "add",
            Request::Replace(_) => "replace",
            Request::Delete { .. } => "delete",
            Request::Initiate { .. } => "initiate",
            Request::Terminate { .. } => "terminate",
            Request::Rekey { .. } => "rekey",
            Request::Route { .. } => "route",
            Request::Unroute { .. } => "unroute",
            Request::Listen => "listen",
            Request::Status { .. } => "status",
            Request::RereadSecrets => "rereadsecrets",
            Request::RereadCerts => "rereadcerts",
            Request::FetchCrls => "fetchcrls",
            Request::RereadAll => "rereadall",
            Request::List { .. } => "list",
            Request::PurgeOcsp => "purgeocsp",
            Request::Shutdown => "shutdown",
        }
    }
}
