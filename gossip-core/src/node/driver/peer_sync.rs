//! [`PeerSync`]: what this node knows of where each peer stands, per
//! channel and stream, learnt from what anti-entropy and push already carry.
//!
//! - A digest request whose channel hash equals ours: the peer holds
//!   exactly what we hold in that channel.
//! - A digest response: the peer's version of every stream its digest
//!   covers; a channel it left out (same hash) holds what we held when we
//!   asked, if that has not changed since.
//! - A delta request: the requester's version of each stream it wants.
//! - A push, an announcement (`IHave`) or a graft: the peer holds those
//!   entries (raised, never lowered).
//!
//! No store or clock inside: the driver feeds it, and turns what it knows
//! into [`PeerStreamSync`](crate::node::health::PeerStreamSync) figures.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::{
    domain::{ChannelId, DigestHash, NodeId, StreamId, VersionVector},
    protocol::anti_entropy::ReplicaIndex,
};

/// Clock-offset samples kept per peer.
const SKEW_SAMPLES: usize = 16;

/// One peer's replication state as this node knows it.
#[derive(Debug, Default)]
pub(super) struct PeerView {
    /// The peer's known version per channel and stream.
    pub(super) versions: BTreeMap<(ChannelId, StreamId), VersionVector>,
    /// Channels in which the peer held everything we held when last seen.
    caught_up: BTreeSet<ChannelId>,
    /// When a digest exchange with the peer last completed (ms, node time).
    pub(super) last_sync_ms: Option<u64>,
    /// The channel hashes of our last digest request to the peer.
    asked: Option<(u64, Vec<(ChannelId, DigestHash)>)>,
    /// Recent samples of (peer's entry timestamp − our clock on arrival), ms.
    skew: VecDeque<i64>,
}

impl PeerView {
    /// The estimated offset of the peer's clock from ours (positive: ahead),
    /// the largest recent sample: each sample is the offset minus the
    /// one-way delay, so the largest is the closest.
    pub(super) fn clock_skew_ms(&self) -> Option<i64> {
        self.skew.iter().copied().max()
    }
}

/// Every peer's [`PeerView`]; bounded by the peers and the channels and
/// streams this node holds (the driver forgets removed peers and
/// channels).
#[derive(Debug, Default)]
pub(super) struct PeerSync {
    peers: BTreeMap<NodeId, PeerView>,
}

impl PeerSync {
    /// What is known of `peer`.
    pub(super) fn view(&self, peer: &NodeId) -> Option<&PeerView> {
        self.peers.get(peer)
    }

    /// The peers known to hold `author`'s entries of a stream up to
    /// `sequence`.
    pub(super) fn holders<'a>(
        &'a self,
        channel: &'a ChannelId,
        stream: &'a StreamId,
        author: &'a NodeId,
        sequence: u64,
    ) -> impl Iterator<Item = &'a NodeId> + 'a {
        let key = (channel.clone(), stream.clone());
        self.peers
            .iter()
            .filter(move |(_, view)| {
                view.versions
                    .get(&key)
                    .is_some_and(|v| v.get(author) >= sequence)
            })
            .map(|(peer, _)| peer)
    }

    /// Forgets `peer`.
    pub(super) fn forget_peer(&mut self, peer: &NodeId) {
        self.peers.remove(peer);
    }

    /// Forgets what is known of `channel`.
    pub(super) fn forget_channel(&mut self, channel: &ChannelId) {
        for view in self.peers.values_mut() {
            view.versions.retain(|(c, _), _| c != channel);
            view.caught_up.remove(channel);
        }
    }

    /// We asked `peer` for a digest of these channels (their hashes now).
    pub(super) fn asked(
        &mut self,
        peer: &NodeId,
        session: u64,
        hashes: Vec<(ChannelId, DigestHash)>,
    ) {
        self.peers.entry(peer.clone()).or_default().asked = Some((session, hashes));
    }

    /// The channel hashes of our request `session` to `peer`, once.
    pub(super) fn take_asked(
        &mut self,
        peer: &NodeId,
        session: u64,
    ) -> Option<Vec<(ChannelId, DigestHash)>> {
        let view = self.peers.get_mut(peer)?;
        match view.asked.take() {
            Some((asked, hashes)) if asked == session => Some(hashes),
            other => {
                view.asked = other;
                None
            }
        }
    }

    /// A digest exchange with `peer` completed at `now_ms`.
    pub(super) fn synced(&mut self, peer: &NodeId, now_ms: u64) {
        self.peers.entry(peer.clone()).or_default().last_sync_ms = Some(now_ms);
    }

    /// `peer` holds exactly `version` of a stream (a digest or a delta
    /// request said so).
    pub(super) fn set(
        &mut self,
        peer: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        version: VersionVector,
    ) {
        let view = self.peers.entry(peer.clone()).or_default();
        view.versions
            .insert((channel.clone(), stream.clone()), version);
    }

    /// `peer` holds `author`'s entries of a stream up to `sequence` at
    /// least (it pushed, announced or grafted from there).
    pub(super) fn raise(
        &mut self,
        peer: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        sequence: u64,
    ) {
        let view = self.peers.entry(peer.clone()).or_default();
        view.versions
            .entry((channel.clone(), stream.clone()))
            .or_default()
            .raise(author, sequence);
    }

    /// `peer` holds what `index` holds of `channel`.
    pub(super) fn holds_ours(&mut self, peer: &NodeId, channel: &ChannelId, index: &ReplicaIndex) {
        let streams: Vec<StreamId> = index.streams(channel).cloned().collect();
        for stream in streams {
            let version = index.version(channel, &stream);
            self.set(peer, channel, &stream, version);
        }
    }

    /// A clock sample: `peer`'s own entry stamped `stamped_ms` arrived at
    /// `now_ms` (both wall-clock ms).
    pub(super) fn clock_sample(&mut self, peer: &NodeId, stamped_ms: u64, now_ms: u64) {
        let offset = i64::try_from(i128::from(stamped_ms) - i128::from(now_ms)).unwrap_or(0);
        let skew = &mut self.peers.entry(peer.clone()).or_default().skew;
        if skew.len() == SKEW_SAMPLES {
            skew.pop_front();
        }
        skew.push_back(offset);
    }

    /// Our version of `channel` grew: nobody is known to hold all of it.
    pub(super) fn ours_grew(&mut self, channel: &ChannelId) {
        for view in self.peers.values_mut() {
            view.caught_up.remove(channel);
        }
    }

    /// Whether `peer` now holds all we hold of `channel` (`index`) having
    /// not before: the moment to report that it caught up.
    pub(super) fn caught_up_now(
        &mut self,
        peer: &NodeId,
        channel: &ChannelId,
        index: &ReplicaIndex,
    ) -> bool {
        let Some(view) = self.peers.get_mut(peer) else {
            return false;
        };
        let holds_all = index.streams(channel).all(|stream| {
            let ours = index.version(channel, stream);
            let base = index.base(channel, stream);
            view.versions
                .get(&(channel.clone(), stream.clone()))
                .is_some_and(|theirs| lacking(&ours, &base, theirs) == 0)
        });
        if !holds_all {
            view.caught_up.remove(channel);
            return false;
        }
        view.caught_up.insert(channel.clone())
    }
}

/// Entries of `ours` (above our compaction `base`) that `theirs` lacks.
pub(super) fn lacking(ours: &VersionVector, base: &VersionVector, theirs: &VersionVector) -> u64 {
    ours.iter()
        .map(|(author, held)| held.saturating_sub(theirs.get(author).max(base.get(author))))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (NodeId, NodeId, ChannelId, StreamId) {
        let (a, b) = (NodeId::from_seed("a"), NodeId::from_seed("b"));
        let channel = ChannelId::derive(&a, "c").unwrap();
        (a, b, channel, StreamId::new("s").unwrap())
    }

    fn version(author: &NodeId, seq: u64) -> VersionVector {
        let mut v = VersionVector::new();
        v.raise(author, seq);
        v
    }

    #[test]
    fn lacking_counts_what_we_hold_above_their_version_and_our_base() {
        let (a, b, ..) = ids();
        let mut ours = version(&a, 10);
        ours.raise(&b, 4);
        assert_eq!(
            lacking(&ours, &VersionVector::new(), &version(&a, 7)),
            3 + 4
        );
        // Compacted below 9: only 10 can be lacked of a.
        assert_eq!(lacking(&ours, &version(&a, 9), &version(&a, 7)), 1 + 4);
        assert_eq!(
            lacking(&version(&a, 3), &VersionVector::new(), &version(&a, 5)),
            0
        );
    }

    #[test]
    fn a_peer_catches_up_once_until_our_version_grows() {
        let (a, peer, channel, stream) = ids();
        let mut index = ReplicaIndex::default();
        index.set(&channel, &stream, version(&a, 5), VersionVector::new());
        let mut sync = PeerSync::default();
        // Nothing known: not caught up.
        assert!(!sync.caught_up_now(&peer, &channel, &index));
        sync.set(&peer, &channel, &stream, version(&a, 3));
        assert!(!sync.caught_up_now(&peer, &channel, &index));
        sync.raise(&peer, &channel, &stream, &a, 5);
        assert!(sync.caught_up_now(&peer, &channel, &index));
        assert!(
            !sync.caught_up_now(&peer, &channel, &index),
            "reported once"
        );
        // We append: the peer lacks it until it is known to hold it again.
        index.set(&channel, &stream, version(&a, 6), VersionVector::new());
        sync.ours_grew(&channel);
        assert!(!sync.caught_up_now(&peer, &channel, &index));
        sync.holds_ours(&peer, &channel, &index);
        assert!(sync.caught_up_now(&peer, &channel, &index));
        // Raising never lowers what a digest said.
        sync.raise(&peer, &channel, &stream, &a, 2);
        assert_eq!(
            sync.view(&peer).unwrap().versions[&(channel.clone(), stream)].get(&a),
            6
        );
        sync.forget_channel(&channel);
        assert!(sync.view(&peer).unwrap().versions.is_empty());
    }

    #[test]
    fn a_digest_answer_matches_only_the_request_it_answers() {
        let (_, peer, channel, _) = ids();
        let mut sync = PeerSync::default();
        sync.asked(&peer, 7, vec![(channel.clone(), DigestHash(0))]);
        assert!(sync.take_asked(&peer, 6).is_none());
        assert_eq!(sync.take_asked(&peer, 7).unwrap().len(), 1);
        assert!(sync.take_asked(&peer, 7).is_none(), "taken once");
    }

    #[test]
    fn clock_skew_is_the_largest_recent_offset() {
        let (_, peer, ..) = ids();
        let mut sync = PeerSync::default();
        assert_eq!(sync.view(&peer).map(PeerView::clock_skew_ms), None);
        sync.clock_sample(&peer, 10_500, 10_000);
        sync.clock_sample(&peer, 10_480, 10_000);
        assert_eq!(sync.view(&peer).unwrap().clock_skew_ms(), Some(500));
        for i in 0..SKEW_SAMPLES as u64 {
            sync.clock_sample(&peer, 20_000 + i, 20_100 + i);
        }
        assert_eq!(sync.view(&peer).unwrap().clock_skew_ms(), Some(-100));
    }
}
