//! Conversions from RocksDB failures to [`StoreError`].
//!
//! The core never names RocksDB types: every failure becomes a
//! [`StoreError`] of backend `"rocksdb"` with the RocksDB error boxed as its
//! source.

use gossip_core::{StoreError, StoreErrorKind};

/// The backend name carried by every error of this crate.
pub(crate) const BACKEND: &str = "rocksdb";

/// A new error of this backend.
pub(crate) fn store_error(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
    StoreError::new(BACKEND, kind, message)
}

/// Data read from the database does not decode: it is damaged or was
/// written by something else.
pub(crate) fn corrupt(message: impl Into<String>) -> StoreError {
    store_error(StoreErrorKind::Corrupt, message)
}

/// Which [`StoreErrorKind`] a RocksDB failure is.
pub(crate) fn kind_of(err: &rocksdb::Error) -> StoreErrorKind {
    use rocksdb::ErrorKind as K;
    match err.kind() {
        K::Corruption => StoreErrorKind::Corrupt,
        K::Busy | K::TimedOut | K::TryAgain | K::Incomplete => StoreErrorKind::Unavailable,
        K::IOError if is_lock_conflict(err) => StoreErrorKind::Unavailable,
        K::ShutdownInProgress => StoreErrorKind::Closed,
        _ => StoreErrorKind::Other,
    }
}

/// Whether `err` says another process (or another open store in this one)
/// holds the directory's `LOCK` file. RocksDB reports the first as
/// `While lock file: <path>/LOCK: Resource temporarily unavailable` and the
/// second as `lock hold by current process ...`; a `LOCK` file that cannot
/// be *opened* (a read-only directory) is not a lock conflict.
fn is_lock_conflict(err: &rocksdb::Error) -> bool {
    let message = err.as_ref();
    message.contains("While lock file") || message.contains("lock hold by current process")
}

/// Whether `err` says the files cannot be written (permissions or a
/// read-only file system).
fn is_not_writable(err: &rocksdb::Error) -> bool {
    let message = err.as_ref();
    message.contains("Permission denied") || message.contains("Read-only file system")
}

/// Converts a RocksDB failure met while doing `context` into a [`StoreError`].
pub(crate) fn from_rocksdb(context: &str, err: rocksdb::Error) -> StoreError {
    let kind = kind_of(&err);
    let hint = if kind == StoreErrorKind::Unavailable && is_lock_conflict(&err) {
        " (the database is open in another store or process)"
    } else if kind == StoreErrorKind::Other && is_not_writable(&err) {
        " (the database directory or its files are not writable: read-only)"
    } else {
        ""
    };
    StoreError::new(BACKEND, kind, format!("{context}: {err}{hint}")).with_source(err)
}

/// `map_err` adapter: `.map_err(db_err("reading entries"))`.
pub(crate) fn db_err(context: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError {
    move |err| from_rocksdb(context, err)
}
