//! [`Delivered`]: how far pushes (or local appends) delivered each
//! author's entries, so that only a duplicate *push* prunes a link.

use std::collections::BTreeMap;

use super::missing::MissingKey;

/// The highest sequence a push delivered, per channel, stream and author;
/// at most `capacity` keys (the oldest key in order gives way).
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    highest: BTreeMap<MissingKey, u64>,
    capacity: usize,
}

impl Delivered {
    /// Remembers at most `capacity` keys.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            highest: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// A push delivered `key`'s entries up to `sequence`.
    pub(crate) fn note(&mut self, key: MissingKey, sequence: u64) {
        if let Some(held) = self.highest.get_mut(&key) {
            *held = (*held).max(sequence);
            return;
        }
        if self.highest.len() >= self.capacity {
            self.highest.pop_first();
        }
        self.highest.insert(key, sequence);
    }

    /// The highest sequence of `key` a push delivered (0: none known).
    pub(crate) fn get(&self, key: &MissingKey) -> u64 {
        self.highest.get(key).copied().unwrap_or(0)
    }
}
