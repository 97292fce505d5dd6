//! Frame limits on the wire: an announced length over the maximum
//! disconnects the peer before anything is read or allocated for it.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::*;
use gossip_core::{Transport, TransportErrorKind, TransportEvent};
use gossip_transport_tcp::TcpConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_length_header_disconnects_the_peer_and_the_node_keeps_serving() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        let mut attacker = raw_client(server.local_addr(), "attacker", "server").await;
        // An unknown node connecting is reported, without an address (port 0).
        next_event(&server, |e| {
            matches!(e, TransportEvent::PeerDiscovered { peer, address: None } if *peer == id("attacker"))
        })
        .await;

        // ~4 GiB announced; nothing follows. Had the reader trusted it, it
        // would allocate 4 GiB and wait for the body forever.
        attacker.send_raw(&u32::MAX.to_be_bytes()).await.unwrap();
        expect_peer_closed(&mut attacker).await;
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::FrameTooLarge);
        assert!(reported.to_string().contains(id("attacker").as_str()), "{reported}");
        next_event(&server, |e| matches!(e, TransportEvent::Disconnected { peer } if *peer == id("attacker"))).await;
        assert_eq!(server.stats().oversized_frames, 1);

        // Still serving: a well-behaved client gets its frames through.
        let mut client = raw_client(server.local_addr(), "client", "server").await;
        client.send_frame(b"abc").await.unwrap();
        let (from, frame) = next_frame(&server).await;
        assert_eq!((from, &frame[..]), (id("client"), &b"abc"[..]));
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_over_the_maximum_disconnects_exactly_the_maximum_arrives() {
    bounded(async {
        let server = bind("server", TcpConfig::default().max_frame_len(64)).await;
        let mut client = raw_client(server.local_addr(), "client", "server").await;
        client.send_frame(&[7u8; 64]).await.unwrap();
        let (_, frame) = next_frame(&server).await;
        assert_eq!(frame.len(), 64);

        client.send_frame(&[7u8; 65]).await.unwrap();
        expect_peer_closed(&mut client).await;
        assert_eq!(server.stats().oversized_frames, 1);
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_peers_announced_maximum_is_refused_once_known() {
    bounded(async {
        let nodes = mesh(&["a", "b"], TcpConfig::default()).await;
        let small = bind("c", TcpConfig::default().max_frame_len(10)).await;
        let (a, c) = (&nodes[0], &small);
        a.add_peer_address(id("c"), c.local_addr());
        a.send(&id("c"), Bytes::from_static(b"hello"))
            .await
            .unwrap();
        next_frame(c).await;
        // The handshake told `a` that `c` takes at most 10 bytes.
        let error = a
            .send(&id("c"), Bytes::from(vec![0u8; 11]))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::FrameTooLarge);
        a.send(&id("c"), Bytes::from(vec![1u8; 10])).await.unwrap();
        assert_eq!(next_frame(c).await.1.len(), 10);
        for t in nodes.iter().chain([c]) {
            t.close().await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame_is_reported_and_other_peers_are_unaffected() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        let mut good = raw_client(server.local_addr(), "good", "server").await;
        let mut cut = raw_client(server.local_addr(), "cut", "server").await;
        // A sealed frame of 100 bytes cut after 14, then the connection closes.
        let sealed = cut.seal(&[1u8; 100]).unwrap();
        cut.send_raw(&sealed[..14]).await.unwrap();
        drop(cut);
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Rejected);
        assert!(
            reported.to_string().contains("inside a frame"),
            "{reported}"
        );
        good.send_frame(b"ok").await.unwrap();
        let (from, frame) = next_frame(&server).await;
        assert_eq!((from, &frame[..]), (id("good"), &b"ok"[..]));
        server.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_or_altered_frame_disconnects_the_peer_and_is_never_delivered() {
    bounded(async {
        let server = bind("server", TcpConfig::default()).await;
        for attack in ["replay", "alter"] {
            let mut peer = raw_client(server.local_addr(), attack, "server").await;
            let mut sealed = peer.seal(b"pay 10").unwrap();
            if attack == "replay" {
                peer.send_raw(&sealed).await.unwrap();
                let (from, frame) = next_frame(&server).await;
                assert_eq!((from, &frame[..]), (id(attack), &b"pay 10"[..]));
            } else {
                let last = sealed.len() - 1;
                sealed[last] ^= 1;
            }
            peer.send_raw(&sealed).await.unwrap();
            expect_peer_closed(&mut peer).await;
            let reported = next_error(&server).await;
            assert_eq!(reported.kind(), TransportErrorKind::Rejected, "{attack}");
            assert!(
                reported.to_string().contains("authentication"),
                "{reported}"
            );
        }
        // Nothing but the one honest frame reached the application.
        let rest = drain(&server, std::time::Duration::from_millis(200)).await;
        assert!(
            !rest
                .iter()
                .any(|e| matches!(e, TransportEvent::Frame { .. })),
            "{rest:?}"
        );
        server.close().await.unwrap();
    })
    .await;
}
