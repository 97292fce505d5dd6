//! Truncation: one author's suffix removed, nothing else; the base kept;
//! appends following the lowered version; what survives a reopen.

// Test support: a panic is how a suite reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{collections::BTreeSet, future::Future, path::PathBuf};

use super::{
    super::fixtures::{
        assert_err_kind, channel, entries, entry, in_read_order, node, read_author_all, snapshot,
        stream, total_bytes, vv, TestDir,
    },
    open,
};
use crate::{
    domain::{ChannelId, LogEntry, NodeId, StreamId},
    error::StoreErrorKind,
    ports::{Store, StreamStats},
};

/// Checks that what the store reports about a stream agrees with itself:
/// stats count what `read` returns, each author's `read_author` is its part
/// of `read` in sequence order, held sequences run contiguously from the
/// base, and the version is the highest held sequence or the base.
async fn assert_agrees<S: Store + ?Sized>(
    store: &S,
    channel: &ChannelId,
    stream: &StreamId,
    context: &str,
) {
    let snap = snapshot(store, channel, stream).await;
    assert_eq!(
        snap.stats,
        StreamStats::new(snap.entries.len() as u64, total_bytes(&snap.entries)),
        "{context}: stats disagree with read"
    );
    let authors: BTreeSet<NodeId> = snap
        .entries
        .iter()
        .map(|e| e.author.clone())
        .chain(snap.version.iter().map(|(a, _)| a.clone()))
        .chain(snap.base.iter().map(|(a, _)| a.clone()))
        .collect();
    for author in &authors {
        let mut by_read: Vec<LogEntry> = snap
            .entries
            .iter()
            .filter(|e| e.author == *author)
            .cloned()
            .collect();
        by_read.sort_by_key(|e| e.sequence);
        let by_author = read_author_all(store, channel, stream, author, 0, 3).await;
        assert_eq!(
            by_author, by_read,
            "{context}: read_author of {author} disagrees with read"
        );
        let base = snap.base.get(author);
        let held: Vec<u64> = by_read.iter().map(|e| e.sequence).collect();
        let expected: Vec<u64> = (base + 1..).take(held.len()).collect();
        assert_eq!(
            held, expected,
            "{context}: {author}'s held sequences do not run contiguously from its base {base}"
        );
        let highest = held.last().copied().unwrap_or(0);
        assert_eq!(
            snap.version.get(author),
            highest.max(base),
            "{context}: version of {author} is not its highest held sequence or base"
        );
    }
}

/// Truncation removes exactly one author's entries above `after` in one
/// stream and returns how many: other authors, the author's earlier entries,
/// other streams and other channels are untouched; version, base, stats,
/// `read` and `read_author` agree afterwards. Truncating an author with no
/// base to 0 removes it from the version.
pub async fn truncate_removes_only_the_suffix<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("truncate_removes_only_the_suffix");
    let store = open(&factory, &dir).await;
    let (c, c2, s, s2) = (channel("c"), channel("c2"), stream("s"), stream("s2"));
    let (a, b, d) = (node("a"), node("b"), node("d"));
    let (a_log, b_log, d_log) = (
        entries(&a, 1..=6, |q| q * 3),
        entries(&b, 1..=4, |q| q * 4),
        entries(&d, 1..=3, |q| q * 5),
    );
    for (ch, st) in [(&c, &s), (&c, &s2), (&c2, &s)] {
        store.append(ch, st, &a_log).await.unwrap();
        store.append(ch, st, &b_log).await.unwrap();
        store.append(ch, st, &d_log).await.unwrap();
    }
    let untouched = [
        snapshot(&store, &c, &s2).await,
        snapshot(&store, &c2, &s).await,
    ];

    assert_eq!(store.truncate_author(&c, &s, &a, 3).await.unwrap(), 3);
    let mut left = a_log[..3].to_vec();
    left.extend_from_slice(&b_log);
    left.extend_from_slice(&d_log);
    let snap = snapshot(&store, &c, &s).await;
    assert_eq!(snap.entries, in_read_order(left.clone()));
    assert_eq!(snap.version, vv(&[(&a, 3), (&b, 4), (&d, 3)]));
    assert_eq!(snap.base, vv(&[]));
    assert_eq!(snap.stats, StreamStats::new(10, total_bytes(&left)));
    assert_eq!(
        store.read_author(&c, &s, &a, 0, 10).await.unwrap(),
        a_log[..3].to_vec()
    );
    assert!(store
        .read_author(&c, &s, &a, 3, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.read_author(&c, &s, &b, 0, 10).await.unwrap(), b_log);
    assert_eq!(store.read_author(&c, &s, &d, 0, 10).await.unwrap(), d_log);
    assert_agrees(&store, &c, &s, "after truncating a to 3").await;
    assert_eq!(snapshot(&store, &c, &s2).await, untouched[0]);
    assert_eq!(snapshot(&store, &c2, &s).await, untouched[1]);

    // Everything of an author without a base: it leaves the version.
    assert_eq!(store.truncate_author(&c, &s, &b, 0).await.unwrap(), 4);
    let mut left = a_log[..3].to_vec();
    left.extend_from_slice(&d_log);
    let snap = snapshot(&store, &c, &s).await;
    assert_eq!(snap.entries, in_read_order(left.clone()));
    assert_eq!(snap.version, vv(&[(&a, 3), (&d, 3)]));
    assert_eq!(snap.base, vv(&[]));
    assert_eq!(snap.stats, StreamStats::new(6, total_bytes(&left)));
    assert!(store
        .read_author(&c, &s, &b, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_agrees(&store, &c, &s, "after truncating b to 0").await;
    assert_eq!(snapshot(&store, &c, &s2).await, untouched[0]);
    assert_eq!(snapshot(&store, &c2, &s).await, untouched[1]);
    assert_eq!(
        store.streams(&c).await.unwrap(),
        vec![s.clone(), s2.clone()]
    );

    // The last author of a stream truncated to 0 everywhere: the stream is
    // left with nothing.
    store.truncate_author(&c, &s, &a, 0).await.unwrap();
    assert_eq!(store.truncate_author(&c, &s, &d, 0).await.unwrap(), 3);
    let snap = snapshot(&store, &c, &s).await;
    assert!(snap.entries.is_empty() && snap.version.is_empty() && snap.base.is_empty());
    assert_eq!(snap.stats, StreamStats::default());
    assert_eq!(store.streams(&c).await.unwrap(), vec![s2.clone()]);
    assert_eq!(snapshot(&store, &c, &s2).await, untouched[0]);
    assert_eq!(snapshot(&store, &c2, &s).await, untouched[1]);
    store.close().await.unwrap();
}

/// Truncating at or beyond the author's highest held sequence, again with
/// the same cut-off, or an unknown author, stream or channel removes
/// nothing, returns 0 and changes nothing (nor creates a stream).
pub async fn truncate_beyond_the_end_is_noop<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("truncate_beyond_the_end_is_noop");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b) = (node("a"), node("b"));
    store
        .append(&c, &s, &entries(&a, 1..=5, |q| q))
        .await
        .unwrap();
    store
        .append(&c, &s, &entries(&b, 1..=2, |q| q))
        .await
        .unwrap();
    assert_eq!(store.truncate_author(&c, &s, &a, 3).await.unwrap(), 2);
    let before = snapshot(&store, &c, &s).await;
    for after in [3, 4, 5, 1_000, u64::MAX] {
        assert_eq!(
            store.truncate_author(&c, &s, &a, after).await.unwrap(),
            0,
            "a after {after}"
        );
        assert_eq!(
            snapshot(&store, &c, &s).await,
            before,
            "truncating a after {after} changed the stream"
        );
    }
    let (x, unknown_stream, unknown_channel) = (node("x"), stream("unknown"), channel("unknown"));
    assert_eq!(store.truncate_author(&c, &s, &x, 0).await.unwrap(), 0);
    assert_eq!(
        store
            .truncate_author(&c, &unknown_stream, &a, 0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .truncate_author(&unknown_channel, &s, &a, 0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(snapshot(&store, &c, &s).await, before);
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    assert!(store.streams(&unknown_channel).await.unwrap().is_empty());
    let unknown = snapshot(&store, &c, &unknown_stream).await;
    assert!(unknown.entries.is_empty() && unknown.version.is_empty());
    store.close().await.unwrap();
}

/// Truncation never lowers the compaction base: `after` below the base
/// removes every held entry of the author and leaves the version at the
/// base; `after` above it keeps the entries up to `after`; an author with
/// nothing held (compacted beyond its head) loses nothing.
pub async fn truncate_below_base_keeps_the_base<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("truncate_below_base_keeps_the_base");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b, d) = (node("a"), node("b"), node("d"));
    let (a_log, b_log, d_log) = (
        entries(&a, 1..=8, |q| q),
        entries(&b, 1..=6, |q| q * 2),
        entries(&d, 1..=3, |q| q * 3),
    );
    for log in [&a_log, &b_log, &d_log] {
        store.append(&c, &s, log).await.unwrap();
    }
    store
        .compact(&c, &s, &vv(&[(&a, 3), (&b, 2), (&d, 10)]))
        .await
        .unwrap();
    assert_agrees(&store, &c, &s, "after compaction").await;

    // Above the base: a keeps 4..=5.
    assert_eq!(store.truncate_author(&c, &s, &a, 5).await.unwrap(), 3);
    assert_eq!(
        store.read_author(&c, &s, &a, 0, 10).await.unwrap(),
        a_log[3..5].to_vec()
    );
    // Below the base: b keeps nothing, its base and version stay at 2.
    assert_eq!(store.truncate_author(&c, &s, &b, 1).await.unwrap(), 4);
    assert!(store
        .read_author(&c, &s, &b, 0, 10)
        .await
        .unwrap()
        .is_empty());
    // Nothing held above d's base.
    assert_eq!(store.truncate_author(&c, &s, &d, 1).await.unwrap(), 0);
    assert_eq!(store.truncate_author(&c, &s, &d, 0).await.unwrap(), 0);

    let snap = snapshot(&store, &c, &s).await;
    assert_eq!(snap.entries, a_log[3..5].to_vec());
    assert_eq!(snap.version, vv(&[(&a, 5), (&b, 2), (&d, 10)]));
    assert_eq!(snap.base, vv(&[(&a, 3), (&b, 2), (&d, 10)]));
    assert_eq!(snap.stats, StreamStats::new(2, total_bytes(&a_log[3..5])));
    assert_agrees(&store, &c, &s, "after truncations around the base").await;
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);

    // Down to the base itself: a keeps nothing, its version is its base.
    assert_eq!(store.truncate_author(&c, &s, &a, 0).await.unwrap(), 2);
    let snap = snapshot(&store, &c, &s).await;
    assert!(snap.entries.is_empty());
    assert_eq!(snap.version, vv(&[(&a, 3), (&b, 2), (&d, 10)]));
    assert_eq!(snap.base, vv(&[(&a, 3), (&b, 2), (&d, 10)]));
    assert_eq!(snap.stats, StreamStats::default());
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);

    // Appends follow the base, not anything removed.
    assert_err_kind(
        store.append(&c, &s, &[entry(&b, 7, 7)]).await,
        StoreErrorKind::NonContiguous,
        "b's old next sequence after truncating below its base",
    );
    assert_err_kind(
        store.append(&c, &s, &[entry(&b, 2, 7)]).await,
        StoreErrorKind::NonContiguous,
        "b's base after truncating below it",
    );
    store
        .append(&c, &s, &[entry(&a, 4, 40), entry(&b, 3, 30)])
        .await
        .unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 4), (&b, 3), (&d, 10)])
    );
    assert_agrees(&store, &c, &s, "after appending past the bases").await;
    store.close().await.unwrap();
}

/// After a truncation the author's next append must follow the lowered
/// version: `after + 1` is accepted again (new content replaces what was
/// removed), the old next sequence is `NonContiguous`, sequences kept are
/// still `AlreadyExists`; the same after truncating everything (sequence 1).
pub async fn truncate_then_append_follows<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("truncate_then_append_follows");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b) = (node("a"), node("b"));
    let b_log = entries(&b, 1..=3, |q| q * 2);
    store
        .append(&c, &s, &entries(&a, 1..=6, |q| q))
        .await
        .unwrap();
    store.append(&c, &s, &b_log).await.unwrap();
    assert_eq!(store.truncate_author(&c, &s, &a, 3).await.unwrap(), 3);
    let truncated = snapshot(&store, &c, &s).await;

    for (what, batch, kind) in [
        (
            "a's old next sequence",
            vec![entry(&a, 7, 7)],
            StoreErrorKind::NonContiguous,
        ),
        (
            "a removed sequence after the first",
            vec![entry(&a, 5, 5)],
            StoreErrorKind::NonContiguous,
        ),
        (
            "a kept sequence",
            vec![entry(&a, 3, 3)],
            StoreErrorKind::AlreadyExists,
        ),
    ] {
        assert_err_kind(store.append(&c, &s, &batch).await, kind, what);
        assert_eq!(
            snapshot(&store, &c, &s).await,
            truncated,
            "{what}: changed the stream"
        );
    }

    // The removed sequences are written again, with other timestamps.
    let rewritten = vec![entry(&a, 4, 100), entry(&a, 5, 101)];
    store.append(&c, &s, &rewritten).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 5), (&b, 3)])
    );
    let mut a_now = entries(&a, 1..=3, |q| q);
    a_now.extend_from_slice(&rewritten);
    assert_eq!(
        store.read_author(&c, &s, &a, 0, 10).await.unwrap(),
        a_now.clone()
    );
    let mut all = a_now.clone();
    all.extend_from_slice(&b_log);
    let snap = snapshot(&store, &c, &s).await;
    assert_eq!(snap.entries, in_read_order(all.clone()));
    assert_eq!(snap.stats, StreamStats::new(8, total_bytes(&all)));
    assert_agrees(&store, &c, &s, "after rewriting a's truncated sequences").await;

    // Truncated to nothing, with no base: the author starts again at 1.
    assert_eq!(store.truncate_author(&c, &s, &b, 0).await.unwrap(), 3);
    assert_err_kind(
        store.append(&c, &s, &[entry(&b, 4, 4)]).await,
        StoreErrorKind::NonContiguous,
        "b's old next sequence after truncating everything",
    );
    assert_err_kind(
        store.append(&c, &s, &[entry(&b, 2, 4)]).await,
        StoreErrorKind::NonContiguous,
        "b's second sequence after truncating everything",
    );
    let b_again = entries(&b, 1..=2, |q| q + 50);
    store.append(&c, &s, &b_again).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 5), (&b, 2)])
    );
    assert_eq!(store.read_author(&c, &s, &b, 0, 10).await.unwrap(), b_again);
    assert_agrees(&store, &c, &s, "after b started again").await;
    store.close().await.unwrap();
}

/// Durable stores: truncations survive `close`, dropping the store and
/// reopening the same directory (entries, versions, bases, stats, streams),
/// nothing removed comes back, and appends continue from the lowered
/// versions.
pub async fn reopen_keeps_truncation<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("reopen_keeps_truncation");
    let store = open(&factory, &dir).await;
    let (c, s, s2) = (channel("c"), stream("s"), stream("s2"));
    let (a, b, d) = (node("a"), node("b"), node("d"));
    store
        .append(&c, &s, &entries(&a, 1..=40, |q| q * 2))
        .await
        .unwrap();
    store
        .append(&c, &s, &entries(&b, 1..=20, |q| q * 3))
        .await
        .unwrap();
    store
        .append(&c, &s, &entries(&d, 1..=5, |q| q))
        .await
        .unwrap();
    store
        .append(&c, &s2, &entries(&b, 1..=5, |q| q))
        .await
        .unwrap();
    store
        .compact(&c, &s, &vv(&[(&a, 10), (&b, 8)]))
        .await
        .unwrap();
    assert_eq!(store.truncate_author(&c, &s, &a, 25).await.unwrap(), 15);
    assert_eq!(store.truncate_author(&c, &s, &b, 3).await.unwrap(), 12);
    assert_eq!(store.truncate_author(&c, &s, &d, 0).await.unwrap(), 5);
    assert_eq!(store.truncate_author(&c, &s2, &b, 0).await.unwrap(), 5);

    let before = snapshot(&store, &c, &s).await;
    assert_eq!(before.version, vv(&[(&a, 25), (&b, 8)]));
    assert_eq!(before.base, vv(&[(&a, 10), (&b, 8)]));
    assert_eq!(before.entries, entries(&a, 11..=25, |q| q * 2));
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    store.close().await.unwrap();
    drop(store);

    let store = open(&factory, &dir).await;
    assert_eq!(
        snapshot(&store, &c, &s).await,
        before,
        "the stream changed across a reopen"
    );
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    let gone = snapshot(&store, &c, &s2).await;
    assert!(gone.entries.is_empty() && gone.version.is_empty());
    assert_eq!(gone.stats, StreamStats::default());
    assert!(store
        .read_author(&c, &s, &d, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_agrees(&store, &c, &s, "after a reopen").await;

    assert_err_kind(
        store.append(&c, &s, &[entry(&a, 41, 200)]).await,
        StoreErrorKind::NonContiguous,
        "a's old next sequence after a reopen",
    );
    store
        .append(
            &c,
            &s,
            &[entry(&a, 26, 200), entry(&b, 9, 200), entry(&d, 1, 200)],
        )
        .await
        .unwrap();
    store.append(&c, &s2, &[entry(&b, 1, 1)]).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 26), (&b, 9), (&d, 1)])
    );
    assert_eq!(store.version(&c, &s2).await.unwrap(), vv(&[(&b, 1)]));
    assert_agrees(&store, &c, &s, "after appending past a reopened truncation").await;
    store.close().await.unwrap();
}
