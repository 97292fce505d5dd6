//! Entries of streams: append, read in read order, per-author reads,
//! versions, stats, compaction and truncation. Blocking; called through
//! [`RocksDbStore`](crate::RocksDbStore)'s blocking-task bridge.
//!
//! The `authors` column family keeps, per (stream, author), the highest
//! sequence appended (`head`), the compaction `base`, and the entries and
//! bytes held. It is written in the same [`WriteBatch`] as the entries it
//! describes, so it never disagrees with them, and it turns `version`,
//! `stats` and the contiguity check of `append` into short prefix scans and
//! point lookups instead of scans of the stream.

use std::collections::{BTreeMap, BTreeSet};

use gossip_core::{
    AppendValidator, AuthorPosition, ChannelId, EntryKey, LogEntry, NodeId, StoreError,
    StoreErrorKind, StoreResult, StreamId, StreamStats, VersionVector,
};
use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions, WriteBatch};

use crate::{
    codec::{decode_entry, encode_entry, entry_summary, AuthorState},
    error::{corrupt, db_err, store_error, BACKEND},
    keys,
    schema::{CF_AUTHORS, CF_ENTRIES, CF_READ_ORDER},
    store::Handle,
};

/// The exclusive end of a prefix scan (every prefix of this crate has one).
pub(crate) fn end_of(prefix: &[u8]) -> StoreResult<Vec<u8>> {
    keys::prefix_end(prefix).ok_or_else(|| {
        store_error(
            StoreErrorKind::Other,
            "internal: a key prefix without an upper bound",
        )
    })
}

fn node_id(value: &str, label: &str) -> StoreResult<NodeId> {
    NodeId::new(value).map_err(|e| corrupt(format!("{label}: invalid node id in a key: {e}")))
}

/// The stored state of one author, or the default (nothing held, no base).
fn author_state(
    h: &Handle,
    authors: &ColumnFamily,
    key: &[u8],
    what: impl FnOnce() -> String,
) -> StoreResult<AuthorState> {
    match h
        .db
        .get_cf(authors, key)
        .map_err(db_err("reading an author's state"))?
    {
        None => Ok(AuthorState::default()),
        Some(value) => AuthorState::decode(&value).ok_or_else(|| {
            corrupt(format!(
                "{}: {}: undecodable author state",
                h.label(),
                what()
            ))
        }),
    }
}

pub(crate) fn append(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
    entries: &[LogEntry],
) -> StoreResult<()> {
    let (cf_entries, cf_order, cf_authors) =
        (h.cf(CF_ENTRIES)?, h.cf(CF_READ_ORDER)?, h.cf(CF_AUTHORS)?);
    let prefix = keys::stream_prefix(channel, stream);

    // The append contract, checked against the authors' states read under
    // the writer lock, so nothing changes them before the batch is written.
    let _writer = h.lock();
    let validator = AppendValidator::new(entries);
    let mut authors = BTreeMap::new();
    for author in validator.authors() {
        let key = keys::author_key(&prefix, author);
        let state = author_state(h, cf_authors, &key, || {
            format!("{channel}/{stream} author {author}")
        })?;
        authors.insert(author, (key, state));
    }
    let plan = validator
        .validate(|author| {
            authors
                .get(author)
                .map_or_else(AuthorPosition::default, |(_, state)| {
                    AuthorPosition::new(state.base, state.head)
                })
        })
        .map_err(|rejection| rejection.into_store_error(BACKEND, channel, stream))?;

    // Every author of the batch (and of the plan) was looked up above.
    let unknown = || store_error(StoreErrorKind::Other, "internal: an author not looked up");
    let mut batch = WriteBatch::default();
    for entry in entries {
        let (author_key, _) = authors.get(&entry.author).ok_or_else(unknown)?;
        batch.put_cf(
            cf_entries,
            keys::entry_key(author_key, entry.sequence),
            encode_entry(entry),
        );
        batch.put_cf(
            cf_order,
            keys::read_order_key(&prefix, entry.timestamp, &entry.author, entry.sequence),
            b"",
        );
    }
    for (author, append) in plan.authors() {
        let (key, state) = authors.get_mut(author).ok_or_else(unknown)?;
        let overflow = || {
            corrupt(format!(
                "{}: {channel}/{stream} author {author}: counters overflow",
                h.label()
            ))
        };
        state.head = append.last();
        state.entries = state
            .entries
            .checked_add(append.entries())
            .ok_or_else(overflow)?;
        state.bytes = state
            .bytes
            .checked_add(append.bytes())
            .ok_or_else(overflow)?;
        batch.put_cf(cf_authors, key, state.encode());
    }
    h.write(batch, "appending")
}

pub(crate) fn read(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
    after: Option<&EntryKey>,
    limit: usize,
) -> StoreResult<Vec<LogEntry>> {
    let (cf_entries, cf_order) = (h.cf(CF_ENTRIES)?, h.cf(CF_READ_ORDER)?);
    let prefix = keys::stream_prefix(channel, stream);
    let start = match after {
        None => prefix.clone(),
        Some(key) => keys::after(keys::read_order_key(
            &prefix,
            key.timestamp,
            &key.author,
            key.sequence,
        )),
    };
    // One snapshot for the index scan and the entry lookups, so a concurrent
    // compaction cannot remove an entry between the two.
    let snapshot = h.db.snapshot();
    let mut options = ReadOptions::default();
    options.set_iterate_upper_bound(end_of(&prefix)?);
    let mut found = Vec::new();
    for item in snapshot
        .iterator_cf_opt(
            cf_order,
            options,
            IteratorMode::From(&start, Direction::Forward),
        )
        .take(limit)
    {
        let (key, _) = item.map_err(db_err("reading the read-order index"))?;
        let (_, author, sequence) = keys::read_order_parts(&prefix, &key).ok_or_else(|| {
            corrupt(format!(
                "{}: {channel}/{stream}: malformed read-order key",
                h.label()
            ))
        })?;
        found.push((node_id(&author, h.label())?, sequence));
    }
    let entry_keys: Vec<Vec<u8>> = found
        .iter()
        .map(|(author, sequence)| keys::entry_key(&keys::author_key(&prefix, author), *sequence))
        .collect();
    let values = snapshot.multi_get_cf(entry_keys.iter().map(|k| (cf_entries, k)));
    found
        .into_iter()
        .zip(values)
        .map(|((author, sequence), value)| {
            let what = || {
                format!(
                    "{}: {channel}/{stream} entry {author}#{sequence}",
                    h.label()
                )
            };
            let value = value
                .map_err(db_err("reading entries"))?
                .ok_or_else(|| corrupt(format!("{}: indexed but missing", what())))?;
            decode_entry(author.clone(), sequence, value, what)
        })
        .collect()
}

pub(crate) fn read_author(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
    author: &NodeId,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<LogEntry>> {
    let cf_entries = h.cf(CF_ENTRIES)?;
    let author_key = keys::author_key(&keys::stream_prefix(channel, stream), author);
    let start = keys::entry_key(&author_key, after.saturating_add(1));
    h.scan(cf_entries, &start, end_of(&author_key)?)
        .take(limit)
        .map(|item| {
            let (key, value) = item.map_err(db_err("reading an author's entries"))?;
            let sequence = keys::sequence_of(&author_key, &key).ok_or_else(|| {
                corrupt(format!(
                    "{}: {channel}/{stream}: malformed entry key of {author}",
                    h.label()
                ))
            })?;
            decode_entry(author.clone(), sequence, value.into_vec(), || {
                format!(
                    "{}: {channel}/{stream} entry {author}#{sequence}",
                    h.label()
                )
            })
        })
        .collect()
}

/// Every author of a stream with its state.
fn author_states(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
) -> StoreResult<Vec<(NodeId, AuthorState)>> {
    let cf_authors = h.cf(CF_AUTHORS)?;
    let prefix = keys::stream_prefix(channel, stream);
    h.scan(cf_authors, &prefix, end_of(&prefix)?)
        .map(|item| {
            let (key, value) = item.map_err(db_err("reading author states"))?;
            let bad = |what: &str| {
                corrupt(format!(
                    "{}: {channel}/{stream}: {what} author state",
                    h.label()
                ))
            };
            let author =
                keys::author_of(&prefix, &key).ok_or_else(|| bad("malformed key of an"))?;
            let state = AuthorState::decode(&value).ok_or_else(|| bad("undecodable"))?;
            Ok((node_id(&author, h.label())?, state))
        })
        .collect()
}

/// A version vector of a stream: `pick` of each author's state, when not 0.
pub(crate) fn vector(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
    pick: impl Fn(&AuthorState) -> u64,
) -> StoreResult<VersionVector> {
    Ok(author_states(h, channel, stream)?
        .into_iter()
        .map(|(author, state)| (author, pick(&state)))
        .filter(|(_, seq)| *seq > 0)
        .collect())
}

pub(crate) fn stats(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
) -> StoreResult<StreamStats> {
    let (entries, bytes) = author_states(h, channel, stream)?
        .iter()
        .fold((0u64, 0u64), |(e, b), (_, s)| {
            (e.saturating_add(s.entries), b.saturating_add(s.bytes))
        });
    Ok(StreamStats::new(entries, bytes))
}

pub(crate) fn streams(h: &Handle, channel: &ChannelId) -> StoreResult<Vec<StreamId>> {
    let cf_authors = h.cf(CF_AUTHORS)?;
    let prefix = keys::channel_prefix(channel);
    let mut streams = BTreeSet::new();
    for item in h.scan(cf_authors, &prefix, end_of(&prefix)?) {
        let (key, value) = item.map_err(db_err("listing streams"))?;
        let bad = || corrupt(format!("{}: {channel}: malformed author state", h.label()));
        let stream = keys::stream_of(&prefix, &key).ok_or_else(bad)?;
        let state = AuthorState::decode(&value).ok_or_else(bad)?;
        if state.version() > 0 {
            streams.insert(stream);
        }
    }
    streams
        .into_iter()
        .map(|s| {
            StreamId::new(&s)
                .map_err(|e| corrupt(format!("{}: invalid stream id in a key: {e}", h.label())))
        })
        .collect()
}

pub(crate) fn compact(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
    base: &VersionVector,
) -> StoreResult<u64> {
    let (cf_entries, cf_order, cf_authors) =
        (h.cf(CF_ENTRIES)?, h.cf(CF_READ_ORDER)?, h.cf(CF_AUTHORS)?);
    let prefix = keys::stream_prefix(channel, stream);
    let _writer = h.lock();
    let mut batch = WriteBatch::default();
    let mut removed_total = 0u64;
    for (author, new_base) in base.iter() {
        let what = || format!("{}: {channel}/{stream} author {author}", h.label());
        let author_key = keys::author_key(&prefix, author);
        let mut state = author_state(h, cf_authors, &author_key, what)?;
        if new_base <= state.base {
            continue;
        }
        let (mut removed, mut bytes) = (0u64, 0u64);
        if state.entries > 0 {
            let start = keys::entry_key(&author_key, state.base.saturating_add(1));
            let end = match new_base.checked_add(1) {
                Some(next) => keys::entry_key(&author_key, next),
                None => end_of(&author_key)?,
            };
            for item in h.scan(cf_entries, &start, end) {
                let (key, value) = item.map_err(db_err("reading compacted entries"))?;
                let bad = |why: &str| -> StoreError { corrupt(format!("{}: {why}", what())) };
                let sequence = keys::sequence_of(&author_key, &key)
                    .ok_or_else(|| bad("malformed entry key"))?;
                let (timestamp, size) =
                    entry_summary(&value).ok_or_else(|| bad("undecodable entry value"))?;
                batch.delete_cf(cf_entries, &key);
                batch.delete_cf(
                    cf_order,
                    keys::read_order_key(&prefix, timestamp, author, sequence),
                );
                removed += 1;
                bytes = bytes.saturating_add(size);
            }
        }
        let disagree = || corrupt(format!("{}: counters disagree with the entries", what()));
        state.entries = state.entries.checked_sub(removed).ok_or_else(disagree)?;
        state.bytes = state.bytes.checked_sub(bytes).ok_or_else(disagree)?;
        state.base = new_base;
        batch.put_cf(cf_authors, &author_key, state.encode());
        removed_total += removed;
    }
    h.write(batch, "compacting")?;
    if removed_total > 0 {
        tracing::debug!(%channel, %stream, removed = removed_total, "compacted");
    }
    Ok(removed_total)
}

pub(crate) fn truncate_author(
    h: &Handle,
    channel: &ChannelId,
    stream: &StreamId,
    author: &NodeId,
    after: u64,
) -> StoreResult<u64> {
    let (cf_entries, cf_order, cf_authors) =
        (h.cf(CF_ENTRIES)?, h.cf(CF_READ_ORDER)?, h.cf(CF_AUTHORS)?);
    let prefix = keys::stream_prefix(channel, stream);
    let what = || format!("{}: {channel}/{stream} author {author}", h.label());
    let author_key = keys::author_key(&prefix, author);
    let _writer = h.lock();
    let mut state = author_state(h, cf_authors, &author_key, what)?;
    // Entries above the base are held up to the head; keep those up to
    // `after`, and everything (nothing held) at or below the base.
    let keep = after.max(state.base);
    let Some(first) = keep.checked_add(1).filter(|_| state.head > keep) else {
        return Ok(0);
    };
    let mut batch = WriteBatch::default();
    let (mut removed, mut bytes) = (0u64, 0u64);
    let start = keys::entry_key(&author_key, first);
    for item in h.scan(cf_entries, &start, end_of(&author_key)?) {
        let (key, value) = item.map_err(db_err("reading truncated entries"))?;
        let bad = |why: &str| -> StoreError { corrupt(format!("{}: {why}", what())) };
        let sequence =
            keys::sequence_of(&author_key, &key).ok_or_else(|| bad("malformed entry key"))?;
        let (timestamp, size) =
            entry_summary(&value).ok_or_else(|| bad("undecodable entry value"))?;
        batch.delete_cf(cf_entries, &key);
        batch.delete_cf(
            cf_order,
            keys::read_order_key(&prefix, timestamp, author, sequence),
        );
        removed += 1;
        bytes = bytes.saturating_add(size);
    }
    let disagree = || corrupt(format!("{}: counters disagree with the entries", what()));
    state.entries = state.entries.checked_sub(removed).ok_or_else(disagree)?;
    state.bytes = state.bytes.checked_sub(bytes).ok_or_else(disagree)?;
    state.head = keep;
    if state == AuthorState::default() {
        // No base and nothing left: the author is gone from the stream.
        batch.delete_cf(cf_authors, &author_key);
    } else {
        batch.put_cf(cf_authors, &author_key, state.encode());
    }
    h.write(batch, "truncating")?;
    tracing::debug!(%channel, %stream, %author, after, removed, "truncated");
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use gossip_core::{Hlc, Store};

    use super::*;
    use crate::RocksDbStore;

    /// (highest seq, entries, bytes) of one author.
    type Figures = (u64, u64, u64);

    /// Per author: the figures recomputed from `entries`, and the same
    /// figures as kept in `authors`; plus the index size.
    fn figures(
        store: &RocksDbStore,
        c: &ChannelId,
        s: &StreamId,
        authors: &[NodeId],
    ) -> (Vec<Figures>, Vec<Figures>, usize) {
        let h = store.test_handle();
        let prefix = keys::stream_prefix(c, s);
        let (mut derived, mut kept) = (Vec::new(), Vec::new());
        for a in authors {
            let ak = keys::author_key(&prefix, a);
            let mut d = (0, 0, 0);
            for item in h.scan(h.cf(CF_ENTRIES).unwrap(), &ak, end_of(&ak).unwrap()) {
                let (k, v) = item.unwrap();
                d.0 = keys::sequence_of(&ak, &k).unwrap();
                d.1 += 1;
                d.2 += entry_summary(&v).unwrap().1;
            }
            let st = author_state(&h, h.cf(CF_AUTHORS).unwrap(), &ak, String::new).unwrap();
            if d.1 == 0 {
                d.0 = 0;
            }
            derived.push(d);
            kept.push((
                if st.entries > 0 { st.head } else { 0 },
                st.entries,
                st.bytes,
            ));
        }
        let index = h
            .scan(
                h.cf(CF_READ_ORDER).unwrap(),
                &prefix,
                end_of(&prefix).unwrap(),
            )
            .count();
        (derived, kept, index)
    }

    fn entry(author: &NodeId, seq: u64, size: usize) -> LogEntry {
        let mut e = LogEntry::new(
            author.clone(),
            seq,
            Hlc::new(seq * 7 % 13, 0).unwrap(),
            vec![1u8; size],
        );
        e.previous = gossip_core::EntryHash::from_bytes([seq as u8; 32]);
        if seq.is_multiple_of(3) {
            e.signature = Some(gossip_core::Signature::from_bytes([2u8; 64]));
        }
        e
    }

    /// The kept counters and the read-order index agree with the entries
    /// after appends, failed appends and compactions.
    #[tokio::test]
    async fn counters_and_index_agree_with_entries() {
        let dir =
            std::env::temp_dir().join(format!("gossip-rocksdb-counters-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = RocksDbStore::open(&dir).await.unwrap();
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        let authors = [NodeId::from_seed("a"), NodeId::from_seed("b")];
        let mut next = [1u64, 1];
        for (round, size) in [1usize, 2, 3, 127, 300, 7].into_iter().enumerate() {
            let i = round % 2;
            let batch: Vec<_> = (0..size as u64)
                .map(|k| entry(&authors[i], next[i] + k, round + k as usize % 40))
                .collect();
            store.append(&c, &s, &batch).await.unwrap();
            next[i] += size as u64;
            let bad = vec![
                entry(&authors[i], next[i], 1),
                entry(&authors[i], next[i] + 2, 1),
            ];
            assert!(store.append(&c, &s, &bad).await.is_err());
            if round % 3 == 2 {
                let base: VersionVector = [(authors[i].clone(), next[i] / 2)].into_iter().collect();
                store.compact(&c, &s, &base).await.unwrap();
            }
            if round % 4 == 3 {
                // Drop the last few entries; the next append refills them.
                let after = next[i].saturating_sub(4);
                store
                    .truncate_author(&c, &s, &authors[i], after)
                    .await
                    .unwrap();
                next[i] = store.version(&c, &s).await.unwrap().get(&authors[i]) + 1;
            }
            let (derived, kept, index) = figures(&store, &c, &s, &authors);
            assert_eq!(derived, kept, "round {round}");
            assert_eq!(index as u64, derived.iter().map(|d| d.1).sum::<u64>());
        }
        store.close().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
