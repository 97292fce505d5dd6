//! A node's lifecycle through its public API: every legal change of
//! `start` / `pause` / `resume` / `stop` / `dispose`, the typed error of every
//! illegal one, what a paused, a stopped and a disposed node do, and the
//! figures of `resource_usage`. Under paused tokio time, on the memory
//! network.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use gossip_core::{
    testkit::sim::SimClock, Config, Coordinator, Error, Identity, NodeState, PeerStatus,
    RetentionPolicy, StreamConfig, StreamHandle, StreamId,
};
use gossip_store_memory::MemoryStore;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
use integration_tests::{node_id, Cluster, EPOCH_MS};

/// How long (simulated) anything here may take: a failure guard, never a
/// measurement.
const LIMIT: Duration = Duration::from_secs(20);

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

/// A node on `network` that knows nobody, built (idle), not started.
async fn idle_node(network: &MemoryNetwork, name: &str) -> Coordinator {
    let identity = Identity::from_seed(name);
    Coordinator::builder(identity.clone())
        .store(MemoryStore::new())
        .transport(network.join(&identity).unwrap())
        .clock(SimClock::new(EPOCH_MS))
        .build()
        .await
        .unwrap()
}

async fn state(node: &Coordinator) -> NodeState {
    node.health().await.unwrap().state
}

fn assert_invalid_state(result: Result<(), Error>, what: &str) {
    let err = result.expect_err(what);
    assert!(matches!(err, Error::InvalidState(_)), "{what}: {err}");
}

fn assert_node_stopped<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    let err = result.expect_err(what);
    assert!(matches!(err, Error::NodeStopped), "{what}: {err}");
}

async fn payloads(stream: &StreamHandle) -> Vec<Bytes> {
    stream
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.payload)
        .collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_legal_change_works_and_repeating_one_changes_nothing() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(1));
    let node = idle_node(&network, "legal").await;
    assert_eq!(state(&node).await, NodeState::Idle);

    // idle → running ⇄ paused → stopped → disposed, each change twice: the
    // second time the node is already there and nothing changes.
    for (change, want) in [
        ("start", NodeState::Running),
        ("pause", NodeState::Paused),
        ("resume", NodeState::Running),
        ("pause", NodeState::Paused),
        ("stop", NodeState::Stopped),
    ] {
        for round in 0..2 {
            let result = match change {
                "start" => node.start().await,
                "pause" => node.pause().await,
                "resume" => node.resume().await,
                _ => node.stop().await,
            };
            result.unwrap_or_else(|e| panic!("{change} (#{round}): {e}"));
            assert_eq!(state(&node).await, want, "after {change} (#{round})");
        }
    }
    // `start` while running is the same as `resume` while running.
    let other = idle_node(&network, "legal-2").await;
    other.start().await.unwrap();
    other.resume().await.unwrap();
    other.start().await.unwrap();
    assert_eq!(state(&other).await, NodeState::Running);

    node.dispose().await.unwrap();
    other.dispose().await.unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_and_dispose_work_from_every_state() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(2));
    // The changes that bring a fresh node to each state before the last one.
    let paths: [&[&str]; 4] = [&[], &["start"], &["start", "pause"], &["start", "stop"]];
    for (i, path) in paths.iter().enumerate() {
        for last in ["stop", "dispose"] {
            let node = idle_node(&network, &format!("path-{i}-{last}")).await;
            for change in *path {
                match *change {
                    "start" => node.start().await.unwrap(),
                    "pause" => node.pause().await.unwrap(),
                    _ => node.stop().await.unwrap(),
                }
            }
            if last == "stop" {
                node.stop()
                    .await
                    .unwrap_or_else(|e| panic!("stop after {path:?}: {e}"));
                assert_eq!(state(&node).await, NodeState::Stopped, "after {path:?}");
                node.dispose().await.unwrap();
            } else {
                node.dispose()
                    .await
                    .unwrap_or_else(|e| panic!("dispose after {path:?}: {e}"));
                assert_node_stopped(node.health().await, "health after dispose");
            }
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_illegal_change_is_an_invalid_state_and_leaves_the_node_as_it_was() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(3));
    let node = idle_node(&network, "illegal").await;

    // Idle: nothing to pause or resume.
    assert_invalid_state(node.pause().await, "pause an idle node");
    assert_invalid_state(node.resume().await, "resume an idle node");
    assert_eq!(state(&node).await, NodeState::Idle);

    // Paused: `resume` continues, `start` does not.
    node.start().await.unwrap();
    node.pause().await.unwrap();
    assert_invalid_state(node.start().await, "start a paused node");
    assert_eq!(state(&node).await, NodeState::Paused);

    // Stopped: for good.
    node.stop().await.unwrap();
    assert_invalid_state(node.start().await, "start a stopped node");
    assert_invalid_state(node.resume().await, "resume a stopped node");
    assert_invalid_state(node.pause().await, "pause a stopped node");
    assert_eq!(state(&node).await, NodeState::Stopped);
    node.dispose().await.unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn after_dispose_every_call_fails_with_node_stopped_and_feeds_end() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(4));
    let node = idle_node(&network, "disposed").await;
    node.start().await.unwrap();
    let channel = node.create_channel("notes").await.unwrap();
    let stream = channel.stream(StreamId::new("s").unwrap()).await.unwrap();
    stream.append(b"kept".to_vec()).await.unwrap();
    let mut events = node.events();
    let mut errors = node.errors();
    let mut live = stream.subscribe();
    let clone = node.clone();

    node.dispose().await.unwrap();

    // Every clone, every handle.
    for n in [&node, &clone] {
        assert_node_stopped(n.dispose().await, "dispose twice");
        assert_node_stopped(n.start().await, "start");
        assert_node_stopped(n.pause().await, "pause");
        assert_node_stopped(n.resume().await, "resume");
        assert_node_stopped(n.stop().await, "stop");
        assert_node_stopped(n.health().await, "health");
        assert_node_stopped(n.resource_usage().await, "resource_usage");
        assert_node_stopped(n.compact_now().await, "compact_now");
        assert_node_stopped(n.sync_now().await, "sync_now");
        assert_node_stopped(n.channels().await, "channels");
        assert_node_stopped(n.channel(channel.id().clone()).await, "channel");
        assert_node_stopped(n.create_channel("other").await, "create_channel");
        assert_node_stopped(
            n.add_peer(Identity::from_seed("p").node_id().clone()).await,
            "add_peer",
        );
    }
    assert_node_stopped(stream.append(b"lost".to_vec()).await, "append");
    // The reads a stream handle serves from the store itself too, whatever
    // the store does once closed (the memory store would still answer).
    assert_node_stopped(stream.entries().await, "entries");
    assert_node_stopped(stream.entries_page(None, 10).await, "entries_page");
    assert_node_stopped(
        stream.entries_by(node.local_id(), .., 10).await,
        "entries_by",
    );
    assert_node_stopped(stream.version().await, "version");
    assert_node_stopped(stream.stats().await, "stats");
    assert_node_stopped(channel.info().await, "channel info");
    assert_node_stopped(
        channel.stream(StreamId::new("s").unwrap()).await,
        "stream handle",
    );

    // The feeds end (documented on `Subscription`), even while handles live.
    for (what, ended) in [
        (
            "events",
            tokio::time::timeout(LIMIT, events.next())
                .await
                .map(|i| i.is_none()),
        ),
        (
            "errors",
            tokio::time::timeout(LIMIT, errors.next())
                .await
                .map(|i| i.is_none()),
        ),
        (
            "entries",
            tokio::time::timeout(LIMIT, live.next())
                .await
                .map(|i| i.is_none()),
        ),
    ] {
        assert_eq!(ended, Ok(true), "the {what} feed ends on dispose");
    }
    assert!(
        node.events().next().await.is_none(),
        "a feed opened later ends at once"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_stopped_node_works_locally_and_a_new_node_on_its_store_syncs_it() {
    let mut cluster = Cluster::start(2, Config::default(), 5).await.unwrap();
    let stream1 = cluster.stream(1).await.unwrap();
    cluster.node(1).stop().await.unwrap();
    assert_eq!(state(cluster.node(1)).await, NodeState::Stopped);

    // Local appends and reads keep working, and are reported.
    let mut events = cluster.node(1).events();
    stream1.append(b"while stopped".to_vec()).await.unwrap();
    assert!(matches!(
        events.next().await,
        Some(Ok(gossip_core::DomainEvent::EntriesAppended {
            count: 1,
            ..
        }))
    ));
    assert_eq!(
        payloads(&stream1).await,
        [Bytes::from_static(b"while stopped")]
    );

    // Networking has ended: the other node's append does not reach it, and
    // its own does not leave it.
    cluster.append(0, b"from 0".to_vec()).await.unwrap();
    cluster.node(0).sync_now().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        payloads(&stream1).await,
        [Bytes::from_static(b"while stopped")]
    );
    assert_eq!(cluster.entries(0).await.unwrap().len(), 1);

    // A stopped node is not started again; a new node on its store is.
    assert_invalid_state(cluster.node(1).start().await, "start a stopped node");
    cluster.crash(1).await.unwrap();
    cluster.boot(1).await.unwrap();
    let took = cluster.wait_converged(2, LIMIT).await.unwrap();
    assert!(
        took.is_some(),
        "the new node syncs what the stopped one wrote"
    );
}

/// What a paused node does, as `NodeState::Paused` documents it: it told
/// its peers it is dormant as it paused, so they leave it alone (no probe,
/// suspicion, push or sync); frames that still come are drained and
/// dropped, nothing is sent; local operations keep working; resumed, it
/// syncs both ways.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn while_paused_peers_leave_it_alone_nothing_is_sent_and_local_operations_work() {
    let interval = Duration::from_millis(200);
    let config = Config::default().gossip_interval(interval);
    let cluster = Cluster::start(3, config, 6).await.unwrap();
    let paused = cluster.node(2);
    paused.pause().await.unwrap();
    let before = paused.health().await.unwrap().stats;

    // Its peers know it is dormant; a peer's append reaches the running
    // node, not the paused one.
    for i in 0..2 {
        eventually("the peers know it is dormant", || async {
            let health = cluster.node(i).health().await.unwrap();
            let two = health.peers.iter().find(|p| p.id == node_id(2)).unwrap();
            two.status == PeerStatus::Dormant
        })
        .await;
    }
    cluster.append(0, b"from 0".to_vec()).await.unwrap();
    eventually("node 1 receives the push", || async {
        cluster.entries(1).await.unwrap().len() == 1
    })
    .await;
    // Local operations keep working.
    let stream2 = cluster.stream(2).await.unwrap();
    stream2.append(b"from 2".to_vec()).await.unwrap();
    assert_eq!(payloads(&stream2).await, [Bytes::from_static(b"from 2")]);

    // Several gossip rounds later, still nothing in, nothing out.
    tokio::time::sleep(interval * 10).await;
    let during = paused.health().await.unwrap().stats;
    assert_eq!(
        during.frames_out, before.frames_out,
        "a paused node sends nothing"
    );
    assert_eq!(during.entries_merged, before.entries_merged);
    assert_eq!(during.entries_appended, before.entries_appended + 1);
    assert_eq!(payloads(&stream2).await, [Bytes::from_static(b"from 2")]);
    for i in 0..2 {
        assert_eq!(cluster.entries(i).await.unwrap().len(), 1, "node {i}");
    }

    // Resumed, it syncs both ways.
    paused.resume().await.unwrap();
    let took = cluster.wait_converged(2, LIMIT).await.unwrap();
    assert!(took.is_some(), "a resumed node converges");
}

/// What `resource_usage` reports: a stream holding entries adds to
/// `streams`, each entry to `entries` and its size (payload and signature,
/// `LogEntry::size_bytes`) to `bytes`; merged entries count like local
/// ones; compaction takes them away again.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn resource_usage_follows_appends_merges_and_compaction() {
    let cluster = Cluster::start(2, Config::default(), 7).await.unwrap();
    let mut base = Vec::new();
    for i in 0..2 {
        base.push(cluster.node(i).resource_usage().await.unwrap());
    }
    assert_eq!(base[0].channels, 1);
    assert_eq!(base[0].streams, 1, "the control log");
    assert_eq!((base[0].buffered_entries, base[0].buffered_bytes), (0, 0));

    // Appends on node 0: 10 entries of 100 bytes in a new stream.
    let mut written = Vec::new();
    for _ in 0..10 {
        written.push(cluster.append(0, vec![7u8; 100]).await.unwrap());
    }
    let size = |entries: &[gossip_core::LogEntry]| -> u64 {
        entries.iter().map(gossip_core::LogEntry::size_bytes).sum()
    };
    assert!(size(&written) >= 1_000, "at least the payloads");
    let usage = cluster.node(0).resource_usage().await.unwrap();
    assert_eq!(usage.channels, base[0].channels);
    assert_eq!(usage.streams, base[0].streams + 1);
    assert_eq!(usage.entries, base[0].entries + 10);
    assert_eq!(usage.bytes, base[0].bytes + size(&written));

    // Merged on node 1: the same figures.
    cluster
        .wait_converged(10, LIMIT)
        .await
        .unwrap()
        .expect("converged");
    let merged = cluster.node(1).resource_usage().await.unwrap();
    assert_eq!(merged.streams, base[1].streams + 1);
    assert_eq!(merged.entries, base[1].entries + 10);
    assert_eq!(merged.bytes, base[1].bytes + size(&written));

    // A second stream of the same channel.
    let other = cluster
        .node(0)
        .channel(cluster.channel.clone())
        .await
        .unwrap()
        .stream(StreamId::new("other").unwrap())
        .await
        .unwrap();
    let one = other.append(vec![1u8; 10]).await.unwrap();
    let two = cluster.node(0).resource_usage().await.unwrap();
    assert_eq!(two.streams, base[0].streams + 2);
    assert_eq!(two.entries, base[0].entries + 11);
    assert_eq!(two.bytes, usage.bytes + one.size_bytes());

    // Keeping the last 4 entries of each author: the first 6 go.
    let keep_four =
        StreamConfig::default().retention(RetentionPolicy::CountBased { max_per_author: 4 });
    cluster
        .node(0)
        .channel(cluster.channel.clone())
        .await
        .unwrap()
        .set_stream_config(cluster.stream.clone(), keep_four)
        .await
        .unwrap();
    let with_setting = cluster.node(0).resource_usage().await.unwrap();
    assert_eq!(cluster.node(0).compact_now().await.unwrap(), 6);
    let compacted = cluster.node(0).resource_usage().await.unwrap();
    assert_eq!(compacted.channels, with_setting.channels);
    assert_eq!(compacted.streams, with_setting.streams);
    assert_eq!(compacted.entries, with_setting.entries - 6);
    assert_eq!(compacted.bytes, with_setting.bytes - size(&written[..6]));
}
