//! Writes seed inputs for the fuzz targets of fuzz/ (scripts/fuzz-smoke):
//! two engines negotiate in memory (IKE_SA_INIT, IKE_AUTH, a Child SA
//! rekey, an IKE SA rekey, a delete) and every datagram they exchange is
//! saved.
//!
//! ```text
//! fuzz_seeds MESSAGE_DIR DECRYPTED_DIR
//! ```
//!
//! MESSAGE_DIR gets the raw IKE messages (input of `ike_message`).
//! DECRYPTED_DIR gets, for each unencrypted message, the type of its first
//! payload followed by its payload chain (input of `ike_decrypted`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ike::crypto::{Secret, TestRandom};
use ike::engine::{Authentication, Connection, Identity};
use ike::{Engine, EngineConfig, Event, Target};

/// The IKE header is 28 octets; its next-payload type is octet 16.
const HEADER_LEN: usize = 28;
const NEXT_PAYLOAD: usize = 16;
/// Payload type of SK (RFC 7296 3.14) and SKF (RFC 7383).
const ENCRYPTED: [u8; 2] = [46, 53];

fn main() {
    if let Err(e) = run() {
        eprintln!("fuzz_seeds: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [messages, decrypted] = args.as_slice() else {
        return Err("usage: fuzz_seeds MESSAGE_DIR DECRYPTED_DIR".into());
    };
    let (messages, decrypted) = (PathBuf::from(messages), PathBuf::from(decrypted));
    for d in [&messages, &decrypted] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let west_addr: SocketAddr = SocketAddr::from(([192, 0, 2, 1], 500));
    let east_addr: SocketAddr = SocketAddr::from(([192, 0, 2, 2], 500));
    let psk = Authentication::Psk(Secret::from_slice(b"fuzz-seed-psk-0123456789"));
    let mut w = Connection::new("seed", west_addr, Some(east_addr), psk.clone());
    w.local_id = Some(Identity::Fqdn("west.example".into()));
    w.remote_id = Some(Identity::Fqdn("east.example".into()));
    let mut e = Connection::new("seed", east_addr, Some(west_addr), psk);
    e.local_id = Some(Identity::Fqdn("east.example".into()));
    e.remote_id = Some(Identity::Fqdn("west.example".into()));
    let mut west = Engine::new(EngineConfig::default(), Box::new(TestRandom::new(1)));
    let mut east = Engine::new(EngineConfig::default(), Box::new(TestRandom::new(2)));
    let conn = west.add_connection(w).map_err(|e| e.to_string())?;
    east.add_connection(e).map_err(|e| e.to_string())?;
    let now = Instant::now();
    let mut saved = Vec::new();

    west.initiate(now, conn).map_err(|e| e.to_string())?;
    let events = shuttle(&mut west, &mut east, now, &mut saved);
    let ike_sa = events.iter().find_map(|e| match e {
        Event::IkeSaUp(i) => Some(i.ike_sa),
        _ => None,
    });
    let child = events.iter().find_map(|e| match e {
        Event::ChildSaUp(c) => Some(c.child),
        _ => None,
    });
    let (Some(ike_sa), Some(child)) = (ike_sa, child) else {
        return Err("the in-memory negotiation did not complete".into());
    };
    west.rekey(now, Target::ChildSa(child))
        .map_err(|e| e.to_string())?;
    shuttle(&mut west, &mut east, now, &mut saved);
    west.rekey(now, Target::IkeSa(ike_sa))
        .map_err(|e| e.to_string())?;
    let events = shuttle(&mut west, &mut east, now, &mut saved);
    if let Some(new) = events.iter().find_map(|e| match e {
        Event::IkeSaRekeyed { new, .. } => Some(new.ike_sa),
        _ => None,
    }) {
        west.terminate(now, Target::IkeSa(new))
            .map_err(|e| e.to_string())?;
        shuttle(&mut west, &mut east, now, &mut saved);
    }

    for (i, msg) in saved.iter().enumerate() {
        write(&messages, i, msg)?;
        let first = msg.get(NEXT_PAYLOAD).copied();
        if let (Some(first), Some(chain)) = (first, msg.get(HEADER_LEN..)) {
            if !ENCRYPTED.contains(&first) {
                let mut seed = vec![first];
                seed.extend_from_slice(chain);
                write(&decrypted, i, &seed)?;
            }
        }
    }
    println!(
        "fuzz_seeds: {} messages in {}",
        saved.len(),
        messages.display()
    );
    Ok(())
}

fn write(dir: &Path, i: usize, bytes: &[u8]) -> Result<(), String> {
    let p = dir.join(format!("engine-{i:02}"));
    std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))
}

/// Delivers datagrams both ways until none are left; saves each one
/// (without the non-ESP marker of port 4500) and returns the events.
fn shuttle(a: &mut Engine, b: &mut Engine, now: Instant, saved: &mut Vec<Vec<u8>>) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            saved.push(strip_marker(&t.payload, t.local.port()));
            b.handle_datagram(now, t.remote, t.local, &t.payload);
            moved = true;
        }
        while let Some(t) = b.poll_transmit() {
            saved.push(strip_marker(&t.payload, t.local.port()));
            a.handle_datagram(now, t.remote, t.local, &t.payload);
            moved = true;
        }
        while let Some(e) = a.poll_event() {
            events.push(e);
        }
        while let Some(e) = b.poll_event() {
            drop(e);
        }
        if !moved {
            return events;
        }
    }
}

fn strip_marker(payload: &[u8], port: u16) -> Vec<u8> {
    match payload.strip_prefix(&[0, 0, 0, 0]) {
        Some(rest) if port == 4500 => rest.to_vec(),
        _ => payload.to_vec(),
    }
}
