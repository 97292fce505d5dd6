//! [`SqliteStore`]: opening, pools, closing, and the [`Store`] impl.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use gossip_core::{
    Channel, ChannelId, EntryKey, Hlc, LogEntry, NodeId, PeerRecord, Store, StoreCapabilities,
    StoreResult, StreamId, StreamStats, VersionVector,
};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions},
    ConnectOptions, Connection,
};

use crate::{
    error::{from_sqlx, BACKEND},
    options::{Location, SqliteStoreOptions},
    schema,
};

/// A [`Store`] in a SQLite database (through sqlx, SQLite bundled).
///
/// Cheap to clone: clones share the same pools. Writes go through a single
/// connection (SQLite allows one writer at a time; queueing them in-process
/// avoids `SQLITE_BUSY` retries), reads through a small pool of read-only
/// connections that WAL lets run alongside the writer.
///
/// ```
/// use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StreamId};
/// use gossip_store_sqlite::SqliteStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let store = SqliteStore::in_memory().await?;
/// let (channel, stream) = (ChannelId::new("c")?, StreamId::new("s")?);
/// let entry = LogEntry::new(NodeId::from_seed("a"), 1, Hlc::new(1, 0)?, b"hi".to_vec());
/// store.append(&channel, &stream, &[entry.clone()]).await?;
/// assert_eq!(store.read(&channel, &stream, None, 10).await?, vec![entry]);
/// store.close().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// One connection: every write transaction.
    pub(crate) writer: SqlitePool,
    /// Read-only connections (the writer pool itself in memory).
    pub(crate) reader: SqlitePool,
    /// Names the database in messages and `Debug`.
    label: String,
    durable: bool,
    /// In memory: an idle connection that keeps the shared in-memory
    /// database alive for as long as the store is open, whatever the pool does.
    anchor: Mutex<Option<SqliteConnection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("database", &self.inner.label)
            .field("durable", &self.inner.durable)
            .field("closed", &self.inner.writer.is_closed())
            .finish()
    }
}

static MEMORY_DATABASES: AtomicU64 = AtomicU64::new(0);

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`, with the
    /// default [`SqliteStoreOptions`].
    ///
    /// # Errors
    ///
    /// See [`open_with`](Self::open_with).
    pub async fn open(path: impl AsRef<std::path::Path>) -> StoreResult<Self> {
        Self::open_with(SqliteStoreOptions::new(path)).await
    }

    /// A private in-memory database: real SQLite, nothing persisted;
    /// [`capabilities`](Store::capabilities) report it as not durable.
    ///
    /// # Errors
    ///
    /// See [`open_with`](Self::open_with).
    pub async fn in_memory() -> StoreResult<Self> {
        Self::open_with(SqliteStoreOptions::in_memory()).await
    }

    /// Opens a database as `options` say, checks it and migrates it to the
    /// current schema version.
    ///
    /// # Errors
    ///
    /// - [`IncompatibleSchema`](gossip_core::StoreErrorKind::IncompatibleSchema):
    ///   the file was written by a newer schema version, holds entries of
    ///   schema version 1 (which predate signed, hash-linked entries), or is
    ///   a SQLite database of another application. Nothing is modified.
    /// - [`Corrupt`](gossip_core::StoreErrorKind::Corrupt): the file is not a
    ///   SQLite database or is damaged. Nothing is modified.
    /// - [`Unavailable`](gossip_core::StoreErrorKind::Unavailable): another
    ///   process held a lock longer than the busy timeout.
    /// - [`Other`](gossip_core::StoreErrorKind::Other): the file is missing
    ///   (with `create_if_missing(false)`), not accessible, or the disk failed.
    ///
    /// Every message names the file.
    pub async fn open_with(options: SqliteStoreOptions) -> StoreResult<Self> {
        match &options.location {
            Location::File(path) => {
                let label = path.display().to_string();
                Self::open_file(&options, path, label).await
            }
            Location::Memory => Self::open_memory(&options).await,
        }
    }

    fn connect_options(options: &SqliteStoreOptions) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .busy_timeout(options.busy_timeout)
            .synchronous(options.synchronous.to_sqlx())
            .foreign_keys(false)
            .statement_cache_capacity(64)
            .disable_statement_logging()
    }

    async fn open_file(
        options: &SqliteStoreOptions,
        path: &std::path::Path,
        label: String,
    ) -> StoreResult<Self> {
        let connect = Self::connect_options(options)
            .filename(path)
            .create_if_missing(options.create_if_missing);
        let writer = writer_pool()
            .connect_with(connect.clone())
            .await
            .map_err(|e| from_sqlx(&format!("{label}: opening"), e))?;
        if let Err(err) = migrate(&writer, &label, true).await {
            writer.close().await;
            return Err(err);
        }
        // Opened only after the writer switched the file to WAL and migrated
        // it, so read-only connections always find the -shm file and tables.
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .connect_lazy_with(connect.read_only(true).create_if_missing(false));
        tracing::debug!(file = %label, "sqlite store opened");
        Ok(Self::from_parts(writer, reader, label, true, None))
    }

    async fn open_memory(options: &SqliteStoreOptions) -> StoreResult<Self> {
        let n = MEMORY_DATABASES.fetch_add(1, Ordering::Relaxed);
        let label = format!("in-memory database #{n}");
        // A named, shared-cache in-memory database, so the anchor connection
        // keeps it alive even if the pool ever replaces its connection.
        let connect = Self::connect_options(options)
            .filename(format!(
                "file:gossip-store-sqlite-{}-{n}",
                std::process::id()
            ))
            .in_memory(true)
            .shared_cache(true)
            .create_if_missing(true);
        let anchor = connect
            .connect()
            .await
            .map_err(|e| from_sqlx(&format!("{label}: opening"), e))?;
        // One connection for reads and writes: with a shared cache, a second
        // one would meet table locks (SQLITE_LOCKED) that no timeout waits for.
        let pool = writer_pool().min_connections(1).connect_lazy_with(connect);
        if let Err(err) = migrate(&pool, &label, false).await {
            pool.close().await;
            // Best effort: the error above is the one worth returning.
            let _ = anchor.close().await;
            return Err(err);
        }
        Ok(Self::from_parts(
            pool.clone(),
            pool,
            label,
            false,
            Some(anchor),
        ))
    }

    fn from_parts(
        writer: SqlitePool,
        reader: SqlitePool,
        label: String,
        durable: bool,
        anchor: Option<SqliteConnection>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                writer,
                reader,
                label,
                durable,
                anchor: Mutex::new(anchor),
            }),
        }
    }

    /// The database file, or a description of the in-memory database.
    #[must_use]
    pub fn database(&self) -> &str {
        &self.inner.label
    }

    async fn close_pools(&self) -> StoreResult<()> {
        let inner = &self.inner;
        if inner.writer.is_closed() {
            return Ok(());
        }
        if inner.durable {
            inner.reader.close().await;
            // Fold the WAL into the main file and truncate it, so a closed
            // store is one self-contained file.
            let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&inner.writer)
                .await;
            if let Err(err) = checkpoint {
                // Not fatal: the WAL is still complete and is replayed on open.
                tracing::warn!(file = %inner.label, error = %err, "WAL checkpoint on close failed");
            }
        }
        inner.writer.close().await;
        let anchor = inner
            .anchor
            .lock()
            .map_or_else(|poisoned| poisoned.into_inner().take(), |mut a| a.take());
        if let Some(anchor) = anchor {
            anchor
                .close()
                .await
                .map_err(|e| from_sqlx(&format!("{}: closing", inner.label), e))?;
        }
        tracing::debug!(database = %inner.label, "sqlite store closed");
        Ok(())
    }
}

fn writer_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
}

async fn migrate(pool: &SqlitePool, label: &str, wal: bool) -> StoreResult<()> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| from_sqlx(&format!("{label}: opening"), e))?;
    schema::prepare(&mut conn, label, wal).await
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> StoreCapabilities {
        if self.inner.durable {
            StoreCapabilities::durable()
        } else {
            StoreCapabilities::volatile()
        }
    }

    async fn append(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) -> StoreResult<()> {
        self.append_entries(channel, stream, entries).await
    }

    async fn read(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        self.read_entries(channel, stream, after, limit).await
    }

    async fn read_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        self.read_author_entries(channel, stream, author, after, limit)
            .await
    }

    async fn version(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector> {
        self.stream_version(channel, stream).await
    }

    async fn base(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector> {
        self.stream_base(channel, stream).await
    }

    async fn stats(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<StreamStats> {
        self.stream_stats(channel, stream).await
    }

    async fn streams(&self, channel: &ChannelId) -> StoreResult<Vec<StreamId>> {
        self.channel_streams(channel).await
    }

    async fn compact(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        base: &VersionVector,
    ) -> StoreResult<u64> {
        self.compact_entries(channel, stream, base).await
    }

    async fn truncate_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64> {
        self.truncate_author_entries(channel, stream, author, after)
            .await
    }

    async fn save_channel(&self, channel: &Channel) -> StoreResult<()> {
        self.save_channel_record(channel).await
    }

    async fn load_channels(&self) -> StoreResult<Vec<Channel>> {
        self.load_channel_records().await
    }

    async fn delete_channel(&self, channel: &ChannelId) -> StoreResult<()> {
        self.delete_channel_data(channel).await
    }

    async fn save_peer(&self, peer: &PeerRecord) -> StoreResult<()> {
        self.save_peer_record(peer).await
    }

    async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>> {
        self.load_peer_records().await
    }

    async fn remove_peer(&self, peer: &NodeId) -> StoreResult<()> {
        self.remove_peer_record(peer).await
    }

    async fn save_clock(&self, clock: Hlc) -> StoreResult<()> {
        self.save_clock_value(clock).await
    }

    async fn load_clock(&self) -> StoreResult<Option<Hlc>> {
        self.load_clock_value().await
    }

    async fn clear(&self) -> StoreResult<()> {
        self.clear_all().await
    }

    async fn close(&self) -> StoreResult<()> {
        self.close_pools().await
    }
}
