//! [`Replay`]: what the store holds of a stream in given per-author
//! sequence ranges, read a page per author at a time and merged in read
//! order.

use std::collections::VecDeque;

use crate::{
    domain::{ChannelId, LogEntry, SeqRange, StreamId},
    error::Error,
    ports::DynStore,
};

/// Reads one range per author from the store and yields the entries one by
/// one: each author's in sequence order, across authors by key `(timestamp,
/// author, sequence)`, which is read order whenever each author's
/// timestamps grow with its sequences (always, for entries of nodes of this
/// library, whose clocks never go back).
///
/// At most `page` entries per author are held at once. Entries the store no
/// longer holds (compacted, truncated) are skipped.
pub(crate) struct Replay {
    store: DynStore,
    channel: ChannelId,
    stream: StreamId,
    page: usize,
    cursors: Vec<Cursor>,
}

/// One author's range: what is read and not yet yielded, and what is left.
struct Cursor {
    /// `after` is the last sequence read; `up_to` stays.
    range: SeqRange,
    read: VecDeque<LogEntry>,
    /// The store holds nothing more of the range.
    exhausted: bool,
}

impl Replay {
    /// A replay of `ranges` (one per author), reading `page` entries of an
    /// author at a time (at least one).
    pub(crate) fn new(
        store: DynStore,
        channel: ChannelId,
        stream: StreamId,
        ranges: Vec<SeqRange>,
        page: usize,
    ) -> Self {
        let cursors = ranges
            .into_iter()
            .filter(|range| !range.is_empty())
            .map(|range| Cursor {
                range,
                read: VecDeque::new(),
                exhausted: false,
            })
            .collect();
        Self {
            store,
            channel,
            stream,
            page: page.max(1),
            cursors,
        }
    }

    /// The next entry, or `None` once every range is done.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when a read fails; nothing was consumed then, and
    /// the next call reads again.
    pub(crate) async fn next(&mut self) -> Result<Option<LogEntry>, Error> {
        for cursor in &mut self.cursors {
            if cursor.read.is_empty() && !cursor.exhausted {
                cursor
                    .refill(&self.store, &self.channel, &self.stream, self.page)
                    .await?;
            }
        }
        self.cursors.retain(|cursor| !cursor.read.is_empty());
        let first = self
            .cursors
            .iter()
            .enumerate()
            .filter_map(|(i, cursor)| cursor.read.front().map(|entry| (entry.key(), i)))
            .min_by(|(a, _), (b, _)| a.cmp(b))
            .map(|(_, i)| i);
        Ok(first
            .and_then(|i| self.cursors.get_mut(i))
            .and_then(|cursor| cursor.read.pop_front()))
    }
}

impl Cursor {
    async fn refill(
        &mut self,
        store: &DynStore,
        channel: &ChannelId,
        stream: &StreamId,
        page: usize,
    ) -> Result<(), Error> {
        let left = usize::try_from(self.range.len()).unwrap_or(usize::MAX);
        let mut entries = store
            .read_author(
                channel,
                stream,
                &self.range.author,
                self.range.after,
                page.min(left),
            )
            .await?;
        let up_to = self.range.up_to;
        entries.truncate(entries.partition_point(|entry| entry.sequence <= up_to));
        match entries.last() {
            Some(last) => {
                self.range.after = last.sequence;
                self.exhausted = self.range.is_empty();
            }
            None => self.exhausted = true,
        }
        self.read.extend(entries);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::sync::Arc;

    use super::*;
    use crate::{
        domain::{Hlc, NodeId, VersionVector},
        node::driver::fixture::TestStore,
        ports::Store,
    };

    fn entry(author: &NodeId, sequence: u64, ms: u64) -> LogEntry {
        LogEntry::new(
            author.clone(),
            sequence,
            Hlc::new(ms, 0).unwrap(),
            vec![sequence as u8],
        )
    }

    async fn store_with(entries: &[LogEntry]) -> (DynStore, ChannelId, StreamId) {
        let store: DynStore = Arc::new(TestStore::default());
        let channel = ChannelId::new("c").unwrap();
        let stream = StreamId::new("s").unwrap();
        store.append(&channel, &stream, entries).await.unwrap();
        (store, channel, stream)
    }

    async fn drain(replay: &mut Replay) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some(entry) = replay.next().await.unwrap() {
            out.push((entry.timestamp.physical_ms(), entry.sequence));
        }
        out
    }

    #[tokio::test]
    async fn merges_authors_in_read_order_within_the_ranges() {
        let (a, b) = (NodeId::from_seed("a"), NodeId::from_seed("b"));
        let mut all: Vec<LogEntry> = (1..=6).map(|q| entry(&a, q, q * 10)).collect();
        all.extend((1..=6).map(|q| entry(&b, q, q * 10 + 5)));
        let (store, channel, stream) = store_with(&all).await;
        let mut from = VersionVector::new();
        from.raise(&a, 2);
        let mut until = VersionVector::new();
        until.raise(&a, 5);
        until.raise(&b, 3);
        for page in [1, 2, 100] {
            let mut replay = Replay::new(
                store.clone(),
                channel.clone(),
                stream.clone(),
                from.diff(&until),
                page,
            );
            assert_eq!(
                drain(&mut replay).await,
                [(15, 1), (25, 2), (30, 3), (35, 3), (40, 4), (50, 5)],
                "page {page}"
            );
        }
    }

    #[tokio::test]
    async fn skips_what_the_store_no_longer_holds() {
        let a = NodeId::from_seed("a");
        let all: Vec<LogEntry> = (1..=6).map(|q| entry(&a, q, q)).collect();
        let (store, channel, stream) = store_with(&all).await;
        let mut base = VersionVector::new();
        base.raise(&a, 3);
        store.compact(&channel, &stream, &base).await.unwrap();
        let mut until = VersionVector::new();
        until.raise(&a, 9); // beyond what is held
        let mut replay = Replay::new(store, channel, stream, VersionVector::new().diff(&until), 2);
        assert_eq!(drain(&mut replay).await, [(4, 4), (5, 5), (6, 6)]);
        assert!(replay.next().await.unwrap().is_none(), "stays done");
    }
}
