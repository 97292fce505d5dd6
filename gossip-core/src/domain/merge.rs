//! The merge rules: how incoming entries of one stream become stored entries.
//!
//! First the entries are proven to be their authors' ([`verify_entries`](super::verify_entries)):
//! forged and unproven ones are rejected before anything else looks at them.
//! A sender's compaction base is taken only with proof ([`BaseProof`]).
//! Then, for each proven entry: sequence 0 → rejected; payload over the
//! stream's limit → rejected; author not a member → rejected; stamped
//! further ahead of the merging node's clock than the allowed drift →
//! quarantined (neither stored nor buffered, reported; merged again when the
//! clock catches up); `seq <= held` → duplicate (or an *equivocation* when
//! the content differs: kept out and reported with both entries as proof);
//! `seq == held + 1` → accepted if it links to the author's entry before it
//! (an equivocation otherwise), then the author's buffered successors are
//! drained, each checked against the link in turn; `seq > held + 1` →
//! buffered (bounded; overflow is dropped and reported).
//!
//! The accepted entries are meant to be written in one atomic batch. What
//! the caller should report comes back as typed [`MergeOutput`]s (events,
//! rejections, equivocation proofs), as the SWIM engine's outputs do: the
//! caller forwards them, it does not interpret errors. Any permutation,
//! duplication or split of the same deliveries ends in the same state.
//!
//! ```
//! use gossip_core::raw::{merge_entries, HeldEntries, MergeInput, OutOfOrderBuffer};
//! use gossip_core::{
//!     BufferLimits, Channel, ChannelId, Hlc, LogEntry, NodeId, StreamId, VersionVector,
//! };
//!
//! let alice = gossip_core::Identity::from_seed("a");
//! let a = alice.node_id().clone();
//! let channel = Channel::new(ChannelId::new("c")?, a.clone());
//! let stream = StreamId::new("s")?;
//! let mut buffer = OutOfOrderBuffer::new(BufferLimits::default());
//! let first = LogEntry::new(a.clone(), 1, Hlc::new(1, 0)?, vec![])
//!     .sign(&alice, channel.id(), &stream);
//! let second = LogEntry::new(a.clone(), 2, Hlc::new(2, 0)?, vec![])
//!     .linked_to(first.hash(channel.id(), &stream))
//!     .sign(&alice, channel.id(), &stream);
//!
//! let held = VersionVector::new();
//! let input = MergeInput::new(&channel, &stream, &held);
//! // 2 arrives before 1: it is buffered, then released when 1 arrives.
//! let outcome = merge_entries(&mut buffer, &input, &HeldEntries::none(), vec![second, first]);
//! assert_eq!(outcome.accepted.len(), 2);
//! assert_eq!(outcome.version.get(&a), 2);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};

use super::{
    buffer::{Buffered, OutOfOrderBuffer},
    channel::Channel,
    checkpoint::{BaseProof, SignedHeader},
    control::Permission,
    entry::LogEntry,
    entry_proof::EntryHash,
    events::DomainEvent,
    ids::StreamId,
    node_id::NodeId,
    verify::{verify_hashed, ProvenEntry},
    version_vector::{SeqRange, VersionVector},
};
use crate::error::Error;

/// What the merge needs to know about the stream it merges into.
#[derive(Debug, Clone, Copy)]
pub struct MergeInput<'a> {
    /// The channel (members, stream limits and retention).
    pub channel: &'a Channel,
    /// The stream.
    pub stream: &'a StreamId,
    /// The stream's stored version vector.
    pub version: &'a VersionVector,
    /// Proofs of the sender's compaction base, when the entries come from a
    /// delta of a compacted stream: an author whose proven base is beyond
    /// what we hold is skipped forward to it.
    pub sender_base: &'a [BaseProof],
    /// The merging node: a base for its own log is never taken from a peer.
    pub local: Option<&'a NodeId>,
    /// The peer the entries came from, if any: what it makes the
    /// out-of-order buffer hold counts against its share.
    pub from: Option<&'a NodeId>,
    /// The merging node's physical time, for time-based retention and the
    /// quarantine.
    pub now_ms: u64,
    /// How far ahead of `now_ms` an entry's timestamp may be; entries
    /// further ahead are quarantined (see [`MergeOutcome::quarantined`]).
    /// `None`: no bound.
    pub max_drift_ms: Option<u64>,
}

impl<'a> MergeInput<'a> {
    /// Input for merging into `stream` of `channel`, holding `version`.
    #[must_use]
    pub fn new(channel: &'a Channel, stream: &'a StreamId, version: &'a VersionVector) -> Self {
        Self {
            channel,
            stream,
            version,
            sender_base: &[],
            local: None,
            from: None,
            now_ms: 0,
            max_drift_ms: None,
        }
    }

    /// Sets how far ahead of the merging node's time an entry may be.
    #[must_use]
    pub fn max_drift(mut self, drift: std::time::Duration) -> Self {
        self.max_drift_ms = Some(u64::try_from(drift.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Sets the proofs of the sender's compaction base.
    #[must_use]
    pub fn sender_base(mut self, base: &'a [BaseProof]) -> Self {
        self.sender_base = base;
        self
    }

    /// Sets the peer the entries came from.
    #[must_use]
    pub fn from_peer(mut self, peer: &'a NodeId) -> Self {
        self.from = Some(peer);
        self
    }

    /// Sets the merging node and its physical time (see
    /// [`BaseProof::check`]).
    #[must_use]
    pub fn at(mut self, local: &'a NodeId, now_ms: u64) -> Self {
        self.local = Some(local);
        self.now_ms = now_ms;
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

/// The stored entries the merge must compare incoming `entries` with: those
/// they would duplicate (to detect equivocation) and, for each author whose
/// log they continue, the last one held (to check the link). Load them and
/// pass them as [`HeldEntries`].
#[must_use]
pub fn duplicate_ranges(version: &VersionVector, entries: &[LogEntry]) -> Vec<SeqRange> {
    let mut ranges: BTreeMap<&NodeId, (u64, u64)> = BTreeMap::new();
    for e in entries {
        let held = version.get(&e.author);
        if e.sequence == 0 || held == 0 {
            continue;
        }
        // An entry beyond what we hold needs the head to check its link.
        let wanted = e.sequence.min(held);
        let r = ranges.entry(&e.author).or_insert((wanted, wanted));
        r.0 = r.0.min(wanted);
        r.1 = r.1.max(wanted);
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
    /// Entries kept out (forged or unproven, bad sequence, oversized
    /// payload, non-member author, equivocation, buffer overflow), for the
    /// error stream.
    Rejected(Error),
    /// Two entries its author signed for one place in its log (with the
    /// [`Error::Equivocation`] rejection reported beside it): keep it, and
    /// flag the author.
    Equivocation(Box<EquivocationProof>),
}

/// Proof that an author signed two different entries for one place in its
/// log: two entries with the same sequence, or an entry whose link names
/// another predecessor than the one held. Both are proven the author's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EquivocationProof {
    /// The channel.
    pub channel: super::ids::ChannelId,
    /// The stream.
    pub stream: StreamId,
    /// The entry held (or accepted first).
    pub held: LogEntry,
    /// The entry that contradicts it: same sequence with other content, or
    /// the next sequence linking to something else.
    pub conflicting: LogEntry,
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
    /// The signed headers that prove `raised_base`: keep them (see
    /// [`Channel::checkpoint`]) to prove the base to others in turn.
    pub checkpoints: Vec<SignedHeader>,
    /// Proven entries whose timestamp is beyond the allowed drift: neither
    /// stored nor buffered; hold them (bounded) and merge them again once
    /// the clock has caught up.
    pub quarantined: Vec<LogEntry>,
    /// Proven entries by authors the channel's control log has not heard
    /// of (yet): neither stored nor buffered; hold them (bounded) and merge
    /// them again once the control log changes (see
    /// [`Permission::Unknown`](super::Permission::Unknown)).
    pub pending: Vec<LogEntry>,
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
            _ => None,
        })
    }

    /// The events among [`outputs`](Self::outputs).
    pub fn events(&self) -> impl Iterator<Item = &DomainEvent> {
        self.outputs.iter().filter_map(|output| match output {
            MergeOutput::Event(event) => Some(event),
            _ => None,
        })
    }

    /// The equivocation proofs among [`outputs`](Self::outputs).
    pub fn equivocations(&self) -> impl Iterator<Item = &EquivocationProof> {
        self.outputs.iter().filter_map(|output| match output {
            MergeOutput::Equivocation(proof) => Some(&**proof),
            _ => None,
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
    merge_hashed_entries(
        buffer,
        input,
        held,
        incoming.into_iter().collect(),
        Vec::new(),
    )
}

/// As [`merge_entries`], given the incoming entries' hashes when decoding
/// computed them already (see [`verify_hashed`]).
pub(crate) fn merge_hashed_entries(
    buffer: &mut OutOfOrderBuffer,
    input: &MergeInput<'_>,
    held: &HeldEntries,
    incoming: Vec<LogEntry>,
    hashes: Vec<EntryHash>,
) -> MergeOutcome {
    let mut merge = Merge::new(input, held);
    merge.raise_bases(buffer);
    let verification = verify_hashed(input.channel.id(), input.stream, incoming, hashes);
    merge.report_forgeries(&verification.forged, &verification.unproven);
    merge.out.accepted.reserve(verification.proven.len());
    merge.accepted_at.reserve(verification.proven.len());
    for proven in verification.proven {
        merge.offer(buffer, proven);
    }
    merge.finish()
}

/// One call of [`merge_entries`] in progress.
struct Merge<'a> {
    input: &'a MergeInput<'a>,
    held: &'a HeldEntries,
    key: (super::ids::ChannelId, StreamId),
    limit: usize,
    out: MergeOutcome,
    accepted_at: HashMap<(NodeId, u64), usize>,
    /// Per author, the sequence and hash of the last entry accepted here.
    heads: HashMap<NodeId, (u64, EntryHash)>,
    non_members: BTreeMap<NodeId, usize>,
    dropped: BTreeMap<NodeId, usize>,
    /// Per author: entries quarantined, and the furthest ahead (ms).
    future: BTreeMap<NodeId, (usize, u64)>,
}

impl<'a> Merge<'a> {
    fn new(input: &'a MergeInput<'a>, held: &'a HeldEntries) -> Self {
        Self {
            input,
            held,
            key: (input.channel.id().clone(), input.stream.clone()),
            limit: input.channel.stream_config(input.stream).max_payload_bytes,
            out: MergeOutcome {
                version: input.version.clone(),
                ..MergeOutcome::default()
            },
            accepted_at: HashMap::new(),
            heads: HashMap::new(),
            non_members: BTreeMap::new(),
            dropped: BTreeMap::new(),
            future: BTreeMap::new(),
        }
    }

    /// Raises the base of every author whose proof holds and goes beyond
    /// what we hold; refusals are reported (a forged proof is an attack, a
    /// policy that keeps the entries means the gap is fetched elsewhere).
    fn raise_bases(&mut self, buffer: &mut OutOfOrderBuffer) {
        let (channel, stream) = (&self.key.0, &self.key.1);
        let policy = &self.input.channel.stream_config(stream).retention;
        for proof in self.input.sender_base {
            let author = proof.author();
            let held = self.out.version.get(author);
            if proof.base.sequence <= held {
                continue;
            }
            match proof.check(channel, stream, policy, self.input.local, self.input.now_ms) {
                Ok(seq) => {
                    self.out.raised_base.raise(author, seq);
                    self.out.version.raise(author, seq);
                    self.out.checkpoints.push(proof.base.clone());
                    buffer.discard_through(&self.key, author, seq);
                }
                Err(reason) => self.out.reject(Error::BaseRefused {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    author: author.clone(),
                    sequence: proof.base.sequence,
                    reason,
                }),
            }
        }
    }

    fn report_forgeries(
        &mut self,
        forged: &BTreeMap<NodeId, usize>,
        unproven: &BTreeMap<NodeId, usize>,
    ) {
        let authors: std::collections::BTreeSet<&NodeId> =
            forged.keys().chain(unproven.keys()).collect();
        for author in authors {
            self.out.reject(Error::ForgedEntries {
                channel: self.key.0.clone(),
                stream: self.key.1.clone(),
                author: author.clone(),
                forged: forged.get(author).copied().unwrap_or(0),
                unproven: unproven.get(author).copied().unwrap_or(0),
            });
        }
    }

    /// The entry of `author` at `sequence`, accepted in this merge or held.
    fn entry_at(&self, author: &NodeId, sequence: u64) -> Option<&LogEntry> {
        self.accepted_at
            .get(&(author.clone(), sequence))
            .and_then(|&i| self.out.accepted.get(i))
            .or_else(|| self.held.get(author, sequence))
    }

    /// The hash the author's entry at `sequence + 1` must link to, when known:
    /// genesis before the first entry, else the hash of the entry held or
    /// accepted at `sequence` (unknown when compaction removed it).
    fn link_before(&self, author: &NodeId, sequence: u64) -> Option<EntryHash> {
        if sequence == 0 {
            return Some(EntryHash::GENESIS);
        }
        match self.heads.get(author) {
            Some(&(seq, hash)) if seq == sequence => Some(hash),
            _ => self
                .held
                .get(author, sequence)
                .map(|e| e.hash(&self.key.0, &self.key.1)),
        }
    }

    fn equivocation(&mut self, held: LogEntry, conflicting: LogEntry) {
        self.out.reject(Error::Equivocation {
            channel: self.key.0.clone(),
            stream: self.key.1.clone(),
            author: conflicting.author.clone(),
            sequence: conflicting.sequence,
        });
        self.out
            .outputs
            .push(MergeOutput::Equivocation(Box::new(EquivocationProof {
                channel: self.key.0.clone(),
                stream: self.key.1.clone(),
                held,
                conflicting,
            })));
    }

    fn offer(&mut self, buffer: &mut OutOfOrderBuffer, proven: ProvenEntry) {
        let ProvenEntry { entry, hash } = proven;
        if entry.sequence == 0 {
            self.out.reject(Error::InvalidSequence {
                author: entry.author,
                sequence: 0,
            });
            return;
        }
        if entry.payload.len() > self.limit {
            self.out.reject(Error::PayloadTooLarge {
                size: entry.payload.len(),
                limit: self.limit,
            });
            return;
        }
        match self
            .input
            .channel
            .permission(self.input.stream, &entry.author, entry.sequence)
        {
            Permission::Allowed => {}
            Permission::Unknown => {
                self.out.pending.push(entry);
                return;
            }
            Permission::Denied => {
                *self.non_members.entry(entry.author).or_default() += 1;
                return;
            }
        }
        if let Some(drift) = self.input.max_drift_ms {
            let ahead = entry
                .timestamp
                .physical_ms()
                .saturating_sub(self.input.now_ms);
            if ahead > drift {
                let (count, furthest) = self.future.entry(entry.author.clone()).or_default();
                *count += 1;
                *furthest = (*furthest).max(ahead);
                self.out.quarantined.push(entry);
                return;
            }
        }
        let held_seq = self.out.version.get(&entry.author);
        if entry.sequence <= held_seq {
            match self.entry_at(&entry.author, entry.sequence) {
                Some(previous) if !previous.same_content(&entry) => {
                    let previous = previous.clone();
                    self.equivocation(previous, entry);
                }
                _ => self.out.duplicates += 1,
            }
            return;
        }
        if entry.sequence - 1 > held_seq {
            // Waiting entries must not keep the frame they came in alive.
            let mut waiting = entry.clone();
            crate::shared_payload::unshare(std::slice::from_mut(&mut waiting));
            match buffer.offer(
                &self.key,
                waiting,
                held_seq,
                self.input.from,
                self.input.now_ms,
            ) {
                Buffered::Inserted => self.out.buffered += 1,
                Buffered::Duplicate => self.out.duplicates += 1,
                Buffered::Conflict => self.out.reject(Error::Equivocation {
                    channel: self.key.0.clone(),
                    stream: self.key.1.clone(),
                    author: entry.author.clone(),
                    sequence: entry.sequence,
                }),
                Buffered::Overflow | Buffered::PeerOverflow => {
                    *self.dropped.entry(entry.author).or_default() += 1;
                }
            }
            return;
        }
        self.accept_run(buffer, entry, hash);
    }

    /// Accepts the next expected entry if it links to its predecessor, then
    /// the buffered successors that link on.
    fn accept_run(&mut self, buffer: &mut OutOfOrderBuffer, entry: LogEntry, hash: EntryHash) {
        let author = entry.author.clone();
        let mut next = Some((entry, hash));
        while let Some((e, h)) = next.take() {
            let seq = e.sequence;
            let expected = self.link_before(&author, seq - 1);
            if expected.is_some_and(|expected| expected != e.previous) {
                match self.entry_at(&author, seq - 1).cloned() {
                    Some(before) => self.equivocation(before, e),
                    None => self.out.reject(Error::Equivocation {
                        channel: self.key.0.clone(),
                        stream: self.key.1.clone(),
                        author: author.clone(),
                        sequence: seq,
                    }),
                }
                return;
            }
            if let Some(waiting) = buffer.take(&self.key, &author, seq) {
                if !waiting.same_content(&e) {
                    self.equivocation(e.clone(), waiting);
                }
            }
            self.out.version.raise(&author, seq);
            match self.heads.get_mut(&author) {
                Some(head) => *head = (seq, h),
                None => {
                    self.heads.insert(author.clone(), (seq, h));
                }
            }
            self.accepted_at
                .insert((author.clone(), seq), self.out.accepted.len());
            self.out.accepted.push(e);
            // A buffered entry the control log has denied since it was
            // buffered stays out (and the rest of the run with it).
            next = seq
                .checked_add(1)
                .filter(|after| {
                    self.input
                        .channel
                        .permission(self.input.stream, &author, *after)
                        == Permission::Allowed
                })
                .and_then(|after| {
                    buffer.take(&self.key, &author, after).map(|waiting| {
                        let hash = waiting.hash(&self.key.0, &self.key.1);
                        (waiting, hash)
                    })
                });
        }
    }

    fn finish(mut self) -> MergeOutcome {
        let (channel, stream) = self.key;
        for (author, count) in self.non_members {
            self.out
                .outputs
                .push(MergeOutput::Event(DomainEvent::NonMemberEntriesRejected {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    author: author.clone(),
                    count,
                }));
            self.out.reject(Error::NonMember {
                channel: channel.clone(),
                author,
                count,
            });
        }
        for (author, (count, ahead_ms)) in self.future {
            self.out.reject(Error::FutureEntries {
                channel: channel.clone(),
                stream: stream.clone(),
                author,
                count,
                ahead_ms,
            });
        }
        for (author, dropped) in self.dropped {
            self.out.reject(Error::BufferOverflow {
                channel: channel.clone(),
                stream: stream.clone(),
                author,
                dropped,
            });
        }
        self.out
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
