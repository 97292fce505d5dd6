//! The merge rules: how incoming entries of one stream become stored entries.
//!
//! For each incoming entry: sequence 0 → rejected; payload over the stream's
//! limit → rejected; author not a member → rejected; `seq <= held` →
//! duplicate (or an *equivocation* when the content differs: kept out and
//! reported); `seq == held + 1` → accepted, then the author's buffered
//! successors are drained; `seq > held + 1` → buffered (bounded; overflow is
//! dropped and reported). The accepted entries are meant to be written in one
//! atomic batch. What the caller should report comes back as typed
//! [`MergeOutput`]s (events and rejections), as the SWIM engine's outputs do:
//! the caller forwards them, it does not interpret errors. Any permutation, duplication or split of the same deliveries
//! ends in the same state.
//!
//! ```
//! use gossip_core::raw::{merge_entries, HeldEntries, MergeInput, OutOfOrderBuffer};
//! use gossip_core::{
//!     BufferLimits, Channel, ChannelId, Hlc, LogEntry, NodeId, StreamId, VersionVector,
//! };
//!
//! let a = NodeId::from_seed("a");
//! let channel = Channel::new(ChannelId::new("c")?, a.clone());
//! let stream = StreamId::new("s")?;
//! let mut buffer = OutOfOrderBuffer::new(BufferLimits::default());
//! let entry = |seq| LogEntry::new(a.clone(), seq, Hlc::new(seq, 0).unwrap(), vec![]);
//!
//! let held = VersionVector::new();
//! let input = MergeInput::new(&channel, &stream, &held);
//! // 2 arrives before 1: it is buffered, then released when 1 arrives.
//! let outcome = merge_entries(&mut buffer, &input, &HeldEntries::none(), vec![entry(2), entry(1)]);
//! assert_eq!(outcome.accepted.len(), 2);
//! assert_eq!(outcome.version.get(&a), 2);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};

use super::{
    buffer::{Buffered, OutOfOrderBuffer},
    channel::Channel,
    entry::LogEntry,
    events::DomainEvent,
    ids::StreamId,
    node_id::NodeId,
    version_vector::{SeqRange, VersionVector},
};
use crate::error::Error;

/// What the merge needs to know about the stream it merges into.
#[derive(Debug, Clone, Copy)]
pub struct MergeInput<'a> {
    /// The channel (members, stream limits).
    pub channel: &'a Channel,
    /// The stream.
    pub stream: &'a StreamId,
    /// The stream's stored version vector.
    pub version: &'a VersionVector,
    /// The sender's compaction base, when the entries come from a delta of a
    /// compacted stream: an author whose base is beyond what we hold is
    /// skipped forward to it (those entries no longer exist at the sender).
    pub sender_base: Option<&'a VersionVector>,
}

impl<'a> MergeInput<'a> {
    /// Input for merging into `stream` of `channel`, holding `version`.
    #[must_use]
    pub fn new(channel: &'a Channel, stream: &'a StreamId, version: &'a VersionVector) -> Self {
        Self {
            channel,
            stream,
            version,
            sender_base: None,
        }
    }

    /// Sets the sender's compaction base.
    #[must_use]
    pub fn sender_base(mut self, base: &'a VersionVector) -> Self {
        self.sender_base = Some(base);
        self
    }
}

/// Stored entries the merge compares incoming duplicates with, to detect
/// equivocation. Load them with [`duplicate_ranges`].
#[derive(Debug, Default, Clone)]
pub struct HeldEntries(HashMap<(NodeId, u64), LogEntry>);

impl HeldEntries {
    /// No stored entries to compare with (duplicates are then not checked).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Looks up a held entry.
    #[must_use]
    pub fn get(&self, author: &NodeId, sequence: u64) -> Option<&LogEntry> {
        self.0.get(&(author.clone(), sequence))
    }
}

impl FromIterator<LogEntry> for HeldEntries {
    fn from_iter<I: IntoIterator<Item = LogEntry>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|e| ((e.author.clone(), e.sequence), e))
                .collect(),
        )
    }
}

/// The stored ranges that incoming `entries` would duplicate: load them and
/// pass them as [`HeldEntries`] so the merge can detect equivocation.
#[must_use]
pub fn duplicate_ranges(version: &VersionVector, entries: &[LogEntry]) -> Vec<SeqRange> {
    let mut ranges: BTreeMap<&NodeId, (u64, u64)> = BTreeMap::new();
    for e in entries {
        if e.sequence == 0 || e.sequence > version.get(&e.author) {
            continue;
        }
        let r = ranges.entry(&e.author).or_insert((e.sequence, e.sequence));
        r.0 = r.0.min(e.sequence);
        r.1 = r.1.max(e.sequence);
    }
    ranges
        .into_iter()
        .map(|(author, (lo, hi))| SeqRange {
            author: author.clone(),
            after: lo - 1,
            up_to: hi,
        })
        .collect()
}

/// What [`merge_entries`] asks its caller to report.
///
/// The caller forwards each one: events to the node's event stream,
/// rejections to its error stream. Entries of a non-member author give both
/// an [`Event`](Self::Event) ([`DomainEvent::NonMemberEntriesRejected`]) and a
/// [`Rejected`](Self::Rejected) ([`Error::NonMember`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MergeOutput {
    /// Something that happened, for the event stream.
    Event(DomainEvent),
    /// Entries kept out (bad sequence, oversized payload, non-member
    /// author, equivocation, buffer overflow), for the error stream.
    Rejected(Error),
}

/// The result of [`merge_entries`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct MergeOutcome {
    /// Entries to append, in one atomic batch: contiguous and ascending per
    /// author, each following the author's held sequence (or raised base).
    pub accepted: Vec<LogEntry>,
    /// Authors whose base must be raised (compacting what we held of them)
    /// before `accepted` is appended.
    pub raised_base: VersionVector,
    /// The stream's version vector once the outcome is applied.
    pub version: VersionVector,
    /// Entries already held (or already buffered).
    pub duplicates: usize,
    /// Entries put in the out-of-order buffer.
    pub buffered: usize,
    /// What to report, in the order it happened: events and rejections.
    pub outputs: Vec<MergeOutput>,
}

impl MergeOutcome {
    /// Whether the outcome changes the stream.
    #[must_use]
    pub fn changes_store(&self) -> bool {
        !self.accepted.is_empty() || !self.raised_base.is_empty()
    }

    /// The rejections among [`outputs`](Self::outputs).
    pub fn rejections(&self) -> impl Iterator<Item = &Error> {
        self.outputs.iter().filter_map(|output| match output {
            MergeOutput::Rejected(error) => Some(error),
            MergeOutput::Event(_) => None,
        })
    }

    /// The events among [`outputs`](Self::outputs).
    pub fn events(&self) -> impl Iterator<Item = &DomainEvent> {
        self.outputs.iter().filter_map(|output| match output {
            MergeOutput::Event(event) => Some(event),
            MergeOutput::Rejected(_) => None,
        })
    }

    fn reject(&mut self, error: Error) {
        self.outputs.push(MergeOutput::Rejected(error));
    }
}

/// Applies the merge rules to `incoming` entries of one stream.
///
/// Pure: reads `input` and `held`, updates the out-of-order `buffer`, and
/// returns what to write. If writing the outcome fails, the accepted entries
/// are simply fetched again by a later anti-entropy round.
pub fn merge_entries(
    buffer: &mut OutOfOrderBuffer,
    input: &MergeInput<'_>,
    held: &HeldEntries,
    incoming: impl IntoIterator<Item = LogEntry>,
) -> MergeOutcome {
    let channel_id = input.channel.id();
    let key = (channel_id.clone(), input.stream.clone());
    let limit = input.channel.stream_config(input.stream).max_payload_bytes;
    let mut out = MergeOutcome {
        version: input.version.clone(),
        ..MergeOutcome::default()
    };
    if let Some(base) = input.sender_base {
        for (author, seq) in base.iter() {
            if seq > out.version.get(author) {
                out.raised_base.raise(author, seq);
                out.version.raise(author, seq);
                buffer.discard_through(&key, author, seq);
            }
        }
    }
    let mut accepted_at: HashMap<(NodeId, u64), usize> = HashMap::new();
    let mut non_members: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut dropped: BTreeMap<NodeId, usize> = BTreeMap::new();
    let equivocation = |author: &NodeId, sequence| Error::Equivocation {
        channel: channel_id.clone(),
        stream: input.stream.clone(),
        author: author.clone(),
        sequence,
    };

    for entry in incoming {
        if entry.sequence == 0 {
            out.reject(Error::InvalidSequence {
                author: entry.author,
                sequence: 0,
            });
            continue;
        }
        if entry.payload.len() > limit {
            out.reject(Error::PayloadTooLarge {
                size: entry.payload.len(),
                limit,
            });
            continue;
        }
        if !input.channel.is_member(&entry.author) {
            *non_members.entry(entry.author).or_default() += 1;
            continue;
        }
        let held_seq = out.version.get(&entry.author);
        if entry.sequence <= held_seq {
            let id = (entry.author.clone(), entry.sequence);
            let previous = accepted_at
                .get(&id)
                .and_then(|&i| out.accepted.get(i))
                .or_else(|| held.get(&entry.author, entry.sequence));
            match previous {
                Some(prev) if !prev.same_content(&entry) => {
                    out.reject(equivocation(&entry.author, entry.sequence));
                }
                _ => out.duplicates += 1,
            }
            continue;
        }
        if entry.sequence > held_seq + 1 {
            match buffer.offer(&key, entry.clone(), held_seq) {
                Buffered::Inserted => out.buffered += 1,
                Buffered::Duplicate => out.duplicates += 1,
                Buffered::Conflict => out.reject(equivocation(&entry.author, entry.sequence)),
                Buffered::Overflow => *dropped.entry(entry.author).or_default() += 1,
            }
            continue;
        }
        // The next expected entry: accept it and release its buffered successors.
        let author = entry.author.clone();
        let mut next = Some(entry);
        while let Some(e) = next {
            let seq = e.sequence;
            if let Some(waiting) = buffer.take(&key, &author, seq) {
                if !waiting.same_content(&e) {
                    out.reject(equivocation(&author, seq));
                }
            }
            out.version.raise(&author, seq);
            accepted_at.insert((author.clone(), seq), out.accepted.len());
            out.accepted.push(e);
            next = buffer.take(&key, &author, seq + 1);
        }
    }

    for (author, count) in non_members {
        out.outputs
            .push(MergeOutput::Event(DomainEvent::NonMemberEntriesRejected {
                channel: channel_id.clone(),
                stream: input.stream.clone(),
                author: author.clone(),
                count,
            }));
        out.reject(Error::NonMember {
            channel: channel_id.clone(),
            author,
            count,
        });
    }
    for (author, dropped) in dropped {
        out.reject(Error::BufferOverflow {
            channel: channel_id.clone(),
            stream: input.stream.clone(),
            author,
            dropped,
        });
    }
    out
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
