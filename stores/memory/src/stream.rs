//! One stream's entries: per-author contiguous logs plus a read-order index.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    ops::Bound,
};

use gossip_core::{
    AppendPlan, AppendRejection, AppendValidator, AuthorPosition, EntryKey, LogEntry, NodeId,
    StreamStats, VersionVector,
};

/// One author's log in a stream: the entries `base + 1 ..= head`, contiguous
/// (none when `head <= base`), so the entry with sequence `q` sits at index
/// `q - base - 1`.
#[derive(Debug, Default)]
struct AuthorLog {
    /// The last sequence removed by compaction (0: none).
    base: u64,
    /// The highest sequence appended (0: none).
    head: u64,
    entries: VecDeque<LogEntry>,
}

impl AuthorLog {
    fn position(&self) -> AuthorPosition {
        AuthorPosition::new(self.base, self.head)
    }

    /// The highest sequence held, or the base when everything was compacted.
    fn high(&self) -> u64 {
        self.position().version()
    }

    /// Index in `entries` of the first sequence greater than `after`.
    fn index_after(&self, after: u64) -> usize {
        let skip = after.saturating_sub(self.base);
        usize::try_from(skip).unwrap_or(usize::MAX)
    }

    fn get(&self, sequence: u64) -> Option<&LogEntry> {
        let index = sequence.checked_sub(self.base)?.checked_sub(1)?;
        self.entries.get(usize::try_from(index).ok()?)
    }
}

/// The entries of one stream and the figures derived from them.
///
/// Invariants: every held entry is in exactly one author log and its key in
/// `order`; `entries` and `bytes` are the count and the byte sum of the held
/// entries; an author is present only with entries or a base above 0.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    authors: BTreeMap<NodeId, AuthorLog>,
    order: BTreeSet<EntryKey>,
    entries: u64,
    bytes: u64,
}

impl StreamState {
    /// Whether the stream holds neither entries nor a base.
    pub(crate) fn is_empty(&self) -> bool {
        self.authors.is_empty()
    }

    /// Checks a batch against the append contract without changing anything.
    pub(crate) fn validate<'a>(
        &self,
        batch: &'a [LogEntry],
    ) -> Result<AppendPlan<'a>, AppendRejection> {
        AppendValidator::new(batch).validate(|author| {
            self.authors
                .get(author)
                .map_or_else(AuthorPosition::default, AuthorLog::position)
        })
    }

    /// Writes a batch that [`validate`](Self::validate) accepted as `plan`.
    pub(crate) fn apply(&mut self, batch: &[LogEntry], plan: &AppendPlan<'_>) {
        for entry in batch {
            let log = match self.authors.get_mut(&entry.author) {
                Some(log) => log,
                None => self.authors.entry(entry.author.clone()).or_default(),
            };
            log.entries.push_back(entry.clone());
            self.order.insert(entry.key());
        }
        for (author, append) in plan.authors() {
            if let Some(log) = self.authors.get_mut(author) {
                log.head = append.last();
            }
            // Counts of what is held in memory: they cannot overflow.
            self.entries += append.entries();
            self.bytes += append.bytes();
        }
    }

    /// Up to `limit` entries after `after`, in read order.
    pub(crate) fn read(&self, after: Option<&EntryKey>, limit: usize) -> Vec<LogEntry> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range((lower, Bound::Unbounded))
            .take(limit)
            .filter_map(|key| self.authors.get(&key.author)?.get(key.sequence))
            .cloned()
            .collect()
    }

    /// Up to `limit` of `author`'s entries with sequence above `after`.
    pub(crate) fn read_author(&self, author: &NodeId, after: u64, limit: usize) -> Vec<LogEntry> {
        let Some(log) = self.authors.get(author) else {
            return Vec::new();
        };
        let start = log.index_after(after);
        if start >= log.entries.len() {
            return Vec::new();
        }
        log.entries.range(start..).take(limit).cloned().collect()
    }

    pub(crate) fn version(&self) -> VersionVector {
        self.authors
            .iter()
            .map(|(author, log)| (author.clone(), log.high()))
            .collect()
    }

    pub(crate) fn base(&self) -> VersionVector {
        self.authors
            .iter()
            .map(|(author, log)| (author.clone(), log.base))
            .collect()
    }

    pub(crate) fn stats(&self) -> StreamStats {
        StreamStats::new(self.entries, self.bytes)
    }

    /// Removes each author's prefix up to `base[author]` and raises its base;
    /// returns how many entries were removed.
    pub(crate) fn compact(&mut self, base: &VersionVector) -> u64 {
        let mut removed = 0u64;
        for (author, target) in base.iter() {
            let log = match self.authors.get_mut(author) {
                Some(log) if target <= log.base => continue,
                Some(log) => log,
                None => self.authors.entry(author.clone()).or_default(),
            };
            let count = target.saturating_sub(log.base);
            for _ in 0..count {
                let Some(entry) = log.entries.pop_front() else {
                    break;
                };
                self.order.remove(&entry.key());
                self.entries = self.entries.saturating_sub(1);
                self.bytes = self.bytes.saturating_sub(entry.size_bytes());
                removed += 1;
            }
            log.base = target;
        }
        removed
    }

    /// Removes `author`'s entries with sequence above `after` (above the
    /// base, if that is higher) and lowers its head to match; returns how
    /// many entries were removed. An author left with neither entries nor a
    /// base is forgotten.
    pub(crate) fn truncate_author(&mut self, author: &NodeId, after: u64) -> u64 {
        let Some(log) = self.authors.get_mut(author) else {
            return 0;
        };
        let keep = after.max(log.base);
        if log.head <= keep {
            return 0;
        }
        // `base < head`, so the log holds `base + 1 ..= head` and `keep`
        // (within `base ..= head`) indexes it.
        let start = log.index_after(keep);
        if start >= log.entries.len() {
            return 0;
        }
        let removed_entries = log.entries.split_off(start);
        log.head = keep;
        let forget = log.head == 0 && log.base == 0;
        let mut removed = 0u64;
        for entry in &removed_entries {
            self.order.remove(&entry.key());
            self.entries = self.entries.saturating_sub(1);
            self.bytes = self.bytes.saturating_sub(entry.size_bytes());
            removed += 1;
        }
        if forget {
            self.authors.remove(author);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use gossip_core::{
        testkit::fixtures::{entries, node, vv},
        StoreErrorKind,
    };

    use super::*;

    #[test]
    fn author_log_indexes_by_sequence_minus_base() {
        let a = node("a");
        let mut state = StreamState::default();
        let batch = entries(&a, 1..=5, |q| q);
        let plan = state.validate(&batch).unwrap();
        state.apply(&batch, &plan);
        assert_eq!(state.compact(&vv(&[(&a, 2)])), 2);
        let log = &state.authors[&a];
        assert_eq!((log.base, log.high()), (2, 5));
        assert!(log.get(2).is_none() && log.get(6).is_none());
        assert_eq!(log.get(3).map(|e| e.sequence), Some(3));
    }

    #[test]
    fn truncation_keeps_the_log_indexed_by_sequence() {
        let a = node("a");
        let mut state = StreamState::default();
        let batch = entries(&a, 1..=6, |q| q);
        let plan = state.validate(&batch).unwrap();
        state.apply(&batch, &plan);
        assert_eq!(state.compact(&vv(&[(&a, 2)])), 2);
        assert_eq!(state.truncate_author(&a, 4), 2);
        let log = &state.authors[&a];
        assert_eq!((log.base, log.head, log.entries.len()), (2, 4, 2));
        assert_eq!(log.get(4).map(|e| e.sequence), Some(4));
        assert!(log.get(5).is_none());
        assert_eq!(state.order.len(), 2);
        // Below the base: every held entry goes, the base stays.
        assert_eq!(state.truncate_author(&a, 1), 2);
        let log = &state.authors[&a];
        assert_eq!((log.base, log.head, log.entries.len()), (2, 2, 0));
        assert!(state.order.is_empty());
        assert_eq!(state.stats(), StreamStats::default());
    }

    #[test]
    fn truncating_everything_forgets_an_author_without_base() {
        let a = node("a");
        let mut state = StreamState::default();
        let batch = entries(&a, 1..=3, |q| q);
        let plan = state.validate(&batch).unwrap();
        state.apply(&batch, &plan);
        assert_eq!(state.truncate_author(&a, 0), 3);
        assert!(state.is_empty());
        assert!(state.version().is_empty());
        assert_eq!(state.truncate_author(&a, 0), 0);
    }

    #[test]
    fn sequences_near_u64_max_do_not_overflow() {
        let a = node("a");
        let mut state = StreamState::default();
        assert_eq!(state.compact(&vv(&[(&a, u64::MAX)])), 0);
        assert_eq!(state.version().get(&a), u64::MAX);
        let err = state.validate(&entries(&a, 1..=1, |q| q)).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::NonContiguous);
        assert!(state.read_author(&a, 0, 10).is_empty());
    }
}
