//! The daemon's side of TCP encapsulation (RFC 8229) for connections:
//! `enable-tcp=yes|fallback` and `tcp-remoteport=` applied to the engine's
//! connection, the move from UDP to TCP for `fallback`, failures to open a
//! stream, and ESP of Child SAs negotiated over TCP ([`crate::tcp`] owns
//! the streams).

use crate::daemon::Pluto;
use crate::tcp::{self, TcpEncap, TcpEvent};
use crate::wire::Timer;
use control::Rc;
use ike::engine::{ConnId, IkeSaId};
use ike::Target;
use std::time::Instant;

/// Makes the engine's connection run IKE over TCP when `enable-tcp=`
/// asks for it now: port 4500 on both ends (so IKE carries the non-ESP
/// marker from IKE_SA_INIT on) and the peer reached at `tcp-remoteport`
/// (4500) over a stream.
pub fn apply(tcp: &TcpEncap, spec: &conf::ConnSpec, conn: &mut ike::engine::Connection) {
    if !tcp::wants_tcp(spec, &tcp.fallen_back) {
        return;
    }
    conn.local_addr.set_port(tcp::TCP_PORT);
    if let Some(r) = conn.remote_addr.as_mut() {
        r.set_port(spec.tcp_remoteport.unwrap_or(tcp::TCP_PORT));
        tcp.add_peer(*r);
    }
}

/// Why a connection cannot run over TCP with this data plane.
pub fn xfrm_refusal(name: &str) -> String {
    format!(
        "\"{name}\": enable-tcp: TCP encapsulation (RFC 8229) needs the userspace data plane \
         in ferroswan; set protostack=userspace in config setup"
    )
}

impl Pluto {
    /// Whether connection `name` negotiates over TCP now.
    pub fn conn_wants_tcp(&self, name: &str) -> bool {
        self.db
            .get(name)
            .is_some_and(|c| tcp::wants_tcp(&c.spec, &self.wire.tcp.fallen_back))
    }

    /// Before `--up`: a `fallback` connection with no SA starts over UDP
    /// again.
    pub fn tcp_before_initiate(&mut self, name: &str) {
        let idle = self
            .wire
            .conn_ids
            .get(name)
            .is_none_or(|id| self.wire.engine.ike_sas_of(*id).is_empty());
        if idle && self.wire.tcp.fallen_back.remove(name) {
            self.forget_conn(name);
        }
    }

    /// After `--up` (with the data plane open): refuses TCP on XFRM.
    pub fn tcp_check_backend(&self, name: &str) -> Result<(), String> {
        let xfrm = self
            .wire
            .backend
            .as_ref()
            .is_some_and(|b| b.name() == "xfrm");
        if xfrm && self.conn_wants_tcp(name) {
            return Err(xfrm_refusal(name));
        }
        Ok(())
    }

    /// After an IKE SA was initiated: a `fallback` connection still on
    /// UDP gets a timer that moves it to TCP if UDP stays silent.
    pub fn tcp_after_initiate(&mut self, name: &str, conn: ConnId, sa: IkeSaId) {
        let fallback = self
            .db
            .get(name)
            .is_some_and(|c| c.spec.enable_tcp == "fallback");
        if !fallback || self.wire.tcp.fallen_back.contains(name) {
            return;
        }
        let budget = self
            .wire
            .engine
            .connection(conn)
            .map(|c| c.retransmit_timeout)
            .unwrap_or(tcp::FALLBACK_WAIT);
        let wait = tcp::FALLBACK_WAIT.min(budget);
        self.wire
            .schedule(Instant::now() + wait, Timer::TcpFallback(conn, sa));
    }

    /// The fallback timer: when IKE SA `sa` got no IKE_SA_INIT answer over
    /// UDP, the connection starts again over TCP; an `--up` waiting for
    /// `sa` waits for the new IKE SA.
    pub fn tcp_fallback(&mut self, conn: ConnId, sa: IkeSaId) {
        if !self.wire.engine.ike_sas_of(conn).contains(&sa) {
            return; // failed or deleted meanwhile
        }
        if self.wire.engine.ike_sa_keylog(sa).is_some() {
            return; // the peer answered over UDP
        }
        let Some(name) = self.wire.conn_names.get(&conn).cloned() else {
            return;
        };
        let line = format!(
            "\"{name}\" #{}: no answer to IKE_SA_INIT over UDP; retrying over TCP (enable-tcp=fallback)",
            sa.0
        );
        tracing::info!("{line}");
        if let Some(w) = self.wire.waiter_of(sa) {
            w.reply.log(line);
        }
        let key = self.wire.detach_waiter(sa);
        self.wire.tcp.fallen_back.insert(name.clone());
        if let Err(why) = self.tcp_check_backend(&name) {
            self.wire.tcp.fallen_back.remove(&name);
            if let Some(k) = key {
                self.wire.fail_waiter(k, why);
            }
            let _ = self
                .wire
                .engine
                .terminate(Instant::now(), Target::IkeSa(sa));
            self.pump();
            return;
        }
        self.forget_conn(&name);
        let started = self
            .engine_conn(&name)
            .map_err(|e| e.to_string())
            .and_then(|id| {
                self.wire
                    .engine
                    .initiate(Instant::now(), id)
                    .map_err(|e| e.to_string())
            });
        match (started, key) {
            (Ok(new), Some(k)) => {
                self.wire.initiated.insert(new);
                self.wire.attach_waiter(k, new);
            }
            (Ok(new), None) => {
                self.wire.initiated.insert(new);
            }
            (Err(e), Some(k)) => {
                self.wire
                    .fail_waiter(k, format!("\"{name}\": cannot initiate over TCP: {e}"));
            }
            (Err(e), None) => tracing::warn!("\"{name}\": cannot initiate over TCP: {e}"),
        }
        self.pump();
    }

    /// A stream event.
    pub fn on_tcp_event(&mut self, ev: TcpEvent) {
        match ev {
            TcpEvent::ConnectFailed { remote, error } => {
                // Negotiations still waiting for the peer fail now, with
                // the reason (an established IKE SA retries on its next
                // message, which opens a new stream).
                let conns: Vec<ConnId> = self
                    .wire
                    .conn_ids
                    .values()
                    .copied()
                    .filter(|id| {
                        self.wire
                            .engine
                            .connection(*id)
                            .is_some_and(|c| c.remote_addr == Some(remote))
                    })
                    .collect();
                for conn in conns {
                    let name = self.wire.conn_names.get(&conn).cloned().unwrap_or_default();
                    for sa in self.wire.engine.ike_sas_of(conn) {
                        if self.wire.engine.is_established(sa) {
                            continue;
                        }
                        let line = format!("\"{name}\" #{}: {error}", sa.0);
                        tracing::warn!("{line}");
                        if let Some(w) = self.wire.waiter_of(sa) {
                            w.reply.fail(Rc::FATAL, line);
                            w.sas.remove(&sa);
                        }
                        let _ = self
                            .wire
                            .engine
                            .terminate(Instant::now(), Target::IkeSa(sa));
                    }
                }
                self.pump();
            }
        }
    }

    /// Before connection `id` leaves the engine: its peer is no longer
    /// reached over TCP unless another TCP connection goes there too.
    pub fn tcp_forget_conn(&mut self, id: ConnId) {
        let Some(remote) = self.wire.engine.connection(id).and_then(|c| c.remote_addr) else {
            return;
        };
        if !self.wire.tcp.is_peer(remote) {
            return;
        }
        let shared = self.wire.conn_ids.values().any(|other| {
            *other != id
                && self
                    .wire
                    .engine
                    .connection(*other)
                    .is_some_and(|c| c.remote_addr == Some(remote))
        });
        if !shared {
            self.wire.tcp.remove_peer(remote);
        }
    }

    /// After an established IKE SA went away: the stream this end opened
    /// to its peer closes (once what is queued on it is written) when no
    /// other IKE SA uses it.
    pub fn tcp_ike_sa_gone(&mut self, remote: std::net::SocketAddr) {
        if !self.wire.tcp.has_stream(remote) {
            return;
        }
        let in_use = self.wire.ike_sas.values().any(|r| r.info.remote == remote);
        if !in_use {
            self.wire.tcp.close_opened(remote);
        }
    }

    /// Sends a just-installed Child SA's ESP over the TCP stream of its
    /// IKE SA, when that runs over TCP.
    pub fn tcp_attach_child(
        &mut self,
        info: &ike::engine::ChildSaInfo,
        sa: dataplane::SaId,
    ) -> Result<bool, String> {
        let Some(sink) = self.wire.tcp.sink_for(info.remote) else {
            return Ok(false);
        };
        let Some(b) = self.wire.backend.as_mut() else {
            return Err("no data plane".into());
        };
        b.set_tcp_sink(sa, sink).map_err(|e| e.to_string())?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine_conn() -> ike::engine::Connection {
        ike::engine::Connection::new(
            "t",
            "192.0.2.1:500".parse().unwrap(),
            Some("192.0.2.2:500".parse().unwrap()),
            ike::engine::Authentication::Null,
        )
    }

    fn spec(tcp: &str, port: Option<u16>) -> conf::ConnSpec {
        let mut s = crate::spec::example_spec("t");
        s.enable_tcp = tcp.into();
        s.tcp_remoteport = port;
        s
    }

    #[test]
    fn enable_tcp_moves_the_engine_connection_to_the_stream() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let mut tcp = TcpEncap::new(tx);
        // no: UDP 500 as before, no TCP peer.
        let mut c = engine_conn();
        apply(&tcp, &spec("no", None), &mut c);
        assert_eq!(c.remote_addr, Some("192.0.2.2:500".parse().unwrap()));
        assert!(!tcp.carries("192.0.2.2:4500".parse().unwrap()));
        // yes with tcp-remoteport: 4500 here, the port there, a TCP peer.
        let mut c = engine_conn();
        apply(&tcp, &spec("yes", Some(443)), &mut c);
        assert_eq!(c.local_addr.port(), 4500);
        assert_eq!(c.remote_addr, Some("192.0.2.2:443".parse().unwrap()));
        assert!(tcp.is_peer("192.0.2.2:443".parse().unwrap()));
        // fallback: UDP until it falls back.
        let mut c = engine_conn();
        apply(&tcp, &spec("fallback", None), &mut c);
        assert_eq!(c.remote_addr, Some("192.0.2.2:500".parse().unwrap()));
        tcp.fallen_back.insert("t".into());
        let mut c = engine_conn();
        apply(&tcp, &spec("fallback", None), &mut c);
        assert_eq!(c.remote_addr, Some("192.0.2.2:4500".parse().unwrap()));
        assert!(tcp.carries("192.0.2.2:4500".parse().unwrap()));
        assert!(xfrm_refusal("t").contains("needs the userspace data plane"));
    }
}
