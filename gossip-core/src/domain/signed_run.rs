//! Signed runs: which entries an author signs, and where a list of entries
//! may be cut without leaving an entry unproven.
//!
//! An author does not sign every entry. It signs the **last entry of every
//! append**, and inside a large append at least once every
//! [`SIGNED_RUN_BYTES`]: the hash links make that one signature vouch for
//! every entry of the run before it (see [`verify_entries`]). A run is
//! therefore at most about `SIGNED_RUN_BYTES` long (or one entry, when a
//! single payload is larger), so it fits in any sane frame and a receiver
//! gets it whole.
//!
//! Whoever sends entries (a delta, a push, a forward) keeps runs together:
//! [`provable_units`] cuts a list only after a signed entry or where the
//! author's chain breaks anyway, and [`drop_unprovable_tails`] leaves out
//! entries no signed successor in the list vouches for (a receiver would
//! refuse them, and the sender would look like a forger).
//!
//! ```
//! use gossip_core::raw::{provable_units, run_ends};
//! use gossip_core::{ChannelId, Hlc, Identity, LogEntry, StreamId};
//!
//! // Three small payloads: one signature, on the last.
//! assert_eq!(run_ends(&[10, 10, 10]), vec![false, false, true]);
//!
//! let alice = Identity::from_seed("alice");
//! let (c, s) = (ChannelId::new("c")?, StreamId::new("s")?);
//! let mut previous = gossip_core::EntryHash::GENESIS;
//! let mut entries = Vec::new();
//! for (i, sign) in run_ends(&[10, 10, 10]).into_iter().enumerate() {
//!     let seq = i as u64 + 1;
//!     let mut e = LogEntry::new(alice.node_id().clone(), seq, Hlc::new(seq, 0)?, vec![0; 10])
//!         .linked_to(previous);
//!     previous = e.hash(&c, &s);
//!     if sign {
//!         e = e.sign_hashed(&alice, &previous);
//!     }
//!     entries.push(e);
//! }
//! // The run is one unit: a frame boundary may not fall inside it.
//! assert_eq!(provable_units(&entries).map(<[_]>::len).collect::<Vec<_>>(), vec![3]);
//! # Ok::<(), gossip_core::Error>(())
//! ```
//!
//! [`verify_entries`]: super::verify_entries

use super::{entry::LogEntry, entry_runs::continues};

/// The most bytes (payloads plus a fixed per-entry allowance) between two
/// signed entries of an author in one append: 16 KiB.
pub const SIGNED_RUN_BYTES: usize = 16 * 1024;

/// What one entry counts toward [`SIGNED_RUN_BYTES`] besides its payload:
/// about its encoded header (author, sequence, timestamp, link, lengths).
const ENTRY_ALLOWANCE: usize = 128;

/// Which entries of one append, with payloads of `payload_lens` bytes, the
/// author signs: the last, and every entry after which the next would take
/// the run past [`SIGNED_RUN_BYTES`].
#[must_use]
pub fn run_ends(payload_lens: &[usize]) -> Vec<bool> {
    let cost = |len: usize| len.saturating_add(ENTRY_ALLOWANCE);
    let mut run = 0usize;
    let mut ends = Vec::with_capacity(payload_lens.len());
    for (i, &len) in payload_lens.iter().enumerate() {
        run = run.saturating_add(cost(len));
        let end = payload_lens
            .get(i + 1)
            .is_none_or(|&next| run.saturating_add(cost(next)) > SIGNED_RUN_BYTES);
        if end {
            run = 0;
        }
        ends.push(end);
    }
    ends
}

/// Splits `entries` into the pieces a sender may put in different frames:
/// each ends at a signed entry, at the end of the list, or where the next
/// entry does not continue the author's chain. Cutting inside a piece would
/// leave its first entries without the signature that proves them.
pub fn provable_units(entries: &[LogEntry]) -> impl Iterator<Item = &[LogEntry]> + '_ {
    entries.chunk_by(|entry, next| entry.signature.is_none() && continues(entry, next))
}

/// Removes the entries of `entries` that nothing in the list proves: unsigned
/// entries whose author's chain in the list ends unsigned. Returns how many
/// were removed. (An honest node holds such a tail only when the signed
/// entry after it is still missing or in quarantine.)
pub fn drop_unprovable_tails(entries: &mut Vec<LogEntry>) -> usize {
    let proven = |unit: &[LogEntry]| unit.last().is_some_and(|e| e.signature.is_some());
    if provable_units(entries).all(proven) {
        return 0;
    }
    let before = entries.len();
    *entries = provable_units(entries)
        .filter(|unit| proven(unit))
        .flatten()
        .cloned()
        .collect();
    before - entries.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::Hlc, ChannelId, Identity, StreamId};

    fn chain(author: &Identity, first: u64, signed: &[bool]) -> Vec<LogEntry> {
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        signed
            .iter()
            .enumerate()
            .map(|(i, &sign)| {
                let seq = first + i as u64;
                let e = LogEntry::new(
                    author.node_id().clone(),
                    seq,
                    Hlc::new(seq, 0).unwrap(),
                    Vec::new(),
                );
                if sign {
                    e.sign(author, &c, &s)
                } else {
                    e
                }
            })
            .collect()
    }

    #[test]
    fn runs_end_at_the_last_entry_and_before_the_byte_bound() {
        assert!(run_ends(&[]).is_empty());
        assert_eq!(run_ends(&[0]), vec![true]);
        // 100 entries of 1 KiB: a signature every 14 (14 × 1152 ≤ 16 KiB < 15 × 1152).
        let ends = run_ends(&[1024; 100]);
        let signed: Vec<usize> = (0..100).filter(|&i| ends[i]).collect();
        assert_eq!(signed[..3], [13, 27, 41]);
        assert_eq!(signed.last(), Some(&99));
        // A payload larger than the bound is a run of its own.
        assert_eq!(run_ends(&[10, 40_000, 10]), vec![true, true, true]);
    }

    #[test]
    fn units_keep_runs_whole_and_break_at_authors_and_gaps() {
        let (a, b) = (Identity::from_seed("a"), Identity::from_seed("b"));
        let mut entries = chain(&a, 1, &[false, false, true, false, true]);
        entries.extend(chain(&b, 1, &[false, true]));
        entries.extend(chain(&a, 9, &[false])); // a gap: 6..=8 missing
        let units: Vec<usize> = provable_units(&entries).map(<[_]>::len).collect();
        assert_eq!(units, vec![3, 2, 2, 1]);
    }

    #[test]
    fn unprovable_tails_are_dropped_and_the_rest_kept_in_order() {
        let (a, b) = (Identity::from_seed("a"), Identity::from_seed("b"));
        let mut entries = chain(&a, 1, &[false, true, false, false]);
        entries.extend(chain(&b, 1, &[true, false]));
        let mut kept = entries.clone();
        assert_eq!(drop_unprovable_tails(&mut kept), 3);
        assert_eq!(
            kept,
            vec![entries[0].clone(), entries[1].clone(), entries[4].clone()]
        );

        let mut whole = chain(&a, 1, &[false, true]);
        assert_eq!(drop_unprovable_tails(&mut whole), 0);
        assert_eq!(whole.len(), 2);
    }
}
