//! Property: a loaded configuration printed with `to_ipsec_conf` and parsed
//! again gives the same connections.

use std::fmt::Write;
use std::path::Path;

use conf::{Config, ConnSpec, LoadOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct GenConn {
    v6: bool,
    keys: Vec<(String, String)>,
    use_base: bool,
}

fn addr(v6: bool, n: u16) -> String {
    if v6 {
        format!("2001:db8:{n:x}::1")
    } else {
        format!("192.0.2.{}", n % 250 + 1)
    }
}

fn subnet(v6: bool, n: u16) -> String {
    if v6 {
        format!("2001:db8:{n:x}::/48")
    } else {
        format!("10.{}.0.0/16", n % 250)
    }
}

fn host(v6: bool) -> impl Strategy<Value = String> {
    prop_oneof![
        (1u16..2000).prop_map(move |n| addr(v6, n)),
        Just(if v6 {
            "%any6".to_string()
        } else {
            "%any".to_string()
        }),
        Just(if v6 {
            "%defaultroute6".to_string()
        } else {
            "%defaultroute4".to_string()
        }),
        "[a-z]{1,8}\\.example".prop_map(|s| s),
    ]
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "@[a-z]{1,10}".prop_map(|s| s),
        "[a-z]{1,6}@[a-z]{1,6}\\.org".prop_map(|s| s),
        Just("%fromcert".to_string()),
        Just("\"C=CA, O=Libreswan, CN=west\"".to_string()),
        "@#[0-9a-f]{2,8}".prop_map(|s| if s.len() % 2 == 1 { format!("{s}0") } else { s }),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    (
        1u32..100,
        prop::sample::select(vec!["s", "m", "h", "d", "ms", ""]),
    )
        .prop_map(|(n, u)| format!("{n}{u}"))
}

fn yn() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["yes", "no"]).prop_map(str::to_string)
}

fn conn(v6: bool) -> impl Strategy<Value = GenConn> {
    let ike = prop::sample::select(vec![
        "aes_gcm256-sha2_512;dh19",
        "aes256-sha2_256-modp2048,aes128-sha1;modp1536",
        "aes;dh20;addke1=ml_kem_768",
        "chacha20_poly1305-sha2_512;dh31",
        "aes+3des-sha1+sha2;modp2048+dh19",
    ]);
    let esp = prop::sample::select(vec![
        "aes_gcm256",
        "aes-sha1,3des-md5",
        "aes128-sha2_256;modp2048",
        "null_auth_aes_gmac",
    ]);
    (
        (
            host(v6),
            host(v6),
            id(),
            id(),
            1u16..2000,
            1u16..2000,
            any::<bool>(),
        ),
        (
            prop::sample::select(vec![
                "ignore", "add", "ondemand", "route", "up", "start", "keep",
            ]),
            prop::sample::select(vec!["tunnel", "transport", "passthrough", "drop"]),
            prop::sample::select(vec!["secret", "rsasig", "ecdsa", "rsasig,ecdsa", "null"]),
            prop::option::of(ike),
            prop::option::of(esp),
            prop::sample::select(vec!["ikev2", "ikev1"]),
        ),
        (
            duration(),
            duration(),
            yn(),
            yn(),
            0u32..200,
            0u32..4096,
            prop::option::of("tcp/[0-9]{1,4}"),
        ),
        (any::<bool>(), prop::option::of("[a-z]{1,6}")),
    )
        .prop_map(
            move |(
                (l, r, lid, rid, ls, rs, with_subnets),
                (auto, ty, authby, ike, esp, kx),
                (ikel, sal, rekey, mobike, fuzz, rw, pp),
                (use_base, alias),
            )| {
                let mut keys = vec![
                    ("left".to_string(), l),
                    ("right".to_string(), r),
                    ("leftid".to_string(), lid),
                    ("rightid".to_string(), rid),
                    ("auto".to_string(), auto.to_string()),
                    ("type".to_string(), ty.to_string()),
                    ("authby".to_string(), authby.to_string()),
                    ("keyexchange".to_string(), kx.to_string()),
                    ("ikelifetime".to_string(), ikel),
                    ("salifetime".to_string(), sal),
                    ("rekey".to_string(), rekey),
                    ("mobike".to_string(), mobike),
                    ("rekeyfuzz".to_string(), format!("{fuzz}%")),
                    ("replay-window".to_string(), rw.to_string()),
                ];
                let authby = if kx == "ikev1" && !matches!(authby, "secret" | "rsasig") {
                    "rsasig"
                } else {
                    authby
                };
                if let Some(a) = keys.iter_mut().find(|(k, _)| k == "authby") {
                    a.1 = authby.to_string();
                }
                if authby == "secret" || authby == "null" {
                    keys.retain(|(k, v)| !(k.ends_with("id") && v == "%fromcert"));
                }
                if with_subnets {
                    keys.push(("leftsubnet".into(), subnet(v6, ls)));
                    keys.push(("rightsubnet".into(), subnet(v6, rs)));
                }
                if let Some(i) = ike {
                    keys.push(("ike".into(), i.to_string()));
                }
                if let Some(e) = esp {
                    keys.push(("esp".into(), e.to_string()));
                }
                if let Some(p) = pp {
                    keys.push(("leftprotoport".into(), p));
                }
                if let Some(a) = alias {
                    keys.push(("connalias".into(), a));
                }
                GenConn { v6, keys, use_base }
            },
        )
}

fn configs() -> impl Strategy<Value = Vec<GenConn>> {
    prop::collection::vec(any::<bool>().prop_flat_map(conn), 1..8)
}

fn render(conns: &[GenConn]) -> String {
    let mut t = String::from("config setup\n\tlogtime=no\n\nconn %default\n\tdpddelay=30s\n\n");
    for (i, c) in conns.iter().enumerate() {
        // part of the keys through also=, to exercise resolution
        if c.use_base {
            let _ = writeln!(t, "conn base{i}");
            for (k, v) in c.keys.iter().take(4) {
                let _ = writeln!(t, "\t{k}={v}");
            }
            let _ = writeln!(t, "\nconn c{i}\n\talso=base{i}");
            for (k, v) in c.keys.iter().skip(4) {
                let _ = writeln!(t, "\t{k}={v}");
            }
        } else {
            let _ = writeln!(t, "conn c{i}");
            for (k, v) in &c.keys {
                let _ = writeln!(t, "\t{k}={v}");
            }
        }
        let _ = writeln!(t, "\t# family {}", if c.v6 { 6 } else { 4 });
        t.push('\n');
    }
    t
}

fn normalized(c: &ConnSpec) -> ConnSpec {
    let mut c = c.clone();
    c.file = "x".into();
    c.line = 0;
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn print_then_parse_gives_same_conns(conns in configs()) {
        let text = render(&conns);
        let opts = LoadOptions::default();
        let a = Config::parse_str(&text, Path::new("gen.conf"), &opts).unwrap();
        prop_assert!(a.failed.is_empty(), "{:?}\n{text}", a.failed);
        let printed = a.to_ipsec_conf();
        let b = Config::parse_str(&printed, Path::new("printed.conf"), &opts).unwrap();
        prop_assert!(b.failed.is_empty(), "{:?}\n{printed}", b.failed);
        prop_assert_eq!(a.conns.len(), b.conns.len());
        for (x, y) in a.conns.iter().zip(&b.conns) {
            prop_assert_eq!(normalized(x), normalized(y));
        }
        prop_assert_eq!(&a.setup, &b.setup);
    }
}
