//! Replication: anti-entropy rounds (digests, then deltas) and eager push
//! (lazy push in large channels: [`lazy`](super::lazy)).

use bytes::Bytes;
use tracing::Instrument;

use super::{engines::worth_sending, ingest::Origin, pulls::Next, Driver};
use crate::{
    domain::{
        drop_unprovable_tails, BaseProof, ChannelId, Delta, LogEntry, NodeId, Permission, StreamId,
        VersionVector,
    },
    error::Error,
    node::serve_budget::Allowance,
    protocol::{
        anti_entropy::{AntiEntropy, DeltaPlan},
        codec, DeltaRequest, DigestResponse, Message, MessageKind,
    },
};

/// Most entries read from the store at once while assembling deltas.
const READ_PAGE: usize = 512;

/// Fewest entries read from the store at once (unless the range has fewer),
/// and how many the node's first read takes, before any entry's size is
/// known.
const MIN_READ_PAGE: usize = 16;

/// How many entries to read next: what the range and the entry budget leave,
/// at most [`READ_PAGE`], and no more than the bytes left hold at the
/// `mean` size of the entries last read (a store copies what it reads:
/// reading 512 entries of 32 KiB to send 27 cost 16 MiB a frame).
fn read_page_len(
    range_left: u64,
    entries_left: usize,
    bytes_left: u64,
    mean: Option<u64>,
) -> usize {
    let by_bytes = mean.map_or(MIN_READ_PAGE, |mean| {
        usize::try_from(bytes_left / mean.max(1))
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .max(MIN_READ_PAGE)
    });
    usize::try_from(range_left)
        .unwrap_or(usize::MAX)
        .min(entries_left.max(1))
        .min(READ_PAGE)
        .min(by_bytes)
}

impl Driver {
    /// Starts an anti-entropy round with `peer`, or, on the timer (`None`),
    /// with a random reachable peer that shares a channel.
    pub(super) async fn gossip_round(&mut self, peer: Option<NodeId>) {
        if peer.is_none() {
            let interval = self.config.gossip_interval;
            let jitter = self.engines.gossip_jitter(interval);
            self.timers.schedule_gossip(interval, jitter);
        }
        let peer = match peer {
            Some(peer) => peer,
            // Deltas are still arriving: a new round now would ask again for
            // entries already on their way. The pull continues by itself
            // (`more`); the next timer tick looks again.
            None if self.peers.pull_under_way(self.config.gossip_interval / 2) => return,
            None => match self.choose_gossip_peer() {
                Some(peer) => peer,
                None => return,
            },
        };
        let span = tracing::debug_span!("gossip_round", node = %self.local, peer = %peer);
        self.request_digest(peer).instrument(span).await;
    }

    fn choose_gossip_peer(&mut self) -> Option<NodeId> {
        let candidates: Vec<NodeId> = self
            .peers
            .ids()
            .into_iter()
            .filter(|p| self.engines.reachable(p))
            .filter(|p| self.replica.channels.values().any(|c| c.syncs_with(p)))
            .collect();
        self.engines.anti_entropy.choose_peer(&candidates).cloned()
    }

    async fn request_digest(&mut self, peer: NodeId) {
        let Some(request) = self.engines.anti_entropy.digest_request(
            &self.replica.index,
            &self.replica.channels,
            &peer,
        ) else {
            return;
        };
        self.stats.gossip_rounds += 1;
        let now = self.timers.now_ms();
        self.peers.sessions().asked(&peer, request.session, now);
        self.note_digest_asked(&peer, &request);
        let frames = codec::digest_request_frames(request, self.link.max_frame_len());
        self.send_frames(&peer, frames).await;
    }

    /// Handles an anti-entropy or push message from a known peer.
    pub(super) async fn handle_sync_message(&mut self, from: NodeId, message: Message) {
        let now = self.timers.now_ms();
        match message {
            Message::DigestRequest(request) => {
                self.learn_from_digest_request(&from, &request);
                let (index, channels) = (&self.replica.index, &self.replica.channels);
                // In sync: an empty answer says so (and where we stand).
                let response = AntiEntropy::answer_digest_request(index, channels, &from, &request)
                    .unwrap_or(DigestResponse {
                        session: request.session,
                        digests: Vec::new(),
                    });
                let Some((_, bytes)) = self.allowance(&from, now) else {
                    return;
                };
                let frames = codec::digest_response_frames(response, self.link.max_frame_len());
                let size: usize = frames.iter().flatten().map(Bytes::len).sum();
                if size as u64 > bytes {
                    self.stats.serve_throttled += 1;
                    return;
                }
                self.peers.charge_served(&from, 0, size as u64, now);
                self.peers.sessions().answered(&from, request.session, now);
                self.send_frames(&from, frames).await;
            }
            Message::DigestResponse(response) => {
                if !self.solicited(&from, MessageKind::DigestResponse, response.session, now) {
                    return;
                }
                self.learn_from_digest_response(&from, &response);
                let (index, channels) = (&self.replica.index, &self.replica.channels);
                let outcome = AntiEntropy::on_digest_response(index, channels, &from, &response);
                if let Some(request) = outcome.request {
                    self.send_delta_request(&from, request).await;
                }
                // A peer that is pulling from this node already asks for
                // everything it lacks: sending it unasked would duplicate that.
                let serving = self
                    .peers
                    .served_within(&from, self.config.gossip_interval * 2);
                if !outcome.to_send.is_empty() && !serving {
                    self.send_deltas(&from, response.session, outcome.to_send, false)
                        .await;
                }
            }
            Message::DeltaRequest(request) => {
                if !self.solicited(&from, MessageKind::DeltaRequest, request.session, now) {
                    return;
                }
                self.peers.serving(&from);
                self.learn_from_delta_request(&from, &request);
                let (index, channels) = (&self.replica.index, &self.replica.channels);
                let plans = AntiEntropy::plan_deltas(index, channels, &from, &request.wants);
                self.send_deltas(&from, request.session, plans, true).await;
            }
            Message::DeltaResponse(response) => {
                self.peers.pulling_from(&from);
                // Ask for the next part before merging this one: the peer
                // reads and sends it meanwhile (see `pulls`).
                let ours = self
                    .peers
                    .sessions()
                    .expects_digest(&from, response.session, now);
                let next = if ours {
                    let channels = &self.replica.channels;
                    let allowed = |channel: &ChannelId, stream: &StreamId, author: &NodeId, seq| {
                        channels.get(channel).is_some_and(|c| {
                            c.permission(stream, author, seq) == Permission::Allowed
                        })
                    };
                    self.pulls.answered(&from, &response, allowed)
                } else {
                    Next::Nothing
                };
                let new_round = next == Next::NewRound;
                if let Next::Continue(request) = next {
                    let frames = codec::delta_request_frames(request, self.link.max_frame_len());
                    self.send_frames(&from, frames).await;
                    // Let the tasks that carry the request (a connection's
                    // writer, an in-process peer) run before the merge below
                    // keeps this one busy: a task woken by this one waits
                    // for it to yield on tokio's runtime.
                    tokio::task::yield_now().await;
                }
                for delta in response.deltas {
                    let Delta {
                        channel,
                        stream,
                        base,
                        entries,
                        hashes,
                    } = delta;
                    let origin = Origin::Peer {
                        from: &from,
                        forward: false,
                    };
                    self.merge(origin, &channel, &stream, entries, hashes.0, base)
                        .await;
                }
                if new_round {
                    // The sender had more than one answer carries and the
                    // request is not known: ask again through a new round.
                    self.gossip_round(Some(from)).await;
                }
            }
            Message::Push(push) => self.receive_push(from, push).await,
            Message::AuthorPush(push) => self.receive_author_push(from, push).await,
            message @ (Message::IHave(_) | Message::Graft(_) | Message::Prune(_)) => {
                self.handle_lazy_message(from, message).await;
            }
            Message::Ping(_) | Message::Ack(_) | Message::PingReq(_) | Message::Nack(_) => {}
        }
    }

    /// Sends `request` to `peer`, opening a pull whose answers are
    /// continued while they say `more`.
    async fn send_delta_request(&mut self, peer: &NodeId, request: DeltaRequest) {
        self.pulls.sent(peer, request.clone());
        let frames = codec::delta_request_frames(request, self.link.max_frame_len());
        self.send_frames(peer, frames).await;
    }

    /// Proofs of this node's compaction base for the authors of `base`: the
    /// checkpoint kept when the base was raised, and the author's latest
    /// entry held. An author without both is left out (the receiver then
    /// fetches the gap from peers that still hold it).
    async fn base_proofs(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        base: &VersionVector,
    ) -> Vec<BaseProof> {
        let Some(held) = self.replica.channels.get(channel) else {
            return Vec::new();
        };
        let version = self.replica.index.version(channel, stream);
        let mut proofs = Vec::new();
        for (author, seq) in base.iter() {
            let Some(checkpoint) = held
                .checkpoint(stream, author)
                .filter(|c| c.sequence == seq)
            else {
                continue;
            };
            let high = version.get(author);
            let head = match self
                .store
                .read_author(channel, stream, author, high.saturating_sub(1), 1)
                .await
            {
                Ok(page) => page.first().and_then(LogEntry::signed_header),
                Err(error) => {
                    self.report(Error::Store(error), None);
                    None
                }
            };
            if let Some(proof) = BaseProof::new(Some(checkpoint.clone()), head) {
                proofs.push(proof);
            }
        }
        proofs
    }

    /// Reads the planned ranges (within the configured budget) and sends
    /// them: in answer to `to`'s request (`asked`), or unasked.
    async fn send_deltas(&mut self, to: &NodeId, session: u64, plans: Vec<DeltaPlan>, asked: bool) {
        let now = self.timers.now_ms();
        let Some((entries_allowed, bytes_allowed)) = self.allowance(to, now) else {
            return;
        };
        let max_entries = self.config.max_delta_entries;
        let budget_bound =
            (entries_allowed as usize) < max_entries || bytes_allowed < self.config.max_delta_bytes;
        let mut entries_left =
            max_entries.min(usize::try_from(entries_allowed).unwrap_or(usize::MAX));
        // An answer takes at most about one frame: the requester continues
        // the pull as soon as it has decoded it (see `pulls`), and this node
        // reads the next part while the requester merges this one. Deltas
        // sent unasked are not continued: they take what the budget allows.
        let one_frame = (self.link.max_frame_len() as u64 / 8).saturating_mul(7);
        let mut bytes_left = self.config.max_delta_bytes.min(bytes_allowed);
        if asked {
            bytes_left = bytes_left.min(one_frame.max(1));
        }
        let (entries_budget, bytes_budget) = (entries_left, bytes_left);
        let mut deltas = Vec::new();
        let mut more = false;
        'plans: for plan in plans {
            let mut entries: Vec<LogEntry> = Vec::new();
            for range in &plan.ranges {
                let mut after = range.after;
                let first = entries.len();
                // Past the budget, a run already begun is finished: only its
                // signed end proves it (runs are short, see `run_ends`).
                let stop = |entries: &Vec<LogEntry>, entries_left: usize, bytes_left: u64| {
                    let open_run = entries.len() > first
                        && entries.last().is_some_and(|e| e.signature.is_none());
                    (entries_left == 0 || bytes_left == 0) && !open_run
                };
                'range: while after < range.up_to {
                    if stop(&entries, entries_left, bytes_left) {
                        more = true;
                        break;
                    }
                    let want = read_page_len(
                        range.up_to - after,
                        entries_left,
                        bytes_left,
                        self.served_entry_size,
                    );
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
                    let page_bytes: u64 = page.iter().map(LogEntry::size_bytes).sum();
                    self.served_entry_size = Some(page_bytes / page.len() as u64);
                    for entry in page {
                        if entry.sequence > range.up_to {
                            break;
                        }
                        if stop(&entries, entries_left, bytes_left) {
                            more = true;
                            break 'range;
                        }
                        entries_left = entries_left.saturating_sub(1);
                        bytes_left = bytes_left.saturating_sub(entry.size_bytes());
                        entries.push(entry);
                    }
                }
            }
            // A tail we hold without its signed end (still missing, or in
            // quarantine) would be refused: peers that hold the end serve it.
            drop_unprovable_tails(&mut entries);
            let base = self
                .base_proofs(&plan.channel, &plan.stream, &plan.base)
                .await;
            deltas.push(Delta::new(plan.channel, plan.stream, base, entries));
            if more {
                break;
            }
        }
        let served = (entries_budget - entries_left) as u64;
        self.peers
            .charge_served(to, served, bytes_budget - bytes_left, now);
        if more && budget_bound {
            // Cut short by the budget, not by the response size.
            self.stats.serve_throttled += 1;
        }
        let frames = codec::delta_response_frames(session, deltas, more, self.link.max_frame_len());
        self.send_frames(to, frames).await;
    }

    /// What `peer` may be served now, in entries and bytes; `None` (counted,
    /// reported once per episode) when its budget is spent.
    pub(super) fn allowance(&mut self, peer: &NodeId, now_ms: u64) -> Option<(u64, u64)> {
        match self.peers.serve_allowance(peer, now_ms) {
            Allowance::Serve { entries, bytes } => Some((entries, bytes)),
            Allowance::ThrottlingStarted => {
                self.stats.serve_throttled += 1;
                self.report(Error::ServeThrottled(peer.clone()), Some(peer));
                None
            }
            Allowance::Throttled => {
                self.stats.serve_throttled += 1;
                None
            }
        }
    }

    /// Whether a sync message from `from` for `session` belongs to a
    /// session this node opened with it (a digest response) or answered for
    /// it (a delta request). Others are counted, reported and dropped.
    fn solicited(&mut self, from: &NodeId, kind: MessageKind, session: u64, now_ms: u64) -> bool {
        let sessions = self.peers.sessions();
        let open = match kind {
            MessageKind::DigestResponse => sessions.expects_digest(from, session, now_ms),
            _ => sessions.expects_delta_request(from, session, now_ms),
        };
        if !open {
            self.stats.unsolicited_sync += 1;
            if !self.peers.worth_reporting(from, "unsolicited sync") {
                return false;
            }
            let error = Error::UnsolicitedSync {
                peer: from.clone(),
                kind: kind.name(),
                session,
            };
            self.report(error, Some(from));
        }
        open
    }

    /// Sends the frames of one message, or reports why it could not be
    /// encoded.
    async fn send_frames(&mut self, to: &NodeId, frames: Result<Vec<Bytes>, Error>) {
        match frames {
            Ok(frames) => {
                self.send_batch(to, frames.into()).await;
            }
            Err(error) => self.report(error, Some(to)),
        }
    }

    /// Pushes entries to up to `push_fanout` reachable members at once
    /// (all of them in a channel that small), or, in a larger channel,
    /// along its push tree with announcements to the rest.
    /// Never waits for a slow peer: a full queue drops the push (counted).
    pub(super) async fn push_entries(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
        exclude: Option<&NodeId>,
    ) {
        if self.uses_tree(channel_id) {
            self.push_along_tree(channel_id, stream, entries, exclude)
                .await;
            return;
        }
        let Some(channel) = self.replica.channels.get(channel_id) else {
            return;
        };
        let (swim, peers) = (&self.engines.swim, &self.peers);
        let targets = self
            .engines
            .push
            .targets(channel, &self.local, exclude, |n| {
                peers.contains(n) && worth_sending(swim.status(n))
            });
        self.push_to(channel_id, stream, entries, targets).await;
    }

    /// Pushes `entries` of one stream to `targets` (their provable part):
    /// as an author push when they are one run of this node's own that
    /// fits in a frame, else split into self-contained frames.
    pub(super) async fn push_to(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
        targets: Vec<NodeId>,
    ) {
        if targets.is_empty() {
            return;
        }
        let mut entries = entries.to_vec();
        drop_unprovable_tails(&mut entries);
        if let Some(run) = self.own_run(channel_id, stream, &entries) {
            self.push_own(channel_id, stream, &run, targets).await;
            return;
        }
        self.send_pushes(channel_id, stream, entries, targets).await;
    }

    /// Pushes `entries` of one stream to `targets` (their provable part) as
    /// [`Push`](crate::protocol::Push)es, every run naming its author and
    /// first link, split into frames.
    pub(super) async fn push_self_contained(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        mut entries: Vec<LogEntry>,
        targets: Vec<NodeId>,
    ) {
        drop_unprovable_tails(&mut entries);
        self.send_pushes(channel_id, stream, entries, targets).await;
    }

    /// Sends `entries`, all provable, to `targets` as self-contained pushes.
    async fn send_pushes(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: Vec<LogEntry>,
        targets: Vec<NodeId>,
    ) {
        if entries.is_empty() || targets.is_empty() {
            return;
        }
        let frames = match codec::push_frames(
            channel_id.clone(),
            stream.clone(),
            entries,
            self.link.max_frame_len(),
        ) {
            Ok(frames) => frames,
            Err(error) => {
                self.report(error, None);
                return;
            }
        };
        for target in targets {
            let sent = self
                .send_batch(&target, frames.iter().cloned().collect())
                .await;
            self.stats.push_frames_out += sent as u64;
            self.stats.push_dropped += (frames.len() - sent) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use crate::{
        node::{
            command::Lifecycle,
            driver::fixture::{node, Fixture},
        },
        ports::PeerRecord,
    };

    #[tokio::test(start_paused = true)]
    async fn a_timer_round_reschedules_with_jitter_and_picks_a_member_peer() {
        let mut f = Fixture::new(&["b"]).await;
        f.driver.peers.insert(PeerRecord::new(node("b")));
        f.driver.peers.insert(PeerRecord::new(node("outsider")));
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let interval = f.driver.config.gossip_interval;

        f.driver.gossip_round(None).await;
        let next = f.driver.timers.next_gossip();
        assert!(next >= Instant::now() + interval && next <= Instant::now() + interval * 11 / 10);
        assert_eq!(f.driver.stats.gossip_rounds, 1);
        assert_eq!(f.driver.choose_gossip_peer(), Some(node("b")));
    }

    #[tokio::test(start_paused = true)]
    async fn no_new_round_while_a_pull_is_under_way() {
        let mut f = Fixture::new(&["b"]).await;
        f.driver.peers.insert(PeerRecord::new(node("b")));
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        f.driver.peers.pulling_from(&node("b"));
        f.driver.gossip_round(None).await;
        assert_eq!(f.driver.stats.gossip_rounds, 0);
        tokio::time::advance(f.driver.config.gossip_interval / 2).await;
        f.driver.gossip_round(None).await;
        assert_eq!(f.driver.stats.gossip_rounds, 1);
        // An explicit round (sync now, `more`) is never held back.
        f.driver.peers.pulling_from(&node("b"));
        f.driver.gossip_round(Some(node("b"))).await;
        assert_eq!(f.driver.stats.gossip_rounds, 2);
    }

    #[test]
    fn reads_take_what_the_bytes_left_hold() {
        use super::{read_page_len, MIN_READ_PAGE, READ_PAGE};
        // Before any size is known: a small first read.
        assert_eq!(read_page_len(10_000, 4_096, 900_000, None), MIN_READ_PAGE);
        // 32 KiB entries, 900 kB left: 28 entries, not 512.
        assert_eq!(read_page_len(10_000, 4_096, 900_000, Some(32_768)), 28);
        // Small entries: the page bound, then the range and entry budget.
        assert_eq!(read_page_len(10_000, 4_096, 900_000, Some(256)), READ_PAGE);
        assert_eq!(read_page_len(3, 4_096, 900_000, Some(256)), 3);
        assert_eq!(read_page_len(10_000, 7, 900_000, Some(256)), 7);
        // Past the bytes (finishing a run): a few at a time, not one.
        assert_eq!(read_page_len(10_000, 4_096, 0, Some(32_768)), MIN_READ_PAGE);
    }
}
