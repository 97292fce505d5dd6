//! The node task's side of the protocol: anti-entropy rounds, eager push,
//! merging what arrives, and retention.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::driver::Driver;
use crate::{
    domain::{
        duplicate_ranges, merge_entries, ChannelId, Delta, DomainEvent, HeldEntries, LogEntry,
        MergeInput, NodeId, PeerStatus, StreamId, VersionVector,
    },
    error::Error,
    protocol::{
        anti_entropy::{AntiEntropy, DeltaPlan},
        codec, Message,
    },
};

impl Driver {
    /// Starts an anti-entropy round with `peer`, or a random reachable peer.
    pub(super) async fn gossip_round(&mut self, peer: Option<NodeId>) {
        if peer.is_none() {
            let jitter = self
                .rng
                .below(self.config.gossip_interval.as_millis() as u64 / 10 + 1);
            self.next_gossip = Instant::now()
                + self.config.gossip_interval
                + std::time::Duration::from_millis(jitter);
        }
        let peer = match peer {
            Some(peer) => peer,
            None if self.pull_under_way() => {
                // Deltas are still arriving: a new round now would ask again
                // for entries already on their way. The pull continues by
                // itself (`more`); the next timer tick looks again.
                return;
            }
            None => {
                let candidates: Vec<NodeId> = self
                    .peers
                    .keys()
                    .filter(|p| self.swim.status(p) != Some(PeerStatus::Unreachable))
                    .filter(|p| self.channels.values().any(|c| c.is_member(p)))
                    .cloned()
                    .collect();
                match self.anti_entropy.choose_peer(&candidates) {
                    Some(peer) => peer.clone(),
                    None => return,
                }
            }
        };
        let Some(request) = self
            .anti_entropy
            .digest_request(&self.index, &self.channels, &peer)
        else {
            return;
        };
        self.stats.gossip_rounds += 1;
        let frame = codec::encode(&Message::DigestRequest(request));
        self.send(&peer, frame).await;
    }

    /// Whether deltas arrived from some peer within the last half gossip
    /// interval (frames of a pull are processed back to back, so a pull in
    /// progress keeps this fresh; a finished one lets it lapse before the
    /// next round).
    fn pull_under_way(&self) -> bool {
        let recent = self.config.gossip_interval / 2;
        self.pulling_from.values().any(|at| at.elapsed() < recent)
    }

    /// Whether `peer` asked this node for deltas within the last two gossip
    /// intervals (it is catching up from this node).
    fn serving_recently(&self, peer: &NodeId) -> bool {
        self.serving
            .get(peer)
            .is_some_and(|at| at.elapsed() < self.config.gossip_interval * 2)
    }

    /// Handles an anti-entropy or push message from a known peer.
    pub(super) async fn handle_sync_message(&mut self, from: NodeId, message: Message) {
        match message {
            Message::DigestRequest(request) => {
                if let Some(response) =
                    AntiEntropy::answer_digest_request(&self.index, &self.channels, &from, &request)
                {
                    let frame = codec::encode(&Message::DigestResponse(response));
                    self.send(&from, frame).await;
                }
            }
            Message::DigestResponse(response) => {
                let outcome =
                    AntiEntropy::on_digest_response(&self.index, &self.channels, &from, &response);
                if let Some(request) = outcome.request {
                    let frame = codec::encode(&Message::DeltaRequest(request));
                    self.send(&from, frame).await;
                }
                // A peer that is pulling from this node already asks for
                // everything it lacks: sending it unasked would duplicate that.
                if !outcome.to_send.is_empty() && !self.serving_recently(&from) {
                    self.send_deltas(&from, response.session, outcome.to_send)
                        .await;
                }
            }
            Message::DeltaRequest(request) => {
                self.serving.insert(from.clone(), Instant::now());
                let plans =
                    AntiEntropy::plan_deltas(&self.index, &self.channels, &from, &request.wants);
                self.send_deltas(&from, request.session, plans).await;
            }
            Message::DeltaResponse(response) => {
                self.pulling_from.insert(from.clone(), Instant::now());
                for delta in response.deltas {
                    let Delta {
                        channel,
                        stream,
                        base,
                        entries,
                        ..
                    } = delta;
                    self.merge(&from, &channel, &stream, entries, Some(base))
                        .await;
                }
                if response.more {
                    // The sender had more than one answer carries: ask again at once.
                    self.gossip_round(Some(from)).await;
                }
            }
            Message::Push(push) => {
                let accepted = self
                    .merge(&from, &push.channel, &push.stream, push.entries, None)
                    .await;
                let forwards = self
                    .channels
                    .get(&push.channel)
                    .is_some_and(|c| self.push.forwards(c));
                if !accepted.is_empty() && forwards && self.config.eager_push {
                    self.push_entries(&push.channel, &push.stream, &accepted, Some(&from))
                        .await;
                }
            }
            Message::Ping(_) | Message::Ack(_) | Message::PingReq(_) => {}
        }
    }

    /// Reads the planned ranges (within the configured budget) and sends them.
    async fn send_deltas(&mut self, to: &NodeId, session: u64, plans: Vec<DeltaPlan>) {
        let mut entries_left = self.config.max_delta_entries;
        let mut bytes_left = self.config.max_delta_bytes;
        let mut deltas = Vec::new();
        let mut more = false;
        'plans: for plan in plans {
            let mut entries = Vec::new();
            for range in &plan.ranges {
                let mut after = range.after;
                while after < range.up_to {
                    if entries_left == 0 || bytes_left == 0 {
                        more = true;
                        break;
                    }
                    let want = usize::try_from(range.up_to - after)
                        .unwrap_or(usize::MAX)
                        .min(entries_left)
                        .min(512);
                    let page = match self
                        .store
                        .read_author(&plan.channel, &plan.stream, &range.author, after, want)
                        .await
                    {
                        Ok(page) => page,
                        Err(error) => {
                            self.report(Error::Store(error), Some(to));
                            break 'plans;
                        }
                    };
                    let Some(last) = page.last() else { break };
                    after = last.sequence;
                    for entry in page {
                        if entry.sequence > range.up_to {
                            break;
                        }
                        entries_left = entries_left.saturating_sub(1);
                        bytes_left = bytes_left.saturating_sub(entry.size_bytes());
                        entries.push(entry);
                    }
                }
            }
            deltas.push(Delta::new(plan.channel, plan.stream, plan.base, entries));
            if more {
                break;
            }
        }
        match codec::delta_response_frames(session, deltas, more, self.max_frame_len) {
            Ok(frames) => {
                for frame in frames {
                    self.send(to, frame).await;
                }
            }
            Err(error) => self.report(error, Some(to)),
        }
    }

    /// Pushes entries to up to `push_fanout` reachable members at once.
    /// Never waits for a slow peer: a full queue drops the push (counted).
    pub(super) async fn push_entries(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
        exclude: Option<&NodeId>,
    ) {
        let Some(channel) = self.channels.get(channel_id) else {
            return;
        };
        let swim = &self.swim;
        let peers = &self.peers;
        let targets = self.push.targets(channel, &self.local, exclude, |n| {
            peers.contains_key(n) && swim.status(n) != Some(PeerStatus::Unreachable)
        });
        if targets.is_empty() {
            return;
        }
        let frames = match codec::push_frames(
            channel_id.clone(),
            stream.clone(),
            entries.to_vec(),
            self.max_frame_len,
        ) {
            Ok(frames) => frames,
            Err(error) => {
                self.report(error, None);
                return;
            }
        };
        for target in targets {
            for frame in &frames {
                if !self.send(&target, frame.clone()).await {
                    self.stats.push_dropped += 1;
                }
            }
        }
    }

    /// Merges entries of one stream received from `from`; returns the
    /// entries accepted (and stored).
    pub(super) async fn merge(
        &mut self,
        from: &NodeId,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: Vec<LogEntry>,
        sender_base: Option<VersionVector>,
    ) -> Vec<LogEntry> {
        let Some(channel) = self.channels.get(channel_id) else {
            return Vec::new();
        };
        if !channel.is_member(from) {
            self.report(
                Error::NonMember {
                    channel: channel_id.clone(),
                    author: from.clone(),
                    count: entries.len(),
                },
                Some(from),
            );
            return Vec::new();
        }
        let version = self.index.version(channel_id, stream);
        let mut held = Vec::new();
        for range in duplicate_ranges(&version, &entries) {
            let limit = usize::try_from(range.len()).unwrap_or(usize::MAX);
            match self
                .store
                .read_author(channel_id, stream, &range.author, range.after, limit)
                .await
            {
                Ok(page) => held.extend(page),
                Err(error) => self.report(Error::Store(error), Some(from)),
            }
        }
        let held: HeldEntries = held.into_iter().collect();
        let mut input = MergeInput::new(channel, stream, &version);
        if let Some(base) = &sender_base {
            input = input.sender_base(base);
        }
        let outcome = merge_entries(&mut self.buffer, &input, &held, entries);
        for error in &outcome.errors {
            if let Error::NonMember {
                channel,
                author,
                count,
            } = error
            {
                self.feeds.event(DomainEvent::NonMemberEntriesRejected {
                    channel: channel.clone(),
                    stream: stream.clone(),
                    author: author.clone(),
                    count: *count,
                });
            }
            self.report(error.clone(), Some(from));
        }
        if !outcome.changes_store() {
            return Vec::new();
        }
        let mut base = self.index.base(channel_id, stream);
        if !outcome.raised_base.is_empty() {
            match self
                .store
                .compact(channel_id, stream, &outcome.raised_base)
                .await
            {
                Ok(_) => base.merge(&outcome.raised_base),
                Err(error) => {
                    self.report(Error::Store(error), Some(from));
                    return Vec::new();
                }
            }
        }
        if let Err(error) = self
            .store
            .append(channel_id, stream, &outcome.accepted)
            .await
        {
            // Nothing was written: re-derive the index from the store (the
            // base may have moved) and let a later round fetch the entries.
            self.report(Error::Store(error), Some(from));
            self.reload_stream(channel_id, stream).await;
            return Vec::new();
        }
        self.index
            .set(channel_id, stream, outcome.version.clone(), base);
        if let Some(latest) = outcome.accepted.iter().map(|e| e.timestamp).max() {
            let now = self.clock.now_ms();
            if let Err(error) = self.hlc.receive(latest, now) {
                self.report(error, Some(from));
            }
        }
        let count = outcome.accepted.len();
        self.stats.entries_merged += count as u64;
        self.feeds.publish(channel_id, stream, &outcome.accepted);
        if count > 0 {
            self.feeds.event(DomainEvent::EntriesMerged {
                channel: channel_id.clone(),
                stream: stream.clone(),
                from: Some(from.clone()),
                count,
            });
        }
        outcome.accepted
    }

    /// Re-reads one stream's version and base from the store into the index.
    pub(super) async fn reload_stream(&mut self, channel: &ChannelId, stream: &StreamId) {
        let version = self.store.version(channel, stream).await;
        let base = self.store.base(channel, stream).await;
        match (version, base) {
            (Ok(version), Ok(base)) => self.index.set(channel, stream, version, base),
            (Err(error), _) | (_, Err(error)) => self.report(Error::Store(error), None),
        }
    }

    /// Applies every stream's retention policy; returns the entries removed.
    pub(super) async fn apply_retention(&mut self) -> u64 {
        let now = self.clock.now_ms();
        let mut removed_total = 0;
        let work: Vec<(ChannelId, StreamId, crate::RetentionPolicy)> = self
            .channels
            .iter()
            .flat_map(|(id, channel)| {
                self.index
                    .streams(id)
                    .map(|s| {
                        (
                            id.clone(),
                            s.clone(),
                            channel.stream_config(s).retention.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|(_, _, policy)| !policy.keeps_all())
            .collect();
        for (channel, stream, policy) in work {
            let version = self.index.version(&channel, &stream);
            let base = self.index.base(&channel, &stream);
            let mut new_base = BTreeMap::new();
            for (author, high) in version.iter() {
                let from = base.get(author);
                let log = match self
                    .store
                    .read_author(&channel, &stream, author, from, 4_096)
                    .await
                {
                    Ok(log) => log,
                    Err(error) => {
                        self.report(Error::Store(error), None);
                        continue;
                    }
                };
                let point = policy.compaction_point(from, high, &log, now);
                if point > from {
                    new_base.insert(author.clone(), point);
                }
            }
            if new_base.is_empty() {
                continue;
            }
            let bases: VersionVector = new_base.into_iter().collect();
            match self.store.compact(&channel, &stream, &bases).await {
                Ok(removed) => {
                    removed_total += removed;
                    self.reload_stream(&channel, &stream).await;
                    self.feeds.event(DomainEvent::StreamCompacted {
                        channel: channel.clone(),
                        stream: stream.clone(),
                        removed,
                    });
                }
                Err(error) => self.report(Error::Store(error), None),
            }
        }
        removed_total
    }
}
