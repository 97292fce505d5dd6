//! Domain events ([`DomainEvent`]) and non-fatal errors ([`SyncError`]) a node reports.

use std::fmt;

use super::{
    ids::{ChannelId, StreamId},
    node_id::NodeId,
};
use crate::error::Error;

/// What a node believes about a peer (SWIM failure detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PeerStatus {
    /// Answering, directly or through intermediaries.
    Reachable,
    /// Failed enough probes to be suspected; may refute.
    Suspected,
    /// Suspected for longer than the suspicion timeout.
    Unreachable,
    /// Paused, and said so: not probed, suspected or synced with until it
    /// resumes (or stays away longer than
    /// [`max_dormancy`](crate::SwimConfig::max_dormancy)).
    Dormant,
}

impl fmt::Display for PeerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerStatus::Reachable => "reachable",
            PeerStatus::Suspected => "suspected",
            PeerStatus::Unreachable => "unreachable",
            PeerStatus::Dormant => "dormant",
        })
    }
}

/// Something that happened in the node, reported on its event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainEvent {
    /// Entries were appended locally.
    EntriesAppended {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// How many.
        count: usize,
    },
    /// Entries from peers were merged into the store.
    EntriesMerged {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// The peer that sent them, if known.
        from: Option<NodeId>,
        /// How many were stored.
        count: usize,
    },
    /// A channel's membership or settings changed: its control log grew
    /// (locally or from a peer) and folds to something new.
    ChannelChanged {
        /// The channel.
        channel: ChannelId,
    },
    /// Entries written by a non-member were rejected.
    NonMemberEntriesRejected {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// The non-member author.
        author: NodeId,
        /// How many.
        count: usize,
    },
    /// Compaction removed entries and raised the stream's base.
    StreamCompacted {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// How many entries were removed.
        removed: u64,
    },
    /// A peer's reachability changed.
    PeerStatusChanged {
        /// The peer.
        peer: NodeId,
        /// Its new status.
        status: PeerStatus,
    },
    /// A transport or discovery mechanism (mDNS, an unknown node that
    /// reached this one) suggested a peer. A member of a channel held here
    /// is made a peer (saved) if it was not one and synced with at once; a
    /// stranger is only reported: adding it is the application's choice.
    PeerDiscovered {
        /// The peer.
        peer: NodeId,
    },
    /// A peer is now known to hold every entry this node holds of a
    /// channel (learnt from anti-entropy, pushes or announcements). Reported
    /// again after this node's copy grows and the peer catches up anew.
    /// Per-stream figures are in [`PeerHealth::streams`](crate::PeerHealth::streams).
    PeerCaughtUp {
        /// The peer.
        peer: NodeId,
        /// The channel.
        channel: ChannelId,
    },
}

/// A non-fatal error met while syncing, with where it happened.
///
/// Reported on the node's error stream; the node keeps serving.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncError {
    /// What went wrong.
    pub error: Error,
    /// The peer involved, if any.
    pub peer: Option<NodeId>,
}

impl SyncError {
    /// A sync error with no peer attached.
    #[must_use]
    pub fn new(error: Error) -> Self {
        Self { error, peer: None }
    }

    /// Attaches the peer involved.
    #[must_use]
    pub fn with_peer(mut self, peer: NodeId) -> Self {
        self.peer = Some(peer);
        self
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.peer {
            Some(peer) => write!(f, "{} (peer {peer})", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::DomainEvent;

    /// The test of `integration-tests/tests/node_events.rs` that triggers
    /// each variant through the public API. The match has no wildcard: a
    /// new variant does not compile here until it names its test there.
    fn covered_by(event: &DomainEvent) -> &'static str {
        match event {
            DomainEvent::EntriesAppended { .. } | DomainEvent::EntriesMerged { .. } => {
                "entries_appended_and_entries_merged"
            }
            DomainEvent::ChannelChanged { .. } => {
                "channel_changed_where_a_change_is_made_and_where_it_arrives"
            }
            DomainEvent::NonMemberEntriesRejected { .. } => {
                "non_member_entries_rejected_when_a_reader_s_entries_arrive"
            }
            DomainEvent::StreamCompacted { .. } => "stream_compacted_with_how_many_entries_went",
            DomainEvent::PeerStatusChanged { .. } => {
                "peer_status_changed_as_a_peer_goes_and_returns"
            }
            DomainEvent::PeerDiscovered { .. } => "peer_discovered_when_an_unknown_peer_connects",
            DomainEvent::PeerCaughtUp { .. } => "peer_caught_up_once_it_holds_what_was_appended",
        }
    }

    #[test]
    fn every_variant_names_the_integration_test_that_triggers_it() {
        let peer = crate::NodeId::from_seed("p");
        let event = DomainEvent::PeerDiscovered { peer };
        assert_eq!(
            covered_by(&event),
            "peer_discovered_when_an_unknown_peer_connects"
        );
    }
}
