//! Where each peer stands: the driver feeds [`PeerSync`](super::peer_sync::PeerSync)
//! from the sync messages it handles, reports peers that caught up, and
//! turns what it knows into [`PeerStreamSync`] figures for `health()`.

use std::collections::{BTreeMap, BTreeSet};

use super::{peer_sync::lacking, Driver};
use crate::{
    domain::{ChannelId, DomainEvent, LogEntry, NodeId, StreamId, VersionVector, MAX_SEQUENCE},
    node::health::PeerStreamSync,
    protocol::{DeltaRequest, DigestRequest, DigestResponse, GraftWant, IHave},
};

/// What a push says of its sender: the highest sequence per author, and
/// the newest timestamp of the sender's own entries (a clock sample).
pub(super) struct PushSummary {
    highest: BTreeMap<NodeId, u64>,
    own_stamp_ms: Option<u64>,
}

impl PushSummary {
    /// The authors whose entries were pushed.
    pub(super) fn authors(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.highest.keys()
    }

    /// The summary of `entries` pushed by `from`.
    pub(super) fn of(from: &NodeId, entries: &[LogEntry]) -> Self {
        let mut highest: BTreeMap<NodeId, u64> = BTreeMap::new();
        let mut own_stamp_ms = None;
        for entry in entries {
            let up_to = highest.entry(entry.author.clone()).or_default();
            *up_to = (*up_to).max(entry.sequence);
            if entry.author == *from {
                let stamped = entry.timestamp.physical_ms();
                own_stamp_ms = Some(own_stamp_ms.map_or(stamped, |s: u64| s.max(stamped)));
            }
        }
        Self {
            highest,
            own_stamp_ms,
        }
    }
}

/// Most entries read from the store per stream and peer to add up the
/// bytes a peer lacks; beyond it, bytes are estimated from their mean.
const BYTES_READ_LIMIT: usize = 1_024;

impl Driver {
    /// Our digest request `session` to `peer` carried these channel hashes.
    pub(super) fn note_digest_asked(&mut self, peer: &NodeId, request: &DigestRequest) {
        let hashes = request
            .channels
            .iter()
            .map(|s| (s.channel.clone(), s.hash))
            .collect();
        self.peer_sync.asked(peer, request.session, hashes);
    }

    /// A digest request from `from`: every channel whose hash equals ours
    /// is held by `from` exactly as we hold it.
    pub(super) fn learn_from_digest_request(&mut self, from: &NodeId, request: &DigestRequest) {
        let mut touched = Vec::new();
        for summary in &request.channels {
            let shared = self
                .replica
                .channels
                .get(&summary.channel)
                .is_some_and(|c| c.syncs_with(from));
            if shared && self.replica.index.digest(&summary.channel).hash() == summary.hash {
                self.peer_sync
                    .holds_ours(from, &summary.channel, &self.replica.index);
                touched.push(summary.channel.clone());
            }
        }
        self.peer_sync.synced(from, self.timers.now_ms());
        self.report_caught_up(from, touched);
    }

    /// A digest response from `from` to our request: the versions of every
    /// stream its digests cover; an empty answer means every channel we
    /// asked about was in sync (held as we held it when we asked, known
    /// only if that has not changed since).
    pub(super) fn learn_from_digest_response(&mut self, from: &NodeId, response: &DigestResponse) {
        let asked = self.peer_sync.take_asked(from, response.session);
        let mut touched = Vec::new();
        if response.digests.is_empty() {
            for (channel, hash) in asked.unwrap_or_default() {
                if self.replica.index.digest(&channel).hash() == hash {
                    self.peer_sync
                        .holds_ours(from, &channel, &self.replica.index);
                    touched.push(channel);
                }
            }
        }
        for digest in &response.digests {
            let shared = self
                .replica
                .channels
                .get(&digest.channel)
                .is_some_and(|c| c.syncs_with(from));
            if !shared {
                continue;
            }
            for theirs in &digest.streams {
                if self.holds_stream(&digest.channel, &theirs.stream) {
                    let version = theirs.version.clone();
                    self.peer_sync
                        .set(from, &digest.channel, &theirs.stream, version);
                }
            }
            // A covered stream the digest does not list is one it lacks.
            let unlisted: Vec<StreamId> = self
                .replica
                .index
                .streams(&digest.channel)
                .filter(|s| digest.part.covers(s) && digest.stream(s).is_none())
                .cloned()
                .collect();
            for stream in unlisted {
                self.peer_sync
                    .set(from, &digest.channel, &stream, Default::default());
            }
            touched.push(digest.channel.clone());
        }
        self.peer_sync.synced(from, self.timers.now_ms());
        self.report_caught_up(from, touched);
    }

    /// A delta request from `from`: its version of each stream it wants.
    pub(super) fn learn_from_delta_request(&mut self, from: &NodeId, request: &DeltaRequest) {
        let mut touched = BTreeSet::new();
        for want in &request.wants {
            let shared = self
                .replica
                .channels
                .get(&want.channel)
                .is_some_and(|c| c.syncs_with(from));
            if shared && self.holds_stream(&want.channel, &want.stream) {
                self.peer_sync
                    .set(from, &want.channel, &want.stream, want.have.clone());
                touched.insert(want.channel.clone());
            }
        }
        self.report_caught_up(from, touched);
    }

    /// `from` pushed these entries (and this node merged them, or held them
    /// already): it holds them; its own entries sample its clock.
    pub(super) fn learn_from_push(
        &mut self,
        from: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        pushed: PushSummary,
    ) {
        let held = self.replica.index.version(channel, stream);
        // Only what this node holds too: entries it refused vouch for nothing.
        for (author, up_to) in pushed.highest {
            let up_to = up_to.min(held.get(&author));
            if up_to > 0 {
                self.peer_sync.raise(from, channel, stream, &author, up_to);
            }
        }
        if let Some(stamped) = pushed.own_stamp_ms {
            let now = self.clock.now_ms();
            self.peer_sync.clock_sample(from, stamped, now);
        }
        self.report_caught_up(from, [channel.clone()]);
    }

    /// `from` announced (`IHave`) or grafted from (`Graft`) these ranges: it
    /// holds them.
    pub(super) fn learn_from_lazy(
        &mut self,
        from: &NodeId,
        channel: &ChannelId,
        held: impl IntoIterator<Item = (StreamId, NodeId, u64)>,
    ) {
        let Some(known) = self.replica.channels.get(channel) else {
            return;
        };
        if !known.syncs_with(from) {
            return;
        }
        // Only streams held and authors known: what a peer names cannot
        // grow this node's bookkeeping.
        let held: Vec<_> = held
            .into_iter()
            .filter(|(stream, author, _)| {
                known.role(author).is_some() && self.holds_stream(channel, stream)
            })
            .collect();
        for (stream, author, up_to) in held {
            self.peer_sync
                .raise(from, channel, &stream, &author, up_to.min(MAX_SEQUENCE));
        }
        self.report_caught_up(from, [channel.clone()]);
    }

    /// The ranges an `IHave` says its sender holds.
    pub(super) fn ihave_ranges(ihave: &IHave) -> Vec<(StreamId, NodeId, u64)> {
        ihave
            .ranges
            .iter()
            .map(|r| (r.stream.clone(), r.author.clone(), r.up_to))
            .collect()
    }

    /// The ranges a `Graft` says its sender holds (what it asks after).
    pub(super) fn graft_ranges(wants: &[GraftWant]) -> Vec<(StreamId, NodeId, u64)> {
        wants
            .iter()
            .map(|w| (w.stream.clone(), w.author.clone(), w.after))
            .collect()
    }

    /// Whether this node holds entries of `stream` (the only streams whose
    /// peers' versions are kept).
    fn holds_stream(&self, channel: &ChannelId, stream: &StreamId) -> bool {
        self.replica.index.stream(channel, stream).is_some()
    }

    /// Reports `peer` caught up in each of `channels` where it now is.
    fn report_caught_up(&mut self, peer: &NodeId, channels: impl IntoIterator<Item = ChannelId>) {
        for channel in channels {
            self.count_holders(&channel);
            if self
                .peer_sync
                .caught_up_now(peer, &channel, &self.replica.index)
            {
                self.feeds.event(DomainEvent::PeerCaughtUp {
                    peer: peer.clone(),
                    channel,
                });
            }
        }
    }

    /// What `peer` lacks of every stream it is known about, with the age
    /// of the oldest entry it lacks (read from the store).
    pub(super) async fn peer_streams(&self, peer: &NodeId) -> Vec<PeerStreamSync> {
        let Some(view) = self.peer_sync.view(peer) else {
            return Vec::new();
        };
        let now = self.clock.now_ms();
        // In a channel the peer is known in, a stream this node holds that
        // it was never heard about is one it is not known to hold any of.
        let mut known: BTreeMap<(ChannelId, StreamId), VersionVector> = BTreeMap::new();
        for (channel, _) in view.versions.keys() {
            for stream in self.replica.index.streams(channel) {
                known.insert((channel.clone(), stream.clone()), VersionVector::new());
            }
        }
        known.extend(view.versions.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut out = Vec::new();
        for ((channel, stream), theirs) in &known {
            if !self.replica.channels.contains_key(channel) {
                continue;
            }
            let ours = self.replica.index.version(channel, stream);
            let base = self.replica.index.base(channel, stream);
            let lacking_entries = lacking(&ours, &base, theirs);
            let mut sync = PeerStreamSync {
                channel: channel.clone(),
                stream: stream.clone(),
                version: theirs.clone(),
                lacking_entries,
                lacking_bytes: 0,
                lag_ms: None,
            };
            if lacking_entries > 0 {
                self.measure_lack(&mut sync, &ours, &base, now).await;
            }
            out.push(sync);
        }
        out
    }

    /// Reads what `sync`'s peer lacks to add up its bytes (estimated past
    /// [`BYTES_READ_LIMIT`] entries) and the age of the oldest.
    async fn measure_lack(
        &self,
        sync: &mut PeerStreamSync,
        ours: &VersionVector,
        base: &VersionVector,
        now_ms: u64,
    ) {
        let (mut read, mut bytes, mut oldest) = (0u64, 0u64, None::<u64>);
        for (author, held) in ours.iter() {
            let after = sync.version.get(author).max(base.get(author));
            if held <= after {
                continue;
            }
            let budget = BYTES_READ_LIMIT.saturating_sub(usize::try_from(read).unwrap_or(0));
            let limit = usize::try_from(held - after)
                .unwrap_or(usize::MAX)
                .clamp(1, budget.max(1));
            let Ok(entries) = self
                .store
                .read_author(&sync.channel, &sync.stream, author, after, limit)
                .await
            else {
                continue;
            };
            if let Some(first) = entries.first() {
                let stamped = first.timestamp.physical_ms();
                oldest = Some(oldest.map_or(stamped, |o| o.min(stamped)));
            }
            read += entries.len() as u64;
            bytes += entries.iter().map(|e| e.payload.len() as u64).sum::<u64>();
        }
        sync.lacking_bytes = if read >= sync.lacking_entries || read == 0 {
            bytes
        } else {
            bytes / read * sync.lacking_entries
        };
        sync.lag_ms = oldest.map(|stamped| now_ms.saturating_sub(stamped));
    }
}
