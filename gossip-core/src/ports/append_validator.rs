//! The append contract of [`Store::append`](crate::Store::append), as one pure
//! check every store calls before writing.
//!
//! A store reads, for each author of the batch, where that author's log
//! stands (an [`AuthorPosition`]: compaction base and highest sequence held),
//! and lets [`AppendValidator`] decide. The validator does no I/O, so the same
//! code serves an in-memory map, a SQL transaction and a key-value write
//! batch, and third-party stores get the contract (and its error kinds and
//! messages) for free.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use gossip_core::{AppendValidator, AuthorPosition, Hlc, LogEntry, NodeId, StoreErrorKind};
//!
//! let a = NodeId::from_seed("a");
//! let entry = |seq| LogEntry::new(a.clone(), seq, Hlc::new(seq, 0).unwrap(), b"x".to_vec());
//! // The store holds a#1..=a#3.
//! let stored: BTreeMap<NodeId, AuthorPosition> =
//!     [(a.clone(), AuthorPosition::new(0, 3))].into_iter().collect();
//! let position = |author: &NodeId| stored.get(author).copied().unwrap_or_default();
//!
//! let batch = [entry(4), entry(5)];
//! let plan = AppendValidator::new(&batch).validate(position)?;
//! let appended = plan.author(&a).unwrap();
//! assert_eq!((appended.first(), appended.last(), appended.entries()), (4, 5, 2));
//!
//! let repeat = [entry(3)];
//! let err = AppendValidator::new(&repeat).validate(position).unwrap_err();
//! assert_eq!(err.kind(), StoreErrorKind::AlreadyExists);
//!
//! let gap = [entry(6)];
//! let err = AppendValidator::new(&gap).validate(position).unwrap_err();
//! assert_eq!(err.kind(), StoreErrorKind::NonContiguous);
//! assert_eq!(err.expected(), Some(4));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::{
    collections::{btree_map, BTreeMap, BTreeSet},
    fmt,
};

use crate::{
    domain::{ChannelId, LogEntry, NodeId, StreamId},
    error::{StoreError, StoreErrorKind},
};

/// Where one author's log in a stream stands before an append.
///
/// The store holds the sequences `base + 1 ..= head` of the author (none when
/// `head <= base`); the author's version is the larger of the two. An author
/// the store has never seen is [`AuthorPosition::default()`] (`0, 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthorPosition {
    base: u64,
    head: u64,
}

impl AuthorPosition {
    /// An author whose entries up to `base` were compacted away and whose
    /// highest appended sequence is `head`.
    ///
    /// `head` may be below `base`: compacting beyond the highest held
    /// sequence leaves nothing held and the version at the base.
    #[must_use]
    pub fn new(base: u64, head: u64) -> Self {
        Self { base, head }
    }

    /// The compaction base: the last sequence removed (0: none).
    #[must_use]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The highest sequence ever appended (0: none).
    #[must_use]
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The author's version: the highest sequence held, or the base when
    /// that is higher.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.head.max(self.base)
    }

    /// Whether the store holds `sequence` (neither compacted nor beyond the head).
    #[must_use]
    pub fn holds(&self, sequence: u64) -> bool {
        sequence > self.base && sequence <= self.head
    }
}

/// What a valid batch adds to one author's log: the sequences
/// `first ..= last`, contiguous, directly after the author's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorAppend {
    before: AuthorPosition,
    first: u64,
    last: u64,
    entries: u64,
    bytes: u64,
}

impl AuthorAppend {
    /// Where the author stood before the batch.
    #[must_use]
    pub fn before(&self) -> AuthorPosition {
        self.before
    }

    /// Where the author stands once the batch is written: same base, head at
    /// [`last`](Self::last).
    #[must_use]
    pub fn after(&self) -> AuthorPosition {
        AuthorPosition::new(self.before.base, self.last)
    }

    /// The first sequence of the batch for this author (`before().version() + 1`).
    #[must_use]
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The last sequence of the batch for this author: the new head.
    #[must_use]
    pub fn last(&self) -> u64 {
        self.last
    }

    /// How many entries of this author the batch holds (`last - first + 1`).
    #[must_use]
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Payload and signature bytes of this author's entries in the batch
    /// (the sum of [`LogEntry::size_bytes`]).
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A batch that satisfies the append contract, summarised per author:
/// what a store needs to update its per-author metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendPlan<'a> {
    authors: BTreeMap<&'a NodeId, AuthorAppend>,
}

impl<'a> AppendPlan<'a> {
    /// Each author of the batch with what the batch adds to its log, by author.
    pub fn authors(&self) -> impl ExactSizeIterator<Item = (&'a NodeId, &AuthorAppend)> + '_ {
        self.authors
            .iter()
            .map(|(author, append)| (*author, append))
    }

    /// What the batch adds to `author`'s log, if the batch holds entries of it.
    #[must_use]
    pub fn author(&self, author: &NodeId) -> Option<&AuthorAppend> {
        self.authors.get(author)
    }

    /// Whether the batch was empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.authors.is_empty()
    }
}

/// Why a batch breaks the append contract: the first entry that does not
/// follow its author's version. Nothing may be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRejection {
    kind: StoreErrorKind,
    author: NodeId,
    sequence: u64,
    expected: Option<u64>,
}

impl AppendRejection {
    /// [`StoreErrorKind::AlreadyExists`] when the store holds the entry's
    /// `(author, sequence)`, [`StoreErrorKind::NonContiguous`] otherwise.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The author of the refused entry.
    #[must_use]
    pub fn author(&self) -> &NodeId {
        &self.author
    }

    /// The sequence of the refused entry.
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The sequence the entry had to carry, or `None` when the author's log
    /// is full (its version is `u64::MAX`).
    #[must_use]
    pub fn expected(&self) -> Option<u64> {
        self.expected
    }

    /// The [`StoreError`] a store returns for this rejection, naming the
    /// backend, the channel and the stream.
    #[must_use]
    pub fn into_store_error(
        self,
        backend: &'static str,
        channel: &ChannelId,
        stream: &StreamId,
    ) -> StoreError {
        StoreError::new(
            backend,
            self.kind,
            format!("append to {channel}/{stream}: {self}; nothing was written"),
        )
    }
}

impl fmt::Display for AppendRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}#{} ", self.author, self.sequence)?;
        match (self.kind, self.expected) {
            (StoreErrorKind::AlreadyExists, _) => f.write_str("is already held"),
            (_, Some(expected)) => write!(f, "does not follow: expected sequence {expected}"),
            (_, None) => f.write_str("does not follow: the author's log is full"),
        }
    }
}

impl std::error::Error for AppendRejection {}

/// The append contract of [`Store::append`](crate::Store::append), checked
/// over one batch without I/O.
///
/// # Behavior
///
/// - Each author's entries in the batch must carry the sequences
///   `version + 1, version + 2, …` in batch order, where `version` is
///   [`AuthorPosition::version`] of that author before the batch. Entries of
///   different authors may interleave.
/// - The first entry that breaks this is refused with
///   [`StoreErrorKind::AlreadyExists`] when the store holds its
///   `(author, sequence)` ([`AuthorPosition::holds`]), and with
///   [`StoreErrorKind::NonContiguous`] otherwise: a gap, a compacted
///   sequence, sequence 0, or a sequence repeated or stepping back inside
///   the batch (the store does not hold it yet).
/// - Arithmetic is checked: an author whose version is `u64::MAX` accepts no
///   further entry ([`AppendRejection::expected`] is `None`); nothing wraps
///   or saturates.
/// - An empty batch is valid and its plan is empty.
///
/// A store loads the position of each of [`authors`](Self::authors) (from
/// its own state, a transaction, a snapshot: whatever makes the check and
/// the write atomic), calls [`validate`](Self::validate), and writes the
/// batch only when it returns a plan.
#[derive(Debug, Clone, Copy)]
pub struct AppendValidator<'a> {
    batch: &'a [LogEntry],
}

impl<'a> AppendValidator<'a> {
    /// A validator for `batch`.
    #[must_use]
    pub fn new(batch: &'a [LogEntry]) -> Self {
        Self { batch }
    }

    /// The distinct authors of the batch, sorted: whose position the store
    /// must look up before calling [`validate`](Self::validate).
    #[must_use]
    pub fn authors(&self) -> BTreeSet<&'a NodeId> {
        self.batch.iter().map(|entry| &entry.author).collect()
    }

    /// Checks the batch against the contract, given each author's position
    /// before the batch (called once per author, on its first entry).
    ///
    /// # Errors
    ///
    /// The [`AppendRejection`] of the first entry that does not follow its
    /// author's version (see the type's `# Behavior`).
    pub fn validate(
        &self,
        mut position: impl FnMut(&NodeId) -> AuthorPosition,
    ) -> Result<AppendPlan<'a>, AppendRejection> {
        // Per author: the summary so far and the next sequence expected
        // (`None`: the log is full at `u64::MAX`).
        let mut authors: BTreeMap<&'a NodeId, (AuthorAppend, Option<u64>)> = BTreeMap::new();
        for entry in self.batch {
            let (append, next) = match authors.entry(&entry.author) {
                btree_map::Entry::Occupied(occupied) => occupied.into_mut(),
                btree_map::Entry::Vacant(vacant) => {
                    let before = position(&entry.author);
                    let next = before.version().checked_add(1);
                    let append = AuthorAppend {
                        before,
                        first: next.unwrap_or(u64::MAX),
                        last: before.version(),
                        entries: 0,
                        bytes: 0,
                    };
                    vacant.insert((append, next))
                }
            };
            if *next != Some(entry.sequence) {
                let kind = if append.before.holds(entry.sequence) {
                    StoreErrorKind::AlreadyExists
                } else {
                    StoreErrorKind::NonContiguous
                };
                return Err(AppendRejection {
                    kind,
                    author: entry.author.clone(),
                    sequence: entry.sequence,
                    expected: *next,
                });
            }
            *next = entry.sequence.checked_add(1);
            append.last = entry.sequence;
            // Cannot overflow: `entries` counts distinct sequences of a u64
            // range, and `bytes` sums lengths of buffers held in memory.
            append.entries += 1;
            append.bytes += entry.size_bytes();
        }
        Ok(AppendPlan {
            authors: authors
                .into_iter()
                .map(|(author, (append, _))| (author, append))
                .collect(),
        })
    }
}

#[cfg(test)]
#[path = "append_validator_tests.rs"]
mod tests;
