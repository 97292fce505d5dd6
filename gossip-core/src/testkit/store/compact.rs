//! Compaction: per-author prefixes, bases never lowered, appends after the base.

// Test support: a panic is how a suite reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, path::PathBuf};

use super::{
    super::fixtures::{
        assert_err_kind, channel, entries, entry, in_read_order, node, snapshot, stream,
        total_bytes, vv, TestDir,
    },
    open,
};
use crate::{
    error::StoreErrorKind,
    ports::{Store, StreamStats},
};

/// Compaction removes, per author, exactly the prefix up to the given base
/// and returns how many entries it removed; other authors, streams and
/// channels are untouched.
pub async fn compact_removes_only_prefixes<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("compact_removes_only_prefixes");
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

    let removed = store
        .compact(&c, &s, &vv(&[(&a, 3), (&b, 1)]))
        .await
        .unwrap();
    assert_eq!(removed, 4);
    let mut left = a_log[3..].to_vec();
    left.extend_from_slice(&b_log[1..]);
    left.extend_from_slice(&d_log);
    let snap = snapshot(&store, &c, &s).await;
    assert_eq!(snap.entries, in_read_order(left.clone()));
    assert_eq!(snap.version, vv(&[(&a, 6), (&b, 4), (&d, 3)]));
    assert_eq!(snap.base, vv(&[(&a, 3), (&b, 1)]));
    assert_eq!(snap.stats, StreamStats::new(9, total_bytes(&left)));
    assert_eq!(snapshot(&store, &c, &s2).await, untouched[0]);
    assert_eq!(snapshot(&store, &c2, &s).await, untouched[1]);

    assert_eq!(
        store
            .compact(&c, &s, &vv(&[(&a, 5), (&b, 1)]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.read_author(&c, &s, &a, 0, 10).await.unwrap(),
        a_log[5..].to_vec()
    );
    assert_eq!(
        store.read_author(&c, &s, &b, 0, 10).await.unwrap(),
        b_log[1..].to_vec()
    );
    assert_eq!(store.read_author(&c, &s, &d, 0, 10).await.unwrap(), d_log);
    store.close().await.unwrap();
}

/// Compacting with a base at or below the current one (or an empty base)
/// removes nothing, returns 0 and never lowers the base.
pub async fn compact_below_base_is_noop<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("compact_below_base_is_noop");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let a = node("a");
    store
        .append(&c, &s, &entries(&a, 1..=5, |q| q))
        .await
        .unwrap();
    assert_eq!(store.compact(&c, &s, &vv(&[(&a, 3)])).await.unwrap(), 3);
    let before = snapshot(&store, &c, &s).await;
    for base in [vv(&[(&a, 3)]), vv(&[(&a, 2)]), vv(&[(&a, 1)]), vv(&[])] {
        assert_eq!(store.compact(&c, &s, &base).await.unwrap(), 0, "{base:?}");
        assert_eq!(
            snapshot(&store, &c, &s).await,
            before,
            "{base:?} changed the stream"
        );
    }
    let unknown = stream("unknown");
    assert_eq!(store.compact(&c, &unknown, &vv(&[])).await.unwrap(), 0);
    assert_eq!(store.streams(&c).await.unwrap(), vec![s.clone()]);
    store.close().await.unwrap();
}

/// A base beyond the highest held sequence removes all of the author's
/// entries; the version then equals the base and the author's next append
/// must follow it (earlier sequences are `NonContiguous`, not held).
pub async fn compact_beyond_high_then_append_follows_base<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("compact_beyond_high_then_append_follows_base");
    let store = open(&factory, &dir).await;
    let (c, s) = (channel("c"), stream("s"));
    let (a, b, x) = (node("a"), node("b"), node("x"));
    let b_log = entries(&b, 1..=2, |q| q);
    store
        .append(&c, &s, &entries(&a, 1..=3, |q| q))
        .await
        .unwrap();
    store.append(&c, &s, &b_log).await.unwrap();

    assert_eq!(
        store
            .compact(&c, &s, &vv(&[(&a, 10), (&x, 5)]))
            .await
            .unwrap(),
        3
    );
    let snap = snapshot(&store, &c, &s).await;
    assert_eq!(snap.version, vv(&[(&a, 10), (&b, 2), (&x, 5)]));
    assert_eq!(snap.base, vv(&[(&a, 10), (&x, 5)]));
    assert_eq!(snap.entries, b_log);
    assert_eq!(snap.stats, StreamStats::new(2, total_bytes(&b_log)));
    assert!(store
        .read_author(&c, &s, &a, 0, 10)
        .await
        .unwrap()
        .is_empty());

    for (what, batch) in [
        ("old next sequence", vec![entry(&a, 4, 4)]),
        ("the base itself", vec![entry(&a, 10, 10)]),
        ("gap after the base", vec![entry(&a, 12, 12)]),
        ("fresh author from 1", vec![entry(&x, 1, 1)]),
    ] {
        assert_err_kind(
            store.append(&c, &s, &batch).await,
            StoreErrorKind::NonContiguous,
            what,
        );
        assert_eq!(
            snapshot(&store, &c, &s).await,
            snap,
            "{what}: changed the stream"
        );
    }
    let next = vec![entry(&a, 11, 11), entry(&x, 6, 6), entry(&a, 12, 12)];
    store.append(&c, &s, &next).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 12), (&b, 2), (&x, 6)])
    );
    assert_eq!(
        store.read_author(&c, &s, &a, 0, 10).await.unwrap(),
        entries(&a, 11..=12, |q| q)
    );
    store.close().await.unwrap();
}
