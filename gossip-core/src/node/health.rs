//! What a node reports about itself: [`NodeState`], [`Health`], [`ResourceUsage`], [`NodeStats`].

use crate::domain::{ChannelId, EquivocationProof, NodeId, PeerStatus, StreamId, VersionVector};

/// The lifecycle state of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeState {
    /// Built, not networking yet: local appends and reads work.
    Idle,
    /// Gossiping, probing and pushing.
    Running,
    /// Networking suspended, announced to the peers (they see it
    /// [`Dormant`](crate::PeerStatus::Dormant) and leave it alone): frames
    /// still arriving are drained and dropped, nothing is sent.
    Paused,
    /// Networking ended (transport closed, clock saved); local operations still work.
    Stopped,
    /// Everything ended; handles fail with [`Error::NodeStopped`](crate::Error::NodeStopped).
    Disposed,
}

/// A peer as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerHealth {
    /// The peer.
    pub id: NodeId,
    /// Its SWIM status.
    pub status: PeerStatus,
    /// Milliseconds since the node last heard from it (`None`: never).
    pub last_heard_ms_ago: Option<u64>,
    /// Milliseconds since an anti-entropy exchange with it last completed
    /// (a digest either way), when this node last learnt where it stands
    /// (`None`: never).
    pub last_sync_ms_ago: Option<u64>,
    /// The estimated offset of its clock from this node's, in ms (positive:
    /// ahead), from the timestamps of its own entries as they arrive: the
    /// largest of the last 16 samples, each the offset minus the one-way
    /// delay. `None` until it has pushed an entry of its own.
    pub clock_skew_ms: Option<i64>,
    /// Where it stands in each stream this node holds of the channels it
    /// has learnt the peer's state in (a stream created since is listed
    /// with an empty version until the peer is heard about it).
    pub streams: Vec<PeerStreamSync>,
}

impl PeerHealth {
    /// Whether it is known to hold everything this node holds of every
    /// stream listed.
    #[must_use]
    pub fn caught_up(&self) -> bool {
        self.streams.iter().all(|s| s.lacking_entries == 0)
    }

    /// Entries it lacks, over every stream listed.
    #[must_use]
    pub fn lacking_entries(&self) -> u64 {
        self.streams.iter().map(|s| s.lacking_entries).sum()
    }

    /// The age of the oldest entry it lacks, in ms, over every stream
    /// listed (`None`: it lacks nothing known).
    #[must_use]
    pub fn lag_ms(&self) -> Option<u64> {
        self.streams.iter().filter_map(|s| s.lag_ms).max()
    }
}

/// Where a peer stands in one stream, as this node knows it: learnt from
/// anti-entropy digests and delta requests (exact at that moment), pushes,
/// announcements and grafts (the peer holds at least those entries).
/// Between exchanges it may hold more than shown, never less (barring data
/// loss on its side).
///
/// ```
/// # async fn run() -> Result<(), gossip_core::Error> {
/// # let node: gossip_core::Coordinator = unimplemented!();
/// for peer in node.health().await?.peers {
///     for s in &peer.streams {
///         println!(
///             "{} {}/{}: lacks {} entries ({} B), {} ms behind",
///             peer.id, s.channel, s.stream, s.lacking_entries, s.lacking_bytes,
///             s.lag_ms.unwrap_or(0),
///         );
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStreamSync {
    /// The channel.
    pub channel: ChannelId,
    /// The stream.
    pub stream: StreamId,
    /// The peer's version of the stream as last learnt.
    pub version: VersionVector,
    /// Entries this node holds (above its compaction base) that the peer
    /// lacks.
    pub lacking_entries: u64,
    /// Their payload bytes: exact up to 1 024 entries, estimated beyond
    /// from the mean size of those read.
    pub lacking_bytes: u64,
    /// The age of the oldest entry it lacks, by its timestamp against this
    /// node's clock, in ms (`None`: it lacks nothing).
    pub lag_ms: Option<u64>,
}

/// A snapshot of a node's health.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The lifecycle state.
    pub state: NodeState,
    /// Every known peer.
    pub peers: Vec<PeerHealth>,
    /// Entries waiting in the out-of-order buffer (a sign of lag or loss).
    pub buffered_entries: usize,
    /// Entries held in quarantine: stamped further in the future than the
    /// allowed clock drift (a peer's clock is wrong, or it lies).
    pub quarantined_entries: usize,
    /// Entries held pending: by authors a channel's control log has not
    /// explained yet (the operation adding them is still on its way).
    pub pending_entries: usize,
    /// Announced entries this node lacks and will graft (lazy push, large
    /// channels), at most [`LazyPushConfig::max_missing`](crate::protocol::lazy_push::LazyPushConfig::max_missing).
    pub lazy_missing: usize,
    /// Proofs that authors signed two histories, the first per channel,
    /// stream and author (bounded): those authors are faulty or their key
    /// is compromised. Nothing of a fork is applied.
    pub equivocations: Vec<EquivocationProof>,
    /// Traffic and error counters.
    pub stats: NodeStats,
    /// The transport's own counters ([`Transport::counters`](crate::Transport::counters)):
    /// for TCP, connections and handshakes refused over its caps, oversized
    /// frames. Empty offline or for a transport that keeps none.
    pub transport: Vec<crate::TransportCounter>,
}

impl Health {
    /// The authors flagged for equivocation, each once.
    pub fn equivocating_authors(&self) -> impl Iterator<Item = &NodeId> + '_ {
        let mut seen = std::collections::BTreeSet::new();
        self.equivocations
            .iter()
            .map(|proof| &proof.conflicting.author)
            .filter(move |author| seen.insert(*author))
    }

    /// Peers currently reachable.
    pub fn reachable_peers(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.peers
            .iter()
            .filter(|p| p.status == PeerStatus::Reachable)
            .map(|p| &p.id)
    }
}

/// What a node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// Channels.
    pub channels: usize,
    /// Streams holding entries (the channels' control logs included).
    pub streams: usize,
    /// Entries stored (the channels' control logs included).
    pub entries: u64,
    /// Bytes of the entries stored: payloads and signatures, as
    /// [`LogEntry::size_bytes`](crate::LogEntry::size_bytes) counts them.
    pub bytes: u64,
    /// Entries in the out-of-order buffer.
    pub buffered_entries: usize,
    /// Bytes of the entries in the out-of-order buffer, counted as
    /// [`bytes`](Self::bytes) is.
    pub buffered_bytes: u64,
}

/// Counters since the node was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NodeStats {
    /// Frames received.
    pub frames_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Frames that failed to decode.
    pub malformed_frames: u64,
    /// Frames dropped because the sender is not a known peer.
    pub unknown_peer_frames: u64,
    /// Frames dropped because their sender was over its inbound budget.
    pub throttled_frames: u64,
    /// Frames whose send failed.
    pub send_failures: u64,
    /// Pushes dropped because a peer's queue was full or it was unreachable.
    pub push_dropped: u64,
    /// Entries appended locally.
    pub entries_appended: u64,
    /// Entries merged from peers.
    pub entries_merged: u64,
    /// Anti-entropy rounds started.
    pub gossip_rounds: u64,
    /// Entries rejected because their author did not sign them (forged,
    /// or sent without the signed entry that vouches for them).
    pub entries_rejected: u64,
    /// Equivocations seen: an author signed two different entries for one
    /// place in its log.
    pub equivocations: u64,
    /// Sync requests left unanswered, or answered in part, because the peer
    /// was over its [`ServeBudget`](crate::ServeBudget).
    pub serve_throttled: u64,
    /// Sync messages dropped because they belong to no session this node
    /// opened with, or answered for, their sender.
    pub unsolicited_sync: u64,
    /// Entries refused because they would take a channel past its streams
    /// or a stream past its authors limit.
    pub limit_refused: u64,
    /// Out-of-order entries dropped after waiting longer than the buffer's
    /// `max_age`.
    pub buffer_expired: u64,
    /// Entries refused because the out-of-order buffer, the quarantine or
    /// the pending area, or the sending peer's share of it, was full.
    pub buffer_refused: u64,
    /// `Push` and `AuthorPush` frames sent (appends, forwards along the
    /// push tree, answers to grafts).
    pub push_frames_out: u64,
    /// Author pushes received without their link whose entry before this
    /// node did not hold (the push that carried it was lost): the run was
    /// grafted from its author instead.
    pub author_pushes_unlinked: u64,
    /// `IHave` frames sent (lazy announcements, large channels).
    pub ihave_frames_out: u64,
    /// `Graft` frames sent (announced entries still missing).
    pub graft_frames_out: u64,
    /// `Prune` frames sent (duplicate pushes).
    pub prune_frames_out: u64,
    /// Lazy push input ignored over its bounds: announced ranges not
    /// tracked (tracking full, or the announcer's share of it), local
    /// announcements dropped (queue full), grafts of non-members.
    pub lazy_refused: u64,
    /// Missing announced entries given up (too old, grafted three times):
    /// anti-entropy fetches them.
    pub lazy_expired: u64,
}
