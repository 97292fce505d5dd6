//! [`OutOfOrderBuffer`]: entries that arrived before their predecessors.
//!
//! Bounded per author, per sending peer, in entries in total and in bytes in
//! total, node-wide; entries expire. State exists only for what is buffered:
//! a refused offer leaves nothing behind, and emptied maps are removed.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

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
    /// Entries buffered on behalf of one sending peer (what it sent that
    /// waits for predecessors), so one peer's gap entries cannot take the
    /// room honest out-of-order delivery needs. Default 2 500.
    pub per_peer: usize,
    /// How long an entry may wait for its predecessors; older ones are
    /// dropped (anti-entropy fetches them again with their predecessors).
    /// Default 2 minutes.
    pub max_age: Duration,
}

impl Default for BufferLimits {
    fn default() -> Self {
        Self {
            per_author: 100,
            total: 10_000,
            total_bytes: 16 * 1024 * 1024,
            per_peer: 2_500,
            max_age: Duration::from_secs(120),
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

    /// Sets the per-peer limit in entries.
    #[must_use]
    pub fn per_peer(mut self, entries: usize) -> Self {
        self.per_peer = entries;
        self
    }

    /// Sets how long an entry may wait.
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }
}

type StreamKey = (ChannelId, StreamId);

/// A buffered entry, who sent it, and when it arrived.
#[derive(Debug)]
struct Waiting {
    entry: LogEntry,
    from: Option<NodeId>,
    since_ms: u64,
}

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
    /// Refused: the sending peer holds its whole share of the buffer.
    PeerOverflow,
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
    streams: HashMap<StreamKey, BTreeMap<NodeId, BTreeMap<u64, Waiting>>>,
    per_peer: HashMap<NodeId, usize>,
    len: usize,
    bytes: u64,
    /// No entry arrived before this time (a lower bound: expiry scans only
    /// when something may have expired).
    oldest_ms: u64,
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
                for waiting in authors.into_values().flat_map(BTreeMap::into_values) {
                    self.account_removed(&waiting);
                }
            }
        }
    }

    /// Entries buffered on behalf of `peer`.
    #[must_use]
    pub fn peer_len(&self, peer: &NodeId) -> usize {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Drops every entry that has waited longer than
    /// [`BufferLimits::max_age`] at `now_ms`; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let max_age = u64::try_from(self.limits.max_age.as_millis()).unwrap_or(u64::MAX);
        if self.len == 0 || now_ms.saturating_sub(self.oldest_ms) < max_age {
            return 0;
        }
        let mut expired = Vec::new();
        let mut oldest = now_ms;
        for authors in self.streams.values_mut() {
            for log in authors.values_mut() {
                let (old, keep): (BTreeMap<u64, Waiting>, _) = std::mem::take(log)
                    .into_iter()
                    .partition(|(_, w)| now_ms.saturating_sub(w.since_ms) >= max_age);
                *log = keep;
                oldest = log.values().map(|w| w.since_ms).fold(oldest, u64::min);
                expired.extend(old.into_values());
            }
            authors.retain(|_, log| !log.is_empty());
        }
        self.streams.retain(|_, authors| !authors.is_empty());
        self.oldest_ms = oldest;
        for waiting in &expired {
            self.account_removed(waiting);
        }
        expired.len()
    }

    fn account_removed(&mut self, waiting: &Waiting) {
        self.len = self.len.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(waiting.entry.size_bytes());
        if let Some(from) = &waiting.from {
            if let Some(count) = self.per_peer.get_mut(from) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_peer.remove(from);
                }
            }
        }
    }

    /// Removes emptied maps under `key` after an entry left.
    fn prune(&mut self, key: &StreamKey, author: &NodeId) {
        if let Some(authors) = self.streams.get_mut(key) {
            if authors.get(author).is_some_and(BTreeMap::is_empty) {
                authors.remove(author);
            }
            if authors.is_empty() {
                self.streams.remove(key);
            }
        }
    }

    /// Offers `entry`, sent by `from` (`None`: not from a peer), arriving
    /// at `now_ms`, when `held` is the author's held sequence.
    pub(crate) fn offer(
        &mut self,
        key: &StreamKey,
        entry: LogEntry,
        held: u64,
        from: Option<&NodeId>,
        now_ms: u64,
    ) -> Buffered {
        if entry.sequence.saturating_sub(held) > self.limits.per_author as u64 {
            return Buffered::Overflow;
        }
        let existing = self
            .streams
            .get(key)
            .and_then(|authors| authors.get(&entry.author))
            .and_then(|log| log.get(&entry.sequence));
        if let Some(existing) = existing {
            return if existing.entry.same_content(&entry) {
                Buffered::Duplicate
            } else {
                Buffered::Conflict
            };
        }
        // Entries further than `per_author` past the held sequence never fit
        // (their predecessors would need the room), so the per-author bound
        // holds by the check above; the totals and the sender's share are
        // checked here, before any state is created.
        let size = entry.size_bytes();
        if self.len >= self.limits.total
            || self.bytes.saturating_add(size) > self.limits.total_bytes
        {
            return Buffered::Overflow;
        }
        if from.is_some_and(|peer| self.peer_len(peer) >= self.limits.per_peer) {
            return Buffered::PeerOverflow;
        }
        if self.len == 0 {
            self.oldest_ms = now_ms;
        }
        self.oldest_ms = self.oldest_ms.min(now_ms);
        if let Some(peer) = from {
            *self.per_peer.entry(peer.clone()).or_default() += 1;
        }
        self.len += 1;
        self.bytes += size;
        self.streams
            .entry(key.clone())
            .or_default()
            .entry(entry.author.clone())
            .or_default()
            .insert(
                entry.sequence,
                Waiting {
                    entry,
                    from: from.cloned(),
                    since_ms: now_ms,
                },
            );
        Buffered::Inserted
    }

    /// Removes and returns the buffered entry `(author, sequence)`, if any.
    pub(crate) fn take(
        &mut self,
        key: &StreamKey,
        author: &NodeId,
        sequence: u64,
    ) -> Option<LogEntry> {
        if self.len == 0 {
            // The common case while merging in order: no lookup at all.
            return None;
        }
        let waiting = self
            .streams
            .get_mut(key)?
            .get_mut(author)?
            .remove(&sequence)?;
        self.prune(key, author);
        self.account_removed(&waiting);
        Some(waiting.entry)
    }

    /// Drops an author's buffered entries with sequence `<= through`.
    pub(crate) fn discard_through(&mut self, key: &StreamKey, author: &NodeId, through: u64) {
        let Some(log) = self.streams.get_mut(key).and_then(|a| a.get_mut(author)) else {
            return;
        };
        let keep = log.split_off(&through.saturating_add(1));
        let dropped = std::mem::replace(log, keep);
        self.prune(key, author);
        for waiting in dropped.values() {
            self.account_removed(waiting);
        }
    }

    /// Buffered (channel, stream) keys: state held, for tests of its bounds.
    #[cfg(test)]
    pub(crate) fn stream_keys(&self) -> usize {
        self.streams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Hlc;

    fn key(stream: &str) -> StreamKey {
        (ChannelId::new("c").unwrap(), StreamId::new(stream).unwrap())
    }

    fn entry(author: &NodeId, sequence: u64) -> LogEntry {
        LogEntry::new(
            author.clone(),
            sequence,
            Hlc::new(sequence, 0).unwrap(),
            vec![0; 10],
        )
    }

    #[test]
    fn a_refused_offer_leaves_no_state_and_emptied_maps_go() {
        let mut buffer = OutOfOrderBuffer::new(BufferLimits::default().total(1).per_author(5));
        let (a, peer) = (NodeId::from_seed("a"), NodeId::from_seed("peer"));
        // Too far ahead, then over the total: nothing is created for either.
        assert_eq!(
            buffer.offer(&key("s"), entry(&a, 50), 0, Some(&peer), 0),
            Buffered::Overflow
        );
        assert_eq!(
            buffer.offer(&key("s"), entry(&a, 3), 0, Some(&peer), 0),
            Buffered::Inserted
        );
        for stream in ["t", "u", "v"] {
            assert_eq!(
                buffer.offer(&key(stream), entry(&a, 3), 0, Some(&peer), 0),
                Buffered::Overflow
            );
        }
        assert_eq!(buffer.stream_keys(), 1);
        assert!(buffer.take(&key("s"), &a, 3).is_some());
        assert_eq!(
            (buffer.stream_keys(), buffer.len(), buffer.peer_len(&peer)),
            (0, 0, 0)
        );
    }

    #[test]
    fn one_peer_fills_only_its_share_and_honest_delivery_still_buffers() {
        let mut buffer = OutOfOrderBuffer::new(BufferLimits::default().per_peer(10));
        let (attacker, honest) = (NodeId::from_seed("attacker"), NodeId::from_seed("honest"));
        let inserted = (0..100)
            .filter(|i| {
                let author = NodeId::from_seed(format!("gap{i}"));
                buffer.offer(&key("s"), entry(&author, 5), 0, Some(&attacker), 0)
                    == Buffered::Inserted
            })
            .count();
        assert_eq!(inserted, 10);
        assert_eq!(
            buffer.offer(&key("s"), entry(&attacker, 9), 0, Some(&attacker), 0),
            Buffered::PeerOverflow
        );
        let author = NodeId::from_seed("author");
        assert_eq!(
            buffer.offer(&key("s"), entry(&author, 2), 0, Some(&honest), 0),
            Buffered::Inserted
        );
        assert_eq!(
            (buffer.peer_len(&attacker), buffer.peer_len(&honest)),
            (10, 1)
        );
    }

    #[test]
    fn entries_expire_after_max_age_and_release_their_senders_share() {
        let limits = BufferLimits::default()
            .per_peer(2)
            .max_age(Duration::from_secs(60));
        let mut buffer = OutOfOrderBuffer::new(limits);
        let (a, peer) = (NodeId::from_seed("a"), NodeId::from_seed("peer"));
        buffer.offer(&key("s"), entry(&a, 3), 0, Some(&peer), 1_000);
        buffer.offer(&key("t"), entry(&a, 3), 0, Some(&peer), 30_000);
        assert_eq!(buffer.expire(60_999), 0, "nothing is old enough yet");
        assert_eq!(buffer.expire(61_000), 1);
        assert_eq!(
            (buffer.len(), buffer.peer_len(&peer), buffer.stream_keys()),
            (1, 1, 1)
        );
        assert_eq!(
            buffer.offer(&key("u"), entry(&a, 3), 0, Some(&peer), 61_000),
            Buffered::Inserted,
            "the expired entry's place is free again"
        );
        assert_eq!(buffer.expire(90_000), 1);
        assert_eq!(buffer.expire(121_000), 1);
        assert!(buffer.is_empty() && buffer.stream_keys() == 0 && buffer.bytes() == 0);
    }
}
