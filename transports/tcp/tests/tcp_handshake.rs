//! The handshake: wrong magic or protocol version, a node claiming our id, or
//! the wrong node at an address, are refused and the connection dropped.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::*;
use gossip_core::{protocol::PROTOCOL_VERSION, Transport, TransportErrorKind};
use gossip_transport_tcp::TcpConfig;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
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
            Ok(()) => sleep(std::time::Duration::from_millis(10)).await,
            Err(error) => {
                assert_eq!(error.kind(), TransportErrorKind::Unreachable, "{error}");
                return source_chain(&error);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_hello_with_another_version_is_answered_incompatible_and_dropped() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        let mut client = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let other = PROTOCOL_VERSION.wrapping_add(1);
        client
            .write_all(&hello(other, "future", 1 << 20, 0))
            .await
            .unwrap();
        let reply = read_reply(&mut client).await;
        assert_eq!(
            reply,
            Reply {
                version: PROTOCOL_VERSION,
                node: "server".into(),
                verdict: 2
            }
        );
        expect_closed(&mut client).await;
        assert_eq!(server.stats().handshake_failures, 1);
        assert_eq!(server.stats().connections_opened, 0);
        // Reported as a typed error; no peer event reaches the application.
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake);
        assert!(reported.to_string().contains("version"), "{reported}");
        assert!(drain(&server, std::time::Duration::from_millis(100))
            .await
            .is_empty());
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_hello_is_dropped_without_reply() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        let mut client = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(WAIT, client.read_to_end(&mut buf))
            .await
            .unwrap();
        assert!(read.is_err() || buf.is_empty(), "got a reply: {buf:?}");
        assert_eq!(server.stats().handshake_failures, 1);
        assert_eq!(
            next_error(&server).await.kind(),
            TransportErrorKind::Handshake
        );
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_dialer_is_dropped_after_the_handshake_timeout() {
    bounded(async {
        let config = TcpConfig::default().handshake_timeout(std::time::Duration::from_millis(200));
        let server = bind("server", config).await;
        let mut client = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let started = Instant::now();
        expect_closed(&mut client).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(server.stats().handshake_failures, 1);
        let reported = next_error(&server).await;
        assert!(reported.to_string().contains("no handshake"), "{reported}");
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialer_claiming_our_own_id_is_refused() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        let mut client = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        client
            .write_all(&good_hello("server", "server"))
            .await
            .unwrap();
        assert_eq!(read_reply(&mut client).await.verdict, 3);
        expect_closed(&mut client).await;
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
        let mut stale = tokio::net::TcpStream::connect(c.local_addr())
            .await
            .unwrap();
        stale.write_all(&good_hello("a", "b")).await.unwrap();
        assert_eq!(read_reply(&mut stale).await.verdict, 3);
        expect_closed(&mut stale).await;
        assert_eq!(c.connections(), before, "the live connection was disturbed");
        a.close().await.unwrap();
        c.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_to_a_peer_with_another_version_fails_with_a_handshake_error() {
    bounded(async {
        // A fake peer that answers in a future protocol version.
        let fake = TcpListener::bind(loopback()).await.unwrap();
        let fake_addr = fake.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = fake.accept().await {
                tokio::spawn(async move {
                    let mut sink = [0u8; 64];
                    let _ = stream.read(&mut sink).await;
                    let mut reply = hello(PROTOCOL_VERSION.wrapping_add(1), "b", 1 << 20, 0);
                    reply.push(0);
                    let _ = stream.write_all(&reply).await;
                });
            }
        });
        let a = bind("a", TcpConfig::default()).await;
        a.add_peer_address(id("b"), fake_addr);
        let why = until_unreachable(&a, "b").await;
        assert!(why.contains("protocol version"), "{why}");
        assert!(a.stats().handshake_failures >= 1);
        assert!(a.connections().is_empty());
        a.close().await.unwrap();
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
        assert!(why.contains("expected node b"), "{why}");
        a.close().await.unwrap();
        c.close().await.unwrap();
    })
    .await;
}
