//! Behaviour specific to the SQLite store, beyond the conformance suite.

// Test support: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use gossip_core::{
    ChannelId, EntryHash, Hlc, LogEntry, NodeId, Signature, Store, StoreErrorKind, StreamId,
    StreamStats,
};
use gossip_store_sqlite::{SqliteStore, SqliteStoreOptions, SqliteSynchronous};

fn ids() -> (ChannelId, StreamId, NodeId) {
    (
        ChannelId::new("c").unwrap(),
        StreamId::new("s").unwrap(),
        NodeId::from_seed("a"),
    )
}

#[tokio::test]
async fn in_memory_is_real_sqlite_but_not_durable() {
    let store = SqliteStore::in_memory().await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(!store.capabilities().durable);
    // Two in-memory stores are separate databases.
    let other = SqliteStore::in_memory().await.unwrap();
    let (c, s, a) = ids();
    store
        .append(&c, &s, &[LogEntry::new(a, 1, Hlc::ZERO, vec![1])])
        .await
        .unwrap();
    assert!(other.streams(&c).await.unwrap().is_empty());
    assert_eq!(store.streams(&c).await.unwrap(), vec![s]);
}

#[tokio::test]
async fn operations_after_close_fail_with_closed() {
    let store = SqliteStore::in_memory().await.unwrap();
    let clone = store.clone();
    store.close().await.unwrap();
    store.close().await.unwrap(); // idempotent
    let (c, s, a) = ids();
    let err = clone
        .append(&c, &s, &[LogEntry::new(a, 1, Hlc::ZERO, vec![])])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Closed, "{err}");
    assert_eq!(
        clone.load_peers().await.unwrap_err().kind(),
        StoreErrorKind::Closed
    );
}

/// Empty payloads, present and absent signatures, genesis and other links,
/// and timestamps at both ends of the `u64` range round-trip and sort right.
#[tokio::test]
async fn values_round_trip_exactly() {
    let store = SqliteStore::in_memory().await.unwrap();
    let (c, s, a) = ids();
    let mut e1 = LogEntry::new(a.clone(), 1, Hlc::from_u64(u64::MAX), Vec::new());
    e1.signature = Some(Signature::from_bytes([0; 64]));
    let mut e2 = LogEntry::new(a.clone(), 2, Hlc::from_u64(1 << 63), vec![0u8; 3]);
    e2.previous = EntryHash::from_bytes([0xff; 32]);
    let mut e3 = LogEntry::new(a.clone(), 3, Hlc::ZERO, vec![0xff; 32 * 1024]);
    e3.previous = EntryHash::from_bytes(std::array::from_fn(|i| i as u8));
    e3.signature = Some(Signature::from_bytes(std::array::from_fn(|i| {
        255 - i as u8
    })));
    let batch = vec![e1.clone(), e2.clone(), e3.clone()];
    store.append(&c, &s, &batch).await.unwrap();
    let read = store.read(&c, &s, None, 10).await.unwrap();
    assert_eq!(read, vec![e3.clone(), e2.clone(), e1.clone()]);
    assert_eq!(read[2].signature, Some(Signature::from_bytes([0; 64])));
    assert_eq!(read[2].previous, EntryHash::GENESIS);
    assert_eq!(read[1].signature, None);
    assert_eq!(store.read_author(&c, &s, &a, 0, 10).await.unwrap(), batch);
    assert_eq!(
        store.read(&c, &s, Some(&e2.key()), 10).await.unwrap(),
        vec![e1]
    );
    assert_eq!(
        store.stats(&c, &s).await.unwrap(),
        StreamStats::new(3, 3 + 32 * 1024 + 2 * 64)
    );
    // Cursors and bounds beyond what SQLite integers hold are handled.
    assert!(store
        .read_author(&c, &s, &a, u64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    let mut key = e3.key();
    key.sequence = u64::MAX;
    assert_eq!(store.read(&c, &s, Some(&key), 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn large_batches_are_atomic_across_insert_chunks() {
    let store = SqliteStore::in_memory().await.unwrap();
    let (c, s, a) = ids();
    let mut batch: Vec<_> = (1..=1_000u64)
        .map(|q| LogEntry::new(a.clone(), q, Hlc::new(q, 0).unwrap(), vec![q as u8; 16]))
        .collect();
    // The last entry breaks contiguity: the whole batch (8 INSERT chunks
    // when valid) is refused and nothing is written.
    batch.push(LogEntry::new(a.clone(), 1_002, Hlc::ZERO, vec![]));
    let err = store.append(&c, &s, &batch).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NonContiguous);
    assert!(store.streams(&c).await.unwrap().is_empty());
    batch.pop();
    store.append(&c, &s, &batch).await.unwrap();
    assert_eq!(store.read(&c, &s, None, 2_000).await.unwrap(), batch);
}

#[tokio::test]
async fn synchronous_normal_and_few_readers_work() {
    let dir = std::env::temp_dir().join(format!("gossip-sqlite-normal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let options = SqliteStoreOptions::new(dir.join("n.db"))
        .synchronous(SqliteSynchronous::Normal)
        .read_connections(1)
        .busy_timeout(std::time::Duration::from_millis(200));
    let store = SqliteStore::open_with(options.clone()).await.unwrap();
    let (c, s, a) = ids();
    store
        .append(&c, &s, &[LogEntry::new(a.clone(), 1, Hlc::ZERO, vec![])])
        .await
        .unwrap();
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let (store, c, s) = (store.clone(), c.clone(), s.clone());
            tokio::spawn(async move { store.read(&c, &s, None, 10).await })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap().len(), 1);
    }
    store.close().await.unwrap();
    let store = SqliteStore::open_with(options).await.unwrap();
    assert_eq!(store.version(&c, &s).await.unwrap().get(&a), 1);
    store.close().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
