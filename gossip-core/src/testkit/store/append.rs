//! Appending: atomic batches, contiguity, duplicates, empty batches.

// Test support: a panic is how a suite reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, path::PathBuf};

use super::{
    super::fixtures::{
        assert_err_kind, channel, entries, entry, hlc, in_read_order, node, read_all, snapshot,
        stream, total_bytes, vv, TestDir,
    },
    open,
};
use crate::{
    domain::LogEntry,
    error::StoreErrorKind,
    ports::{Store, StreamStats},
};

/// All entries of a batch are written, or none is: a batch with one bad
/// entry (gap, or already held) leaves entries, version and stats as they
/// were, for every author of the batch, and creates no stream.
pub async fn append_is_atomic<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("append_is_atomic");
    let store = open(&factory, &dir).await;
    let (c, s, s2) = (channel("c"), stream("s"), stream("s2"));
    let (a, b) = (node("a"), node("b"));
    store
        .append(&c, &s, &entries(&a, 1..=2, |q| q))
        .await
        .unwrap();
    let before = snapshot(&store, &c, &s).await;

    // Valid a3 and b1, then a gap for a.
    let batch = vec![entry(&a, 3, 3), entry(&b, 1, 3), entry(&a, 5, 5)];
    assert_err_kind(
        store.append(&c, &s, &batch).await,
        StoreErrorKind::NonContiguous,
        "gap",
    );
    assert_eq!(
        snapshot(&store, &c, &s).await,
        before,
        "a failed batch wrote something"
    );

    // Valid b1, b2, a3, then an entry already held.
    let batch = vec![
        entry(&b, 1, 4),
        entry(&b, 2, 4),
        entry(&a, 3, 4),
        entry(&a, 2, 2),
    ];
    assert_err_kind(
        store.append(&c, &s, &batch).await,
        StoreErrorKind::AlreadyExists,
        "held",
    );
    assert_eq!(
        snapshot(&store, &c, &s).await,
        before,
        "a failed batch wrote something"
    );
    assert!(store
        .read_author(&c, &s, &b, 0, 10)
        .await
        .unwrap()
        .is_empty());

    // A failed first append creates no stream.
    let batch = vec![entry(&a, 1, 1), entry(&a, 3, 3)];
    assert_err_kind(
        store.append(&c, &s2, &batch).await,
        StoreErrorKind::NonContiguous,
        "new",
    );
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    assert!(store.version(&c, &s2).await.unwrap().is_empty());

    // The same entries in a valid batch are all written.
    let batch = vec![entry(&a, 3, 3), entry(&b, 1, 3), entry(&b, 2, 4)];
    store.append(&c, &s, &batch).await.unwrap();
    let after = snapshot(&store, &c, &s).await;
    let mut all = entries(&a, 1..=2, |q| q);
    all.extend(batch);
    assert_eq!(after.entries, in_read_order(all.clone()));
    assert_eq!(after.version, vv(&[(&a, 3), (&b, 2)]));
    assert_eq!(after.stats, StreamStats::new(5, total_bytes(&all)));
    store.close().await.unwrap();
}

/// Each author's entries must be ascending, contiguous and follow the
/// author's version; anything else fails with `NonContiguous` and changes
/// nothing. Interleaving authors within a batch is fine.
pub async fn append_rejects_non_contiguous<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("append_rejects_non_contiguous");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b) = (node("a"), node("b"));
    store
        .append(&c, &s, &entries(&a, 1..=3, |q| q))
        .await
        .unwrap();
    let before = snapshot(&store, &c, &s).await;

    let cases: Vec<(&str, Vec<LogEntry>)> = vec![
        ("new author starting at 2", vec![entry(&b, 2, 9)]),
        ("sequence 0", vec![entry(&b, 0, 9)]),
        ("gap after the version", vec![entry(&a, 5, 9)]),
        (
            "gap inside the batch",
            vec![entry(&a, 4, 9), entry(&a, 6, 9)],
        ),
        ("descending batch", vec![entry(&a, 5, 9), entry(&a, 4, 9)]),
        ("new sequence twice", vec![entry(&a, 4, 9), entry(&a, 4, 9)]),
        (
            "valid author then bad one",
            vec![entry(&a, 4, 9), entry(&b, 3, 9)],
        ),
    ];
    for (what, batch) in cases {
        assert_err_kind(
            store.append(&c, &s, &batch).await,
            StoreErrorKind::NonContiguous,
            what,
        );
        assert_eq!(
            snapshot(&store, &c, &s).await,
            before,
            "{what}: changed the stream"
        );
    }

    let batch = vec![
        entry(&a, 4, 4),
        entry(&b, 1, 4),
        entry(&a, 5, 5),
        entry(&b, 2, 5),
    ];
    store.append(&c, &s, &batch).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 5), (&b, 2)])
    );
    store.close().await.unwrap();
}

/// An entry whose `(author, sequence)` is already held fails the batch with
/// `AlreadyExists`, whatever its content; the held entry is not replaced.
pub async fn append_rejects_already_held<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("append_rejects_already_held");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let a = node("a");
    store
        .append(&c, &s, &entries(&a, 1..=3, |q| q))
        .await
        .unwrap();
    let before = snapshot(&store, &c, &s).await;

    let different = LogEntry::new(a.clone(), 2, hlc(99, 0), b"other".to_vec());
    let cases: Vec<(&str, Vec<LogEntry>)> = vec![
        ("same entry again", vec![entry(&a, 3, 3)]),
        ("different content", vec![different]),
        ("held then new", vec![entry(&a, 3, 3), entry(&a, 4, 4)]),
        ("whole log again", entries(&a, 1..=4, |q| q)),
    ];
    for (what, batch) in cases {
        assert_err_kind(
            store.append(&c, &s, &batch).await,
            StoreErrorKind::AlreadyExists,
            what,
        );
        assert_eq!(
            snapshot(&store, &c, &s).await,
            before,
            "{what}: changed the stream"
        );
    }
    let held = store.read_author(&c, &s, &a, 1, 1).await.unwrap();
    assert_eq!(held, vec![entry(&a, 2, 2)], "the held entry was replaced");
    store.close().await.unwrap();
}

/// An empty batch succeeds and changes nothing, on a new stream (which is
/// not created) and on an existing one.
pub async fn empty_append_is_noop<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("empty_append_is_noop");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    store.append(&c, &s, &[]).await.unwrap();
    assert!(
        store.streams(&c).await.unwrap().is_empty(),
        "an empty append created a stream"
    );
    assert!(store.version(&c, &s).await.unwrap().is_empty());
    assert_eq!(store.stats(&c, &s).await.unwrap(), StreamStats::default());

    store
        .append(&c, &s, &entries(&node("a"), 1..=2, |q| q))
        .await
        .unwrap();
    let before = snapshot(&store, &c, &s).await;
    store.append(&c, &s, &[]).await.unwrap();
    assert_eq!(snapshot(&store, &c, &s).await, before);
    store.close().await.unwrap();
}

/// Appending to a stream never written before creates it, in its channel only.
pub async fn append_creates_stream<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("append_creates_stream");
    let store = open(&factory, &dir).await;
    let (c, other, s) = (channel("c"), channel("other"), stream("s"));
    assert!(store.streams(&c).await.unwrap().is_empty());
    let written = entries(&node("a"), 1..=1, |q| q);
    store.append(&c, &s, &written).await.unwrap();
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    assert_eq!(read_all(&store, &c, &s, 10).await, written);
    assert!(store.streams(&other).await.unwrap().is_empty());
    store.close().await.unwrap();
}

/// The version is derived from what is stored: failed appends, whatever
/// the reason, never show in it (nor in the stats or the stream list).
pub async fn failed_append_does_not_show_in_version<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("failed_append_does_not_show_in_version");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b) = (node("a"), node("b"));
    store
        .append(&c, &s, &entries(&a, 1..=2, |q| q))
        .await
        .unwrap();
    let stats = store.stats(&c, &s).await.unwrap();
    let failing: Vec<Vec<LogEntry>> = vec![
        vec![entry(&a, 3, 3), entry(&a, 4, 4), entry(&a, 6, 6)],
        vec![entry(&b, 1, 1), entry(&b, 3, 3)],
        vec![entry(&b, 1, 1), entry(&a, 2, 2), entry(&a, 3, 3)],
    ];
    for batch in failing {
        assert!(store.append(&c, &s, &batch).await.is_err());
        assert_eq!(store.version(&c, &s).await.unwrap(), vv(&[(&a, 2)]));
        assert_eq!(store.stats(&c, &s).await.unwrap(), stats);
    }
    assert!(store
        .append(&c, &stream("new"), &[entry(&b, 2, 2)])
        .await
        .is_err());
    assert!(store.version(&c, &stream("new")).await.unwrap().is_empty());
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    store.close().await.unwrap();
}
