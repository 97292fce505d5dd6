//! The handshake, attacked from raw sockets: strangers, impostors, replayed
//! sessions, wrong network keys, other protocols and versions, silent
//! dialers and the wrong node at an address are refused before any frame
//! reaches the node, and reported as typed errors.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use common::*;
use gossip_core::{
    protocol::PROTOCOL_VERSION, Identity, Transport, TransportErrorKind, TransportEvent,
};
use gossip_transport_tcp::{testing::RawPeer, NetworkPsk, TcpConfig};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Mutex,
    time::{sleep, Instant},
};

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(" <- ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Sends to `to` until the transport reports `Unreachable`; returns the
/// error with its sources.
async fn until_unreachable(t: &gossip_transport_tcp::TcpTransport, to: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "never became unreachable");
        match t.send(&id(to), Bytes::from_static(b"x")).await {
            Ok(()) => sleep(Duration::from_millis(10)).await,
            Err(error) => {
                assert_eq!(error.kind(), TransportErrorKind::Unreachable, "{error}");
                return source_chain(&error);
            }
        }
    }
}

/// No frame event among what `server` delivers in the next moments.
async fn no_frame_delivered(server: &gossip_transport_tcp::TcpTransport) {
    let events = drain(server, Duration::from_millis(200)).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TransportEvent::Frame { .. })),
        "a frame reached the node: {events:?}"
    );
}

/// The plain hello of the unauthenticated protocol: magic, version, frame
/// size, port and a self-declared id, then the target id.
fn plain_hello(claimed: &str, target: &str) -> Vec<u8> {
    let mut out = b"GOSSIP/T".to_vec();
    out.push(PROTOCOL_VERSION);
    out.extend_from_slice(&(1u32 << 20).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    for name in [claimed, target] {
        let text = id(name).to_string();
        out.push(u8::try_from(text.len()).unwrap());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_claiming_a_members_id_in_a_plain_hello_is_refused_before_any_frame() {
    bounded(async {
        let nodes = mesh(&["server", "bravo"], TcpConfig::default()).await;
        let server = &nodes[0];
        // The stranger speaks the old self-declared hello as "bravo", then
        // sends a frame (a DeltaRequest would go here).
        let mut stranger = TcpStream::connect(server.local_addr()).await.unwrap();
        let attack = [
            &plain_hello("bravo", "server")[..],
            &4u32.to_be_bytes(),
            b"give",
        ]
        .concat();
        // The server may close before all of it is written.
        let _ = stranger.write_all(&attack).await;
        expect_closed(&mut stranger).await;
        let reported = next_error(server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake);
        assert!(
            reported.to_string().contains("does not speak"),
            "{reported}"
        );
        assert_eq!(server.stats().connections_opened, 0);
        no_frame_delivered(server).await;
        for t in &nodes {
            t.close().await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_without_the_key_cannot_replace_the_real_members_connection() {
    bounded(async {
        let nodes = mesh(&["server", "bravo"], TcpConfig::default()).await;
        let (server, bravo) = (&nodes[0], &nodes[1]);
        bravo
            .send(&id("server"), Bytes::from_static(b"hi"))
            .await
            .unwrap();
        assert_eq!(next_frame(server).await.0, id("bravo"));
        let before = server.connections();
        // Another identity that *names* itself bravo cannot: the handshake
        // carries the key, and the key is the id.
        let stranger = Identity::from_seed("stranger");
        let mut peer = RawPeer::connect(&stranger, server.local_addr(), &id("server"), None)
            .await
            .unwrap();
        assert_eq!(peer.remote(), &id("server"));
        peer.send_frame(b"as bravo?").await.unwrap();
        let (from, _) = next_frame(server).await;
        assert_eq!(from, id("stranger"), "frames carry the proven id");
        let live: Vec<_> = server
            .connections()
            .into_iter()
            .filter(|c| c.peer == id("bravo"))
            .collect();
        assert_eq!(live, before, "bravo's connection was disturbed");
        for t in &nodes {
            t.close().await.unwrap();
        }
    })
    .await;
}

/// Forwards one connection to `server`, recording what the dialer sent.
async fn recording_proxy(
    server: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind(loopback()).await.unwrap();
    let address = listener.local_addr().unwrap();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let record = recorded.clone();
    tokio::spawn(async move {
        let (mut client, _) = listener.accept().await.unwrap();
        let mut upstream = TcpStream::connect(server).await.unwrap();
        let (mut client_read, mut client_write) = client.split();
        let (mut up_read, mut up_write) = upstream.split();
        let forward = async {
            let mut buf = [0u8; 4096];
            loop {
                match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        record.lock().await.extend_from_slice(&buf[..n]);
                        if up_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        };
        let backward = tokio::io::copy(&mut up_read, &mut client_write);
        let _ = tokio::join!(forward, backward);
    });
    (address, recorded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_replayed_on_a_new_connection_is_rejected() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        let (proxy, recorded) = recording_proxy(server.local_addr()).await;
        let mut alice = RawPeer::connect(&Identity::from_seed("alice"), proxy, &id("server"), None)
            .await
            .unwrap();
        alice.send_frame(b"append: pay bob 10").await.unwrap();
        let (from, frame) = next_frame(&server).await;
        assert_eq!(
            (from, &frame[..]),
            (id("alice"), &b"append: pay bob 10"[..])
        );
        sleep(Duration::from_millis(50)).await;
        let session = recorded.lock().await.clone();
        assert!(
            !session.windows(7).any(|w| w == b"pay bob"),
            "sent in the clear"
        );

        // The attacker replays every byte alice sent, on a new connection.
        let mut replay = TcpStream::connect(server.local_addr()).await.unwrap();
        replay.write_all(&session).await.unwrap();
        expect_closed(&mut replay).await;
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake);
        no_frame_delivered(&server).await;
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_network_key_fails_the_handshake_on_both_sides() {
    bounded(async {
        let with = |byte| TcpConfig::default().network_key(NetworkPsk::new([byte; 32]));
        let server = bind("server", with(1)).await;
        let client = bind("client", with(2)).await;
        client.add_peer_address(id("server"), server.local_addr());
        let why = until_unreachable(&client, "server").await;
        assert!(why.contains("network key"), "{why}");
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake);
        assert!(reported.to_string().contains("network key"), "{reported}");
        assert_eq!(server.stats().connections_opened, 0);
        // A stranger without any key learns nothing either.
        let stranger = RawPeer::connect(
            &Identity::from_seed("x"),
            server.local_addr(),
            &id("server"),
            None,
        )
        .await;
        assert!(stranger.is_err());
        // The same key: connected.
        let friend = bind("friend", with(1)).await;
        friend.add_peer_address(id("server"), server.local_addr());
        friend
            .send(&id("server"), Bytes::from_static(b"hi"))
            .await
            .unwrap();
        assert_eq!(next_frame(&server).await.0, id("friend"));
        for t in [server, client, friend] {
            t.close().await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_or_garbage_is_dropped_with_a_typed_error() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        let mut future = TcpStream::connect(server.local_addr()).await.unwrap();
        future.write_all(b"GOSSIP/N").await.unwrap();
        future
            .write_all(&[PROTOCOL_VERSION.wrapping_add(1)])
            .await
            .unwrap();
        expect_closed(&mut future).await;
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake);
        assert!(reported.to_string().contains("version"), "{reported}");

        let mut http = TcpStream::connect(server.local_addr()).await.unwrap();
        http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        expect_closed(&mut http).await;
        assert_eq!(
            next_error(&server).await.kind(),
            TransportErrorKind::Handshake
        );
        assert_eq!(server.stats().handshake_failures, 2);
        no_frame_delivered(&server).await;
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_dialer_is_dropped_after_the_handshake_timeout() {
    bounded(async {
        let config = TcpConfig::default().handshake_timeout(Duration::from_millis(200));
        let server = bind("server", config).await;
        let mut client = TcpStream::connect(server.local_addr()).await.unwrap();
        let started = Instant::now();
        expect_closed(&mut client).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(server.stats().handshake_failures, 1);
        let reported = next_error(&server).await;
        assert!(reported.to_string().contains("no handshake"), "{reported}");
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_meant_for_another_node_is_refused_without_touching_the_link() {
    bounded(async {
        let nodes = mesh(&["a", "c"], TcpConfig::default()).await;
        let (a, c) = (&nodes[0], &nodes[1]);
        a.send(&id("c"), Bytes::from_static(b"hi")).await.unwrap();
        next_frame(c).await;
        let before = c.connections();
        assert_eq!(before.len(), 1);
        // A stale address book: a (with a's key) dials c's address for b.
        let stale =
            RawPeer::connect(&Identity::from_seed("a"), c.local_addr(), &id("b"), None).await;
        let why = stale.unwrap_err();
        assert!(why.contains(id("b").as_str()), "{why}");
        assert_eq!(c.connections(), before, "the live connection was disturbed");
        a.close().await.unwrap();
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_node_at_an_address_is_refused() {
    bounded(async {
        let nodes = mesh(&["a", "c"], TcpConfig::default()).await;
        let (a, c) = (&nodes[0], &nodes[1]);
        // `a` believes `b` lives where `c` does.
        a.add_peer_address(id("b"), c.local_addr());
        let why = until_unreachable(a, "b").await;
        assert!(why.contains(&format!("expected node {}", id("b"))), "{why}");
        a.close().await.unwrap();
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_to_something_that_is_not_a_gossip_node_fails_with_a_handshake_error() {
    bounded(async {
        let fake = TcpListener::bind(loopback()).await.unwrap();
        let fake_addr = fake.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = fake.accept().await {
                tokio::spawn(async move {
                    let mut sink = [0u8; 64];
                    let _ = stream.read(&mut sink).await;
                    let _ = stream.write_all(b"\x00\x10HTTP/1.1 400 Bad").await;
                });
            }
        });
        let a = bind("a", TcpConfig::default()).await;
        a.add_peer_address(id("b"), fake_addr);
        let why = until_unreachable(&a, "b").await;
        assert!(why.contains("handshake"), "{why}");
        assert!(a.stats().handshake_failures >= 1);
        assert!(a.connections().is_empty());
        a.close().await.unwrap();
    })
    .await;
}
