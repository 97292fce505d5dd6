//! Requests from handles to the node task, each with a reply channel.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::health::{Health, ResourceUsage};
use crate::{
    domain::{Channel, ChannelId, Invitation, LogEntry, NodeId, Role, StreamConfig, StreamId},
    error::Error,
    ports::PeerRecord,
};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Start,
    Pause,
    Resume,
    Stop,
    Dispose,
}

/// A change to a channel, appended to its control log as a
/// [`ControlOp`](crate::ControlOp).
#[derive(Debug)]
pub(crate) enum ChannelChange {
    AddMember(NodeId, Role, String),
    RemoveMember(NodeId),
    ChangeRole(NodeId, Role),
    StreamConfig(StreamId, StreamConfig),
    DefaultStreamConfig(StreamConfig),
}

#[derive(Debug)]
pub(crate) enum Command {
    Lifecycle(Lifecycle, Reply<()>),
    AddPeer(PeerRecord, Reply<()>),
    RemovePeer(NodeId, Reply<()>),
    CreateChannel(String, Reply<Channel>),
    Join(Invitation, Reply<Channel>),
    Invite {
        channel: ChannelId,
        member: NodeId,
        role: Role,
        addresses: Vec<String>,
        reply: Reply<Invitation>,
    },
    DeleteChannel(ChannelId, Reply<()>),
    GetChannel(ChannelId, Reply<Channel>),
    ListChannels(Reply<Vec<ChannelId>>),
    UpdateChannel(ChannelId, ChannelChange, Reply<Channel>),
    Append {
        channel: ChannelId,
        stream: StreamId,
        payloads: Vec<Bytes>,
        reply: Reply<Vec<LogEntry>>,
    },
    /// Append one entry and track how many members hold it.
    AppendDurable {
        channel: ChannelId,
        stream: StreamId,
        payload: Bytes,
        copies: usize,
        reply: Reply<(LogEntry, tokio::sync::watch::Receiver<usize>)>,
    },
    Compact(Reply<u64>),
    SyncNow(Reply<()>),
    Health(Reply<Health>),
    ResourceUsage(Reply<ResourceUsage>),
}
