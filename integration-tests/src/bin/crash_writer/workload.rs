//! What the crash writer writes, shared by the writer and the tests that check
//! its work: the ids, the store kinds, and each entry as a pure function of its
//! sequence, so a checker can tell a correct entry from a half-written one.
//!
//! ```text
//! entry(seq) = LogEntry { author: "writer", sequence: seq,
//!                         timestamp: Hlc(EPOCH_MS + seq, 0), payload: payload(seq) }
//! ```
//!
//! Included with `#[path]` by `src/bin/crash_writer.rs` and by
//! `tests/crash_*.rs`; each includer uses a part of it.

use std::{fmt, path::Path, sync::Arc};

use gossip_core::{
    raw::SeededRng, Channel, ChannelId, DynStore, Hlc, Identity, LogEntry, NodeId, Store,
    StoreResult, StreamId,
};
use integration_tests::EPOCH_MS;

/// The persistent stores the crash tests cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// `gossip-store-sqlite`.
    Sqlite,
    /// `gossip-store-rocksdb` (feature `rocksdb`).
    #[cfg(feature = "rocksdb")]
    RocksDb,
}

impl StoreKind {
    /// Every kind compiled in.
    pub(crate) const ALL: &'static [StoreKind] = &[
        StoreKind::Sqlite,
        #[cfg(feature = "rocksdb")]
        StoreKind::RocksDb,
    ];

    /// The name used on the writer's command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            #[cfg(feature = "rocksdb")]
            StoreKind::RocksDb => "rocksdb",
        }
    }

    /// The kind named `name`, if compiled in.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Opens (creating if missing) the store at `path`.
    pub(crate) async fn open(self, path: &Path) -> StoreResult<DynStore> {
        Ok(match self {
            StoreKind::Sqlite => Arc::new(gossip_store_sqlite::SqliteStore::open(path).await?),
            #[cfg(feature = "rocksdb")]
            StoreKind::RocksDb => Arc::new(gossip_store_rocksdb::RocksDbStore::open(path).await?),
        })
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The channel the writer appends to.
#[allow(clippy::expect_used, reason = "cannot fail: checked by inspection")]
pub(crate) fn channel() -> ChannelId {
    ChannelId::new("crash").expect("a valid literal id")
}

/// The stream the writer appends to.
#[allow(clippy::expect_used, reason = "cannot fail: checked by inspection")]
pub(crate) fn stream() -> StreamId {
    StreamId::new("log").expect("a valid literal id")
}

/// The writer's node id: the author of every entry it writes.
#[allow(clippy::expect_used, reason = "cannot fail: checked by inspection")]
pub(crate) fn author_identity() -> Identity {
    Identity::from_seed("writer")
}

pub(crate) fn author() -> NodeId {
    author_identity().node_id().clone()
}

/// The channel record the writer saves before its first append, as a node
/// would: a node restarted on the store then knows the channel and its stream.
pub(crate) fn channel_record() -> Channel {
    Channel::new(channel(), author())
}

/// The payload of the entry with sequence `seq`: a readable header, then
/// 0–199 pseudo-random bytes seeded by `seq` (sizes vary from entry to entry).
pub(crate) fn payload(seq: u64) -> Vec<u8> {
    let mut rng = SeededRng::new(seq ^ 0xC0FF_EE00_D15E_A5E5);
    let mut bytes = format!("writer#{seq}|").into_bytes();
    let filler = rng.below(200);
    bytes.extend((0..filler).map(|_| rng.below(256) as u8));
    bytes
}

/// The entry with sequence `seq`, exactly as the writer appends it.
#[allow(clippy::expect_used, reason = "cannot fail: checked by inspection")]
pub(crate) fn entry(seq: u64) -> LogEntry {
    let timestamp = Hlc::new(EPOCH_MS + seq, 0).expect("EPOCH_MS + seq fits 48 bits");
    LogEntry::new(author(), seq, timestamp, payload(seq))
}

/// The batch of `size` entries that follows sequence `last`.
pub(crate) fn batch(last: u64, size: u64) -> Vec<LogEntry> {
    (last + 1..=last + size).map(entry).collect()
}

/// The writer's highest held sequence in `store`: where it resumes.
pub(crate) async fn held(store: &dyn Store) -> StoreResult<u64> {
    Ok(store.version(&channel(), &stream()).await?.get(&author()))
}
