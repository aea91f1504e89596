//! The daemon's readiness contract: when its control socket appears, the
//! IKE sockets are already bound, so a peer's first IKE_SA_INIT sent right
//! after is answered (strongSwan's otherwise waited a 1 s retransmission).
//!
//! Needs root (a network namespace); skipped with a message elsewhere.

mod common;

use std::net::UdpSocket;

use common::{can_run, Daemon};
use testkit::NetPair;

const CONF: &str = "config setup\n\tprotostack=userspace\n\tlogtime=no\n\n\
    conn tun\n\tleft=192.0.2.1\n\tleftid=@west\n\tleftsubnet=10.1.0.0/16\n\
    \tright=192.0.2.2\n\trightid=@east\n\trightsubnet=10.2.0.0/16\n\
    \tauthby=secret\n\tauto=add\n";

#[test]
fn ike_port_is_bound_when_the_control_socket_appears() {
    if !can_run("ike_port_is_bound_when_the_control_socket_appears") {
        return;
    }
    let net = NetPair::new().expect("namespaces");
    for _ in 0..3 {
        // Returns as soon as the control socket exists.
        let daemon = Daemon::start(&net.west, CONF, "@west @east : PSK \"startup test\"\n");
        let bind = std::thread::scope(|s| {
            s.spawn(|| -> Result<(), String> {
                net.west.enter_current_thread()?;
                UdpSocket::bind("192.0.2.1:500")
                    .map(drop)
                    .map_err(|e| format!("{:?}", e.kind()))
            })
            .join()
            .expect("bind thread")
        });
        assert_eq!(
            bind,
            Err("AddrInUse".to_string()),
            "UDP 192.0.2.1:500 was free when the control socket appeared\n{}",
            daemon.log()
        );
        // The connection is loaded too.
        assert!(daemon.status().contains("\"tun\": 10.1.0.0/16==="));
    }
}
