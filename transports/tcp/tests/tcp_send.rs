//! `send` never waits for the network: a full queue is `QueueFull`, an
//! unknown peer `UnknownPeer`, at once; `close` stops everything.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use gossip_core::{Identity, Transport, TransportErrorKind};
use gossip_transport_tcp::TcpConfig;
use tokio::{net::TcpListener, time::Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_send_queue_is_queue_full_without_waiting() {
    bounded(async {
        // A peer that accepts TCP but never answers the handshake: frames
        // pile up in the send queue while the dial is pending.
        let silent = TcpListener::bind(loopback()).await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move { silent.accept().await.map(|(stream, _)| stream) });
        let config = TcpConfig::default()
            .send_queue_capacity(4)
            .handshake_timeout(Duration::from_millis(500));
        let a = bind("a", config).await;
        a.add_peer_address(id("b"), silent_addr);
        for i in 0..4u8 {
            a.send(&id("b"), Bytes::from(vec![i])).await.unwrap();
        }
        let started = Instant::now();
        let error = a
            .send(&id("b"), Bytes::from_static(b"one too many"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::QueueFull);
        assert!(error.is_transient());
        assert!(started.elapsed() < Duration::from_millis(100));

        // The handshake times out: the queued frames are discarded and the
        // peer is in backoff.
        let stream = held.await.unwrap().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline);
            match a.send(&id("b"), Bytes::from_static(b"x")).await {
                Err(error) if error.kind() == TransportErrorKind::Unreachable => break,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert_eq!(a.stats().discarded_frames, 4);
        assert_eq!(a.stats().handshake_failures, 1);
        drop(stream);
        a.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_peers_and_self_fail_at_once() {
    bounded(async {
        let a = bind("a", TcpConfig::default()).await;
        let started = Instant::now();
        let error = a
            .send(&id("stranger"), Bytes::from_static(b"hi"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::UnknownPeer);
        assert_eq!(error.backend(), "tcp");
        let error = a
            .send(&id("a"), Bytes::from_static(b"me"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::UnknownPeer);
        assert!(started.elapsed() < Duration::from_millis(100));
        a.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_before_anything_is_queued() {
    bounded(async {
        let a = bind("a", TcpConfig::default().max_frame_len(8)).await;
        let error = a
            .send(&id("stranger"), Bytes::from(vec![0u8; 9]))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::FrameTooLarge);
        a.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_releases_the_port_and_closes_connections() {
    bounded(async {
        let nodes = mesh(&["a", "b"], TcpConfig::default()).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        a.send(&id("b"), Bytes::from_static(b"x")).await.unwrap();
        next_frame(b).await;
        let addr = b.local_addr();
        b.close().await.unwrap();
        assert!(b.is_closed());
        next_event(a, |e| {
            matches!(e, gossip_core::TransportEvent::Disconnected { .. })
        })
        .await;
        // The port is free again at once.
        let again = gossip_transport_tcp::TcpTransport::bind(
            &Identity::from_seed("b"),
            addr,
            TcpConfig::default(),
        )
        .await
        .unwrap();
        again.close().await.unwrap();
        a.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_is_refused_at_bind() {
    let error = gossip_transport_tcp::TcpTransport::bind(
        &Identity::from_seed("a"),
        loopback(),
        TcpConfig::default().send_queue_capacity(0),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Other);
}
