//! The daemon's state and its event loop: one task owns [`Pluto`]; control
//! requests (and, later, IKE packets, timers and kernel events) reach it
//! through channels, so nothing else touches the state.

use crate::certs::{CertSettings, Certs};
use crate::conndb::{ConnDb, DbError};
use crate::connection::{Connection, Routing};
use crate::interfaces::{self, InterfaceAddr};
use crate::lists;
use crate::reply::Replier;
use crate::secrets::SecretsStore;
use crate::server::ControlCommand;
use crate::spec::{self, LoadedConfig};
use crate::status::{self, SetupView, StatusView};
use crate::wire::Wire;
use control::{AddConns, ListKind, Rc, Request, StatusKind};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// The data plane's event descriptor, for tokio's `AsyncFd`.
struct EventFd(RawFd);

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// What the event loop does after a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// Shut down.
    Shutdown,
}

/// The daemon's state.
pub struct Pluto {
    /// Settings shown by status.
    pub setup: SetupView,
    /// The configuration file (for start-up and `auto=`).
    pub config_path: PathBuf,
    /// `ipsecdir`.
    pub ipsecdir: PathBuf,
    /// The connection database.
    pub db: ConnDb,
    /// ipsec.secrets.
    pub secrets: SecretsStore,
    /// Interface addresses recorded by `--ready` (and at start).
    pub interfaces: Vec<InterfaceAddr>,
    /// Process id.
    pub pid: u32,
    /// The IKE engine, its sockets and the data plane.
    pub wire: Wire,
    /// Private keys for raw-key authentication (`IPSECDIR/private/*.pem`).
    pub private_keys: Vec<std::sync::Arc<ike::crypto::PrivateKey>>,
    /// `--keylog-dir`: where SA keys are written for Wireshark, if asked.
    pub keylog: Option<crate::keylog::KeyLog>,
    /// `--impair omit-v2-ike-auth-child`: initiate every connection
    /// childless.
    pub omit_ike_auth_child: bool,
    /// Certificates: the NSS database and the PEM folders, CRL fetching.
    pub certs: Certs,
    /// Host lookups in flight (`%defaultroute`, DNS names).
    pub hosts: crate::resolver::Resolver,
}

impl Pluto {
    /// A daemon with no connections.
    pub fn new(
        setup: SetupView,
        config_path: PathBuf,
        secrets_path: PathBuf,
        ipsecdir: PathBuf,
    ) -> Self {
        let certs = Certs::new(
            PathBuf::from(&setup.nssdir),
            ipsecdir.clone(),
            CertSettings::default(),
        );
        Pluto {
            setup,
            config_path,
            ipsecdir,
            db: ConnDb::new(),
            secrets: SecretsStore::new(secrets_path),
            interfaces: Vec::new(),
            pid: std::process::id(),
            certs,
            wire: Wire::new(),
            private_keys: Vec::new(),
            keylog: None,
            omit_ike_auth_child: false,
            hosts: crate::resolver::Resolver::new(),
        }
    }

    /// What authenticates connections (for `ikeconn::map_connection`).
    pub fn credentials(&self) -> crate::ikeconn::Credentials<'_> {
        crate::ikeconn::Credentials {
            secrets: self.secrets.current(),
            keys: &self.private_keys,
            certs: Some(&self.certs),
        }
    }

    /// The host's addresses, as last scanned.
    pub fn local_addrs(&self) -> Vec<IpAddr> {
        self.interfaces.iter().map(|i| i.addr).collect()
    }

    /// Runs the event loop until a shutdown request or `stop` fires: control
    /// requests, IKE datagrams, the engine's timers and the data plane's
    /// events.
    pub async fn run(
        &mut self,
        mut commands: mpsc::Receiver<ControlCommand>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let (_keep_tx, idle_rx) = mpsc::channel(1);
        let mut udp_rx = self.wire.udp_rx.take().unwrap_or(idle_rx);
        let (_keep_tcp_tx, idle_tcp_rx) = mpsc::channel(1);
        let mut tcp_rx = self.wire.tcp.events_rx.take().unwrap_or(idle_tcp_rx);
        let mut kernel_fd: Option<AsyncFd<EventFd>> = None;
        let (_keep_lookup_tx, idle_lookups) = tokio::sync::mpsc::unbounded_channel();
        let mut lookups = self.hosts.take_receiver().unwrap_or(idle_lookups);
        loop {
            if kernel_fd.is_none() {
                kernel_fd = self
                    .wire
                    .backend
                    .as_ref()
                    .and_then(|b| b.event_fd())
                    // SAFETY: the descriptor belongs to the data plane in
                    // `self.wire.backend`, which once opened is neither
                    // replaced nor dropped while this loop runs.
                    .and_then(|fd| unsafe { AsyncFd::register(EventFd(fd)) }.ok());
            }
            let engine_next = self.wire.engine.poll_timeout();
            let next = [
                engine_next,
                self.wire.next_timer(),
                self.certs.next_timer(),
                self.hosts.next_timer(),
            ]
            .into_iter()
            .flatten()
            .min();
            let deadline = next
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                cmd = commands.recv() => {
                    let Some(ControlCommand { request, mut reply }) = cmd else { break };
                    let flow = self.handle(request, &mut reply);
                    self.finish_or_park(reply);
                    if flow == Flow::Shutdown {
                        break;
                    }
                }
                Some(d) = udp_rx.recv() => {
                    self.on_datagram(d.local, d.remote, &d.bytes);
                }
                Some(done) = lookups.recv() => self.on_lookup_answer(done),
                Some(ev) = tcp_rx.recv() => self.on_tcp_event(ev),
                ready = async {
                    match &kernel_fd {
                        Some(fd) => fd.readable().await.map(|mut g| g.clear_ready()),
                        None => std::future::pending().await,
                    }
                } => {
                    if let Err(e) = ready {
                        tracing::error!("data plane events: {e}");
                    }
                    self.on_kernel_events();
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.on_timeout();
                    self.on_lookup_timers(std::time::Instant::now());
                    for line in self.certs.on_timer(std::time::Instant::now()) {
                        tracing::info!("{line}");
                    }
                }
                () = &mut stop => break,
            }
        }
        // Tell the peers (INFORMATIONAL Delete), as Libreswan does on
        // shutdown.
        let ids: Vec<_> = self.wire.conn_ids.values().copied().collect();
        for id in ids {
            let _ = self
                .wire
                .engine
                .terminate(std::time::Instant::now(), ike::Target::Connection(id));
        }
        self.pump();
        self.fail_lookup_waiters();
        for w in self.wire.take_waiters() {
            let mut reply = w.reply;
            reply.fail(Rc::FATAL, "pluto is shutting down");
            reply.finish();
        }
    }

    /// Handles one request, writing the answer to `r` (but not finishing it).
    pub fn handle(&mut self, request: Request, r: &mut Replier) -> Flow {
        tracing::debug!("handling {}", request.op_name());
        match request {
            Request::Add(add) => self.add(&add, false, r),
            Request::Replace(add) => self.add(&add, true, r),
            Request::Delete { name } => self.delete(&name, r),
            Request::Initiate {
                name,
                remote_host,
                asynchronous,
            } => {
                let names = self.db.resolve(&name);
                if !self.defer_up(&names, remote_host.as_deref(), asynchronous, r) {
                    self.with_conns(&name, r, |me, n, r| {
                        me.initiate(n, remote_host.as_deref(), asynchronous, r)
                    });
                }
            }
            Request::Terminate { name } => {
                self.with_conns(&name, r, |me, n, r| me.terminate(n, r));
            }
            Request::Rekey { name, kind } => {
                self.with_conns(&name, r, |me, n, r| me.rekey(n, kind, r));
            }
            Request::Route { name } => {
                self.with_conns(&name, r, |me, n, r| me.route(n, r));
            }
            Request::Unroute { name } => {
                self.with_conns(&name, r, |me, n, r| me.unroute(n, r));
            }
            Request::Listen => {
                self.listen(r);
                self.reread_secrets(r);
            }
            Request::Status { kind, json } => self.status(kind, json, r),
            Request::RereadSecrets => self.reread_secrets(r),
            Request::RereadCerts => self.reread_certs(r),
            Request::FetchCrls => self.fetch_crls(r),
            Request::RereadAll => {
                self.reread_secrets(r);
                self.reread_certs(r);
                self.fetch_crls(r);
            }
            Request::List { kinds, utc } => {
                // --checkpubkeys alone prints only what expires, as
                // Libreswan does (nothing when nothing does).
                if kinds != [ListKind::CheckPubkeys] {
                    lists::start(r);
                }
                for kind in kinds {
                    self.list(kind, utc, r);
                }
            }
            Request::PurgeOcsp => {
                lists::start(r);
                for kind in ListKind::ALL {
                    self.list(kind, false, r);
                }
                let n = self.certs.purge_ocsp();
                r.log(format!("purged the OCSP cache ({n} entries)"));
            }
            Request::Shutdown => {
                tracing::info!("shutting down on request");
                return Flow::Shutdown;
            }
        }
        Flow::Continue
    }

    /// Calls `f` for every connection `name` designates (name, else alias);
    /// an unknown name is `RC_UNKNOWN_NAME`.
    fn with_conns(
        &mut self,
        name: &str,
        r: &mut Replier,
        mut f: impl FnMut(&mut Self, &str, &mut Replier),
    ) {
        let names = self.db.resolve(name);
        if names.is_empty() {
            r.fail(Rc::UNKNOWN_NAME, format!("no connection named \"{name}\""));
            return;
        }
        for n in names {
            f(self, &n, r);
        }
    }

    fn add(&mut self, add: &AddConns, replace: bool, r: &mut Replier) {
        let local = self.local_addrs();
        let loaded = match LoadedConfig::load(&add.config, add.rootdir.as_deref(), &local) {
            Ok(l) => l,
            Err(e) => {
                r.fail(
                    Rc::FATAL,
                    format!("cannot load {}: {e}", add.config.display()),
                );
                return;
            }
        };
        for w in &loaded.warnings {
            r.verbose(format!("warning: {w}"));
        }
        let (selected, errors) = loaded.into_selected(&add.names, add.autoall);
        for e in errors {
            r.fail(e.rc(), e.to_string());
        }
        for spec in selected {
            self.add_or_defer(spec, replace, None, r);
        }
    }

    /// Adds one connection from its specification, resolving its hosts
    /// in place (see [`Pluto::add_or_defer`] for the lookup off the event
    /// loop).
    pub fn add_one(
        &mut self,
        spec: std::sync::Arc<conf::ConnSpec>,
        replace: bool,
        local: &[IpAddr],
        r: &mut Replier,
    ) -> bool {
        let name = spec.name.clone();
        let written = spec;
        let spec = match crate::hosts::resolved(&written) {
            Ok(s) => s,
            Err(e) => {
                r.fail(
                    Rc::FATAL,
                    format!("\"{name}\": failed to add connection: {e}"),
                );
                return false;
            }
        };
        self.add_resolved(written, spec, replace, local, r)
    }

    /// Adds one connection: `written` as the configuration says, `spec`
    /// with its hosts resolved.
    pub fn add_resolved(
        &mut self,
        written: std::sync::Arc<conf::ConnSpec>,
        spec: std::sync::Arc<conf::ConnSpec>,
        replace: bool,
        local: &[IpAddr],
        r: &mut Replier,
    ) -> bool {
        let name = written.name.clone();
        let mut info = match spec::conn_info(&spec, local) {
            Ok(i) => i,
            Err(e) => {
                r.fail(
                    Rc::FATAL,
                    format!("\"{name}\": failed to add connection: {e}"),
                );
                return false;
            }
        };
        self.certs.show_cert_ids(&mut info);
        match self.conn_extras(&name, &spec, info.this_is_left) {
            Ok(x) if replace || self.db.get(&name).is_none() => self.wire.extras.set(&name, x),
            Ok(_) => {}
            Err(e) => {
                r.fail(
                    Rc::FATAL,
                    format!("\"{name}\": failed to add connection: {e}"),
                );
                return false;
            }
        }
        let conn = Connection {
            info,
            spec,
            serial: 0,
            routing: Routing::Unrouted,
            newest_ike_sa: 0,
            newest_ipsec_sa: 0,
            newest_ike_algorithms: None,
            newest_esp_algorithms: None,
        };
        if replace {
            self.forget_conn(&name);
            self.remember_written(written);
            if self.db.replace(conn).is_some() {
                self.add_to_engine(&name, r);
                r.verbose(format!("\"{name}\": replaced connection"));
            } else {
                self.add_to_engine(&name, r);
                r.verbose(format!("\"{name}\": added IKEv2 connection"));
            }
            return true;
        }
        match self.db.add(conn) {
            Ok(_) => {
                self.remember_written(written);
                self.add_to_engine(&name, r);
                r.verbose(format!("\"{name}\": added IKEv2 connection"));
                true
            }
            Err(e @ DbError::Duplicate(_)) => {
                r.fail(Rc::DUPNAME, format!("\"{name}\": {e}"));
                false
            }
            Err(e) => {
                r.fail(Rc::INTERNAL_ERROR, format!("\"{name}\": {e}"));
                false
            }
        }
    }

    /// Hands a connection to the IKE engine (so it can respond); one that
    /// cannot be mapped yet (no secret, not oriented) is added on `--up`.
    fn add_to_engine(&mut self, name: &str, r: &mut Replier) {
        let shunt = self.db.get(name).is_some_and(|c| {
            matches!(
                c.spec.conn_type,
                conf::ConnType::Passthrough | conf::ConnType::Drop | conf::ConnType::Reject
            )
        });
        if shunt {
            return;
        }
        if let Err(e) = self.engine_conn(name) {
            r.verbose(format!("\"{name}\": not yet ready to negotiate: {e}"));
        }
    }

    fn delete(&mut self, name: &str, r: &mut Replier) {
        // A start-up connection still waiting to be added (its host name
        // did not resolve yet) is not tried again.
        if self.hosts.cancel_retries(name) {
            r.verbose(format!(
                "\"{name}\": no longer trying to add the connection"
            ));
            if self.db.resolve(name).is_empty() {
                return;
            }
        }
        self.with_conns(name, r, |me, n, r| {
            me.forget_conn(n);
            if let Some(c) = me.db.get_mut(n) {
                c.routing = Routing::Unrouted;
            }
            match me.db.delete(n) {
                Ok(_) => r.verbose(format!("\"{n}\": deleted connection")),
                Err(e) => r.fail(Rc::UNKNOWN_NAME, e.to_string()),
            }
        });
    }

    /// Scans the interfaces and records the addresses to listen on; orients
    /// connections that could not be oriented before.
    pub fn listen(&mut self, r: &mut Replier) {
        match interfaces::scan() {
            Ok(addrs) => {
                let before = std::mem::replace(&mut self.interfaces, addrs);
                r.log(format!(
                    "recorded {} interface addresses to listen on for IKE messages (UDP 500 and 4500)",
                    self.interfaces.len()
                ));
                self.open_sockets(r);
                self.close_vanished_sockets(&before, r);
            }
            Err(e) => r.fail(Rc::INTERNAL_ERROR, e.to_string()),
        }
        let local = self.local_addrs();
        let names: Vec<String> = self
            .db
            .iter()
            .filter(|c| !c.info.oriented)
            .map(|c| c.info.name.clone())
            .collect();
        for n in names {
            if let Some(c) = self.db.get_mut(&n) {
                if let Ok(info) = spec::conn_info(&c.spec, &local) {
                    c.info = info;
                }
            }
        }
    }

    /// Opens the port-500 sockets on the recorded addresses (`listen=`
    /// restricts them). Needs the tokio runtime of the event loop.
    pub fn open_sockets(&mut self, r: &mut Replier) {
        if tokio::runtime::Handle::try_current().is_err() {
            r.verbose("no event loop: the IKE sockets are not opened");
            return;
        }
        let listen: Option<IpAddr> = self.setup.listen.as_deref().and_then(|l| l.parse().ok());
        let addrs: Vec<IpAddr> = self
            .local_addrs()
            .into_iter()
            .filter(|a| listen.is_none() || listen == Some(*a))
            .collect();
        if !self.wire.routing_prepared {
            self.wire.routing_prepared = true;
            if let Err(e) = crate::backend::Backend::prepare_routing(self.wire.protostack) {
                r.log(format!("warning: {e}"));
            }
        }
        for e in self.wire.open_sockets(&addrs) {
            r.log(format!("warning: {e}"));
        }
        for e in self.wire.tcp.open_listeners(&addrs) {
            r.log(format!("warning: {e}"));
        }
    }

    /// Closes the IKE sockets of addresses that left the host (`--ready`),
    /// as Libreswan shuts down a vanished interface; a port-4500 socket
    /// that an installed Child SA uses stays (see [`Wire::close_vanished`]).
    fn close_vanished_sockets(&mut self, before: &[InterfaceAddr], r: &mut Replier) {
        let present = self.local_addrs();
        let in_use: std::collections::HashSet<IpAddr> = self
            .wire
            .children
            .values()
            .filter_map(|c| self.wire.ike_sas.get(&c.ike_sa))
            .map(|ike| ike.info.local.ip())
            .collect();
        for (local, fate) in self.wire.close_vanished(&present, &in_use) {
            let ifname = before
                .iter()
                .find(|i| i.addr == local.ip())
                .map(|i| i.name.as_str())
                .unwrap_or("(gone)");
            let line = match fate {
                crate::wire::SocketFate::Closed => {
                    format!("shutting down interface {ifname} {local}")
                }
                crate::wire::SocketFate::DataPlaneKeeps => format!(
                    "shutting down interface {ifname} {local} (the userspace data plane keeps its duplicate open: an SA sends from it)"
                ),
                crate::wire::SocketFate::KeptInUse => format!(
                    "keeping interface {ifname} {local}: an installed Child SA still uses the address"
                ),
            };
            tracing::info!("{line}");
            r.log(line);
        }
    }

    /// Forgets and re-reads ipsec.secrets; a broken file keeps the old ones.
    pub fn reread_secrets(&mut self, r: &mut Replier) {
        let local = self.local_addrs();
        r.log("forgetting secrets");
        r.log(format!(
            "loading secrets from \"{}\"",
            self.secrets.path().display()
        ));
        match self.secrets.reload(&local) {
            Ok(warnings) => {
                for w in warnings {
                    r.log(format!("warning: {w}"));
                }
            }
            Err(e) => r.fail(Rc::FATAL, format!("{e}; keeping the previous secrets")),
        }
        let (keys, warnings) = crate::ikeconn::load_private_keys(&self.ipsecdir.join("private"));
        for w in warnings {
            r.log(format!("warning: private key {w}"));
        }
        if !keys.is_empty() {
            r.log(format!(
                "loaded {} private key(s) from {}",
                keys.len(),
                self.ipsecdir.join("private").display()
            ));
        }
        self.private_keys = keys;
    }

    /// Loads the certificate store again (the NSS database and the PEM
    /// folders); a store that fails to load keeps the previous one. Then
    /// hands the engine the connections that were waiting for a
    /// certificate.
    pub fn reread_certs(&mut self, r: &mut Replier) {
        r.log("forgetting certificates");
        match self.certs.reload() {
            Ok(notes) => {
                for n in notes {
                    r.log(n);
                }
            }
            Err(e) => {
                r.fail(Rc::FATAL, format!("{e}; keeping the previous certificates"));
                return;
            }
        }
        match self.certs.fetch_ocsp() {
            Ok(0) => {}
            Ok(n) => r.log(format!(
                "asking OCSP about {n} certificate(s) in the background"
            )),
            Err(e) => r.log(format!("warning: cannot ask OCSP: {e}")),
        }
        // Connections added before their certificate was there now show
        // its subject as their ID.
        let with_certs: Vec<String> = self
            .db
            .iter()
            .filter(|c| c.info.this.cert.is_some() || c.info.that.cert.is_some())
            .map(|c| c.info.name.clone())
            .collect();
        for n in &with_certs {
            if let Some(c) = self.db.get_mut(n) {
                self.certs.show_cert_ids(&mut c.info);
            }
        }
        for n in with_certs {
            if !self.wire.conn_ids.contains_key(&n) {
                self.add_to_engine(&n, r);
            }
        }
    }

    /// `--fetchcrls`: queues the fetches on the fetcher thread; the
    /// results arrive in the event loop.
    fn fetch_crls(&mut self, r: &mut Replier) {
        match self.certs.fetch_crls() {
            Ok(0) => r.verbose("no certificate has a CRL distribution point; nothing to fetch"),
            Ok(n) => r.log(format!("fetching {n} CRL(s) in the background")),
            Err(e) => r.fail(Rc::FATAL, format!("cannot fetch CRLs: {e}")),
        }
    }

    fn list(&mut self, kind: ListKind, utc: bool, r: &mut Replier) {
        let zone = if utc {
            pki::TimeZone::Utc
        } else {
            pki::TimeZone::System
        };
        let lines = match kind {
            ListKind::Pubkeys => {
                let nicknames: Vec<String> = self
                    .db
                    .sorted()
                    .into_iter()
                    .flat_map(|c| [c.info.this.cert.clone(), c.info.that.cert.clone()])
                    .flatten()
                    .collect();
                let from_certs = self.certs.list_pubkeys(&nicknames, zone);
                lists::pubkeys(r, self.db.sorted().into_iter(), &from_certs);
                lists::psks(r, &self.secrets, &self.certs.private_key_lines(&nicknames));
                return;
            }
            ListKind::Psks => {
                lists::psks(r, &self.secrets, &[]);
                return;
            }
            ListKind::Certs => self.certs.list_certs(),
            ListKind::CheckPubkeys => self.certs.check_pubkeys(zone),
            ListKind::Cacerts => self.certs.list_cacerts(),
            ListKind::Crls => self.certs.list_crls(),
        };
        for l in lines {
            r.info(l);
        }
    }

    fn status(&mut self, kind: StatusKind, json: bool, r: &mut Replier) {
        if let (StatusKind::Brief, false) = (kind, json) {
            let (ike, ipsec) = self.sa_counts();
            status::render_brief(r, &ike, &ipsec);
            return;
        }
        let sas = self.sa_view();
        let view = StatusView {
            setup: &self.setup,
            interfaces: &self.interfaces,
            conns: self.db.sorted(),
            extras: &self.wire.extras,
            pid: self.pid,
            sas,
        };
        match (kind, json) {
            (StatusKind::Full, true) => match status::render_json(&view) {
                Ok(doc) => {
                    for line in doc.lines() {
                        r.raw(line);
                    }
                }
                Err(e) => r.fail(Rc::INTERNAL_ERROR, format!("cannot render status: {e}")),
            },
            (_, true) => r.fail(
                Rc::BADWHACKMESSAGE,
                "--json is only available for the full status",
            ),
            (StatusKind::Full, false) => {
                status::render_text(r, &view);
                self.lookup_status(r);
            }
            (StatusKind::Brief, false) => status::render_brief(r, &view.sas.ike, &view.sas.ipsec),
            (StatusKind::States, false) => {
                for l in &view.sas.state_lines {
                    r.info(l);
                }
            }
            (StatusKind::Traffic, false) => {
                for l in &view.sas.traffic_lines {
                    r.info(l);
                }
            }
            (StatusKind::Shunts, false) => status::render_shunts(r),
        }
    }

    /// Start-up: the `auto=` connections of the configuration, as Libreswan
    /// handles them (add; route/ondemand also route; start/up also initiate).
    pub fn startup_conns(&mut self, loaded: &LoadedConfig, r: &mut Replier) {
        for spec in loaded.auto_conns() {
            let name = spec.name.clone();
            let auto = spec::auto_word(&spec);
            if self.add_or_defer(spec, false, Some(auto.clone()), r) != crate::lookups::Added::Now {
                continue;
            }
            match auto.as_str() {
                "route" | "ondemand" => self.route(&name, r),
                "start" | "up" | "keep" => self.initiate(&name, None, true, r),
                _ => {}
            }
        }
        // Connections waiting for their lookup carry on in the background.
        self.hosts.park = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempConf(PathBuf);
    impl Drop for TempConf {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn conf(tag: &str) -> TempConf {
        let p = std::env::temp_dir().join(format!(
            "ferroswan-daemon-{tag}-{}.conf",
            std::process::id()
        ));
        std::fs::write(
            &p,
            "conn a\n\tleft=203.0.113.1\n\tright=203.0.113.2\n\tauthby=secret\n\tconnalias=both\n\
             conn b\n\tleft=203.0.113.1\n\tright=203.0.113.3\n\tauthby=secret\n\tconnalias=both\n",
        )
        .unwrap();
        TempConf(p)
    }

    fn pluto() -> Pluto {
        Pluto::new(
            SetupView::default(),
            PathBuf::from("/nonexistent/ipsec.conf"),
            PathBuf::from("/nonexistent/ipsec.secrets"),
            PathBuf::from("/nonexistent/ipsec.d"),
        )
    }

    fn add(path: &std::path::Path, name: &str) -> Request {
        Request::Add(AddConns {
            config: path.to_path_buf(),
            rootdir: None,
            names: vec![name.to_string()],
            autoall: false,
        })
    }

    fn run(p: &mut Pluto, req: Request) -> (Option<Rc>, String) {
        let mut r = Replier::detached();
        p.handle(req, &mut r);
        (r.failure(), r.take_text())
    }

    #[test]
    fn add_duplicate_delete_by_alias() {
        let c = conf("db");
        let mut p = pluto();
        assert_eq!(run(&mut p, add(&c.0, "a")).0, None);
        let (rc, text) = run(&mut p, add(&c.0, "a"));
        assert_eq!(rc, Some(Rc::DUPNAME), "{text}");
        assert_eq!(run(&mut p, add(&c.0, "nosuch")).0, Some(Rc::UNKNOWN_NAME));
        // The alias names both; "a" is loaded already.
        let (rc, _) = run(&mut p, add(&c.0, "both"));
        assert_eq!(rc, Some(Rc::DUPNAME));
        assert_eq!(p.db.len(), 2);
        let (rc, text) = run(
            &mut p,
            Request::Initiate {
                name: "both".into(),
                remote_host: None,
                asynchronous: false,
            },
        );
        // Neither end is this host: each connection fails to initiate.
        assert_eq!(rc, Some(Rc::FATAL));
        assert_eq!(text.matches("cannot orient").count(), 2, "{text}");
        assert_eq!(
            run(
                &mut p,
                Request::Delete {
                    name: "both".into()
                }
            )
            .0,
            None
        );
        assert!(p.db.is_empty());
        assert_eq!(
            run(&mut p, Request::Delete { name: "a".into() }).0,
            Some(Rc::UNKNOWN_NAME)
        );
    }

    #[test]
    fn replace_keeps_old_on_failure_and_shutdown_flow() {
        let c = conf("replace");
        let mut p = pluto();
        run(&mut p, add(&c.0, "a"));
        let serial = p.db.get("a").map(|c| c.serial);
        let (rc, _) = run(
            &mut p,
            Request::Replace(AddConns {
                config: c.0.clone(),
                rootdir: None,
                names: vec!["a".into()],
                autoall: false,
            }),
        );
        assert_eq!(rc, None);
        assert_ne!(p.db.get("a").map(|c| c.serial), serial);
        let (rc, text) = run(&mut p, add(std::path::Path::new("/nonexistent.conf"), "a"));
        assert_eq!(rc, Some(Rc::FATAL), "{text}");
        let mut r = Replier::detached();
        assert_eq!(p.handle(Request::Shutdown, &mut r), Flow::Shutdown);
        let mut r = Replier::detached();
        assert_eq!(p.handle(Request::Listen, &mut r), Flow::Continue);
        assert!(!p.interfaces.is_empty());
        // Missing secrets file: a failure naming it, nothing loaded.
        assert_eq!(r.failure(), Some(Rc::FATAL));
        assert!(r.take_text().contains("/nonexistent/ipsec.secrets"));
    }
}
