//! Entries on the wire as **runs**: what a [`Delta`](super::Delta) or a
//! [`Push`](crate::protocol::Push) carries instead of a list of
//! self-contained entries.
//!
//! Consecutive entries of one author with consecutive sequences form a run.
//! A run states its author, its first sequence and its first entry's link
//! once; each entry then carries only its timestamp, payload and signature
//! (present only on a run's signed ends). The receiver rebuilds every other
//! link by hashing the entry before it: a sender holds only linked chains
//! (merge checks every link, appends make them), so nothing is lost, and a
//! sender that lies about a link gains nothing: the link it would have
//! stated is the one the receiver computes, and the run's signature
//! vouches for exactly that chain.
//!
//! Per entry after the first, a run saves the 32-byte author, the 32-byte
//! link and the sequence: a batch of 100 entries costs its author and one
//! link once.

use bytes::Bytes;
use serde::{
    ser::{SerializeSeq, SerializeTuple},
    Deserialize, Serialize, Serializer,
};

use super::{
    entry::{deserialize_sequence, LogEntry, MAX_SEQUENCE},
    entry_proof::EntryHash,
    hlc::Hlc,
    ids::{ChannelId, StreamId},
    node_id::{NodeId, Signature},
};

/// Whether `next` continues `entry`'s run: same author, next sequence.
pub(crate) fn continues(entry: &LogEntry, next: &LogEntry) -> bool {
    next.author == entry.author && entry.sequence.checked_add(1) == Some(next.sequence)
}

/// Serializes a list of entries as runs (`#[serde(serialize_with)]`).
pub(crate) fn serialize<S: Serializer>(
    entries: &[LogEntry],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let runs = || entries.chunk_by(continues);
    let mut seq = serializer.serialize_seq(Some(runs().count()))?;
    for run in runs() {
        if let Some(first) = run.first() {
            seq.serialize_element(&RunRef { first, run })?;
        }
    }
    seq.end()
}

/// One run, borrowed: `(author, first sequence, first link, [(timestamp, payload, signature)])`.
struct RunRef<'a> {
    first: &'a LogEntry,
    run: &'a [LogEntry],
}

impl Serialize for RunRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(4)?;
        tuple.serialize_element(&self.first.author)?;
        tuple.serialize_element(&self.first.sequence)?;
        tuple.serialize_element(&self.first.previous)?;
        tuple.serialize_element(&RunEntries(self.run))?;
        tuple.end()
    }
}

struct RunEntries<'a>(&'a [LogEntry]);

impl Serialize for RunEntries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            seq.serialize_element(&(&e.timestamp, &e.payload, &e.signature))?;
        }
        seq.end()
    }
}

/// One run as decoded, before its links are rebuilt.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRun {
    author: NodeId,
    #[serde(deserialize_with = "deserialize_sequence")]
    first: u64,
    previous: EntryHash,
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    entries: Vec<WireEntry>,
}

/// One entry of a decoded run, as [`RunEntries`] writes it (a tuple and a
/// struct encode alike): its payload shares the frame's buffer when the
/// frame was lent (see [`shared_payload`](crate::shared_payload)).
#[derive(Debug, Deserialize)]
struct WireEntry {
    timestamp: Hlc,
    #[serde(deserialize_with = "crate::shared_payload::deserialize")]
    payload: Bytes,
    signature: Option<Signature>,
}

/// The hashes of a decoded delta's entries (one per entry, in order),
/// computed while its links were rebuilt, so that verifying the entries
/// does not hash them again. Empty for a delta built locally. Not part of
/// the delta's value: any two compare equal.
#[derive(Clone, Default)]
pub(crate) struct DecodedHashes(pub(crate) Vec<EntryHash>);

impl PartialEq for DecodedHashes {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DecodedHashes {}

impl std::fmt::Debug for DecodedHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} decoded hashes", self.0.len())
    }
}

/// Rebuilds the entries of decoded `runs` in `channel` and `stream`: their
/// sequences, and every link after a run's first by hashing the entry
/// before it. Returns the entries and their hashes.
///
/// # Errors
///
/// A message when a run is empty or its sequences pass [`MAX_SEQUENCE`].
pub(crate) fn rebuild(
    channel: &ChannelId,
    stream: &StreamId,
    runs: Vec<WireRun>,
) -> Result<(Vec<LogEntry>, Vec<EntryHash>), String> {
    let total = runs.iter().map(|r| r.entries.len()).sum();
    let mut entries = Vec::with_capacity(total);
    let mut hashes = Vec::with_capacity(total);
    for run in runs {
        rebuild_run(
            (channel, stream),
            &run.author,
            run.first,
            run.previous,
            run.entries
                .into_iter()
                .map(|e| (e.timestamp, e.payload, e.signature)),
            (&mut entries, &mut hashes),
        )?;
    }
    Ok((entries, hashes))
}

/// Rebuilds one run of `author` starting at `first` whose first entry links
/// to `previous`, appending its entries and their hashes to `out`.
///
/// # Errors
///
/// A message when the run is empty or its sequences pass [`MAX_SEQUENCE`]
/// (nothing is appended then).
pub(crate) fn rebuild_run(
    (channel, stream): (&ChannelId, &StreamId),
    author: &NodeId,
    first: u64,
    previous: EntryHash,
    run: impl ExactSizeIterator<Item = (Hlc, Bytes, Option<Signature>)>,
    out: (&mut Vec<LogEntry>, &mut Vec<EntryHash>),
) -> Result<(), String> {
    let (entries, hashes) = out;
    let count = run.len() as u64;
    if count == 0 {
        return Err("a run without entries".into());
    }
    if first.saturating_add(count - 1) > MAX_SEQUENCE {
        return Err(format!(
            "a run of {count} entries from sequence {first} passes the maximum 2^63"
        ));
    }
    let mut previous = previous;
    for (i, (timestamp, payload, signature)) in run.enumerate() {
        let mut entry =
            LogEntry::new(author.clone(), first + i as u64, timestamp, payload).linked_to(previous);
        entry.signature = signature;
        previous = entry.hash(channel, stream);
        hashes.push(previous);
        entries.push(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::Delta, protocol::codec, Identity};

    #[test]
    fn a_linked_batch_costs_its_author_and_link_once() {
        let alice = Identity::from_seed("alice");
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        let mut previous = EntryHash::GENESIS;
        let entries: Vec<LogEntry> = (1..=100)
            .map(|seq| {
                let e = LogEntry::new(
                    alice.node_id().clone(),
                    seq,
                    Hlc::new(seq, 0).unwrap(),
                    vec![1; 256],
                )
                .linked_to(previous);
                previous = e.hash(&c, &s);
                if seq == 100 {
                    e.sign_hashed(&alice, &previous)
                } else {
                    e
                }
            })
            .collect();
        let delta = Delta::new(c.clone(), s.clone(), Vec::new(), entries.clone());
        let message = crate::protocol::Message::DeltaResponse(crate::protocol::DeltaResponse {
            session: 1,
            deltas: vec![delta],
            more: false,
        });
        let frame = codec::encode(&message);
        let overhead = (frame.len() - 100 * 256) as f64 / 100.0;
        assert!(overhead < 12.0, "{overhead} B per entry");
        assert_eq!(codec::decode(&frame, usize::MAX).unwrap(), message);
    }

    #[test]
    fn empty_runs_and_sequences_past_the_maximum_are_refused() {
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        let run = |first, n| WireRun {
            author: NodeId::from_seed("a"),
            first,
            previous: EntryHash::GENESIS,
            entries: (0..n)
                .map(|_| WireEntry {
                    timestamp: Hlc::new(1, 0).unwrap(),
                    payload: Bytes::new(),
                    signature: None,
                })
                .collect(),
        };
        assert!(rebuild(&c, &s, vec![run(1, 0)]).is_err());
        assert!(rebuild(&c, &s, vec![run(MAX_SEQUENCE, 2)]).is_err());
        let (rebuilt, hashes) = rebuild(&c, &s, vec![run(MAX_SEQUENCE - 1, 2)]).unwrap();
        assert_eq!(rebuilt[1].previous, rebuilt[0].hash(&c, &s));
        assert_eq!(
            hashes,
            vec![rebuilt[0].hash(&c, &s), rebuilt[1].hash(&c, &s)]
        );
    }
}
