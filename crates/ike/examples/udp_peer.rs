//! Drives the sans-IO engine over real UDP sockets (ports 500 and 4500),
//! for interoperability checks against another IKEv2 implementation.
//!
//! ```text
//! udp_peer --local 192.0.2.1 --remote 192.0.2.2 --psk SECRET \
//!     --local-id west@ph --remote-id east@ph \
//!     --local-ts 10.201.0.0/16 --remote-ts 10.202.0.0/16 \
//!     --suite gcm|cbc [--auth psk|null|rsa --key PEM --peer-key 0s...]
//!     [--ike-only] [--initiate] [--seconds 20]
//! ```
//!
//! Prints the engine's log lines and events; exits 0 once an IKE SA and a
//! Child SA are up (and, with `--linger`, after the given seconds), 1 on
//! failure or timeout. With `--rekey` it then rekeys the Child SA, then
//! the IKE SA, then deletes the IKE SA, and exits 0 once all of that
//! completed.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use std::sync::Arc;

use ike::crypto::{
    EncrAlg, IntegAlg, KeGroup, PrfAlg, PrivateKey, PublicKey, Secret, SystemRandom,
};
use ike::engine::{Authentication, Connection, EspProposal, Identity, IkeProposal};
use ike::wire::TrafficSelector;
use ike::{Engine, EngineConfig, Event};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn identity(s: &str) -> Identity {
    if let Ok(ip) = s.parse::<IpAddr>() {
        Identity::Address(ip)
    } else if let Some(f) = s.strip_prefix('@') {
        Identity::Fqdn(f.to_string())
    } else if s.contains('@') {
        Identity::Rfc822(s.to_string())
    } else {
        Identity::Fqdn(s.to_string())
    }
}

fn subnet(s: &str) -> Result<TrafficSelector, String> {
    let (a, p) = s.split_once('/').ok_or_else(|| format!("bad subnet {s}"))?;
    let a: IpAddr = a.parse().map_err(|e| format!("{s}: {e}"))?;
    let p: u8 = p.parse().map_err(|e| format!("{s}: {e}"))?;
    Ok(TrafficSelector::from_prefix(a, p))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("udp_peer: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let local: IpAddr = arg(&args, "--local")
        .ok_or("--local missing")?
        .parse()
        .map_err(|e| format!("--local: {e}"))?;
    let remote: IpAddr = arg(&args, "--remote")
        .ok_or("--remote missing")?
        .parse()
        .map_err(|e| format!("--remote: {e}"))?;
    let psk = arg(&args, "--psk").unwrap_or_default();
    let auth = match arg(&args, "--auth").as_deref() {
        None | Some("psk") => Authentication::Psk(Secret::from_slice(psk.as_bytes())),
        Some("null") => Authentication::Null,
        Some("rsa") => {
            // Our key: PKCS#8 PEM in --key (generated when missing, its
            // public half written to --key.pub as Libreswan's 0s value);
            // the peer's: --peer-key, a Libreswan 0s/0x value.
            let path = arg(&args, "--key").ok_or("--key missing")?;
            let key = match std::fs::read_to_string(&path) {
                Ok(pem) => PrivateKey::from_pem(&pem).map_err(|e| e.to_string())?,
                Err(_) => {
                    let k = PrivateKey::generate_rsa(2048).map_err(|e| e.to_string())?;
                    let pem = k.to_pkcs8_pem().map_err(|e| e.to_string())?;
                    std::fs::write(&path, pem.as_bytes()).map_err(|e| e.to_string())?;
                    k
                }
            };
            let public = key.public_key().map_err(|e| e.to_string())?;
            std::fs::write(format!("{path}.pub"), public.to_libreswan())
                .map_err(|e| e.to_string())?;
            match arg(&args, "--peer-key") {
                Some(v) => Authentication::RawKey {
                    private_key: Arc::new(key),
                    peer_public_key: Arc::new(
                        PublicKey::from_libreswan(v.trim()).map_err(|e| e.to_string())?,
                    ),
                },
                // Only the key files were asked for.
                None => return Ok(()),
            }
        }
        Some(other) => return Err(format!("unknown --auth {other}")),
    };
    let initiate = args.iter().any(|a| a == "--initiate");
    let seconds: u64 = arg(&args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let linger: u64 = arg(&args, "--linger")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let suite = arg(&args, "--suite").unwrap_or_else(|| "gcm".into());
    let rekey = args.iter().any(|a| a == "--rekey");
    // Succeed once the IKE SA is up (for peers that cannot install a
    // Child SA, such as Libreswan on a kernel without ESP).
    let ike_only = args.iter().any(|a| a == "--ike-only");
    let mut conn = Connection::new(
        "interop",
        SocketAddr::new(local, 500),
        Some(SocketAddr::new(remote, 500)),
        auth,
    );
    conn.local_id = arg(&args, "--local-id").map(|s| identity(&s));
    conn.remote_id = arg(&args, "--remote-id").map(|s| identity(&s));
    if let Some(s) = arg(&args, "--local-ts") {
        conn.local_ts = vec![subnet(&s)?];
    }
    if let Some(s) = arg(&args, "--remote-ts") {
        conn.remote_ts = vec![subnet(&s)?];
    }
    match suite.as_str() {
        "gcm" => {
            conn.ike_proposals = vec![IkeProposal {
                encr: vec![EncrAlg::AesGcm16_256],
                prf: vec![PrfAlg::HmacSha2_384, PrfAlg::HmacSha2_256],
                integ: vec![],
                ke: vec![KeGroup::Curve25519],
                addke: vec![],
            }];
            conn.esp_proposals = vec![EspProposal {
                encr: vec![EncrAlg::AesGcm16_256],
                integ: vec![],
                ke: vec![],
            }];
        }
        "cbc" => {
            conn.ike_proposals = vec![IkeProposal {
                encr: vec![EncrAlg::AesCbc256],
                prf: vec![PrfAlg::HmacSha2_256],
                integ: vec![IntegAlg::HmacSha2_256_128],
                ke: vec![KeGroup::Modp2048],
                addke: vec![],
            }];
            conn.esp_proposals = vec![EspProposal {
                encr: vec![EncrAlg::AesCbc256],
                integ: vec![IntegAlg::HmacSha2_256_128],
                ke: vec![],
            }];
        }
        "default" => {}
        other => return Err(format!("unknown --suite {other}")),
    }
    let sockets = [
        UdpSocket::bind(SocketAddr::new(local, 500)).map_err(|e| format!("bind 500: {e}"))?,
        UdpSocket::bind(SocketAddr::new(local, 4500)).map_err(|e| format!("bind 4500: {e}"))?,
    ];
    for s in &sockets {
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
    }
    let mut engine = Engine::new(EngineConfig::default(), Box::new(SystemRandom));
    let id = engine.add_connection(conn).map_err(|e| e.to_string())?;
    let start = Instant::now();
    if initiate {
        engine.initiate(start, id).map_err(|e| e.to_string())?;
    }
    let mut ike_up = false;
    let mut child_up = false;
    let mut phase = 0u8;
    let mut current_ike = None;
    let mut current_child = None;
    let mut done_at: Option<Instant> = None;
    let mut buf = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        if now > start + Duration::from_secs(seconds) {
            return Err("timed out".into());
        }
        if let Some(t) = done_at {
            if now >= t {
                return Ok(());
            }
        }
        for s in &sockets {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                let to = s.local_addr().map_err(|e| e.to_string())?;
                engine.handle_datagram(Instant::now(), to, from, buf.get(..n).unwrap_or(&[]));
            }
        }
        if engine.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            engine.handle_timeout(Instant::now());
        }
        while let Some(t) = engine.poll_transmit() {
            let s = if t.local.port() == 4500 {
                &sockets[1]
            } else {
                &sockets[0]
            };
            s.send_to(&t.payload, t.remote)
                .map_err(|e| format!("send: {e}"))?;
        }
        while let Some(ev) = engine.poll_event() {
            match &ev {
                Event::Log(l) => println!("{l}"),
                Event::IkeSaUp(i) => {
                    println!("EVENT IkeSaUp {:?} remote_id={:?}", i.suite, i.remote_id);
                    current_ike = Some(i.ike_sa);
                    ike_up = true;
                }
                Event::ChildSaRekeyed { old, new, .. } => {
                    println!(
                        "EVENT ChildSaRekeyed {old:?} -> {:?} in=0x{:08x} out=0x{:08x}",
                        new.child, new.inbound_spi, new.outbound_spi
                    );
                    current_child = Some(new.child);
                    if phase == 1 {
                        phase = 2;
                        if let Some(sa) = current_ike {
                            engine
                                .rekey(Instant::now(), ike::Target::IkeSa(sa))
                                .map_err(|e| e.to_string())?;
                        }
                    }
                }
                Event::IkeSaRekeyed { old, new } => {
                    println!("EVENT IkeSaRekeyed {old:?} -> {:?}", new.ike_sa);
                    current_ike = Some(new.ike_sa);
                    if phase == 2 {
                        phase = 3;
                    }
                }
                Event::ChildSaUp(c) => {
                    println!(
                        "EVENT ChildSaUp in=0x{:08x} out=0x{:08x} {:?} ts {:?} -> {:?} nat={:?}",
                        c.inbound_spi, c.outbound_spi, c.suite, c.local_ts, c.remote_ts, c.nat
                    );
                    current_child = Some(c.child);
                    child_up = true;
                }
                Event::IkeSaDown { reason, .. } => {
                    println!("EVENT IkeSaDown: {reason}");
                    if done_at.is_none() && phase != 4 {
                        return Err(format!("IKE SA down: {reason}"));
                    }
                }
                other => println!("EVENT {other:?}"),
            }
        }
        if ike_up && (child_up || ike_only) && phase == 0 {
            println!("ESTABLISHED");
            if rekey {
                phase = 1;
                if let Some(c) = current_child {
                    engine
                        .rekey(Instant::now(), ike::Target::ChildSa(c))
                        .map_err(|e| e.to_string())?;
                }
            } else {
                phase = 9;
                done_at = Some(Instant::now() + Duration::from_secs(linger));
            }
        }
        if phase == 3 && engine.poll_timeout().is_some() {
            // Wait until the old IKE SA is deleted, then delete the new one.
            if let Some(sa) = current_ike {
                if engine.ike_sas_of(id).len() == 1 {
                    println!("REKEYED");
                    engine
                        .terminate(Instant::now(), ike::Target::IkeSa(sa))
                        .map_err(|e| e.to_string())?;
                    phase = 4;
                }
            }
        }
        if phase == 4 && engine.ike_sas_of(id).is_empty() {
            println!("DELETED");
            phase = 9;
            done_at = Some(Instant::now() + Duration::from_secs(linger));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
