//! RocksDB-specific behaviour beyond the conformance suite: ids that share
//! prefixes never mix, clones share one database, a closed store says so.

// Test support: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use gossip_core::{
    Channel, ChannelId, Hlc, LogEntry, NodeId, PeerRecord, Store, StoreErrorKind, StreamId,
    StreamStats, VersionVector,
};
use gossip_store_rocksdb::{RocksDbStore, RocksDbStoreOptions};

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "gossip-rocksdb-store-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ch(s: &str) -> ChannelId {
    ChannelId::new(s).unwrap()
}
fn st(s: &str) -> StreamId {
    StreamId::new(s).unwrap()
}
fn node(s: &str) -> NodeId {
    NodeId::from_seed(s)
}
fn entry(author: &NodeId, seq: u64, ms: u64, payload: &str) -> LogEntry {
    LogEntry::new(
        author.clone(),
        seq,
        Hlc::new(ms, 0).unwrap(),
        payload.as_bytes().to_vec(),
    )
}

/// Channel "a" stream "bc" and channel "ab" stream "c" (and authors "a" /
/// "ab") share byte prefixes; their keys must not.
#[tokio::test]
async fn ids_sharing_prefixes_never_mix() {
    let dir = Dir::new("prefixes");
    let store = RocksDbStore::open(&dir.0).await.unwrap();
    let (a, ab) = (node("a"), node("ab"));
    let places = [(ch("a"), st("bc")), (ch("ab"), st("c")), (ch("a"), st("b"))];
    for (i, (c, s)) in places.iter().enumerate() {
        let tag = format!("{c}/{s}");
        let batch = [
            entry(&a, 1, 10 + i as u64, &tag),
            entry(&ab, 1, 10, &tag),
            entry(&a, 2, 30, &tag),
        ];
        store.append(c, s, &batch[..i + 1]).await.unwrap();
    }
    for (i, (c, s)) in places.iter().enumerate() {
        let tag = format!("{c}/{s}");
        let got = store.read(c, s, None, 100).await.unwrap();
        assert_eq!(got.len(), i + 1, "{tag}: {got:?}");
        assert!(got.iter().all(|e| e.payload == tag.as_bytes()), "{tag}");
        let only_a = store.read_author(c, s, &a, 0, 100).await.unwrap();
        assert!(only_a.iter().all(|e| e.author == a), "{tag}");
        assert_eq!(
            store.stats(c, s).await.unwrap(),
            StreamStats::new(i as u64 + 1, (i as u64 + 1) * tag.len() as u64)
        );
    }
    assert_eq!(
        store.streams(&ch("a")).await.unwrap(),
        vec![st("b"), st("bc")]
    );
    assert_eq!(store.streams(&ch("ab")).await.unwrap(), vec![st("c")]);
    // Each stream's vector holds only its own authors: "ab" and a#2 in a/b
    // do not leak into a/bc, whose key prefix "a"/"b" shares bytes with it.
    assert_eq!(
        store.version(&ch("a"), &st("bc")).await.unwrap(),
        [(a.clone(), 1)].into_iter().collect()
    );
    assert_eq!(
        store.version(&ch("a"), &st("b")).await.unwrap(),
        [(a.clone(), 2), (ab.clone(), 1)].into_iter().collect()
    );
    // Deleting channel "a" leaves channel "ab" whole.
    store.delete_channel(&ch("a")).await.unwrap();
    assert!(store.streams(&ch("a")).await.unwrap().is_empty());
    assert_eq!(
        store
            .read(&ch("ab"), &st("c"), None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    store.close().await.unwrap();
}

/// Read order puts authors in id order at equal timestamps, which the
/// index gets from the authors' text forms (order-preserving base32hex).
#[tokio::test]
async fn read_order_compares_authors_as_ids() {
    let dir = Dir::new("author-order");
    let store = RocksDbStore::open(&dir.0).await.unwrap();
    let (c, s) = (ch("c"), st("s"));
    for name in ["b", "ab", "a", "abc", "ba"] {
        store
            .append(&c, &s, &[entry(&node(name), 1, 5, name)])
            .await
            .unwrap();
    }
    let order: Vec<_> = store
        .read(&c, &s, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.author.clone())
        .collect();
    let mut expected: Vec<_> = ["b", "ab", "a", "abc", "ba"].map(node).to_vec();
    expected.sort();
    assert_eq!(order, expected);
    store.close().await.unwrap();
}

#[tokio::test]
async fn clones_share_one_database_and_writes_serialize() {
    let dir = Dir::new("clones");
    let store = RocksDbStore::open_with(RocksDbStoreOptions::new(&dir.0).sync_writes(false))
        .await
        .unwrap();
    let (c, s) = (ch("c"), st("s"));
    let a = node("a");
    // Eight writers race to append the next sequence of the same author:
    // exactly one wins each round, the others see AlreadyExists.
    for seq in 1..=20u64 {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (store, c, s, a) = (store.clone(), c.clone(), s.clone(), a.clone());
                tokio::spawn(async move { store.append(&c, &s, &[entry(&a, seq, seq, "x")]).await })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => won += 1,
                Err(e) => assert_eq!(e.kind(), StoreErrorKind::AlreadyExists, "{e}"),
            }
        }
        assert_eq!(won, 1, "round {seq}");
    }
    assert_eq!(store.version(&c, &s).await.unwrap().get(&a), 20);
    assert_eq!(store.stats(&c, &s).await.unwrap().entries, 20);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_closed_store_says_so() {
    let dir = Dir::new("closed");
    let store = RocksDbStore::open(&dir.0).await.unwrap();
    let clone = store.clone();
    store.close().await.unwrap();
    store.close().await.unwrap(); // idempotent
    let (c, s) = (ch("c"), st("s"));
    let err = clone
        .append(&c, &s, &[entry(&node("a"), 1, 1, "x")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Closed, "{err}");
    assert!(err.to_string().contains(&dir.0.display().to_string()));
    assert_eq!(
        clone.load_peers().await.unwrap_err().kind(),
        StoreErrorKind::Closed
    );
    assert!(format!("{clone:?}").contains("closed: true"));
    // Reopened at once: close released the directory.
    let store = RocksDbStore::open(&dir.0).await.unwrap();
    store.close().await.unwrap();
}

/// Everything kinds of records survive a reopen without `sync_writes`, and
/// a compaction beyond the head survives too.
#[tokio::test]
async fn unsynced_writes_survive_close_and_reopen() {
    let dir = Dir::new("unsynced");
    let (c, s, a) = (ch("c"), st("s"), node("a"));
    {
        let store = RocksDbStore::open_with(RocksDbStoreOptions::new(&dir.0).sync_writes(false))
            .await
            .unwrap();
        let log: Vec<_> = (1..=100).map(|q| entry(&a, q, q, "payload")).collect();
        store.append(&c, &s, &log).await.unwrap();
        let base: VersionVector = [(a.clone(), 150)].into_iter().collect();
        assert_eq!(store.compact(&c, &s, &base).await.unwrap(), 100);
        store
            .save_channel(&Channel::new(c.clone(), a.clone()))
            .await
            .unwrap();
        store.save_peer(&PeerRecord::new(node("p"))).await.unwrap();
        store.close().await.unwrap();
    }
    let store = RocksDbStore::open(&dir.0).await.unwrap();
    assert_eq!(store.version(&c, &s).await.unwrap().get(&a), 150);
    assert_eq!(store.base(&c, &s).await.unwrap().get(&a), 150);
    assert_eq!(store.stats(&c, &s).await.unwrap(), StreamStats::default());
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    store
        .append(&c, &s, &[entry(&a, 151, 1, "next")])
        .await
        .unwrap();
    assert_eq!(store.load_channels().await.unwrap().len(), 1);
    assert_eq!(store.load_peers().await.unwrap().len(), 1);
    store.close().await.unwrap();
}
