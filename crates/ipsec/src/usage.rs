//! Usage texts, in the shape of Libreswan 4.10's.

/// `ipsec auto --help` (stdout, exit 0) and a wrong `ipsec auto` call
/// (stderr, exit 2).
pub const AUTO: &str = "\
Usage:
\tipsec auto [--showonly] [--asynchronous] --up connectionname \\
\t\t[--remote-host ipaddr]
\tipsec auto [--showonly] [--asynchronous] --down connectionname
\tipsec auto [--showonly] --{add|delete|replace|start} connectionname
\tipsec auto [--showonly] --{route|unroute|ondemand} connectionname
\tipsec auto [--showonly] --{ready|status}
\tipsec auto [--showonly] --{fetchcrls|rereadcerts|rereadall|rereadsecrets}
\tipsec auto [--showonly] [--utc] --{listpubkeys|listcerts|listcacerts}
\tipsec auto [--showonly] [--utc] --{listcrls|listall}
\tipsec auto [--showonly] [--utc] --checkpubkeys
\tipsec auto [--showonly] [--utc] --purgeocsp

\tother options: [--config ipsecconfigfile] [--verbose] \\
\t\t[--ctlsocket <file>]
";

/// `ipsec` with no arguments (stderr, exit 2).
pub fn ipsec_short() -> String {
    format!(
        "Usage: ipsec {{command}} [argument] ...>\n\
         Use --help for a list of commands, or see the ipsec(8) manual page\n\
         Most commands have their own manual pages, e.g. ipsec_auto(8).\n\
         See <https://libreswan.org> for more general info.\n\
         {}\n",
        version()
    )
}

/// `ipsec --help` (stdout, exit 0).
pub fn ipsec_long() -> String {
    format!(
        "Usage: ipsec {{command}} [argument] ...>\n\
         where {{command}} is one of:\n\
         \n\
         \tstart\t\t\tstop\n\
         \trestart\t\t\tstatus\n\
         \ttrafficstatus\t\tshuntstatus\n\
         \tbriefstatus\t\tshowstates\n\
         \tauto\t\t\taddconn\n\
         \twhack\t\t\tpluto\n\
         \tadd\t\t\tdelete\n\
         \tup\t\t\tdown\n\
         \troute\t\t\tunroute\n\
         \tondemand\n\
         See also: ipsec <command> --help\n\
         {}\n",
        version()
    )
}

/// The version line (`ipsec --version`).
pub fn version() -> String {
    format!("ferroswan {}", env!("CARGO_PKG_VERSION"))
}

/// `ipsec addconn --help`.
pub const ADDCONN: &str = "\
Usage: addconn [--config file] [--ctlsocket socketfile]
               [--rootdir dir]
               [--verbose]
               [--checkconfig]
               [--autoall]
               names
";

/// `ipsec whack --help`.
pub const WHACK: &str = "\
Usage:

all forms: [--rundir <path>] [--ctlsocket <file>]

help: whack [--help] [--version]

routing: whack (--route | --unroute) --name <connection_name>

initiation: whack (--initiate [--remote-host <ip or hostname>] | --terminate) \\
\t--name <connection_name> [--asynchronous]

rekey: whack (--rekey-ike | --rekey-ipsec) \\
\t--name <connection_name>

delete: whack --delete --name <connection_name>

listen: whack --listen

list: whack [--utc] [--checkpubkeys] [--listpubkeys] [--listcerts] \\
\t[--listcacerts] [--listcrls] [--listpsks] [--listall]

purge: whack --purgeocsp

reread: whack [--fetchcrls] [--rereadcerts] [--rereadsecrets] [--rereadall]

status: whack [--status [--json]] | [--trafficstatus] | [--shuntstatus] | \\
\t[--briefstatus] | [--showstates]

shutdown: whack --shutdown
";
