//! Reading: pages in read order, per-author reads, versions, bases, stats, stream lists.

// Test support: a panic is how a suite reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, path::PathBuf};

use super::{
    super::fixtures::{
        channel, entries, hlc, in_read_order, node, payload, read_all, read_author_all, snapshot,
        stream, total_bytes, vv, TestDir,
    },
    open,
};
use crate::{
    domain::{EntryKey, LogEntry, NodeId},
    ports::{Store, StreamStats},
};

/// `read` returns at most `limit` entries strictly after the cursor, in
/// read order `(timestamp, author, sequence)` (timestamp first, even
/// against sequence order), and paging with the last key visits every entry
/// exactly once, for any page size. Entries read back equal those written,
/// link and signature included.
pub async fn read_pages_in_read_order_exactly_once<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("read_pages_in_read_order_exactly_once");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b, x, d) = (node("a"), node("b"), node("c"), node("d"));
    let at = |author: &NodeId, seq, ms, logical| {
        LogEntry::new(author.clone(), seq, hlc(ms, logical), payload(author, seq))
    };
    let mut signed = at(&b, 2, 15, 0);
    signed.signature = Some(crate::Signature::from_bytes([9; 64]));
    signed.previous = crate::EntryHash::from_bytes([3; 32]);
    let batches = vec![
        vec![at(&x, 1, 5, 0), at(&x, 2, 20, 0), at(&x, 3, 20, 1)],
        vec![at(&a, 1, 10, 0), at(&a, 2, 20, 0), at(&a, 3, 20, 1)],
        // d's clock went back: read order follows timestamps, not sequences.
        vec![
            at(&d, 1, 30, 0),
            at(&d, 2, 25, 0),
            LogEntry::new(d.clone(), 3, hlc(40, 0), vec![]),
        ],
        vec![at(&b, 1, 10, 0), signed, at(&b, 3, 20, 0)],
    ];
    let mut all = Vec::new();
    for batch in batches {
        store.append(&c, &s, &batch).await.unwrap();
        all.extend(batch);
    }
    let expected = in_read_order(all);
    assert_eq!(expected.len(), 12);
    for page in [1, 2, 3, 5, 11, 12, 13, 1000] {
        let got = read_all(&store, &c, &s, page).await;
        assert_eq!(got, expected, "paging by {page}");
        assert!(got.windows(2).all(|w| w[0].key() < w[1].key()));
    }
    assert!(
        store.read(&c, &s, None, 0).await.unwrap().is_empty(),
        "limit 0"
    );
    let first = store.read(&c, &s, None, 4).await.unwrap();
    assert_eq!(first, expected[..4].to_vec());

    // A cursor that is not the key of a held entry.
    let cursor = EntryKey {
        timestamp: hlc(15, 0),
        author: a.clone(),
        sequence: 99,
    };
    let tail: Vec<_> = expected
        .iter()
        .filter(|e| e.key() > cursor)
        .cloned()
        .collect();
    assert_eq!(store.read(&c, &s, Some(&cursor), 100).await.unwrap(), tail);
    assert_eq!(tail.first().map(|e| (&e.author, e.sequence)), Some((&b, 2)));
    let last = expected.last().unwrap().key();
    assert!(store
        .read(&c, &s, Some(&last), 10)
        .await
        .unwrap()
        .is_empty());
    let beyond = EntryKey {
        timestamp: hlc(1_000, 0),
        author: a.clone(),
        sequence: 1,
    };
    assert!(store
        .read(&c, &s, Some(&beyond), 10)
        .await
        .unwrap()
        .is_empty());
    store.close().await.unwrap();
}

/// An unknown channel or stream reads as empty everywhere, and streams of
/// the same name in another channel (or another stream of the channel)
/// are separate.
pub async fn read_unknown_stream_is_empty<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("read_unknown_stream_is_empty");
    let store = open(&factory, &dir).await;
    let (c, other, s, s2) = (channel("c"), channel("other"), stream("s"), stream("s2"));
    let a = node("a");
    store
        .append(&c, &s, &entries(&a, 1..=3, |q| q))
        .await
        .unwrap();
    for (ch, st) in [(&other, &s), (&c, &s2), (&other, &s2)] {
        let snap = snapshot(&store, ch, st).await;
        assert!(snap.entries.is_empty(), "{ch}/{st} is not empty");
        assert!(snap.version.is_empty() && snap.base.is_empty());
        assert_eq!(snap.stats, StreamStats::default());
        assert!(store
            .read_author(ch, st, &a, 0, 10)
            .await
            .unwrap()
            .is_empty());
    }
    assert!(store.streams(&other).await.unwrap().is_empty());
    assert!(store
        .read_author(&c, &s, &node("nobody"), 0, 10)
        .await
        .unwrap()
        .is_empty());
    store.close().await.unwrap();
}

/// `read_author` returns at most `limit` of one author's entries, in
/// sequence order, from the first sequence greater than `after`; any
/// `after` past the highest held sequence, up to `u64::MAX`, reads as
/// empty.
pub async fn read_author_after_with_limit<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("read_author_after_with_limit");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b) = (node("a"), node("b"));
    let a_log = entries(&a, 1..=10, |q| 100 - q); // timestamps descending
    let b_log = entries(&b, 1..=5, |q| q * 2);
    store.append(&c, &s, &a_log[..4]).await.unwrap();
    store.append(&c, &s, &b_log).await.unwrap();
    store.append(&c, &s, &a_log[4..]).await.unwrap();

    assert_eq!(store.read_author(&c, &s, &a, 0, 100).await.unwrap(), a_log);
    assert_eq!(
        store.read_author(&c, &s, &a, 3, 4).await.unwrap(),
        a_log[3..7].to_vec()
    );
    assert_eq!(
        store.read_author(&c, &s, &a, 9, 4).await.unwrap(),
        a_log[9..].to_vec()
    );
    assert!(store
        .read_author(&c, &s, &a, 10, 4)
        .await
        .unwrap()
        .is_empty());
    for far in [50, 1 << 63, u64::MAX - 1, u64::MAX] {
        assert!(
            store
                .read_author(&c, &s, &a, far, 4)
                .await
                .unwrap()
                .is_empty(),
            "after {far}"
        );
    }
    assert!(
        store
            .read_author(&c, &s, &a, 0, 0)
            .await
            .unwrap()
            .is_empty(),
        "limit 0"
    );
    assert_eq!(
        store.read_author(&c, &s, &b, 0, 2).await.unwrap(),
        b_log[..2].to_vec()
    );
    assert_eq!(
        read_author_all(&store, &c, &s, &b, 1, 1).await,
        b_log[1..].to_vec()
    );
    store.close().await.unwrap();
}

/// Entries removed by compaction are not returned by `read_author` (nor by
/// `read`): reading after 0 starts at the first held sequence.
pub async fn read_author_skips_compacted<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("read_author_skips_compacted");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let a = node("a");
    let log = entries(&a, 1..=10, |q| q);
    store.append(&c, &s, &log).await.unwrap();
    assert_eq!(store.compact(&c, &s, &vv(&[(&a, 4)])).await.unwrap(), 4);
    assert_eq!(
        store.read_author(&c, &s, &a, 0, 3).await.unwrap(),
        log[4..7].to_vec()
    );
    assert_eq!(
        store.read_author(&c, &s, &a, 2, 100).await.unwrap(),
        log[4..].to_vec()
    );
    assert_eq!(
        store.read_author(&c, &s, &a, 6, 100).await.unwrap(),
        log[6..].to_vec()
    );
    assert_eq!(read_all(&store, &c, &s, 3).await, log[4..].to_vec());
    store.close().await.unwrap();
}

/// The version is, per author, the highest held sequence or the
/// compaction base when that is higher; authors with neither are absent.
pub async fn version_is_highest_held_or_base<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("version_is_highest_held_or_base");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b, x) = (node("a"), node("b"), node("x"));
    assert!(store.version(&c, &s).await.unwrap().is_empty());
    store
        .append(&c, &s, &entries(&a, 1..=3, |q| q))
        .await
        .unwrap();
    store
        .append(&c, &s, &entries(&b, 1..=1, |q| q))
        .await
        .unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 3), (&b, 1)])
    );
    store
        .append(&c, &s, &entries(&a, 4..=5, |q| q))
        .await
        .unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 5), (&b, 1)])
    );

    store.compact(&c, &s, &vv(&[(&a, 2)])).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 5), (&b, 1)]),
        "held wins"
    );
    store.compact(&c, &s, &vv(&[(&b, 4)])).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 5), (&b, 4)]),
        "base wins"
    );
    // A base for an author never seen makes it present.
    store.compact(&c, &s, &vv(&[(&x, 2)])).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 5), (&b, 4), (&x, 2)])
    );
    store.close().await.unwrap();
}

/// The base is empty until compaction raises it, and never lowered.
pub async fn base_is_raised_by_compaction_only<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("base_is_raised_by_compaction_only");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b) = (node("a"), node("b"));
    assert!(store.base(&c, &s).await.unwrap().is_empty());
    store
        .append(&c, &s, &entries(&a, 1..=5, |q| q))
        .await
        .unwrap();
    store
        .append(&c, &s, &entries(&b, 1..=5, |q| q))
        .await
        .unwrap();
    assert!(
        store.base(&c, &s).await.unwrap().is_empty(),
        "appends raised the base"
    );
    store.compact(&c, &s, &vv(&[(&a, 3)])).await.unwrap();
    assert_eq!(store.base(&c, &s).await.unwrap(), vv(&[(&a, 3)]));
    store
        .compact(&c, &s, &vv(&[(&a, 1), (&b, 2)]))
        .await
        .unwrap();
    assert_eq!(
        store.base(&c, &s).await.unwrap(),
        vv(&[(&a, 3), (&b, 2)]),
        "base lowered"
    );
    store
        .append(&c, &s, &entries(&a, 6..=6, |q| q))
        .await
        .unwrap();
    assert_eq!(store.base(&c, &s).await.unwrap(), vv(&[(&a, 3), (&b, 2)]));
    store.close().await.unwrap();
}

/// Stats count the entries and the payload plus signature bytes held now:
/// appends add, compaction subtracts; each stream counts its own.
pub async fn stats_count_entries_and_bytes<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("stats_count_entries_and_bytes");
    let store = open(&factory, &dir).await;
    let (c, s, s2) = (channel("c"), stream("s"), stream("s2"));
    let (a, b) = (node("a"), node("b"));
    assert_eq!(store.stats(&c, &s).await.unwrap(), StreamStats::new(0, 0));

    let mut a_log = entries(&a, 1..=4, |q| q);
    a_log[1].signature = Some(crate::Signature::from_bytes([7; 64]));
    a_log[2].payload = bytes::Bytes::new();
    let b_log: Vec<_> = (1..=3)
        .map(|q| LogEntry::new(b.clone(), q, hlc(q, 1), vec![q as u8; 100 * q as usize]))
        .collect();
    store.append(&c, &s, &a_log).await.unwrap();
    assert_eq!(
        store.stats(&c, &s).await.unwrap(),
        StreamStats::new(4, total_bytes(&a_log))
    );
    store.append(&c, &s, &b_log).await.unwrap();
    let all_bytes = total_bytes(&a_log) + total_bytes(&b_log);
    assert_eq!(all_bytes, total_bytes(&a_log) + 600);
    assert_eq!(
        store.stats(&c, &s).await.unwrap(),
        StreamStats::new(7, all_bytes)
    );
    store.append(&c, &s2, &b_log[..1]).await.unwrap();
    assert_eq!(
        store.stats(&c, &s2).await.unwrap(),
        StreamStats::new(1, 100)
    );

    store
        .compact(&c, &s, &vv(&[(&a, 2), (&b, 1)]))
        .await
        .unwrap();
    let left = total_bytes(&a_log[2..]) + total_bytes(&b_log[1..]);
    assert_eq!(
        store.stats(&c, &s).await.unwrap(),
        StreamStats::new(4, left)
    );
    store
        .compact(&c, &s, &vv(&[(&a, 9), (&b, 9)]))
        .await
        .unwrap();
    assert_eq!(store.stats(&c, &s).await.unwrap(), StreamStats::new(0, 0));
    assert_eq!(
        store.stats(&c, &s2).await.unwrap(),
        StreamStats::new(1, 100)
    );
    store.close().await.unwrap();
}

/// `streams` lists, sorted, the streams of one channel that hold entries
/// or a compaction base (a fully compacted stream is still listed).
pub async fn streams_lists_written_streams<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("streams_lists_written_streams");
    let store = open(&factory, &dir).await;
    let (c, other) = (channel("c"), channel("other"));
    let a = node("a");
    let log = entries(&a, 1..=2, |q| q);
    for name in ["zeta", "alpha", "mid"] {
        store.append(&c, &stream(name), &log).await.unwrap();
    }
    store.append(&other, &stream("else"), &log).await.unwrap();
    let expected = vec![stream("alpha"), stream("mid"), stream("zeta")];
    assert_eq!(store.streams(&c).await.unwrap(), expected);
    assert_eq!(store.streams(&other).await.unwrap(), vec![stream("else")]);
    assert!(store.streams(&channel("unknown")).await.unwrap().is_empty());

    assert_eq!(
        store
            .compact(&c, &stream("mid"), &vv(&[(&a, 5)]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.streams(&c).await.unwrap(),
        expected,
        "compacted stream dropped"
    );
    store.close().await.unwrap();
}
