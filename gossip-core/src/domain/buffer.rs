//! [`OutOfOrderBuffer`]: entries that arrived before their predecessors.
//!
//! Bounded per author, in entries in total, and in bytes in total, node-wide.

use std::collections::{BTreeMap, HashMap};

use super::{
    entry::LogEntry,
    ids::{ChannelId, StreamId},
    node_id::NodeId,
};

/// Limits of the [`OutOfOrderBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BufferLimits {
    /// How far past an author's held sequence an entry may be buffered, and
    /// so the most entries buffered per (channel, stream, author). Default 100.
    pub per_author: usize,
    /// Entries buffered in total. Default 10 000.
    pub total: usize,
    /// Payload bytes buffered in total. Default 16 MiB.
    pub total_bytes: u64,
}

impl Default for BufferLimits {
    fn default() -> Self {
        Self {
            per_author: 100,
            total: 10_000,
            total_bytes: 16 * 1024 * 1024,
        }
    }
}

impl BufferLimits {
    /// Sets the per-author limit.
    #[must_use]
    pub fn per_author(mut self, entries: usize) -> Self {
        self.per_author = entries;
        self
    }

    /// Sets the total limit in entries.
    #[must_use]
    pub fn total(mut self, entries: usize) -> Self {
        self.total = entries;
        self
    }

    /// Sets the total limit in payload bytes.
    #[must_use]
    pub fn total_bytes(mut self, bytes: u64) -> Self {
        self.total_bytes = bytes;
        self
    }
}

type StreamKey = (ChannelId, StreamId);

/// What happened to an entry offered to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buffered {
    /// Stored, waiting for its predecessors.
    Inserted,
    /// The same entry was already buffered.
    Duplicate,
    /// A different entry with the same identity is buffered (kept); this one was refused.
    Conflict,
    /// Refused for lack of room (or too far ahead to ever fit).
    Overflow,
}

/// Entries waiting for their predecessors, bounded by [`BufferLimits`].
///
/// ```
/// use gossip_core::{raw::OutOfOrderBuffer, BufferLimits};
///
/// let buffer = OutOfOrderBuffer::new(BufferLimits::default().per_author(10));
/// assert_eq!(buffer.len(), 0);
/// ```
#[derive(Debug, Default)]
pub struct OutOfOrderBuffer {
    limits: BufferLimits,
    streams: HashMap<StreamKey, BTreeMap<NodeId, BTreeMap<u64, LogEntry>>>,
    len: usize,
    bytes: u64,
}

impl OutOfOrderBuffer {
    /// An empty buffer.
    #[must_use]
    pub fn new(limits: BufferLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> BufferLimits {
        self.limits
    }

    /// Entries buffered in total.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is buffered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Payload bytes buffered in total.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries buffered for one author of one stream.
    #[must_use]
    pub fn author_len(&self, channel: &ChannelId, stream: &StreamId, author: &NodeId) -> usize {
        self.streams
            .get(&(channel.clone(), stream.clone()))
            .and_then(|authors| authors.get(author))
            .map_or(0, BTreeMap::len)
    }

    /// Drops everything buffered for a channel (e.g. when it is deleted).
    pub fn forget_channel(&mut self, channel: &ChannelId) {
        let keys: Vec<StreamKey> = self
            .streams
            .keys()
            .filter(|(c, _)| c == channel)
            .cloned()
            .collect();
        for key in keys {
            if let Some(authors) = self.streams.remove(&key) {
                for entry in authors.values().flat_map(BTreeMap::values) {
                    self.account_removed(entry);
                }
            }
        }
    }

    fn account_removed(&mut self, entry: &LogEntry) {
        self.len = self.len.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(entry.size_bytes());
    }

    pub(crate) fn offer(&mut self, key: &StreamKey, entry: LogEntry, held: u64) -> Buffered {
        if entry.sequence.saturating_sub(held) > self.limits.per_author as u64 {
            return Buffered::Overflow;
        }
        let size = entry.size_bytes();
        let authors = self.streams.entry(key.clone()).or_default();
        let log = authors.entry(entry.author.clone()).or_default();
        if let Some(existing) = log.get(&entry.sequence) {
            return if existing.same_content(&entry) {
                Buffered::Duplicate
            } else {
                Buffered::Conflict
            };
        }
        // Entries further than `per_author` past the held sequence never fit
        // (their predecessors would need the room), so the per-author bound
        // holds by the check above; the totals are checked here.
        if self.len >= self.limits.total || self.bytes + size > self.limits.total_bytes {
            return Buffered::Overflow;
        }
        log.insert(entry.sequence, entry);
        self.len += 1;
        self.bytes += size;
        Buffered::Inserted
    }

    /// Removes and returns the buffered entry `(author, sequence)`, if any.
    pub(crate) fn take(
        &mut self,
        key: &StreamKey,
        author: &NodeId,
        sequence: u64,
    ) -> Option<LogEntry> {
        let authors = self.streams.get_mut(key)?;
        let log = authors.get_mut(author)?;
        let entry = log.remove(&sequence)?;
        if log.is_empty() {
            authors.remove(author);
        }
        self.account_removed(&entry);
        Some(entry)
    }

    /// Drops an author's buffered entries with sequence `<= through`.
    pub(crate) fn discard_through(&mut self, key: &StreamKey, author: &NodeId, through: u64) {
        let Some(log) = self.streams.get_mut(key).and_then(|a| a.get_mut(author)) else {
            return;
        };
        let keep = log.split_off(&through.saturating_add(1));
        let dropped = std::mem::replace(log, keep);
        for entry in dropped.values() {
            self.account_removed(entry);
        }
        if let Some(authors) = self.streams.get_mut(key) {
            authors.retain(|_, log| !log.is_empty());
        }
    }
}
