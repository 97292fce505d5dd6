//! Entries of streams: append, read in read order, per-author reads,
//! versions, stats, compaction and truncation.
//!
//! The `authors` table keeps, per (stream, author), the highest sequence
//! appended (`head`), the compaction `base`, and the entries and bytes held.
//! It is written in the same transaction as the entries it describes, so it
//! never disagrees with them, and it turns `version`, `stats` and the
//! contiguity check of `append` into a few primary-key lookups instead of
//! scans of the stream.

use std::{collections::BTreeMap, sync::LazyLock};

use gossip_core::{
    AppendValidator, AuthorPosition, ChannelId, EntryKey, LogEntry, NodeId, StoreResult, StreamId,
    StreamStats, VersionVector,
};
use sqlx::sqlite::SqliteConnection;

use crate::{
    codec::{
        entry_from_row, hlc_to_sql, limit_to_sql, node_id, stream_id, u64_from_sql, u64_to_sql,
        ENTRY_BYTES_SQL, ENTRY_COLUMNS,
    },
    error::{sqlx_err, BACKEND},
    SqliteStore,
};

/// Rows per multi-row `INSERT`, largest first. A batch is split into these
/// sizes (binary decomposition below the largest), so only eight statements
/// are ever prepared and cached, and the largest binds 8 × 128 = 1 024
/// parameters, far below SQLite's limit of 32 766.
const INSERT_ROWS: [usize; 8] = [128, 64, 32, 16, 8, 4, 2, 1];

static INSERT_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    INSERT_ROWS
        .iter()
        .map(|&rows| {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
            format!(
                "INSERT INTO entries \
                 (channel, stream, author, seq, hlc, payload, signature, previous) \
                 VALUES {values}"
            )
        })
        .collect()
});

/// The statement and row count for the next chunk of `remaining` rows.
fn insert_chunk(remaining: usize) -> (&'static str, usize) {
    INSERT_ROWS
        .iter()
        .zip(INSERT_SQL.iter())
        .find(|(rows, _)| **rows <= remaining)
        .map_or(("", 0), |(rows, sql)| (sql.as_str(), *rows))
}

static COMPACTED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT COUNT(*), COALESCE(SUM({ENTRY_BYTES_SQL}), 0) FROM entries \
         WHERE channel = ? AND stream = ? AND author = ? AND seq <= ?"
    )
});

static TRUNCATED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT COUNT(*), COALESCE(SUM({ENTRY_BYTES_SQL}), 0) FROM entries \
         WHERE channel = ? AND stream = ? AND author = ? AND seq > ?"
    )
});

async fn author_state(
    conn: &mut SqliteConnection,
    channel: &ChannelId,
    stream: &StreamId,
    author: &NodeId,
) -> StoreResult<(u64, u64)> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT head, base FROM authors WHERE channel = ? AND stream = ? AND author = ?",
    )
    .bind(channel.as_str())
    .bind(stream.as_str())
    .bind(author.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(sqlx_err("reading an author's version"))?;
    match row {
        Some((head, base)) => Ok((u64_from_sql(head, "head")?, u64_from_sql(base, "base")?)),
        None => Ok((0, 0)),
    }
}

impl SqliteStore {
    pub(crate) async fn append_entries(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sqlx_err("starting an append"))?;

        // The append contract, checked against the authors' positions read
        // in the same (immediate) transaction as the write.
        let validator = AppendValidator::new(entries);
        let mut positions = BTreeMap::new();
        for author in validator.authors() {
            let (head, base) = author_state(&mut tx, channel, stream, author).await?;
            positions.insert(author, AuthorPosition::new(base, head));
        }
        let plan = validator
            .validate(|author| positions.get(author).copied().unwrap_or_default())
            .map_err(|rejection| rejection.into_store_error(BACKEND, channel, stream))?;
        // Sequences are stored as i64; refuse the (unreachable in practice)
        // ones that do not fit before writing anything. Each author's
        // sequences are contiguous, so its last one decides.
        for (_, append) in plan.authors() {
            u64_to_sql(append.last(), "sequence")?;
        }

        let mut rest = entries;
        while !rest.is_empty() {
            let (sql, rows) = insert_chunk(rest.len());
            let (chunk, tail) = rest.split_at(rows.max(1).min(rest.len()));
            let mut query = sqlx::query(sql);
            for entry in chunk {
                query = query
                    .bind(channel.as_str())
                    .bind(stream.as_str())
                    .bind(entry.author.as_str())
                    .bind(u64_to_sql(entry.sequence, "sequence")?)
                    .bind(hlc_to_sql(entry.timestamp))
                    .bind(entry.payload.as_ref())
                    .bind(entry.signature.map(|s| s.to_bytes().to_vec()))
                    .bind(entry.previous.as_bytes().as_slice());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(sqlx_err("inserting entries"))?;
            rest = tail;
        }

        for (author, append) in plan.authors() {
            sqlx::query(
                "INSERT INTO authors (channel, stream, author, head, base, entries, bytes) \
                 VALUES (?, ?, ?, ?, 0, ?, ?) \
                 ON CONFLICT (channel, stream, author) DO UPDATE SET \
                 head = excluded.head, \
                 entries = entries + excluded.entries, \
                 bytes = bytes + excluded.bytes",
            )
            .bind(channel.as_str())
            .bind(stream.as_str())
            .bind(author.as_str())
            .bind(u64_to_sql(append.last(), "sequence")?)
            .bind(u64_to_sql(append.entries(), "entry count")?)
            .bind(u64_to_sql(append.bytes(), "bytes")?)
            .execute(&mut *tx)
            .await
            .map_err(sqlx_err("updating stream counters"))?;
        }

        tx.commit()
            .await
            .map_err(sqlx_err("committing an append"))?;
        Ok(())
    }

    pub(crate) async fn read_entries(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        static FROM_START: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE channel = ? AND stream = ? \
                 ORDER BY hlc, author, seq LIMIT ?"
            )
        });
        static AFTER: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE channel = ? AND stream = ? \
                 AND (hlc, author, seq) > (?, ?, ?) ORDER BY hlc, author, seq LIMIT ?"
            )
        });
        let query = match after {
            None => sqlx::query(FROM_START.as_str())
                .bind(channel.as_str())
                .bind(stream.as_str()),
            Some(key) => sqlx::query(AFTER.as_str())
                .bind(channel.as_str())
                .bind(stream.as_str())
                .bind(hlc_to_sql(key.timestamp))
                .bind(key.author.as_str())
                // No stored sequence exceeds i64::MAX, so clamping the cursor
                // selects exactly the same entries.
                .bind(i64::try_from(key.sequence).unwrap_or(i64::MAX)),
        };
        let rows = query
            .bind(limit_to_sql(limit))
            .fetch_all(&self.inner.reader)
            .await
            .map_err(sqlx_err("reading entries"))?;
        rows.iter().map(entry_from_row).collect()
    }

    pub(crate) async fn read_author_entries(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new()); // nothing is stored beyond i64::MAX
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {ENTRY_COLUMNS} FROM entries \
                 WHERE channel = ? AND stream = ? AND author = ? AND seq > ? \
                 ORDER BY seq LIMIT ?"
            )
        });
        let rows = sqlx::query(SQL.as_str())
            .bind(channel.as_str())
            .bind(stream.as_str())
            .bind(author.as_str())
            .bind(after)
            .bind(limit_to_sql(limit))
            .fetch_all(&self.inner.reader)
            .await
            .map_err(sqlx_err("reading an author's entries"))?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn author_vector(
        &self,
        sql: &'static str,
        channel: &ChannelId,
        stream: &StreamId,
    ) -> StoreResult<VersionVector> {
        let rows: Vec<(String, i64)> = sqlx::query_as(sql)
            .bind(channel.as_str())
            .bind(stream.as_str())
            .fetch_all(&self.inner.reader)
            .await
            .map_err(sqlx_err("reading a version vector"))?;
        rows.into_iter()
            .map(|(author, seq)| Ok((node_id(&author)?, u64_from_sql(seq, "sequence")?)))
            .collect()
    }

    pub(crate) async fn stream_version(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
    ) -> StoreResult<VersionVector> {
        self.author_vector(
            "SELECT author, MAX(head, base) FROM authors \
             WHERE channel = ? AND stream = ? AND MAX(head, base) > 0",
            channel,
            stream,
        )
        .await
    }

    pub(crate) async fn stream_base(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
    ) -> StoreResult<VersionVector> {
        self.author_vector(
            "SELECT author, base FROM authors WHERE channel = ? AND stream = ? AND base > 0",
            channel,
            stream,
        )
        .await
    }

    pub(crate) async fn stream_stats(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
    ) -> StoreResult<StreamStats> {
        let (entries, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(entries), 0), COALESCE(SUM(bytes), 0) FROM authors \
             WHERE channel = ? AND stream = ?",
        )
        .bind(channel.as_str())
        .bind(stream.as_str())
        .fetch_one(&self.inner.reader)
        .await
        .map_err(sqlx_err("reading stream stats"))?;
        Ok(StreamStats::new(
            u64_from_sql(entries, "entry count")?,
            u64_from_sql(bytes, "byte count")?,
        ))
    }

    pub(crate) async fn channel_streams(&self, channel: &ChannelId) -> StoreResult<Vec<StreamId>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT stream FROM authors \
             WHERE channel = ? AND (head > 0 OR base > 0) ORDER BY stream",
        )
        .bind(channel.as_str())
        .fetch_all(&self.inner.reader)
        .await
        .map_err(sqlx_err("listing streams"))?;
        rows.iter().map(|s| stream_id(s)).collect()
    }

    pub(crate) async fn compact_entries(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        base: &VersionVector,
    ) -> StoreResult<u64> {
        if base.is_empty() {
            return Ok(0);
        }
        let mut tx = self
            .inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sqlx_err("starting a compaction"))?;
        let mut removed_total = 0u64;
        for (author, new_base) in base.iter() {
            let (head, current) = author_state(&mut tx, channel, stream, author).await?;
            if new_base <= current {
                continue;
            }
            let new_base_sql = u64_to_sql(new_base, "compaction base")?;
            let (removed, bytes) = if head > current {
                let held: (i64, i64) = sqlx::query_as(COMPACTED_SQL.as_str())
                    .bind(channel.as_str())
                    .bind(stream.as_str())
                    .bind(author.as_str())
                    .bind(new_base_sql)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(sqlx_err("counting compacted entries"))?;
                sqlx::query(
                    "DELETE FROM entries \
                     WHERE channel = ? AND stream = ? AND author = ? AND seq <= ?",
                )
                .bind(channel.as_str())
                .bind(stream.as_str())
                .bind(author.as_str())
                .bind(new_base_sql)
                .execute(&mut *tx)
                .await
                .map_err(sqlx_err("removing compacted entries"))?;
                held
            } else {
                (0, 0)
            };
            sqlx::query(
                "INSERT INTO authors (channel, stream, author, head, base, entries, bytes) \
                 VALUES (?, ?, ?, 0, ?, 0, 0) \
                 ON CONFLICT (channel, stream, author) DO UPDATE SET \
                 base = excluded.base, entries = entries - ?, bytes = bytes - ?",
            )
            .bind(channel.as_str())
            .bind(stream.as_str())
            .bind(author.as_str())
            .bind(new_base_sql)
            .bind(removed)
            .bind(bytes)
            .execute(&mut *tx)
            .await
            .map_err(sqlx_err("raising the compaction base"))?;
            removed_total += u64_from_sql(removed, "removed count")?;
        }
        tx.commit()
            .await
            .map_err(sqlx_err("committing a compaction"))?;
        if removed_total > 0 {
            tracing::debug!(%channel, %stream, removed = removed_total, "compacted");
        }
        Ok(removed_total)
    }

    pub(crate) async fn truncate_author_entries(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64> {
        let mut tx = self
            .inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sqlx_err("starting a truncation"))?;
        let (head, base) = author_state(&mut tx, channel, stream, author).await?;
        // Entries above the base are held up to the head; keep those up to
        // `after`, and everything (nothing held) at or below the base.
        let keep = after.max(base);
        if head <= keep {
            tx.rollback()
                .await
                .map_err(sqlx_err("ending a truncation"))?;
            return Ok(0);
        }
        // `keep < head`, and every stored sequence fits an i64.
        let keep_sql = u64_to_sql(keep, "sequence")?;
        let (removed, bytes): (i64, i64) = sqlx::query_as(TRUNCATED_SQL.as_str())
            .bind(channel.as_str())
            .bind(stream.as_str())
            .bind(author.as_str())
            .bind(keep_sql)
            .fetch_one(&mut *tx)
            .await
            .map_err(sqlx_err("counting truncated entries"))?;
        sqlx::query(
            "DELETE FROM entries WHERE channel = ? AND stream = ? AND author = ? AND seq > ?",
        )
        .bind(channel.as_str())
        .bind(stream.as_str())
        .bind(author.as_str())
        .bind(keep_sql)
        .execute(&mut *tx)
        .await
        .map_err(sqlx_err("removing truncated entries"))?;
        if keep == 0 {
            // No base and nothing left: the author is gone from the stream.
            sqlx::query("DELETE FROM authors WHERE channel = ? AND stream = ? AND author = ?")
                .bind(channel.as_str())
                .bind(stream.as_str())
                .bind(author.as_str())
                .execute(&mut *tx)
                .await
                .map_err(sqlx_err("removing an author's counters"))?;
        } else {
            sqlx::query(
                "UPDATE authors SET head = ?, entries = entries - ?, bytes = bytes - ? \
                 WHERE channel = ? AND stream = ? AND author = ?",
            )
            .bind(keep_sql)
            .bind(removed)
            .bind(bytes)
            .bind(channel.as_str())
            .bind(stream.as_str())
            .bind(author.as_str())
            .execute(&mut *tx)
            .await
            .map_err(sqlx_err("lowering an author's head"))?;
        }
        tx.commit()
            .await
            .map_err(sqlx_err("committing a truncation"))?;
        let removed = u64_from_sql(removed, "removed count")?;
        tracing::debug!(%channel, %stream, %author, after, removed, "truncated");
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use gossip_core::{Hlc, Store};
    use sqlx::{AssertSqlSafe, Row};

    use super::*;

    /// Per author: (max seq, entries, bytes) recomputed from the entries.
    async fn derived(
        store: &SqliteStore,
        c: &ChannelId,
        s: &StreamId,
    ) -> Vec<(String, i64, i64, i64)> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT author, MAX(seq), COUNT(*), SUM({ENTRY_BYTES_SQL}) FROM entries \
             WHERE channel = ? AND stream = ? GROUP BY author ORDER BY author"
        )))
        .bind(c.as_str())
        .bind(s.as_str())
        .fetch_all(&store.inner.reader)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
    }

    /// The same figures as kept in the `authors` table.
    async fn kept(
        store: &SqliteStore,
        c: &ChannelId,
        s: &StreamId,
    ) -> Vec<(String, i64, i64, i64)> {
        sqlx::query_as(
            "SELECT author, head, entries, bytes FROM authors \
             WHERE channel = ? AND stream = ? AND entries > 0 ORDER BY author",
        )
        .bind(c.as_str())
        .bind(s.as_str())
        .fetch_all(&store.inner.reader)
        .await
        .unwrap()
    }

    fn entry(author: &NodeId, seq: u64, size: usize) -> LogEntry {
        let mut e = LogEntry::new(
            author.clone(),
            seq,
            Hlc::new(seq * 7 % 13, 0).unwrap(),
            vec![1u8; size],
        );
        e.previous = gossip_core::EntryHash::from_bytes([seq as u8; 32]);
        if seq % 3 == 0 {
            e.signature = Some(gossip_core::Signature::from_bytes([2u8; 64]));
        }
        e
    }

    /// The kept counters agree with the entries after appends of every chunk
    /// size, failed appends and compactions.
    #[tokio::test]
    async fn counters_agree_with_entries() {
        let store = SqliteStore::in_memory().await.unwrap();
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        let authors = [NodeId::from_seed("a"), NodeId::from_seed("b")];
        let mut next = [1u64, 1];
        for (round, size) in [1usize, 2, 3, 127, 128, 129, 255, 300, 7]
            .into_iter()
            .enumerate()
        {
            let i = round % 2;
            let batch: Vec<_> = (0..size as u64)
                .map(|k| entry(&authors[i], next[i] + k, round + k as usize % 40))
                .collect();
            store.append(&c, &s, &batch).await.unwrap();
            next[i] += size as u64;
            // A failing batch: valid entries then a gap.
            let bad = vec![
                entry(&authors[i], next[i], 1),
                entry(&authors[i], next[i] + 2, 1),
            ];
            assert!(store.append(&c, &s, &bad).await.is_err());
            assert_eq!(derived(&store, &c, &s).await, kept(&store, &c, &s).await);
            if round % 3 == 2 {
                let base: VersionVector = [(authors[i].clone(), next[i] / 2)].into_iter().collect();
                store.compact(&c, &s, &base).await.unwrap();
                assert_eq!(derived(&store, &c, &s).await, kept(&store, &c, &s).await);
            }
            if round % 4 == 3 {
                // Drop the last few entries; the next append refills them.
                let after = next[i].saturating_sub(4);
                store
                    .truncate_author(&c, &s, &authors[i], after)
                    .await
                    .unwrap();
                next[i] = store.version(&c, &s).await.unwrap().get(&authors[i]) + 1;
                assert_eq!(derived(&store, &c, &s).await, kept(&store, &c, &s).await);
            }
        }
        let stats = store.stats(&c, &s).await.unwrap();
        let totals = derived(&store, &c, &s).await;
        assert_eq!(
            stats.entries,
            totals.iter().map(|t| t.2 as u64).sum::<u64>()
        );
        assert_eq!(stats.bytes, totals.iter().map(|t| t.3 as u64).sum::<u64>());
    }

    #[test]
    fn batches_split_into_few_statement_sizes() {
        for n in [1usize, 2, 3, 100, 127, 128, 129, 1000] {
            let (mut left, mut sizes) = (n, Vec::new());
            while left > 0 {
                let (sql, rows) = insert_chunk(left);
                assert_eq!(sql.matches('(').count(), rows + 1);
                sizes.push(rows);
                left -= rows;
            }
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        }
    }

    /// Read order and per-author reads are served by indexes, not a scan and
    /// a sort.
    #[tokio::test]
    async fn reads_use_the_indexes() {
        let store = SqliteStore::in_memory().await.unwrap();
        for sql in [
            "SELECT author, payload FROM entries WHERE channel = 'c' AND stream = 's' \
             AND (hlc, author, seq) > (1, 'a', 1) ORDER BY hlc, author, seq LIMIT 10",
            "SELECT hlc, payload FROM entries WHERE channel = 'c' AND stream = 's' \
             AND author = 'a' AND seq > 3 ORDER BY seq LIMIT 10",
        ] {
            let plan: Vec<String> = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&store.inner.reader)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(3))
                .collect();
            let plan = plan.join("; ");
            assert!(
                plan.contains("INDEX entries_read_order")
                    || plan.contains("INDEX sqlite_autoindex_entries"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
