//! Host lookups off the event loop: `%defaultroute` and DNS names of a
//! connection (`left=`, `right=`, `leftnexthop=` ...) are resolved on
//! short-lived lookup threads ([`crate::hosts::resolve_spec`], which calls
//! the system resolver, `getaddrinfo`, and reads the routing table); each
//! result comes back to the event loop as a [`LookupDone`] on a channel.
//!
//! A lookup has [`LOOKUP_TIMEOUT`]: past it the event loop treats it as
//! failed (its thread's late answer is dropped). Lookups of one connection
//! are merged while one is pending; at most [`MAX_LOOKUP_THREADS`] run at
//! once and the rest wait their turn. A lookup that failed where nobody
//! waits for the answer (an ACQUIRE, a revival, an IKE_SA_INIT timeout) is
//! tried again after a [`Backoff`] delay, a bounded number of times.
//!
//! This module owns the bookkeeping only; what a finished lookup does
//! (move a connection to its new peer, initiate, add) is in
//! [`crate::hosts`].

use crate::hosts::{resolve_spec, ResolveError};
use crate::reply::Replier;
use conf::ConnSpec;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// How long one lookup may take before the daemon gives up on it (the
/// system resolver's own retries, `options timeout:`/`attempts:` in
/// resolv.conf, run inside it).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The most lookup threads alive at once.
pub const MAX_LOOKUP_THREADS: usize = 8;

/// First delay before a failed background lookup is tried again.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);

/// Longest delay between two tries.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Tries of a background lookup before the daemon stops (the next
/// ACQUIRE, revival or `--up` starts again); the add of a start-up
/// connection is tried for as long as the daemon runs.
pub const BACKOFF_TRIES: u32 = 8;

/// The delays between tries of a failed lookup: 1 s, 2 s, 4 s ... capped
/// at [`BACKOFF_MAX`], for at most [`BACKOFF_TRIES`] tries (or forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    /// Tries that failed so far.
    pub failures: u32,
}

impl Backoff {
    /// After one more failure: the delay before the next try, or `None`
    /// when the tries are used up (never when `forever`).
    pub fn next_delay(&mut self, forever: bool) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= BACKOFF_TRIES && !forever {
            return None;
        }
        let exp = self.failures.saturating_sub(1).min(16);
        Some(BACKOFF_FIRST.saturating_mul(1u32 << exp).min(BACKOFF_MAX))
    }
}

/// What waits for a connection's lookup, and is done with the fresh
/// addresses afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `--add` (or start-up): add the connection with the resolved hosts,
    /// then what its `auto=` asks (`route`, `start`).
    Add {
        /// `--replace`.
        replace: bool,
        /// After the add: `Some("route")`, `Some("start")` ...
        auto: Option<String>,
    },
    /// `--up`.
    Up {
        /// `--remote-host`.
        remote_host: Option<String>,
        /// `--asynchronous`.
        asynchronous: bool,
    },
    /// The data plane's trap caught a packet (ACQUIRE).
    Acquire,
    /// Revival of a failed `auto=start` connection.
    Revive,
    /// DPD found the peer dead and `dpdaction=restart`.
    Restart,
    /// IKE_SA_INIT went unanswered: the peer may have moved.
    Retransmit,
}

impl Trigger {
    /// Whether a failed lookup of this trigger is tried again in the
    /// background (nobody waits for its answer): `Some(true)` for as long
    /// as the daemon runs (a start-up connection's add, as Libreswan
    /// retries an unresolved `dnshostname`), `Some(false)` a bounded number
    /// of times, `None` never (a client gets the error).
    pub fn retries(&self) -> Option<bool> {
        match self {
            Trigger::Add { auto: Some(_), .. } => Some(true),
            Trigger::Add { auto: None, .. } | Trigger::Up { .. } => None,
            Trigger::Acquire | Trigger::Revive | Trigger::Restart | Trigger::Retransmit => {
                Some(false)
            }
        }
    }

    /// A word for the log.
    pub fn word(&self) -> &'static str {
        match self {
            Trigger::Add { .. } => "add",
            Trigger::Up { .. } => "up",
            Trigger::Acquire => "acquire",
            Trigger::Revive => "revival",
            Trigger::Restart => "DPD restart",
            Trigger::Retransmit => "IKE_SA_INIT timeout",
        }
    }
}

/// A lookup's answer, sent from its thread to the event loop.
#[derive(Debug)]
pub struct LookupDone {
    /// Which lookup.
    pub id: u64,
    /// The connection.
    pub name: String,
    /// The specification with literal addresses.
    pub result: Result<ConnSpec, ResolveError>,
}

/// A lookup's outcome for the groups: the resolved specification and, when
/// the connection moved to new addresses, the line saying so; or why it
/// failed.
pub type Outcome = Result<(Arc<ConnSpec>, Option<String>), String>;

/// A group of steps waiting for lookups, and the reply (if a client
/// waits) they end.
#[derive(Debug)]
pub struct Group {
    /// The client's reply; `None` for background work.
    pub reply: Option<Replier>,
    /// Connections whose lookup is still pending.
    pub waiting: HashSet<String>,
    /// What to do, in order, once nothing is pending.
    pub steps: Vec<(String, Trigger)>,
    /// The written specification of each connection to add (`--add`).
    pub written: HashMap<String, Arc<ConnSpec>>,
    /// The lookups' answers, by connection.
    pub results: HashMap<String, Outcome>,
}

/// A lookup in flight.
#[derive(Debug)]
struct Pending {
    id: u64,
    since: Instant,
    deadline: Instant,
    groups: Vec<u64>,
    /// What it resolves.
    written: Arc<ConnSpec>,
    /// A thread took it (else it waits for one).
    started: bool,
}

/// A background try waiting for its delay.
#[derive(Debug)]
struct Retry {
    at: Instant,
    name: String,
    trigger: Trigger,
    written: Arc<ConnSpec>,
}

/// The lookups in flight and what waits for them.
#[derive(Debug)]
pub struct Resolver {
    done_tx: UnboundedSender<LookupDone>,
    done_rx: Option<UnboundedReceiver<LookupDone>>,
    pending: HashMap<String, Pending>,
    queued: VecDeque<(String, Arc<ConnSpec>)>,
    threads: usize,
    next_id: u64,
    groups: BTreeMap<u64, Group>,
    /// Background tries waiting for their delay.
    retries: Vec<Retry>,
    /// Back-off state per connection (reset by a lookup that succeeds).
    pub backoff: HashMap<String, Backoff>,
    /// Set by a request handler: the current reply belongs to this group.
    pub park: Option<u64>,
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new()
    }
}

impl Resolver {
    /// No lookups.
    pub fn new() -> Self {
        let (done_tx, done_rx) = unbounded_channel();
        Resolver {
            done_tx,
            done_rx: Some(done_rx),
            pending: HashMap::new(),
            queued: VecDeque::new(),
            threads: 0,
            next_id: 1,
            groups: BTreeMap::new(),
            retries: Vec::new(),
            backoff: HashMap::new(),
            park: None,
        }
    }

    /// The receiving end of the answers (taken once by the event loop).
    pub fn take_receiver(&mut self) -> Option<UnboundedReceiver<LookupDone>> {
        self.done_rx.take()
    }

    /// Whether lookups can run in the background: the event loop's runtime
    /// is there to receive their answers. Without it (unit tests) the
    /// daemon resolves in place.
    pub fn available(&self) -> bool {
        self.done_rx.is_none() || tokio::runtime::Handle::try_current().is_ok()
    }

    /// A new group for these steps; the lookups it needs are started with
    /// [`Resolver::lookup`].
    pub fn group(&mut self, reply: Option<Replier>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.groups.insert(
            id,
            Group {
                reply,
                waiting: HashSet::new(),
                steps: Vec::new(),
                written: HashMap::new(),
                results: HashMap::new(),
            },
        );
        id
    }

    /// Adds a step to a group.
    pub fn add_step(&mut self, group: u64, name: &str, trigger: Trigger) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.steps.push((name.to_string(), trigger));
        }
    }

    /// Hands a parked client reply to its group.
    pub fn set_reply(&mut self, group: u64, reply: Replier) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.reply = Some(reply);
        }
    }

    /// Starts (or joins) the lookup of connection `name` for `group`.
    pub fn lookup(&mut self, group: u64, written: Arc<ConnSpec>, now: Instant) {
        let name = written.name.clone();
        if let Some(g) = self.groups.get_mut(&group) {
            g.waiting.insert(name.clone());
            g.written.insert(name.clone(), written.clone());
        }
        if let Some(p) = self.pending.get_mut(&name) {
            if !p.groups.contains(&group) {
                p.groups.push(group);
            }
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(
            name.clone(),
            Pending {
                id,
                since: now,
                deadline: now + LOOKUP_TIMEOUT,
                groups: vec![group],
                written: written.clone(),
                started: false,
            },
        );
        self.queued.push_back((name, written));
        self.start_queued();
    }

    /// Starts queued lookups while threads are free (their timeout counts
    /// from the request: a lookup that waited for a thread has less time).
    fn start_queued(&mut self) {
        while self.threads < MAX_LOOKUP_THREADS {
            let Some((name, written)) = self.queued.pop_front() else {
                break;
            };
            let Some(p) = self.pending.get_mut(&name) else {
                continue;
            };
            if p.started {
                continue; // a stale queue entry of a lookup started already
            }
            p.started = true;
            let id = p.id;
            let tx = self.done_tx.clone();
            let spawned = std::thread::Builder::new()
                .name("host-lookup".into())
                .spawn(move || {
                    let result = resolve_spec(&written);
                    let _ = tx.send(LookupDone {
                        id,
                        name: written.name.clone(),
                        result,
                    });
                });
            // Every start is balanced by one answer (`on_done`).
            self.threads += 1;
            if let Err(e) = spawned {
                // No thread: the lookup fails at once, as an answer.
                let _ = self.done_tx.send(LookupDone {
                    id,
                    name: name.clone(),
                    result: Err(ResolveError::Thread(e.to_string())),
                });
            }
        }
    }

    /// The specification connection `name`'s lookup resolves (in flight
    /// or waiting to be tried again).
    pub fn written_of(&self, name: &str) -> Option<Arc<ConnSpec>> {
        self.pending
            .get(name)
            .map(|p| p.written.clone())
            .or_else(|| {
                self.retries
                    .iter()
                    .find(|r| r.name == name)
                    .map(|r| r.written.clone())
            })
    }

    /// Connections waiting to be looked up again, with when.
    pub fn retry_times(&self) -> Vec<(String, Instant)> {
        let mut v: Vec<(String, Instant)> = self
            .retries
            .iter()
            .map(|r| (r.name.clone(), r.at))
            .collect();
        v.sort();
        v
    }

    /// Whether connection `name` has a lookup in flight, and since when.
    pub fn pending_since(&self, name: &str) -> Option<Instant> {
        self.pending.get(name).map(|p| p.since)
    }

    /// The connections with a lookup in flight, by name.
    pub fn pending_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.pending.keys().cloned().collect();
        v.sort();
        v
    }

    /// An answer arrived: the connection and its result (`None` for a
    /// stale answer, one that timed out); a queued lookup takes the freed
    /// thread.
    pub fn on_done(
        &mut self,
        done: LookupDone,
    ) -> Option<(String, Result<ConnSpec, ResolveError>)> {
        self.threads = self.threads.saturating_sub(1);
        self.start_queued();
        let current = self
            .pending
            .get(&done.name)
            .is_some_and(|p| p.id == done.id);
        if !current {
            return None;
        }
        Some((done.name, done.result))
    }

    /// Records the outcome of connection `name`'s lookup in the groups
    /// that waited for it; returns the groups with nothing left to wait
    /// for.
    pub fn settle(&mut self, name: &str, outcome: Outcome) -> Vec<Group> {
        let Some(p) = self.pending.remove(name) else {
            return Vec::new();
        };
        if outcome.is_ok() {
            self.backoff.remove(name);
        }
        let mut done = Vec::new();
        for gid in p.groups {
            let complete = match self.groups.get_mut(&gid) {
                Some(g) => {
                    g.waiting.remove(name);
                    g.results.insert(name.to_string(), outcome.clone());
                    g.waiting.is_empty()
                }
                None => false,
            };
            if complete {
                if let Some(g) = self.groups.remove(&gid) {
                    done.push(g);
                }
            }
        }
        done
    }

    /// A group that waits for no lookup at all (every connection resolved
    /// already): taken out to run now.
    pub fn take_if_ready(&mut self, group: u64) -> Option<Group> {
        if self
            .groups
            .get(&group)
            .is_some_and(|g| g.waiting.is_empty())
        {
            return self.groups.remove(&group);
        }
        None
    }

    /// Lookups past their deadline (running or still queued), by
    /// connection; [`Resolver::settle`] takes them out, and their late
    /// answers are dropped.
    pub fn expired(&mut self, now: Instant) -> Vec<String> {
        let mut names: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Schedules another background try of `written` after its back-off
    /// delay (as [`Trigger::retries`] says); `None` when the tries are
    /// used up or the trigger is not tried again.
    pub fn schedule_retry(
        &mut self,
        written: Arc<ConnSpec>,
        trigger: Trigger,
        now: Instant,
    ) -> Option<Duration> {
        let name = written.name.clone();
        let forever = trigger.retries()?;
        let delay = self
            .backoff
            .entry(name.clone())
            .or_default()
            .next_delay(forever);
        match delay {
            Some(d) => {
                self.retries
                    .retain(|r| !(r.name == name && r.trigger == trigger));
                self.retries.push(Retry {
                    at: now + d,
                    name,
                    trigger,
                    written,
                });
                Some(d)
            }
            None => {
                self.backoff.remove(&name);
                None
            }
        }
    }

    /// Forgets the waiting tries of connection `name` (`--delete`);
    /// whether there were any.
    pub fn cancel_retries(&mut self, name: &str) -> bool {
        let before = self.retries.len();
        self.retries.retain(|r| r.name != name);
        self.backoff.remove(name);
        self.retries.len() != before
    }

    /// Background tries whose delay is over: the specification and why.
    pub fn due_retries(&mut self, now: Instant) -> Vec<(Arc<ConnSpec>, Trigger)> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|r| r.at <= now);
        self.retries = later;
        due.into_iter().map(|r| (r.written, r.trigger)).collect()
    }

    /// When the event loop should call in next: a lookup's deadline or a
    /// background try.
    pub fn next_timer(&self) -> Option<Instant> {
        let deadlines = self.pending.values().map(|p| p.deadline);
        let retries = self.retries.iter().map(|r| r.at);
        deadlines.chain(retries).min()
    }

    /// Every group still waiting (shutdown).
    pub fn take_groups(&mut self) -> Vec<Group> {
        std::mem::take(&mut self.groups).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_ends() {
        let mut b = Backoff::default();
        let delays: Vec<u64> = std::iter::from_fn(|| b.next_delay(false))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60]);
        assert_eq!(b.failures, BACKOFF_TRIES);
        assert_eq!(b.next_delay(false), None);
        // Forever: the cap, and no end.
        for _ in 0..100 {
            assert_eq!(b.next_delay(true), Some(BACKOFF_MAX));
        }
    }

    fn spec(name: &str, right: &str) -> Arc<ConnSpec> {
        let text = format!("conn {name}\n\tleft=192.0.2.1\n\tright={right}\n\tauthby=secret\n");
        let cfg = conf::Config::parse_str(
            &text,
            std::path::Path::new("test.conf"),
            &conf::LoadOptions::default(),
        )
        .expect("config");
        Arc::new(cfg.conn(name).expect("conn").clone())
    }

    /// Waits (bounded) for the next answer on the channel.
    fn next_answer(rx: &mut UnboundedReceiver<LookupDone>) -> LookupDone {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(d) = rx.try_recv() {
                return d;
            }
            assert!(Instant::now() < until, "no lookup answer within 20s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn lookups_merge_per_connection_and_complete_their_groups() {
        let mut r = Resolver::new();
        let mut rx = r.take_receiver().expect("receiver");
        let now = Instant::now();
        let a = r.group(None);
        r.add_step(a, "c", Trigger::Acquire);
        let b = r.group(None);
        r.add_step(
            b,
            "c",
            Trigger::Up {
                remote_host: None,
                asynchronous: true,
            },
        );
        let s = spec("c", "localhost");
        r.lookup(a, s.clone(), now);
        r.lookup(b, s, now);
        assert_eq!(r.pending_names(), vec!["c".to_string()]);
        assert!(r.next_timer().is_some_and(|t| t <= now + LOOKUP_TIMEOUT));
        let done = next_answer(&mut rx);
        let (name, result) = r.on_done(done).expect("current answer");
        let fresh = result.expect("localhost resolves");
        assert_eq!(
            fresh.right.host,
            conf::HostAddr::Addr("127.0.0.1".parse().unwrap())
        );
        let groups = r.settle(&name, Ok((Arc::new(fresh), None)));
        assert_eq!(groups.len(), 2, "both groups waited for the one lookup");
        assert!(r.pending_names().is_empty());
        assert_eq!(r.next_timer(), None);
    }

    #[test]
    fn an_expired_lookup_drops_its_late_answer() {
        let mut r = Resolver::new();
        let mut rx = r.take_receiver().expect("receiver");
        let now = Instant::now();
        let g = r.group(None);
        r.lookup(g, spec("late", "localhost"), now);
        assert!(r.expired(now).is_empty());
        assert_eq!(r.expired(now + LOOKUP_TIMEOUT), vec!["late".to_string()]);
        let groups = r.settle("late", Err("no answer".into()));
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].results.get("late"),
            Some(&Err("no answer".to_string()))
        );
        let done = next_answer(&mut rx);
        assert!(r.on_done(done).is_none(), "stale answer");
    }

    #[test]
    fn retries_wait_for_their_delay_and_end() {
        let mut r = Resolver::new();
        let now = Instant::now();
        let x = spec("x", "localhost");
        assert_eq!(
            r.schedule_retry(x.clone(), Trigger::Revive, now),
            Some(Duration::from_secs(1))
        );
        assert!(r.due_retries(now).is_empty());
        assert_eq!(r.next_timer(), Some(now + Duration::from_secs(1)));
        assert_eq!(r.written_of("x").map(|w| w.name.clone()), Some("x".into()));
        let due = r.due_retries(now + Duration::from_secs(1));
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].0.name.as_str(), &due[0].1), ("x", &Trigger::Revive));
        for _ in 2..BACKOFF_TRIES {
            assert!(r.schedule_retry(x.clone(), Trigger::Revive, now).is_some());
        }
        assert_eq!(r.schedule_retry(x.clone(), Trigger::Revive, now), None);
        // A client's --up is told, not retried; a start-up add is retried
        // for as long as the daemon runs.
        let up = Trigger::Up {
            remote_host: None,
            asynchronous: false,
        };
        assert_eq!(r.schedule_retry(x.clone(), up, now), None);
        let startup = Trigger::Add {
            replace: false,
            auto: Some("start".into()),
        };
        for _ in 0..2 * BACKOFF_TRIES {
            assert!(r.schedule_retry(x.clone(), startup.clone(), now).is_some());
        }
        // One waiting try per trigger: the last revival and the add.
        assert_eq!(r.retry_times().len(), 2);
        assert!(r.cancel_retries("x"));
        assert!(r.retry_times().is_empty());
        assert!(!r.cancel_retries("x"));
        assert_eq!(Trigger::Acquire.retries(), Some(false));
    }

    #[test]
    fn thread_count_is_bounded_and_queued_lookups_start_later() {
        let mut r = Resolver::new();
        let mut rx = r.take_receiver().expect("receiver");
        let now = Instant::now();
        let g = r.group(None);
        for i in 0..MAX_LOOKUP_THREADS + 2 {
            r.lookup(g, spec(&format!("c{i}"), "localhost"), now);
        }
        assert_eq!(r.threads, MAX_LOOKUP_THREADS);
        assert_eq!(r.queued.len(), 2);
        // Queued lookups time out too, counted from the request.
        assert_eq!(
            r.expired(now + LOOKUP_TIMEOUT).len(),
            MAX_LOOKUP_THREADS + 2
        );
        let mut settled = 0;
        let mut complete = Vec::new();
        while settled < MAX_LOOKUP_THREADS + 2 {
            let done = next_answer(&mut rx);
            if let Some((name, res)) = r.on_done(done) {
                let res = res.map(|s| (Arc::new(s), None)).map_err(|e| e.to_string());
                complete.extend(r.settle(&name, res));
                settled += 1;
            }
        }
        assert_eq!(r.threads, 0);
        assert_eq!(complete.len(), 1);
        assert_eq!(complete[0].results.len(), MAX_LOOKUP_THREADS + 2);
    }
}
