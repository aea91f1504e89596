//! Loading ipsec.conf: sections, %default, also=, include, diagnostics.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conf::*;

fn load(text: &str) -> Result<Config, ConfError> {
    Config::parse_str(text, Path::new("/etc/ipsec.conf"), &LoadOptions::default())
}

const BASIC: &str = "\
version 2

config setup
\tlogfile=/tmp/pluto.log
\tlogtime=no
\tplutodebug=\"all,crypt\"
\tuniqueids=yes

conn %default
\tikelifetime=1h
\tesp=aes-sha1

conn base
\tleft=192.0.2.1
\tleftid=@west
\tleftsubnet=10.1.0.0/16
\tright=192.0.2.2
\trightid=@east
\trightsubnet=10.2.0.0/16

conn west-east
\talso=base
\tauthby=secret
\tauto=start
\tike=aes_gcm256-sha2_512;dh19
\tconnalias=we
\tLeft-NextHop=192.0.2.254
";

#[test]
fn basic_config_resolves() {
    let c = load(BASIC).unwrap();
    assert_eq!(c.setup.logfile, Some(PathBuf::from("/tmp/pluto.log")));
    assert!(!c.setup.logtime);
    assert_eq!(
        c.setup.plutodebug,
        vec!["all".to_string(), "crypt".to_string()]
    );
    assert_eq!(c.conns.len(), 2);
    let we = c.conn("west-east").unwrap();
    assert_eq!(c.conn("we").unwrap().name, "west-east");
    assert_eq!(we.auto, Auto::Start);
    assert_eq!(we.authby, vec![AuthBy::Psk]);
    assert_eq!(we.left.host, HostAddr::Addr("192.0.2.1".parse().unwrap()));
    assert_eq!(we.left.id, Some(Id::Fqdn("west".into())));
    assert_eq!(we.left.subnets[0].to_string(), "10.1.0.0/16");
    assert_eq!(
        we.left.nexthop,
        Some(HostAddr::Addr("192.0.2.254".parse().unwrap()))
    );
    assert_eq!(we.ikelifetime, Duration::from_secs(3600));
    assert_eq!(we.salifetime, Duration::from_secs(8 * 3600));
    assert_eq!(
        we.ike.as_ref().unwrap().to_string(),
        "aes_gcm256-sha2_512;dh19"
    );
    assert_eq!(we.esp.as_ref().unwrap().to_string(), "aes-sha1");
    assert_eq!(we.ike_version, IkeVersion::V2);
    // Libreswan 5.4's defaults for what the file leaves unset
    assert_eq!(we.esn, Esn::Either);
    assert_eq!(we.retransmit_timeout, Duration::from_secs(30));
    assert_eq!(we.retransmit_interval, Duration::from_millis(500));
    assert_eq!(we.rekeymargin, Duration::from_secs(540));
    assert_eq!(we.rekeyfuzz_percent, 100);
    assert_eq!(we.replay_window, 128);
    assert_eq!(
        (we.failureshunt, we.negotiationshunt),
        (Shunt::None, Shunt::Drop)
    );
    assert_eq!(
        (we.encapsulation, we.fragmentation),
        (Encapsulation::Auto, Fragmentation::Yes)
    );
    assert!(
        we.pfs && we.nat_keepalive && we.rekey && !we.reauth && !we.compress && !we.initial_contact
    );
    assert_eq!(we.sendca, "all");
    assert_eq!(we.dpddelay, None);
    assert_eq!(we.line, 21);
    assert_eq!(
        we.raw.get("leftnexthop").map(String::as_str),
        Some("192.0.2.254")
    );
    let local: IpAddr = "192.0.2.2".parse().unwrap();
    assert_eq!(we.orient(&[local]).unwrap(), Orientation::RightIsLocal);
    assert!(we.orient(&[]).is_err());
}

#[test]
fn unknown_keyword_names_file_line_keyword() {
    let e = load("conn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tbogus=1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/ipsec.conf:4: unrecognized 'conn' keyword 'bogus'"
    );
    let d = e.diagnostic().unwrap();
    assert_eq!(
        (d.line, d.file.as_path()),
        (4, Path::new("/etc/ipsec.conf"))
    );
    let e = load("config setup\n\tunknown=1\n").unwrap_err();
    assert!(e
        .to_string()
        .contains(":2: unrecognized 'config setup' keyword 'unknown'"));
    let e = load("conn a\n\tsubnet=10.0.0.0/8\n").unwrap_err();
    assert!(e
        .to_string()
        .contains("requires \"left\" or \"right\" prefix"));
}

#[test]
fn obsolete_duplicate_and_x_keys_warn() {
    let c = load("conn a\n\tleft=192.0.2.1\n\tleft=192.0.2.9\n\tright=192.0.2.2\n\tdpdaction=clear\n\tx-foo=bar\n").unwrap();
    let msgs: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        msgs.iter()
            .any(|m| m == "/etc/ipsec.conf:3: ignoring duplicate conn keyword: left=192.0.2.9"),
        "{msgs:?}"
    );
    assert!(msgs
        .iter()
        .any(|m| m.contains(":5: obsolete keyword ignored: dpdaction=clear")));
    assert!(msgs
        .iter()
        .any(|m| m.contains(":6: X- style comment ignored")));
    assert_eq!(
        c.conns[0].left.host,
        HostAddr::Addr("192.0.2.1".parse().unwrap())
    );
}

#[test]
fn also_conflicts_and_loops_fail_the_conn() {
    let c = load(
        "conn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\nconn b\n\talso=a\n\tleft=192.0.2.3\n\nconn l1\n\talso=l2\n\tleft=192.0.2.1\n\tright=192.0.2.2\nconn l2\n\talso=l1\n\nconn c\n\talso=missing\n",
    )
    .unwrap();
    assert!(c.conn("a").is_some());
    let b = c.conn_error("b").unwrap().to_string();
    assert!(
        b.starts_with("/etc/ipsec.conf:2:") || b.starts_with("/etc/ipsec.conf:7:"),
        "{b}"
    );
    assert!(b.contains("conflicts"), "{b}");
    assert!(c.conn_error("l1").unwrap().to_string().contains("loop"));
    assert!(c
        .conn_error("c")
        .unwrap()
        .to_string()
        .contains("cannot find conn 'missing'"));
}

#[test]
fn deep_also_chains_are_bounded() {
    let mut t = String::from("conn c0\n\tleft=192.0.2.1\n\tright=192.0.2.2\n");
    for i in 1..5000 {
        t.push_str(&format!("conn c{i}\n\talso=c{}\n", i - 1));
    }
    let c = load(&t).unwrap();
    assert!(c.conn("c10").is_some());
    assert!(c
        .conn_error("c4999")
        .unwrap()
        .to_string()
        .contains("nests deeper than 64"));
}

#[test]
fn also_diamond_is_inserted_once() {
    let c = load(
        "conn d\n\tleft=192.0.2.1\n\tright=192.0.2.2\nconn b1\n\talso=d\nconn b2\n\talso=d\nconn top\n\talso=b1\n\talso=b2\n",
    )
    .unwrap();
    assert!(c.failed.is_empty(), "{:?}", c.failed);
    assert_eq!(c.conns.len(), 4);
}

#[test]
fn default_sections_accumulate_and_conn_overrides() {
    let c = load(
        "conn %default\n\tikelifetime=2h\nconn %default\n\trekey=no\nconn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tikelifetime=3h\n",
    )
    .unwrap();
    let a = c.conn("a").unwrap();
    assert_eq!(a.ikelifetime, Duration::from_secs(3 * 3600));
    assert!(!a.rekey);
}

#[test]
fn list_keywords_accumulate_across_default_and_also() {
    let c = load(
        "conn %default\n\tconnalias=d1\nconn base\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tconnalias=b1\nconn a\n\talso=base\n\tconnalias=a1\n\tconnalias=a2\n",
    )
    .unwrap();
    assert_eq!(c.conn("a").unwrap().aliases, vec!["d1", "b1", "a1", "a2"]);
    assert_eq!(c.conn("a2").unwrap().name, "a");
}

#[test]
fn include_is_relative_and_bounded() {
    let dir = std::env::temp_dir().join(format!("conf-include-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(
        dir.join("d/a.conf"),
        "conn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n",
    )
    .unwrap();
    std::fs::write(dir.join("d/b.conf"), "conn b\n\talso=a\n").unwrap();
    std::fs::write(
        dir.join("ipsec.conf"),
        "config setup\n\tlogtime=no\ninclude d/*.conf\ninclude self.conf\n",
    )
    .unwrap();
    std::fs::write(dir.join("self.conf"), "include self.conf\n").unwrap();
    let c = Config::load(&dir.join("ipsec.conf"), &LoadOptions::default()).unwrap();
    assert_eq!(
        c.conns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    assert!(c
        .warnings
        .iter()
        .any(|w| w.message.contains("max inclusion depth of 10")));
    // absolute includes go under rootdir
    std::fs::write(dir.join("abs.conf"), "include /d/a.conf\n").unwrap();
    let opts = LoadOptions {
        rootdir: Some(dir.clone()),
        ..Default::default()
    };
    let c = Config::load(&dir.join("abs.conf"), &opts).unwrap();
    assert_eq!(c.conns.len(), 1);
    // an unknown keyword in an included file fails the whole load, naming that file
    std::fs::write(dir.join("d/c.conf"), "conn c\n\tnope=1\n").unwrap();
    let e = Config::load(&dir.join("ipsec.conf"), &LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("c.conf:2: unrecognized 'conn' keyword 'nope'"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_values_fail_only_their_conn() {
    let c = load(
        "conn good\n\tleft=192.0.2.1\n\tright=192.0.2.2\nconn bad\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\trekeymargin=0xA\nconn badalg\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tike=aes-sha9\n",
    )
    .unwrap();
    assert_eq!(c.conns.len(), 1);
    let e = c.conn_error("bad").unwrap().to_string();
    assert!(
        e.starts_with("/etc/ipsec.conf:7:") && e.contains("xA"),
        "{e}"
    );
    let e = c.conn_error("badalg").unwrap().to_string();
    assert!(e.contains(":11:") && e.contains("sha9"), "{e}");
}

#[test]
fn keyexchange_and_ikev2() {
    let c = load(
        "conn %default\n\tleft=192.0.2.1\n\tright=192.0.2.2\nconn a\n\tkeyexchange=ikev1\nconn b\n\tikev2=no\nconn c\n\tkeyexchange=ike\n\tikev2=yes\nconn d\n",
    )
    .unwrap();
    let v: Vec<IkeVersion> = c.conns.iter().map(|c| c.ike_version).collect();
    assert_eq!(
        v,
        vec![
            IkeVersion::V1,
            IkeVersion::V1,
            IkeVersion::V2,
            IkeVersion::V2
        ]
    );
}

#[test]
fn print_and_parse_again() {
    let c = load(BASIC).unwrap();
    let text = c.to_ipsec_conf();
    let d = load(&text).unwrap();
    assert_eq!(c.conns.len(), d.conns.len());
    for (a, b) in c.conns.iter().zip(&d.conns) {
        let mut b = b.clone();
        b.file = a.file.clone();
        b.line = a.line;
        assert_eq!(a, &b);
    }
}
