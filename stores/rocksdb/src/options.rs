//! [`RocksDbStoreOptions`]: where the database lives, how hard it syncs,
//! how much it caches.
//!
//! ```
//! use gossip_store_rocksdb::RocksDbStoreOptions;
//!
//! let options = RocksDbStoreOptions::new("node.rocksdb")
//!     .sync_writes(false)
//!     .create_if_missing(false)
//!     .block_cache_bytes(64 << 20)
//!     .write_buffer_bytes(16 << 20);
//! assert_eq!(options.path(), std::path::Path::new("node.rocksdb"));
//! ```

use std::path::{Path, PathBuf};

/// Default size of the block cache shared by all column families: 32 MiB.
pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 32 << 20;

/// Default cap on the memtables of all column families together: 32 MiB.
pub const DEFAULT_WRITE_BUFFER_BYTES: usize = 32 << 20;

/// Options for [`RocksDbStore::open_with`](crate::RocksDbStore::open_with).
///
/// Defaults: writes synced to disk, the directory created if missing, a
/// [`DEFAULT_BLOCK_CACHE_BYTES`] block cache and
/// [`DEFAULT_WRITE_BUFFER_BYTES`] of memtables: the store's memory stays
/// bounded by those two however many entries it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RocksDbStoreOptions {
    pub(crate) path: PathBuf,
    pub(crate) sync_writes: bool,
    pub(crate) create_if_missing: bool,
    pub(crate) block_cache_bytes: usize,
    pub(crate) write_buffer_bytes: usize,
}

impl RocksDbStoreOptions {
    /// Options for a database directory at `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            sync_writes: true,
            create_if_missing: true,
            block_cache_bytes: DEFAULT_BLOCK_CACHE_BYTES,
            write_buffer_bytes: DEFAULT_WRITE_BUFFER_BYTES,
        }
    }

    /// Whether every write is synced to disk (the write-ahead log is
    /// `fsync`ed) before it returns. Default `true`: an append that returned
    /// `Ok` survives a process kill, an OS crash and a power loss.
    ///
    /// With `false` a write returns once it is in the write-ahead log in the
    /// OS's page cache: it still survives a process kill, but the last writes
    /// may be lost on an OS crash or power loss. Much faster for small batches.
    #[must_use]
    pub fn sync_writes(mut self, sync: bool) -> Self {
        self.sync_writes = sync;
        self
    }

    /// Whether a missing directory is created (default) or is an error.
    #[must_use]
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Sets the size in bytes of the LRU block cache shared by all column
    /// families (uncompressed blocks of recently read data).
    #[must_use]
    pub fn block_cache_bytes(mut self, bytes: usize) -> Self {
        self.block_cache_bytes = bytes;
        self
    }

    /// Caps the memory of the memtables (recent writes not yet flushed to
    /// files) of all column families together; past it RocksDB flushes.
    /// Larger absorbs bigger bursts with fewer flushes, smaller bounds memory.
    #[must_use]
    pub fn write_buffer_bytes(mut self, bytes: usize) -> Self {
        self.write_buffer_bytes = bytes;
        self
    }

    /// The database directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether every write is synced to disk before it returns.
    #[must_use]
    pub fn is_sync_writes(&self) -> bool {
        self.sync_writes
    }
}
