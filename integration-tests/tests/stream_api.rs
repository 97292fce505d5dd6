//! The stream API across nodes: feeds from a version on a node that merges
//! from peers while they and it append (no gap, no duplicate), streams
//! listed once merged, and one remote author's range read by sequence.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{collections::BTreeMap, time::Duration};

use futures_util::StreamExt;
use gossip_core::{Config, LogEntry, NodeId, StreamId, Subscription, VersionVector};
use integration_tests::{node_id, Cluster};

/// Appends `rounds` batches of 1 to 3 entries on node `i`, a few simulated
/// milliseconds apart.
async fn write(cluster: &Cluster, i: usize, rounds: usize) {
    let stream = cluster.stream(i).await.unwrap();
    for round in 0..rounds {
        let batch = (0..1 + (round + i) % 3)
            .map(|k| format!("{i}-{round}-{k}").into_bytes().into())
            .collect();
        stream.append_batch(batch).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3 + i as u64)).await;
    }
}

/// Reads `count` entries from the feed, then checks that nothing more
/// comes; returns them by author, in the order they came.
async fn read_exactly(mut feed: Subscription<LogEntry>, count: u64) -> BTreeMap<NodeId, Vec<u64>> {
    let mut got: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
    for _ in 0..count {
        let entry = tokio::time::timeout(Duration::from_secs(60), feed.next())
            .await
            .expect("the feed stalled")
            .expect("the feed ended")
            .unwrap();
        got.entry(entry.author).or_default().push(entry.sequence);
    }
    let more = tokio::time::timeout(Duration::from_secs(1), feed.next()).await;
    assert!(more.is_err(), "a duplicate or a stray entry: {more:?}");
    got
}

/// Feeds open on node 0 at different moments while nodes 1 and 2 (merged
/// by push) and node 0 itself write, and are read as they fill, by
/// readers slower than the subscription's capacity: each delivers every
/// entry beyond its starting version once, each author's in order.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn feeds_from_a_version_miss_nothing_while_peers_and_the_node_append() {
    let config = Config::default().stream_capacity(8);
    let cluster = Cluster::start(3, config, 19).await.unwrap();
    let stream = cluster.stream(0).await.unwrap();
    cluster.append(1, b"before".to_vec()).await.unwrap();
    cluster
        .wait_converged(1, Duration::from_secs(5))
        .await
        .unwrap();
    let total = 1
        + (0..3)
            .map(|i| (0..20).map(|round| 1 + (round + i) % 3).sum::<usize>())
            .sum::<usize>() as u64;

    let opener = async {
        let mut readers = Vec::new();
        for k in 0..8 {
            let from = if k % 2 == 0 {
                VersionVector::new()
            } else {
                stream.version().await.unwrap()
            };
            let feed = stream.subscribe_from(from.clone());
            let reader = tokio::spawn(read_exactly(feed, total - from.total()));
            readers.push((from, reader));
            tokio::time::sleep(Duration::from_millis(7)).await;
        }
        readers
    };
    let ((), (), (), readers) = tokio::join!(
        write(&cluster, 0, 20),
        write(&cluster, 1, 20),
        write(&cluster, 2, 20),
        opener
    );
    cluster
        .wait_converged(total as usize, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the cluster converges");
    let until = stream.version().await.unwrap();
    assert_eq!((until.len(), until.total()), (3, total));

    for (from, reader) in readers {
        let got = reader.await.unwrap();
        for (author, last) in until.iter() {
            let expected: Vec<u64> = (from.get(author) + 1..=last).collect();
            assert_eq!(got.get(author).cloned().unwrap_or_default(), expected);
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_channel_lists_the_streams_merged_from_peers_and_reads_a_remote_range() {
    let cluster = Cluster::start(2, Config::default(), 20).await.unwrap();
    let writer = cluster
        .node(1)
        .channel(cluster.channel.clone())
        .await
        .unwrap();
    for name in ["tasks", "chat"] {
        let stream = writer.stream(StreamId::new(name).unwrap()).await.unwrap();
        let batch = (0..5).map(|k| vec![k].into()).collect();
        stream.append_batch(batch).await.unwrap();
    }
    let reader = cluster
        .node(0)
        .channel(cluster.channel.clone())
        .await
        .unwrap();
    let names = || async {
        let streams = reader.streams().await.unwrap();
        streams.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let start = tokio::time::Instant::now();
    while names().await != ["chat", "tasks"] {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            names().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let chat = reader.stream(StreamId::new("chat").unwrap()).await.unwrap();
    assert_eq!(chat.stats().await.unwrap().entries, 5);
    let remote = node_id(1);
    let range: Vec<(u64, Vec<u8>)> = chat
        .entries_by(&remote, 2..=4, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.sequence, e.payload.to_vec()))
        .collect();
    assert_eq!(range, [(2, vec![1]), (3, vec![2]), (4, vec![3])]);
    assert!(chat
        .entries_by(&node_id(0), .., 10)
        .await
        .unwrap()
        .is_empty());
}
