//! Ingest: local appends and remote merges, both ending in one commit path
//! (store append → index → clock → stats → publish → event → push).

use std::collections::BTreeMap;

use bytes::Bytes;
use tracing::Instrument;

use super::{replica::Quarantined, Driver};
use crate::{
    domain::{
        duplicate_ranges, merge_hashed_entries, run_ends, BaseProof, ChannelId, DomainEvent,
        EntryHash, HeldEntries, LogEntry, MergeInput, MergeOutput, NodeId, Role, SignedHeader,
        StreamId, VersionVector, MAX_SEQUENCE,
    },
    error::Error,
    shared_payload,
};

/// Where received entries that cannot be merged yet wait.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// Stamped beyond the allowed clock drift.
    Quarantine,
    /// By authors the control log has not explained yet.
    Pending,
}

/// Where entries being committed come from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<'a> {
    /// Written by this node.
    Local,
    /// Received from a peer; `forward` when they came as a push that
    /// channels which forward pushes pass on.
    Peer { from: &'a NodeId, forward: bool },
}

impl<'a> Origin<'a> {
    /// The peer the entries came from, if any.
    fn peer(self) -> Option<&'a NodeId> {
        match self {
            Origin::Local => None,
            Origin::Peer { from, .. } => Some(from),
        }
    }
}

/// Entries ready to be stored in one atomic batch, with the stream's version
/// vector and base once they are.
#[derive(Debug)]
pub(super) struct Commit {
    pub(super) entries: Vec<LogEntry>,
    pub(super) version: VersionVector,
    pub(super) base: VersionVector,
}

impl Driver {
    /// Appends local entries: one atomic batch, then pushed at once.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`], [`Error::NotMember`],
    /// [`Error::PayloadTooLarge`], [`Error::LimitReached`] (nothing
    /// written), [`Error::Store`].
    pub(super) async fn append(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        payloads: Vec<Bytes>,
    ) -> Result<Vec<LogEntry>, Error> {
        let channel = self
            .replica
            .channels
            .get(channel_id)
            .ok_or_else(|| Error::UnknownChannel(channel_id.clone()))?;
        match channel.role(&self.local) {
            None => {
                return Err(Error::NotMember {
                    channel: channel_id.clone(),
                    node: self.local.clone(),
                })
            }
            Some(role) if !role.may_write() && !stream.is_control() => {
                return Err(Error::NotPermitted {
                    channel: channel_id.clone(),
                    node: self.local.clone(),
                    role,
                    needed: Role::Writer,
                    action: "append",
                })
            }
            Some(_) => {}
        }
        let limit = channel.stream_config(stream).max_payload_bytes;
        if let Some(p) = payloads.iter().find(|p| p.len() > limit) {
            return Err(Error::PayloadTooLarge {
                size: p.len(),
                limit,
            });
        }
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        self.check_append_limits(channel_id, stream)?;
        let mut version = self.replica.index.version(channel_id, stream);
        let mut sequence = version.get(&self.local);
        let mut previous = self.own_head(channel_id, stream, sequence).await?;
        let physical = self.clock.now_ms();
        // One signature per run: the links prove the entries before it.
        let run_ends = run_ends(&payloads.iter().map(Bytes::len).collect::<Vec<_>>());
        let mut entries = Vec::with_capacity(payloads.len());
        for (payload, run_end) in payloads.into_iter().zip(run_ends) {
            sequence = sequence
                .checked_add(1)
                .filter(|next| *next <= MAX_SEQUENCE)
                .ok_or_else(|| Error::InvalidSequence {
                    author: self.local.clone(),
                    sequence: sequence.saturating_add(1),
                })?;
            let timestamp = self.replica.hlc.now(physical)?;
            let entry =
                LogEntry::new(self.local.clone(), sequence, timestamp, payload).linked_to(previous);
            previous = entry.hash(channel_id, stream);
            entries.push(if run_end {
                entry.sign_hashed(&self.identity, &previous)
            } else {
                entry
            });
        }
        version.raise(&self.local, sequence);
        let base = self.replica.index.base(channel_id, stream);
        let commit = Commit {
            entries,
            version,
            base,
        };
        self.commit(channel_id, stream, commit, Origin::Local).await
    }

    /// The hash this node's entry after `sequence` in the stream links to.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the last own entry cannot be read;
    /// [`Error::InvalidState`] when it is gone (compaction keeps every
    /// author's last entry, so only a store changed behind the node's back
    /// gets here).
    async fn own_head(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        sequence: u64,
    ) -> Result<EntryHash, Error> {
        if sequence == 0 {
            return Ok(EntryHash::GENESIS);
        }
        let key = (channel.clone(), stream.clone());
        if let Some(&(seq, hash)) = self.replica.own_heads.get(&key) {
            if seq == sequence {
                return Ok(hash);
            }
        }
        let last = self
            .store
            .read_author(channel, stream, &self.local, sequence - 1, 1)
            .await?;
        match last.first() {
            Some(entry) if entry.sequence == sequence => {
                let hash = entry.hash(channel, stream);
                self.replica.own_heads.insert(key, (sequence, hash));
                Ok(hash)
            }
            _ => Err(Error::InvalidState(format!(
                "the last entry this node wrote in {channel}/{stream} (sequence {sequence}) is \
                 not in the store: the next one could not link to it"
            ))),
        }
    }

    /// Merges entries of one stream received from a peer (in a span naming
    /// the node, the peer, the channel and the stream); returns the entries
    /// accepted and stored. Rejections and events the merge rules produce
    /// are forwarded to the error and event streams.
    pub(super) async fn merge(
        &mut self,
        origin: Origin<'_>,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: Vec<LogEntry>,
        hashes: Vec<EntryHash>,
        sender_base: Vec<BaseProof>,
    ) -> Vec<LogEntry> {
        let span = tracing::debug_span!(
            "merge",
            node = %self.local,
            peer = origin.peer().map(tracing::field::display),
            channel = %channel_id,
            stream = %stream,
            entries = entries.len(),
        );
        self.merge_inner(origin, channel_id, stream, entries, hashes, sender_base)
            .instrument(span)
            .await
    }

    async fn merge_inner(
        &mut self,
        origin: Origin<'_>,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: Vec<LogEntry>,
        hashes: Vec<EntryHash>,
        sender_base: Vec<BaseProof>,
    ) -> Vec<LogEntry> {
        let from = origin.peer();
        let Some(channel) = self.replica.channels.get(channel_id) else {
            return Vec::new();
        };
        if let Some(sender) = from.filter(|f| !channel.syncs_with(f)) {
            self.report(
                Error::NonMember {
                    channel: channel_id.clone(),
                    author: sender.clone(),
                    count: entries.len(),
                },
                from,
            );
            return Vec::new();
        }
        let (mut entries, mut hashes) = (entries, hashes);
        self.keep_within_limits(channel_id, stream, &mut entries, &mut hashes, from);
        let version = self.replica.index.version(channel_id, stream);
        let mut held = Vec::new();
        for range in duplicate_ranges(&version, &entries) {
            let limit = usize::try_from(range.len()).unwrap_or(usize::MAX);
            match self
                .store
                .read_author(channel_id, stream, &range.author, range.after, limit)
                .await
            {
                Ok(page) => held.extend(page),
                Err(error) => self.report(Error::Store(error), from),
            }
        }
        let held: HeldEntries = held.into_iter().collect();
        let Some(channel) = self.replica.channels.get(channel_id) else {
            return Vec::new();
        };
        let now = self.clock.now_ms();
        let mut input = MergeInput::new(channel, stream, &version)
            .sender_base(&sender_base)
            .at(&self.local, now)
            .max_drift(self.config.max_clock_drift);
        if let Some(from) = from {
            input = input.from_peer(from);
        }
        let buffer = &mut self.replica.buffer;
        let delivered = entries.iter().map(|e| e.payload.len()).sum();
        let mut outcome = merge_hashed_entries(buffer, &input, &held, entries, hashes);
        shared_payload::unshare_unless_mostly_kept(&mut outcome.accepted, delivered);
        if let Some(from) = from {
            let quarantined = std::mem::take(&mut outcome.quarantined);
            self.hold(Held::Quarantine, channel_id, stream, from, quarantined);
            let pending = std::mem::take(&mut outcome.pending);
            self.hold(Held::Pending, channel_id, stream, from, pending);
        }
        let changes_store = outcome.changes_store();
        for output in outcome.outputs {
            match output {
                MergeOutput::Event(event) => self.feeds.event(event),
                MergeOutput::Rejected(error) => {
                    match &error {
                        Error::ForgedEntries {
                            forged, unproven, ..
                        } => self.stats.entries_rejected += (forged + unproven) as u64,
                        Error::BufferOverflow { dropped, .. } => {
                            self.stats.buffer_refused += *dropped as u64;
                        }
                        _ => {}
                    }
                    self.report(error, from);
                }
                MergeOutput::Equivocation(proof) => {
                    self.stats.equivocations += 1;
                    if self.replica.note_equivocation(*proof) {
                        tracing::warn!(
                            channel = %channel_id,
                            stream = %stream,
                            "an author signed two histories; its proof is kept in health()"
                        );
                    }
                }
            }
        }
        if !changes_store {
            return Vec::new();
        }
        let mut base = self.replica.index.base(channel_id, stream);
        if !outcome.raised_base.is_empty() {
            // The proofs first: a base raised without them could not be
            // proven to others (the reverse order only keeps a spare proof).
            if let Err(error) = self
                .keep_checkpoints(channel_id, stream, outcome.checkpoints)
                .await
            {
                self.report(error, from);
                return Vec::new();
            }
            match self
                .store
                .compact(channel_id, stream, &outcome.raised_base)
                .await
            {
                Ok(_) => base.merge(&outcome.raised_base),
                Err(error) => {
                    self.report(Error::Store(error), from);
                    return Vec::new();
                }
            }
        }
        let commit = Commit {
            entries: outcome.accepted,
            version: outcome.version,
            base,
        };
        match self.commit(channel_id, stream, commit, origin).await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Nothing was written: re-derive the index from the store (the
                // base may have moved) and let a later round fetch the entries.
                self.report(error, from);
                self.reload_stream(channel_id, stream).await;
                Vec::new()
            }
        }
    }

    /// Holds `entries` from `from` in quarantine (until the clock catches
    /// up with them) or pending (until the control log explains their
    /// authors), at most a quarter of the area per sending peer; what does
    /// not fit is dropped, counted and reported.
    fn hold(
        &mut self,
        area: Held,
        channel: &ChannelId,
        stream: &StreamId,
        from: &NodeId,
        entries: Vec<LogEntry>,
    ) {
        let (held, capacity) = match area {
            Held::Quarantine => (
                &mut self.replica.quarantine,
                self.config.quarantine_capacity,
            ),
            Held::Pending => (&mut self.replica.pending, self.config.pending_capacity),
        };
        // One peer may fill a quarter of the area, so that entries by
        // strangers' keys (pending) or stamped far ahead (quarantine) from
        // one sender cannot push out everyone else's.
        let share = (capacity / 4).max(1);
        let mut from_peer = held.iter().filter(|h| h.from == *from).count();
        let mut dropped: BTreeMap<NodeId, usize> = BTreeMap::new();
        for mut entry in entries {
            if held.len() < capacity && from_peer < share {
                from_peer += 1;
                // Held entries must not keep the frame they came in alive.
                shared_payload::unshare(std::slice::from_mut(&mut entry));
                held.push(Quarantined {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    from: from.clone(),
                    entry,
                });
            } else {
                *dropped.entry(entry.author).or_default() += 1;
            }
        }
        for (author, dropped) in dropped {
            self.stats.buffer_refused += dropped as u64;
            self.report(
                Error::BufferOverflow {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    author,
                    dropped,
                },
                Some(from),
            );
        }
    }

    /// Merges the quarantined entries whose time has come (their timestamp
    /// is now within the allowed drift), as if their senders sent them now.
    pub(super) async fn release_quarantine(&mut self) {
        if self.replica.quarantine.is_empty() {
            return;
        }
        let drift = u64::try_from(self.config.max_clock_drift.as_millis()).unwrap_or(u64::MAX);
        let horizon = self.clock.now_ms().saturating_add(drift);
        let (ready, waiting): (Vec<Quarantined>, Vec<Quarantined>) = self
            .replica
            .quarantine
            .drain(..)
            .partition(|q| q.entry.timestamp.physical_ms() <= horizon);
        self.replica.quarantine = waiting;
        self.merge_again(ready).await;
    }

    /// Merges held entries again, grouped by channel, stream and sender, as
    /// if their senders sent them now.
    pub(super) async fn merge_again(&mut self, held: Vec<Quarantined>) {
        let mut groups: BTreeMap<(ChannelId, StreamId, NodeId), Vec<LogEntry>> = BTreeMap::new();
        for q in held {
            groups
                .entry((q.channel, q.stream, q.from))
                .or_default()
                .push(q.entry);
        }
        for ((channel, stream, from), entries) in groups {
            let origin = Origin::Peer {
                from: &from,
                forward: true,
            };
            self.merge(origin, &channel, &stream, entries, Vec::new(), Vec::new())
                .await;
        }
    }

    /// Records `checkpoints` (signed headers proving compaction bases) in
    /// the channel, saved before the compaction they prove.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the channel cannot be saved.
    pub(super) async fn keep_checkpoints(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        checkpoints: Vec<SignedHeader>,
    ) -> Result<(), Error> {
        let Some(held) = self.replica.channels.get(channel_id) else {
            return Ok(());
        };
        let mut channel = held.clone();
        let mut changed = false;
        for header in checkpoints {
            changed |= channel.set_checkpoint(stream, header);
        }
        if changed {
            self.store.save_channel(&channel).await?;
            self.replica.channels.insert(channel_id.clone(), channel);
        }
        Ok(())
    }

    /// The one commit path of local and remote entries: store append, then
    /// the replica index, the clock (for remote entries), stats, the entry
    /// feed, the event, and eager push. Returns the entries committed.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the append fails; nothing else happens then.
    pub(super) async fn commit(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        commit: Commit,
        origin: Origin<'_>,
    ) -> Result<Vec<LogEntry>, Error> {
        let Commit {
            entries,
            version,
            base,
        } = commit;
        self.store.append(channel, stream, &entries).await?;
        self.replica.index.set(channel, stream, version, base);
        if !entries.is_empty() {
            self.peer_sync.ours_grew(channel);
        }
        self.replica
            .note_own(&self.local, channel, stream, &entries);
        let mut removed = Vec::new();
        if stream.is_control() && !entries.is_empty() {
            // Before the push: new members are pushed to at once.
            removed = self.refold_control(channel).await;
        }
        let count = entries.len();
        let event = match origin {
            Origin::Local => {
                self.stats.entries_appended += count as u64;
                DomainEvent::EntriesAppended {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    count,
                }
            }
            Origin::Peer { from, .. } => {
                if let Some(latest) = entries.iter().map(|e| e.timestamp).max() {
                    let now = self.clock.now_ms();
                    if let Err(error) = self.replica.hlc.receive(latest, now) {
                        self.report(error, Some(from));
                    }
                }
                self.stats.entries_merged += count as u64;
                self.ack_authors(channel, stream, &entries);
                DomainEvent::EntriesMerged {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    from: Some(from.clone()),
                    count,
                }
            }
        };
        if count == 0 {
            return Ok(entries);
        }
        self.feeds.publish(channel, stream, &entries);
        self.feeds.event(event);
        let pushes = match origin {
            Origin::Local => true,
            Origin::Peer { forward, .. } => {
                forward
                    && self
                        .replica
                        .channels
                        .get(channel)
                        .is_some_and(|c| self.engines.push.forwards(c))
            }
        };
        if pushes && self.config.eager_push && self.running() {
            self.push_entries(channel, stream, &entries, origin.peer())
                .await;
        }
        if matches!(origin, Origin::Local) && self.running() {
            // A removed member is served no more: this one push tells it so.
            let removed = removed
                .into_iter()
                .filter(|m| self.peers.contains(m))
                .collect();
            self.push_to(channel, stream, &entries, removed).await;
        }
        Ok(entries)
    }

    /// Re-reads one stream's version and base from the store into the index.
    pub(super) async fn reload_stream(&mut self, channel: &ChannelId, stream: &StreamId) {
        let version = self.store.version(channel, stream).await;
        let base = self.store.base(channel, stream).await;
        match (version, base) {
            (Ok(version), Ok(base)) => self.replica.index.set(channel, stream, version, base),
            (Err(error), _) | (_, Err(error)) => self.report(Error::Store(error), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::{
        domain::Hlc,
        node::driver::fixture::{node, Fixture},
        ports::{Clock, Store},
    };

    #[tokio::test]
    async fn a_local_append_goes_through_the_commit_path() {
        let mut f = Fixture::new(&["b"]).await;
        let mut feed = f.driver.feeds.entries(&f.channel, &f.stream);
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let payloads = vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")];
        let entries = f.driver.append(&c, &s, payloads).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [1, 2]
        );
        // Store, index, stats, feed, event: each once.
        assert_eq!(f.store.version(&c, &s).await.unwrap().get(&node("a")), 2);
        assert_eq!(f.driver.replica.index.version(&c, &s).get(&node("a")), 2);
        assert_eq!(f.driver.stats.entries_appended, 2);
        assert_eq!(f.driver.stats.entries_merged, 0);
        use futures_util::{FutureExt, StreamExt};
        assert_eq!(
            feed.next().now_or_never().flatten().unwrap().unwrap(),
            entries[0]
        );
        assert_eq!(
            f.events(),
            [DomainEvent::EntriesAppended {
                channel: c,
                stream: s,
                count: 2
            }]
        );
        assert!(f.errors().is_empty());
    }

    #[tokio::test]
    async fn future_entries_wait_in_quarantine_until_the_clock_catches_up() {
        let mut f = Fixture::new(&["b"]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        // Two minutes ahead; the allowed drift is one.
        let ahead = f.clock.now_ms() + 120_000;
        let incoming = f.entries("b", 1..=2, ahead);
        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        let accepted = f
            .driver
            .merge(origin, &c, &s, incoming, Vec::new(), Vec::new())
            .await;
        assert!(accepted.is_empty());
        assert_eq!(f.store.version(&c, &s).await.unwrap().get(&from), 0);
        assert_eq!(f.driver.health().await.quarantined_entries, 2);
        assert!(matches!(
            &f.errors()[..],
            [Error::FutureEntries { count: 2, ahead_ms, .. }] if *ahead_ms > 60_000
        ));
        // Not yet: still beyond the drift.
        f.driver.release_quarantine().await;
        assert_eq!(f.driver.health().await.quarantined_entries, 2);
        // A minute later the entries are within the drift, and merged.
        f.clock.advance(61_000);
        f.driver.release_quarantine().await;
        assert_eq!(f.driver.health().await.quarantined_entries, 0);
        assert_eq!(f.store.version(&c, &s).await.unwrap().get(&from), 2);
        assert!(f.errors().is_empty());
    }

    #[tokio::test]
    async fn a_full_quarantine_drops_and_reports() {
        let config = crate::node::config::Config::default().quarantine_capacity(1);
        let mut f = Fixture::with_config(&["b"], config).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let incoming = f.entries("b", 1..=3, f.clock.now_ms() + 3_600_000);
        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        f.driver
            .merge(origin, &c, &s, incoming, Vec::new(), Vec::new())
            .await;
        assert_eq!(f.driver.health().await.quarantined_entries, 1);
        assert!(f
            .errors()
            .iter()
            .any(|e| matches!(e, Error::BufferOverflow { dropped: 2, .. })));
    }

    #[tokio::test]
    async fn one_sender_fills_only_a_quarter_of_the_quarantine() {
        let config = crate::node::config::Config::default().quarantine_capacity(8);
        let mut f = Fixture::with_config(&["b", "c"], config).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let far = f.clock.now_ms() + 3_600_000;
        for (sender, range) in [("b", 1..=5), ("c", 6..=7)] {
            let from = node(sender);
            let origin = Origin::Peer {
                from: &from,
                forward: false,
            };
            let incoming = f.entries("b", range, far);
            f.driver
                .merge(origin, &c, &s, incoming, Vec::new(), Vec::new())
                .await;
        }
        // Two of the flooding sender's five, both of the other's.
        assert_eq!(f.driver.health().await.quarantined_entries, 4);
        assert_eq!(f.driver.health().await.stats.buffer_refused, 3);
    }

    #[tokio::test]
    async fn merged_entries_take_the_same_commit_path_and_move_the_clock() {
        let mut f = Fixture::new(&["b"]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let later = f.clock.now_ms() + 5_000;
        let incoming = f.entries("b", 1..=2, later);
        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: true,
        };
        let accepted = f
            .driver
            .merge(origin, &c, &s, incoming.clone(), Vec::new(), Vec::new())
            .await;
        assert_eq!(accepted, incoming);
        assert_eq!(f.store.version(&c, &s).await.unwrap().get(&from), 2);
        assert_eq!(f.driver.replica.index.version(&c, &s).get(&from), 2);
        assert_eq!(f.driver.stats.entries_merged, 2);
        assert!(f.driver.replica.hlc.last() >= Hlc::new(later + 2, 0).unwrap());
        assert_eq!(
            f.events(),
            [DomainEvent::EntriesMerged {
                channel: c.clone(),
                stream: s.clone(),
                from: Some(from.clone()),
                count: 2
            }]
        );
        // Again: duplicates change nothing and report nothing.
        let origin = Origin::Peer {
            from: &from,
            forward: true,
        };
        assert!(f
            .driver
            .merge(origin, &c, &s, incoming, Vec::new(), Vec::new())
            .await
            .is_empty());
        assert!(f.events().is_empty() && f.errors().is_empty());
    }

    #[tokio::test]
    async fn the_merge_rules_outputs_are_forwarded_as_they_are() {
        let mut f = Fixture::new(&["b", "w"]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let remove = crate::node::command::ChannelChange::RemoveMember(node("w"));
        f.driver.change_channel(&c, remove).await.unwrap();
        f.events();
        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        // Entries written by a removed member after its cut-off (it had
        // written nothing), relayed by a member.
        let relayed = f.entries("w", 1..=3, 10);
        assert!(f
            .driver
            .merge(origin, &c, &s, relayed, Vec::new(), Vec::new())
            .await
            .is_empty());
        assert_eq!(
            f.events(),
            [DomainEvent::NonMemberEntriesRejected {
                channel: c.clone(),
                stream: s,
                author: node("w"),
                count: 3
            }]
        );
        assert!(matches!(
            &f.errors()[..],
            [Error::NonMember { author, count: 3, .. }] if author == &node("w")
        ));
    }

    #[tokio::test]
    async fn entries_of_an_unnamed_author_wait_until_the_control_log_names_it() {
        let mut f = Fixture::new(&["b"]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        let early = f.entries("n", 1..=2, 10);
        assert!(f
            .driver
            .merge(origin, &c, &s, early, Vec::new(), Vec::new())
            .await
            .is_empty());
        assert_eq!(f.driver.health().await.pending_entries, 2);
        assert!(f.errors().is_empty(), "waiting is not an error");
        // The operation adding "n" arrives: the pending entries are merged.
        let add =
            crate::node::command::ChannelChange::AddMember(node("n"), Role::Writer, String::new());
        f.driver.change_channel(&c, add).await.unwrap();
        f.driver.release_pending().await;
        assert_eq!(f.driver.health().await.pending_entries, 0);
        assert_eq!(f.store.version(&c, &s).await.unwrap().get(&node("n")), 2);
        assert!(f.errors().is_empty());
    }

    #[tokio::test]
    async fn a_sender_outside_the_channel_is_refused_whole() {
        let mut f = Fixture::new(&["b"]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let from = node("x");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        let incoming = f.entries("b", 1..=2, 10);
        assert!(f
            .driver
            .merge(origin, &c, &s, incoming, Vec::new(), Vec::new())
            .await
            .is_empty());
        assert!(matches!(
            &f.errors()[..],
            [Error::NonMember { author, count: 2, .. }] if author == &from
        ));
        assert!(f.events().is_empty());
        assert_eq!(f.store.version(&c, &s).await.unwrap(), VersionVector::new());
    }

    #[tokio::test]
    async fn a_failed_store_append_changes_nothing_past_the_store() {
        let mut f = Fixture::new(&["b"]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        f.store.fail_appends.store(true, Ordering::SeqCst);

        let err = f
            .driver
            .append(&c, &s, vec![Bytes::from_static(b"x")])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Store(_)));

        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        let incoming = f.entries("b", 1..=1, 10);
        assert!(f
            .driver
            .merge(origin, &c, &s, incoming, Vec::new(), Vec::new())
            .await
            .is_empty());
        assert!(matches!(&f.errors()[..], [Error::Store(_)]));
        assert!(f.events().is_empty());
        assert_eq!(f.driver.replica.index.version(&c, &s), VersionVector::new());
        assert_eq!(
            (
                f.driver.stats.entries_appended,
                f.driver.stats.entries_merged
            ),
            (0, 0)
        );
    }

    #[tokio::test]
    async fn appends_are_checked_before_anything_is_written() {
        let mut f = Fixture::new(&[]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let too_big = Bytes::from(vec![0; f.driver.config.max_payload_bytes + 1]);
        let err = f.driver.append(&c, &s, vec![too_big]).await.unwrap_err();
        assert!(matches!(err, Error::PayloadTooLarge { .. }));
        let unknown = ChannelId::new("nope").unwrap();
        let err = f.driver.append(&unknown, &s, vec![]).await.unwrap_err();
        assert!(matches!(err, Error::UnknownChannel(_)));
        assert!(f.driver.append(&c, &s, vec![]).await.unwrap().is_empty());
        assert!(f.events().is_empty());
    }
}
