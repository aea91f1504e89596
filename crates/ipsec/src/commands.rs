//! Top-level dispatch of `ipsec COMMAND ...` and `ipsec auto`.

use crate::auto::{self, AutoArgs, AutoError, Step};
use crate::client::{self, EXIT_OK, EXIT_USAGE};
use crate::{addconn, usage, validate, whack};
use control::{AddConns, Request};

/// `ipsec ARGS...` (program name excluded).
pub fn dispatch(args: Vec<String>) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{}", usage::ipsec_short());
        return EXIT_USAGE;
    };
    let rest = rest.to_vec();
    match cmd.as_str() {
        "--version" | "version" => {
            println!("{}", usage::version());
            EXIT_OK
        }
        "--help" | "help" => {
            print!("{}", usage::ipsec_long());
            EXIT_OK
        }
        "auto" => auto_main(rest),
        "whack" => whack::main(rest),
        "addconn" => addconn::main(rest),
        "pluto" => pluto::main(rest),
        // Libreswan 5's short spellings.
        "add" | "up" | "down" | "delete" | "route" | "unroute" | "ondemand" | "replace" => {
            let mut a = vec![format!("--{cmd}")];
            a.extend(rest);
            auto_main(a)
        }
        "status" | "briefstatus" | "showstates" | "trafficstatus" | "shuntstatus" => {
            let mut a = vec![format!("--{cmd}")];
            a.extend(rest);
            whack::main(a)
        }
        "start" => start(rest),
        "restart" => restart(rest),
        "stop" => {
            let mut a = vec!["--shutdown".to_string()];
            a.extend(rest);
            whack::main(a)
        }
        other => {
            eprintln!("ipsec: unknown command \"{other}\"");
            eprint!("{}", usage::ipsec_short());
            EXIT_USAGE
        }
    }
}

/// `ipsec start [PLUTO OPTIONS]`: starts the daemon in the background.
fn start(args: Vec<String>) -> i32 {
    if args.iter().any(|a| a == "--nofork") {
        eprintln!("ipsec start: --nofork is for ipsec pluto");
        return EXIT_USAGE;
    }
    pluto::main(args)
}

/// `ipsec restart [PLUTO OPTIONS]`: stops the daemon (if running), waits
/// (bounded) until its socket is gone, and starts it again.
fn restart(args: Vec<String>) -> i32 {
    let opts = match pluto::options::PlutoOptions::parse(args.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ipsec restart: {e}");
            return EXIT_USAGE;
        }
    };
    let socket = match &opts.ctlsocket {
        Some(s) => s.clone(),
        None if opts.rundir.is_some() => opts.ctlsocket(),
        None => client::ctlsocket(None),
    };
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        let code = client::send(&socket, &Request::Shutdown, false);
        if code != EXIT_OK {
            return code;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while socket.exists() {
            if std::time::Instant::now() > deadline {
                eprintln!("ipsec restart: pluto did not stop within 10s");
                return client::EXIT_WHACK_PROBLEM;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    start(args)
}

/// `ipsec auto ARGS...`.
pub fn auto_main(args: Vec<String>) -> i32 {
    let a = match AutoArgs::parse(args) {
        Ok(a) => a,
        Err(AutoError::Help) => {
            print!("{}", usage::AUTO);
            return EXIT_OK;
        }
        Err(AutoError::Usage) => {
            eprint!("{}", usage::AUTO);
            return EXIT_USAGE;
        }
        Err(e @ AutoError::UnknownOption(_)) => {
            eprintln!("{e}");
            return EXIT_USAGE;
        }
    };
    if a.obsolete_syntax {
        eprintln!("ipsec auto: warning: obsolete command syntax used");
    }
    let socket = client::ctlsocket(a.ctlsocket.as_deref());
    let steps = auto::plan(&a);
    let adds = steps.iter().any(|s| matches!(s, Step::AddConn { .. }));
    let named = a.op.is_some_and(|op| op.takes_name());
    let config_path = client::config_path(a.config.as_deref());
    // Validate first: always when adding, and for --showonly of any named
    // operation (its exit status says whether the configuration accepts it).
    if adds || (a.showonly && named) {
        let config = match validate::load(&config_path, None, a.verbose) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if let Some(name) = &a.name {
            let names = std::slice::from_ref(name);
            if let Err(code) = validate::check_names(&config, names) {
                return code;
            }
            if adds {
                if let Err(code) = validate::check_addable(&config, names) {
                    return code;
                }
            }
        }
    }
    if a.showonly {
        for line in auto::showonly_lines(&a, &socket.display().to_string(), &steps) {
            println!("{line}");
        }
        return EXIT_OK;
    }
    for step in steps {
        let (request, verbose) = match step {
            Step::AddConn { name, replace } => {
                let add = AddConns {
                    config: validate::absolute(&config_path),
                    rootdir: None,
                    names: vec![name],
                    autoall: false,
                };
                let request = if replace {
                    Request::Replace(add)
                } else {
                    Request::Add(add)
                };
                (request, a.verbose)
            }
            Step::Whack { request, .. } => (request, a.verbose),
        };
        let code = client::send(&socket, &request, verbose);
        if code != EXIT_OK {
            return code;
        }
    }
    EXIT_OK
}
