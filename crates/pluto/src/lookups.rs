//! The daemon's host lookups: when a connection whose hosts are
//! `%defaultroute` or DNS names is added, brought up (`--up`), caught by
//! its trap (ACQUIRE), revived, restarted by DPD or left unanswered by its
//! peer (IKE_SA_INIT timeout), its hosts are resolved again on a lookup
//! thread ([`crate::resolver`]) and the work waits, as a [`Group`], for
//! the answer; the event loop keeps serving meanwhile.
//!
//! When an address changed, the connection leaves the IKE engine (its SAs
//! deleted), takes the new addresses, and its trap, if it was routed, is
//! installed again for the new peer. A lookup that fails is reported to the
//! client that waits for it, or logged and tried again after a back-off.

use crate::daemon::Pluto;
use crate::hosts::{needs_resolving, resolve_spec, same_hosts, ResolveError};
use crate::reply::Replier;
use crate::resolver::{Group, LookupDone, Trigger, LOOKUP_TIMEOUT};
use conf::ConnSpec;
use control::Rc;
use std::sync::Arc;
use std::time::Instant;

/// How an `--add` of one connection went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Added.
    Now,
    /// Waiting for its host lookup.
    Deferred,
    /// Refused (the reply says why).
    Failed,
}

/// The hosts of a connection as written, for messages:
/// `left=%defaultroute right=vpn.example.com`.
pub fn hosts_words(spec: &ConnSpec) -> String {
    format!("left={} right={}", spec.left.host, spec.right.host)
}

impl Pluto {
    /// After a successful `--add`: keeps the written specification of a
    /// connection whose hosts need resolving.
    pub fn remember_written(&mut self, written: Arc<ConnSpec>) {
        if needs_resolving(&written) {
            self.wire
                .written_specs
                .insert(written.name.clone(), written);
        } else {
            self.wire.written_specs.remove(&written.name);
        }
    }

    /// Whether connection `name` names its hosts by `%defaultroute` or
    /// DNS (and so is looked up again before it negotiates).
    pub fn needs_lookup(&self, name: &str) -> bool {
        self.wire.written_specs.contains_key(name)
    }

    /// Moves connection `name` to the hosts of `fresh`: when they differ
    /// from its current ones, it leaves the IKE engine (its SAs deleted)
    /// and takes them; a trap is installed again for the new peer. Returns
    /// the line to log when something changed.
    pub fn move_hosts(
        &mut self,
        name: &str,
        fresh: &Arc<ConnSpec>,
    ) -> Result<Option<String>, ResolveError> {
        let Some(current) = self.db.get(name).map(|c| c.spec.clone()) else {
            return Ok(None);
        };
        if same_hosts(fresh, &current) {
            return Ok(None);
        }
        let local = self.local_addrs();
        let info = crate::spec::conn_info(fresh, &local).map_err(ResolveError::Orientation)?;
        let trapped = self.wire.conn_ids.get(name).is_some_and(|id| {
            self.wire
                .routes
                .get(id)
                .is_some_and(|r| r.trap && r.current.is_none())
        });
        if trapped {
            self.updown(name, &["unroute"], &Default::default());
        }
        self.forget_conn(name);
        if let Some(c) = self.db.get_mut(name) {
            c.spec = fresh.clone();
            c.info = info;
            c.routing = crate::connection::Routing::Unrouted;
        }
        self.certs_ids(name);
        let line = format!(
            "\"{name}\": hosts resolved again: left={} right={} (were left={} right={})",
            fresh.left.host, fresh.right.host, current.left.host, current.right.host
        );
        tracing::info!("{line}");
        if trapped {
            let mut r = Replier::detached();
            self.route(name, &mut r);
            log_text(&mut r);
        }
        Ok(Some(line))
    }

    /// Shows the certificate IDs of a connection that changed.
    fn certs_ids(&mut self, name: &str) {
        if let Some(c) = self.db.get_mut(name) {
            self.certs.show_cert_ids(&mut c.info);
        }
    }

    /// Resolves connection `name`'s hosts in place (no event loop to hand
    /// the lookup to: unit tests) and moves it to them.
    pub fn refresh_hosts(&mut self, name: &str) -> Result<Option<String>, ResolveError> {
        let Some(written) = self.wire.written_specs.get(name).cloned() else {
            return Ok(None);
        };
        let fresh = Arc::new(resolve_spec(&written)?);
        self.move_hosts(name, &fresh)
    }

    /// `--add` of one connection: added now when its hosts are literal,
    /// else after its lookup (the reply waits; `auto` is what start-up does
    /// next: `route`, `start` ...).
    pub fn add_or_defer(
        &mut self,
        written: Arc<ConnSpec>,
        replace: bool,
        auto: Option<String>,
        r: &mut Replier,
    ) -> Added {
        if !needs_resolving(&written) || !self.hosts.available() {
            let local = self.local_addrs();
            return if self.add_one(written, replace, &local, r) {
                Added::Now
            } else {
                Added::Failed
            };
        }
        let name = written.name.clone();
        let group = match self.hosts.park {
            Some(g) => g,
            None => {
                let g = self.hosts.group(None);
                self.hosts.park = Some(g);
                g
            }
        };
        r.log(format!(
            "\"{name}\": resolving {} in the background (at most {}s)",
            hosts_words(&written),
            LOOKUP_TIMEOUT.as_secs()
        ));
        self.hosts
            .add_step(group, &name, Trigger::Add { replace, auto });
        self.hosts.lookup(group, written, Instant::now());
        Added::Deferred
    }

    /// `--up` of `names`: when one needs a lookup, starts the lookups and
    /// defers every initiation of the request until they answered; the
    /// reply waits. False when nothing was deferred (initiate now).
    pub fn defer_up(
        &mut self,
        names: &[String],
        remote_host: Option<&str>,
        asynchronous: bool,
        r: &mut Replier,
    ) -> bool {
        if !self.hosts.available() || !names.iter().any(|n| self.needs_lookup(n)) {
            return false;
        }
        let group = self.hosts.group(None);
        let now = Instant::now();
        for n in names {
            self.hosts.add_step(
                group,
                n,
                Trigger::Up {
                    remote_host: remote_host.map(str::to_string),
                    asynchronous,
                },
            );
            if let Some(w) = self.wire.written_specs.get(n).cloned() {
                r.log(format!(
                    "\"{n}\": resolving {} (at most {}s)",
                    hosts_words(&w),
                    LOOKUP_TIMEOUT.as_secs()
                ));
                self.hosts.lookup(group, w, now);
            }
        }
        r.flush();
        self.hosts.park = Some(group);
        true
    }

    /// Background work on connection `name` after a fresh lookup (ACQUIRE,
    /// revival, DPD restart, IKE_SA_INIT timeout). A lookup already in
    /// flight for an ACQUIRE is enough.
    pub fn lookup_then(&mut self, name: &str, trigger: Trigger) {
        let Some(written) = self.wire.written_specs.get(name).cloned() else {
            return self.after_lookup(name, &trigger, None, &mut Replier::detached());
        };
        if trigger == Trigger::Acquire && self.hosts.pending_since(name).is_some() {
            return;
        }
        tracing::info!(
            "\"{name}\": {}: resolving {} again",
            trigger.word(),
            hosts_words(&written)
        );
        let group = self.hosts.group(None);
        self.hosts.add_step(group, name, trigger);
        self.hosts.lookup(group, written, Instant::now());
    }

    /// A lookup thread answered.
    pub fn on_lookup_answer(&mut self, done: LookupDone) {
        if let Some((name, result)) = self.hosts.on_done(done) {
            self.on_lookup_result(&name, result);
        }
    }

    /// Lookups past their timeout fail; background tries whose delay is
    /// over start again.
    pub fn on_lookup_timers(&mut self, now: Instant) {
        for name in self.hosts.expired(now) {
            let hosts = self
                .hosts
                .written_of(&name)
                .map(|w| hosts_words(&w))
                .unwrap_or_default();
            self.on_lookup_result(
                &name,
                Err(ResolveError::Timeout {
                    hosts,
                    secs: LOOKUP_TIMEOUT.as_secs(),
                }),
            );
        }
        for (written, trigger) in self.hosts.due_retries(now) {
            let name = written.name.clone();
            match trigger {
                // The add of a start-up connection, unless it was added
                // meanwhile.
                Trigger::Add { .. } if self.db.get(&name).is_none() => {
                    tracing::info!("\"{name}\": resolving {} again", hosts_words(&written));
                    let group = self.hosts.group(None);
                    self.hosts.add_step(group, &name, trigger);
                    self.hosts.lookup(group, written, now);
                }
                Trigger::Add { .. } => {}
                _ if self.db.get(&name).is_some() => self.lookup_then(&name, trigger),
                _ => {}
            }
        }
    }

    /// Applies a lookup's result to the connection (if it exists) and runs
    /// the groups it completes.
    fn on_lookup_result(&mut self, name: &str, result: Result<ConnSpec, ResolveError>) {
        let outcome = match result {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                match self.move_hosts(name, &fresh) {
                    Ok(Some(line)) => Ok((fresh, Some(line))),
                    Ok(None) => Ok((fresh, None)),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &outcome {
            tracing::warn!("\"{name}\": host lookup failed: {e}");
        }
        for g in self.hosts.settle(name, outcome) {
            self.run_group(g);
        }
    }

    /// Runs a group's steps, in order, and ends its reply.
    pub fn run_group(&mut self, g: Group) {
        let background = g.reply.is_none();
        let mut reply = g.reply.unwrap_or_else(Replier::detached);
        for (name, trigger) in &g.steps {
            match g.results.get(name) {
                Some(Err(e)) => {
                    let written = g
                        .written
                        .get(name)
                        .cloned()
                        .or_else(|| self.wire.written_specs.get(name).cloned());
                    self.lookup_failed(name, trigger, e, written, &mut reply)
                }
                Some(Ok((fresh, moved))) => {
                    if let Trigger::Add { replace, auto } = trigger {
                        let Some(written) = g.written.get(name).cloned() else {
                            continue;
                        };
                        self.add_resolved_step(written, fresh.clone(), *replace, auto, &mut reply);
                    } else {
                        // Logged already (`move_hosts`); the client sees
                        // it too.
                        if let (Some(line), false) = (moved, background) {
                            reply.log(line);
                        }
                        self.after_lookup(name, trigger, Some(moved.is_some()), &mut reply);
                    }
                }
                None => self.after_lookup(name, trigger, None, &mut reply),
            }
        }
        if background {
            log_text(&mut reply);
            reply.finish();
            self.pump();
        } else {
            self.finish_or_park(reply);
        }
    }

    /// `--add` after the lookup: adds with the resolved hosts, then routes
    /// or initiates as `auto=` asks.
    fn add_resolved_step(
        &mut self,
        written: Arc<ConnSpec>,
        fresh: Arc<ConnSpec>,
        replace: bool,
        auto: &Option<String>,
        r: &mut Replier,
    ) {
        let name = written.name.clone();
        let local = self.local_addrs();
        if !self.add_resolved(written, fresh, replace, &local, r) {
            return;
        }
        match auto.as_deref() {
            Some("route" | "ondemand") => self.route(&name, r),
            Some("start" | "up" | "keep") => self.initiate(&name, None, true, r),
            _ => {}
        }
    }

    /// What a trigger does once the hosts are fresh. `moved`: whether the
    /// lookup changed them (`None`: no lookup was needed).
    fn after_lookup(
        &mut self,
        name: &str,
        trigger: &Trigger,
        moved: Option<bool>,
        r: &mut Replier,
    ) {
        let idle = |me: &Self| {
            me.wire
                .conn_ids
                .get(name)
                .is_none_or(|id| me.wire.engine.ike_sas_of(*id).is_empty())
        };
        match trigger {
            Trigger::Add { .. } => {}
            Trigger::Up {
                remote_host,
                asynchronous,
            } => self.initiate(name, remote_host.as_deref(), *asynchronous, r),
            // The peer did not answer at its old address: initiate at the
            // new one; an unchanged one is left to the usual revival.
            Trigger::Retransmit if moved != Some(true) => {}
            Trigger::Acquire | Trigger::Revive | Trigger::Restart | Trigger::Retransmit => {
                if self.db.get(name).is_none() || !idle(self) {
                    return;
                }
                tracing::info!("\"{name}\": {}: initiating", trigger.word());
                match self.engine_conn(name) {
                    Ok(id) => match self.wire.engine.initiate(Instant::now(), id) {
                        Ok(sa) => {
                            self.wire.initiated.insert(sa);
                        }
                        Err(e) => {
                            tracing::warn!("\"{name}\": {}: cannot initiate: {e}", trigger.word())
                        }
                    },
                    Err(e) => {
                        tracing::warn!("\"{name}\": {}: cannot initiate: {e}", trigger.word())
                    }
                }
                self.pump();
            }
        }
    }

    /// A lookup failed: the waiting client is told; background work is
    /// tried again after a back-off (revival keeps its own schedule).
    fn lookup_failed(
        &mut self,
        name: &str,
        trigger: &Trigger,
        e: &str,
        written: Option<Arc<ConnSpec>>,
        r: &mut Replier,
    ) {
        match trigger {
            Trigger::Add { auto: None, .. } => r.fail(
                Rc::FATAL,
                format!("\"{name}\": failed to add connection: {e}"),
            ),
            // A start-up connection is not lost: its add is tried again.
            Trigger::Add { auto: Some(_), .. } => {
                r.log(format!("\"{name}\": cannot add the connection yet: {e}"));
                if let Some(w) = written {
                    self.retry_later(w, trigger);
                }
            }
            Trigger::Up { .. } => r.fail(Rc::FATAL, format!("\"{name}\": cannot initiate: {e}")),
            Trigger::Revive => match self.wire.conn_ids.get(name).copied() {
                Some(id) => self.schedule_revival(id, name),
                None => {
                    if let Some(w) = written {
                        self.retry_later(w, trigger);
                    }
                }
            },
            Trigger::Acquire | Trigger::Restart | Trigger::Retransmit => {
                if let Some(w) = written {
                    self.retry_later(w, trigger);
                }
            }
        }
    }

    /// Tries a failed lookup again after its back-off delay.
    fn retry_later(&mut self, written: Arc<ConnSpec>, trigger: &Trigger) {
        let name = written.name.clone();
        match self
            .hosts
            .schedule_retry(written, trigger.clone(), Instant::now())
        {
            Some(d) => tracing::info!(
                "\"{name}\": {}: will look the hosts up again in {}s",
                trigger.word(),
                d.as_secs()
            ),
            None => tracing::warn!(
                "\"{name}\": {}: giving up looking the hosts up after {} tries",
                trigger.word(),
                crate::resolver::BACKOFF_TRIES
            ),
        }
    }

    /// Status lines of the lookups in flight.
    pub fn lookup_status(&self, r: &mut Replier) {
        let now = Instant::now();
        for name in self.hosts.pending_names() {
            let since = self
                .hosts
                .pending_since(&name)
                .map(|s| now.saturating_duration_since(s).as_secs())
                .unwrap_or(0);
            let hosts = self
                .hosts
                .written_of(&name)
                .map(|w| hosts_words(&w))
                .unwrap_or_else(|| "its hosts".into());
            r.info(format!(
                "\"{name}\": resolving {hosts}: lookup pending for {since}s"
            ));
        }
        for (name, at) in self.hosts.retry_times() {
            r.info(format!(
                "\"{name}\": host lookup failed; trying again in {}s",
                at.saturating_duration_since(now).as_secs()
            ));
        }
    }

    /// At shutdown: the replies still waiting for a lookup fail.
    pub fn fail_lookup_waiters(&mut self) {
        for g in self.hosts.take_groups() {
            if let Some(mut reply) = g.reply {
                reply.fail(Rc::FATAL, "pluto is shutting down");
                reply.finish();
            }
        }
    }
}

/// Logs what a detached replier collected.
fn log_text(r: &mut Replier) {
    for line in r.take_text().lines() {
        if let Ok(l) = control::ReplyLine::parse(line) {
            if let Some(text) = l.display(true) {
                tracing::info!("{text}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::InterfaceAddr;
    use crate::resolver::Resolver;
    use crate::status::SetupView;
    use std::path::PathBuf;

    fn pluto() -> Pluto {
        let mut p = Pluto::new(
            SetupView::default(),
            PathBuf::from("/nonexistent/ipsec.conf"),
            PathBuf::from("/nonexistent/ipsec.secrets"),
            PathBuf::from("/nonexistent/ipsec.d"),
        );
        p.interfaces = vec![InterfaceAddr {
            name: "eth0".into(),
            addr: "192.0.2.1".parse().unwrap(),
        }];
        p
    }

    fn spec(right: &str) -> Arc<ConnSpec> {
        let text = format!("conn c\n\tleft=192.0.2.1\n\tright={right}\n\tauthby=secret\n");
        let cfg = conf::Config::parse_str(
            &text,
            std::path::Path::new("test.conf"),
            &conf::LoadOptions::default(),
        )
        .expect("config");
        Arc::new(cfg.conn("c").expect("conn").clone())
    }

    #[test]
    fn a_connection_moves_to_new_hosts_once() {
        let mut p = pluto();
        let mut r = Replier::detached();
        // No event loop here: the add resolves in place.
        assert_eq!(
            p.add_or_defer(spec("localhost"), false, None, &mut r),
            Added::Now
        );
        assert!(p.needs_lookup("c"));
        let right = |p: &Pluto| p.db.get("c").map(|c| c.spec.right.host.to_string());
        assert_eq!(right(&p).as_deref(), Some("127.0.0.1"));
        let moved = spec("127.0.0.2");
        let line = p.move_hosts("c", &moved).expect("orients");
        assert_eq!(
            line.as_deref(),
            Some("\"c\": hosts resolved again: left=192.0.2.1 right=127.0.0.2 (were left=192.0.2.1 right=127.0.0.1)")
        );
        assert_eq!(right(&p).as_deref(), Some("127.0.0.2"));
        assert_eq!(p.move_hosts("c", &moved).expect("same"), None);
    }

    #[test]
    fn a_failed_lookup_fails_the_client_and_retries_the_background() {
        let mut p = pluto();
        let mut r = Replier::detached();
        p.add_or_defer(spec("localhost"), false, None, &mut r);
        let _ = r.take_text();
        let mut hosts = Resolver::new();
        let g = hosts.group(Some(Replier::detached()));
        hosts.add_step(
            g,
            "c",
            Trigger::Up {
                remote_host: None,
                asynchronous: false,
            },
        );
        let mut group = hosts.take_if_ready(g).expect("no lookup pending");
        group
            .results
            .insert("c".into(), Err("right=peer.test: cannot resolve".into()));
        let mut reply = group.reply.take().expect("reply");
        for (name, trigger) in &group.steps {
            p.lookup_failed(
                name,
                trigger,
                "right=peer.test: cannot resolve",
                None,
                &mut reply,
            );
        }
        assert_eq!(reply.failure(), Some(Rc::FATAL));
        assert!(reply
            .take_text()
            .contains("\"c\": cannot initiate: right=peer.test: cannot resolve"));
        // An ACQUIRE's lookup is tried again later.
        let written = p.wire.written_specs.get("c").cloned();
        p.lookup_failed("c", &Trigger::Acquire, "no answer", written, &mut reply);
        assert_eq!(p.hosts.retry_times().len(), 1);
        let mut status = Replier::detached();
        p.lookup_status(&mut status);
        assert!(status
            .take_text()
            .contains("\"c\": host lookup failed; trying again in"));
    }
}
