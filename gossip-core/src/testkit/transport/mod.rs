//! The transport conformance suite: one public async function per behaviour
//! of the [`Transport`] contract, and
//! [`transport_conformance!`](crate::transport_conformance), which turns
//! them into tests for a plug-in with one call.
//!
//! Every function takes a **factory**: given a list of ids, it returns a
//! connected network of fresh transports, one per id, in the same order, all
//! able to reach each other, faults off. The suite reads the transport's
//! [`capabilities`](Transport::capabilities): ordering is checked only when
//! declared `ordered`, exactly-once delivery only when not `may_duplicate`,
//! and [`declared_capabilities`] checks that every declared promise holds.
//! Each function is bounded by [`TEST_TIMEOUT`] and panics on a violation.
//!
//! In a plug-in crate, `tests/conformance.rs` (the macro expands to a module
//! `transport_conformance` with submodules `direct` and `boxed`, the latter
//! running every test through `Arc<dyn Transport>`; the tests are plain
//! `#[test]`s running on [`fixtures::run`](super::fixtures::run), so
//! the plug-in needs no tokio `macros` feature):
//!
//! ```ignore
//! use gossip_core::NodeId;
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//!
//! gossip_core::transport_conformance!(|ids: Vec<NodeId>| async move {
//!     let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//!     ids.into_iter()
//!         .map(|id| network.join(id).expect("join"))
//!         .collect::<Vec<_>>()
//! });
//! ```
//!
//! A single behaviour can also be called directly from any async test:
//! `gossip_core::testkit::transport::empty_frame_roundtrips(factory).await`.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::time::{sleep, timeout, Instant};

use crate::{DynTransport, NodeId, Transport, TransportErrorKind, TransportEvent};

mod macros;
mod support;

use support::{
    assert_kind, bounded, close_all, expect_frames, expect_no_frame, labelled, network, node_id,
    recv_frame, send, Arrivals,
};

/// The longest any one conformance function may run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the suite waits for an expected frame (or for a `QueueFull`
/// sender to get through) before failing.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the suite listens to make sure nothing more arrives.
pub const QUIET_PERIOD: Duration = Duration::from_millis(150);

/// The largest `max_frame_len` the suite accepts: it allocates a frame of
/// that size, and "bounded everything" rules out larger ones.
pub const MAX_TESTED_FRAME_LEN: usize = 1 << 30;

/// The boxed future returned by the factory that [`boxed`] builds.
pub type BoxedNetworkFuture = Pin<Box<dyn Future<Output = Vec<DynTransport>>>>;

/// Wraps a factory so that each transport it creates is erased to
/// [`DynTransport`] (`Arc<dyn Transport>`): running the suite through it
/// proves that erasure loses nothing.
pub fn boxed<F, Fut, T>(factory: F) -> impl Fn(Vec<NodeId>) -> BoxedNetworkFuture
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>> + 'static,
    T: Transport,
{
    move |ids| {
        let transports = factory(ids);
        Box::pin(async move {
            transports
                .await
                .into_iter()
                .map(|transport| Arc::new(transport) as DynTransport)
                .collect()
        })
    }
}

// ------------------------------------------------------------- behaviours --

/// Frames arrive with the sender's id, byte for byte as sent, from several
/// senders, in both directions.
pub async fn delivers_frames_with_sender_id<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("delivers_frames_with_sender_id", async {
        let [a, b, c] = network(&factory).await;
        let from_a = Bytes::from_static(b"hello from a \x00\xff binary");
        let from_b = Bytes::from_static(b"hello from b");
        let from_c = Bytes::from_static(b"hello from c");
        send(&*a, c.local_id(), from_a.clone()).await;
        send(&*b, c.local_id(), from_b.clone()).await;
        send(&*c, a.local_id(), from_c.clone()).await;
        expect_frames(&*c, &[(a.local_id(), from_a), (b.local_id(), from_b)]).await;
        expect_frames(&*a, &[(c.local_id(), from_c)]).await;
        close_all(&[a, b, c]).await;
    })
    .await;
}

/// A frame of exactly `max_frame_len` bytes is accepted and arrives intact.
pub async fn frame_of_exactly_max_len_arrives<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("frame_of_exactly_max_len_arrives", async {
        let [a, b] = network(&factory).await;
        let max = a.max_frame_len();
        assert!(
            (1..=MAX_TESTED_FRAME_LEN).contains(&max),
            "max_frame_len {max} is outside 1..={MAX_TESTED_FRAME_LEN}"
        );
        let frame: Bytes = (0..max).map(|i| (i % 251) as u8).collect();
        send(&*a, b.local_id(), frame.clone()).await;
        expect_frames(&*b, &[(a.local_id(), frame)]).await;
        close_all(&[a, b]).await;
    })
    .await;
}

/// A frame one byte over `max_frame_len` fails with `FrameTooLarge` and
/// nothing reaches the peer.
pub async fn larger_frame_is_frame_too_large_and_nothing_sent<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("larger_frame_is_frame_too_large_and_nothing_sent", async {
        let [a, b] = network(&factory).await;
        let max = a.max_frame_len();
        assert!(
            (1..=MAX_TESTED_FRAME_LEN).contains(&max),
            "max_frame_len {max} is outside 1..={MAX_TESTED_FRAME_LEN}"
        );
        let too_large = Bytes::from(vec![7u8; max + 1]);
        match timeout(RECV_TIMEOUT, a.send(b.local_id(), too_large)).await {
            Err(_) => panic!("send of an oversized frame hung"),
            Ok(Ok(())) => panic!("a frame of max_frame_len + 1 bytes was accepted"),
            Ok(Err(error)) => assert_kind(
                "oversized frame",
                error.kind(),
                &[TransportErrorKind::FrameTooLarge],
            ),
        }
        let marker = Bytes::from_static(b"after the oversized frame");
        send(&*a, b.local_id(), marker.clone()).await;
        expect_frames(&*b, &[(a.local_id(), marker)]).await;
        expect_no_frame(&*b, "the oversized frame must not be sent").await;
        close_all(&[a, b]).await;
    })
    .await;
}

/// Sending to a node the transport cannot reach fails with `UnknownPeer` or
/// `Unreachable`, promptly.
pub async fn unknown_peer_is_error_not_hang<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("unknown_peer_is_error_not_hang", async {
        let [a, b] = network(&factory).await;
        let stranger = node_id("conformance-stranger-not-in-the-network".to_owned());
        match timeout(RECV_TIMEOUT, a.send(&stranger, Bytes::from_static(b"hi"))).await {
            Err(_) => panic!("send to an unknown peer hung for {RECV_TIMEOUT:?}"),
            Ok(Ok(())) => panic!("send to an unknown peer returned Ok"),
            Ok(Err(error)) => assert_kind(
                "send to an unknown peer",
                error.kind(),
                &[
                    TransportErrorKind::UnknownPeer,
                    TransportErrorKind::Unreachable,
                ],
            ),
        }
        // The transport still works afterwards.
        let frame = Bytes::from_static(b"still working");
        send(&*a, b.local_id(), frame.clone()).await;
        expect_frames(&*b, &[(a.local_id(), frame)]).await;
        close_all(&[a, b]).await;
    })
    .await;
}

/// When the transport declares `ordered`, frames of each link arrive in the
/// order sent, with two links into one node running concurrently. Not
/// applicable otherwise (the test says so on stderr and passes;
/// [`declared_capabilities`] covers the declaration).
pub async fn per_link_order_when_ordered<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("per_link_order_when_ordered", async {
        const FRAMES: u32 = 300;
        let [a, b, c] = network(&factory).await;
        if !c.capabilities().ordered {
            eprintln!(
                "per_link_order_when_ordered: the {} transport does not declare `ordered`; \
                 nothing to check",
                c.backend()
            );
            close_all(&[a, b, c]).await;
            return;
        }
        let mut senders = Vec::new();
        for sender in [a.clone(), b.clone()] {
            let to = c.local_id().clone();
            senders.push(tokio::spawn(async move {
                for seq in 0..FRAMES {
                    send(&*sender, &to, labelled(sender.local_id(), "order", seq)).await;
                }
            }));
        }
        let mut arrivals = Arrivals::new(&*c);
        arrivals.collect(&*c, 2 * FRAMES as usize).await;
        for sender in senders {
            if let Err(error) = sender.await {
                panic!("a sender task failed: {error}");
            }
        }
        close_all(&[a, b, c]).await;
    })
    .await;
}

/// The declared capabilities are stable and honest: a burst of frames is
/// delivered completely when `reliable`, in order when `ordered`, and without
/// repeats unless `may_duplicate`.
pub async fn declared_capabilities<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("declared_capabilities", async {
        const FRAMES: u32 = 200;
        let [a, b] = network(&factory).await;
        let caps = b.capabilities();
        assert_eq!(caps, b.capabilities(), "capabilities must be stable");
        for seq in 0..FRAMES {
            send(&*a, b.local_id(), labelled(a.local_id(), "caps", seq)).await;
        }
        let mut arrivals = Arrivals::new(&*b);
        if caps.reliable {
            arrivals.collect(&*b, FRAMES as usize).await;
            if !caps.may_duplicate {
                expect_no_frame(&*b, "every frame already arrived once").await;
            }
        } else {
            // Take what arrives until the link goes quiet; the checks run on each arrival.
            while let Ok(Ok(event)) = timeout(QUIET_PERIOD * 4, b.recv()).await {
                if let TransportEvent::Frame { from, frame } = event {
                    arrivals.record(&from, &frame);
                }
            }
        }
        assert_eq!(caps, b.capabilities(), "capabilities must be stable");
        close_all(&[a, b]).await;
    })
    .await;
}

/// Dropping pending `recv` futures (under `select!` with a short timer, and
/// after a single poll) never loses a frame: the next call returns it.
pub async fn recv_is_cancel_safe<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("recv_is_cancel_safe", async {
        const FRAMES: u32 = 200;
        let [a, b] = network(&factory).await;
        let sender = {
            let (a, to) = (a.clone(), b.local_id().clone());
            tokio::spawn(async move {
                for seq in 0..FRAMES {
                    send(&*a, &to, labelled(a.local_id(), "cancel", seq)).await;
                    if seq % 4 == 0 {
                        sleep(Duration::from_millis(1)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
            })
        };
        let mut arrivals = Arrivals::new(&*b);
        let mut cancelled = 0u32;
        let mut round = 0u32;
        let deadline = Instant::now() + RECV_TIMEOUT;
        while arrivals.distinct < FRAMES as usize {
            assert!(
                Instant::now() < deadline,
                "{} of {FRAMES} frames arrived before the deadline ({cancelled} recv calls \
                 cancelled): frames were lost when recv futures were dropped",
                arrivals.distinct
            );
            round += 1;
            let event = if round % 2 == 0 {
                // Polled once, then dropped if not ready.
                b.recv().now_or_never()
            } else {
                tokio::select! {
                    event = b.recv() => Some(event),
                    () = sleep(Duration::from_micros(u64::from(round % 3) * 500)) => None,
                }
            };
            match event {
                None => cancelled += 1,
                Some(Ok(TransportEvent::Frame { from, frame })) => arrivals.record(&from, &frame),
                Some(Ok(_peer_event)) => {}
                Some(Err(error)) => panic!("recv failed: {error}"),
            }
            if round % 2 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert!(
            cancelled > 0,
            "no recv future was cancelled: the test proved nothing"
        );
        if let Err(error) = sender.await {
            panic!("the sender task failed: {error}");
        }
        close_all(&[a, b]).await;
    })
    .await;
}

/// `close` wakes a pending `recv` with `Closed`; afterwards `send` and `recv`
/// fail with `Closed`.
pub async fn close_fails_send_and_wakes_recv<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("close_fails_send_and_wakes_recv", async {
        let [a, b] = network(&factory).await;
        let pending = {
            let a = a.clone();
            tokio::spawn(async move {
                loop {
                    match a.recv().await {
                        Ok(TransportEvent::Frame { from, .. }) => {
                            panic!("unexpected frame from {from}")
                        }
                        Ok(_peer_event) => {}
                        Err(error) => return error.kind(),
                    }
                }
            })
        };
        sleep(Duration::from_millis(50)).await;
        assert!(
            !pending.is_finished(),
            "recv returned with nothing to receive"
        );
        if let Err(error) = a.close().await {
            panic!("close failed: {error}");
        }
        match timeout(RECV_TIMEOUT, pending).await {
            Err(_) => panic!("a pending recv did not wake up after close"),
            Ok(Err(error)) => panic!("the receiving task failed: {error}"),
            Ok(Ok(kind)) => assert_kind(
                "pending recv after close",
                kind,
                &[TransportErrorKind::Closed],
            ),
        }
        match timeout(RECV_TIMEOUT, a.recv()).await {
            Err(_) => panic!("recv after close hung"),
            Ok(Ok(event)) => panic!("recv after close returned {event:?}"),
            Ok(Err(error)) => assert_kind(
                "recv after close",
                error.kind(),
                &[TransportErrorKind::Closed],
            ),
        }
        match timeout(
            RECV_TIMEOUT,
            a.send(b.local_id(), Bytes::from_static(b"late")),
        )
        .await
        {
            Err(_) => panic!("send after close hung"),
            Ok(Ok(())) => panic!("send after close returned Ok"),
            Ok(Err(error)) => assert_kind(
                "send after close",
                error.kind(),
                &[TransportErrorKind::Closed],
            ),
        }
        expect_no_frame(&*b, "the sender was closed").await;
        close_all(&[b]).await;
    })
    .await;
}

/// `close` may be called twice, and concurrently: each call returns `Ok`.
pub async fn close_is_idempotent<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("close_is_idempotent", async {
        let [a, b] = network(&factory).await;
        let (first, second) = tokio::join!(a.close(), a.close());
        for result in [first, second] {
            if let Err(error) = result {
                panic!("concurrent close failed: {error}");
            }
        }
        if let Err(error) = a.close().await {
            panic!("closing a closed transport failed: {error}");
        }
        match a.send(b.local_id(), Bytes::from_static(b"late")).await {
            Ok(()) => panic!("send after close returned Ok"),
            Err(error) => assert_kind(
                "send after close",
                error.kind(),
                &[TransportErrorKind::Closed],
            ),
        }
        close_all(&[b.clone(), b]).await;
    })
    .await;
}

/// Eight nodes all send to all at once; every frame arrives (exactly once
/// unless `may_duplicate`) with the right sender id.
pub async fn many_peers_at_once<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("many_peers_at_once", async {
        const FRAMES_PER_LINK: u32 = 16;
        let nodes: [Arc<T>; 8] = network(&factory).await;
        let ids: Vec<NodeId> = nodes.iter().map(|t| t.local_id().clone()).collect();
        let mut tasks = Vec::new();
        for node in &nodes {
            let (sender, peers) = (node.clone(), ids.clone());
            tasks.push(tokio::spawn(async move {
                for seq in 0..FRAMES_PER_LINK {
                    for peer in peers.iter().filter(|p| *p != sender.local_id()) {
                        send(
                            &*sender,
                            peer,
                            labelled(sender.local_id(), peer.as_str(), seq),
                        )
                        .await;
                    }
                }
            }));
            let receiver = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut arrivals = Arrivals::new(&*receiver);
                let expected = (FRAMES_PER_LINK as usize) * 7;
                arrivals.collect(&*receiver, expected).await;
                for (from, stream) in arrivals.streams.keys() {
                    assert_eq!(
                        stream,
                        receiver.local_id().as_str(),
                        "{}: received a frame {from} addressed to {stream}",
                        receiver.local_id()
                    );
                }
                if !arrivals.caps.may_duplicate {
                    expect_no_frame(&*receiver, "every frame already arrived once").await;
                }
            }));
        }
        for task in tasks {
            if let Err(error) = task.await {
                panic!("a node's task failed: {error}");
            }
        }
        close_all(&nodes).await;
    })
    .await;
}

/// `send` runs concurrently with itself and with `recv`, in both directions:
/// four tasks per node send while the node receives.
pub async fn concurrent_send_and_recv<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("concurrent_send_and_recv", async {
        const TASKS: u32 = 4;
        const FRAMES: u32 = 50;
        let [a, b] = network(&factory).await;
        let mut tasks = Vec::new();
        for (me, peer) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
            for task in 0..TASKS {
                let (me, to) = (me.clone(), peer.local_id().clone());
                tasks.push(tokio::spawn(async move {
                    for seq in 0..FRAMES {
                        send(
                            &*me,
                            &to,
                            labelled(me.local_id(), &format!("task{task}"), seq),
                        )
                        .await;
                    }
                }));
            }
            tasks.push(tokio::spawn(async move {
                let mut arrivals = Arrivals::new(&*me);
                arrivals.collect(&*me, (TASKS * FRAMES) as usize).await;
            }));
        }
        for task in tasks {
            if let Err(error) = task.await {
                panic!("a task failed: {error}");
            }
        }
        close_all(&[a, b]).await;
    })
    .await;
}

/// `max_frame_len` is positive, at most [`MAX_TESTED_FRAME_LEN`], and does
/// not change with traffic; `local_id` and `backend` are stable too.
pub async fn max_frame_len_is_positive_and_stable<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("max_frame_len_is_positive_and_stable", async {
        let [a, b] = network(&factory).await;
        let max = a.max_frame_len();
        assert!(max > 0, "max_frame_len must be positive");
        assert!(
            max <= MAX_TESTED_FRAME_LEN,
            "max_frame_len {max} exceeds {MAX_TESTED_FRAME_LEN}: bound it"
        );
        assert!(!a.backend().is_empty(), "backend name must not be empty");
        let frame = Bytes::from_static(b"traffic");
        send(&*a, b.local_id(), frame.clone()).await;
        send(&*b, a.local_id(), frame.clone()).await;
        expect_frames(&*b, &[(a.local_id(), frame.clone())]).await;
        expect_frames(&*a, &[(b.local_id(), frame)]).await;
        assert_eq!(a.max_frame_len(), max, "max_frame_len changed with traffic");
        assert_eq!(a.backend(), a.backend(), "backend name must be stable");
        close_all(&[a, b]).await;
    })
    .await;
}

/// An empty frame is a frame: it arrives, empty, and does not confuse the
/// framing of the next one.
pub async fn empty_frame_roundtrips<F, Fut, T>(factory: F)
where
    F: Fn(Vec<NodeId>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("empty_frame_roundtrips", async {
        let [a, b] = network(&factory).await;
        send(&*a, b.local_id(), Bytes::new()).await;
        let (from, frame) = recv_frame(&*b).await;
        assert_eq!(
            &from,
            a.local_id(),
            "the empty frame arrived with the wrong sender id"
        );
        assert!(
            frame.is_empty(),
            "an empty frame arrived with {} bytes",
            frame.len()
        );
        let next = Bytes::from_static(b"x");
        send(&*a, b.local_id(), next.clone()).await;
        send(&*a, b.local_id(), Bytes::new()).await;
        expect_frames(&*b, &[(a.local_id(), next), (a.local_id(), Bytes::new())]).await;
        close_all(&[a, b]).await;
    })
    .await;
}
