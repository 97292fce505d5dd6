//! [`VersionVector`]: for each author, the highest contiguous sequence held.
//!
//! ```
//! use gossip_core::{NodeId, VersionVector};
//!
//! let (a, b) = (NodeId::from_seed("a"), NodeId::from_seed("b"));
//! let mut mine = VersionVector::new();
//! mine.raise(&a, 3);
//! let mut theirs = VersionVector::new();
//! theirs.raise(&a, 5);
//! theirs.raise(&b, 2);
//! // What they hold that I lack: a 4..=5 and b 1..=2.
//! let missing = mine.diff(&theirs);
//! assert_eq!(missing.len(), 2);
//! mine.merge(&theirs);
//! assert!(mine.dominates(&theirs));
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{entry::MAX_SEQUENCE, node_id::NodeId};

/// Maps each author to the highest contiguous sequence held (0, the default,
/// is not stored).
///
/// Deserializing refuses a sequence above
/// [`MAX_SEQUENCE`](super::entry::MAX_SEQUENCE).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct VersionVector(BTreeMap<NodeId, u64>);

impl<'de> Deserialize<'de> for VersionVector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<NodeId, u64>::deserialize(deserializer)?;
        if let Some((author, seq)) = map.iter().find(|(_, seq)| **seq > MAX_SEQUENCE) {
            return Err(serde::de::Error::custom(format!(
                "sequence {seq} of {author} is above the maximum 2^63"
            )));
        }
        Ok(Self(map))
    }
}

/// A range of one author's sequences: `after < sequence <= up_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    /// The author.
    pub author: NodeId,
    /// Exclusive lower bound.
    pub after: u64,
    /// Inclusive upper bound.
    pub up_to: u64,
}

impl SeqRange {
    /// Number of sequences in the range.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.up_to.saturating_sub(self.after)
    }

    /// Whether the range holds no sequence.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl VersionVector {
    /// An empty vector.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest contiguous sequence held from `author` (0 if none).
    #[must_use]
    pub fn get(&self, author: &NodeId) -> u64 {
        self.0.get(author).copied().unwrap_or(0)
    }

    /// Raises `author`'s sequence to `sequence` if that is higher; never lowers it.
    pub fn raise(&mut self, author: &NodeId, sequence: u64) {
        if sequence == 0 {
            return;
        }
        match self.0.get_mut(author) {
            Some(current) => *current = (*current).max(sequence),
            None => {
                self.0.insert(author.clone(), sequence);
            }
        }
    }

    /// Point-wise maximum with `other`. Commutative, associative, idempotent.
    pub fn merge(&mut self, other: &VersionVector) {
        for (author, &seq) in &other.0 {
            self.raise(author, seq);
        }
    }

    /// Whether `self` holds at least everything `other` holds.
    #[must_use]
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(author, &seq)| self.get(author) >= seq)
    }

    /// What `other` holds beyond `self`, one range per author, in author order.
    #[must_use]
    pub fn diff(&self, other: &VersionVector) -> Vec<SeqRange> {
        other
            .0
            .iter()
            .filter_map(|(author, &theirs)| {
                let mine = self.get(author);
                (theirs > mine).then(|| SeqRange {
                    author: author.clone(),
                    after: mine,
                    up_to: theirs,
                })
            })
            .collect()
    }

    /// Authors and their sequences, in author order.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, u64)> + '_ {
        self.0.iter().map(|(a, &s)| (a, s))
    }

    /// Number of authors with a non-zero sequence.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no author has a non-zero sequence.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sum of all sequences: the number of entries ever written up to this vector.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.values().fold(0u64, |acc, s| acc.saturating_add(*s))
    }
}

impl FromIterator<(NodeId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (NodeId, u64)>>(iter: I) -> Self {
        let mut vv = VersionVector::new();
        for (author, seq) in iter {
            vv.raise(&author, seq);
        }
        vv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vv() -> impl Strategy<Value = VersionVector> {
        proptest::collection::vec((0u8..6, 0u64..20), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(a, s)| (NodeId::from_seed(format!("n{a}")), s))
                .collect()
        })
    }

    fn merged(a: &VersionVector, b: &VersionVector) -> VersionVector {
        let mut out = a.clone();
        out.merge(b);
        out
    }

    proptest! {
        #[test]
        fn merge_is_commutative(a in vv(), b in vv()) {
            prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        }

        #[test]
        fn merge_is_associative(a in vv(), b in vv(), c in vv()) {
            prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        }

        #[test]
        fn merge_is_idempotent(a in vv(), b in vv()) {
            prop_assert_eq!(merged(&a, &a), a.clone());
            let ab = merged(&a, &b);
            prop_assert_eq!(merged(&ab, &b), ab);
        }

        #[test]
        fn merge_dominates_both(a in vv(), b in vv()) {
            let ab = merged(&a, &b);
            prop_assert!(ab.dominates(&a) && ab.dominates(&b));
        }

        #[test]
        fn diff_is_exactly_what_merge_adds(a in vv(), b in vv()) {
            let mut patched = a.clone();
            for range in a.diff(&b) {
                prop_assert_eq!(range.after, a.get(&range.author));
                patched.raise(&range.author, range.up_to);
            }
            prop_assert_eq!(patched, merged(&a, &b));
            prop_assert_eq!(a.diff(&b).is_empty(), a.dominates(&b));
        }
    }
}
