//! Libreswan's per-connection checks: each failure names file and line and
//! leaves the other connections loaded.

use std::net::IpAddr;
use std::path::Path;

use conf::*;

fn load(body: &str) -> Config {
    let text = format!("conn %default\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\n{body}");
    Config::parse_str(&text, Path::new("t.conf"), &LoadOptions::default()).unwrap()
}

fn err(c: &Config, name: &str) -> String {
    match c.conn_error(name) {
        Some(e) => e.to_string(),
        None => panic!("conn {name} loaded: {:?}", c.conn(name)),
    }
}

#[test]
fn families() {
    let c = load(
        "conn ok\n\tleftsubnet=10.0.0.0/8\n\trightsubnet=10.1.0.0/16\n\
         conn bad\n\tleftsubnet=10.0.0.0/8\n\trightsubnet=2001:db8::/32\n\
         conn bad-host\n\tleftsubnet=2001:db8::/32\n\
         conn bad-hosts\n\tright=2001:db8::2\n\
         conn sixinfour\n\tleftsubnet=2001:db8:1::/48\n\trightsubnet=2001:db8:2::/48\n",
    );
    assert!(c.conn("ok").is_some() && c.conn("sixinfour").is_some());
    assert!(err(&c, "bad").contains(
        "address family of leftsubnet=10.0.0.0/8 conflicts with rightsubnet=2001:db8::/32"
    ));
    assert!(err(&c, "bad-host").contains("conflicts with right=192.0.2.2"));
    assert!(err(&c, "bad-hosts")
        .contains("host address family IPv4 from left=192.0.2.1 conflicts with right=2001:db8::2"));
    assert!(err(&c, "bad").starts_with("t.conf:"));
}

#[test]
fn sourceip_and_pools() {
    let c = load(
        "conn in\n\tleftsubnet=10.0.0.0/24\n\tleftsourceip=10.0.0.1\n\
         conn out\n\tleftsubnet=10.0.0.0/24\n\tleftsourceip=10.9.0.1\n\
         conn two4\n\tleftsourceip=192.0.2.1,192.0.2.9\n\
         conn pool\n\trightaddresspool=10.5.0.0/24\n\
         conn pool-zero\n\trightaddresspool=0.0.0.0/24\n\
         conn pool-empty\n\trightaddresspool=10.5.0.0/24,\n\
         conn pool-subnet\n\trightaddresspool=10.5.0.0/24\n\trightsubnet=10.5.0.0/24\n\
         conn pool-narrowing\n\trightaddresspool=10.5.0.0/24\n\tnarrowing=no\n\
         conn selector\n\tleftsubnet=10.0.0.1/32/tcp/22\n",
    );
    assert!(c.conn("in").is_some() && c.conn("pool").is_some());
    // IKEv2 narrows by default when an end hands out addresses
    assert!(c.conn("pool").unwrap().narrowing && !c.conn("in").unwrap().narrowing);
    assert!(err(&c, "out").contains("address 10.9.0.1 is not within leftsubnet=10.0.0.0/24"));
    assert!(err(&c, "two4").contains("multiple IPv4 addresses"));
    assert!(err(&c, "pool-zero").contains("starts at address zero"));
    assert!(err(&c, "pool-empty").contains("empty field"));
    assert!(
        err(&c, "pool-subnet").contains("cannot specify both rightaddresspool= and rightsubnet=")
    );
    assert!(err(&c, "pool-narrowing").contains("narrowing=no conflicts"));
    let sel = &c.conn("selector").unwrap().left.selectors[0];
    assert_eq!(sel.to_string(), "10.0.0.1/32/tcp/22");
}

#[test]
fn proposals_auth_and_modes() {
    let c = load(
        "conn both\n\tesp=aes\n\tah=sha1\n\
         conn v1-ecdsa\n\tkeyexchange=ikev1\n\tauthby=ecdsa\n\
         conn ecdsa-sha1\n\tauthby=ecdsa-sha1\n\
         conn v1-label\n\tkeyexchange=ikev1\n\tsec-label=system_u:object_r:ipsec_spd_t:s0\n\
         conn iptfs-transport\n\ttype=transport\n\tiptfs=yes\n\
         conn fromcert-psk\n\tauthby=secret\n\tleftid=%fromcert\n\
         conn vhost\n\tleftsubnet=vhost:%priv,%no\n\
         conn vhost-bad\n\tleftsubnet=vhost:%bogus\n\
         conn bare-id\n\tleftid=foo\n\
         conn pass\n\ttype=passthrough\n\tesp=aes\n\tah=sha1\n",
    );
    assert!(err(&c, "both").contains("conflicts with ah="));
    assert!(err(&c, "v1-ecdsa").contains("not valid for IKEv1"));
    assert!(err(&c, "ecdsa-sha1").contains("cannot use sha1"));
    assert!(err(&c, "v1-label").contains("IKEv1 does not support Labeled IPsec"));
    assert!(err(&c, "iptfs-transport").contains("IPTFS is not compatible with type=transport"));
    assert!(err(&c, "fromcert-psk").contains("%fromcert"));
    assert!(c.conn("vhost").is_some());
    assert!(err(&c, "vhost-bad").contains("vhost:%bogus"));
    assert!(err(&c, "bare-id").contains("write @foo"));
    assert_eq!(c.conn("pass").unwrap().conn_type, ConnType::Passthrough);
}

#[test]
fn add_time_checks_and_orientation() {
    let text = "conn template\n\tright=192.0.2.2\n\
                conn any-any\n\tleft=%any\n\tright=%any\n\
                conn iface\n\tleft=%no-such-interface0\n\tright=192.0.2.2\n\
                conn dr\n\tleft=%defaultroute\n\tright=192.0.2.2\n\
                conn far\n\tleft=198.51.100.1\n\tright=198.51.100.2\n\
                conn both\n\tleft=192.0.2.1\n\tright=192.0.2.1\n";
    let c = Config::parse_str(text, Path::new("t.conf"), &LoadOptions::default()).unwrap();
    assert!(c.failed.is_empty(), "{:?}", c.failed);
    let local: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
    let t = c.conn("template").unwrap();
    assert_eq!(t.left.host, HostAddr::Unset);
    assert!(t
        .check_add()
        .unwrap_err()
        .to_string()
        .contains("left= is not set"));
    assert!(c
        .conn("any-any")
        .unwrap()
        .check_add()
        .unwrap_err()
        .to_string()
        .contains("neither 'left=%any' nor 'right=%any'"));
    assert!(c
        .conn("iface")
        .unwrap()
        .check_add()
        .unwrap_err()
        .to_string()
        .contains("does not appear to be an interface"));
    assert_eq!(
        c.conn("dr").unwrap().orient(&local).unwrap(),
        Orientation::LeftIsLocal
    );
    assert!(matches!(
        c.conn("far").unwrap().orient(&local),
        Err(ConfError::Unoriented(_))
    ));
    assert!(matches!(
        c.conn("both").unwrap().orient(&local),
        Err(ConfError::Conn(_))
    ));
}

#[test]
fn secrets_file_with_include_and_errors() {
    let dir = std::env::temp_dir().join(format!("conf-secrets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(
        dir.join("d/peer.secrets"),
        "@west @east : PSK \"included-secret\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ipsec.secrets"),
        ": PSK \"default-secret\"\ninclude d/*.secrets\n",
    )
    .unwrap();
    let s = Secrets::load(&dir.join("ipsec.secrets"), &LoadOptions::default()).unwrap();
    let (w, e) = (Id::Fqdn("west".into()), Id::Fqdn("east".into()));
    assert_eq!(
        s.psk(&w, &e).unwrap().unwrap().as_bytes(),
        b"included-secret"
    );
    assert_eq!(
        s.psk(&w, &Id::Fqdn("x".into()))
            .unwrap()
            .unwrap()
            .as_bytes(),
        b"default-secret"
    );
    std::fs::write(dir.join("d/bad.secrets"), "@a @b : PSK 0xZZ\n").unwrap();
    let err = Secrets::load(&dir.join("ipsec.secrets"), &LoadOptions::default()).unwrap_err();
    let d = err.diagnostic().unwrap();
    assert!(d.file.ends_with("d/bad.secrets") && d.line == 1, "{err}");
    let missing = Secrets::load(&dir.join("nope"), &LoadOptions::default()).unwrap_err();
    assert!(missing.to_string().contains("nope"));
    std::fs::remove_dir_all(&dir).unwrap();
}
