//! Fuzzes the ipsec.conf parser: any input either loads or fails with an
//! error naming a file; a loaded configuration prints and parses back to
//! the same connections.
#![no_main]

use std::path::Path;

use conf::{Config, LoadOptions};
use libfuzzer_sys::fuzz_target;

/// A directory that does not exist, so `include` never reaches real files.
const JAIL: &str = "/nonexistent-ferroswan-fuzz";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = LoadOptions {
        rootdir: Some(JAIL.into()),
        local_addrs: vec![std::net::Ipv4Addr::new(192, 0, 2, 1).into()],
    };
    let name = Path::new(JAIL).join("ipsec.conf");
    match Config::parse_str(text, &name, &opts) {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok(c) => {
            for conn in &c.conns {
                let _ = conn.orient(&opts.local_addrs);
            }
            let printed = c.to_ipsec_conf();
            let again = match Config::parse_str(&printed, &name, &opts) {
                Ok(a) => a,
                Err(e) => panic!("printed configuration does not parse: {e}\n{printed}"),
            };
            assert_eq!(c.conns.len(), again.conns.len(), "{printed}");
            for (a, b) in c.conns.iter().zip(&again.conns) {
                assert_eq!(a.raw, b.raw, "{printed}");
                assert_eq!(a.left, b.left);
                assert_eq!(a.right, b.right);
            }
        }
    }
});
