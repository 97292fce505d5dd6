//! Anti-entropy: the four-step digest/delta exchange, sans-IO.
//!
//! 1. The requester sends a [`DigestRequest`]: one 8-byte hash per channel
//!    shared with the peer.
//! 2. The responder answers with the full [`ChannelDigest`] of each channel
//!    whose hash differs (nothing at all when every channel is in sync).
//! 3. The requester asks for what it lacks ([`DeltaRequest`]) and, in the
//!    same step, plans deltas for what the responder lacks: both directions
//!    are repaired in one round.
//! 4. Each side reads the planned ranges from its store and sends them as
//!    [`DeltaResponse`](super::DeltaResponse)s.
//!
//! The engine reads a [`ReplicaIndex`] (what this node holds, kept in step
//! with the store by the node) and never touches the store or the network.
//!
//! ```
//! use gossip_core::protocol::anti_entropy::{AntiEntropy, ReplicaIndex};
//! use gossip_core::{raw::SeededRng, Channel, ChannelId, NodeId, StreamId, VersionVector};
//! use std::collections::BTreeMap;
//!
//! let (a, b) = (NodeId::from_seed("a"), NodeId::from_seed("b"));
//! let id = ChannelId::derive(&a, "c")?;
//! let mut channel = Channel::new(id.clone(), a.clone());
//! channel.add_member(b.clone(), gossip_core::Role::Writer);
//! let channels = BTreeMap::from([(id.clone(), channel)]);
//!
//! let mut held_by_a = ReplicaIndex::default();
//! let mut version = VersionVector::new();
//! version.raise(&a, 3);
//! held_by_a.set(&id, &StreamId::new("s")?, version, VersionVector::new());
//! let held_by_b = ReplicaIndex::default();
//!
//! let mut engine = AntiEntropy::new(SeededRng::new(1));
//! let request = engine.digest_request(&held_by_b, &channels, &a).expect("shared channel");
//! let response = AntiEntropy::answer_digest_request(&held_by_a, &channels, &b, &request)
//!     .expect("hashes differ");
//! let plan = AntiEntropy::on_digest_response(&held_by_b, &channels, &a, &response);
//! assert_eq!(plan.request.expect("b lacks entries").wants.len(), 1);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::collections::BTreeMap;

use super::messages::{ChannelSummary, DeltaRequest, DigestRequest, DigestResponse, StreamWant};
use crate::domain::{
    Channel, ChannelDigest, ChannelId, NodeId, SeededRng, SeqRange, StreamDigest, StreamId,
    VersionVector,
};

/// What this node holds: per channel and stream, the version vector and the
/// compaction base. The node keeps it in step with the store after every
/// successful write, so digests cost no store access.
#[derive(Debug, Clone, Default)]
pub struct ReplicaIndex {
    channels: BTreeMap<ChannelId, BTreeMap<StreamId, StreamDigest>>,
}

impl ReplicaIndex {
    /// Records what is held of one stream.
    pub fn set(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        version: VersionVector,
        base: VersionVector,
    ) {
        self.channels.entry(channel.clone()).or_default().insert(
            stream.clone(),
            StreamDigest::new(stream.clone(), version, base),
        );
    }

    /// Ensures a channel is listed, even with no stream yet.
    pub fn add_channel(&mut self, channel: &ChannelId) {
        self.channels.entry(channel.clone()).or_default();
    }

    /// Forgets a channel.
    pub fn remove_channel(&mut self, channel: &ChannelId) {
        self.channels.remove(channel);
    }

    /// The version vector held of a stream (empty if unknown).
    #[must_use]
    pub fn version(&self, channel: &ChannelId, stream: &StreamId) -> VersionVector {
        self.stream(channel, stream)
            .map(|s| s.version.clone())
            .unwrap_or_default()
    }

    /// The compaction base of a stream (empty if unknown).
    #[must_use]
    pub fn base(&self, channel: &ChannelId, stream: &StreamId) -> VersionVector {
        self.stream(channel, stream)
            .map(|s| s.base.clone())
            .unwrap_or_default()
    }

    /// The digest of one stream, if held.
    #[must_use]
    pub fn stream(&self, channel: &ChannelId, stream: &StreamId) -> Option<&StreamDigest> {
        self.channels.get(channel)?.get(stream)
    }

    /// The streams held of a channel.
    pub fn streams(&self, channel: &ChannelId) -> impl Iterator<Item = &StreamId> + '_ {
        self.channels
            .get(channel)
            .into_iter()
            .flat_map(BTreeMap::keys)
    }

    /// The full digest of a channel.
    #[must_use]
    pub fn digest(&self, channel: &ChannelId) -> ChannelDigest {
        let streams = self
            .channels
            .get(channel)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        ChannelDigest::new(channel.clone(), streams)
    }

    /// Number of streams held across channels.
    #[must_use]
    pub fn stream_count(&self) -> usize {
        self.channels.values().map(BTreeMap::len).sum()
    }
}

/// Entries to read from the store and send to a peer: per author, the ranges
/// it lacks, starting no lower than this node's compaction base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPlan {
    /// The channel.
    pub channel: ChannelId,
    /// The stream.
    pub stream: StreamId,
    /// This node's compaction base of the stream, for the authors whose base
    /// is beyond what the peer holds (sent with the delta, with proofs).
    pub base: VersionVector,
    /// The ranges to read and send, per author.
    pub ranges: Vec<SeqRange>,
}

/// What the requester does after a [`DigestResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestOutcome {
    /// The delta request to send, if this node lacks anything.
    pub request: Option<DeltaRequest>,
    /// Deltas to send unsolicited, for what the responder lacks.
    pub to_send: Vec<DeltaPlan>,
}

/// The anti-entropy engine: chooses peers and sessions; every step is a pure
/// function of a [`ReplicaIndex`] and the channels.
#[derive(Debug, Clone)]
pub struct AntiEntropy {
    rng: SeededRng,
    next_session: u64,
}

impl AntiEntropy {
    /// An engine drawing its randomness from `rng`.
    #[must_use]
    pub fn new(rng: SeededRng) -> Self {
        Self {
            rng,
            next_session: 1,
        }
    }

    /// Picks a random peer among `candidates` for the next round.
    pub fn choose_peer<'a>(&mut self, candidates: &'a [NodeId]) -> Option<&'a NodeId> {
        let i = self.rng.below(candidates.len() as u64);
        candidates.get(usize::try_from(i).ok()?)
    }

    /// Step 1: the hash of every channel `peer` is a member of, or `None` when
    /// there is no such channel.
    pub fn digest_request(
        &mut self,
        index: &ReplicaIndex,
        channels: &BTreeMap<ChannelId, Channel>,
        peer: &NodeId,
    ) -> Option<DigestRequest> {
        let summaries: Vec<ChannelSummary> = channels
            .values()
            .filter(|c| c.syncs_with(peer))
            .map(|c| ChannelSummary {
                channel: c.id().clone(),
                hash: index.digest(c.id()).hash(),
            })
            .collect();
        if summaries.is_empty() {
            return None;
        }
        let session = self.next_session;
        self.next_session = self.next_session.wrapping_add(1);
        Some(DigestRequest {
            session,
            channels: summaries,
        })
    }

    /// Step 2: the full digest of each requested channel whose hash differs
    /// and that `from` may know about (it is a member). `None` when all are in sync.
    #[must_use]
    pub fn answer_digest_request(
        index: &ReplicaIndex,
        channels: &BTreeMap<ChannelId, Channel>,
        from: &NodeId,
        request: &DigestRequest,
    ) -> Option<DigestResponse> {
        let digests: Vec<ChannelDigest> = request
            .channels
            .iter()
            .filter(|s| channels.get(&s.channel).is_some_and(|c| c.syncs_with(from)))
            .map(|s| (s, index.digest(&s.channel)))
            .filter(|(s, digest)| digest.hash() != s.hash)
            .map(|(_, digest)| digest)
            .collect();
        (!digests.is_empty()).then_some(DigestResponse {
            session: request.session,
            digests,
        })
    }

    /// Step 3: what to ask for and what to send, given the responder's digests.
    #[must_use]
    pub fn on_digest_response(
        index: &ReplicaIndex,
        channels: &BTreeMap<ChannelId, Channel>,
        from: &NodeId,
        response: &DigestResponse,
    ) -> DigestOutcome {
        let mut wants = Vec::new();
        let mut to_send = Vec::new();
        for remote in &response.digests {
            let Some(channel) = channels.get(&remote.channel) else {
                continue;
            };
            if !channel.syncs_with(from) {
                continue;
            }
            for theirs in &remote.streams {
                let mine = index.version(&remote.channel, &theirs.stream);
                // What the control log denies is not asked for.
                let wanted = channel.allowed(&theirs.stream, &theirs.version);
                if !mine.dominates(&wanted) {
                    wants.push(StreamWant {
                        channel: remote.channel.clone(),
                        stream: theirs.stream.clone(),
                        have: mine,
                    });
                }
            }
            // A digest sent in parts speaks only for the streams of its part.
            for stream in index
                .streams(&remote.channel)
                .filter(|s| remote.part.covers(s))
            {
                let theirs = remote
                    .stream(stream)
                    .map(|s| s.version.clone())
                    .unwrap_or_default();
                if let Some(plan) = plan_for(index, channel, stream, &theirs) {
                    to_send.push(plan);
                }
            }
        }
        DigestOutcome {
            request: (!wants.is_empty()).then_some(DeltaRequest {
                session: response.session,
                wants,
            }),
            to_send,
        }
    }

    /// Step 4: the deltas to read and send for a [`DeltaRequest`] from `from`
    /// (streams of channels it is not a member of are ignored).
    #[must_use]
    pub fn plan_deltas(
        index: &ReplicaIndex,
        channels: &BTreeMap<ChannelId, Channel>,
        from: &NodeId,
        wants: &[StreamWant],
    ) -> Vec<DeltaPlan> {
        wants
            .iter()
            .filter_map(|w| {
                let channel = channels.get(&w.channel).filter(|c| c.syncs_with(from))?;
                plan_for(index, channel, &w.stream, &w.have)
            })
            .collect()
    }
}

/// What a peer holding `theirs` lacks of a stream, starting no lower than
/// our base, and never what the channel's control log denies (this node's
/// own entries after its cut-off).
fn plan_for(
    index: &ReplicaIndex,
    channel: &Channel,
    stream: &StreamId,
    theirs: &VersionVector,
) -> Option<DeltaPlan> {
    let digest = index.stream(channel.id(), stream)?;
    let ranges: Vec<SeqRange> = theirs
        .diff(&channel.allowed(stream, &digest.version))
        .into_iter()
        .map(|mut r| {
            r.after = r.after.max(digest.base.get(&r.author));
            r
        })
        .collect();
    // The base matters only where it is beyond what the peer holds.
    let base: VersionVector = digest
        .base
        .iter()
        .filter(|(author, base)| *base > theirs.get(author))
        .map(|(author, base)| (author.clone(), base))
        .collect();
    if ranges.iter().all(SeqRange::is_empty) && base.is_empty() {
        return None;
    }
    Some(DeltaPlan {
        channel: channel.id().clone(),
        stream: stream.clone(),
        base,
        ranges: ranges.into_iter().filter(|r| !r.is_empty()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::from_seed(s)
    }

    fn vv(pairs: &[(&str, u64)]) -> VersionVector {
        pairs.iter().map(|(a, s)| (id(a), *s)).collect()
    }

    struct World {
        channels: BTreeMap<ChannelId, Channel>,
        cid: ChannelId,
        sid: StreamId,
    }

    fn world(members: &[&str]) -> World {
        let cid = ChannelId::new("c").unwrap();
        let mut channel = Channel::new(cid.clone(), id(members[0]));
        for m in &members[1..] {
            channel.add_member(id(m), crate::domain::Role::Writer);
        }
        World {
            channels: BTreeMap::from([(cid.clone(), channel)]),
            cid,
            sid: StreamId::new("s").unwrap(),
        }
    }

    #[test]
    fn in_sync_channels_cost_one_hash_and_get_no_answer() {
        let w = world(&["a", "b"]);
        let mut index = ReplicaIndex::default();
        index.set(&w.cid, &w.sid, vv(&[("a", 5), ("b", 2)]), vv(&[]));
        let mut engine = AntiEntropy::new(SeededRng::new(1));
        let req = engine
            .digest_request(&index, &w.channels, &id("b"))
            .unwrap();
        assert_eq!(req.channels.len(), 1);
        assert!(AntiEntropy::answer_digest_request(&index, &w.channels, &id("a"), &req).is_none());
    }

    #[test]
    fn no_request_to_peer_sharing_no_channel() {
        let w = world(&["a", "b"]);
        let mut engine = AntiEntropy::new(SeededRng::new(1));
        assert!(engine
            .digest_request(&ReplicaIndex::default(), &w.channels, &id("z"))
            .is_none());
    }

    #[test]
    fn one_round_repairs_both_directions() {
        let w = world(&["a", "b"]);
        let mut on_a = ReplicaIndex::default();
        on_a.set(&w.cid, &w.sid, vv(&[("a", 5), ("b", 1)]), vv(&[]));
        let mut on_b = ReplicaIndex::default();
        on_b.set(&w.cid, &w.sid, vv(&[("a", 2), ("b", 4)]), vv(&[]));

        let mut engine = AntiEntropy::new(SeededRng::new(1));
        let req = engine.digest_request(&on_a, &w.channels, &id("b")).unwrap();
        let resp = AntiEntropy::answer_digest_request(&on_b, &w.channels, &id("a"), &req).unwrap();
        let outcome = AntiEntropy::on_digest_response(&on_a, &w.channels, &id("b"), &resp);

        let request = outcome.request.unwrap();
        assert_eq!(request.wants[0].have, vv(&[("a", 5), ("b", 1)]));
        let plans_on_b = AntiEntropy::plan_deltas(&on_b, &w.channels, &id("a"), &request.wants);
        assert_eq!(
            plans_on_b[0].ranges,
            vec![SeqRange {
                author: id("b"),
                after: 1,
                up_to: 4
            }]
        );
        assert_eq!(outcome.to_send.len(), 1);
        assert_eq!(
            outcome.to_send[0].ranges,
            vec![SeqRange {
                author: id("a"),
                after: 2,
                up_to: 5
            }]
        );
    }

    #[test]
    fn non_members_learn_nothing() {
        let w = world(&["a", "b"]);
        let mut index = ReplicaIndex::default();
        index.set(&w.cid, &w.sid, vv(&[("a", 5)]), vv(&[]));
        let req = DigestRequest {
            session: 1,
            channels: vec![ChannelSummary {
                channel: w.cid.clone(),
                hash: crate::domain::DigestHash(0),
            }],
        };
        assert!(AntiEntropy::answer_digest_request(&index, &w.channels, &id("z"), &req).is_none());
        let wants = vec![StreamWant {
            channel: w.cid.clone(),
            stream: w.sid.clone(),
            have: vv(&[]),
        }];
        assert!(AntiEntropy::plan_deltas(&index, &w.channels, &id("z"), &wants).is_empty());
    }

    #[test]
    fn plans_start_at_base_and_carry_it() {
        let w = world(&["a", "b"]);
        let mut index = ReplicaIndex::default();
        index.set(&w.cid, &w.sid, vv(&[("a", 10)]), vv(&[("a", 6)]));
        let wants = vec![StreamWant {
            channel: w.cid.clone(),
            stream: w.sid.clone(),
            have: vv(&[("a", 2)]),
        }];
        let plan = &AntiEntropy::plan_deltas(&index, &w.channels, &id("b"), &wants)[0];
        assert_eq!(
            plan.ranges,
            vec![SeqRange {
                author: id("a"),
                after: 6,
                up_to: 10
            }]
        );
        assert_eq!(plan.base, vv(&[("a", 6)]));
    }
}
