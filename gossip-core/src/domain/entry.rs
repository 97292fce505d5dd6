//! [`LogEntry`], the unit of replication, and its read-order key [`EntryKey`].
//!
//! ```
//! use gossip_core::{Hlc, LogEntry, NodeId};
//!
//! let entry = LogEntry::new(NodeId::from_seed("a"), 1, Hlc::new(10, 0)?, b"hello".to_vec());
//! assert_eq!(entry.payload.as_ref(), b"hello");
//! assert!(entry.key() < LogEntry::new(NodeId::from_seed("a"), 2, Hlc::new(11, 0)?, vec![]).key());
//! # Ok::<(), gossip_core::Error>(())
//! ```

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    entry_proof::EntryHash,
    hlc::Hlc,
    node_id::{NodeId, Signature},
};

/// The highest sequence an entry may carry: 2^63. Anything above is refused
/// when decoded (from the wire or a store), so `sequence + 1` never
/// overflows.
pub const MAX_SEQUENCE: u64 = 1 << 63;

/// Deserializes a sequence, refusing one above [`MAX_SEQUENCE`].
pub(crate) fn deserialize_sequence<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<u64, D::Error> {
    let sequence = u64::deserialize(deserializer)?;
    if sequence > MAX_SEQUENCE {
        return Err(serde::de::Error::custom(format!(
            "sequence {sequence} is above the maximum 2^63"
        )));
    }
    Ok(sequence)
}

/// One entry of an append-only stream, written by `author`.
///
/// Its identity is `(author, sequence)`; sequences start at 1 and are
/// contiguous per author within a stream. Streams are read in the total order
/// `(timestamp, author, sequence)` (see [`EntryKey`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogEntry {
    /// The node that wrote the entry.
    pub author: NodeId,
    /// Position in the author's log, starting at 1, at most [`MAX_SEQUENCE`].
    #[serde(deserialize_with = "deserialize_sequence")]
    pub sequence: u64,
    /// When the author wrote it.
    pub timestamp: Hlc,
    /// Opaque application bytes.
    pub payload: Bytes,
    /// The hash of the author's previous entry in the stream
    /// ([`EntryHash::GENESIS`] for sequence 1): an author's log is a hash
    /// chain (see [`LogEntry::hash`]).
    pub previous: EntryHash,
    /// The author's signature over the entry's hash. A node signs the last
    /// entry of every append (and one entry per
    /// [`SIGNED_RUN_BYTES`](super::SIGNED_RUN_BYTES) inside a large one); an
    /// entry without a signature is proven by a signed later entry of its
    /// author that links to it (see [`provable_units`](super::provable_units)).
    pub signature: Option<Signature>,
}

impl LogEntry {
    /// Builds an unsigned entry linked to [`EntryHash::GENESIS`]: link it
    /// with [`linked_to`](Self::linked_to) and sign it with
    /// [`sign`](Self::sign) before it can be merged anywhere.
    pub fn new(author: NodeId, sequence: u64, timestamp: Hlc, payload: impl Into<Bytes>) -> Self {
        Self {
            author,
            sequence,
            timestamp,
            payload: payload.into(),
            previous: EntryHash::GENESIS,
            signature: None,
        }
    }

    /// The entry's position in read order.
    #[must_use]
    pub fn key(&self) -> EntryKey {
        EntryKey {
            timestamp: self.timestamp,
            author: self.author.clone(),
            sequence: self.sequence,
        }
    }

    /// Whether `other` has the same identity and the same header content
    /// (timestamp, link and payload; signatures may differ, as a later
    /// entry can vouch for an unsigned one).
    #[must_use]
    pub fn same_content(&self, other: &LogEntry) -> bool {
        self.timestamp == other.timestamp
            && self.previous == other.previous
            && self.payload == other.payload
    }

    /// Bytes the entry occupies in accounting: payload plus signature (the
    /// fixed-size link is not counted).
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        let signature = if self.signature.is_some() { 64 } else { 0 };
        (self.payload.len() + signature) as u64
    }
}

/// The read-order key of an entry: `(timestamp, author, sequence)`.
///
/// Used as an exclusive cursor when paging through a stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryKey {
    /// The entry's timestamp.
    pub timestamp: Hlc,
    /// The entry's author.
    pub author: NodeId,
    /// The entry's sequence.
    pub sequence: u64,
}
