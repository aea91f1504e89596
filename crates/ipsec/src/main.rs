//! `ipsec`: the ferroswan command (multi-call).
//!
//! `ipsec auto|whack|addconn|pluto|status|start|stop|--version|--help`,
//! Libreswan 5's `ipsec add|up|down|delete|route|unroute|ondemand`, and the
//! daemon itself when called as `pluto`.

mod addconn;
mod auto;
mod client;
mod commands;
mod usage;
mod validate;
mod whack;

use std::path::Path;

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let prog = Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest: Vec<String> = if args.is_empty() {
        Vec::new()
    } else {
        args.split_off(1)
    };
    let code = match prog.as_str() {
        "pluto" => pluto::main(rest),
        "whack" => whack::main(rest),
        "addconn" => addconn::main(rest),
        _ => commands::dispatch(rest),
    };
    std::process::exit(code);
}
