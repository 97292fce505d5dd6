//! Tests of the stream API of the handles: listing a channel's streams,
//! reading one author's range, and subscribing from a version (no gap, no
//! duplicate, also under concurrent appends and a slow reader).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![expect(
    clippy::reversed_empty_ranges,
    reason = "an inverted range is what one test asks for"
)]

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::oneshot;

use super::{
    driver::fixture::{TestStore, VersionGate},
    Config, Coordinator, StreamHandle, Subscription,
};
use crate::{
    domain::{LogEntry, NodeId, StreamId, VersionVector},
    error::Error,
    identity::Identity,
    ports::{Store, StreamStats},
};

async fn node_with(config: Config) -> (Coordinator, Arc<TestStore>) {
    let store = Arc::new(TestStore::default());
    let node = Coordinator::builder(Identity::from_seed("a"))
        .store(store.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    (node, store)
}

async fn stream_of(node: &Coordinator, name: &str) -> StreamHandle {
    let channel = match node.channels().await.unwrap().first() {
        Some(id) => node.channel(id.clone()).await.unwrap(),
        None => node.create_channel("c").await.unwrap(),
    };
    channel.stream(StreamId::new(name).unwrap()).await.unwrap()
}

async fn append_n(stream: &StreamHandle, n: usize) -> Vec<LogEntry> {
    let payloads = (0..n).map(|i| Bytes::from(format!("{i}"))).collect();
    stream.append_batch(payloads).await.unwrap()
}

/// Reads `n` entries from the feed, failing on an error or a stall.
async fn take(feed: &mut Subscription<LogEntry>, n: usize) -> Vec<LogEntry> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("the feed stalled")
            .expect("the feed ended");
        got.push(item.unwrap());
    }
    got
}

fn sequences(entries: &[LogEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.sequence).collect()
}

async fn nothing_more(feed: &mut Subscription<LogEntry>) {
    let more = tokio::time::timeout(Duration::from_millis(100), feed.next()).await;
    assert!(more.is_err(), "a duplicate or a stray entry: {more:?}");
}

#[tokio::test]
async fn a_channel_lists_its_streams_sorted_without_the_control_stream() {
    let (node, _) = node_with(Config::default()).await;
    let channel = node.create_channel("c").await.unwrap();
    assert!(channel.streams().await.unwrap().is_empty());
    for name in ["zeta", "alpha", "mid"] {
        append_n(&stream_of(&node, name).await, 2).await;
    }
    let names: Vec<String> = channel
        .streams()
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    let zeta = stream_of(&node, "zeta").await;
    assert_eq!(zeta.stats().await.unwrap().entries, 2);

    node.delete_channel(channel.id()).await.unwrap();
    assert!(matches!(
        channel.streams().await,
        Err(Error::UnknownChannel(_))
    ));
}

#[tokio::test]
async fn entries_by_reads_one_author_within_the_range_and_the_limit() {
    let (node, store) = node_with(Config::default()).await;
    let stream = stream_of(&node, "s").await;
    let log = append_n(&stream, 10).await;
    let me = node.local_id().clone();

    assert_eq!(stream.entries_by(&me, .., 100).await.unwrap(), log);
    assert_eq!(
        sequences(&stream.entries_by(&me, 3..=5, 100).await.unwrap()),
        [3, 4, 5]
    );
    assert_eq!(
        sequences(&stream.entries_by(&me, 3..5, 100).await.unwrap()),
        [3, 4]
    );
    assert_eq!(
        sequences(&stream.entries_by(&me, 8.., 100).await.unwrap()),
        [8, 9, 10]
    );
    assert_eq!(
        sequences(&stream.entries_by(&me, 2.., 3).await.unwrap()),
        [2, 3, 4],
        "limit"
    );
    assert_eq!(
        sequences(&stream.entries_by(&me, 0..=1, 9).await.unwrap()),
        [1]
    );
    assert!(
        stream.entries_by(&me, 4.., 0).await.unwrap().is_empty(),
        "limit 0"
    );
    assert!(
        stream.entries_by(&me, 5..5, 10).await.unwrap().is_empty(),
        "empty range"
    );
    assert!(
        stream.entries_by(&me, 11.., 10).await.unwrap().is_empty(),
        "past the end"
    );
    assert!(matches!(
        stream.entries_by(&me, 5..3, 10).await,
        Err(Error::InvalidRange { start: 5, end: 3 })
    ));

    let stranger = NodeId::from_seed("stranger");
    assert!(stream
        .entries_by(&stranger, .., 10)
        .await
        .unwrap()
        .is_empty());
    let unknown = stream_of(&node, "never-written").await;
    assert!(unknown.entries_by(&me, .., 10).await.unwrap().is_empty());
    assert_eq!(unknown.stats().await.unwrap(), StreamStats::default());

    // A compacted prefix is skipped; the range's end still holds.
    let mut base = VersionVector::new();
    base.raise(&me, 4);
    store
        .compact(stream.channel_id(), stream.id(), &base)
        .await
        .unwrap();
    assert_eq!(
        sequences(&stream.entries_by(&me, 2..=6, 100).await.unwrap()),
        [5, 6]
    );
    assert_eq!(
        sequences(&stream.entries_by(&me, ..=7, 2).await.unwrap()),
        [5, 6]
    );
}

#[tokio::test]
async fn subscribe_from_replays_what_follows_the_version_then_goes_live() {
    let (node, _) = node_with(Config::default()).await;
    let stream = stream_of(&node, "s").await;
    let me = node.local_id().clone();
    let log = append_n(&stream, 5).await;

    let mut all = stream.subscribe_from(VersionVector::new());
    assert_eq!(take(&mut all, 5).await, log);
    let mut from_three = VersionVector::new();
    from_three.raise(&me, 3);
    let mut tail = stream.subscribe_from(from_three);
    assert_eq!(sequences(&take(&mut tail, 2).await), [4, 5]);
    let mut now = stream.subscribe_from(stream.version().await.unwrap());

    let more = append_n(&stream, 2).await;
    assert_eq!(take(&mut all, 2).await, more);
    assert_eq!(take(&mut tail, 2).await, more);
    assert_eq!(take(&mut now, 2).await, more);
    for feed in [&mut all, &mut tail, &mut now] {
        nothing_more(feed).await;
    }

    // A version ahead of what is held: nothing it covers comes, ever.
    let mut ahead = VersionVector::new();
    ahead.raise(&me, 9);
    let mut ahead = stream.subscribe_from(ahead);
    append_n(&stream, 3).await; // sequences 8 to 10
    assert_eq!(sequences(&take(&mut ahead, 1).await), [10]);
}

/// Entries committed after the feed read the store's version, before it
/// replays and goes live, come live (the subscription was registered
/// first), once.
#[tokio::test]
async fn entries_committed_between_the_version_read_and_going_live_come_once() {
    let (node, store) = node_with(Config::default()).await;
    let stream = stream_of(&node, "s").await;
    append_n(&stream, 3).await;
    let (read, version_read) = oneshot::channel();
    let (resume, resumed) = oneshot::channel();
    *store.version_gate.lock().unwrap() = Some(VersionGate {
        read,
        resume: resumed,
    });
    let mut feed = stream.subscribe_from(VersionVector::new());
    let reader = tokio::spawn(async move {
        let got = take(&mut feed, 5).await;
        nothing_more(&mut feed).await;
        got
    });
    version_read.await.unwrap(); // the feed holds version 3
    append_n(&stream, 2).await; // committed and published now
    resume.send(()).unwrap();
    assert_eq!(sequences(&reader.await.unwrap()), [1, 2, 3, 4, 5]);
}

/// Appends race the subscription: whenever it is opened and however the
/// replay and the live part interleave with commits, each entry comes
/// exactly once, each author's in sequence order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_from_under_concurrent_appends_has_no_gap_and_no_duplicate() {
    let (node, store) = node_with(Config::default()).await;
    let stream = stream_of(&node, "s").await;
    append_n(&stream, 50).await;
    // The writer commits while the feeds' store reads are under way (and
    // between reading the version and whatever follows).
    store.slow_reads.store(true, Ordering::SeqCst);
    let writer = {
        let stream = stream.clone();
        tokio::spawn(async move {
            for round in 0..100 {
                append_n(&stream, 1 + round % 7).await;
                tokio::task::yield_now().await;
            }
        })
    };
    let total = 50 + (0..100).map(|round| 1 + round % 7).sum::<usize>();
    // Readers open their feed at different points of the writing and read
    // it at once, so replays and commits interleave.
    let mut readers = Vec::new();
    for _ in 0..20 {
        let mut feed = stream.subscribe_from(VersionVector::new());
        readers.push(tokio::spawn(async move {
            let got = take(&mut feed, total).await;
            nothing_more(&mut feed).await;
            got
        }));
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    for reader in readers {
        let got = reader.await.unwrap();
        assert_eq!(sequences(&got), (1..=total as u64).collect::<Vec<_>>());
    }
}

/// A reader far slower than the node's subscription capacity loses
/// nothing and sees no lag error: the feed reads what it missed from the
/// store.
#[tokio::test]
async fn a_slow_reader_of_subscribe_from_catches_up_from_the_store() {
    let (node, _) = node_with(Config::default().stream_capacity(4)).await;
    let stream = stream_of(&node, "s").await;
    let mut feed = stream.subscribe_from(VersionVector::new());
    append_n(&stream, 3).await;
    assert_eq!(sequences(&take(&mut feed, 2).await), [1, 2]);
    for _ in 0..10 {
        append_n(&stream, 5).await;
    }
    let rest = take(&mut feed, 51).await;
    assert_eq!(sequences(&rest), (3..=53).collect::<Vec<_>>());
    nothing_more(&mut feed).await;

    // The plain subscription reports the lag.
    let mut plain = stream.subscribe();
    append_n(&stream, 10).await;
    let first = plain.next().await.unwrap();
    assert!(matches!(first, Err(Error::Lagged { .. })), "{first:?}");
}

#[tokio::test]
async fn subscribe_from_skips_what_compaction_removed() {
    let (node, store) = node_with(Config::default()).await;
    let stream = stream_of(&node, "s").await;
    append_n(&stream, 6).await;
    let me = node.local_id().clone();
    let mut base = VersionVector::new();
    base.raise(&me, 4);
    store
        .compact(stream.channel_id(), stream.id(), &base)
        .await
        .unwrap();
    let mut feed = stream.subscribe_from(VersionVector::new());
    assert_eq!(sequences(&take(&mut feed, 2).await), [5, 6]);
    append_n(&stream, 1).await;
    assert_eq!(sequences(&take(&mut feed, 1).await), [7]);
    nothing_more(&mut feed).await;
}

/// A feed from a version ends with the node: its live part ends on
/// dispose, a closed store ends it too, and an ended feed stays ended.
#[tokio::test]
async fn a_feed_from_a_version_ends_when_the_node_is_disposed() {
    let (node, store) = node_with(Config::default()).await;
    let stream = stream_of(&node, "s").await;
    append_n(&stream, 2).await;
    let mut feed = stream.subscribe_from(VersionVector::new());
    assert_eq!(sequences(&take(&mut feed, 2).await), [1, 2]);
    let mut unread = stream.subscribe_from(VersionVector::new());
    node.dispose().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), feed.next()).await;
    assert!(matches!(end, Ok(None)), "{end:?}");
    assert!(feed.next().await.is_none(), "stays ended");

    // Opened before dispose, first polled after it, on a store that
    // dispose closed: no error, the end.
    store.closed.store(true, Ordering::SeqCst);
    let end = tokio::time::timeout(Duration::from_secs(10), unread.next()).await;
    assert!(matches!(end, Ok(None)), "{end:?}");
    assert!(unread.next().await.is_none(), "stays ended");
}
