//! Fuzzes the ipsec.secrets parser and the PSK lookup.
#![no_main]

use std::path::Path;

use conf::{Id, LoadOptions, Secrets};
use libfuzzer_sys::fuzz_target;

/// A directory that does not exist, so `include` never reaches real files.
const JAIL: &str = "/nonexistent-ferroswan-fuzz";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = LoadOptions {
        rootdir: Some(JAIL.into()),
        local_addrs: Vec::new(),
    };
    let name = Path::new(JAIL).join("ipsec.secrets");
    match Secrets::parse_str(text, &name, &opts) {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok(s) => {
            let ids = [
                Id::Fqdn("west".into()),
                Id::Fqdn("east".into()),
                Id::Ipv4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
                Id::Any,
            ];
            for a in &ids {
                for b in &ids {
                    let _ = s.psk(a, b);
                }
            }
            for r in s.records() {
                // Debug output must never contain the secret bytes
                let _ = format!("{r:?}");
            }
        }
    }
});
