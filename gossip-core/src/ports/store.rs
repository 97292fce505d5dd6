//! The store port: entries, channels, peers and the persisted clock.
//!
//! One value serves all three roles of the original design (`EntryStore`,
//! `ChannelRepository`, `PeerRepository`). Implementations are proven by the
//! conformance suite in [`testkit::store`](crate::testkit) (feature `testkit`).
//!
//! Entries are the source of truth: the version vector, counts and bytes are
//! derived from what is stored, so a crash can never leave metadata claiming
//! more than the store holds.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    domain::{Channel, ChannelId, EntryKey, Hlc, LogEntry, NodeId, StreamId, VersionVector},
    error::StoreError,
};

/// `Result` of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The store erased to a trait object, as held by a built node.
pub type DynStore = Arc<dyn Store>;

/// What a store guarantees beyond the common contract. The conformance suite
/// reads these flags to select what applies; nothing is skipped silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreCapabilities {
    /// Everything acknowledged survives closing the store and reopening it
    /// (and, for the persistent stores, a process kill).
    pub durable: bool,
}

impl StoreCapabilities {
    /// Capabilities of a store that keeps nothing across restarts.
    #[must_use]
    pub fn volatile() -> Self {
        Self { durable: false }
    }

    /// Capabilities of a store whose acknowledged writes survive a restart.
    #[must_use]
    pub fn durable() -> Self {
        Self { durable: true }
    }
}

/// Figures about one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamStats {
    /// Entries held.
    pub entries: u64,
    /// Payload (and signature) bytes held.
    pub bytes: u64,
}

impl StreamStats {
    /// Figures for `entries` entries holding `bytes` bytes.
    #[must_use]
    pub fn new(entries: u64, bytes: u64) -> Self {
        Self { entries, bytes }
    }
}

/// A known peer, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PeerRecord {
    /// The peer's id.
    pub id: NodeId,
    /// A transport address, if the application gave one (opaque to the core).
    pub address: Option<String>,
}

impl PeerRecord {
    /// A peer with no address.
    #[must_use]
    pub fn new(id: NodeId) -> Self {
        Self { id, address: None }
    }

    /// Sets the transport address.
    #[must_use]
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
}

/// Persistence for a node: entries of every stream, channels, peers, clock.
///
/// All methods take `&self`: a store is shared (`Arc`) and must be `Send + Sync`.
/// An operation that returns `Err` has changed nothing.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name of the backend, e.g. `"memory"` or `"sqlite"`.
    fn backend(&self) -> &'static str;

    /// What this store guarantees.
    fn capabilities(&self) -> StoreCapabilities;

    /// Appends entries to a stream, atomically.
    ///
    /// # Behavior
    ///
    /// - All entries are written, or none is.
    /// - Within the batch, each author's entries must be ascending and
    ///   contiguous, the first following the author's current version
    ///   (highest held sequence, or compaction base); otherwise
    ///   [`StoreErrorKind::NonContiguous`](crate::StoreErrorKind::NonContiguous).
    /// - An entry whose `(author, sequence)` is already held fails the batch
    ///   with [`StoreErrorKind::AlreadyExists`](crate::StoreErrorKind::AlreadyExists).
    /// - An empty batch succeeds and changes nothing.
    /// - Appending to a stream never written before creates it.
    ///
    /// The rules on sequences are implemented once, by
    /// [`AppendValidator`](crate::AppendValidator): look up each author's
    /// [`AuthorPosition`](crate::AuthorPosition) where the write will happen
    /// (transaction, lock, snapshot), validate, and write only what it
    /// accepts. Every store of this workspace does so.
    ///
    /// # Errors
    ///
    /// The validator's rejection, as
    /// [`AppendRejection::into_store_error`](crate::AppendRejection::into_store_error);
    /// or a backend failure. Either way nothing was written.
    async fn append(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) -> StoreResult<()>;

    /// Reads a page of a stream in read order `(timestamp, author, sequence)`.
    ///
    /// # Behavior
    ///
    /// - Returns at most `limit` entries whose key is strictly greater than
    ///   `after` (from the start when `None`), in read order.
    /// - Paging with the last returned key visits every entry exactly once.
    /// - An unknown stream reads as empty.
    async fn read(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>>;

    /// Reads one author's entries with sequence greater than `after`, ascending.
    ///
    /// # Behavior
    ///
    /// - Returns at most `limit` entries of `author`, in sequence order,
    ///   starting at the first held sequence greater than `after`.
    /// - Entries removed by compaction or truncation are not returned.
    /// - Any `after` is valid: past the highest held sequence (up to
    ///   `u64::MAX`) the read is empty.
    ///
    /// This is the range read behind deltas,
    /// [`StreamHandle::entries_by`](crate::StreamHandle::entries_by) and the
    /// replay of
    /// [`StreamHandle::subscribe_from`](crate::StreamHandle::subscribe_from):
    /// it should cost what it returns (an index range), not a scan of the
    /// stream.
    async fn read_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>>;

    /// The stream's version vector.
    ///
    /// # Behavior
    ///
    /// - For each author: the highest sequence held, or the compaction base
    ///   when that is higher (everything compacted). Authors with neither are absent.
    /// - Derived from what is stored: a failed append never shows in it.
    async fn version(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector>;

    /// The stream's compaction base: per author, the last sequence removed.
    ///
    /// # Behavior
    ///
    /// - Empty until [`compact`](Store::compact) raised it; never lowered.
    async fn base(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector>;

    /// Entries and bytes held by a stream.
    ///
    /// # Behavior
    ///
    /// - Counts what is held now: appends add, compaction and truncation
    ///   subtract.
    async fn stats(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<StreamStats>;

    /// The streams of a channel that hold entries or a compaction base, sorted.
    async fn streams(&self, channel: &ChannelId) -> StoreResult<Vec<StreamId>>;

    /// Removes, per author, the prefix of entries with sequence `<= base[author]`
    /// and raises the stored base to it, atomically. Returns how many entries
    /// were removed.
    ///
    /// # Behavior
    ///
    /// - Only ever removes a prefix of each author's log; other authors and
    ///   streams are untouched.
    /// - A base at or below the current one changes nothing.
    /// - A base beyond the highest held sequence removes all of that author's
    ///   entries; the version then equals the base and the next append of that
    ///   author must follow it.
    async fn compact(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        base: &VersionVector,
    ) -> StoreResult<u64>;

    /// Removes `author`'s entries of the stream with a sequence greater than
    /// `after`, atomically, and returns how many were removed: what a
    /// membership removal's cut-off denies (entries a member wrote after it
    /// was removed, accepted here before the removal was known).
    ///
    /// # Behavior
    ///
    /// - Only ever removes a suffix of one author's log: afterwards the
    ///   author's held entries are exactly those with sequence `<= after`
    ///   (and above its compaction base), and its version is the smaller of
    ///   its former version and `after`, or the base when that is higher. An
    ///   author left with neither entries nor a base is absent from the
    ///   version.
    /// - `after` below the base removes every held entry of the author and
    ///   leaves the base as it is: the base is never lowered.
    /// - Other authors, streams and channels, and the author's entries at or
    ///   below `after`, are untouched; [`stats`](Store::stats) drop by what
    ///   was removed.
    /// - The author's next append must follow the new version: the removed
    ///   sequences can be appended again, from `after + 1` (or the base + 1).
    /// - An unknown stream or author, or `after` at or above the author's
    ///   highest held sequence, removes nothing and returns 0.
    /// - All of the removal (entries, version, stats) is written, or none of
    ///   it, also across a crash.
    async fn truncate_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64>;

    /// Saves (inserts or replaces) a channel's record.
    async fn save_channel(&self, channel: &Channel) -> StoreResult<()>;

    /// Every saved channel, sorted by id.
    async fn load_channels(&self) -> StoreResult<Vec<Channel>>;

    /// Deletes a channel's record and every entry and base of its streams.
    ///
    /// # Behavior
    ///
    /// - Deleting an unknown channel succeeds and changes nothing.
    async fn delete_channel(&self, channel: &ChannelId) -> StoreResult<()>;

    /// Saves (inserts or replaces) a peer.
    async fn save_peer(&self, peer: &PeerRecord) -> StoreResult<()>;

    /// Every saved peer, sorted by id.
    async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>>;

    /// Forgets a peer. Forgetting an unknown peer succeeds.
    async fn remove_peer(&self, peer: &NodeId) -> StoreResult<()>;

    /// Persists the node's clock so that a restarted node never issues a
    /// smaller timestamp.
    ///
    /// # Behavior
    ///
    /// - Never lowers the saved value: saving an older timestamp keeps the newer one.
    async fn save_clock(&self, clock: Hlc) -> StoreResult<()>;

    /// The saved clock, if any.
    async fn load_clock(&self) -> StoreResult<Option<Hlc>>;

    /// Removes everything: entries, bases, channels, peers and clock.
    async fn clear(&self) -> StoreResult<()>;

    /// Flushes and releases resources. Later calls may fail with
    /// [`StoreErrorKind::Closed`](crate::StoreErrorKind::Closed).
    ///
    /// # Behavior
    ///
    /// - Everything acknowledged before `close` is kept (for durable stores,
    ///   on disk).
    async fn close(&self) -> StoreResult<()> {
        Ok(())
    }
}

macro_rules! forward_store {
    ($($ptr:tt)*) => {
        // Forwards every method, defaulted ones included.
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<S: Store + ?Sized> Store for $($ptr)*<S> {
            fn backend(&self) -> &'static str {
                (**self).backend()
            }
            fn capabilities(&self) -> StoreCapabilities {
                (**self).capabilities()
            }
            async fn append(&self, c: &ChannelId, s: &StreamId, e: &[LogEntry]) -> StoreResult<()> {
                (**self).append(c, s, e).await
            }
            async fn read(
                &self,
                c: &ChannelId,
                s: &StreamId,
                after: Option<&EntryKey>,
                limit: usize,
            ) -> StoreResult<Vec<LogEntry>> {
                (**self).read(c, s, after, limit).await
            }
            async fn read_author(
                &self,
                c: &ChannelId,
                s: &StreamId,
                a: &NodeId,
                after: u64,
                limit: usize,
            ) -> StoreResult<Vec<LogEntry>> {
                (**self).read_author(c, s, a, after, limit).await
            }
            async fn version(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
                (**self).version(c, s).await
            }
            async fn base(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
                (**self).base(c, s).await
            }
            async fn stats(&self, c: &ChannelId, s: &StreamId) -> StoreResult<StreamStats> {
                (**self).stats(c, s).await
            }
            async fn streams(&self, c: &ChannelId) -> StoreResult<Vec<StreamId>> {
                (**self).streams(c).await
            }
            async fn compact(&self, c: &ChannelId, s: &StreamId, b: &VersionVector) -> StoreResult<u64> {
                (**self).compact(c, s, b).await
            }
            async fn truncate_author(
                &self,
                c: &ChannelId,
                s: &StreamId,
                a: &NodeId,
                after: u64,
            ) -> StoreResult<u64> {
                (**self).truncate_author(c, s, a, after).await
            }
            async fn save_channel(&self, c: &Channel) -> StoreResult<()> {
                (**self).save_channel(c).await
            }
            async fn load_channels(&self) -> StoreResult<Vec<Channel>> {
                (**self).load_channels().await
            }
            async fn delete_channel(&self, c: &ChannelId) -> StoreResult<()> {
                (**self).delete_channel(c).await
            }
            async fn save_peer(&self, p: &PeerRecord) -> StoreResult<()> {
                (**self).save_peer(p).await
            }
            async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>> {
                (**self).load_peers().await
            }
            async fn remove_peer(&self, p: &NodeId) -> StoreResult<()> {
                (**self).remove_peer(p).await
            }
            async fn save_clock(&self, h: Hlc) -> StoreResult<()> {
                (**self).save_clock(h).await
            }
            async fn load_clock(&self) -> StoreResult<Option<Hlc>> {
                (**self).load_clock().await
            }
            async fn clear(&self) -> StoreResult<()> {
                (**self).clear().await
            }
            async fn close(&self) -> StoreResult<()> {
                (**self).close().await
            }
        }
    };
}

forward_store!(Arc);
forward_store!(Box);
