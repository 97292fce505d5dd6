//! The peer table's transitions, driven without sockets or clocks.

use std::time::Duration;

use gossip_core::{ReconnectPolicy, TransportErrorKind};

use super::*;

fn id(name: &str) -> NodeId {
    NodeId::from_seed(name)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn addrs() -> (SocketAddr, SocketAddr) {
    (addr(1), addr(2))
}

/// A table for `local` with a send queue of two frames and a backoff of
/// exactly one second.
fn table(local: &str) -> PeerTable {
    let config = TcpConfig::default().send_queue_capacity(2).reconnect(
        ReconnectPolicy::default().backoff(Duration::from_secs(1), Duration::from_secs(1)),
    );
    PeerTable::new(id(local), &config)
}

fn hello(node: &str, listen_port: u16) -> Hello {
    Hello::ours(id(node), 1024, listen_port)
}

fn frame(len: usize) -> Bytes {
    Bytes::from(vec![0; len])
}

fn kind(result: Result<Option<u64>, TransportError>) -> TransportErrorKind {
    result.unwrap_err().kind()
}

/// `bravo`, with an address, and a frame queued: the table dials.
fn dialing(table: &mut PeerTable, now: Instant) -> u64 {
    table.add_address(id("bravo"), addr(9000));
    table
        .enqueue(&id("bravo"), frame(8), now)
        .unwrap()
        .expect("the first frame starts an attempt")
}

#[test]
fn frames_for_unknown_or_addressless_peers_are_refused() {
    let mut table = table("alice");
    let now = Instant::now();
    assert_eq!(
        kind(table.enqueue(&id("bravo"), frame(1), now)),
        TransportErrorKind::UnknownPeer
    );
    // A peer known only from its inbound connection that has gone.
    let mut fx = Effects::default();
    let InboundDecision::Accept(conn) = table.decide_inbound(&hello("bravo", 0), addrs(), &mut fx)
    else {
        panic!("an idle peer's connection is accepted");
    };
    assert_eq!(
        table.conn_closed(&id("bravo"), conn.conn_id, "test", false, &mut fx),
        None
    );
    assert!(
        table.addresses().is_empty(),
        "an addressless peer is forgotten when its connection ends"
    );
    assert_eq!(
        kind(table.enqueue(&id("bravo"), frame(1), now)),
        TransportErrorKind::UnknownPeer
    );
}

#[test]
fn the_first_frame_starts_one_attempt_and_the_queue_is_bounded() {
    let mut table = table("alice");
    let now = Instant::now();
    let attempt = dialing(&mut table, now);
    assert_eq!(
        table.dial_target(&id("bravo"), attempt),
        Some(Some(addr(9000)))
    );
    assert_eq!(
        table.enqueue(&id("bravo"), frame(8), now).unwrap(),
        None,
        "one attempt at a time"
    );
    assert_eq!(
        kind(table.enqueue(&id("bravo"), frame(8), now)),
        TransportErrorKind::QueueFull
    );
    assert_eq!(
        table.dial_target(&id("bravo"), attempt + 100),
        None,
        "a stale attempt has no target"
    );
}

#[test]
fn an_accepted_dial_connects_once_and_learns_the_frame_limit() {
    let mut table = table("alice");
    let now = Instant::now();
    let attempt = dialing(&mut table, now);
    let mut fx = Effects::default();
    let installed = table
        .dial_accepted(
            &id("bravo"),
            attempt,
            &hello("bravo", 9000),
            addrs(),
            &mut fx,
        )
        .expect("the current attempt is installed");
    assert_eq!(
        fx.events,
        vec![TransportEvent::Connected { peer: id("bravo") }]
    );
    assert_eq!(fx.connections_opened, 1);
    assert_eq!(table.connected_count(), 1);
    let info = &table.connections()[0];
    assert!(info.dialed_by_us);
    assert_eq!((info.local_addr, info.remote_addr), addrs());
    assert_eq!(
        kind(table.enqueue(&id("bravo"), frame(1025), now)),
        TransportErrorKind::FrameTooLarge
    );
    assert_eq!(table.enqueue(&id("bravo"), frame(1024), now).unwrap(), None);
    // The same attempt cannot be installed twice.
    assert!(table
        .dial_accepted(
            &id("bravo"),
            attempt,
            &hello("bravo", 9000),
            addrs(),
            &mut fx
        )
        .is_none());
    assert!(
        installed.stop.has_changed().is_ok(),
        "the connection is still the link"
    );
}

#[test]
fn simultaneous_dials_keep_the_connection_dialed_by_the_smaller_id() {
    let (low, high) = if id("alice") < id("bravo") {
        ("alice", "bravo")
    } else {
        ("bravo", "alice")
    };
    let now = Instant::now();
    let mut fx = Effects::default();
    // At the smaller id, the larger one's inbound connection yields to ours.
    let mut at_low = table(low);
    at_low.add_address(id(high), addr(9000));
    at_low.enqueue(&id(high), frame(8), now).unwrap().unwrap();
    assert!(matches!(
        at_low.decide_inbound(&hello(high, 0), addrs(), &mut fx),
        InboundDecision::Yield
    ));
    assert!(fx.events.is_empty());

    // At the larger id (dialing the smaller), the smaller one's wins.
    let mut at_high = table(high);
    at_high.add_address(id(low), addr(9001));
    let attempt = at_high.enqueue(&id(low), frame(8), now).unwrap().unwrap();
    assert!(matches!(
        at_high.decide_inbound(&hello(low, 9001), addrs(), &mut fx),
        InboundDecision::Accept(_)
    ));
    assert_eq!(fx.events, vec![TransportEvent::Connected { peer: id(low) }]);
    // Our own attempt, answered later, is no longer current.
    assert!(at_high
        .dial_accepted(&id(low), attempt, &hello(low, 9001), addrs(), &mut fx)
        .is_none());
    assert!(!at_high.dial_yielded(&id(low), attempt));
    assert!(!at_high.connections()[0].dialed_by_us);
}

#[test]
fn a_connection_we_dialed_is_kept_and_one_the_peer_dialed_is_replaced() {
    let mut table = table("alice");
    let attempt = dialing(&mut table, Instant::now());
    let mut fx = Effects::default();
    let ours = table
        .dial_accepted(
            &id("bravo"),
            attempt,
            &hello("bravo", 9000),
            addrs(),
            &mut fx,
        )
        .unwrap();
    assert!(matches!(
        table.decide_inbound(&hello("bravo", 9000), addrs(), &mut fx),
        InboundDecision::Yield
    ));
    assert!(ours.stop.has_changed().is_ok(), "our connection stays");

    let mut table = self::table("carol");
    let InboundDecision::Accept(first) = table.decide_inbound(&hello("bravo", 0), addrs(), &mut fx)
    else {
        panic!("an idle peer's connection is accepted");
    };
    let InboundDecision::Accept(second) =
        table.decide_inbound(&hello("bravo", 0), addrs(), &mut fx)
    else {
        panic!("the peer dials again only when it lost its connection: accepted");
    };
    assert!(
        first.stop.has_changed().is_err(),
        "the replaced connection is told to stop"
    );
    assert_ne!(first.conn_id, second.conn_id);
    // The old connection ending does not disconnect the new one.
    let mut fx = Effects::default();
    assert_eq!(
        table.conn_closed(&id("bravo"), first.conn_id, "old", false, &mut fx),
        None
    );
    assert!(fx.events.is_empty());
    assert_eq!(table.connected_count(), 1);
}

#[test]
fn unknown_peers_are_discovered_once_with_their_listening_address() {
    let mut table = table("alice");
    let mut fx = Effects::default();
    let InboundDecision::Accept(first) =
        table.decide_inbound(&hello("bravo", 7000), addrs(), &mut fx)
    else {
        panic!("accepted");
    };
    assert_eq!(
        fx.events,
        vec![
            TransportEvent::Connected { peer: id("bravo") },
            TransportEvent::PeerDiscovered {
                peer: id("bravo"),
                address: Some(SocketAddr::new(addrs().1.ip(), 7000).to_string()),
            },
        ]
    );
    let mut fx = Effects::default();
    table.conn_closed(&id("bravo"), first.conn_id, "gone", false, &mut fx);
    table.decide_inbound(&hello("bravo", 7000), addrs(), &mut fx);
    assert_eq!(
        fx.events,
        vec![
            TransportEvent::Disconnected { peer: id("bravo") },
            TransportEvent::Connected { peer: id("bravo") },
        ],
        "reported once"
    );
    // A node that does not listen is discovered without an address.
    let mut fx = Effects::default();
    table.decide_inbound(&hello("carol", 0), addrs(), &mut fx);
    assert!(fx.events.contains(&TransportEvent::PeerDiscovered {
        peer: id("carol"),
        address: None
    }));
}

#[test]
fn a_failed_attempt_backs_off_discards_its_frames_and_reports_why() {
    let mut table = table("alice");
    let now = Instant::now();
    let attempt = dialing(&mut table, now);
    let mut fx = Effects::default();
    let refused = TransportError::unreachable(BACKEND, &id("bravo"), "connection refused");
    table.dial_failed(&id("bravo"), attempt, refused.clone(), now, &mut fx);
    assert_eq!(fx.discarded_frames, 1);

    let failure = table
        .enqueue(&id("bravo"), frame(8), now + Duration::from_millis(500))
        .unwrap_err();
    assert_eq!(failure.kind(), TransportErrorKind::Unreachable);
    let source = std::error::Error::source(&failure).expect("the last failure is the source");
    assert_eq!(source.to_string(), refused.to_string());

    // Once the backoff has passed, the next frame tries again.
    let retry = table
        .enqueue(&id("bravo"), frame(8), now + Duration::from_secs(1))
        .unwrap();
    assert!(retry.is_some());
    // A stale failure report changes nothing.
    table.dial_failed(&id("bravo"), attempt, refused, now, &mut fx);
    assert_eq!(
        table.dial_target(&id("bravo"), retry.unwrap()),
        Some(Some(addr(9000)))
    );
}

#[test]
fn a_new_address_clears_the_backoff() {
    let mut table = table("alice");
    let now = Instant::now();
    let attempt = dialing(&mut table, now);
    let refused = TransportError::unreachable(BACKEND, &id("bravo"), "refused");
    table.dial_failed(&id("bravo"), attempt, refused, now, &mut Effects::default());
    table.add_address(id("bravo"), addr(9000));
    assert_eq!(
        kind(table.enqueue(&id("bravo"), frame(8), now)),
        TransportErrorKind::Unreachable,
        "same address: still backing off"
    );
    table.add_address(id("bravo"), addr(9100));
    let attempt = table.enqueue(&id("bravo"), frame(8), now).unwrap().unwrap();
    assert_eq!(
        table.dial_target(&id("bravo"), attempt),
        Some(Some(addr(9100)))
    );
}

#[test]
fn a_yielding_attempt_redials_only_when_frames_wait() {
    let mut table = table("bravo");
    table.add_address(id("alice"), addr(9001));
    let attempt = table
        .enqueue(&id("alice"), frame(8), Instant::now())
        .unwrap()
        .unwrap();
    assert!(table.dial_yielded(&id("alice"), attempt));
    // Frames queued while yielding wait for the peer's connection.
    assert_eq!(
        table
            .enqueue(&id("alice"), frame(8), Instant::now())
            .unwrap(),
        None
    );
    let next = table
        .yield_expired(&id("alice"), attempt)
        .expect("frames wait: dial again");
    assert_ne!(next, attempt);
    assert_eq!(table.yield_expired(&id("alice"), attempt), None, "stale");

    // With nothing queued, an expired yield goes idle.
    let mut table = self::table("bravo");
    table.add_address(id("alice"), addr(9001));
    let attempt = table
        .enqueue(&id("alice"), frame(8), Instant::now())
        .unwrap()
        .unwrap();
    let mut fx = Effects::default();
    let conn = table
        .dial_accepted(
            &id("alice"),
            attempt,
            &hello("alice", 9001),
            addrs(),
            &mut fx,
        )
        .unwrap();
    drop(conn.queue.try_lock().unwrap().try_recv().unwrap());
    table.conn_closed(&id("alice"), conn.conn_id, "gone", false, &mut fx);
    let attempt = table
        .enqueue(&id("alice"), frame(8), Instant::now())
        .unwrap()
        .unwrap();
    assert!(table.dial_yielded(&id("alice"), attempt));
    drop(conn.queue.try_lock().unwrap().try_recv().unwrap());
    assert_eq!(table.yield_expired(&id("alice"), attempt), None);
    let next = table.enqueue(&id("alice"), frame(8), Instant::now());
    assert!(next.unwrap().is_some(), "idle: the next frame dials");
}

#[test]
fn a_closed_connection_redials_for_queued_frames_unless_the_transport_closes() {
    let connected = |fx: &mut Effects| {
        let mut table = table("alice");
        let attempt = dialing(&mut table, Instant::now());
        let conn = table
            .dial_accepted(&id("bravo"), attempt, &hello("bravo", 9000), addrs(), fx)
            .unwrap();
        (table, conn)
    };
    let mut fx = Effects::default();
    let (mut table, conn) = connected(&mut fx);
    let mut fx = Effects::default();
    let redial = table.conn_closed(&id("bravo"), conn.conn_id, "reset", false, &mut fx);
    assert!(redial.is_some(), "the queued frame is still owed");
    assert_eq!(
        fx.events,
        vec![TransportEvent::Disconnected { peer: id("bravo") }]
    );
    assert_eq!(
        table.dial_target(&id("bravo"), redial.unwrap()),
        Some(Some(addr(9000)))
    );

    let (mut table, conn) = connected(&mut fx);
    let mut fx = Effects::default();
    assert_eq!(
        table.conn_closed(&id("bravo"), conn.conn_id, "closing", true, &mut fx),
        None
    );
    assert_eq!(
        fx.events,
        vec![TransportEvent::Disconnected { peer: id("bravo") }]
    );
}

#[test]
fn removing_a_connected_peer_reports_the_disconnection() {
    let mut table = table("alice");
    let attempt = dialing(&mut table, Instant::now());
    let mut fx = Effects::default();
    let conn = table
        .dial_accepted(
            &id("bravo"),
            attempt,
            &hello("bravo", 9000),
            addrs(),
            &mut fx,
        )
        .unwrap();
    let mut fx = Effects::default();
    assert_eq!(table.remove(&id("bravo"), &mut fx), Some(addr(9000)));
    assert_eq!(
        fx.events,
        vec![TransportEvent::Disconnected { peer: id("bravo") }]
    );
    assert!(
        conn.stop.has_changed().is_err(),
        "its connection is told to stop"
    );
    assert_eq!(table.remove(&id("bravo"), &mut fx), None);
    assert_eq!(
        kind(table.enqueue(&id("bravo"), frame(1), Instant::now())),
        TransportErrorKind::UnknownPeer
    );
}
