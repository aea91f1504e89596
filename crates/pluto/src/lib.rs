//! The ferroswan IKE daemon (`ipsec pluto`): event loop, connection
//! database, control socket.
//!
//! One task owns the daemon's state ([`daemon::Pluto`]); the control socket
//! ([`server`]) hands it requests through a channel and streams the replies
//! back. Status rendering ([`status`]) reads the state and never changes it.
//! The IKE engine and the data plane plug into the same event loop.

pub mod backend;
pub mod certs;
pub mod conndb;
pub mod connection;
pub mod connext;
pub mod daemon;
pub mod hosts;
pub mod ikeconn;
pub mod ikesock;
pub mod interfaces;
pub mod iproute;
pub mod keylog;
pub mod lists;
pub mod logging;
pub mod lookups;
pub mod nflog;
pub mod options;
pub mod pidfile;
pub mod reply;
pub mod resolver;
pub mod sastatus;
pub mod secrets;
pub mod server;
pub mod sourceip;
pub mod spec;
pub mod status;
pub mod tcp;
pub mod tcp_conn;
pub mod tunnels;
pub mod updown;
pub mod vti;
pub mod wire;

use options::PlutoOptions;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Exit status: a wrong call.
pub const EXIT_USAGE: i32 = 1;
/// Exit status: the configuration cannot be loaded.
pub const EXIT_CONFIG: i32 = 3;
/// Exit status: the socket, pid file or log cannot be set up.
pub const EXIT_SOCKET: i32 = 10;

/// `ipsec pluto ARGS...`: runs the daemon; returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    let opts = match PlutoOptions::parse(args.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pluto: {e}");
            eprint!("{}", options::USAGE);
            return EXIT_USAGE;
        }
    };
    if opts.help {
        print!("{}", options::USAGE);
        return 0;
    }
    if opts.version {
        println!("ferroswan {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if !opts.nofork {
        return background(&opts, &args);
    }
    // One thread: the event loop owns all state, and the socket readers
    // and control clients only hand it work; on the same thread that
    // hand-over is a queue push, not a wake-up of another thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pluto: cannot start the runtime: {e}");
            return EXIT_SOCKET;
        }
    };
    runtime.block_on(run(opts))
}

/// Starts the daemon in the background (a new process group running
/// `ipsec pluto --nofork ...`) and waits, bounded, until its socket answers.
fn background(opts: &PlutoOptions, args: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("pluto: cannot find my own executable: {e}");
            return EXIT_SOCKET;
        }
    };
    let stderr = if opts.stderrlog {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let mut child = match Command::new(exe)
        .arg("pluto")
        .arg("--nofork")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pluto: cannot start the daemon: {e}");
            return EXIT_SOCKET;
        }
    };
    let socket = opts.ctlsocket();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("pluto: the daemon exited during start-up ({status})");
            return status.code().unwrap_or(EXIT_SOCKET);
        }
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "pluto: the daemon did not open {} within 10s",
        socket.display()
    );
    EXIT_SOCKET
}

async fn run(opts: PlutoOptions) -> i32 {
    let config_path = PlutoOptions::absolute(&opts.config_path());
    let local: Vec<std::net::IpAddr> = interfaces::scan()
        .map(|v| v.into_iter().map(|i| i.addr).collect())
        .unwrap_or_default();
    let loaded = if config_path.exists() || opts.config_explicit() {
        match spec::LoadedConfig::load(&config_path, None, &local) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("pluto: cannot load {}: {e}", config_path.display());
                return EXIT_CONFIG;
            }
        }
    } else {
        None
    };
    let settings = spec::Settings::new(&opts, loaded.as_ref(), &config_path);
    if let Err(e) = logging::init(&settings.log) {
        eprintln!("pluto: {e}");
        return EXIT_SOCKET;
    }
    if loaded.is_none() {
        tracing::warn!(
            "no configuration file {}: starting without connections",
            config_path.display()
        );
    }
    // The control socket appears only once the daemon is ready (IKE
    // sockets bound, connections loaded): whoever waits for it can count
    // on a peer's first IKE_SA_INIT being answered. Another daemon on it
    // is refused now, before anything else is touched.
    let socket = opts.ctlsocket();
    if let Err(e) = server::check_free(&socket) {
        tracing::error!("{e}");
        eprintln!("pluto: {e}");
        return EXIT_SOCKET;
    }
    let pidfile = opts.pidfile();
    let pid_guard = match pidfile::PidFile::create(&pidfile) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("pluto: {e}");
            return EXIT_SOCKET;
        }
    };
    tracing::info!(
        "ferroswan pluto {} starting, pid {}, control socket {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        socket.display()
    );
    let mut pluto = daemon::Pluto::new(
        settings.view.clone(),
        config_path.clone(),
        settings.secrets.clone(),
        settings.ipsecdir.clone(),
    );
    pluto.keylog = opts
        .keylog_dir
        .clone()
        .map(|d| keylog::KeyLog::new(PlutoOptions::absolute(&d)));
    pluto.omit_ike_auth_child = opts.omit_ike_auth_child;
    if opts.omit_ike_auth_child {
        tracing::info!(
            "IMPAIR: omitting the Child SA from every IKE_AUTH request (childless IKE SAs)"
        );
    }
    let protostack = match loaded.as_ref().map(|l| &l.config.setup) {
        Some(s) if s.protostack == conf::Protostack::Userspace => backend::Protostack::Userspace,
        Some(s) => backend::Protostack::Xfrm {
            explicit: s.raw.contains_key("protostack"),
        },
        None => backend::Protostack::Xfrm { explicit: false },
    };
    let listen = loaded.as_ref().and_then(|l| l.config.setup.listen);
    if let Err(e) = backend::Backend::check(protostack) {
        tracing::error!("{e}");
        eprintln!("pluto: {e}");
        return EXIT_CONFIG;
    }
    pluto.wire.protostack = protostack;
    if let Some(v) = loaded
        .as_ref()
        .and_then(|l| l.config.setup.raw.get("nflog-all"))
    {
        pluto.nflog_all(v);
    }
    if let Some(v) = loaded
        .as_ref()
        .and_then(|l| l.config.setup.raw.get("keep-alive"))
    {
        match conf::values::parse_duration(v, false) {
            Ok(d) if !d.is_zero() => pluto.wire.keepalive_interval = d,
            _ => tracing::warn!("config setup keep-alive={v} is not a duration; using 20s"),
        }
    }
    let bufsize = opts.ike_socket_bufsize.clone().or_else(|| {
        loaded
            .as_ref()
            .and_then(|l| l.config.setup.raw.get("ike-socket-bufsize").cloned())
    });
    match ikesock::parse_bufsize(bufsize.as_deref()) {
        Ok(n) => pluto.wire.ike_socket_bufsize = n,
        Err(e) => tracing::warn!("{e}; using {} bytes", ikesock::DEFAULT_IKE_SOCKET_BUFSIZE),
    }
    pluto.wire.listen = listen;
    pluto.wire.tcp.listen = loaded.as_ref().is_some_and(|l| l.config.setup.listen_tcp);
    let mut startup = reply::Replier::detached();
    pluto.listen(&mut startup);
    pluto.reread_secrets(&mut startup);
    if let Some(l) = &loaded {
        pluto
            .certs
            .set_settings(certs::CertSettings::from_setup(&l.config.setup));
    }
    pluto.reread_certs(&mut startup);
    if let Some(l) = &loaded {
        for w in &l.warnings {
            tracing::warn!("{w}");
        }
        pluto.startup_conns(l, &mut startup);
    }
    for line in startup.take_text().lines() {
        if let Ok(l) = control::ReplyLine::parse(line) {
            if let Some(text) = l.display(true) {
                tracing::info!("{text}");
            }
        }
    }
    let listener = match server::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("pluto: {e}");
            return EXIT_SOCKET;
        }
    };
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let own_uid = own_uid();
    let server = tokio::spawn(server::serve(listener, cmd_tx, own_uid, stop_rx));
    pluto.run(cmd_rx, signals()).await;
    let _ = stop_tx.send(true);
    let _ = server.await;
    let _ = std::fs::remove_file(&socket);
    drop(pid_guard);
    tracing::info!("pluto stopped");
    0
}

/// The uid this daemon runs as (the owner of `/proc/self`).
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn signals() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; use whack --shutdown");
            std::future::pending::<()>().await;
        }
    }
}

/// The default configuration path, for other crates.
pub fn default_config() -> PathBuf {
    PathBuf::from(options::DEFAULT_CONFIG)
}
