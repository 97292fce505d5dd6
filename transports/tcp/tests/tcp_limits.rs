//! Inbound limits, attacked from raw sockets on another loopback address
//! (`127.0.0.2`; all of 127/8 is loopback on Linux): silent sockets that
//! hold handshake slots, and handshaken connections that hold connection
//! slots, from one address, cannot keep honest peers (dialing from
//! `127.0.0.1`) out, nor stop this node from dialing the peers it knows.
//! The refusals are counted and reported.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use common::*;
use gossip_core::{Identity, Transport, TransportErrorKind};
use gossip_transport_tcp::{testing::RawPeer, TcpConfig, TcpStats, TcpTransport};
use tokio::{
    net::{TcpSocket, TcpStream},
    time::{sleep, timeout, Instant},
};

/// The attacker's source address.
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

/// A TCP connection to `server` from `source` (any port).
async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    timeout(WAIT, socket.connect(server))
        .await
        .expect("connect timed out")
        .expect("connect failed")
}

/// A handshaken attacker connection from `source`, as the node `name`.
async fn raw_peer_from(
    source: [u8; 4],
    server: &TcpTransport,
    name: &str,
) -> Result<RawPeer, String> {
    let stream = connect_from(source, server.local_addr()).await;
    timeout(
        WAIT,
        RawPeer::connect_over(stream, &Identity::from_seed(name), server.local_id(), None),
    )
    .await
    .expect("handshake timed out")
}

/// Waits until `server`'s stats satisfy `want`; panics after [`WAIT`].
async fn until_stats(server: &TcpTransport, want: impl Fn(&TcpStats) -> bool) -> TcpStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = server.stats();
        if want(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "stats never matched: {stats:?}");
        sleep(Duration::from_millis(10)).await;
    }
}

/// Whether the server closed `stream`, without waiting.
fn closed_now(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// `from` sends to `to`, which receives it; then back the other way.
async fn exchange(a: &TcpTransport, b: &TcpTransport) {
    a.send(b.local_id(), Bytes::from_static(b"ping"))
        .await
        .unwrap();
    let (from, frame) = next_frame(b).await;
    assert_eq!((&from, &frame[..]), (a.local_id(), &b"ping"[..]));
    b.send(a.local_id(), Bytes::from_static(b"pong"))
        .await
        .unwrap();
    let (from, frame) = next_frame(a).await;
    assert_eq!((&from, &frame[..]), (b.local_id(), &b"pong"[..]));
}

/// Silent sockets hold their slots for the whole test: only the fair share
/// can let the honest peer in.
fn patient() -> TcpConfig {
    TcpConfig::default()
        .handshake_timeout(Duration::from_secs(120))
        .first_message_timeout(Duration::from_secs(120))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_from_one_address_do_not_keep_an_honest_peer_out() {
    bounded(async {
        let config = patient();
        assert_eq!(
            (
                config.max_pending_handshakes,
                config.max_pending_handshakes_per_ip
            ),
            (64, 8),
            "the defaults this attack is sized for"
        );
        let server = bind("server", config).await;
        // As many silent sockets as there are pending handshake slots.
        let mut silent = Vec::new();
        for _ in 0..64 {
            silent.push(connect_from(ATTACKER, server.local_addr()).await);
        }
        let stats = until_stats(&server, |s| s.handshakes_refused_per_ip_cap == 56).await;
        assert_eq!(
            (stats.pending_handshakes, stats.inbound_connections),
            (8, 8)
        );
        // The refused sockets are closed at once, not left to time out.
        let deadline = Instant::now() + WAIT;
        while silent.iter().filter(|s| closed_now(s)).count() < 56 {
            assert!(Instant::now() < deadline, "refused sockets left open");
            sleep(Duration::from_millis(10)).await;
        }
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake);
        assert!(
            reported
                .to_string()
                .contains("max_pending_handshakes_per_ip"),
            "{reported}"
        );

        // An honest node dials from 127.0.0.1: its handshake completes and
        // frames flow both ways.
        let honest = bind("honest", TcpConfig::default()).await;
        honest.add_peer_address(server.local_id().clone(), server.local_addr());
        exchange(&honest, &server).await;
        assert_eq!(server.connections().len(), 1);
        assert_eq!(server.connections()[0].peer, id("honest"));

        let stats = server.stats();
        assert_eq!(stats.handshakes_refused_per_ip_cap, 56);
        assert_eq!(stats.handshakes_refused_total_cap, 0);
        assert_eq!(stats.pending_handshakes, 8, "the attacker kept its share");
        assert_eq!(stats.inbound_connections, 9);
        // The node shows the same counters in `health().transport`.
        let counters = gossip_core::Transport::counters(&server);
        assert!(counters.contains(&gossip_core::TransportCounter::new(
            "handshakes_refused_per_ip_cap",
            56
        )));
        assert_eq!(
            silent.iter().filter(|s| closed_now(s)).count(),
            56,
            "an admitted silent socket was closed before its deadline"
        );
        honest.close().await.unwrap();
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attackers_on_several_addresses_leave_room_for_an_honest_peer() {
    bounded(async {
        let config = patient()
            .max_pending_handshakes(4)
            .max_pending_handshakes_per_ip(2);
        let server = bind("server", config).await;
        // Two addresses take every pending slot, within their shares.
        let mut silent = Vec::new();
        for source in [[127, 0, 0, 2], [127, 0, 0, 3]] {
            for _ in 0..2 {
                silent.push(connect_from(source, server.local_addr()).await);
            }
        }
        until_stats(&server, |s| s.pending_handshakes == 4).await;

        // The honest node holds none: it takes the oldest slot of the
        // addresses holding two (127.0.0.2's first), and completes its
        // handshake.
        let honest = bind("honest", TcpConfig::default()).await;
        honest.add_peer_address(server.local_id().clone(), server.local_addr());
        exchange(&honest, &server).await;
        let stats = until_stats(&server, |s| s.handshakes_refused_per_ip_cap == 1).await;
        assert_eq!(stats.handshakes_refused_total_cap, 0);
        let deadline = Instant::now() + WAIT;
        while !closed_now(&silent[0]) {
            assert!(
                Instant::now() < deadline,
                "the oldest silent socket is open"
            );
            sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            silent.iter().filter(|s| closed_now(s)).count(),
            1,
            "more than one silent socket was evicted"
        );

        // Three silent sockets from three more addresses: the first takes
        // the free slot, the second evicts from 127.0.0.3 (holding two),
        // the third is refused: no address holds two more than it.
        let stats = server.stats();
        assert_eq!(stats.pending_handshakes, 3);
        for source in [[127, 0, 0, 4], [127, 0, 0, 5], [127, 0, 0, 6]] {
            silent.push(connect_from(source, server.local_addr()).await);
        }
        let stats = until_stats(&server, |s| {
            s.handshakes_refused_per_ip_cap + s.handshakes_refused_total_cap == 3
        })
        .await;
        assert_eq!(
            (
                stats.handshakes_refused_per_ip_cap,
                stats.handshakes_refused_total_cap
            ),
            (2, 1)
        );
        assert_eq!(stats.pending_handshakes, 4);
        honest.close().await.unwrap();
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_gives_its_slot_back_after_the_first_message_timeout() {
    bounded(async {
        // A handshake timeout far beyond the test's bound: only the first
        // message deadline can close the socket in time.
        let config = TcpConfig::default()
            .handshake_timeout(Duration::from_secs(600))
            .first_message_timeout(Duration::from_millis(200));
        let server = bind("server", config).await;
        let mut silent = connect_from(ATTACKER, server.local_addr()).await;
        expect_closed(&mut silent).await;
        let reported = next_error(&server).await;
        assert!(reported.to_string().contains("first message"), "{reported}");
        let stats = until_stats(&server, |s| s.inbound_connections == 0).await;
        assert_eq!(stats.handshake_failures, 1);
        assert_eq!(stats.pending_handshakes, 0);
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshaken_connections_from_one_address_are_capped_and_others_still_connect() {
    bounded(async {
        let config = TcpConfig::default().max_inbound_connections_per_ip(3);
        let server = bind("server", config).await;
        // The attacker holds keys, so it completes real handshakes, each as
        // another node, all from one address.
        let mut attackers = Vec::new();
        for n in 0..3 {
            let name = format!("attacker-{n}");
            attackers.push(raw_peer_from(ATTACKER, &server, &name).await.unwrap());
        }
        let refused = raw_peer_from(ATTACKER, &server, "attacker-3").await;
        assert!(refused.is_err(), "a fourth connection was accepted");
        let stats = until_stats(&server, |s| {
            s.pending_handshakes == 0 && s.connections_refused_per_ip_cap == 1
        })
        .await;
        assert_eq!(stats.inbound_connections, 3);
        assert_eq!(stats.connections_opened, 3);
        let reported = next_error(&server).await;
        assert!(
            reported
                .to_string()
                .contains("max_inbound_connections_per_ip"),
            "{reported}"
        );

        // An honest node from another address gets in.
        let honest = bind("honest", TcpConfig::default()).await;
        honest.add_peer_address(server.local_id().clone(), server.local_addr());
        exchange(&honest, &server).await;
        assert_eq!(server.stats().inbound_connections, 4);

        // The cap is on connections open, not on connections ever made:
        // one closed, the address may open another.
        drop(attackers.pop());
        until_stats(&server, |s| s.inbound_connections == 3).await;
        let mut again = raw_peer_from(ATTACKER, &server, "attacker-4")
            .await
            .unwrap();
        again.send_frame(b"in").await.unwrap();
        let (from, _) = next_frame(&server).await;
        assert_eq!(from, id("attacker-4"));
        assert_eq!(server.stats().connections_refused_per_ip_cap, 1);
        honest.close().await.unwrap();
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_peers_are_still_dialed_when_inbound_is_full() {
    bounded(async {
        let config = TcpConfig::default()
            .max_inbound_connections(2)
            .max_inbound_connections_per_ip(2);
        let nodes = mesh(&["server", "honest"], config).await;
        let (server, honest) = (&nodes[0], &nodes[1]);
        let _attackers = [
            raw_peer_from(ATTACKER, server, "attacker-0").await.unwrap(),
            raw_peer_from(ATTACKER, server, "attacker-1").await.unwrap(),
        ];
        // Inbound is full: even another address is refused.
        let mut third = connect_from([127, 0, 0, 3], server.local_addr()).await;
        expect_closed(&mut third).await;
        let stats = until_stats(server, |s| s.connections_refused_total_cap == 1).await;
        assert_eq!(stats.inbound_connections, 2);
        assert_eq!(stats.connections_refused_per_ip_cap, 0);

        // The server dials the peer it knows: outbound is not counted.
        exchange(server, honest).await;
        let live: Vec<_> = server
            .connections()
            .into_iter()
            .filter(|c| c.peer == id("honest"))
            .collect();
        assert_eq!(live.len(), 1);
        assert!(live[0].dialed_by_us, "{live:?}");
        assert_eq!(server.stats().inbound_connections, 2);
        for t in &nodes {
            t.close().await.unwrap();
        }
    })
    .await;
}
