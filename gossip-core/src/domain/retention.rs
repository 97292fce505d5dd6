//! [`RetentionPolicy`]: which prefix of each author's log a stream may drop.
//!
//! Compaction only ever removes a *prefix* of an author's sequence and raises
//! the stream's base for that author to the last removed sequence.
//!
//! ```
//! use gossip_core::{Hlc, LogEntry, NodeId, RetentionPolicy};
//!
//! let author = NodeId::from_seed("a");
//! let log: Vec<LogEntry> = (1..=10)
//!     .map(|seq| LogEntry::new(author.clone(), seq, Hlc::new(seq * 1_000, 0).unwrap(), vec![]))
//!     .collect();
//! // Keep the last 4 entries of each author: sequences 1..=6 may go.
//! let policy = RetentionPolicy::CountBased { max_per_author: 4 };
//! assert_eq!(policy.compaction_point(0, 10, &log, 0), 6);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{entry::LogEntry, hlc::Hlc};

/// How long a stream keeps its entries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RetentionPolicy {
    /// Keep everything (the default).
    #[default]
    KeepAll,
    /// Drop entries whose timestamp is older than `max_age`.
    TimeBased {
        /// The age after which an entry may be dropped.
        max_age: Duration,
    },
    /// Keep at most the newest `max_per_author` entries of each author.
    CountBased {
        /// Entries kept per author.
        max_per_author: u64,
    },
    /// Apply every policy: an entry is kept only if each of them keeps it.
    Composite(Vec<RetentionPolicy>),
}

impl RetentionPolicy {
    /// Whether this policy may ever remove anything.
    #[must_use]
    pub fn keeps_all(&self) -> bool {
        match self {
            RetentionPolicy::KeepAll => true,
            RetentionPolicy::TimeBased { .. } | RetentionPolicy::CountBased { .. } => false,
            RetentionPolicy::Composite(parts) => parts.iter().all(RetentionPolicy::keeps_all),
        }
    }

    /// Whether `entry`, in an author log whose highest sequence is `high`, may
    /// be removed at physical time `now_ms`. An author's last entry is never
    /// removed: its next entry links to it (see [`LogEntry::previous`]).
    #[must_use]
    pub fn removes(&self, entry: &LogEntry, high: u64, now_ms: u64) -> bool {
        self.removes_at(entry.sequence, entry.timestamp, high, now_ms)
    }

    /// As [`removes`](Self::removes), for the entry at `sequence` written at
    /// `timestamp` (all a policy looks at).
    #[must_use]
    pub fn removes_at(&self, sequence: u64, timestamp: Hlc, high: u64, now_ms: u64) -> bool {
        if sequence >= high {
            return false;
        }
        match self {
            RetentionPolicy::KeepAll => false,
            RetentionPolicy::TimeBased { max_age } => {
                let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
                timestamp.physical_ms().saturating_add(max_age_ms) < now_ms
            }
            RetentionPolicy::CountBased { max_per_author } => {
                sequence <= high.saturating_sub(*max_per_author)
            }
            RetentionPolicy::Composite(parts) => parts
                .iter()
                .any(|p| p.removes_at(sequence, timestamp, high, now_ms)),
        }
    }

    /// The new base for one author: the last sequence of the removable prefix.
    ///
    /// `log` holds the author's entries in ascending sequence order starting
    /// right after `base` (it may be a leading page of them); `high` is the
    /// author's highest held sequence. The scan stops at the first entry the
    /// policy keeps or at the first gap, so only a contiguous prefix is ever
    /// removed, and the result is never below `base`.
    #[must_use]
    pub fn compaction_point(&self, base: u64, high: u64, log: &[LogEntry], now_ms: u64) -> u64 {
        let mut point = base;
        for entry in log {
            if entry.sequence != point + 1 || !self.removes(entry, high, now_ms) {
                break;
            }
            point = entry.sequence;
        }
        point
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Hlc, NodeId};

    fn log(n: u64) -> Vec<LogEntry> {
        let a = NodeId::from_seed("a");
        (1..=n)
            .map(|s| LogEntry::new(a.clone(), s, Hlc::new(s * 100, 0).unwrap(), vec![]))
            .collect()
    }

    #[test]
    fn keep_all_removes_nothing() {
        assert_eq!(
            RetentionPolicy::KeepAll.compaction_point(0, 5, &log(5), u64::MAX),
            0
        );
        assert!(RetentionPolicy::KeepAll.keeps_all());
    }

    #[test]
    fn time_based_removes_old_prefix() {
        let p = RetentionPolicy::TimeBased {
            max_age: Duration::from_millis(250),
        };
        // now = 600: entries with ts + 250 < 600, i.e. ts < 350 → seq 1..=3.
        assert_eq!(p.compaction_point(0, 5, &log(5), 600), 3);
    }

    #[test]
    fn composite_applies_every_policy() {
        let p = RetentionPolicy::Composite(vec![
            RetentionPolicy::CountBased { max_per_author: 4 },
            RetentionPolicy::TimeBased {
                max_age: Duration::from_millis(250),
            },
        ]);
        assert_eq!(p.compaction_point(0, 10, &log(10), 600), 6);
        assert_eq!(p.compaction_point(0, 10, &log(10), 900), 6);
        assert_eq!(p.compaction_point(0, 10, &log(10), 1_000), 7);
    }

    #[test]
    fn stops_at_gap_and_never_goes_below_base() {
        let mut entries = log(6);
        entries.remove(2); // seq 3 missing
        let p = RetentionPolicy::CountBased { max_per_author: 0 };
        assert_eq!(p.compaction_point(0, 6, &entries, 0), 2);
        assert_eq!(p.compaction_point(4, 6, &[], 0), 4);
    }
}
