//! Fault injection of the memory transport: drop, duplicate, reorder, delay,
//! partitions, leave and rejoin, back-pressure. All on paused tokio time.

use std::time::Duration;

use bytes::Bytes;
use gossip_core::{
    Identity, NodeId, Transport, TransportCapabilities, TransportErrorKind, TransportEvent,
};
use gossip_transport_memory::{LinkFaults, MemoryNetwork, MemoryNetworkConfig, MemoryTransport};
use tokio::time::{timeout, Instant};

fn id(name: &str) -> NodeId {
    NodeId::from_seed(name)
}

fn network(
    config: MemoryNetworkConfig,
) -> (
    MemoryNetwork,
    MemoryTransport,
    MemoryTransport,
    MemoryTransport,
) {
    let network = MemoryNetwork::new(config);
    let join = |name: &str| match network.join(&Identity::from_seed(name)) {
        Ok(transport) => transport,
        Err(error) => panic!("join {name}: {error}"),
    };
    let (a, b, c) = (join("a"), join("b"), join("c"));
    (network, a, b, c)
}

fn frame(i: u32) -> Bytes {
    Bytes::from(i.to_be_bytes().to_vec())
}

fn number(frame: &Bytes) -> u32 {
    match <[u8; 4]>::try_from(&frame[..]) {
        Ok(bytes) => u32::from_be_bytes(bytes),
        Err(_) => panic!("unexpected frame {frame:?}"),
    }
}

/// Everything that arrives until nothing has for a (paused-time) second.
async fn drain(transport: &MemoryTransport) -> Vec<(NodeId, Bytes)> {
    let mut got = Vec::new();
    while let Ok(result) = timeout(Duration::from_secs(1), transport.recv()).await {
        match result {
            Ok(TransportEvent::Frame { from, frame }) => got.push((from, frame)),
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(error) => panic!("recv failed: {error}"),
        }
    }
    got
}

fn numbers(frames: &[(NodeId, Bytes)]) -> Vec<u32> {
    frames.iter().map(|(_, frame)| number(frame)).collect()
}

#[tokio::test(start_paused = true)]
async fn without_faults_delivery_is_immediate_and_in_order() {
    let (network, a, b, _c) = network(MemoryNetworkConfig::default());
    assert_eq!(a.capabilities(), TransportCapabilities::stream_like());
    let start = Instant::now();
    for i in 0..100 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    for i in 0..100 {
        match b.recv().now_or_pending() {
            Some(TransportEvent::Frame { from, frame }) => {
                assert_eq!(&from, a.local_id());
                assert_eq!(number(&frame), i);
            }
            other => panic!("frame {i} was not there at once: {other:?}"),
        }
    }
    assert_eq!(Instant::now(), start, "no time passed");
    let stats = network.stats();
    assert_eq!((stats.sent, stats.delivered, stats.dropped), (100, 100, 0));
}

/// `recv` polled once, without waiting.
trait NowOrPending {
    fn now_or_pending(self) -> Option<TransportEvent>;
}

impl<F: std::future::Future<Output = gossip_core::TransportResult<TransportEvent>>> NowOrPending
    for F
{
    fn now_or_pending(self) -> Option<TransportEvent> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::pin!(self).poll(&mut cx) {
            std::task::Poll::Ready(Ok(event)) => Some(event),
            std::task::Poll::Ready(Err(error)) => panic!("recv failed: {error}"),
            std::task::Poll::Pending => None,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn drop_rate_is_roughly_honoured() {
    let (network, a, b, _c) = network(
        MemoryNetworkConfig::default()
            .seed(11)
            .default_faults(LinkFaults::none().drop(0.3)),
    );
    assert!(!a.capabilities().reliable);
    let mut received = 0;
    for batch in 0..10 {
        for i in 0..1_000 {
            a.send(b.local_id(), frame(batch * 1_000 + i))
                .await
                .unwrap();
        }
        received += drain(&b).await.len();
    }
    assert!(
        (6_700..=7_300).contains(&received),
        "{received} of 10000 frames arrived with a drop rate of 0.3"
    );
    let stats = network.stats();
    assert_eq!(stats.sent, 10_000);
    assert_eq!(stats.dropped + stats.delivered, 10_000);
    assert_eq!(stats.delivered as usize, received);
}

#[tokio::test(start_paused = true)]
async fn duplicate_produces_duplicates() {
    let (network, a, b, _c) = network(
        MemoryNetworkConfig::default()
            .seed(3)
            .default_faults(LinkFaults::none().duplicate(0.5)),
    );
    assert!(b.capabilities().may_duplicate);
    for i in 0..200 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    let got = numbers(&drain(&b).await);
    let extra = got.len() - 200;
    assert!(
        (60..=140).contains(&extra),
        "{extra} duplicates of 200 frames at 0.5"
    );
    assert_eq!(network.stats().duplicated as usize, extra);
    let mut distinct = got.clone();
    distinct.dedup(); // a copy arrives right after its original
    assert_eq!(distinct, (0..200).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn reorder_reorders_but_loses_nothing() {
    let (_network, a, b, _c) = network(
        MemoryNetworkConfig::default()
            .seed(5)
            .default_faults(LinkFaults::none().reorder(0.3)),
    );
    assert!(!b.capabilities().ordered);
    for i in 0..200 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    let got = numbers(&drain(&b).await);
    assert_ne!(got, (0..200).collect::<Vec<_>>(), "nothing was reordered");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn delay_is_honoured_and_keeps_the_link_in_order() {
    let (_network, a, b, _c) = network(MemoryNetworkConfig::default().default_faults(
        LinkFaults::none().delay(Duration::from_millis(50), Duration::from_millis(100)),
    ));
    assert!(b.capabilities().ordered && b.capabilities().reliable);
    let start = Instant::now();
    a.send(b.local_id(), frame(0)).await.unwrap();
    assert!(
        b.recv().now_or_pending().is_none(),
        "a delayed frame arrived at once"
    );
    b.recv().await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(50) && waited <= Duration::from_millis(100),
        "delivered after {waited:?}"
    );
    for i in 0..100 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    assert_eq!(numbers(&drain(&b).await), (0..100).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn link_faults_override_the_default_for_one_direction() {
    let (_network, a, b, c) = network(MemoryNetworkConfig::default());
    let network = a.network().clone();
    network.set_link_faults(a.local_id(), b.local_id(), LinkFaults::none().drop(1.0));
    a.send(b.local_id(), frame(1)).await.unwrap();
    b.send(a.local_id(), frame(2)).await.unwrap();
    a.send(c.local_id(), frame(3)).await.unwrap();
    assert!(drain(&b).await.is_empty());
    assert_eq!(numbers(&drain(&a).await), vec![2]);
    assert_eq!(numbers(&drain(&c).await), vec![3]);
    assert!(!a.capabilities().reliable && !b.capabilities().reliable);
    assert!(c.capabilities().reliable, "c's links have no faults");
    network.clear_faults();
    assert_eq!(a.capabilities(), TransportCapabilities::stream_like());
}

#[tokio::test(start_paused = true)]
async fn partition_blocks_both_ways_and_heal_restores() {
    let (network, a, b, c) = network(MemoryNetworkConfig::default());
    network.partition(
        &[a.local_id().clone()],
        &[b.local_id().clone(), c.local_id().clone()],
    );
    a.send(b.local_id(), frame(1)).await.unwrap(); // lost, silently
    b.send(a.local_id(), frame(2)).await.unwrap();
    c.send(a.local_id(), frame(3)).await.unwrap();
    b.send(c.local_id(), frame(4)).await.unwrap(); // same side
    assert!(drain(&a).await.is_empty());
    assert!(drain(&b).await.is_empty());
    assert_eq!(numbers(&drain(&c).await), vec![4]);
    assert_eq!(network.stats().partitioned, 3);

    network.heal();
    a.send(b.local_id(), frame(5)).await.unwrap();
    b.send(a.local_id(), frame(6)).await.unwrap();
    assert_eq!(numbers(&drain(&b).await), vec![5]);
    assert_eq!(numbers(&drain(&a).await), vec![6]);
}

#[tokio::test(start_paused = true)]
async fn one_way_partition_is_one_way() {
    let (network, a, b, _c) = network(MemoryNetworkConfig::default());
    network.partition_one_way(a.local_id(), b.local_id());
    a.send(b.local_id(), frame(1)).await.unwrap();
    b.send(a.local_id(), frame(2)).await.unwrap();
    assert!(drain(&b).await.is_empty(), "a → b is cut");
    assert_eq!(numbers(&drain(&a).await), vec![2], "b → a still works");
}

#[tokio::test(start_paused = true)]
async fn leave_is_a_crash_and_join_again_is_a_restart() {
    let (network, a, b, _c) = network(MemoryNetworkConfig::default());
    a.send(b.local_id(), frame(1)).await.unwrap(); // waits in b's inbox
    let pending = {
        let b_id = b.local_id().clone();
        let network = network.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            network.leave(&b_id)
        })
    };
    b.recv().await.unwrap(); // the queued frame
    let err = b.recv().await.unwrap_err(); // woken by leave
    assert_eq!(err.kind(), TransportErrorKind::Closed);
    assert!(pending.await.unwrap());
    assert!(b.is_closed());
    assert!(!network.is_attached(b.local_id()));

    a.send(b.local_id(), frame(2)).await.unwrap_err();
    let err = a.send(b.local_id(), frame(2)).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Unreachable);
    assert_eq!(
        b.send(a.local_id(), frame(3)).await.unwrap_err().kind(),
        TransportErrorKind::Closed
    );
    let err = a.send(&id("never-joined"), frame(4)).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::UnknownPeer);

    let b2 = network.join(&Identity::from_seed("b")).unwrap();
    assert!(
        network.join(&Identity::from_seed("b")).is_err(),
        "b is attached again"
    );
    a.send(b2.local_id(), frame(5)).await.unwrap();
    assert_eq!(numbers(&drain(&b2).await), vec![5]);
    assert_eq!(
        b.recv().await.unwrap_err().kind(),
        TransportErrorKind::Closed,
        "the old incarnation stays closed"
    );
    b.close().await.unwrap(); // closing the old one does not detach the new one
    assert!(network.is_attached(b2.local_id()));
}

#[tokio::test(start_paused = true)]
async fn close_and_drop_free_the_id() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let a = network.join(&Identity::from_seed("a")).unwrap();
    assert!(network.join(&Identity::from_seed("a")).is_err());
    a.close().await.unwrap();
    let a = network.join(&Identity::from_seed("a")).unwrap();
    drop(a);
    assert!(network.join(&Identity::from_seed("a")).is_ok());
}

#[tokio::test(start_paused = true)]
async fn full_inbox_is_queue_full() {
    let (network, a, b, _c) = network(MemoryNetworkConfig::default().inbound_queue_capacity(4));
    for i in 0..4 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    let err = a.send(b.local_id(), frame(4)).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::QueueFull);
    assert!(err.is_transient());
    assert_eq!(network.queued(), 4);
    b.recv().await.unwrap();
    a.send(b.local_id(), frame(5)).await.unwrap();
    assert_eq!(numbers(&drain(&b).await), vec![1, 2, 3, 5]);
    assert_eq!(network.stats().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn delayed_frames_count_against_the_inbox() {
    let (_network, a, b, _c) = network(
        MemoryNetworkConfig::default()
            .inbound_queue_capacity(3)
            .default_faults(
                LinkFaults::none().delay(Duration::from_secs(1), Duration::from_secs(1)),
            ),
    );
    for i in 0..3 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    let err = a.send(b.local_id(), frame(3)).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::QueueFull);
}

#[tokio::test(start_paused = true)]
async fn frames_over_the_limit_are_refused() {
    let (network, a, b, _c) = network(MemoryNetworkConfig::default().max_frame_len(8));
    assert_eq!(a.max_frame_len(), 8);
    let err = a
        .send(b.local_id(), Bytes::from(vec![0; 9]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::FrameTooLarge);
    a.send(b.local_id(), Bytes::from(vec![0; 8])).await.unwrap();
    assert_eq!(drain(&b).await.len(), 1);
    assert_eq!(network.stats().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn counters_add_up_under_every_fault() {
    let (network, a, b, c) = network(
        MemoryNetworkConfig::default().seed(99).default_faults(
            LinkFaults::none()
                .drop(0.2)
                .duplicate(0.2)
                .reorder(0.2)
                .delay(Duration::ZERO, Duration::from_millis(30)),
        ),
    );
    network.partition_one_way(c.local_id(), a.local_id());
    for i in 0..300 {
        a.send(b.local_id(), frame(i)).await.unwrap();
        b.send(c.local_id(), frame(i)).await.unwrap();
        c.send(a.local_id(), frame(i)).await.unwrap();
    }
    b.send(c.local_id(), frame(1_000)).await.unwrap();
    drain(&a).await;
    drain(&b).await;
    c.close().await.unwrap(); // discards what waits for c
    let s = network.stats();
    assert_eq!(network.queued(), 0);
    assert_eq!(s.sent, 901);
    assert_eq!(
        s.sent + s.duplicated,
        s.delivered + s.dropped + s.partitioned + s.discarded
    );
    assert_eq!(s.partitioned, 300);
    assert!(s.dropped > 0 && s.duplicated > 0 && s.discarded > 0);
}
