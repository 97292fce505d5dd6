//! Requests from handles to the node task, each with a reply channel.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::health::{Health, ResourceUsage};
use crate::{
    domain::{Channel, ChannelId, LogEntry, NodeId, StreamConfig, StreamId},
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

#[derive(Debug)]
pub(crate) enum ChannelChange {
    AddMember(NodeId),
    RemoveMember(NodeId),
    StreamConfig(StreamId, StreamConfig),
    DefaultStreamConfig(StreamConfig),
}

#[derive(Debug)]
pub(crate) enum Command {
    Lifecycle(Lifecycle, Reply<()>),
    AddPeer(PeerRecord, Reply<()>),
    RemovePeer(NodeId, Reply<()>),
    CreateChannel(ChannelId, Reply<Channel>),
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
    Compact(Reply<u64>),
    SyncNow(Reply<()>),
    Health(Reply<Health>),
    ResourceUsage(Reply<ResourceUsage>),
}
