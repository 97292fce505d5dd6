//! Exact size accounting of postcard encodings, without allocating: what
//! [`encoded_len`](super::encoded_len) and the frame splitting add up.

use serde::Serialize;

use crate::domain::{LogEntry, NodeId};

/// Unwraps the result of serializing a protocol value with postcard, which
/// cannot fail: every sequence and map has a known length, the output is a
/// growable `Vec` or a byte counter, and no `Serialize` impl of the protocol
/// reports a custom error.
pub(super) fn infallible<T>(result: postcard::Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => unreachable!("serializing a protocol message cannot fail: {e}"),
    }
}

/// The postcard-encoded size of `value`, in bytes.
pub(super) fn body_len<T: Serialize + ?Sized>(value: &T) -> usize {
    infallible(postcard::experimental::serialized_size(value))
}

/// The encoded length of a postcard varint holding `n`.
pub(super) fn varint_len(n: u64) -> usize {
    let bits = u64::BITS - n.leading_zeros();
    bits.div_ceil(7).max(1) as usize
}

/// The encoded length of a sequence-length prefix.
pub(super) fn len_prefix(n: usize) -> usize {
    varint_len(n as u64)
}

/// The encoded length of a list of entries as runs (see
/// [`entry_runs`](crate::domain::entry_runs)), grown entry by entry: what
/// the frame splitting adds up.
#[derive(Debug, Clone, Default)]
pub(super) struct RunsLen {
    /// Runs so far.
    runs: usize,
    /// Entries in the last run.
    last_run: usize,
    /// The last entry's author and sequence.
    last: Option<(NodeId, u64)>,
    /// Bytes of the runs, without the list's own length prefix.
    bytes: usize,
}

impl RunsLen {
    /// The encoded length of the list, its length prefix included.
    pub(super) fn encoded_len(&self) -> usize {
        len_prefix(self.runs) + self.bytes
    }

    /// The list's length after appending `entries`.
    pub(super) fn with(&self, entries: &[LogEntry]) -> Self {
        let mut grown = self.clone();
        for entry in entries {
            grown.push(entry);
        }
        grown
    }

    fn push(&mut self, entry: &LogEntry) {
        // As `entry_runs::continues`: same author, next sequence.
        let continued = self.last.as_ref().is_some_and(|(author, sequence)| {
            *author == entry.author && sequence.checked_add(1) == Some(entry.sequence)
        });
        if continued {
            self.bytes += len_prefix(self.last_run + 1) - len_prefix(self.last_run);
            self.last_run += 1;
        } else {
            self.runs += 1;
            self.bytes +=
                body_len(&(&entry.author, entry.sequence, &entry.previous)) + len_prefix(1);
            self.last_run = 1;
        }
        self.bytes += body_len(&(&entry.timestamp, &entry.payload, &entry.signature));
        self.last = Some((entry.author.clone(), entry.sequence));
    }
}
