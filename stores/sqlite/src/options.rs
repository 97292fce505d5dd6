//! [`SqliteStoreOptions`]: where the database lives and how hard it syncs.
//!
//! ```
//! use std::time::Duration;
//! use gossip_store_sqlite::{SqliteStoreOptions, SqliteSynchronous};
//!
//! let options = SqliteStoreOptions::new("app.db")
//!     .synchronous(SqliteSynchronous::Normal)
//!     .busy_timeout(Duration::from_secs(10))
//!     .create_if_missing(false);
//! assert_eq!(options.path(), Some(std::path::Path::new("app.db")));
//! ```

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

/// How hard SQLite syncs commits to disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// Every commit is synced to disk before the append returns: it survives
    /// a process kill and a power loss. The default.
    #[default]
    Full,
    /// In WAL mode, commits survive a process kill but the last ones may be
    /// lost on power loss or an OS crash. Several times faster for small
    /// batches.
    Normal,
}

impl SqliteSynchronous {
    /// The sqlx setting (kept private: sqlx types stay out of the public API).
    pub(crate) fn to_sqlx(self) -> sqlx::sqlite::SqliteSynchronous {
        match self {
            SqliteSynchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
            SqliteSynchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
        }
    }
}

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    File(PathBuf),
    Memory,
}

/// Options for [`SqliteStore::open_with`](crate::SqliteStore::open_with).
///
/// Defaults: synchronous [`Full`](SqliteSynchronous::Full), busy timeout
/// 5 s, the file created if missing, 4 read connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteStoreOptions {
    pub(crate) location: Location,
    pub(crate) synchronous: SqliteSynchronous,
    pub(crate) busy_timeout: Duration,
    pub(crate) create_if_missing: bool,
    pub(crate) read_connections: u32,
}

impl SqliteStoreOptions {
    /// Options for a database file at `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self::at(Location::File(path.as_ref().to_path_buf()))
    }

    /// Options for a private in-memory database: real SQLite, nothing
    /// persisted (the store then reports itself as not durable).
    #[must_use]
    pub fn in_memory() -> Self {
        Self::at(Location::Memory)
    }

    fn at(location: Location) -> Self {
        Self {
            location,
            synchronous: SqliteSynchronous::Full,
            busy_timeout: Duration::from_secs(5),
            create_if_missing: true,
            read_connections: 4,
        }
    }

    /// Sets how hard commits are synced to disk.
    #[must_use]
    pub fn synchronous(mut self, synchronous: SqliteSynchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Sets how long an operation waits for a lock held by another process
    /// (or another connection) before failing with
    /// [`StoreErrorKind::Unavailable`](gossip_core::StoreErrorKind::Unavailable).
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether a missing file is created (default) or is an error.
    #[must_use]
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Sets how many connections serve reads concurrently with the single
    /// writer (at least 1; ignored in memory, where one connection serves all).
    #[must_use]
    pub fn read_connections(mut self, connections: u32) -> Self {
        self.read_connections = connections.max(1);
        self
    }

    /// The database file, or `None` in memory.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::File(path) => Some(path),
            Location::Memory => None,
        }
    }

    /// Whether the database lives in memory.
    #[must_use]
    pub fn is_in_memory(&self) -> bool {
        self.location == Location::Memory
    }
}
