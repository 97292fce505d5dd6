//! Conversions from sqlx / SQLite failures to [`StoreError`].
//!
//! The core never names sqlx types: every failure becomes a [`StoreError`] of
//! backend `"sqlite"` with the sqlx error boxed as its source.

use gossip_core::{StoreError, StoreErrorKind};

/// The backend name carried by every error of this crate.
pub(crate) const BACKEND: &str = "sqlite";

// SQLite primary result codes (the low byte of an extended code).
const SQLITE_PERM: i32 = 3;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_NOTADB: i32 = 26;

/// A new error of this backend.
pub(crate) fn store_error(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
    StoreError::new(BACKEND, kind, message)
}

/// Data read from the database does not decode: the file is damaged or was
/// written by something else.
pub(crate) fn corrupt(message: impl Into<String>) -> StoreError {
    store_error(StoreErrorKind::Corrupt, message)
}

/// The primary SQLite result code of a database error, if it is one.
fn primary_code(err: &sqlx::Error) -> Option<i32> {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff),
        _ => None,
    }
}

/// Which [`StoreErrorKind`] a sqlx failure is.
pub(crate) fn kind_of(err: &sqlx::Error) -> StoreErrorKind {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreErrorKind::AlreadyExists,
        sqlx::Error::Database(_) => match primary_code(err) {
            Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreErrorKind::Unavailable,
            Some(SQLITE_CORRUPT | SQLITE_NOTADB) => StoreErrorKind::Corrupt,
            _ => StoreErrorKind::Other,
        },
        sqlx::Error::PoolTimedOut => StoreErrorKind::Unavailable,
        sqlx::Error::PoolClosed => StoreErrorKind::Closed,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Other,
    }
}

/// A hint appended to the message for failures whose SQLite code says more
/// than sqlx's text (disk full, permissions, missing file).
fn hint(err: &sqlx::Error) -> &'static str {
    match primary_code(err) {
        Some(SQLITE_FULL) => " (disk full)",
        Some(SQLITE_IOERR) => " (i/o error)",
        Some(SQLITE_CANTOPEN) => " (cannot open the file: missing, or a directory not writable)",
        Some(SQLITE_READONLY | SQLITE_PERM) => " (read-only or permission denied)",
        Some(SQLITE_CORRUPT) => " (the database file is damaged)",
        Some(SQLITE_NOTADB) => " (not a SQLite database)",
        _ => "",
    }
}

/// Converts a sqlx failure met while doing `context` into a [`StoreError`].
pub(crate) fn from_sqlx(context: &str, err: sqlx::Error) -> StoreError {
    let kind = kind_of(&err);
    let message = format!("{context}: {err}{}", hint(&err));
    StoreError::new(BACKEND, kind, message).with_source(err)
}

/// `map_err` adapter: `.map_err(sqlx_err("reading entries"))`.
pub(crate) fn sqlx_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| from_sqlx(context, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_states_map_to_kinds() {
        assert_eq!(kind_of(&sqlx::Error::PoolClosed), StoreErrorKind::Closed);
        assert_eq!(
            kind_of(&sqlx::Error::PoolTimedOut),
            StoreErrorKind::Unavailable
        );
        let err = from_sqlx("appending", sqlx::Error::PoolTimedOut);
        assert!(err.is_transient());
        assert_eq!(err.backend(), "sqlite");
        assert!(err.to_string().contains("appending"));
        assert!(std::error::Error::source(&err).is_some());
    }
}
