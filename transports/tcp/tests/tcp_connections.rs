//! Connection management: one connection per pair (simultaneous dials
//! included), reuse in both directions, reconnect with backoff after a peer
//! restarts, idle connections closed and reopened.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use gossip_core::{Identity, Transport, TransportErrorKind, TransportEvent};
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tokio::time::{sleep, timeout, Instant};

fn labelled(seq: u32) -> Bytes {
    Bytes::from(seq.to_be_bytes().to_vec())
}

/// Checks that `frames` frames from `from` arrive at `at` in order.
async fn expect_in_order(at: &TcpTransport, from: &str, frames: u32) {
    for seq in 0..frames {
        let (sender, frame) = next_frame(at).await;
        assert_eq!(sender, id(from));
        assert_eq!(frame, labelled(seq), "frame {seq} out of order or lost");
    }
}

fn assert_one_shared_connection(a: &TcpTransport, b: &TcpTransport) {
    let (ca, cb) = (a.connections(), b.connections());
    assert_eq!(ca.len(), 1, "{}: {ca:?}", a.local_id());
    assert_eq!(cb.len(), 1, "{}: {cb:?}", b.local_id());
    assert_eq!(&ca[0].peer, b.local_id());
    assert_eq!(&cb[0].peer, a.local_id());
    // The same TCP connection seen from both ends.
    assert_eq!(ca[0].local_addr, cb[0].remote_addr);
    assert_eq!(ca[0].remote_addr, cb[0].local_addr);
    assert_ne!(ca[0].dialed_by_us, cb[0].dialed_by_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_dials_end_with_one_connection_and_lose_nothing() {
    bounded(async {
        const FRAMES: u32 = 100;
        for round in 0..10 {
            let (x, y) = (format!("x{round}"), format!("y{round}"));
            let nodes = mesh(&[&x, &y], TcpConfig::default()).await;
            let [a, b] = <[TcpTransport; 2]>::try_from(nodes).unwrap();
            let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
            // Both sides send at once: both dial.
            let senders: Vec<_> = [(a.clone(), y.clone()), (b.clone(), x.clone())]
                .into_iter()
                .map(|(from, to)| {
                    tokio::spawn(async move {
                        for seq in 0..FRAMES {
                            from.send(&id(&to), labelled(seq)).await.unwrap();
                        }
                    })
                })
                .collect();
            for sender in senders {
                sender.await.unwrap();
            }
            expect_in_order(&b, &x, FRAMES).await;
            expect_in_order(&a, &y, FRAMES).await;
            assert_one_shared_connection(&a, &b);
            // Exactly one connection was ever kept on each side, and it stays.
            sleep(Duration::from_millis(50)).await;
            assert_one_shared_connection(&a, &b);
            assert_eq!(a.stats().connections_opened, 1, "round {round}");
            assert_eq!(b.stats().connections_opened, 1, "round {round}");
            a.close().await.unwrap();
            b.close().await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_carries_both_directions() {
    bounded(async {
        let nodes = mesh(&["a", "b"], TcpConfig::default()).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        a.send(&id("b"), Bytes::from_static(b"ping")).await.unwrap();
        next_frame(b).await;
        b.send(&id("a"), Bytes::from_static(b"pong")).await.unwrap();
        assert_eq!(&next_frame(a).await.1[..], b"pong");
        assert_one_shared_connection(a, b);
        assert!(a.connections()[0].dialed_by_us);
        assert_eq!(
            a.stats().connections_opened + b.stats().connections_opened,
            2
        );
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_with_backoff_after_the_peer_restarts_on_the_same_port() {
    bounded(async {
        let config = TcpConfig::default()
            .backoff(Duration::from_millis(20), Duration::from_millis(200))
            .seed(5);
        let a = bind("a", config.clone()).await;
        let b = bind("b", config.clone()).await;
        let b_addr = b.local_addr();
        a.add_peer_address(id("b"), b_addr);
        a.send(&id("b"), Bytes::from_static(b"first"))
            .await
            .unwrap();
        assert_eq!(&next_frame(&b).await.1[..], b"first");
        next_event(&a, |e| matches!(e, TransportEvent::Connected { .. })).await;

        // `b` goes away: `a` notices, and while `b` is down `a` backs off.
        b.close().await.unwrap();
        drop(b);
        next_event(
            &a,
            |e| matches!(e, TransportEvent::Disconnected { peer } if peer.as_str() == gossip_core::NodeId::from_seed("b").as_str()),
        )
        .await;
        let deadline = Instant::now() + WAIT;
        let unreachable = loop {
            assert!(Instant::now() < deadline, "never reported unreachable");
            match a.send(&id("b"), Bytes::from_static(b"lost")).await {
                Ok(()) => sleep(Duration::from_millis(5)).await,
                Err(error) => break error,
            }
        };
        assert_eq!(
            unreachable.kind(),
            TransportErrorKind::Unreachable,
            "{unreachable}"
        );
        // While in backoff, sends fail fast instead of dialing again.
        let started = Instant::now();
        let _ = a.send(&id("b"), Bytes::from_static(b"fast")).await;
        assert!(started.elapsed() < Duration::from_millis(50));
        assert!(a.stats().connect_failures >= 1);

        // `b` restarts on the same port; `a` gets through after its backoff.
        let b = TcpTransport::bind(&Identity::from_seed("b"), b_addr, config)
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        'reconnect: loop {
            assert!(Instant::now() < deadline, "never reconnected");
            if a.send(&id("b"), Bytes::from_static(b"again"))
                .await
                .is_err()
            {
                sleep(Duration::from_millis(10)).await;
                continue;
            }
            while let Ok(Ok(event)) = timeout(Duration::from_millis(100), b.recv()).await {
                if let TransportEvent::Frame { from, frame } = &event {
                    assert_eq!((from.as_str(), &frame[..]), (gossip_core::NodeId::from_seed("a").as_str(), &b"again"[..]));
                    break 'reconnect;
                }
                seen.push(event);
            }
        }
        // The restarted `b` has no address for `a` but learnt where `a`
        // listens, and answers over the connection `a` opened.
        assert!(
            seen.contains(&TransportEvent::PeerDiscovered {
                peer: id("a"),
                address: Some(a.local_addr().to_string())
            }),
            "{seen:?}"
        );
        assert!(
            seen.contains(&TransportEvent::Connected { peer: id("a") }),
            "{seen:?}"
        );
        b.send(&id("a"), Bytes::from_static(b"welcome back"))
            .await
            .unwrap();
        let (from, frame) = next_frame(&a).await;
        assert_eq!((from.as_str(), &frame[..]), (gossip_core::NodeId::from_seed("b").as_str(), &b"welcome back"[..]));
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_and_reopen_on_the_next_send() {
    bounded(async {
        let config = TcpConfig::default().idle_timeout(Some(Duration::from_millis(200)));
        let nodes = mesh(&["a", "b"], config).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        a.send(&id("b"), Bytes::from_static(b"one")).await.unwrap();
        next_frame(b).await;
        next_event(a, |e| matches!(e, TransportEvent::Disconnected { .. })).await;
        next_event(b, |e| matches!(e, TransportEvent::Disconnected { .. })).await;
        assert!(a.connections().is_empty() && b.connections().is_empty());
        a.send(&id("b"), Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(&next_frame(b).await.1[..], b"two");
        assert_eq!(a.stats().connections_opened, 2);
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_peer_closes_its_connection() {
    bounded(async {
        let nodes = mesh(&["a", "b"], TcpConfig::default()).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        a.send(&id("b"), Bytes::from_static(b"one")).await.unwrap();
        next_frame(b).await;
        assert_eq!(a.remove_peer(&id("b")), Some(b.local_addr()));
        next_event(b, |e| matches!(e, TransportEvent::Disconnected { .. })).await;
        let error = a
            .send(&id("b"), Bytes::from_static(b"two"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::UnknownPeer);
        assert_eq!(a.peer_addresses(), vec![]);
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
}
