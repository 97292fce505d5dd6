//! Concurrency and volume: parallel appends, racing batches, long streams.

// Test support: a panic is how a suite reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, path::PathBuf, sync::Arc};

use super::{
    super::fixtures::{
        channel, entry, hlc, in_read_order, node, read_all, read_author_all, snapshot, stream,
        total_bytes, vv, TestDir,
    },
    open,
};
use crate::{
    domain::LogEntry,
    ports::{Store, StreamStats},
};

/// Appends to different streams from concurrent tasks all land, each
/// stream holding exactly its own entries.
pub async fn concurrent_appends_to_different_streams<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    const TASKS: usize = 8;
    const BATCHES: u64 = 40;
    let dir = TestDir::new("concurrent_appends_to_different_streams");
    let store = Arc::new(open(&factory, &dir).await);
    let (a, b) = (node("a"), node("b"));
    let target = |i: usize| (channel(&format!("c{}", i % 2)), stream(&format!("s{i}")));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let (store, a, b) = (Arc::clone(&store), a.clone(), b.clone());
        let (c, s) = target(i);
        tasks.push(tokio::spawn(async move {
            for k in 0..BATCHES {
                let (q, ts) = (k * 2 + 1, k * 10 + i as u64);
                let batch = vec![
                    entry(&a, q, ts),
                    entry(&b, q, ts),
                    entry(&a, q + 1, ts + 1),
                    entry(&b, q + 1, ts + 1),
                ];
                store.append(&c, &s, &batch).await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("append task panicked");
    }
    for i in 0..TASKS {
        let (c, s) = target(i);
        let n = BATCHES * 2;
        let mut expected = Vec::new();
        for k in 0..BATCHES {
            let (q, ts) = (k * 2 + 1, k * 10 + i as u64);
            expected.extend([entry(&a, q, ts), entry(&b, q, ts)]);
            expected.extend([entry(&a, q + 1, ts + 1), entry(&b, q + 1, ts + 1)]);
        }
        let snap = snapshot(&*store, &c, &s).await;
        assert_eq!(snap.entries, in_read_order(expected.clone()), "stream {i}");
        assert_eq!(snap.version, vv(&[(&a, n), (&b, n)]));
        assert_eq!(snap.stats, StreamStats::new(2 * n, total_bytes(&expected)));
    }
    assert_eq!(
        store.streams(&channel("c0")).await.unwrap().len(),
        TASKS / 2
    );
    store.close().await.unwrap();
}

/// Racing appends of the same sequences to one stream: exactly one batch
/// wins, and the stream holds that batch whole, never a mix.
pub async fn concurrent_appends_to_same_stream_never_mix<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    const TASKS: u8 = 8;
    let dir = TestDir::new("concurrent_appends_to_same_stream_never_mix");
    let store = Arc::new(open(&factory, &dir).await);
    let (c, s, a) = (channel("c"), stream("s"), node("a"));
    let batch_of = |i: u8| -> Vec<LogEntry> {
        (1..=5)
            .map(|q| LogEntry::new(a.clone(), q, hlc(q, 0), vec![i; 8]))
            .collect()
    };
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let (store, c, s, batch) = (Arc::clone(&store), c.clone(), s.clone(), batch_of(i));
        tasks.push(tokio::spawn(async move {
            store.append(&c, &s, &batch).await.is_ok()
        }));
    }
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.expect("append task panicked") {
            winners.push(i as u8);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(read_all(&*store, &c, &s, 2).await, batch_of(winners[0]));
    assert_eq!(store.stats(&c, &s).await.unwrap(), StreamStats::new(5, 40));
    store.close().await.unwrap();
}

/// A long stream (5 000 entries, 3 authors, interleaved and tied
/// timestamps, appended in many batches) pages completely and in order,
/// through `read` and `read_author`, and counts right.
pub async fn many_entries_paged<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    const TOTAL: u64 = 5_000;
    let dir = TestDir::new("many_entries_paged");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let authors = [node("n0"), node("n1"), node("n2")];
    let mut next = [1u64; 3];
    let mut all = Vec::new();
    for k in 0..TOTAL {
        let i = (k * 7 % 11 % 3) as usize; // an irregular interleaving
        all.push(entry(&authors[i], next[i], 1_000 + k / 2));
        next[i] += 1;
    }
    for batch in all.chunks(250) {
        store.append(&c, &s, batch).await.unwrap();
    }
    let expected = in_read_order(all.clone());
    assert_eq!(read_all(&store, &c, &s, 97).await, expected);
    assert_eq!(read_all(&store, &c, &s, 5_000).await, expected);
    assert_eq!(
        store.stats(&c, &s).await.unwrap(),
        StreamStats::new(TOTAL, total_bytes(&all))
    );
    let version = store.version(&c, &s).await.unwrap();
    assert_eq!(version.total(), TOTAL);
    for (i, author) in authors.iter().enumerate() {
        let log: Vec<_> = all
            .iter()
            .filter(|e| &e.author == author)
            .cloned()
            .collect();
        assert_eq!(version.get(author), next[i] - 1);
        assert_eq!(read_author_all(&store, &c, &s, author, 0, 64).await, log);
    }

    let removed = store
        .compact(&c, &s, &vv(&[(&authors[0], 1_000)]))
        .await
        .unwrap();
    assert_eq!(removed, 1_000);
    let left: Vec<_> = expected
        .into_iter()
        .filter(|e| e.author != authors[0] || e.sequence > 1_000)
        .collect();
    assert_eq!(read_all(&store, &c, &s, 333).await, left);
    store.close().await.unwrap();
}
