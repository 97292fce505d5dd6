//! Proving incoming entries are their authors' before anything is kept.
//!
//! An entry is **proven** when it carries its author's valid signature, or
//! when a proven entry of the same author, one sequence later, links to its
//! hash (see [`EntryHash`]). A contiguous run of one author therefore costs
//! one hash per entry and one signature check, of its last entry: the links
//! vouch for the rest. An entry is **forged** when its signature does not
//! verify, or when it is unsigned and the proven entry after it links to
//! something else. An unsigned entry with no proven successor in the batch is
//! **unproven**: kept out like a forgery (an honest sender always sends a
//! run's signed end), but counted apart.
//!
//! ```
//! use gossip_core::raw::verify_entries;
//! use gossip_core::{ChannelId, Hlc, Identity, LogEntry, StreamId};
//!
//! let alice = Identity::from_seed("alice");
//! let (c, s) = (ChannelId::new("c")?, StreamId::new("s")?);
//! let first = LogEntry::new(alice.node_id().clone(), 1, Hlc::new(1, 0)?, b"1".to_vec());
//! // Only the last entry of the run is signed: the link proves the first.
//! let second = LogEntry::new(alice.node_id().clone(), 2, Hlc::new(2, 0)?, b"2".to_vec())
//!     .linked_to(first.hash(&c, &s))
//!     .sign(&alice, &c, &s);
//! let checked = verify_entries(&c, &s, vec![first, second]);
//! assert_eq!(checked.proven.len(), 2);
//! assert!(checked.forged.is_empty() && checked.unproven.is_empty());
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::collections::BTreeMap;

use super::{
    entry::LogEntry,
    entry_proof::EntryHash,
    ids::{ChannelId, StreamId},
    node_id::{NodeId, Signature},
};

/// An entry proven to be its author's, with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenEntry {
    /// The entry.
    pub entry: LogEntry,
    /// Its hash in the stream (as [`LogEntry::hash`] computes it).
    pub hash: EntryHash,
}

/// What [`verify_entries`] found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Verification {
    /// The proven entries, by author, ascending by sequence.
    pub proven: Vec<ProvenEntry>,
    /// Per author, the entries that are provably not the author's: a bad
    /// signature, or unsigned and contradicted by the author's proven next
    /// entry.
    pub forged: BTreeMap<NodeId, usize>,
    /// Per author, unsigned entries with nothing in the batch to prove them.
    pub unproven: BTreeMap<NodeId, usize>,
}

/// Sorts `entries` into proven, forged and unproven ones: an entry is proven
/// by its own signature or by the proven entry after it linking to its hash;
/// forged when its signature fails or that link points elsewhere; unproven
/// when nothing in `entries` vouches for it. Pure, no I/O; costs one BLAKE3 hash per entry and
/// one signature check per run of an author (plus one per entry that no
/// successor vouches for).
#[must_use]
pub fn verify_entries(
    channel: &ChannelId,
    stream: &StreamId,
    entries: Vec<LogEntry>,
) -> Verification {
    verify_hashed(channel, stream, entries, Vec::new())
}

/// As [`verify_entries`], given the entries' `hashes` when they are known
/// already (one per entry, in order, computed by this node: a decoded
/// delta's). Hashes are computed when `hashes` does not match `entries`.
pub(crate) fn verify_hashed(
    channel: &ChannelId,
    stream: &StreamId,
    entries: Vec<LogEntry>,
    hashes: Vec<EntryHash>,
) -> Verification {
    let count = entries.len();
    let mut known = (hashes.len() == count).then(|| hashes.into_iter());
    let mut run: Vec<(LogEntry, Option<EntryHash>)> = entries
        .into_iter()
        .map(|entry| (entry, known.as_mut().and_then(Iterator::next)))
        .collect();
    // By author, ascending (stable: among entries of one sequence, the first
    // sent stays first). Deltas and pushes arrive in this order already,
    // which the sort only checks.
    run.sort_by(|(a, _), (b, _)| a.author.cmp(&b.author).then(a.sequence.cmp(&b.sequence)));
    // Filled per entry, in `run`'s order: its hash when proven, and for an
    // exact repeat, the signature of the twin that proved it (so a repeat
    // without a signature, or with a forged one, is never kept as it came).
    let mut proven_hashes: Vec<Option<EntryHash>> = vec![None; count];
    let mut twins: Vec<Option<Option<Signature>>> = vec![None; count];
    let mut out = Verification::default();
    let mut from = 0;
    while let Some((first, _)) = run.get(from) {
        let author = &first.author;
        let len = run
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|(e, _)| e.author == *author)
            .count();
        let to = from + len;
        let (Some(group), Some(slots), Some(twin_slots)) = (
            run.get(from..to),
            proven_hashes.get_mut(from..to),
            twins.get_mut(from..to),
        ) else {
            break;
        };
        verify_author(channel, stream, group, slots, twin_slots, &mut out);
        from = to;
    }
    out.proven.reserve(count);
    out.proven
        .extend(run.into_iter().zip(proven_hashes).zip(twins).filter_map(
            |(((mut entry, _), hash), twin)| {
                if let Some(signature) = twin {
                    entry.signature = signature;
                }
                hash.map(|hash| ProvenEntry { entry, hash })
            },
        ));
    out
}

/// Proves the entries of one author (`run`, ascending by sequence), walked
/// from the highest sequence down, since a proven entry vouches for the one
/// before it; fills `slots` with the hashes of proven entries and `twins`
/// with the signatures exact repeats take, and counts the rest in `out`.
fn verify_author(
    channel: &ChannelId,
    stream: &StreamId,
    run: &[(LogEntry, Option<EntryHash>)],
    slots: &mut [Option<EntryHash>],
    twins: &mut [Option<Option<Signature>>],
    out: &mut Verification,
) {
    // Entries arrive grouped by sequence, highest first, so two small lists
    // replace maps: the links of the proven entries of the group just above
    // (they vouch for sequence `vouched_seq`), and the hashes proven in the
    // current group, with the signature of the copy that was proven (exact
    // repeats cost nothing).
    let mut vouched_seq: Option<u64> = None;
    let mut vouched: Vec<EntryHash> = Vec::new();
    let mut group_seq: Option<u64> = None;
    let mut group_proven: Vec<(EntryHash, Option<Signature>)> = Vec::new();
    let mut group_links: Vec<EntryHash> = Vec::new();
    for (((entry, known), slot), twin) in
        run.iter().zip(slots.iter_mut()).zip(twins.iter_mut()).rev()
    {
        let hash = known.unwrap_or_else(|| entry.hash(channel, stream));
        let seq = entry.sequence;
        if group_seq != Some(seq) {
            vouched_seq = group_seq.and_then(|above| above.checked_sub(1));
            std::mem::swap(&mut vouched, &mut group_links);
            group_links.clear();
            group_proven.clear();
            group_seq = Some(seq);
        }
        let vouching = if vouched_seq == Some(seq) {
            vouched.as_slice()
        } else {
            &[]
        };
        let repeat_of = group_proven
            .iter()
            .find(|(proven, _)| *proven == hash)
            .map(|&(_, signature)| signature);
        let is_proven = if let Some(signature) = repeat_of {
            *twin = Some(signature);
            true
        } else if vouching.contains(&hash) {
            true
        } else if entry.signature.is_some() {
            let valid = entry.verify_signature_of(&hash).is_ok();
            if !valid {
                *out.forged.entry(entry.author.clone()).or_default() += 1;
            }
            valid
        } else {
            let counter = if vouching.is_empty() {
                &mut out.unproven
            } else {
                &mut out.forged
            };
            *counter.entry(entry.author.clone()).or_default() += 1;
            false
        };
        if is_proven && repeat_of.is_none() {
            group_proven.push((hash, entry.signature));
            if seq > 0 {
                group_links.push(entry.previous);
            }
        }
        if is_proven {
            *slot = Some(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Hlc, Identity};

    fn ids() -> (ChannelId, StreamId) {
        (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap())
    }

    /// `n` entries of `author`, linked, each signed when `signed(seq)`.
    fn chain(author: &Identity, n: u64, signed: impl Fn(u64) -> bool) -> Vec<LogEntry> {
        let (c, s) = ids();
        let mut previous = EntryHash::GENESIS;
        (1..=n)
            .map(|seq| {
                let mut e = LogEntry::new(
                    author.node_id().clone(),
                    seq,
                    Hlc::new(seq, 0).unwrap(),
                    vec![seq as u8],
                )
                .linked_to(previous);
                if signed(seq) {
                    e = e.sign(author, &c, &s);
                }
                previous = e.hash(&c, &s);
                e
            })
            .collect()
    }

    fn check(entries: Vec<LogEntry>) -> Verification {
        let (c, s) = ids();
        verify_entries(&c, &s, entries)
    }

    fn sequences(v: &Verification) -> Vec<u64> {
        v.proven.iter().map(|p| p.entry.sequence).collect()
    }

    #[test]
    fn a_run_signed_at_its_end_is_proven_whole_in_order() {
        let alice = Identity::from_seed("a");
        let mut run = chain(&alice, 5, |seq| seq == 5);
        run.reverse();
        let v = check(run);
        assert_eq!(sequences(&v), vec![1, 2, 3, 4, 5]);
        assert!(v.forged.is_empty() && v.unproven.is_empty());
    }

    #[test]
    fn an_unsigned_tail_is_unproven_and_a_bad_signature_forged() {
        let alice = Identity::from_seed("a");
        let run = chain(&alice, 4, |seq| seq == 2);
        let v = check(run.clone());
        assert_eq!(sequences(&v), vec![1, 2]);
        assert_eq!(v.unproven.get(alice.node_id()), Some(&2));

        let (c, s) = ids();
        let mut forged = run;
        forged[1] = forged[1]
            .clone()
            .sign(&Identity::from_seed("mallory"), &c, &s);
        let v = check(forged);
        assert!(v.proven.is_empty(), "{:?}", sequences(&v));
        assert_eq!(v.forged.get(alice.node_id()), Some(&1));
        assert_eq!(v.unproven.get(alice.node_id()), Some(&3));
    }

    #[test]
    fn an_altered_entry_inside_a_signed_run_is_forged_and_cuts_the_proof() {
        let alice = Identity::from_seed("a");
        let mut run = chain(&alice, 4, |seq| seq == 4);
        run[1].payload = b"altered".to_vec().into();
        let v = check(run);
        // 4 is signed, 3 is vouched for by 4; 2 is contradicted by 3; 1 has
        // no proven successor.
        assert_eq!(sequences(&v), vec![3, 4]);
        assert_eq!(v.forged.get(alice.node_id()), Some(&1));
        assert_eq!(v.unproven.get(alice.node_id()), Some(&1));
    }

    #[test]
    fn authors_are_checked_apart_and_repeats_cost_nothing() {
        let (alice, bob) = (Identity::from_seed("a"), Identity::from_seed("b"));
        let mut all = chain(&alice, 3, |_| true);
        all.extend(chain(&bob, 2, |_| true));
        all.extend(chain(&alice, 3, |_| true));
        let v = check(all);
        assert_eq!(v.proven.len(), 8);
        assert!(v.forged.is_empty() && v.unproven.is_empty());
    }

    #[test]
    fn hashes_known_from_decoding_give_the_same_verdict() {
        let (c, s) = ids();
        let alice = Identity::from_seed("a");
        let mut run = chain(&alice, 6, |seq| seq == 6);
        run[2].payload = b"altered".to_vec().into();
        let hashes: Vec<EntryHash> = run.iter().map(|e| e.hash(&c, &s)).collect();
        let computed = check(run.clone());
        let given = verify_hashed(&c, &s, run.clone(), hashes);
        assert_eq!(sequences(&given), sequences(&computed));
        assert_eq!(given.forged, computed.forged);
        assert_eq!(given.unproven, computed.unproven);
        // Hashes that do not match the entries one for one are not used.
        let short = verify_hashed(&c, &s, run, vec![EntryHash::GENESIS]);
        assert_eq!(sequences(&short), sequences(&computed));
    }

    /// Found by the `merge` fuzz target: a copy of a signed entry sent
    /// before it, unsigned or with a forged signature, was proven by its
    /// twin and kept as it came, so the merge stored an entry that fails
    /// verification on its own (and that no peer would take from us).
    #[test]
    fn a_repeat_is_kept_with_the_signature_that_proved_it() {
        let (c, s) = ids();
        let alice = Identity::from_seed("a");
        let signed = chain(&alice, 1, |_| true).remove(0);
        let mut forged = signed.clone();
        forged.signature = Some(Signature::from_bytes([7; 64]));
        let mut unsigned = signed.clone();
        unsigned.signature = None;
        for copy in [forged, unsigned] {
            let v = check(vec![copy, signed.clone()]);
            assert_eq!(sequences(&v), vec![1, 1]);
            for proven in &v.proven {
                assert!(proven.entry.verify_signature(&c, &s).is_ok());
            }
        }
    }

    #[test]
    fn an_entry_signed_by_another_key_in_the_authors_name_is_forged() {
        let alice = Identity::from_seed("a");
        let (c, s) = ids();
        let forged = LogEntry::new(alice.node_id().clone(), 1, Hlc::new(1, 0).unwrap(), vec![])
            .sign(&Identity::from_seed("mallory"), &c, &s);
        let v = check(vec![forged]);
        assert!(v.proven.is_empty());
        assert_eq!(v.forged.get(alice.node_id()), Some(&1));
    }
}
