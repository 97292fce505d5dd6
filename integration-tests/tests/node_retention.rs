//! Node-level retention on a three-node cluster: a stream's retention
//! setting, set once by the owner, removes the same entries on every
//! replica, by `compact_now` and by the periodic pass; streams that keep
//! everything keep everything; no replica fetches removed entries again,
//! and a replica that was away receives only what the policy keeps. Under
//! paused tokio time (the nodes' `SimClock`s follow it), on the memory
//! network.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{collections::BTreeSet, future::Future, time::Duration};

use futures_util::FutureExt;
use futures_util::StreamExt;
use gossip_core::{
    Config, Coordinator, DomainEvent, Error, RetentionPolicy, StreamConfig, StreamHandle, StreamId,
};
use integration_tests::{node_id, Cluster};

/// How long (simulated) anything here may take: a failure guard, never a
/// measurement.
const LIMIT: Duration = Duration::from_secs(60);

/// Polls `check` every 10 ms of simulated time until it holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::timeout(LIMIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within {LIMIT:?}"));
}

/// The (author index, sequence) of every entry `stream` holds.
async fn held(stream: &StreamHandle) -> BTreeSet<(usize, u64)> {
    stream
        .entries()
        .await
        .unwrap()
        .iter()
        .map(|e| {
            let author = (0..3).find(|i| node_id(*i) == e.author).expect("a member");
            (author, e.sequence)
        })
        .collect()
}

/// `(author, first..=last)` as a set of (author, sequence).
fn seqs(ranges: &[(usize, std::ops::RangeInclusive<u64>)]) -> BTreeSet<(usize, u64)> {
    ranges
        .iter()
        .flat_map(|(author, range)| range.clone().map(move |s| (*author, s)))
        .collect()
}

async fn stream_on(cluster: &Cluster, i: usize, name: &str) -> StreamHandle {
    cluster
        .node(i)
        .channel(cluster.channel.clone())
        .await
        .unwrap()
        .stream(StreamId::new(name).unwrap())
        .await
        .unwrap()
}

/// The owner (node 0) sets `config` on the shared stream; waits until every
/// running node has it.
async fn set_policy(cluster: &Cluster, config: StreamConfig) {
    let owner = cluster.node(0).channel(cluster.channel.clone()).await;
    owner
        .unwrap()
        .set_stream_config(cluster.stream.clone(), config.clone())
        .await
        .unwrap();
    for i in 0..cluster.members.len() {
        if cluster.members[i].node.is_none() {
            continue;
        }
        let channel = cluster
            .node(i)
            .channel(cluster.channel.clone())
            .await
            .unwrap();
        eventually("the setting reaches every node", || async {
            channel.info().await.unwrap().stream_config(&cluster.stream) == &config
        })
        .await;
    }
}

/// Appends `n` entries, one at a time (each signed, so each can be a base).
async fn append_n(cluster: &Cluster, i: usize, n: usize, tag: &str) {
    let stream = cluster.stream(i).await.unwrap();
    for k in 0..n {
        stream
            .append(format!("{tag}-{i}-{k}").into_bytes())
            .await
            .unwrap();
    }
}

/// The `removed` figures of the `StreamCompacted` events waiting on `events`.
fn compacted(events: &mut gossip_core::Subscription<DomainEvent>, cluster: &Cluster) -> Vec<u64> {
    std::iter::from_fn(|| events.next().now_or_never().flatten())
        .filter_map(|event| match event.unwrap() {
            DomainEvent::StreamCompacted {
                channel,
                stream,
                removed,
            } => {
                assert_eq!((&channel, &stream), (&cluster.channel, &cluster.stream));
                Some(removed)
            }
            _ => None,
        })
        .collect()
}

/// No entry is refused or re-sent: no sync error of the kinds a removed
/// entry coming back, or a base proof failing, would raise.
fn assert_no_refusals(errors: &mut gossip_core::Subscription<gossip_core::SyncError>) {
    let refused: Vec<String> = std::iter::from_fn(|| errors.next().now_or_never().flatten())
        .map(|e| e.unwrap())
        .filter(|e| {
            matches!(
                e.error,
                Error::BaseRefused { .. }
                    | Error::ForgedEntries { .. }
                    | Error::Equivocation { .. }
            )
        })
        .map(|e| e.to_string())
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

async fn merged(node: &Coordinator) -> u64 {
    node.health().await.unwrap().stats.entries_merged
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_count_policy_removes_the_same_prefix_on_every_replica_by_compact_now() {
    // Only `compact_now` compacts here: the periodic pass is an hour away.
    let config = Config::default().retention_interval(Duration::from_secs(3_600));
    let cluster = Cluster::start(3, config, 21).await.unwrap();
    let keep_three =
        StreamConfig::default().retention(RetentionPolicy::CountBased { max_per_author: 3 });
    set_policy(&cluster, keep_three).await;
    let mut events: Vec<_> = (0..3).map(|i| cluster.node(i).events()).collect();
    let mut errors: Vec<_> = (0..3).map(|i| cluster.node(i).errors()).collect();

    // Two authors in the compacted stream; a stream that keeps everything.
    append_n(&cluster, 0, 8, "a").await;
    append_n(&cluster, 1, 5, "a").await;
    let kept_all = stream_on(&cluster, 0, "everything").await;
    for k in 0..4 {
        kept_all
            .append(format!("all-{k}").into_bytes())
            .await
            .unwrap();
    }
    cluster
        .wait_converged(13, LIMIT)
        .await
        .unwrap()
        .expect("converged");
    for i in 1..3 {
        let other = stream_on(&cluster, i, "everything").await;
        eventually("the other stream converges", || async {
            other.entries().await.unwrap().len() == 4
        })
        .await;
    }

    // Nodes 0 and 1 compact; node 2 has not yet.
    let kept = seqs(&[(0, 6..=8), (1, 3..=5)]);
    for (i, events) in events.iter_mut().enumerate().take(2) {
        assert_eq!(
            cluster.node(i).compact_now().await.unwrap(),
            5 + 2,
            "node {i}"
        );
        assert_eq!(compacted(events, &cluster), [7], "node {i}");
        assert_eq!(
            held(&cluster.stream(i).await.unwrap()).await,
            kept,
            "node {i}"
        );
    }
    // Syncing with node 2, which still holds everything, brings nothing
    // back to them.
    let before: Vec<u64> = vec![merged(cluster.node(0)).await, merged(cluster.node(1)).await];
    for _ in 0..5 {
        for i in 0..3 {
            cluster.node(i).sync_now().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, before) in before.into_iter().enumerate() {
        assert_eq!(
            merged(cluster.node(i)).await,
            before,
            "node {i} fetched nothing"
        );
        assert_eq!(
            held(&cluster.stream(i).await.unwrap()).await,
            kept,
            "node {i}"
        );
    }
    assert_eq!(held(&cluster.stream(2).await.unwrap()).await.len(), 13);

    // Node 2 applies the same setting: the same entries go.
    assert_eq!(cluster.node(2).compact_now().await.unwrap(), 7);
    assert_eq!(compacted(&mut events[2], &cluster), [7]);
    for i in 0..3 {
        let stream = cluster.stream(i).await.unwrap();
        assert_eq!(held(&stream).await, kept, "node {i}");
        // What was written is still what was written.
        let version = stream.version().await.unwrap();
        assert_eq!((version.get(&node_id(0)), version.get(&node_id(1))), (8, 5));
        assert_eq!(
            stream_on(&cluster, i, "everything")
                .await
                .entries()
                .await
                .unwrap()
                .len(),
            4,
            "node {i}: a stream that keeps everything"
        );
        // Nothing more to remove.
        assert_eq!(cluster.node(i).compact_now().await.unwrap(), 0);
        assert!(compacted(&mut events[i], &cluster).is_empty());
        assert_no_refusals(&mut errors[i]);
    }
    let listings: Vec<_> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(cluster.entries(i).await.unwrap());
        }
        v
    };
    assert!(
        listings.windows(2).all(|w| w[0] == w[1]),
        "identical listings"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_replica_that_was_away_receives_only_what_the_policy_keeps() {
    let config = Config::default().retention_interval(Duration::from_secs(3_600));
    let mut cluster = Cluster::start(3, config, 22).await.unwrap();
    let keep_two =
        StreamConfig::default().retention(RetentionPolicy::CountBased { max_per_author: 2 });
    set_policy(&cluster, keep_two).await;

    cluster.crash(2).await.unwrap();
    append_n(&cluster, 0, 6, "b").await;
    append_n(&cluster, 1, 4, "b").await;
    cluster
        .wait_converged(10, LIMIT)
        .await
        .unwrap()
        .expect("converged");
    for i in 0..2 {
        assert_eq!(cluster.node(i).compact_now().await.unwrap(), 4 + 2);
    }
    let kept = seqs(&[(0, 5..=6), (1, 3..=4)]);

    // Node 2 returns: it takes the bases its peers prove and the entries
    // after them, and never the removed ones.
    cluster.boot(2).await.unwrap();
    let mut errors = cluster.node(2).errors();
    let stream2 = cluster.stream(2).await.unwrap();
    eventually("the returning node catches up", || async {
        held(&stream2).await == kept
    })
    .await;
    for _ in 0..5 {
        cluster.node(2).sync_now().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(held(&stream2).await, kept);
    assert_eq!(
        merged(cluster.node(2)).await,
        4,
        "only the kept entries came"
    );
    let version = stream2.version().await.unwrap();
    assert_eq!((version.get(&node_id(0)), version.get(&node_id(1))), (6, 4));
    assert_eq!(cluster.node(2).compact_now().await.unwrap(), 0);
    assert_no_refusals(&mut errors);
    // New entries flow on as before.
    append_n(&cluster, 0, 1, "c").await;
    eventually("a new entry reaches the returned node", || async {
        held(&stream2).await.contains(&(0, 7))
    })
    .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_time_policy_removes_old_entries_on_every_replica_by_the_periodic_pass() {
    let interval = Duration::from_secs(10);
    let max_age = Duration::from_secs(60);
    let config = Config::default().retention_interval(interval);
    let cluster = Cluster::start(3, config, 23).await.unwrap();
    set_policy(
        &cluster,
        StreamConfig::default().retention(RetentionPolicy::TimeBased { max_age }),
    )
    .await;
    let mut events: Vec<_> = (0..3).map(|i| cluster.node(i).events()).collect();

    // Old entries now, newer ones 30 s later (the nodes' clocks follow
    // tokio's paused time).
    append_n(&cluster, 0, 4, "old").await;
    append_n(&cluster, 1, 3, "old").await;
    let written = tokio::time::Instant::now();
    cluster
        .wait_converged(7, LIMIT)
        .await
        .unwrap()
        .expect("converged");
    tokio::time::sleep(Duration::from_secs(30)).await;
    append_n(&cluster, 0, 2, "new").await;
    append_n(&cluster, 1, 2, "new").await;
    cluster
        .wait_converged(11, LIMIT)
        .await
        .unwrap()
        .expect("converged");
    let everything = seqs(&[(0, 1..=6), (1, 1..=5)]);
    for i in 0..3 {
        assert_eq!(held(&cluster.stream(i).await.unwrap()).await, everything);
    }

    // Once the old ones are over a minute old, the next periodic pass on
    // every node removes them, and only them.
    let kept = seqs(&[(0, 5..=6), (1, 4..=5)]);
    for i in 0..3 {
        let stream = cluster.stream(i).await.unwrap();
        eventually("the periodic pass removes the old entries", || async {
            held(&stream).await != everything
        })
        .await;
        assert_eq!(held(&stream).await, kept, "node {i}");
        // Not before they are a minute old; by the first pass after that.
        let age = written.elapsed();
        assert!(age > max_age && age <= max_age + interval * 2, "{age:?}");
    }
    for (i, events) in events.iter_mut().enumerate() {
        assert_eq!(compacted(events, &cluster), [4 + 3], "node {i}");
        // Nothing left for `compact_now`: the periodic pass did it all.
        assert_eq!(cluster.node(i).compact_now().await.unwrap(), 0);
    }
}
