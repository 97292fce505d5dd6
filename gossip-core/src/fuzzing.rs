//! Entry points for the fuzz targets in `fuzz/` (see CONTRIBUTING.md,
//! "Fuzzing"): the node's own paths, reachable from outside the crate.
//! **Not part of the stable API**: may change or go away in any release.

use crate::domain::{
    merge_hashed_entries, Delta, HeldEntries, MergeInput, MergeOutcome, OutOfOrderBuffer,
};

/// Merges a decoded [`Delta`] exactly as the node does with a delta
/// response: with the entry hashes computed when the delta was decoded
/// (which [`merge_entries`](crate::raw::merge_entries) would compute again).
pub fn merge_delta(
    buffer: &mut OutOfOrderBuffer,
    input: &MergeInput<'_>,
    held: &HeldEntries,
    delta: Delta,
) -> MergeOutcome {
    let Delta {
        entries, hashes, ..
    } = delta;
    merge_hashed_entries(buffer, input, held, entries, hashes.0)
}
