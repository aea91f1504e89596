//! The harness itself works on this machine: two namespaces, a charon in
//! each, and an IKEv2 tunnel between them that carries a ping. If this fails,
//! every interop test would fail for reasons that are not ferroswan's.

use std::time::Duration;
use testkit::{skip_unless_root, wait_until, Charon, CharonConn, NetPair};

#[test]
fn strongswan_pair_carries_a_ping() {
    if skip_unless_root("strongswan_pair_carries_a_ping") {
        return;
    }
    assert!(
        Charon::available(),
        "charon/swanctl not installed (scripts/install-deps)"
    );
    let net = NetPair::new().expect("namespaces");
    let (w, e) = (net.west_addr.to_string(), net.east_addr.to_string());
    let mut wc = CharonConn::psk("t", &w, &e, "west@test", "east@test");
    wc.local_ts = format!("{}/32", net.west_inner);
    wc.remote_ts = format!("{}/32", net.east_inner);
    let mut ec = CharonConn::psk("t", &e, &w, "east@test", "west@test");
    ec.local_ts = wc.remote_ts.clone();
    ec.remote_ts = wc.local_ts.clone();
    let psk = "harness-psk-0123456789";
    let west = Charon::start(&net.west, &[wc], psk).expect("west charon");
    let east = Charon::start(&net.east, &[ec], psk).expect("east charon");
    west.swanctl(&["--initiate", "--child", "t", "--timeout", "20"])
        .unwrap_or_else(|e| panic!("{e}\n{}", west.log()));
    assert!(
        east.list_sas().contains("ESTABLISHED"),
        "{}",
        east.list_sas()
    );
    let target = net.east_inner.to_string();
    let src = net.west_inner.to_string();
    wait_until(Duration::from_secs(10), "ping through the tunnel", || {
        net.west
            .exec(&["ping", "-c1", "-W1", "-I", &src, &target])
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
    .unwrap();
    let sas = east.list_sas();
    assert!(sas.contains("INSTALLED"), "{sas}");
}
