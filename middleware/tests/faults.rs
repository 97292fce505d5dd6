//! Faults: seeded drop and duplication, delay and reordering under paused
//! time, partition and heal at run time, bounded delay tasks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(feature = "faults")]

use std::time::Duration;

use bytes::Bytes;
use gossip_core::{Identity, Transport, TransportErrorKind, TransportEvent};
use gossip_middleware::{FaultConfig, FaultStats, Faults, FaultsLayer};
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig, MemoryTransport};
use tokio::time::timeout;
use tower::Layer;

type Node = Faults<MemoryTransport>;

fn pair(layer: &FaultsLayer) -> (Node, Node) {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().inbound_queue_capacity(10_000));
    (
        layer.layer(network.join(&Identity::from_seed("a")).unwrap()),
        layer.layer(network.join(&Identity::from_seed("b")).unwrap()),
    )
}

fn frame(i: u32) -> Bytes {
    Bytes::from(i.to_be_bytes().to_vec())
}

/// Everything `node` receives until it has been quiet for 50 ms.
async fn drain(node: &Node) -> Vec<u32> {
    let mut got = Vec::new();
    while let Ok(Ok(TransportEvent::Frame { frame, .. })) =
        timeout(Duration::from_millis(50), node.recv()).await
    {
        got.push(u32::from_be_bytes(frame[..4].try_into().unwrap()));
    }
    got
}

async fn run(config: FaultConfig, frames: u32) -> (Vec<u32>, FaultStats) {
    let layer = FaultsLayer::new(config);
    let (a, b) = pair(&layer);
    for i in 0..frames {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    (drain(&b).await, layer.stats())
}

#[tokio::test]
async fn drops_at_the_configured_rate_and_replays_from_the_seed() {
    let config = FaultConfig::none().seed(11).drop(0.3);
    let (got, stats) = run(config.clone(), 1000).await;
    assert_eq!(stats.dropped + stats.forwarded, 1000);
    assert!((200..400).contains(&stats.dropped), "{stats:?}");
    assert_eq!(got.len() as u64, stats.forwarded);
    // Same seed, same losses.
    let (again, _) = run(config, 1000).await;
    assert_eq!(got, again);
    let (other, _) = run(FaultConfig::none().seed(12).drop(0.3), 1000).await;
    assert_ne!(got, other);
}

#[tokio::test]
async fn duplicates_and_declares_it() {
    let layer = FaultsLayer::new(FaultConfig::none().seed(5).duplicate(0.5));
    let (a, b) = pair(&layer);
    assert!(a.capabilities().may_duplicate && a.capabilities().reliable);
    for i in 0..200 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    let got = drain(&b).await;
    let stats = layer.stats();
    assert!((60..140).contains(&stats.duplicated), "{stats:?}");
    assert_eq!(got.len() as u64, 200 + stats.duplicated);
}

#[tokio::test(start_paused = true)]
async fn delays_follow_paused_time() {
    let layer = FaultsLayer::new(
        FaultConfig::none().delay(Duration::from_millis(100), Duration::from_millis(200)),
    );
    let (a, b) = pair(&layer);
    assert!(!a.capabilities().ordered);
    a.send(b.local_id(), frame(1)).await.unwrap();
    // Nothing before the minimum delay...
    assert!(timeout(Duration::from_millis(99), b.recv()).await.is_err());
    // ...and the frame by the maximum.
    let event = timeout(Duration::from_millis(102), b.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(event, TransportEvent::Frame { .. }));
    assert_eq!(layer.stats().delayed, 1);
}

#[tokio::test(start_paused = true)]
async fn reorders() {
    let layer = FaultsLayer::new(
        FaultConfig::none()
            .seed(9)
            .reorder(0.3, Duration::from_millis(20)),
    );
    let (a, b) = pair(&layer);
    for i in 0..100 {
        a.send(b.local_id(), frame(i)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let got = drain(&b).await;
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>(), "nothing lost");
    assert_ne!(got, sorted, "some frames overtaken");
    assert!(layer.stats().reordered > 0);
}

#[tokio::test]
async fn partition_and_heal_at_run_time_both_ways() {
    let layer = FaultsLayer::new(FaultConfig::none());
    let handle = layer.handle();
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let a = layer.layer(network.join(&Identity::from_seed("a")).unwrap());
    let b = layer.layer(network.join(&Identity::from_seed("b")).unwrap());
    // c has no faults layer: a partition must also hold for frames it sends.
    let c = network.join(&Identity::from_seed("c")).unwrap();

    handle.partition([c.local_id().clone()]);
    a.send(c.local_id(), frame(1)).await.unwrap();
    c.send(a.local_id(), frame(2)).await.unwrap();
    a.send(b.local_id(), frame(3)).await.unwrap();
    assert_eq!(drain(&b).await, vec![3]);
    assert_eq!(
        drain(&a).await,
        Vec::<u32>::new(),
        "frame from c dropped on receipt"
    );
    assert!(
        timeout(Duration::from_millis(50), c.recv()).await.is_err(),
        "frame to c dropped"
    );
    assert_eq!(handle.stats().partitioned, 2);

    handle.heal();
    a.send(c.local_id(), frame(4)).await.unwrap();
    c.send(a.local_id(), frame(5)).await.unwrap();
    assert!(matches!(
        c.recv().await.unwrap(),
        TransportEvent::Frame { .. }
    ));
    assert_eq!(drain(&a).await, vec![5]);
}

#[tokio::test(start_paused = true)]
async fn delayed_frames_are_bounded() {
    let layer = FaultsLayer::new(
        FaultConfig::none()
            .delay(Duration::from_secs(1), Duration::from_secs(1))
            .max_delayed(3),
    );
    let (a, b) = pair(&layer);
    for i in 0..10 {
        a.send(b.local_id(), frame(i)).await.unwrap();
    }
    let stats = layer.stats();
    assert_eq!((stats.delayed, stats.undelayed), (3, 7));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(drain(&b).await.len(), 10);
}

#[tokio::test]
async fn limits_are_checked_before_faults() {
    let layer = FaultsLayer::new(FaultConfig::none().drop(1.0));
    let (a, b) = pair(&layer);
    assert!(!a.capabilities().reliable);
    let too_large = Bytes::from(vec![0; a.max_frame_len() + 1]);
    assert_eq!(
        a.send(b.local_id(), too_large).await.unwrap_err().kind(),
        TransportErrorKind::FrameTooLarge
    );
    a.send(b.local_id(), frame(1)).await.unwrap();
    assert_eq!(layer.stats().dropped, 1);
    assert_eq!(a.backend(), "faults");
}
