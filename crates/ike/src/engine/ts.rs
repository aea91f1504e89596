//! Traffic selector narrowing (RFC 7296 2.9).

use std::net::IpAddr;

use crate::wire::TrafficSelector;

fn addr_value(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u128::from(u32::from(v))),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

fn addr_from(v6: bool, v: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(v.into())
    } else {
        IpAddr::V4(u32::try_from(v).unwrap_or(u32::MAX).into())
    }
}

/// The intersection of two selectors, if not empty.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let ip_protocol = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let start_port = a.start_port.max(b.start_port);
    let end_port = a.end_port.min(b.end_port);
    if start_port > end_port {
        return None;
    }
    let (a6, a_start) = addr_value(a.start_addr);
    let (_, a_end) = addr_value(a.end_addr);
    let (b6, b_start) = addr_value(b.start_addr);
    let (_, b_end) = addr_value(b.end_addr);
    if a6 != b6 {
        return None;
    }
    let s = a_start.max(b_start);
    let e = a_end.min(b_end);
    if s > e {
        return None;
    }
    Some(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        start_addr: addr_from(a6, s),
        end_addr: addr_from(a6, e),
    })
}

/// True when `inner` lies entirely within `outer`.
pub fn contains(outer: &TrafficSelector, inner: &TrafficSelector) -> bool {
    intersect(outer, inner).as_ref() == Some(inner)
}

/// Narrows the peer's proposed selectors to our policy: every non-empty
/// intersection of one of theirs with one of ours, without duplicates.
/// Empty means TS_UNACCEPTABLE.
pub fn narrow(proposed: &[TrafficSelector], policy: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed {
        for q in policy {
            if let Some(i) = intersect(p, q) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
}

/// True when every selector in `answer` lies within one of `proposed`
/// (the initiator's check of the responder's narrowing).
pub fn all_within(answer: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !answer.is_empty()
        && answer
            .iter()
            .all(|a| proposed.iter().any(|p| contains(p, a)))
}

/// Libreswan's `192.0.2.0-192.0.2.255:0-65535 0` wording of a selector.
pub fn describe(ts: &TrafficSelector) -> String {
    format!(
        "{}-{}:{}-{} {}",
        ts.start_addr, ts.end_addr, ts.start_port, ts.end_port, ts.ip_protocol
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str, p: u8) -> TrafficSelector {
        TrafficSelector::from_prefix(s.parse().unwrap(), p)
    }

    #[test]
    fn narrowing_to_a_subnet() {
        // RFC 7296 2.9: the initiator proposes a wide range; the responder
        // answers with the subset its policy allows.
        let got = narrow(&[net("10.0.0.0", 8)], &[net("10.1.0.0", 16)]);
        assert_eq!(got, vec![net("10.1.0.0", 16)]);
        assert!(all_within(&got, &[net("10.0.0.0", 8)]));
        assert!(!all_within(&[net("10.0.0.0", 8)], &got));
    }

    #[test]
    fn disjoint_is_unacceptable() {
        assert!(narrow(&[net("10.0.0.0", 16)], &[net("10.2.0.0", 16)]).is_empty());
        assert!(narrow(&[net("10.0.0.0", 16)], &[net("2001:db8::", 32)]).is_empty());
    }

    #[test]
    fn protocol_and_ports_narrow() {
        let mut tcp80 = net("192.0.2.0", 24);
        tcp80.ip_protocol = 6;
        tcp80.start_port = 80;
        tcp80.end_port = 80;
        let got = narrow(&[net("192.0.2.0", 24)], &[tcp80.clone()]);
        assert_eq!(got, vec![tcp80.clone()]);
        let mut udp = net("192.0.2.0", 24);
        udp.ip_protocol = 17;
        assert!(narrow(&[udp], &[tcp80]).is_empty());
    }

    #[test]
    fn first_selector_pair_rule() {
        // Two proposed selectors, policy covers only one: the other is dropped.
        let got = narrow(
            &[net("192.0.2.1", 32), net("198.51.100.0", 24)],
            &[net("198.51.100.0", 24)],
        );
        assert_eq!(got, vec![net("198.51.100.0", 24)]);
    }
}
