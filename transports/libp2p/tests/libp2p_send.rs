//! Sending over libp2p: unknown and unreachable peers fail fast, the maximum
//! frame length is enforced on the wire by the receiver, sender ids are the
//! authenticated peer ids, and close stops everything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use gossip_core::{Identity, NodeId, Transport, TransportErrorKind, TransportEvent};
use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pTransport};
use tokio::time::Instant;

#[tokio::test]
async fn unknown_peers_fail_at_once() {
    bounded(async {
        let a = node(config()).await;
        let stranger = Identity::generate().node_id().clone();
        for to in [stranger, NodeId::from_seed("not-a-peer")] {
            // Fails without waiting for the network (bounded by `bounded`, not timed).
            let error = a.send(&to, Bytes::from_static(b"hi")).await.unwrap_err();
            assert_eq!(error.kind(), TransportErrorKind::UnknownPeer, "{error}");
        }
        let error = a
            .send(&a.local_id().clone(), Bytes::from_static(b"me"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::UnknownPeer);
        a.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_failed_dial_makes_later_sends_unreachable_until_the_backoff_ends() {
    bounded(async {
        let a = node(config()).await;
        // A peer that listened once and is gone: its port refuses connections.
        let gone = node(config()).await;
        let (gone_id, gone_addr) = (gone.local_id().clone(), dial_addr(&gone));
        gone.close().await.unwrap();
        a.add_peer_address(gone_id.clone(), gone_addr).unwrap();

        // The first send is accepted (the dial starts); the dial fails soon.
        a.send(&gone_id, Bytes::from_static(b"1")).await.unwrap();
        let deadline = Instant::now() + WAIT;
        let error = loop {
            match a.send(&gone_id, Bytes::from_static(b"again")).await {
                Err(error) if error.kind() == TransportErrorKind::Unreachable => break error,
                Ok(()) | Err(_) => {
                    assert!(Instant::now() < deadline, "the dial never failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        assert!(
            std::error::Error::source(&error).is_some(),
            "the dial failure is the source: {error:?}"
        );
        assert!(a.stats().dial_failures >= 1);
        assert!(a.stats().failed_frames >= 1);
        // The backoff (at most 200 ms the first time) ends; a later send is
        // accepted again and dials. Polled, not timed: a loaded machine may
        // report the failure late and back off once more.
        let deadline = Instant::now() + WAIT;
        while let Err(error) = a.send(&gone_id, Bytes::from_static(b"retry")).await {
            assert_eq!(error.kind(), TransportErrorKind::Unreachable, "{error}");
            assert!(Instant::now() < deadline, "the backoff never ended");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        a.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn frames_carry_the_authenticated_sender_both_ways() {
    bounded(async {
        let nodes = mesh(3, config()).await;
        let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
        a.send(c.local_id(), Bytes::from_static(b"from a"))
            .await
            .unwrap();
        b.send(c.local_id(), Bytes::from_static(b"from b"))
            .await
            .unwrap();
        let mut got = vec![next_frame(c).await, next_frame(c).await];
        got.sort();
        let mut want = vec![
            (a.local_id().clone(), Bytes::from_static(b"from a")),
            (b.local_id().clone(), Bytes::from_static(b"from b")),
        ];
        want.sort();
        assert_eq!(got, want);
        // c answers a over the connection a opened.
        c.send(a.local_id(), Bytes::from_static(b"back"))
            .await
            .unwrap();
        assert_eq!(
            next_frame(a).await,
            (c.local_id().clone(), Bytes::from_static(b"back"))
        );
        assert_eq!(c.stats().connected_peers, 2);
        close_all(&nodes).await;
    })
    .await;
}

#[tokio::test]
async fn an_oversized_frame_on_the_wire_is_refused_by_the_receiver() {
    bounded(async {
        // The sender accepts 1 MiB frames; the receiver only 100 bytes.
        let big = node(config()).await;
        let small = node(config().max_frame_len(100)).await;
        introduce(&big, &small);
        big.send(small.local_id(), Bytes::from(vec![9u8; 1000]))
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while small.stats().oversized_frames == 0 {
            assert!(
                Instant::now() < deadline,
                "the oversized frame was not refused"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Reported on the receiver's `recv` as a typed error naming the sender.
        let reported = next_error(&small).await;
        assert_eq!(
            reported.kind(),
            TransportErrorKind::FrameTooLarge,
            "{reported}"
        );
        assert!(
            reported.to_string().contains(&big.local_id().to_string())
                && reported.to_string().contains("1000 bytes"),
            "{reported}"
        );
        // Nothing was delivered, the sender learnt its frame failed, and the
        // link still works.
        let marker = Bytes::from_static(b"small enough");
        big.send(small.local_id(), marker.clone()).await.unwrap();
        assert_eq!(next_frame(&small).await, (big.local_id().clone(), marker));
        let deadline = Instant::now() + WAIT;
        while big.stats().failed_frames == 0 {
            assert!(Instant::now() < deadline, "the sender was not told");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        close_all(&[big, small]).await;
    })
    .await;
}

#[tokio::test]
async fn a_frame_over_the_local_maximum_is_never_sent() {
    bounded(async {
        let nodes = mesh(2, config().max_frame_len(10)).await;
        let error = nodes[0]
            .send(nodes[1].local_id(), Bytes::from(vec![0u8; 11]))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::FrameTooLarge);
        let at_max = Bytes::from(vec![1u8; 10]);
        nodes[0]
            .send(nodes[1].local_id(), at_max.clone())
            .await
            .unwrap();
        assert_eq!(next_frame(&nodes[1]).await.1, at_max);
        close_all(&nodes).await;
    })
    .await;
}

#[tokio::test]
async fn connection_events_and_close() {
    bounded(async {
        let nodes = mesh(2, config()).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        a.send(b.local_id(), Bytes::from_static(b"x"))
            .await
            .unwrap();
        let event = next_event(a, |e| matches!(e, TransportEvent::Connected { .. })).await;
        assert_eq!(
            event,
            TransportEvent::Connected {
                peer: b.local_id().clone()
            }
        );
        next_frame(b).await;
        b.close().await.unwrap();
        let event = next_event(a, |e| matches!(e, TransportEvent::Disconnected { .. })).await;
        assert_eq!(
            event,
            TransportEvent::Disconnected {
                peer: b.local_id().clone()
            }
        );
        for error in [
            b.recv().await.unwrap_err(),
            b.send(a.local_id(), Bytes::new()).await.unwrap_err(),
            b.listen_on(loopback()).await.unwrap_err(),
        ] {
            assert_eq!(error.kind(), TransportErrorKind::Closed);
        }
        assert!(b.is_closed());
        a.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn listen_errors_and_dial() {
    bounded(async {
        let a = Libp2pTransport::new(&Identity::generate(), config()).unwrap();
        assert!(a.listen_addrs().is_empty());
        let unsupported: Multiaddr = "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap();
        assert_eq!(
            a.listen_on(unsupported).await.unwrap_err().kind(),
            TransportErrorKind::Io
        );
        let address = a.listen_on(loopback()).await.unwrap();
        assert_eq!(a.listen_addrs(), vec![address]);
        // `dial` connects without sending; b learns a's address through identify.
        let b = node(config()).await;
        b.dial(dial_addr(&a)).await.unwrap();
        let event = next_event(&b, |e| matches!(e, TransportEvent::Connected { .. })).await;
        assert_eq!(
            event,
            TransportEvent::Connected {
                peer: a.local_id().clone()
            }
        );
        close_all(&[a, b]).await;
    })
    .await;
}

#[tokio::test]
async fn a_gone_peer_is_redialed_with_backoff_not_in_a_storm() {
    bounded(async {
        // Backoff 50 ms doubling to 400 ms, jittered into [d/2, d]: over a
        // 2 s window at most ~13 dials can fail, however often `send` is called.
        let config = config().backoff(Duration::from_millis(50), Duration::from_millis(400));
        let a = node(config.clone()).await;
        let gone = node(config).await;
        let (gone_id, gone_addr) = (gone.local_id().clone(), dial_addr(&gone));
        gone.close().await.unwrap();
        a.add_peer_address(gone_id.clone(), gone_addr).unwrap();

        let window = Instant::now() + Duration::from_secs(2);
        let mut sends = 0u32;
        while Instant::now() < window {
            // Accepted (a dial starts) or refused fast while backing off.
            match a.send(&gone_id, Bytes::from_static(b"anyone?")).await {
                Ok(()) => {}
                Err(error) => assert_eq!(error.kind(), TransportErrorKind::Unreachable),
            }
            sends += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let dials = a.stats().dial_failures;
        assert!(dials >= 1, "never dialed");
        assert!(
            dials <= 20,
            "{dials} failed dials for {sends} sends in 2 s: no backoff"
        );
        a.close().await.unwrap();
    })
    .await;
}
