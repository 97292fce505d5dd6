//! How domain values are stored in SQLite columns, and back.
//!
//! SQLite integers are signed 64-bit. Timestamps use the whole `u64` range, so
//! they are stored as `as_u64() ^ (1 << 63)` reinterpreted as `i64`: the
//! mapping is a bijection that preserves order, so `ORDER BY hlc` and
//! row-value comparisons sort like [`Hlc`]. Sequences, counts and bytes are
//! always below `2^63` (sequences are contiguous from 1); anything read back
//! that is negative is reported as corruption.
//!
//! An entry's link (`previous`) is a 32-byte blob and its signature NULL or
//! a 64-byte blob; any other length read back is corruption.

use gossip_core::{
    ChannelId, EntryHash, Hlc, LogEntry, NodeId, Signature, StoreErrorKind, StoreResult, StreamId,
};
use sqlx::{sqlite::SqliteRow, Row};

use crate::error::{corrupt, store_error};

const SIGN: u64 = 1 << 63;

/// A timestamp as stored: order-preserving `u64` → `i64`.
pub(crate) fn hlc_to_sql(hlc: Hlc) -> i64 {
    i64::from_be_bytes((hlc.as_u64() ^ SIGN).to_be_bytes())
}

/// A stored timestamp back (every `i64` is a valid one).
pub(crate) fn hlc_from_sql(value: i64) -> Hlc {
    Hlc::from_u64(u64::from_be_bytes(value.to_be_bytes()) ^ SIGN)
}

/// A sequence, count or size to store; values of `2^63` and more cannot be.
pub(crate) fn u64_to_sql(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        store_error(
            StoreErrorKind::Other,
            format!("{what} {value} is out of range (at most {})", i64::MAX),
        )
    })
}

/// A sequence, count or size read back; negative values mean corruption.
pub(crate) fn u64_from_sql(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| corrupt(format!("negative {what} {value} in the database")))
}

/// A limit as SQLite's `LIMIT` takes it.
pub(crate) fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A node id read back.
pub(crate) fn node_id(value: &str) -> StoreResult<NodeId> {
    NodeId::new(value).map_err(|e| corrupt(format!("invalid node id in the database: {e}")))
}

/// A stream id read back.
pub(crate) fn stream_id(value: &str) -> StoreResult<StreamId> {
    StreamId::new(value).map_err(|e| corrupt(format!("invalid stream id in the database: {e}")))
}

/// A channel id read back.
pub(crate) fn channel_id(value: &str) -> StoreResult<ChannelId> {
    ChannelId::new(value).map_err(|e| corrupt(format!("invalid channel id in the database: {e}")))
}

/// Column list matching [`entry_from_row`].
pub(crate) const ENTRY_COLUMNS: &str = "author, seq, hlc, payload, signature, previous";

fn column<'r, T>(row: &'r SqliteRow, index: usize) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(index)
        .map_err(|e| corrupt(format!("unreadable entry column {index}: {e}")).with_source(e))
}

/// Decodes a row selected with [`ENTRY_COLUMNS`].
pub(crate) fn entry_from_row(row: &SqliteRow) -> StoreResult<LogEntry> {
    let author = node_id(column::<&str>(row, 0)?)?;
    let sequence = u64_from_sql(column(row, 1)?, "sequence")?;
    let timestamp = hlc_from_sql(column(row, 2)?);
    let payload = column::<Option<Vec<u8>>>(row, 3)?.unwrap_or_default();
    let signature = column::<Option<&[u8]>>(row, 4)?
        .map(|bytes| signature(bytes, &author, sequence))
        .transpose()?;
    let previous = previous(column::<&[u8]>(row, 5)?, &author, sequence)?;
    let mut entry = LogEntry::new(author, sequence, timestamp, payload);
    entry.signature = signature;
    entry.previous = previous;
    Ok(entry)
}

/// A stored signature back: exactly 64 bytes.
fn signature(bytes: &[u8], author: &NodeId, sequence: u64) -> StoreResult<Signature> {
    <[u8; 64]>::try_from(bytes)
        .map(Signature::from_bytes)
        .map_err(|_| {
            corrupt(format!(
                "entry {author}#{sequence} has a signature of {} bytes in the database \
                 (a signature is 64 bytes)",
                bytes.len()
            ))
        })
}

/// A stored link back: exactly 32 bytes.
fn previous(bytes: &[u8], author: &NodeId, sequence: u64) -> StoreResult<EntryHash> {
    <[u8; 32]>::try_from(bytes)
        .map(EntryHash::from_bytes)
        .map_err(|_| {
            corrupt(format!(
                "entry {author}#{sequence} has a previous-entry hash of {} bytes in the \
                 database (a hash is 32 bytes)",
                bytes.len()
            ))
        })
}

/// `SUM` expression of the bytes an entry accounts for (payload + signature),
/// matching [`LogEntry::size_bytes`] as long as signatures are 64 bytes
/// (which reading checks); the fixed-size link is not counted.
pub(crate) const ENTRY_BYTES_SQL: &str =
    "COALESCE(length(payload), 0) + COALESCE(length(signature), 0)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hlc_encoding_preserves_order_over_the_whole_range() {
        let values = [
            0,
            1,
            (1 << 16) - 1,
            1 << 16,
            (1 << 62) + 5,
            (1 << 63) - 1,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        for pair in values.windows(2) {
            let (a, b) = (Hlc::from_u64(pair[0]), Hlc::from_u64(pair[1]));
            assert!(hlc_to_sql(a) < hlc_to_sql(b), "{a:?} < {b:?}");
        }
        for v in values {
            let hlc = Hlc::from_u64(v);
            assert_eq!(hlc_from_sql(hlc_to_sql(hlc)), hlc);
        }
        assert_eq!(hlc_to_sql(Hlc::ZERO), i64::MIN);
    }

    #[test]
    fn out_of_range_values_are_errors() {
        assert!(u64_to_sql(u64::MAX, "sequence").is_err());
        assert_eq!(u64_to_sql(7, "sequence").unwrap(), 7);
        assert_eq!(
            u64_from_sql(-1, "sequence").unwrap_err().kind(),
            StoreErrorKind::Corrupt
        );
        assert_eq!(limit_to_sql(usize::MAX), i64::MAX);
    }
}
