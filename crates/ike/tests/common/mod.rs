//! In-memory harness: two engines ("west" initiator, "east" responder)
//! exchanging datagrams under a fake clock, with deterministic random
//! sources and a programmable network (loss, duplication, reordering).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg, Secret, TestRandom};
use ike::engine::{
    Authentication, ChildSaInfo, ConnId, Connection, EspProposal, Identity, IkeProposal,
};
use ike::wire::TrafficSelector;
use ike::{Engine, EngineConfig, Event, Transmit};

/// Which engine sent a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    West,
    East,
}

/// What the network does with one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Held back and delivered after the next datagram in the same
    /// direction (or at the end of the flight).
    Delay,
    /// Delivered with these bytes instead (a forgery or corruption).
    Replace(Vec<u8>),
}

pub type Network = Box<dyn FnMut(Side, usize, &Transmit) -> Fate>;

pub fn west_addr() -> SocketAddr {
    "192.0.2.1:500".parse().unwrap()
}

pub fn east_addr() -> SocketAddr {
    "192.0.2.2:500".parse().unwrap()
}

pub struct Pair {
    pub west: Engine,
    pub east: Engine,
    pub west_conn: ConnId,
    pub east_conn: ConnId,
    pub now: Instant,
    pub west_events: Vec<Event>,
    pub east_events: Vec<Event>,
    pub network: Network,
    pub sent: usize,
    held: Vec<(Side, Transmit)>,
}

pub fn ike(encr: EncrAlg, integ: Option<IntegAlg>, prf: PrfAlg, ke: KeGroup) -> IkeProposal {
    IkeProposal {
        encr: vec![encr],
        prf: vec![prf],
        integ: integ.into_iter().collect(),
        ke: vec![ke],
        addke: vec![],
    }
}

pub fn esp(encr: EncrAlg, integ: Option<IntegAlg>) -> EspProposal {
    EspProposal {
        encr: vec![encr],
        integ: integ.into_iter().collect(),
        ke: vec![],
    }
}

pub fn psk() -> Authentication {
    Authentication::Psk(Secret::from_slice(b"the shared secret of west and east"))
}

/// A west/east connection pair with subnets behind both ends.
pub fn conns(auth: Authentication) -> (Connection, Connection) {
    let mut w = Connection::new(
        "westnet-eastnet",
        west_addr(),
        Some(east_addr()),
        auth.clone(),
    );
    w.local_id = Some(Identity::Fqdn("west".into()));
    w.remote_id = Some(Identity::Fqdn("east".into()));
    w.local_ts = vec![TrafficSelector::from_prefix(
        "10.0.1.0".parse().unwrap(),
        24,
    )];
    w.remote_ts = vec![TrafficSelector::from_prefix(
        "10.0.2.0".parse().unwrap(),
        24,
    )];
    let mut e = Connection::new("westnet-eastnet", east_addr(), Some(west_addr()), auth);
    e.local_id = Some(Identity::Fqdn("east".into()));
    e.remote_id = Some(Identity::Fqdn("west".into()));
    e.local_ts = vec![TrafficSelector::from_prefix(
        "10.0.2.0".parse().unwrap(),
        24,
    )];
    e.remote_ts = vec![TrafficSelector::from_prefix(
        "10.0.1.0".parse().unwrap(),
        24,
    )];
    (w, e)
}

impl Pair {
    pub fn new(west: Connection, east: Connection) -> Pair {
        Self::with_config(west, east, EngineConfig::default())
    }

    pub fn with_config(west: Connection, east: Connection, config: EngineConfig) -> Pair {
        let mut w = Engine::new(config.clone(), Box::new(TestRandom::new(1)));
        let mut e = Engine::new(config, Box::new(TestRandom::new(2)));
        let west_conn = w.add_connection(west).expect("west connection");
        let east_conn = e.add_connection(east).expect("east connection");
        Pair {
            west: w,
            east: e,
            west_conn,
            east_conn,
            now: Instant::now(),
            west_events: Vec::new(),
            east_events: Vec::new(),
            network: Box::new(|_, _, _| Fate::Deliver),
            sent: 0,
            held: Vec::new(),
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.west.poll_event() {
            self.west_events.push(e);
        }
        while let Some(e) = self.east.poll_event() {
            self.east_events.push(e);
        }
    }

    fn deliver(&mut self, from: Side, t: Transmit) {
        let now = self.now;
        match from {
            Side::West => self
                .east
                .handle_datagram(now, t.remote, t.local, &t.payload),
            Side::East => self
                .west
                .handle_datagram(now, t.remote, t.local, &t.payload),
        }
    }

    /// Delivers datagrams until none are in flight; returns how many.
    pub fn flush(&mut self) -> usize {
        let mut n = 0;
        loop {
            let mut batch = Vec::new();
            while let Some(t) = self.west.poll_transmit() {
                batch.push((Side::West, t));
            }
            while let Some(t) = self.east.poll_transmit() {
                batch.push((Side::East, t));
            }
            if batch.is_empty() {
                if self.held.is_empty() {
                    break;
                }
                for (s, t) in std::mem::take(&mut self.held) {
                    self.deliver(s, t);
                }
                continue;
            }
            for (side, t) in batch {
                let idx = self.sent;
                self.sent += 1;
                n += 1;
                match (self.network)(side, idx, &t) {
                    Fate::Deliver => {
                        self.deliver(side, t);
                        let held: Vec<_> = std::mem::take(&mut self.held);
                        for (s, h) in held {
                            if s == side {
                                self.deliver(s, h);
                            } else {
                                self.held.push((s, h));
                            }
                        }
                    }
                    Fate::Drop => {}
                    Fate::Duplicate => {
                        self.deliver(side, t.clone());
                        self.deliver(side, t);
                    }
                    Fate::Delay => self.held.push((side, t)),
                    Fate::Replace(bytes) => {
                        let forged = Transmit {
                            payload: bytes,
                            ..t
                        };
                        self.deliver(side, forged);
                    }
                }
            }
            self.drain_events();
        }
        self.drain_events();
        n
    }

    /// Runs the exchange: flushes, then advances the clock to the next
    /// timer, until `limit` of fake time has passed or nothing is left.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.flush();
            let next = [self.west.poll_timeout(), self.east.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    if t > self.now {
                        self.now = t;
                    }
                    let now = self.now;
                    self.west.handle_timeout(now);
                    self.east.handle_timeout(now);
                }
                _ => break,
            }
        }
        self.flush();
    }

    pub fn initiate(&mut self) {
        let now = self.now;
        self.west.initiate(now, self.west_conn).expect("initiate");
    }

    pub fn children(events: &[Event]) -> Vec<&ChildSaInfo> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaUp(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    pub fn ike_up(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaUp(_)))
            .count()
    }

    pub fn ike_down(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaDown { .. }))
            .count()
    }

    pub fn logs(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Log(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    /// Asserts one IKE SA and one Child SA up on both sides with keys that
    /// agree (west's outbound = east's inbound and vice versa).
    pub fn assert_established(&self) {
        assert_eq!(
            Self::ike_up(&self.west_events),
            1,
            "west IKE SA up; logs: {:#?}",
            Self::logs(&self.west_events)
        );
        assert_eq!(
            Self::ike_up(&self.east_events),
            1,
            "east IKE SA up; logs: {:#?}",
            Self::logs(&self.east_events)
        );
        let w = Self::children(&self.west_events);
        let e = Self::children(&self.east_events);
        assert_eq!(
            w.len(),
            1,
            "west Child SA; logs: {:#?}",
            Self::logs(&self.west_events)
        );
        assert_eq!(
            e.len(),
            1,
            "east Child SA; logs: {:#?}",
            Self::logs(&self.east_events)
        );
        let (w, e) = (w[0], e[0]);
        assert_eq!(w.outbound_spi, e.inbound_spi);
        assert_eq!(w.inbound_spi, e.outbound_spi);
        assert_eq!(w.outbound_keys, e.inbound_keys);
        assert_eq!(w.inbound_keys, e.outbound_keys);
        assert_ne!(w.inbound_keys, w.outbound_keys);
        assert_eq!(w.suite, e.suite);
        assert_eq!(w.local_ts, e.remote_ts);
        assert_eq!(w.remote_ts, e.local_ts);
        assert_eq!(w.mode, e.mode);
    }
}
