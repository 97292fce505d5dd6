//! [`RocksDbStore`]: opening, the blocking-task bridge, closing, and the
//! [`Store`] impl.

use std::{
    fmt,
    path::Path,
    sync::{Arc, Mutex, MutexGuard, RwLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use gossip_core::{
    Channel, ChannelId, EntryKey, Hlc, LogEntry, NodeId, PeerRecord, Store, StoreCapabilities,
    StoreErrorKind, StoreResult, StreamId, StreamStats, VersionVector,
};
use rocksdb::{
    ColumnFamily, DBIteratorWithThreadMode, Direction, IteratorMode, ReadOptions, WriteBatch,
    WriteOptions, DB,
};

use crate::{
    entries,
    error::{corrupt, from_rocksdb, store_error, BACKEND},
    records, schema, RocksDbStoreOptions,
};

/// A [`Store`] in a RocksDB database (bundled RocksDB, one directory per node).
///
/// Cheap to clone: clones share the same database. Every RocksDB call runs on
/// tokio's blocking thread pool ([`tokio::task::spawn_blocking`]), never on
/// the executor's worker threads, so the store needs a tokio runtime. Writes
/// are serialized by one in-process lock, so an append's contiguity check
/// and its [`WriteBatch`] are atomic together; reads run concurrently, each
/// on a consistent snapshot.
///
/// Call [`close`](Store::close) before dropping the last clone: it releases
/// the directory off the executor and waits for operations in flight, so the
/// directory can be reopened at once.
///
/// ```
/// use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StreamId};
/// use gossip_store_rocksdb::RocksDbStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = std::env::temp_dir().join(format!("gossip-rocksdb-doc-{}", std::process::id()));
/// let store = RocksDbStore::open(&dir).await?;
/// let (channel, stream) = (ChannelId::new("c")?, StreamId::new("s")?);
/// let entry = LogEntry::new(NodeId::from_seed("a"), 1, Hlc::new(1, 0)?, b"hi".to_vec());
/// store.append(&channel, &stream, &[entry.clone()]).await?;
/// assert_eq!(store.read(&channel, &stream, None, 10).await?, vec![entry]);
/// store.close().await?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RocksDbStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed.
    db: RwLock<Option<Arc<DB>>>,
    /// Held by every write, for the whole validate-then-write.
    writer: Mutex<()>,
    write_options: WriteOptions,
    sync_writes: bool,
    /// The directory, for messages and `Debug`.
    label: String,
}

impl fmt::Debug for RocksDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksDbStore")
            .field("directory", &self.inner.label)
            .field("sync_writes", &self.inner.sync_writes)
            .field("closed", &self.current().is_none())
            .finish()
    }
}

/// What a blocking task works with: the database and the store's shared
/// state. Holding one keeps the database open.
pub(crate) struct Handle {
    pub(crate) db: Arc<DB>,
    inner: Arc<Inner>,
}

impl Handle {
    /// A column family of the schema.
    pub(crate) fn cf(&self, name: &str) -> StoreResult<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| {
            corrupt(format!(
                "{}: column family {name} is missing",
                self.inner.label
            ))
        })
    }

    /// Takes the single-writer lock. It guards no data, so a panic in
    /// another writer (which wrote nothing: batches are atomic) does not
    /// make it unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes a batch atomically, synced as the options say.
    pub(crate) fn write(&self, batch: WriteBatch, what: &str) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.db
            .write_opt(batch, &self.inner.write_options)
            .map_err(|e| from_rocksdb(&format!("{}: {what}", self.inner.label), e))
    }

    /// Iterates `cf` from `from` (inclusive) to `end` (exclusive).
    pub(crate) fn scan(
        &self,
        cf: &ColumnFamily,
        from: &[u8],
        end: Vec<u8>,
    ) -> DBIteratorWithThreadMode<'_, DB> {
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(end);
        self.db
            .iterator_cf_opt(cf, options, IteratorMode::From(from, Direction::Forward))
    }

    /// The directory, for messages.
    pub(crate) fn label(&self) -> &str {
        &self.inner.label
    }
}

impl RocksDbStore {
    /// Opens (creating if missing) the database directory at `path`, with
    /// the default [`RocksDbStoreOptions`].
    ///
    /// # Errors
    ///
    /// See [`open_with`](Self::open_with).
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(RocksDbStoreOptions::new(path)).await
    }

    /// Opens a database directory as `options` say, after checking what it
    /// holds (read-only) and creating it if it is missing or empty.
    ///
    /// # Errors
    ///
    /// - [`Corrupt`](gossip_core::StoreErrorKind::Corrupt): the path is a
    ///   file, or a directory that holds files but not a readable RocksDB
    ///   database. Nothing is modified.
    /// - [`IncompatibleSchema`](gossip_core::StoreErrorKind::IncompatibleSchema):
    ///   the database was written by a newer schema version, holds entries
    ///   of schema version 1 (which predate signed, hash-linked entries), or
    ///   is a RocksDB database of another application. Nothing is modified.
    /// - [`Unavailable`](gossip_core::StoreErrorKind::Unavailable): the
    ///   database is open in another store or process.
    /// - [`Other`](gossip_core::StoreErrorKind::Other): the directory is
    ///   missing (with `create_if_missing(false)`), not accessible, or the
    ///   disk failed.
    ///
    /// Every message names the directory.
    pub async fn open_with(options: RocksDbStoreOptions) -> StoreResult<Self> {
        let label = options.path.display().to_string();
        let opened = {
            let label = label.clone();
            let options = options.clone();
            tokio::task::spawn_blocking(move || schema::open(&options))
                .await
                .map_err(|e| {
                    store_error(
                        StoreErrorKind::Other,
                        format!("{label}: opening: the blocking task failed: {e}"),
                    )
                })?
        };
        let db = opened?;
        let mut write_options = WriteOptions::default();
        write_options.set_sync(options.sync_writes);
        tracing::debug!(directory = %label, sync_writes = options.sync_writes, "rocksdb store opened");
        Ok(Self {
            inner: Arc::new(Inner {
                db: RwLock::new(Some(Arc::new(db))),
                writer: Mutex::new(()),
                write_options,
                sync_writes: options.sync_writes,
                label,
            }),
        })
    }

    /// The database directory.
    #[must_use]
    pub fn directory(&self) -> &str {
        &self.inner.label
    }

    /// The open database, for white-box tests.
    #[cfg(test)]
    pub(crate) fn test_handle(&self) -> Handle {
        Handle {
            db: self
                .current()
                .unwrap_or_else(|| unreachable!("test store is closed")),
            inner: Arc::clone(&self.inner),
        }
    }

    fn current(&self) -> Option<Arc<DB>> {
        self.inner
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` on the blocking thread pool with the open database.
    async fn blocking<T, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Handle) -> StoreResult<T> + Send + 'static,
    {
        let Some(db) = self.current() else {
            return Err(store_error(
                StoreErrorKind::Closed,
                format!("{}: {what}: the store is closed", self.inner.label),
            ));
        };
        let handle = Handle {
            db,
            inner: Arc::clone(&self.inner),
        };
        tokio::task::spawn_blocking(move || f(&handle))
            .await
            .map_err(|e| {
                store_error(
                    StoreErrorKind::Other,
                    format!(
                        "{}: {what}: the blocking task failed: {e}",
                        self.inner.label
                    ),
                )
            })?
    }

    async fn close_db(&self) -> StoreResult<()> {
        let taken = self
            .inner
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut db) = taken else {
            return Ok(());
        };
        let label = self.inner.label.clone();
        let closed = tokio::task::spawn_blocking(move || {
            // Operations in flight hold the database; wait (bounded) for them
            // so the directory's lock is released when `close` returns.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match Arc::try_unwrap(db) {
                    Ok(owned) => {
                        let synced = owned.flush_wal(true);
                        drop(owned);
                        return synced;
                    }
                    Err(shared) if Instant::now() >= deadline => {
                        tracing::warn!(directory = %label, "closing while operations are in flight");
                        return shared.flush_wal(true);
                    }
                    Err(shared) => {
                        db = shared;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        })
        .await
        .map_err(|e| {
            store_error(
                StoreErrorKind::Other,
                format!(
                    "{}: closing: the blocking task failed: {e}",
                    self.inner.label
                ),
            )
        })?;
        closed.map_err(|e| from_rocksdb(&format!("{}: closing", self.inner.label), e))?;
        tracing::debug!(directory = %self.inner.label, "rocksdb store closed");
        Ok(())
    }
}

#[async_trait]
impl Store for RocksDbStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::durable()
    }

    async fn append(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let (c, s, batch) = (channel.clone(), stream.clone(), entries.to_vec());
        self.blocking("appending", move |h| entries::append(h, &c, &s, &batch))
            .await
    }

    async fn read(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (c, s, after) = (channel.clone(), stream.clone(), after.cloned());
        self.blocking("reading entries", move |h| {
            entries::read(h, &c, &s, after.as_ref(), limit)
        })
        .await
    }

    async fn read_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        if limit == 0 || after == u64::MAX {
            return Ok(Vec::new());
        }
        let (c, s, a) = (channel.clone(), stream.clone(), author.clone());
        self.blocking("reading an author's entries", move |h| {
            entries::read_author(h, &c, &s, &a, after, limit)
        })
        .await
    }

    async fn version(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector> {
        let (c, s) = (channel.clone(), stream.clone());
        self.blocking("reading a version", move |h| {
            entries::vector(h, &c, &s, |state| state.version())
        })
        .await
    }

    async fn base(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector> {
        let (c, s) = (channel.clone(), stream.clone());
        self.blocking("reading a base", move |h| {
            entries::vector(h, &c, &s, |state| state.base)
        })
        .await
    }

    async fn stats(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<StreamStats> {
        let (c, s) = (channel.clone(), stream.clone());
        self.blocking("reading stream stats", move |h| entries::stats(h, &c, &s))
            .await
    }

    async fn streams(&self, channel: &ChannelId) -> StoreResult<Vec<StreamId>> {
        let c = channel.clone();
        self.blocking("listing streams", move |h| entries::streams(h, &c))
            .await
    }

    async fn compact(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        base: &VersionVector,
    ) -> StoreResult<u64> {
        if base.is_empty() {
            return Ok(0);
        }
        let (c, s, b) = (channel.clone(), stream.clone(), base.clone());
        self.blocking("compacting", move |h| entries::compact(h, &c, &s, &b))
            .await
    }

    async fn truncate_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64> {
        let (c, s, a) = (channel.clone(), stream.clone(), author.clone());
        self.blocking("truncating an author", move |h| {
            entries::truncate_author(h, &c, &s, &a, after)
        })
        .await
    }

    async fn save_channel(&self, channel: &Channel) -> StoreResult<()> {
        let record = channel.clone();
        self.blocking("saving a channel", move |h| {
            records::save_channel(h, &record)
        })
        .await
    }

    async fn load_channels(&self) -> StoreResult<Vec<Channel>> {
        self.blocking("loading channels", records::load_channels)
            .await
    }

    async fn delete_channel(&self, channel: &ChannelId) -> StoreResult<()> {
        let c = channel.clone();
        self.blocking("deleting a channel", move |h| {
            records::delete_channel(h, &c)
        })
        .await
    }

    async fn save_peer(&self, peer: &PeerRecord) -> StoreResult<()> {
        let record = peer.clone();
        self.blocking("saving a peer", move |h| records::save_peer(h, &record))
            .await
    }

    async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>> {
        self.blocking("loading peers", records::load_peers).await
    }

    async fn remove_peer(&self, peer: &NodeId) -> StoreResult<()> {
        let p = peer.clone();
        self.blocking("removing a peer", move |h| records::remove_peer(h, &p))
            .await
    }

    async fn save_clock(&self, clock: Hlc) -> StoreResult<()> {
        self.blocking("saving the clock", move |h| records::save_clock(h, clock))
            .await
    }

    async fn load_clock(&self) -> StoreResult<Option<Hlc>> {
        self.blocking("loading the clock", records::load_clock)
            .await
    }

    async fn clear(&self) -> StoreResult<()> {
        self.blocking("clearing", records::clear).await
    }

    async fn close(&self) -> StoreResult<()> {
        self.close_db().await
    }
}
