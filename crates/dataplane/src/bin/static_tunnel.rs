//! `ferroswan-dataplane-static`: runs the userspace data plane with one
//! statically keyed tunnel, without IKE. For tests and benchmarks in network
//! namespaces (`ip netns exec NS ferroswan-dataplane-static ...`).
//!
//! Prints `ready` once the tunnel is installed, runs until its standard
//! input closes, then prints the SA and data plane counters.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use dataplane::{
    Encapsulation, IpNet, Kernel, Mode, Policy, PolicyAction, PolicyId, SaId, SaPair, UdpSource,
    Userspace, UserspaceConfig,
};
use esp::{AesKeySize, Integrity, Lifetime, SaKeys, SaParams, Transform};

const USAGE: &str = "usage: ferroswan-dataplane-static --tun NAME --tun-addr ADDR/PREFIX --local IP --remote IP
  --local-net NET --remote-net NET --spi-in HEX --spi-out HEX --key-in HEX --key-out HEX
  [--integ-in HEX --integ-out HEX] [--cipher aes-gcm-128|aes-gcm-256|chacha20-poly1305|aes-cbc-256-sha256]
  [--port 4500] [--remote-port 4500] [--raw] [--mtu 1400] [--esn] [--replay-window 128] [--no-offload] [--transport]";

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("{s}: odd number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)
                .map_err(|_| format!("{s}: not hex"))
        })
        .collect()
}

fn parse_spi(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|_| format!("{s}: not a hex SPI"))
}

fn run() -> Result<(), String> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let key = a
            .strip_prefix("--")
            .ok_or(format!("unexpected argument {a}\n{USAGE}"))?;
        match key {
            "raw" | "esn" | "no-offload" | "transport" => {
                args.insert(key.to_string(), String::new());
            }
            _ => {
                let v = it.next().ok_or(format!("--{key} needs a value\n{USAGE}"))?;
                args.insert(key.to_string(), v);
            }
        }
    }
    let get = |k: &str| {
        args.get(k)
            .cloned()
            .ok_or(format!("missing --{k}\n{USAGE}"))
    };
    let ip = |k: &str| -> Result<IpAddr, String> {
        get(k)?
            .parse()
            .map_err(|_| format!("--{k}: not an IP address"))
    };
    let net =
        |k: &str| -> Result<IpNet, String> { get(k)?.parse().map_err(|e| format!("--{k}: {e}")) };
    let port = |k: &str| -> Result<u16, String> {
        args.get(k).map_or(Ok(4500), |v| {
            v.parse().map_err(|_| format!("--{k}: not a port"))
        })
    };

    let cipher = args.get("cipher").map_or("aes-gcm-256", |s| s.as_str());
    let transform = match cipher {
        "aes-gcm-128" => Transform::aes_gcm16(AesKeySize::Aes128),
        "aes-gcm-256" => Transform::aes_gcm16(AesKeySize::Aes256),
        "chacha20-poly1305" => Transform::chacha20_poly1305(),
        "aes-cbc-256-sha256" => Transform::aes_cbc(AesKeySize::Aes256, Integrity::HmacSha2_256_128),
        other => return Err(format!("unknown --cipher {other}")),
    };
    let keys = |enc: &str, integ: &str| -> Result<SaKeys, String> {
        let e = parse_hex(&get(enc)?)?;
        Ok(match transform.integrity {
            None => SaKeys::aead(&e),
            Some(_) => SaKeys::cipher_integrity(&e, &parse_hex(&get(integ)?)?),
        })
    };
    let esn = args.contains_key("esn");
    let replay_window = args.get("replay-window").map_or(Ok(128), |v| {
        v.parse()
            .map_err(|_| "--replay-window: not a number".to_string())
    })?;
    let raw = args.contains_key("raw");
    let mtu = args.get("mtu").map_or(Ok(1400), |v| {
        v.parse().map_err(|_| "--mtu: not a number".to_string())
    })?;
    let local = ip("local")?;
    let local_port = port("port")?;

    let mut config = UserspaceConfig::new(&get("tun")?);
    config.mtu = mtu;
    config.tun_addresses = vec![net("tun-addr")?];
    config.raw_esp = raw;
    config.offload = !args.contains_key("no-offload");
    config.udp = if raw {
        UdpSource::Disabled
    } else {
        UdpSource::Bind(SocketAddr::new(local, local_port))
    };
    let mut dp = Userspace::new(config).map_err(|e| e.to_string())?;

    let tun_addr = net("tun-addr")?.addr();
    let transport = args.contains_key("transport");
    let pair = SaPair {
        id: SaId(1),
        outbound: SaParams {
            spi: parse_spi(&get("spi-out")?)?,
            transform,
            keys: keys("key-out", "integ-out")?,
            esn,
            replay_window,
            lifetime: Lifetime::default(),
        },
        inbound: SaParams {
            spi: parse_spi(&get("spi-in")?)?,
            transform,
            keys: keys("key-in", "integ-in")?,
            esn,
            replay_window,
            lifetime: Lifetime::default(),
        },
        mode: if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        },
        local,
        remote: ip("remote")?,
        encapsulation: if raw {
            Encapsulation::None
        } else {
            Encapsulation::Udp {
                local_port,
                remote_port: port("remote-port")?,
            }
        },
        local_ts: vec![dataplane::Selector::from(net("local-net")?)],
        remote_ts: vec![dataplane::Selector::from(net("remote-net")?)],
    };
    dp.install_sa_pair(pair).map_err(|e| e.to_string())?;
    dp.install_policy(Policy {
        id: PolicyId(1),
        local: net("local-net")?,
        remote: net("remote-net")?,
        action: PolicyAction::Protect(SaId(1)),
        // Transport mode protects the hosts' own addresses: the route keeps them.
        route_source: Some(if transport { local } else { tun_addr }),
        route_via: None,
        protoport: dataplane::ProtoPort::ANY,
    })
    .map_err(|e| e.to_string())?;

    let stdout = std::io::stdout();
    writeln!(stdout.lock(), "ready tun={}", dp.tun_name()).map_err(|e| e.to_string())?;
    stdout.lock().flush().map_err(|e| e.to_string())?;

    // Run until standard input closes.
    let mut line = String::new();
    let stdin = std::io::stdin();
    while stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?
        > 0
    {
        line.clear();
    }
    let c = dp.counters(SaId(1)).map_err(|e| e.to_string())?;
    let s = dp.stats().map_err(|e| e.to_string())?;
    println!(
        "counters out_packets={} out_bytes={} in_packets={} in_bytes={} replay_errors={} auth_errors={} decode_errors={}",
        c.outbound.packets,
        c.outbound.bytes,
        c.inbound.packets,
        c.inbound.bytes,
        c.inbound.replay_errors,
        c.inbound.auth_errors,
        c.inbound.decode_errors
    );
    println!("stats {s:?}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferroswan-dataplane-static: {e}");
            ExitCode::FAILURE
        }
    }
}
