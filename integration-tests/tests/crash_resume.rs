//! A node restarted on a store left behind by a killed process resumes
//! syncing from what the store holds: it fetches only the entries it lacks,
//! and nobody sends it (or asks it for) the ones it already has.

// Killing a child process with SIGKILL, and checking it died of it, is Unix.
#![cfg(unix)]
// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

// The writer's own definitions; each test crate uses a part of them.
#[allow(dead_code)]
#[path = "../src/bin/crash_writer/workload.rs"]
mod workload;

#[allow(dead_code)]
#[path = "../src/bin/crash_writer/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use bytes::Bytes;
use gossip_core::{Config, Coordinator, Identity, Role, Store, StreamId, VersionVector};
use gossip_store_memory::MemoryStore;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
use harness::{check_log, seed_from_env, CrashSession, KillPlan};
use workload::StoreKind;

/// Entries per batch of the crash writer.
const BATCH: u64 = 10;

/// The crash session goes on until the store holds at least this many entries
/// (about 65 KiB of payload: a re-download would dwarf the sync's own traffic).
const MIN_HELD: u64 = 600;

/// Entries the peer holds that the restarted node lacks.
const NEW_ON_PEER: usize = 25;

/// Real time: the persistent stores do real I/O, which paused time would
/// race. Generous: a loaded 2-core machine converges in well under a second.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_node_restarted_on_a_crashed_sqlite_store_fetches_only_what_it_lacks() {
    restarted_node_fetches_only_what_it_lacks(StoreKind::Sqlite).await;
}

#[cfg(feature = "rocksdb")]
#[tokio::test]
async fn a_node_restarted_on_a_crashed_rocksdb_store_fetches_only_what_it_lacks() {
    restarted_node_fetches_only_what_it_lacks(StoreKind::RocksDb).await;
}

async fn restarted_node_fetches_only_what_it_lacks(kind: StoreKind) {
    let seed = seed_from_env(0x5EED);

    // 1. Kill the writer a few times: the store holds N entries.
    let mut session = CrashSession::new(kind, BATCH, seed);
    while session.held() < MIN_HELD {
        session
            .kill_once(KillPlan::after(12, Duration::from_micros(700)))
            .await;
    }
    let held = session.held();
    let store_a = session.open().await;
    check_log(&*store_a, BATCH, "before the restart").await;
    let held_bytes: u64 = (1..=held).map(|q| workload::payload(q).len() as u64).sum();

    // 2. Node A restarts on the crashed store, as the writer's node (the
    //    channel's owner), and adds peer B to the channel.
    let (channel, stream, writer) = (workload::channel(), workload::stream(), workload::author());
    let peer_identity = Identity::from_seed("peer");
    let peer = peer_identity.node_id().clone();
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(seed));
    let config = Config::default()
        .gossip_interval(Duration::from_millis(100))
        .seed(seed);
    let node_a = Coordinator::builder(workload::author_identity())
        .store(store_a.clone())
        .transport(network.join(&workload::author_identity()).unwrap())
        .config(config.clone())
        .build()
        .await
        .unwrap();
    let channel_a = node_a.channel(channel.clone()).await.unwrap();
    channel_a
        .add_member(peer.clone(), Role::Writer)
        .await
        .unwrap();
    node_a.add_peer(peer.clone()).await.unwrap();
    let stream_a = channel_a.stream(stream.clone()).await.unwrap();

    // 3. Peer B holds the same N entries and the control log (copied by
    //    appends) and M of its own.
    let store_b = MemoryStore::new();
    store_b
        .save_channel(&workload::channel_record())
        .await
        .unwrap();
    for copied in [&StreamId::control(), &stream] {
        let mut after = 0;
        loop {
            let page = store_a
                .read_author(&channel, copied, &writer, after, 100)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = last.sequence;
            store_b.append(&channel, copied, &page).await.unwrap();
        }
    }
    let node_b = Coordinator::builder(peer_identity.clone())
        .store(store_b.clone())
        .transport(network.join(&peer_identity).unwrap())
        .config(config)
        .build()
        .await
        .unwrap();
    node_b.add_peer(writer.clone()).await.unwrap();
    let stream_b = node_b
        .channel(channel.clone())
        .await
        .unwrap()
        .stream(stream.clone())
        .await
        .unwrap();
    let news = (0..NEW_ON_PEER)
        .map(|i| Bytes::from(format!("news {i}")))
        .collect();
    stream_b.append_batch(news).await.unwrap();

    let mut restored = VersionVector::new();
    restored.raise(&writer, held);
    assert_eq!(
        stream_a.version().await.unwrap(),
        restored,
        "the restarted node knows what its store holds"
    );

    node_a.start().await.unwrap();
    node_b.start().await.unwrap();
    let want = held as usize + NEW_ON_PEER;
    let start = Instant::now();
    while stream_a.entries().await.unwrap().len() < want {
        assert!(
            start.elapsed() < CONVERGENCE_LIMIT,
            "node A holds {} of {want} entries after {CONVERGENCE_LIMIT:?}",
            stream_a.entries().await.unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        stream_a.entries().await.unwrap(),
        stream_b.entries().await.unwrap()
    );

    // 4. A merged exactly the M it lacked, and received far fewer bytes than
    //    the N it held (duplicates would not count as merged, but would count here).
    let stats_a = node_a.health().await.unwrap().stats;
    let stats_b = node_b.health().await.unwrap().stats;
    assert_eq!(stats_a.entries_merged, NEW_ON_PEER as u64, "{stats_a:?}");
    // A appended nothing but the control operation adding B.
    assert_eq!(stats_a.entries_appended, 1, "{stats_a:?}");
    assert!(stats_a.frames_in > 0, "{stats_a:?}");
    assert!(
        stats_a.bytes_in < held_bytes / 2,
        "A received {} bytes while holding {held_bytes} bytes of entries: {stats_a:?}",
        stats_a.bytes_in
    );
    assert_eq!(stats_b.entries_merged, 0, "{stats_b:?}");
    assert!(
        stats_b.bytes_in < held_bytes / 2,
        "B received {} bytes though it held all of A's {held_bytes}: {stats_b:?}",
        stats_b.bytes_in
    );

    node_a.dispose().await.unwrap();
    node_b.dispose().await.unwrap();
    store_a.close().await.unwrap();
}
