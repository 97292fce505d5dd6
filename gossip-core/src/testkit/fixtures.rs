//! Builders and helpers shared by the conformance suites: ids, entries, temp
//! dirs and a runtime to run a suite function from a plain `#[test]`.
//!
//! ```
//! use gossip_core::testkit::fixtures::{entries, node};
//!
//! let a = node("a");
//! // Sequences 1..=3 of author `a`, written at 10, 20 and 30 ms.
//! let batch = entries(&a, 1..=3, |seq| seq * 10);
//! assert_eq!(batch.len(), 3);
//! assert_eq!(batch[2].timestamp.physical_ms(), 30);
//! ```

// Test support: a panic is how a suite reports a failure, and every value
// unwrapped here is built by the suite itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{
    future::Future,
    ops::RangeInclusive,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::{
    domain::{ChannelId, EntryKey, Hlc, LogEntry, NodeId, StreamId, VersionVector},
    error::StoreErrorKind,
    identity::Identity,
    ports::{Store, StoreResult, StreamStats},
};

/// The seeded [`Identity`] of a test node called `name`
/// ([`Identity::from_seed`]): the same on every run and machine.
#[must_use]
pub fn identity(name: &str) -> Identity {
    Identity::from_seed(name)
}

/// The [`NodeId`] of [`identity(name)`](identity).
#[must_use]
pub fn node(name: &str) -> NodeId {
    identity(name).node_id().clone()
}

/// A valid [`ChannelId`]. Panics on an invalid name.
#[must_use]
pub fn channel(name: &str) -> ChannelId {
    ChannelId::new(name).expect("valid channel id")
}

/// A valid [`StreamId`]. Panics on an invalid name.
#[must_use]
pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("valid stream id")
}

/// An [`Hlc`] from its parts. Panics beyond the largest physical time.
#[must_use]
pub fn hlc(physical_ms: u64, logical: u16) -> Hlc {
    Hlc::new(physical_ms, logical).expect("valid hlc")
}

/// The payload [`entry`] gives `(author, sequence)`: unique per identity, of
/// varying length so that byte counts are not a multiple of the entry count.
#[must_use]
pub fn payload(author: &NodeId, sequence: u64) -> Vec<u8> {
    format!("{author}#{sequence}").into_bytes()
}

/// Entry `sequence` of `author`, written at `ts_ms` milliseconds, with the
/// deterministic [`payload`].
#[must_use]
pub fn entry(author: &NodeId, sequence: u64, ts_ms: u64) -> LogEntry {
    LogEntry::new(
        author.clone(),
        sequence,
        hlc(ts_ms, 0),
        payload(author, sequence),
    )
}

/// Entries `seqs` of `author`, each written at `ts_ms(sequence)` milliseconds.
#[must_use]
pub fn entries(
    author: &NodeId,
    seqs: RangeInclusive<u64>,
    ts_ms: impl Fn(u64) -> u64,
) -> Vec<LogEntry> {
    seqs.map(|seq| entry(author, seq, ts_ms(seq))).collect()
}

/// `entries` sorted in read order `(timestamp, author, sequence)`.
#[must_use]
pub fn in_read_order(mut entries: Vec<LogEntry>) -> Vec<LogEntry> {
    entries.sort_by_key(LogEntry::key);
    entries
}

/// Sum of [`LogEntry::size_bytes`].
#[must_use]
pub fn total_bytes(entries: &[LogEntry]) -> u64 {
    entries.iter().map(LogEntry::size_bytes).sum()
}

/// Reads a whole stream by paging `page` entries at a time, checking on the
/// way that no page exceeds `page` entries. Panics if a read fails.
pub async fn read_all<S: Store + ?Sized>(
    store: &S,
    channel: &ChannelId,
    stream: &StreamId,
    page: usize,
) -> Vec<LogEntry> {
    let mut out: Vec<LogEntry> = Vec::new();
    let mut after: Option<EntryKey> = None;
    loop {
        let batch = store
            .read(channel, stream, after.as_ref(), page)
            .await
            .expect("read");
        assert!(
            batch.len() <= page,
            "read returned {} entries with limit {page}",
            batch.len()
        );
        // Keys must be strictly after the cursor and ascending; checked here
        // so that a store ignoring the cursor fails instead of looping.
        let mut previous = after.take();
        for entry in &batch {
            let key = entry.key();
            assert!(
                previous.as_ref().is_none_or(|p| *p < key),
                "read returned {key:?} after {previous:?}: \
                 not in read order, or not after the cursor"
            );
            previous = Some(key);
        }
        if batch.is_empty() {
            return out;
        }
        after = previous;
        out.extend(batch);
    }
}

/// Reads all of one author's entries after `after` by paging `page` at a time.
/// Panics if a read fails.
pub async fn read_author_all<S: Store + ?Sized>(
    store: &S,
    channel: &ChannelId,
    stream: &StreamId,
    author: &NodeId,
    mut after: u64,
    page: usize,
) -> Vec<LogEntry> {
    let mut out: Vec<LogEntry> = Vec::new();
    loop {
        let batch = store
            .read_author(channel, stream, author, after, page)
            .await
            .expect("read_author");
        assert!(batch.len() <= page, "read_author exceeded its limit");
        for entry in &batch {
            assert!(
                entry.author == *author && entry.sequence > after,
                "read_author returned {}#{} after {after}: wrong author, or not ascending",
                entry.author,
                entry.sequence
            );
            after = entry.sequence;
        }
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// A fresh, unique directory under [`std::env::temp_dir`], removed (with its
/// contents) when dropped, also when the test panics.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates a new empty directory named after `label`, the process id, a
    /// process-wide counter and the current time in nanoseconds.
    #[must_use]
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "gossip-testkit-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create test dir");
        Self { path }
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir must not fail the test.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs a suite future to completion on a fresh multi-threaded tokio runtime
/// (time and I/O drivers enabled). Used by the conformance macros so that the
/// calling crate needs no tokio dependency of its own.
pub fn run<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("build tokio runtime")
        .block_on(future)
}

/// Everything a store reports about one stream, for "nothing changed" checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSnapshot {
    /// The whole stream in read order.
    pub entries: Vec<LogEntry>,
    /// [`Store::version`].
    pub version: VersionVector,
    /// [`Store::base`].
    pub base: VersionVector,
    /// [`Store::stats`].
    pub stats: StreamStats,
}

/// Takes a [`StreamSnapshot`] of `channel/stream`. Panics if a read fails.
pub async fn snapshot<S: Store + ?Sized>(
    store: &S,
    channel: &ChannelId,
    stream: &StreamId,
) -> StreamSnapshot {
    StreamSnapshot {
        entries: read_all(store, channel, stream, 64).await,
        version: store.version(channel, stream).await.expect("version"),
        base: store.base(channel, stream).await.expect("base"),
        stats: store.stats(channel, stream).await.expect("stats"),
    }
}

/// Asserts that `result` failed with `kind`; `context` says which call it was.
#[track_caller]
pub fn assert_err_kind<T: std::fmt::Debug>(
    result: StoreResult<T>,
    kind: StoreErrorKind,
    context: &str,
) {
    match result {
        Err(err) => assert_eq!(err.kind(), kind, "{context}: wrong error kind: {err}"),
        Ok(value) => panic!("{context}: expected a {kind} error, got Ok({value:?})"),
    }
}

/// A version vector from `(author, sequence)` pairs.
#[must_use]
pub fn vv(pairs: &[(&NodeId, u64)]) -> VersionVector {
    pairs.iter().map(|(a, s)| ((*a).clone(), *s)).collect()
}
