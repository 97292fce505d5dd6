//! [`Channel`]: an owner and members with roles sharing streams, each with
//! its [`StreamConfig`].
//!
//! ```
//! use gossip_core::{Channel, ChannelId, ControlOp, NodeId, Role, StreamConfig, StreamId};
//!
//! let me = NodeId::from_seed("device-1");
//! let mut channel = Channel::new(ChannelId::derive(&me, "project-1")?, me.clone());
//! assert!(channel.add_member(NodeId::from_seed("device-2"), Role::Writer));
//! assert_eq!(channel.role(&me), Some(Role::Owner));
//! let messages = StreamId::new("messages")?;
//! let config = StreamConfig::default().max_payload_bytes(1024);
//! channel.apply(&me, &ControlOp::SetStreamConfig { stream: messages.clone(), config });
//! assert_eq!(channel.stream_config(&messages).max_payload_bytes, 1024);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    checkpoint::SignedHeader,
    control::{ControlOp, ControlState, Permission, Role},
    ids::{ChannelId, StreamId},
    node_id::NodeId,
    retention::RetentionPolicy,
    version_vector::VersionVector,
};

/// The default largest payload: 32 KiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 32 * 1024;

/// Per-stream settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamConfig {
    /// What compaction may remove.
    pub retention: RetentionPolicy,
    /// The largest payload accepted, in bytes (local appends and merges alike).
    pub max_payload_bytes: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            retention: RetentionPolicy::KeepAll,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

impl StreamConfig {
    /// Sets the retention policy.
    #[must_use]
    pub fn retention(mut self, retention: RetentionPolicy) -> Self {
        self.retention = retention;
        self
    }

    /// Sets the largest payload accepted.
    #[must_use]
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes;
        self
    }
}

/// A channel: its owner, members and roles, the configuration of its
/// streams (all the fold of its control log, a [`ControlState`]), and the
/// checkpoints proving what compaction removed.
///
/// Only entries written by writers are accepted, and a peer only learns of
/// the channels it is a member of. A node changes a channel only by
/// appending [`ControlOp`]s to its control log (through
/// [`ChannelHandle`](crate::ChannelHandle)); [`apply`](Self::apply) builds
/// a channel by hand, for tests and tools. (What compaction removed, the
/// per-author *base*, is kept by the store beside the entries, so that
/// removing entries and raising the base are one atomic write; the channel
/// keeps the signed [`checkpoint`](Self::checkpoint) that proves each base
/// to peers.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    id: ChannelId,
    control: ControlState,
    checkpoints: BTreeMap<StreamId, BTreeMap<NodeId, SignedHeader>>,
    /// Members that introduced this node (by invitation), trusted to sync
    /// with before the control log has arrived to say they are members.
    introducers: BTreeSet<NodeId>,
}

impl Channel {
    /// A channel whose only member is `owner`.
    #[must_use]
    pub fn new(id: ChannelId, owner: NodeId) -> Self {
        Self {
            id,
            control: ControlState::genesis(owner),
            checkpoints: BTreeMap::new(),
            introducers: BTreeSet::new(),
        }
    }

    /// Remembers `member` as having introduced this node: it is synced
    /// with until the control log says it is not a member.
    pub(crate) fn add_introducer(&mut self, member: NodeId) {
        self.introducers.insert(member);
    }

    /// Whether to sync with `peer`: a member, or an introducer the control
    /// log has not removed. A removed member is neither served nor pushed
    /// to, and nothing it sends is taken.
    #[must_use]
    pub fn syncs_with(&self, peer: &NodeId) -> bool {
        self.is_member(peer)
            || (self.introducers.contains(peer) && self.control.cutoff(peer).is_none())
    }

    /// The channel's id.
    #[must_use]
    pub fn id(&self) -> &ChannelId {
        &self.id
    }

    /// The channel's owner.
    #[must_use]
    pub fn owner(&self) -> &NodeId {
        self.control.owner()
    }

    /// Membership and settings: the fold of the control log.
    #[must_use]
    pub fn control(&self) -> &ControlState {
        &self.control
    }

    /// Replaces membership and settings with a new fold of the control log.
    pub(crate) fn set_control(&mut self, control: ControlState) {
        self.control = control;
    }

    /// Applies one control operation by `author`, as the fold would; returns
    /// whether it counted. For channels built by hand: a node's channels
    /// change only through their replicated control log.
    pub fn apply(&mut self, author: &NodeId, op: &ControlOp) -> bool {
        self.control.apply(author, op)
    }

    /// Adds `member` with `role` on the owner's authority (see
    /// [`apply`](Self::apply)); returns whether it counted.
    pub fn add_member(&mut self, member: NodeId, role: Role) -> bool {
        let owner = self.owner().clone();
        self.apply(
            &owner,
            &ControlOp::AddMember {
                member,
                role,
                label: String::new(),
            },
        )
    }

    /// Whether `node` is a member (of any role).
    #[must_use]
    pub fn is_member(&self, node: &NodeId) -> bool {
        self.control.role(node).is_some()
    }

    /// `node`'s role, if it is a member.
    #[must_use]
    pub fn role(&self, node: &NodeId) -> Option<Role> {
        self.control.role(node)
    }

    /// The members' ids, in order.
    pub fn members(&self) -> impl ExactSizeIterator<Item = &NodeId> + '_ {
        self.control.members().map(|(id, _)| id)
    }

    /// Whether `author`'s entry `sequence` of `stream` may be kept.
    #[must_use]
    pub fn permission(&self, stream: &StreamId, author: &NodeId, sequence: u64) -> Permission {
        self.control.permission(stream, author, sequence)
    }

    /// `version` without what the control log denies: each author capped
    /// at its cut-off in `stream` (authors it has not heard of are kept:
    /// their entries may yet be explained).
    #[must_use]
    pub fn allowed(&self, stream: &StreamId, version: &VersionVector) -> VersionVector {
        version
            .iter()
            .filter_map(|(author, seq)| {
                let last = match self.permission(stream, author, seq) {
                    Permission::Allowed | Permission::Unknown => seq,
                    Permission::Denied => self
                        .control
                        .cutoff(author)
                        .and_then(|c| c.get(stream).copied())
                        .unwrap_or(0)
                        .min(seq),
                };
                (last > 0).then(|| (author.clone(), last))
            })
            .collect()
    }

    /// The configuration of `stream` (the channel default if not set).
    #[must_use]
    pub fn stream_config(&self, stream: &StreamId) -> &StreamConfig {
        self.control.stream_config(stream)
    }

    /// The default stream configuration.
    #[must_use]
    pub fn default_stream_config(&self) -> &StreamConfig {
        self.control.default_stream_config()
    }

    /// The signed header of `author`'s last entry compacted away in
    /// `stream` (by this node, or proven by a peer): what proves this node's
    /// base for that author to others.
    #[must_use]
    pub fn checkpoint(&self, stream: &StreamId, author: &NodeId) -> Option<&SignedHeader> {
        self.checkpoints.get(stream)?.get(author)
    }

    /// Records `header` as the checkpoint of its author in `stream`, unless
    /// a later one is held. Returns whether it was recorded.
    pub(crate) fn set_checkpoint(&mut self, stream: &StreamId, header: SignedHeader) -> bool {
        let authors = self.checkpoints.entry(stream.clone()).or_default();
        match authors.get(&header.author) {
            Some(held) if held.sequence >= header.sequence => false,
            _ => {
                authors.insert(header.author.clone(), header);
                true
            }
        }
    }

    /// Streams configured explicitly, in order.
    pub fn configured_streams(&self) -> impl Iterator<Item = (&StreamId, &StreamConfig)> + '_ {
        self.control.configured_streams()
    }
}
