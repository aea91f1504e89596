//! The sans-IO engine driven over real UDP sockets (ports 500 and 4500)
//! on a thread of its own inside a network namespace, for interop tests
//! against real IKE daemons. The test thread hands it commands (closures
//! run against the engine) and watches the events it records.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ike::crypto::SystemRandom;
use ike::engine::{ConnId, Connection};
use ike::{Engine, EngineConfig, Event};
use testkit::{wait_until, Netns};

type Command = Box<dyn FnOnce(&mut Engine, Instant) + Send>;

/// Everything the engine reported so far.
#[derive(Default)]
struct Record {
    events: Vec<Event>,
    log: Vec<String>,
    errors: Vec<String>,
}

/// A running engine on UDP 500/4500 of one address in a namespace;
/// stopped (thread joined, sockets closed) on drop.
pub struct UdpEngine {
    record: Arc<Mutex<Record>>,
    commands: mpsc::Sender<Command>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpEngine {
    /// Starts the engine with `conns` on `local` inside `ns`; returns it
    /// with the connections' ids once the sockets are bound.
    pub fn start(
        ns: &Netns,
        local: IpAddr,
        conns: Vec<Connection>,
    ) -> Result<(UdpEngine, Vec<ConnId>), String> {
        let mut engine = Engine::new(EngineConfig::default(), Box::new(SystemRandom));
        let mut ids = Vec::new();
        for c in conns {
            ids.push(engine.add_connection(c).map_err(|e| e.to_string())?);
        }
        let record = Arc::new(Mutex::new(Record::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Command>();
        // A socket stays in the namespace it was made in, whichever thread
        // uses it later: make them on a short-lived thread inside `ns`.
        let sockets = std::thread::scope(|scope| {
            scope
                .spawn(|| ns.enter_current_thread().and_then(|()| bind(local)))
                .join()
                .map_err(|_| "socket thread panicked".to_string())?
        })?;
        let (r, s) = (record.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("udp-engine-{}", ns.name()))
            .spawn(move || drive(engine, sockets, rx, r, s))
            .map_err(|e| format!("spawning the engine thread: {e}"))?;
        let me = UdpEngine {
            record,
            commands: tx,
            stop,
            thread: Some(thread),
        };
        Ok((me, ids))
    }

    /// Runs `f` against the engine on its thread and returns its result.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, Instant) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(Box::new(move |e: &mut Engine, now: Instant| {
                let _ = tx.send(f(e, now));
            }))
            .map_err(|_| "engine thread is gone".to_string())?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|e| format!("engine command: {e}"))
    }

    /// All events so far (log lines included).
    pub fn events(&self) -> Vec<Event> {
        self.record
            .lock()
            .map(|r| r.events.clone())
            .unwrap_or_default()
    }

    /// The first event matching `pred`, waiting up to `timeout` for it.
    pub fn wait_event(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<Event, String> {
        let mut found = None;
        wait_until(timeout, what, || {
            found = self.events().into_iter().find(|e| pred(e));
            found.is_some()
        })
        .map_err(|e| format!("{e}\nferroswan log:\n{}", self.log()))?;
        found.ok_or_else(|| format!("{what}: vanished"))
    }

    /// The engine's log lines and events, one a line, plus I/O errors.
    pub fn log(&self) -> String {
        self.record
            .lock()
            .map(|r| {
                let mut s = r.log.join("\n");
                for e in &r.errors {
                    s.push_str("\nI/O ERROR: ");
                    s.push_str(e);
                }
                s
            })
            .unwrap_or_default()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for UdpEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind(local: IpAddr) -> Result<[UdpSocket; 2], String> {
    let open = |port: u16| {
        let s = UdpSocket::bind(SocketAddr::new(local, port))
            .map_err(|e| format!("bind {local}:{port}: {e}"))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok::<_, String>(s)
    };
    Ok([open(500)?, open(4500)?])
}

fn drive(
    mut engine: Engine,
    sockets: [UdpSocket; 2],
    commands: mpsc::Receiver<Command>,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 65536];
    let mut errors = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        while let Ok(cmd) = commands.try_recv() {
            cmd(&mut engine, Instant::now());
            busy = true;
        }
        for s in &sockets {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                if let Ok(to) = s.local_addr() {
                    engine.handle_datagram(Instant::now(), to, from, buf.get(..n).unwrap_or(&[]));
                }
                busy = true;
            }
        }
        if engine.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            engine.handle_timeout(Instant::now());
        }
        while let Some(t) = engine.poll_transmit() {
            let [s500, s4500] = &sockets;
            let s = if t.local.port() == 4500 { s4500 } else { s500 };
            if let Err(e) = s.send_to(&t.payload, t.remote) {
                errors.push(format!("send to {}: {e}", t.remote));
            }
            busy = true;
        }
        let mut events = Vec::new();
        while let Some(ev) = engine.poll_event() {
            events.push(ev);
        }
        if !events.is_empty() || !errors.is_empty() {
            if let Ok(mut r) = record.lock() {
                for ev in events {
                    r.log.push(match &ev {
                        Event::Log(l) => l.clone(),
                        other => format!("EVENT {other:?}"),
                    });
                    r.events.push(ev);
                }
                r.errors.append(&mut errors);
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
