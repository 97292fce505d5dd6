//! Durability: what survives a reopen, and the declared capabilities.

// Test support: a panic is how a suite reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, path::PathBuf};

use super::{
    super::fixtures::{
        assert_err_kind, channel, entries, entry, hlc, node, snapshot, stream, vv, TestDir,
    },
    open,
};
use crate::{
    domain::{Channel, StreamConfig},
    error::StoreErrorKind,
    ports::{PeerRecord, Store},
};

/// Durable stores: everything (entries, versions, bases, stats, streams,
/// channels, peers, clock) survives `close`, dropping the store and
/// reopening the same directory, and appends continue where they stopped.
pub async fn reopen_keeps_everything<F, Fut, S>(factory: F)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("reopen_keeps_everything");
    let store = open(&factory, &dir).await;
    let (c, c2) = (channel("c"), channel("c2"));
    let (s, s2) = (stream("s"), stream("s2"));
    let (a, b) = (node("a"), node("b"));
    let mut rec = Channel::new(c.clone(), a.clone());
    rec.add_member(b.clone(), crate::Role::Writer);
    rec.apply(
        &a,
        &crate::ControlOp::SetStreamConfig {
            stream: s.clone(),
            config: StreamConfig::default().max_payload_bytes(4096),
        },
    );
    store.save_channel(&rec).await.unwrap();
    store
        .save_channel(&Channel::new(c2.clone(), b.clone()))
        .await
        .unwrap();
    store
        .save_peer(&PeerRecord::new(b.clone()).with_address("b:7000"))
        .await
        .unwrap();
    store.save_peer(&PeerRecord::new(node("z"))).await.unwrap();
    store.save_clock(hlc(123_456, 7)).await.unwrap();
    let mut a_log = entries(&a, 1..=50, |q| q * 2);
    a_log[3].signature = Some(crate::Signature::from_bytes([5; 64]));
    a_log[3].previous = crate::EntryHash::from_bytes([6; 32]);
    a_log[4].payload = bytes::Bytes::new();
    store.append(&c, &s, &a_log).await.unwrap();
    store
        .append(&c, &s, &entries(&b, 1..=30, |q| q * 3))
        .await
        .unwrap();
    store
        .append(&c, &s2, &entries(&b, 1..=5, |q| q))
        .await
        .unwrap();
    store
        .append(&c2, &s, &entries(&a, 1..=5, |q| q))
        .await
        .unwrap();
    store.compact(&c, &s, &vv(&[(&a, 10)])).await.unwrap();
    store.compact(&c, &s2, &vv(&[(&b, 8)])).await.unwrap();

    let mut before = Vec::new();
    for ch in [&c, &c2] {
        for st in store.streams(ch).await.unwrap() {
            before.push((ch.clone(), st.clone(), snapshot(&store, ch, &st).await));
        }
    }
    assert_eq!(before.len(), 3);
    let channels = store.load_channels().await.unwrap();
    let peers = store.load_peers().await.unwrap();
    store.close().await.unwrap();
    drop(store);

    let store = open(&factory, &dir).await;
    let mut after = Vec::new();
    for ch in [&c, &c2] {
        for st in store.streams(ch).await.unwrap() {
            after.push((ch.clone(), st.clone(), snapshot(&store, ch, &st).await));
        }
    }
    assert_eq!(after, before, "streams changed across a reopen");
    assert_eq!(store.load_channels().await.unwrap(), channels);
    assert_eq!(channels.len(), 2);
    assert_eq!(channels[0], rec);
    assert_eq!(store.load_peers().await.unwrap(), peers);
    assert_eq!(peers.len(), 2);
    assert_eq!(store.load_clock().await.unwrap(), Some(hlc(123_456, 7)));

    assert_err_kind(
        store.append(&c, &s2, &[entry(&b, 6, 6)]).await,
        StoreErrorKind::NonContiguous,
        "append below a reopened base",
    );
    store.append(&c, &s, &[entry(&a, 51, 200)]).await.unwrap();
    store.append(&c, &s2, &[entry(&b, 9, 9)]).await.unwrap();
    assert_eq!(
        store.version(&c, &s).await.unwrap(),
        vv(&[(&a, 51), (&b, 30)])
    );
    assert_eq!(store.version(&c, &s2).await.unwrap(), vv(&[(&b, 9)]));
    store.close().await.unwrap();
}

/// The store declares the capabilities of the form it was tested under
/// (`durable` for [`store_conformance!(durable, …)`](crate::store_conformance)),
/// so a durable store cannot skip the reopen test by running the volatile
/// form, and names its backend.
pub async fn declared_capabilities_match<F, Fut, S>(factory: F, durable: bool)
where
    F: Fn(PathBuf) -> Fut,
    Fut: Future<Output = S>,
    S: Store,
{
    let dir = TestDir::new("declared_capabilities_match");
    let store = open(&factory, &dir).await;
    assert_eq!(
        store.capabilities().durable,
        durable,
        "the {} store declares durable = {}, but was tested as {}",
        store.backend(),
        store.capabilities().durable,
        if durable { "durable" } else { "volatile" },
    );
    assert!(!store.backend().is_empty(), "backend() is empty");
    store.close().await.unwrap();
}
