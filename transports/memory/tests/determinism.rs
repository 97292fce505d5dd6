//! Same seed, same sends, current-thread runtime with paused time ⇒ the same
//! deliveries, frame for frame and instant for instant.

// `run_schedule` is test code, but not a `#[test]` function.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use bytes::Bytes;
use gossip_core::{Identity, NodeId, Transport, TransportEvent};
use gossip_transport_memory::{LinkFaults, MemoryNetwork, MemoryNetworkConfig, MemoryNetworkStats};
use tokio::time::Instant;

/// Per receiving node: (time since start, sender, frame), in arrival order.
type Trace = BTreeMap<NodeId, Vec<(Duration, NodeId, Bytes)>>;

fn run_schedule(seed: u64) -> (Trace, MemoryNetworkStats) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let network = MemoryNetwork::new(
            MemoryNetworkConfig::default().seed(seed).default_faults(
                LinkFaults::none()
                    .drop(0.2)
                    .duplicate(0.1)
                    .reorder(0.2)
                    .delay(Duration::from_millis(1), Duration::from_millis(40)),
            ),
        );
        let nodes: Vec<_> = (0..5)
            .map(|i| Arc::new(network.join(&Identity::from_seed(format!("n{i}"))).unwrap()))
            .collect();
        let start = Instant::now();
        let receivers: Vec<_> = nodes
            .iter()
            .map(|node| {
                let node = node.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(TransportEvent::Frame { from, frame }) = node.recv().await {
                        got.push((start.elapsed(), from, frame));
                    }
                    (node.local_id().clone(), got)
                })
            })
            .collect();
        // A fixed schedule: every node sends to every other, with pauses, and
        // a partition in the middle.
        for round in 0u32..40 {
            if round == 15 {
                network.partition(
                    &[nodes[0].local_id().clone()],
                    &[nodes[1].local_id().clone()],
                );
            }
            if round == 25 {
                network.heal();
            }
            for (i, from) in nodes.iter().enumerate() {
                for (j, to) in nodes.iter().enumerate() {
                    if i != j {
                        let frame = Bytes::from(format!("{round}:{i}->{j}"));
                        from.send(to.local_id(), frame).await.unwrap();
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(u64::from(round % 7))).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        for node in &nodes {
            node.close().await.unwrap();
        }
        let mut trace = Trace::new();
        for receiver in receivers {
            let (id, got) = receiver.await.unwrap();
            trace.insert(id, got);
        }
        (trace, network.stats())
    })
}

#[test]
fn same_seed_same_deliveries() {
    let (first, first_stats) = run_schedule(2024);
    let (second, second_stats) = run_schedule(2024);
    assert_eq!(first_stats, second_stats);
    assert_eq!(first, second);
    // The schedule really was faulty, so the comparison means something.
    assert!(first_stats.dropped > 0 && first_stats.duplicated > 0 && first_stats.partitioned > 0);
    let delivered: usize = first.values().map(Vec::len).sum();
    assert_eq!(delivered as u64, first_stats.delivered);
}

#[test]
fn another_seed_other_deliveries() {
    let (first, _) = run_schedule(1);
    let (second, _) = run_schedule(2);
    assert_ne!(first, second, "the seed must drive the faults");
}
