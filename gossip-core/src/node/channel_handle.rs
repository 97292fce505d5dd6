//! [`ChannelHandle`]: one channel of a node (members, stream settings, streams).

use super::{
    command::{ChannelChange, Command},
    coordinator::Coordinator,
    stream_handle::StreamHandle,
};
use crate::{
    domain::{Channel, ChannelId, NodeId, StreamConfig, StreamId},
    error::Error,
};

/// A channel of a node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChannelHandle {
    node: Coordinator,
    id: ChannelId,
}

impl ChannelHandle {
    pub(super) fn new(node: Coordinator, id: ChannelId) -> Self {
        Self { node, id }
    }

    /// The channel's id.
    #[must_use]
    pub fn id(&self) -> &ChannelId {
        &self.id
    }

    async fn change(&self, change: ChannelChange) -> Result<Channel, Error> {
        let id = self.id.clone();
        self.node
            .request(|r| Command::UpdateChannel(id, change, r))
            .await
    }

    /// Adds a member: its entries are accepted, and it may learn of the channel.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`], [`Error::Store`].
    pub async fn add_member(&self, member: NodeId) -> Result<(), Error> {
        self.change(ChannelChange::AddMember(member))
            .await
            .map(drop)
    }

    /// Removes a member: entries it already wrote stay; new ones are rejected.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`], [`Error::Store`].
    pub async fn remove_member(&self, member: &NodeId) -> Result<(), Error> {
        self.change(ChannelChange::RemoveMember(member.clone()))
            .await
            .map(drop)
    }

    /// The channel as it is now (members, stream configuration).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`] when it was deleted.
    pub async fn info(&self) -> Result<Channel, Error> {
        let id = self.id.clone();
        self.node.request(|r| Command::GetChannel(id, r)).await
    }

    /// Sets one stream's configuration (retention, payload limit).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the payload limit does not fit the
    /// transport's frames; [`Error::UnknownChannel`]; [`Error::Store`].
    pub async fn set_stream_config(
        &self,
        stream: StreamId,
        config: StreamConfig,
    ) -> Result<(), Error> {
        self.change(ChannelChange::StreamConfig(stream, config))
            .await
            .map(drop)
    }

    /// Sets the configuration of streams not configured explicitly.
    ///
    /// # Errors
    ///
    /// As [`set_stream_config`](Self::set_stream_config).
    pub async fn set_default_stream_config(&self, config: StreamConfig) -> Result<(), Error> {
        self.change(ChannelChange::DefaultStreamConfig(config))
            .await
            .map(drop)
    }

    /// A handle on one stream of the channel.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`] when the channel was deleted.
    pub async fn stream(&self, stream: StreamId) -> Result<StreamHandle, Error> {
        self.info().await?;
        Ok(StreamHandle::new(
            self.node.clone(),
            self.id.clone(),
            stream,
        ))
    }
}
