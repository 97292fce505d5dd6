//! [`Channel`]: a set of members sharing streams, each with its [`StreamConfig`].
//!
//! ```
//! use gossip_core::{Channel, ChannelId, NodeId, StreamConfig, StreamId};
//!
//! let me = NodeId::from_seed("device-1");
//! let mut channel = Channel::new(ChannelId::new("project-1")?, me.clone());
//! channel.add_member(NodeId::from_seed("device-2"));
//! assert!(channel.is_member(&me));
//! let messages = StreamId::new("messages")?;
//! channel.set_stream_config(messages.clone(), StreamConfig::default().max_payload_bytes(1024));
//! assert_eq!(channel.stream_config(&messages).max_payload_bytes, 1024);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    checkpoint::SignedHeader,
    ids::{ChannelId, StreamId},
    node_id::NodeId,
    retention::RetentionPolicy,
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

/// A channel: its members and the configuration of its streams.
///
/// Only entries written by members are accepted, and a peer only learns of
/// the channels it is a member of. Streams not configured explicitly use the
/// channel's default [`StreamConfig`]. (What compaction removed, the per-author
/// *base*, is kept by the store beside the entries, so that removing entries
/// and raising the base are one atomic write; the channel keeps the signed
/// [`checkpoint`](Self::checkpoint) that proves each base to peers.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    id: ChannelId,
    members: BTreeSet<NodeId>,
    default_stream: StreamConfig,
    streams: BTreeMap<StreamId, StreamConfig>,
    checkpoints: BTreeMap<StreamId, BTreeMap<NodeId, SignedHeader>>,
}

impl Channel {
    /// A channel whose only member is `owner`.
    #[must_use]
    pub fn new(id: ChannelId, owner: NodeId) -> Self {
        Self {
            id,
            members: BTreeSet::from([owner]),
            default_stream: StreamConfig::default(),
            streams: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
        }
    }

    /// The channel's id.
    #[must_use]
    pub fn id(&self) -> &ChannelId {
        &self.id
    }

    /// Adds a member; returns whether it was new.
    pub fn add_member(&mut self, member: NodeId) -> bool {
        self.members.insert(member)
    }

    /// Removes a member; returns whether it was one. Entries it already wrote stay.
    pub fn remove_member(&mut self, member: &NodeId) -> bool {
        self.members.remove(member)
    }

    /// Whether `node` is a member.
    #[must_use]
    pub fn is_member(&self, node: &NodeId) -> bool {
        self.members.contains(node)
    }

    /// The members, in order.
    pub fn members(&self) -> impl ExactSizeIterator<Item = &NodeId> + '_ {
        self.members.iter()
    }

    /// The configuration of `stream` (the channel default if not set).
    #[must_use]
    pub fn stream_config(&self, stream: &StreamId) -> &StreamConfig {
        self.streams.get(stream).unwrap_or(&self.default_stream)
    }

    /// Sets the configuration of one stream.
    pub fn set_stream_config(&mut self, stream: StreamId, config: StreamConfig) {
        self.streams.insert(stream, config);
    }

    /// Sets the configuration used by streams not configured explicitly.
    pub fn set_default_stream_config(&mut self, config: StreamConfig) {
        self.default_stream = config;
    }

    /// The default stream configuration.
    #[must_use]
    pub fn default_stream_config(&self) -> &StreamConfig {
        &self.default_stream
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
        self.streams.iter()
    }
}
