//! The tunnel operations of the daemon (`--up`, `--down`, `--route`,
//! `--unroute`), the IKE engine's events and the data plane's events.

use crate::backend::{self, ts_net, ts_selector};
use crate::connection::Routing;
use crate::daemon::Pluto;
use crate::ikeconn;
use crate::reply::Replier;
use crate::wire::{
    ChildRec, ConnRoute, DeferredSwitch, IkeRec, Timer, Waiter, Wire, REKEY_SWITCH_LIMIT,
};
use control::Rc;
use dataplane::{IpNet, KernelEvent, PolicyAction, PortRange, Selector};
use ike::engine::{ChildSaId, ConnId, Event, IkeSaId, Target};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Why a connection cannot be negotiated or routed, with the status code
/// the reply ends with.
#[derive(Debug)]
pub struct ConnError {
    /// Status code (`RC_NOT_IMPLEMENTED` for what ferroswan lacks).
    pub rc: Rc,
    /// The reason.
    pub text: String,
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl ConnError {
    fn fatal(text: impl Into<String>) -> Self {
        ConnError {
            rc: Rc::FATAL,
            text: text.into(),
        }
    }
}

impl From<ikeconn::MapError> for ConnError {
    fn from(e: ikeconn::MapError) -> Self {
        ConnError {
            rc: match e {
                ikeconn::MapError::NotImplemented(_) => Rc::NOT_IMPLEMENTED,
                _ => Rc::FATAL,
            },
            text: e.to_string(),
        }
    }
}

/// The Libreswan status code of an engine log line.
fn progress_rc(line: &str) -> Rc {
    if line.contains("established Child SA") || line.contains("established IKE SA") {
        Rc(4)
    } else if line.contains("sent IKE_AUTH") {
        Rc(Rc::NEW_V2_STATE.0 + 32)
    } else if line.contains("initiating") || line.contains("sent IKE_SA_INIT") {
        Rc(Rc::NEW_V2_STATE.0 + 31)
    } else {
        Rc::LOG
    }
}

/// The `#N` serial a log line is about.
fn serial_of(line: &str) -> Option<u64> {
    let rest = line.split_once("\" #")?.1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Pluto {
    /// The engine's id of connection `name`, adding it to the engine first
    /// if needed (so a fixed secrets file or `--ready` can make it work).
    pub fn engine_conn(&mut self, name: &str) -> Result<ConnId, ConnError> {
        if let Some(id) = self.wire.conn_ids.get(name) {
            return Ok(*id);
        }
        let spec = self
            .db
            .get(name)
            .map(|c| c.spec.clone())
            .ok_or_else(|| ConnError::fatal(format!("no connection named \"{name}\"")))?;
        if matches!(
            spec.conn_type,
            conf::ConnType::Passthrough | conf::ConnType::Drop | conf::ConnType::Reject
        ) {
            return Err(ConnError::fatal(format!(
                "type={} connections are shunts; they are not negotiated",
                spec.conn_type.name()
            )));
        }
        let mapped = self.map_connection(&spec, None)?;
        let id = self
            .wire
            .engine
            .add_connection(mapped.conn)
            .map_err(|e| ConnError::fatal(e.to_string()))?;
        self.wire.conn_ids.insert(name.to_string(), id);
        self.wire.conn_names.insert(id, name.to_string());
        Ok(id)
    }

    /// Maps an oriented connection for the engine with the daemon's
    /// addresses, secrets and keys (`--impair omit-v2-ike-auth-child`
    /// makes it childless).
    fn map_connection(
        &self,
        spec: &conf::ConnSpec,
        remote_host: Option<IpAddr>,
    ) -> Result<ikeconn::Mapped, ikeconn::MapError> {
        let local = self.local_addrs();
        let mut mapped = ikeconn::map_connection(spec, &local, &self.credentials(), remote_host)?;
        crate::tcp_conn::apply(&self.wire.tcp, spec, &mut mapped.conn);
        if self.omit_ike_auth_child {
            mapped.conn.childless = true;
        }
        Ok(mapped)
    }

    /// Removes a connection from the engine (deleting its SAs) and the
    /// data plane.
    pub fn forget_conn(&mut self, name: &str) {
        if let Some(id) = self.wire.conn_ids.remove(name) {
            self.tcp_forget_conn(id);
            let _ = self.wire.engine.remove_connection(Instant::now(), id);
            self.pump();
            self.wire.remove_policies(id);
            self.wire.conn_names.remove(&id);
        }
    }

    /// `--up NAME`: initiates; unless `asynchronous`, the reply waits for
    /// the Child SA (see [`Wire::park`]).
    pub fn initiate(
        &mut self,
        name: &str,
        remote_host: Option<&str>,
        asynchronous: bool,
        r: &mut Replier,
    ) {
        let remote_host: Option<IpAddr> = match remote_host.map(str::parse).transpose() {
            Ok(h) => h,
            Err(_) => {
                r.fail(
                    Rc::NOPEERIP,
                    format!("\"{name}\": --remote-host must be an IP address"),
                );
                return;
            }
        };
        // With the event loop, the hosts were looked up already
        // (`Pluto::defer_up`); without it, here.
        if !self.hosts.available() {
            match self.refresh_hosts(name) {
                Ok(Some(line)) => r.log(line),
                Ok(None) => {}
                Err(e) => {
                    r.fail(Rc::FATAL, format!("\"{name}\": cannot initiate: {e}"));
                    return;
                }
            }
        }
        self.tcp_before_initiate(name);
        if let Some(h) = remote_host {
            // A different peer: the connection is re-added with it.
            self.forget_conn(name);
            let Some(spec) = self.db.get(name).map(|c| c.spec.clone()) else {
                return;
            };
            match self.map_connection(&spec, Some(h)) {
                Ok(m) => match self.wire.engine.add_connection(m.conn) {
                    Ok(id) => {
                        self.wire.conn_ids.insert(name.to_string(), id);
                        self.wire.conn_names.insert(id, name.to_string());
                    }
                    Err(e) => {
                        r.fail(Rc::FATAL, format!("\"{name}\": {e}"));
                        return;
                    }
                },
                Err(e) => {
                    r.fail(Rc::FATAL, format!("\"{name}\": {e}"));
                    return;
                }
            }
        }
        let id = match self.engine_conn(name) {
            Ok(id) => id,
            Err(e) => {
                r.fail(e.rc, format!("\"{name}\": cannot initiate: {e}"));
                return;
            }
        };
        if let Err(e) = self.wire.ensure_backend() {
            r.fail(
                Rc::FATAL,
                format!("\"{name}\": cannot initiate: no data plane: {e}"),
            );
            return;
        }
        if let Err(why) = self.tcp_check_backend(name) {
            r.fail(Rc::FATAL, why);
            return;
        }
        match self.wire.engine.initiate(Instant::now(), id) {
            Ok(sa) => {
                self.wire.initiated.insert(sa);
                self.tcp_after_initiate(name, id, sa);
                if !asynchronous {
                    self.wire.park.get_or_insert_with(HashSet::new).insert(sa);
                } else {
                    r.line(
                        Rc(Rc::NEW_V2_STATE.0 + 31),
                        format!("\"{name}\" #{}: initiating IKEv2 connection", sa.0),
                    );
                }
            }
            Err(e) => r.fail(Rc::FATAL, format!("\"{name}\": cannot initiate: {e}")),
        }
    }

    /// `whack --rekey-ike|--rekey-ipsec --name NAME`: rekeys the
    /// connection's newest established IKE SA or newest Child SA
    /// (CREATE_CHILD_SA); the reply does not wait for the exchange.
    pub fn rekey(&mut self, name: &str, kind: control::RekeyKind, r: &mut Replier) {
        let id = self.wire.conn_ids.get(name).copied();
        let (target, words) = match kind {
            control::RekeyKind::Ike => {
                let newest = id.and_then(|id| {
                    self.wire
                        .engine
                        .ike_sas_of(id)
                        .into_iter()
                        .filter(|sa| self.wire.engine.is_established(*sa))
                        .max()
                });
                match newest {
                    Some(sa) => (
                        Target::IkeSa(sa),
                        format!("#{}: initiating rekey to replace IKE SA #{}", sa.0, sa.0),
                    ),
                    None => {
                        r.fail(
                            Rc::FATAL,
                            format!("\"{name}\": no established IKE SA to rekey"),
                        );
                        return;
                    }
                }
            }
            control::RekeyKind::Ipsec => {
                let newest = id.and_then(|id| {
                    self.wire
                        .children
                        .iter()
                        .filter(|(_, c)| c.conn == id)
                        .map(|(child, _)| *child)
                        .max()
                });
                match newest {
                    Some(child) => (
                        Target::ChildSa(child),
                        format!(
                            "#{}: initiating rekey to replace Child SA #{}",
                            child.0, child.0
                        ),
                    ),
                    None => {
                        r.fail(Rc::FATAL, format!("\"{name}\": no Child SA to rekey"));
                        return;
                    }
                }
            }
        };
        match self.wire.engine.rekey(Instant::now(), target) {
            Ok(()) => r.log(format!("\"{name}\" {words}")),
            Err(e) => r.fail(Rc::FATAL, format!("\"{name}\": cannot rekey: {e}")),
        }
        self.pump();
    }

    /// `--down NAME`: deletes the connection's SAs (INFORMATIONAL Delete)
    /// and removes them from the data plane.
    pub fn terminate(&mut self, name: &str, r: &mut Replier) {
        let Some(id) = self.wire.conn_ids.get(name).copied() else {
            r.log(format!("\"{name}\": no IKE SA to delete"));
            return;
        };
        let sas = self.wire.engine.ike_sas_of(id);
        if sas.is_empty() {
            // Its Child SAs may ride another connection's IKE SA (the peer
            // asked for them there): delete just those.
            let mut children: Vec<ChildSaId> = self
                .wire
                .children
                .iter()
                .filter(|(_, c)| c.conn == id)
                .map(|(child, _)| *child)
                .collect();
            if children.is_empty() {
                r.log(format!("\"{name}\": no IKE SA to delete"));
                return;
            }
            children.sort();
            for child in children {
                r.log(format!("\"{name}\" #{}: deleting Child SA", child.0));
                if let Err(e) = self
                    .wire
                    .engine
                    .terminate(Instant::now(), Target::ChildSa(child))
                {
                    r.fail(Rc::FATAL, format!("\"{name}\": {e}"));
                }
            }
            self.pump();
            return;
        }
        for sa in &sas {
            r.log(format!(
                "\"{name}\" #{}: deleting IKE SA and its Child SAs",
                sa.0
            ));
        }
        if let Err(e) = self
            .wire
            .engine
            .terminate(Instant::now(), Target::Connection(id))
        {
            r.fail(Rc::FATAL, format!("\"{name}\": {e}"));
        }
        self.pump();
    }

    /// The connection's selectors as the data plane takes them: subnets
    /// (the host without one) with `protoport=`; and where a trap's route
    /// points: our end's `nexthop=`, else the peer's address.
    fn conn_nets(&mut self, name: &str) -> Result<ConnNets, ConnError> {
        let spec = self
            .db
            .get(name)
            .map(|c| c.spec.clone())
            .ok_or_else(|| ConnError::fatal(format!("no connection named \"{name}\"")))?;
        let local = self.local_addrs();
        let (this, that) = ikeconn::oriented(&spec, &local)?;
        let nets_of = |end: &conf::EndSpec| -> Result<Vec<IpNet>, ConnError> {
            if end.subnets.is_empty() {
                match &end.host {
                    conf::HostAddr::Addr(a) => Ok(vec![IpNet::host(*a)]),
                    other => Err(ConnError::fatal(format!("cannot route to {other}"))),
                }
            } else {
                end.subnets
                    .iter()
                    .map(|s| {
                        IpNet::new(s.addr, s.prefix).map_err(|e| ConnError::fatal(e.to_string()))
                    })
                    .collect()
            }
        };
        let nets = |end: &conf::EndSpec| -> Result<Vec<Selector>, ConnError> {
            let with_protoport = |net: IpNet| Selector {
                net,
                protocol: end.protoport.map(|p| p.proto).unwrap_or(0),
                ports: end
                    .protoport
                    .and_then(|p| p.port)
                    .map(PortRange::single)
                    .unwrap_or(PortRange::ANY),
            };
            let nets = nets_of(end)?;
            Ok(nets.into_iter().map(with_protoport).collect())
        };
        let l = nets(this)?;
        let rm = nets(that)?;
        let route_via = nexthop_of(this).or(match &that.host {
            conf::HostAddr::Addr(a) => Some(*a),
            _ => None,
        });
        let id = match spec.conn_type {
            conf::ConnType::Passthrough | conf::ConnType::Drop | conf::ConnType::Reject => {
                // Shunts get an id of their own, outside the engine's range.
                if let Some(id) = self.wire.conn_ids.get(name) {
                    *id
                } else {
                    let id = ConnId(self.wire.next_shunt_id);
                    self.wire.next_shunt_id = self.wire.next_shunt_id.saturating_sub(1);
                    self.wire.conn_ids.insert(name.to_string(), id);
                    self.wire.conn_names.insert(id, name.to_string());
                    id
                }
            }
            _ => self.engine_conn(name)?,
        };
        Ok((id, l, rm, route_via))
    }

    /// `--route NAME`: a trap policy (or the shunt of a passthrough/drop
    /// connection) in the data plane.
    pub fn route(&mut self, name: &str, r: &mut Replier) {
        let (id, local, remote, route_via) = match self.conn_nets(name) {
            Ok(x) => x,
            Err(e) => {
                let rc = if e.rc == Rc::NOT_IMPLEMENTED {
                    e.rc
                } else {
                    Rc::ROUTE
                };
                r.fail(rc, format!("\"{name}\": cannot route: {e}"));
                return;
            }
        };
        let Some(spec) = self.db.get(name).map(|c| c.spec.clone()) else {
            return;
        };
        let action = match spec.conn_type {
            conf::ConnType::Passthrough => PolicyAction::Pass,
            conf::ConnType::Drop | conf::ConnType::Reject => PolicyAction::Drop,
            _ => PolicyAction::Trap {
                hold: spec.negotiationshunt == conf::Shunt::Hold,
            },
        };
        if self
            .wire
            .routes
            .get(&id)
            .is_some_and(|r| r.current.is_some())
        {
            if let Some(route) = self.wire.routes.get_mut(&id) {
                route.trap = true;
            }
            r.log(format!("\"{name}\": already erouted"));
            return;
        }
        let src = self.route_source(name, &local);
        let policies = backend::policies(id.0, &local, &remote, action, src, route_via);
        let marks = self.wire.extras.marks(name);
        let _ = self.wire.ensure_backend();
        let Some(b) = &mut self.wire.backend else {
            r.fail(
                Rc::ROUTE,
                format!(
                    "\"{name}\": cannot route: no data plane ({})",
                    self.wire.backend_error.as_deref().unwrap_or("not opened")
                ),
            );
            return;
        };
        for p in &policies {
            if let Err(e) = b.install_policy(*p, marks) {
                r.fail(Rc::ROUTE, format!("\"{name}\": cannot route: {e}"));
                return;
            }
        }
        self.wire.routes.insert(
            id,
            ConnRoute {
                policies,
                current: None,
                trap: true,
            },
        );
        if let Some(c) = self.db.get_mut(name) {
            c.routing = Routing::Prospective;
        }
        self.updown(name, &["route"], &Default::default());
        r.verbose(format!("\"{name}\": routed"));
    }

    /// `--unroute NAME`: removes the trap (not an established tunnel).
    pub fn unroute(&mut self, name: &str, r: &mut Replier) {
        let Some(id) = self.wire.conn_ids.get(name).copied() else {
            r.verbose(format!("\"{name}\": not routed"));
            return;
        };
        if self
            .wire
            .routes
            .get(&id)
            .is_some_and(|r| r.current.is_some())
        {
            r.fail(
                Rc::RTBUSY,
                format!(
                    "\"{name}\": cannot unroute: the connection has an IPsec SA; use --down first"
                ),
            );
            return;
        }
        let was_routed = self.wire.routes.contains_key(&id);
        self.wire.remove_policies(id);
        if let Some(c) = self.db.get_mut(name) {
            c.routing = Routing::Unrouted;
        }
        if was_routed {
            self.updown(name, &["unroute"], &Default::default());
        }
        r.verbose(format!("\"{name}\": unrouted"));
    }

    /// Sends what the engine has to send and acts on its events.
    pub fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(t) = self.wire.engine.poll_transmit() {
                busy = true;
                self.wire.send(t.local, t.remote, &t.payload);
            }
            while let Some(ev) = self.wire.engine.poll_event() {
                busy = true;
                self.on_event(ev);
            }
            if !busy {
                break;
            }
        }
        self.wire.finish_done_waiters();
    }

    /// A datagram from an IKE socket (or the data plane's port 4500).
    pub fn on_datagram(&mut self, local: SocketAddr, remote: SocketAddr, bytes: &[u8]) {
        // A peer starts a negotiation: it may continue on port 4500, which
        // the data plane's socket serves.
        if self.wire.backend.is_none()
            && self.wire.backend_error.is_none()
            && !self.wire.conn_ids.is_empty()
        {
            let _ = self.wire.ensure_backend();
        }
        let local = if local.ip().is_unspecified() {
            match Wire::source_for(remote.ip()) {
                Some(a) => SocketAddr::new(a, local.port()),
                None => local,
            }
        } else {
            local
        };
        self.wire
            .engine
            .handle_datagram(Instant::now(), local, remote, bytes);
        self.pump();
    }

    /// Engine and daemon timers.
    pub fn on_timeout(&mut self) {
        let now = Instant::now();
        self.wire.engine.handle_timeout(now);
        self.pump();
        for t in self.wire.due_timers(now) {
            match t {
                Timer::Revive(conn) => self.revive(conn),
                Timer::Keepalive => self.send_keepalives(now),
                Timer::TcpFallback(conn, sa) => self.tcp_fallback(conn, sa),
                Timer::SwitchPolicies(old) => {
                    if let Some(d) = self.wire.deferred.remove(&old) {
                        self.switch_policies(d);
                    }
                }
            }
        }
    }

    /// Initiates a connection again after a failure, unless it is gone,
    /// or up or negotiating again already.
    fn revive(&mut self, conn: ConnId) {
        let Some(name) = self.wire.conn_names.get(&conn).cloned() else {
            return;
        };
        if !self.wire.engine.ike_sas_of(conn).is_empty() {
            return;
        }
        tracing::info!("\"{name}\": reviving the connection");
        if self.needs_lookup(&name) {
            return self.lookup_then(&name, crate::resolver::Trigger::Revive);
        }
        match self.wire.engine.initiate(Instant::now(), conn) {
            Ok(sa) => {
                self.wire.initiated.insert(sa);
                self.tcp_after_initiate(&name, conn, sa);
            }
            Err(e) => tracing::warn!("\"{name}\": cannot revive: {e}"),
        }
        self.pump();
    }

    /// Schedules the revival of a connection that should stay up
    /// (`auto=start|up|keep`): 1 s, 2 s, 4 s ... up to 60 s after each
    /// failure.
    pub(crate) fn schedule_revival(&mut self, conn: ConnId, name: &str) {
        let keep_up = self.db.get(name).is_some_and(|c| {
            matches!(
                c.spec.auto,
                conf::Auto::Start | conf::Auto::Up | conf::Auto::Keep
            )
        });
        if !keep_up || !self.wire.conn_ids.contains_key(name) {
            return;
        }
        let n = self.wire.attempts.entry(conn).or_insert(0);
        let delay = std::time::Duration::from_secs(1u64 << (*n).min(6))
            .min(std::time::Duration::from_secs(60));
        *n = n.saturating_add(1);
        tracing::info!("\"{name}\": will try again in {}s", delay.as_secs());
        self.wire
            .schedule(Instant::now() + delay, Timer::Revive(conn));
    }

    /// RFC 3948 NAT keepalives (one 0xFF octet to port 4500) for the
    /// established IKE SAs behind a NAT; then the next round.
    fn send_keepalives(&mut self, now: Instant) {
        let mut any = false;
        for rec in self.wire.ike_sas.values() {
            if !rec.info.nat.local_behind_nat {
                continue;
            }
            let keepalive = match self.db.get(&rec.name) {
                Some(c) => c.spec.nat_keepalive,
                None => true,
            };
            if !keepalive {
                continue;
            }
            any = true;
            self.wire.send(rec.info.local, rec.info.remote, &[0xff]);
        }
        if any {
            self.wire
                .schedule(now + self.wire.keepalive_interval, Timer::Keepalive);
        } else {
            self.wire.keepalive_scheduled = false;
        }
    }

    /// Drains the data plane's events.
    pub fn on_kernel_events(&mut self) {
        while let Some(ev) = self.wire.backend.as_mut().and_then(|b| b.poll_event()) {
            match ev {
                KernelEvent::IkeDatagram {
                    local,
                    remote,
                    mut message,
                } => {
                    // The engine wants port-4500 IKE with its marker.
                    let mut d = vec![0u8; 4];
                    d.append(&mut message);
                    self.on_datagram(local, remote, &d);
                }
                KernelEvent::Acquire {
                    policy, src, dst, ..
                } => {
                    let conn = ConnId((policy.0 >> 16) as u32);
                    let Some(name) = self.wire.conn_names.get(&conn).cloned() else {
                        continue;
                    };
                    if !self.wire.engine.ike_sas_of(conn).is_empty() {
                        continue;
                    }
                    if self.needs_lookup(&name) {
                        tracing::info!("\"{name}\": acquire for {src} -> {dst}");
                        self.lookup_then(&name, crate::resolver::Trigger::Acquire);
                        continue;
                    }
                    tracing::info!("\"{name}\": acquire for {src} -> {dst}: initiating");
                    match self.wire.engine.initiate(Instant::now(), conn) {
                        Ok(sa) => {
                            self.wire.initiated.insert(sa);
                            self.tcp_after_initiate(&name, conn, sa);
                        }
                        Err(e) => tracing::warn!("\"{name}\": cannot initiate on acquire: {e}"),
                    }
                    self.pump();
                }
                KernelEvent::Expire { sa, expiry, .. } => {
                    let child = ike::engine::ChildSaId(sa.0);
                    let target = Target::ChildSa(child);
                    let res = match expiry {
                        dataplane::Expiry::Soft => self.wire.engine.rekey(Instant::now(), target),
                        dataplane::Expiry::Hard => {
                            self.wire.engine.terminate(Instant::now(), target)
                        }
                    };
                    if let Err(e) = res {
                        tracing::warn!("SA {:?} expired ({expiry:?}): {e}", sa);
                    }
                    self.pump();
                }
                KernelEvent::Failed { reason } => {
                    tracing::error!("the data plane failed: {reason}");
                }
            }
        }
    }

    fn say(&mut self, sa: IkeSaId, rc: Rc, line: &str) {
        if let Some(w) = self.wire.waiter_of(sa) {
            w.reply.line(rc, line);
        }
    }

    fn on_event(&mut self, ev: Event) {
        if let Some(k) = &self.keylog {
            k.record(&self.wire.engine, &ev);
        }
        match ev {
            Event::Log(line) => {
                // The daemon words the Child SA line itself, as Libreswan
                // does, once the SA is in the data plane (`child_up`).
                if line.contains("established Child SA using #")
                    || line.contains("rekeyed Child SA using #")
                {
                    tracing::debug!("{line}");
                    return;
                }
                tracing::info!("{line}");
                if let Some(n) = serial_of(&line) {
                    let ike = self
                        .wire
                        .children
                        .get(&ike::engine::ChildSaId(n))
                        .map(|c| c.ike_sa)
                        .unwrap_or(IkeSaId(n));
                    self.say(ike, progress_rc(&line), &line);
                }
            }
            Event::IkeSaUp(info) => {
                let name = self
                    .wire
                    .conn_names
                    .get(&info.conn)
                    .cloned()
                    .unwrap_or_default();
                let lifetime = self
                    .wire
                    .engine
                    .connection(info.conn)
                    .map(|c| c.ike_lifetime)
                    .unwrap_or_default();
                if let Some(c) = self.db.get_mut(&name) {
                    c.newest_ike_sa = info.ike_sa.0;
                    c.newest_ike_algorithms = Some(crate::status::ike_suite_words(&info.suite));
                }
                self.wire.attempts.remove(&info.conn);
                // A childless IKE SA (RFC 6023) is all an --up of this
                // connection waits for: no Child SA will follow.
                if self
                    .wire
                    .engine
                    .connection(info.conn)
                    .is_some_and(|c| c.childless)
                {
                    if let Some(w) = self.wire.waiter_of(info.ike_sa) {
                        w.sas.remove(&info.ike_sa);
                    }
                }
                self.wire.was_established.insert(info.ike_sa);
                self.prune_serials();
                if self.setup.uniqueids {
                    self.replace_older_ike_sas(&info);
                }
                if info.nat.local_behind_nat && !self.wire.keepalive_scheduled {
                    self.wire.keepalive_scheduled = true;
                    self.wire.schedule(
                        Instant::now() + self.wire.keepalive_interval,
                        Timer::Keepalive,
                    );
                }
                self.wire.ike_sas.insert(
                    info.ike_sa,
                    IkeRec {
                        info: *info,
                        name,
                        since: Instant::now(),
                        lifetime,
                    },
                );
            }
            Event::IkeSaRekeyed { old, new } => {
                self.wire.was_established.insert(new.ike_sa);
                let name = self
                    .wire
                    .ike_sas
                    .remove(&old)
                    .map(|r| r.name)
                    .unwrap_or_default();
                if let Some(c) = self.db.get_mut(&name) {
                    c.newest_ike_sa = new.ike_sa.0;
                    c.newest_ike_algorithms = Some(crate::status::ike_suite_words(&new.suite));
                }
                for ch in self.wire.children.values_mut() {
                    if ch.ike_sa == old {
                        ch.ike_sa = new.ike_sa;
                    }
                }
                let lifetime = self
                    .wire
                    .engine
                    .connection(new.conn)
                    .map(|c| c.ike_lifetime)
                    .unwrap_or_default();
                self.wire.ike_sas.insert(
                    new.ike_sa,
                    IkeRec {
                        info: *new,
                        name,
                        since: Instant::now(),
                        lifetime,
                    },
                );
            }
            Event::IkeSaDown {
                ike_sa,
                conn,
                reason,
            } => {
                if let Some(rec) = self.wire.ike_sas.remove(&ike_sa) {
                    self.tcp_ike_sa_gone(rec.info.remote);
                }
                let name = self.wire.conn_names.get(&conn).cloned().unwrap_or_default();
                if let Some(w) = self.wire.waiter_of(ike_sa) {
                    w.reply.fail(
                        Rc::FATAL,
                        format!("\"{name}\" #{}: IKE SA failed: {reason}", ike_sa.0),
                    );
                    w.sas.remove(&ike_sa);
                }
                if let Some(c) = self.db.get_mut(&name) {
                    if c.newest_ike_sa == ike_sa.0 {
                        c.newest_ike_sa = 0;
                        c.newest_ike_algorithms = None;
                    }
                }
                if reason.contains("liveness check") {
                    self.peer_dead(conn, &name);
                } else if reason.starts_with("negotiation failed") {
                    // The peer may have moved: look its name up again.
                    if reason.contains("IKE_SA_INIT request timed out") && self.needs_lookup(&name)
                    {
                        self.lookup_then(&name, crate::resolver::Trigger::Retransmit);
                    }
                    self.schedule_revival(conn, &name);
                }
            }
            Event::ChildSaUp(info) => self.child_up(&info, None),
            Event::ChildSaRekeyed {
                old,
                new,
                initiator,
            } => self.child_up(&new, Some((old, initiator))),
            Event::ChildSaFailed {
                ike_sa,
                conn,
                reason,
            } => {
                let name = self.wire.conn_names.get(&conn).cloned().unwrap_or_default();
                tracing::warn!("\"{name}\" #{}: Child SA failed: {reason}", ike_sa.0);
                if let Some(w) = self.wire.waiter_of(ike_sa) {
                    w.reply.fail(
                        Rc::FATAL,
                        format!("\"{name}\" #{}: Child SA failed: {reason}", ike_sa.0),
                    );
                    w.sas.remove(&ike_sa);
                }
            }
            Event::ChildSaDown { conn, child, .. } => {
                // The peer deleted the SA its rekey replaced: it has the
                // new one, so send on that from now on.
                if let Some(d) = self.wire.deferred.remove(&child) {
                    self.switch_policies(d);
                }
                self.wire.deferred.retain(|_, d| d.child != child);
                let Some(rec) = self.wire.children.remove(&child) else {
                    return;
                };
                let counters = self
                    .wire
                    .backend
                    .as_mut()
                    .and_then(|b| b.counters(rec.sa))
                    .unwrap_or_default();
                let details = crate::updown::SaDetails {
                    peer: self
                        .wire
                        .ike_sas
                        .get(&rec.ike_sa)
                        .map(|r| r.info.remote.ip()),
                    inbound_spi: rec.inbound_spi,
                    peer_id: rec.peer_id.clone(),
                    bytes: Some((counters.inbound.bytes, counters.outbound.bytes)),
                };
                if let Some(b) = &mut self.wire.backend {
                    if let Err(e) = b.remove_child(rec.sa) {
                        tracing::warn!("\"{}\" #{}: removing the SA: {e}", rec.name, child.0);
                    }
                }
                let still_current = self
                    .wire
                    .routes
                    .get(&conn)
                    .is_some_and(|r| r.current == Some(child));
                if still_current {
                    self.unprotect(conn, &rec.name, &details);
                }
                if let Some(c) = self.db.get_mut(&rec.name) {
                    if c.newest_ipsec_sa == child.0 {
                        c.newest_ipsec_sa = 0;
                        c.newest_esp_algorithms = None;
                    }
                }
            }
        }
    }

    /// Keeps the serial sets of status bounded: above twice the SAs
    /// alive (plus some slack), forget the serials the engine dropped.
    fn prune_serials(&mut self) {
        let limit = 2 * self.wire.ike_sas.len() + 64;
        if self.wire.was_established.len() + self.wire.initiated.len() <= limit {
            return;
        }
        let mut live = HashSet::new();
        for id in self.wire.conn_ids.values() {
            live.extend(self.wire.engine.ike_sas_of(*id));
        }
        self.wire.initiated.retain(|s| live.contains(s));
        self.wire.was_established.retain(|s| live.contains(s));
    }

    /// `uniqueids=yes`: a new IKE SA of a connection with the same peer
    /// ID replaces the older ones (the peer restarted).
    fn replace_older_ike_sas(&mut self, info: &ike::engine::IkeSaInfo) {
        let older: Vec<IkeSaId> = self
            .wire
            .ike_sas
            .iter()
            .filter(|(id, r)| {
                **id != info.ike_sa
                    && r.info.conn == info.conn
                    && r.info.remote_id == info.remote_id
            })
            .map(|(id, _)| *id)
            .collect();
        for id in older {
            tracing::info!(
                "#{}: uniqueids: replaced by #{}; deleting it",
                id.0,
                info.ike_sa.0
            );
            let _ = self
                .wire
                .engine
                .terminate(Instant::now(), Target::IkeSa(id));
        }
    }

    /// DPD found the peer dead (its IKE SA is gone): `dpdaction=clear`
    /// leaves the connection down, `hold` puts a trap in place, `restart`
    /// negotiates again.
    fn peer_dead(&mut self, conn: ConnId, name: &str) {
        let Some(action) = self.db.get(name).map(|c| c.spec.dpdaction) else {
            return;
        };
        tracing::warn!("\"{name}\": DPD: the peer is dead; dpdaction={action}");
        match action {
            conf::DpdAction::Clear => {}
            conf::DpdAction::Hold => {
                let mut r = Replier::detached();
                self.route(name, &mut r);
            }
            conf::DpdAction::Restart if self.needs_lookup(name) => {
                self.lookup_then(name, crate::resolver::Trigger::Restart)
            }
            conf::DpdAction::Restart => match self.wire.engine.initiate(Instant::now(), conn) {
                Ok(sa) => {
                    self.wire.initiated.insert(sa);
                }
                Err(e) => tracing::warn!("\"{name}\": DPD restart: {e}"),
            },
        }
    }

    /// The SA protecting a connection is gone: back to its trap, or
    /// unrouted.
    fn unprotect(&mut self, conn: ConnId, name: &str, sa: &crate::updown::SaDetails) {
        let trap = self.wire.routes.get(&conn).is_some_and(|r| r.trap);
        self.wire.remove_policies(conn);
        if let Some(c) = self.db.get_mut(name) {
            c.routing = Routing::Unrouted;
        }
        if trap {
            self.updown(name, &["down"], sa);
        } else {
            self.updown(name, &["down", "unroute"], sa);
        }
        if trap {
            let mut r = Replier::detached();
            self.route(name, &mut r);
        }
    }

    /// A negotiated Child SA could not be installed: says `why` to the log
    /// and to the waiting `--up`, and deletes the Child SA.
    fn child_install_failed(&mut self, info: &ike::engine::ChildSaInfo, why: String) {
        tracing::error!("{why}");
        if let Some(w) = self.wire.waiter_of(info.ike_sa) {
            w.reply.fail(Rc::FATAL, why);
            w.sas.remove(&info.ike_sa);
        }
        let _ = self
            .wire
            .engine
            .terminate(Instant::now(), Target::ChildSa(info.child));
    }

    fn child_up(
        &mut self,
        info: &ike::engine::ChildSaInfo,
        rekey: Option<(ike::engine::ChildSaId, bool)>,
    ) {
        let old = rekey.map(|(o, _)| o);
        let name = self
            .wire
            .conn_names
            .get(&info.conn)
            .cloned()
            .unwrap_or_default();
        let spec = self.db.get(&name).map(|c| c.spec.clone());
        let (window, encaps, max_bytes, max_packets) = spec
            .as_ref()
            .map(|s| {
                (
                    s.replay_window,
                    s.encapsulation == conf::Encapsulation::Yes,
                    s.ipsec_max_bytes,
                    s.ipsec_max_packets,
                )
            })
            .unwrap_or((128, false, None, None));
        self.wire.hand_nat_t_socket(info.local.ip());
        let marks = self.wire.extras.marks(&name);
        let Some(b) = &mut self.wire.backend else {
            let why = format!(
                "\"{name}\" #{}: cannot install the Child SA: no data plane ({})",
                info.child.0,
                self.wire.backend_error.as_deref().unwrap_or("not opened")
            );
            tracing::error!("{why}");
            if let Some(w) = self.wire.waiter_of(info.ike_sa) {
                w.reply.fail(Rc::FATAL, why);
                w.sas.remove(&info.ike_sa);
            }
            return;
        };
        let installed = b
            .install_child(info, window, encaps, max_bytes, max_packets, marks)
            .map(|sa| {
                let local: Vec<Selector> = info.local_ts.iter().map(ts_selector).collect();
                let remote: Vec<Selector> = info.remote_ts.iter().map(ts_selector).collect();
                (sa, local, remote)
            });
        let (sa, local, remote) = match installed {
            Ok(x) => x,
            Err(e) => {
                self.child_install_failed(
                    info,
                    format!(
                        "\"{name}\" #{}: cannot install the Child SA: {e}",
                        info.child.0
                    ),
                );
                return;
            }
        };
        if let Err(e) = self.tcp_attach_child(info, sa) {
            if let Some(b) = self.wire.backend.as_mut() {
                let _ = b.remove_child(sa);
            }
            self.child_install_failed(
                info,
                format!(
                    "\"{name}\" #{}: cannot carry the Child SA over TCP: {e}",
                    info.child.0
                ),
            );
            return;
        }
        let src = self.route_source(&name, &local);
        // The pair knows its peer; only an explicit nexthop steers the route.
        // Orienting costs a scan of the host's addresses: only when an end
        // has a nexthop at all.
        let nexthop = self
            .db
            .get(&name)
            .filter(|c| nexthop_of(&c.spec.left).is_some() || nexthop_of(&c.spec.right).is_some())
            .and_then(|c| {
                let local = self.local_addrs();
                ikeconn::oriented(&c.spec, &local)
                    .ok()
                    .and_then(|(this, _)| nexthop_of(this))
            });
        let policies = backend::policies(
            info.conn.0,
            &local,
            &remote,
            PolicyAction::Protect(sa),
            src,
            nexthop,
        );
        let switch = DeferredSwitch {
            conn: info.conn,
            child: info.child,
            policies,
        };
        // The responder of a rekey keeps sending on the old SA until the
        // initiator deletes it (or REKEY_SWITCH_LIMIT passes): the
        // initiator installs the new SA only when our response arrives.
        let failure = match rekey {
            Some((old, false))
                if self
                    .wire
                    .routes
                    .get(&info.conn)
                    .is_some_and(|r| r.current == Some(old)) =>
            {
                self.wire.deferred.insert(old, switch);
                self.wire.schedule(
                    Instant::now() + REKEY_SWITCH_LIMIT,
                    Timer::SwitchPolicies(old),
                );
                None
            }
            _ => self.switch_policies(switch),
        };
        let encapsulated = info.nat.encapsulate()
            || info.remote.port() == backend::NAT_T_PORT
            || info.remote.is_ipv6();
        let tunnel = format!(
            "{}==={}",
            local
                .iter()
                .map(|s| format!("{}/{}", s.net.addr(), s.net.prefix()))
                .collect::<Vec<_>>()
                .join(","),
            remote
                .iter()
                .map(|s| format!("{}/{}", s.net.addr(), s.net.prefix()))
                .collect::<Vec<_>>()
                .join(",")
        );
        let peer_id = self
            .wire
            .ike_sas
            .get(&info.ike_sa)
            .map(|r| id_text(&r.info.remote_id))
            .unwrap_or_default();
        self.wire.children.insert(
            info.child,
            ChildRec {
                ike_sa: info.ike_sa,
                conn: info.conn,
                name: name.clone(),
                sa,
                inbound_spi: info.inbound_spi,
                outbound_spi: info.outbound_spi,
                tunnel,
                xfrm: info.suite.describe(),
                encapsulated,
                esn: info.suite.esn,
                since: Instant::now(),
                lifetime: info.lifetime,
                peer_id,
            },
        );
        let was = self.db.get(&name).map(|c| c.routing);
        if let Some(c) = self.db.get_mut(&name) {
            c.routing = Routing::Routed;
            c.newest_ipsec_sa = info.child.0;
            c.newest_esp_algorithms = Some(crate::status::child_suite_words(&info.suite));
        }
        if old.is_none() {
            let details = crate::updown::SaDetails {
                peer: Some(info.remote.ip()),
                inbound_spi: info.inbound_spi,
                peer_id: self
                    .wire
                    .children
                    .get(&info.child)
                    .map(|c| c.peer_id.clone())
                    .unwrap_or_default(),
                bytes: None,
            };
            if was == Some(Routing::Unrouted) {
                self.updown(&name, &["route", "up"], &details);
            } else {
                self.updown(&name, &["up"], &details);
            }
        }
        if let Some(f) = failure {
            tracing::error!("\"{name}\": installing a policy: {f}");
        }
        let line = self.child_line(&name, info, old.is_some(), encapsulated);
        tracing::info!("{line}");
        self.say(info.ike_sa, Rc(4), &line);
        if let Some(w) = self.wire.waiter_of(info.ike_sa) {
            w.sas.remove(&info.ike_sa);
        }
    }

    /// Points a connection's policies at a Child SA (installing the new
    /// ones, removing those it no longer has); returns the last failure.
    fn switch_policies(&mut self, d: DeferredSwitch) -> Option<String> {
        let old_ids: Vec<_> = self.wire.policy_ids(d.conn);
        let marks = self
            .wire
            .conn_names
            .get(&d.conn)
            .map(|n| self.wire.extras.marks(n))
            .unwrap_or_default();
        let mut failure = None;
        if let Some(b) = &mut self.wire.backend {
            for p in &d.policies {
                if let Err(e) = b.install_policy(*p, marks) {
                    failure = Some(e.to_string());
                }
            }
            for id in old_ids {
                if !d.policies.iter().any(|p| p.id == id) {
                    let _ = b.remove_policy(id);
                }
            }
        }
        let trap = self.wire.routes.get(&d.conn).is_some_and(|r| r.trap);
        self.wire.routes.insert(
            d.conn,
            ConnRoute {
                policies: d.policies,
                current: Some(d.child),
                trap,
            },
        );
        failure
    }

    /// Libreswan's line for an established Child SA:
    /// `"name" #2: initiator established Child SA using #1; IPsec tunnel
    /// [10.1.0.0/16===10.2.0.0/16] {ESP=>0x... <0x... xfrm=... DPD=passive}`.
    fn child_line(
        &self,
        name: &str,
        info: &ike::engine::ChildSaInfo,
        rekeyed: bool,
        encapsulated: bool,
    ) -> String {
        let role = match self.wire.ike_sas.get(&info.ike_sa) {
            Some(r) if r.info.initiator => "initiator",
            Some(_) => "responder",
            None => "initiator",
        };
        let what = if rekeyed {
            "rekeyed Child SA"
        } else {
            "established Child SA"
        };
        let kind = match info.mode {
            ike::engine::Mode::Tunnel => "tunnel",
            ike::engine::Mode::Transport => "transport",
        };
        let nets = |ts: &[ike::wire::TrafficSelector]| {
            ts.iter()
                .map(|t| {
                    let n = ts_net(t);
                    format!("{}/{}", n.addr(), n.prefix())
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let dpd = self
            .wire
            .engine
            .connection(info.conn)
            .is_some_and(|c| c.dpd_delay.is_some());
        format!(
            "\"{name}\" #{}: {role} {what} using #{}; IPsec {kind} [{}==={}] {{{}{}=>0x{:08x} <0x{:08x} xfrm={}{}{} DPD={}}}",
            info.child.0,
            info.ike_sa.0,
            nets(&info.local_ts),
            nets(&info.remote_ts),
            if encapsulated { "ESPinUDP" } else { "ESP" },
            if info.suite.esn { "/ESN" } else { "" },
            info.outbound_spi,
            info.inbound_spi,
            info.suite.describe(),
            info.suite
                .ke
                .map(|g| format!("-{}", ike::engine::proposal::ke_name(g)))
                .unwrap_or_default(),
            if encapsulated {
                format!(" NATD={}", info.remote)
            } else {
                String::new()
            },
            if dpd { "active" } else { "passive" },
        )
    }

    /// Moves the current request's reply into the waiters when `handle`
    /// asked it to wait; otherwise finishes it.
    pub fn finish_or_park(&mut self, reply: Replier) {
        // Waiting for host lookups first (`crate::lookups`).
        if let Some(group) = self.hosts.park.take() {
            self.hosts.set_reply(group, reply);
            if let Some(g) = self.hosts.take_if_ready(group) {
                self.run_group(g);
            }
            return;
        }
        match self.wire.park.take() {
            Some(sas) if !sas.is_empty() => {
                self.wire.park_waiter(Waiter { reply, sas });
                self.pump();
            }
            _ => {
                reply.finish();
                // An --asynchronous --up (or any request that queued
                // packets) sends them now, not at the next timer.
                self.pump();
            }
        }
    }
}

/// An identity as Libreswan prints it in status.
pub fn id_text(id: &ike::engine::Identity) -> String {
    use ike::engine::Identity;
    match id {
        Identity::Address(a) => a.to_string(),
        Identity::Fqdn(f) => format!("@{f}"),
        Identity::Rfc822(u) => u.clone(),
        Identity::KeyId(k) => format!(
            "@#{}",
            k.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Identity::DerAsn1Dn(_) => "(DN)".into(),
        Identity::Null => "ID_NULL".into(),
    }
}

/// A connection's id, local and remote selectors, and where its trap's
/// route points (`conn_nets`).
type ConnNets = (ConnId, Vec<Selector>, Vec<Selector>, Option<IpAddr>);

/// An end's `nexthop=` when it is an address (`%direct` and unresolved
/// names leave the route to the peer's address).
fn nexthop_of(end: &conf::EndSpec) -> Option<IpAddr> {
    match &end.nexthop {
        Some(conf::HostAddr::Addr(a)) => Some(*a),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_and_codes() {
        assert_eq!(
            serial_of("\"west\" #12: sent IKE_SA_INIT request to 192.0.2.2:500"),
            Some(12)
        );
        assert_eq!(serial_of("dropping packet"), None);
        assert_eq!(progress_rc("x sent IKE_AUTH request {..}"), Rc(182));
        assert_eq!(progress_rc("initiating IKEv2 connection"), Rc(181));
        assert_eq!(
            progress_rc("initiator established Child SA using #1"),
            Rc(4)
        );
    }
}
