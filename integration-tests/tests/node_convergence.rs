//! Nodes converge: eager push, anti-entropy alone, long offline catch-up,
//! bad frames that leave the node serving, and a flooding peer throttled
//! without starving the others.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use gossip_core::{
    protocol::{codec, Message, Ping},
    Config, Error, Identity, InboundBudget, Transport,
};
use integration_tests::{identity, node_id, Cluster};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn two_nodes_converge_by_push_before_a_gossip_interval() {
    // A gossip interval far longer than the wait: only push can deliver in time.
    let config = Config::default().gossip_interval(Duration::from_secs(30));
    let cluster = Cluster::start(2, config, 1).await.unwrap();
    cluster.append(0, b"hello".to_vec()).await.unwrap();
    let took = cluster
        .wait_converged(1, Duration::from_secs(1))
        .await
        .unwrap()
        .expect("pushed entry arrives");
    assert!(took < Duration::from_millis(100), "took {took:?}");
    assert_eq!(
        cluster.entries(0).await.unwrap(),
        cluster.entries(1).await.unwrap()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_push_anti_entropy_converges_within_a_few_intervals() {
    let interval = Duration::from_millis(200);
    let config = Config::default()
        .eager_push(false)
        .gossip_interval(interval);
    let cluster = Cluster::start(3, config, 2).await.unwrap();
    cluster.append(0, b"a".to_vec()).await.unwrap();
    cluster.append(1, b"b".to_vec()).await.unwrap();
    // Nothing can arrive before a round.
    assert!(!cluster.all_hold(2).await.unwrap());
    let took = cluster
        .wait_converged(2, interval * 10)
        .await
        .unwrap()
        .expect("anti-entropy converges");
    assert!(took <= interval * 5, "took {took:?}");
}

/// Node 1 of two is offline while node 0 appends 30 batches of 100
/// entries (6 payload bytes each); then it returns and catches up. Returns
/// the cluster once both nodes hold the same 3 000 entries.
async fn returning_peer_catches_up_3000_entries(config: Config) -> Cluster {
    let mut cluster = Cluster::start(2, config, 3).await.unwrap();
    cluster.crash(1).await.unwrap();
    let stream = cluster.stream(0).await.unwrap();
    for chunk in 0..30 {
        let batch = (0..100)
            .map(|i| format!("{chunk:02}-{i:03}").into_bytes().into())
            .collect();
        stream.append_batch(batch).await.unwrap();
    }
    cluster.boot(1).await.unwrap();
    cluster
        .wait_converged(3_000, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the returning peer catches up");
    assert_eq!(
        cluster.entries(0).await.unwrap(),
        cluster.entries(1).await.unwrap()
    );
    cluster
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn offline_peer_catches_up_thousands_of_entries() {
    returning_peer_catches_up_3000_entries(Config::default().max_delta_entries(500)).await;
}

/// A pull of many parts continues in its session: the returning peer asks
/// for each next part as an answer arrives (one round in all, not one per
/// part), and no part is sent twice.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_pull_of_many_parts_takes_one_round_and_no_part_twice() {
    let config = Config::default().max_delta_entries(500).eager_push(false);
    let cluster = returning_peer_catches_up_3000_entries(config).await;
    let stats = cluster.node(1).health().await.unwrap().stats;
    assert!(
        stats.gossip_rounds <= 2,
        "{} rounds for 6 parts",
        stats.gossip_rounds
    );
    // Each entry is 6 payload bytes plus its timestamp and framing, about
    // 18 bytes on the wire: 3 000 entries once are about 54 KB in all,
    // twice more than 100 KB.
    assert!(
        stats.bytes_in < 80_000,
        "{} bytes received for 3 000 entries",
        stats.bytes_in
    );
}

/// A batch is one signed run (one signature, at its end): a delta budget
/// that ends inside a run is stretched to the run's end, so every page
/// proves itself and the receiver refuses nothing.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_delta_budget_never_cuts_a_signed_run() {
    let config = Config::default().max_delta_entries(7).eager_push(false);
    let mut cluster = Cluster::start(2, config, 5).await.unwrap();
    cluster.crash(1).await.unwrap();
    let stream = cluster.stream(0).await.unwrap();
    for batch in 0..3 {
        let payloads = (0..50)
            .map(|i| format!("{batch}-{i}").into_bytes().into())
            .collect();
        let written = stream.append_batch(payloads).await.unwrap();
        let signed: Vec<bool> = written.iter().map(|e| e.signature.is_some()).collect();
        assert_eq!(signed.iter().filter(|s| **s).count(), 1, "one signature");
        assert_eq!(signed.last(), Some(&true), "on the last entry");
    }
    cluster.boot(1).await.unwrap();
    let mut errors = cluster.node(1).errors();
    cluster
        .wait_converged(150, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the returning peer catches up");
    assert_eq!(
        cluster.entries(0).await.unwrap(),
        cluster.entries(1).await.unwrap()
    );
    let refused: Vec<String> = std::iter::from_fn(|| errors.next().now_or_never().flatten())
        .filter_map(Result::ok)
        .map(|e| e.to_string())
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn bad_frames_are_reported_and_the_node_keeps_serving() {
    let cluster = Cluster::start(2, Config::default(), 4).await.unwrap();
    let mut errors = cluster.node(1).errors();
    let intruder = cluster
        .network
        .join(&Identity::from_seed("intruder"))
        .unwrap();
    // A frame from a node that is not a peer.
    let ping = codec::encode(&Message::Ping(Ping {
        probe: 1,
        incarnation: 0,
        updates: vec![],
    }));
    intruder.send(&node_id(1), ping).await.unwrap();
    let first = errors.next().await.unwrap().unwrap();
    assert!(matches!(first.error, Error::UnknownPeer(_)), "{first}");

    // Garbage and a wrong protocol version from a known peer.
    cluster.network.leave(&node_id(0));
    let fake0 = cluster.network.join(&identity(0)).unwrap();
    fake0
        .send(&node_id(1), vec![1u8, 200, 1, 2, 3].into())
        .await
        .unwrap();
    fake0.send(&node_id(1), vec![99u8, 1].into()).await.unwrap();
    let mut decode_errors = 0;
    while decode_errors < 2 {
        let e = errors.next().await.unwrap().unwrap();
        if matches!(e.error, Error::Decode(_)) {
            decode_errors += 1;
        }
    }
    let health = cluster.node(1).health().await.unwrap();
    assert_eq!(health.stats.malformed_frames, 2);
    assert_eq!(health.stats.unknown_peer_frames, 1);
    // Still serving: local appends and reads work.
    cluster.append(1, b"still here".to_vec()).await.unwrap();
    assert_eq!(cluster.entries(1).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_flooding_peer_is_throttled_and_the_others_still_sync() {
    let budget = InboundBudget::default()
        .frames_per_second(200)
        .burst_seconds(1);
    let config = Config::default().inbound_budget(budget);
    let cluster = Cluster::start(3, config, 5).await.unwrap();
    let mut errors = cluster.node(1).errors();
    // Node 0 is impersonated by a flooder: 2 000 well-formed pings at one instant.
    cluster.network.leave(&node_id(0));
    let flooder = cluster.network.join(&identity(0)).unwrap();
    let ping = codec::encode(&Message::Ping(Ping {
        probe: 7,
        incarnation: 0,
        updates: vec![],
    }));
    for _ in 0..2_000 {
        // A full inbox refuses some; the rest reach the node's budget.
        let _ = flooder.send(&node_id(1), ping.clone()).await;
    }
    let throttled = loop {
        let e = errors.next().await.unwrap().unwrap();
        if let Error::Throttled(peer) = &e.error {
            break peer.clone();
        }
    };
    assert_eq!(throttled, node_id(0));
    // The honest peer is not affected: its append reaches node 1.
    cluster
        .append(2, b"from an honest peer".to_vec())
        .await
        .unwrap();
    let mut synced = false;
    for _ in 0..100 {
        if cluster.entries(1).await.unwrap().len() == 1 {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(synced, "node 1 still syncs with node 2");
    let stats = cluster.node(1).health().await.unwrap().stats;
    assert!(stats.throttled_frames > 0, "{stats:?}");
    // Reported once per episode, not once per dropped frame.
    let mut more_reports = 0;
    while let Ok(Some(Ok(e))) = tokio::time::timeout(Duration::from_millis(10), errors.next()).await
    {
        if matches!(e.error, Error::Throttled(_)) {
            more_reports += 1;
        }
    }
    assert!(more_reports <= 1, "{more_reports} more throttling reports");
}
