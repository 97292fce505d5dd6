//! [`StateMaterializer`]: fold a stream into application state, incrementally.
//!
//! ```
//! use gossip_core::{Fold, Hlc, LogEntry, Materialized, NodeId, StateMaterializer};
//!
//! struct ByteCount;
//! impl StateMaterializer<usize> for ByteCount {
//!     fn initial(&self) -> usize { 0 }
//!     fn fold(&self, state: usize, entry: &LogEntry) -> usize { state + entry.payload.len() }
//! }
//!
//! let a = NodeId::from_seed("a");
//! let e = |seq, ts| LogEntry::new(a.clone(), seq, Hlc::new(ts, 0).unwrap(), vec![0; 3]);
//! let mut view = Materialized::new(ByteCount);
//! assert_eq!(view.apply(&[e(1, 10), e(2, 20)]), Fold::Incremental);
//! assert_eq!(*view.state(), 6);
//! // An entry sorting before the last folded one needs a refold from the start.
//! assert_eq!(view.apply(&[e(1, 5)]), Fold::NeedsRefold);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use super::entry::{EntryKey, LogEntry};

/// Folds entries, in read order, into a state of type `T`.
pub trait StateMaterializer<T>: Send + Sync + 'static {
    /// The state of an empty stream.
    fn initial(&self) -> T;
    /// The state after `entry`, given the state before it.
    fn fold(&self, state: T, entry: &LogEntry) -> T;
}

/// Whether [`Materialized::apply`] could fold incrementally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// The entries sorted after the last folded one and were folded.
    Incremental,
    /// An entry sorts before the last folded one: nothing was folded; call
    /// [`Materialized::reset`] and apply the whole stream in read order.
    NeedsRefold,
}

/// A materializer together with its current state and the read-order key of
/// the last entry folded.
#[derive(Debug, Clone)]
pub struct Materialized<T, M> {
    materializer: M,
    state: T,
    last: Option<EntryKey>,
    folded: u64,
}

impl<T, M: StateMaterializer<T>> Materialized<T, M> {
    /// Starts from the materializer's initial state.
    pub fn new(materializer: M) -> Self {
        let state = materializer.initial();
        Self {
            materializer,
            state,
            last: None,
            folded: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> &T {
        &self.state
    }

    /// Number of entries folded since the last reset.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// The key of the last entry folded.
    pub fn last_key(&self) -> Option<&EntryKey> {
        self.last.as_ref()
    }

    /// Back to the initial state, ready for a refold.
    pub fn reset(&mut self) {
        self.state = self.materializer.initial();
        self.last = None;
        self.folded = 0;
    }

    /// Folds `entries` (in any order among themselves) if all of them sort
    /// after the last folded entry; otherwise folds nothing.
    pub fn apply(&mut self, entries: &[LogEntry]) -> Fold {
        let mut sorted: Vec<&LogEntry> = entries.iter().collect();
        sorted.sort_by_key(|e| e.key());
        if let (Some(last), Some(first)) = (&self.last, sorted.first()) {
            if &first.key() <= last {
                return Fold::NeedsRefold;
            }
        }
        for entry in sorted {
            let state = std::mem::replace(&mut self.state, self.materializer.initial());
            self.state = self.materializer.fold(state, entry);
            self.last = Some(entry.key());
            self.folded += 1;
        }
        Fold::Incremental
    }
}
