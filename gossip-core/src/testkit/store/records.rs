//! Channels, peers, the clock, and clearing everything.

// Test support: a panic is how a suite reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, path::PathBuf};

use super::{
    super::fixtures::{channel, entries, hlc, node, snapshot, stream, vv, TestDir},
    open,
};
use crate::{
    domain::{Channel, Hlc, StreamConfig},
    ports::{PeerRecord, Store, StreamStats},
};

/// Channels are saved (inserted or replaced) and loaded sorted by id;
/// deleting one removes its record and every entry and base of its
/// streams (also streams of a channel never saved), and nothing else;
/// deleting an unknown channel succeeds.
pub async fn channels_save_load_delete<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("channels_save_load_delete");
    let store = open(&factory, &dir).await;
    let owner = node("owner");
    let (ca, cb, cx) = (channel("a"), channel("b"), channel("x"));
    let (s1, s2) = (stream("s1"), stream("s2"));
    assert!(store.load_channels().await.unwrap().is_empty());

    let mut b_rec = Channel::new(cb.clone(), owner.clone());
    let a_rec = Channel::new(ca.clone(), owner.clone());
    store.save_channel(&b_rec).await.unwrap();
    store.save_channel(&a_rec).await.unwrap();
    assert_eq!(
        store.load_channels().await.unwrap(),
        vec![a_rec.clone(), b_rec.clone()]
    );
    b_rec.add_member(node("member"), crate::Role::Writer);
    b_rec.apply(
        &owner,
        &crate::ControlOp::SetStreamConfig {
            stream: s1.clone(),
            config: StreamConfig::default().max_payload_bytes(10),
        },
    );
    store.save_channel(&b_rec).await.unwrap();
    assert_eq!(
        store.load_channels().await.unwrap(),
        vec![a_rec.clone(), b_rec.clone()]
    );

    let log = entries(&owner, 1..=3, |q| q);
    for (ch, st) in [(&ca, &s1), (&ca, &s2), (&cb, &s1), (&cx, &s1)] {
        store.append(ch, st, &log).await.unwrap();
    }
    store.compact(&ca, &s2, &vv(&[(&owner, 5)])).await.unwrap();
    let kept = snapshot(&store, &cb, &s1).await;

    store.delete_channel(&ca).await.unwrap();
    assert_eq!(store.load_channels().await.unwrap(), vec![b_rec.clone()]);
    assert!(store.streams(&ca).await.unwrap().is_empty());
    for st in [&s1, &s2] {
        let snap = snapshot(&store, &ca, st).await;
        assert!(snap.entries.is_empty() && snap.version.is_empty() && snap.base.is_empty());
        assert_eq!(snap.stats, StreamStats::default());
    }
    assert_eq!(snapshot(&store, &cb, &s1).await, kept);
    // Its bases are gone: the stream starts over at sequence 1.
    store.append(&ca, &s2, &log[..1]).await.unwrap();

    store.delete_channel(&cx).await.unwrap();
    assert!(store.streams(&cx).await.unwrap().is_empty());
    store.delete_channel(&channel("unknown")).await.unwrap();
    assert_eq!(store.load_channels().await.unwrap(), vec![b_rec]);
    assert_eq!(snapshot(&store, &cb, &s1).await, kept);
    store.close().await.unwrap();
}

/// Peers are saved (inserted or replaced), loaded sorted by id and
/// removed; removing an unknown peer succeeds.
pub async fn peers_save_load_remove<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("peers_save_load_remove");
    let store = open(&factory, &dir).await;
    assert!(store.load_peers().await.unwrap().is_empty());
    let p1 = PeerRecord::new(node("p1")).with_address("10.0.0.1:7000");
    let p2 = PeerRecord::new(node("p2"));
    store.save_peer(&p2).await.unwrap();
    store.save_peer(&p1).await.unwrap();
    assert_eq!(
        store.load_peers().await.unwrap(),
        vec![p1.clone(), p2.clone()]
    );
    let p2b = p2.clone().with_address("host:1");
    store.save_peer(&p2b).await.unwrap();
    assert_eq!(
        store.load_peers().await.unwrap(),
        vec![p1.clone(), p2b.clone()]
    );
    let p1b = PeerRecord::new(node("p1"));
    store.save_peer(&p1b).await.unwrap();
    assert_eq!(
        store.load_peers().await.unwrap(),
        vec![p1b, p2b.clone()],
        "replacing drops the address"
    );
    store.remove_peer(&node("p1")).await.unwrap();
    assert_eq!(store.load_peers().await.unwrap(), vec![p2b.clone()]);
    store.remove_peer(&node("unknown")).await.unwrap();
    assert_eq!(store.load_peers().await.unwrap(), vec![p2b]);
    store.close().await.unwrap();
}

/// The saved clock is absent until saved and never lowered.
pub async fn clock_never_lowers<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("clock_never_lowers");
    let store = open(&factory, &dir).await;
    assert_eq!(store.load_clock().await.unwrap(), None);
    store.save_clock(hlc(100, 0)).await.unwrap();
    assert_eq!(store.load_clock().await.unwrap(), Some(hlc(100, 0)));
    store.save_clock(hlc(50, 9)).await.unwrap();
    assert_eq!(
        store.load_clock().await.unwrap(),
        Some(hlc(100, 0)),
        "clock lowered"
    );
    store.save_clock(hlc(100, 1)).await.unwrap();
    assert_eq!(store.load_clock().await.unwrap(), Some(hlc(100, 1)));
    store.save_clock(hlc(100, 1)).await.unwrap();
    assert_eq!(store.load_clock().await.unwrap(), Some(hlc(100, 1)));
    let max = Hlc::from_u64(u64::MAX);
    store.save_clock(max).await.unwrap();
    store.save_clock(hlc(1, 0)).await.unwrap();
    assert_eq!(store.load_clock().await.unwrap(), Some(max));
    store.close().await.unwrap();
}

/// `clear` removes entries, bases, channels, peers and the clock; the
/// store is usable afterwards, every author starting at sequence 1.
pub async fn clear_removes_everything<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("clear_removes_everything");
    let store = open(&factory, &dir).await;
    let (c, c2, s) = (channel("c"), channel("c2"), stream("s"));
    let a = node("a");
    store
        .save_channel(&Channel::new(c.clone(), a.clone()))
        .await
        .unwrap();
    store.save_peer(&PeerRecord::new(node("p"))).await.unwrap();
    store.save_clock(hlc(500, 0)).await.unwrap();
    let log = entries(&a, 1..=4, |q| q);
    store.append(&c, &s, &log).await.unwrap();
    store.append(&c2, &s, &log).await.unwrap();
    store.compact(&c2, &s, &vv(&[(&a, 2)])).await.unwrap();

    store.clear().await.unwrap();
    assert!(store.load_channels().await.unwrap().is_empty());
    assert!(store.load_peers().await.unwrap().is_empty());
    assert_eq!(store.load_clock().await.unwrap(), None);
    for ch in [&c, &c2] {
        assert!(store.streams(ch).await.unwrap().is_empty());
        let snap = snapshot(&store, ch, &s).await;
        assert!(snap.entries.is_empty() && snap.version.is_empty() && snap.base.is_empty());
        assert_eq!(snap.stats, StreamStats::default());
    }
    store.append(&c2, &s, &log[..1]).await.unwrap();
    assert_eq!(store.version(&c2, &s).await.unwrap(), vv(&[(&a, 1)]));
    store.close().await.unwrap();
}
