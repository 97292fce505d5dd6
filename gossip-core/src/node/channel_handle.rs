//! [`ChannelHandle`]: one channel of a node (members and roles, invitations,
//! stream settings, streams).

use super::{
    command::{ChannelChange, Command},
    coordinator::Coordinator,
    stream_handle::StreamHandle,
};
use crate::{
    domain::{Channel, ChannelId, Invitation, Member, NodeId, Role, StreamConfig, StreamId},
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

    /// Adds `member` with `role` (or changes its role if it is a member):
    /// an operation signed by this node, appended to the channel's control
    /// log and replicated to every member. Once it arrives, members accept
    /// the new member's entries (if it may write) and sync with it.
    ///
    /// # Errors
    ///
    /// [`Error::NotMember`] / [`Error::NotPermitted`] unless this node is an
    /// admin or the owner; [`Error::InvalidConfig`] for the owner's key or
    /// [`Role::Owner`]; [`Error::UnknownChannel`]; [`Error::Store`].
    pub async fn add_member(&self, member: NodeId, role: Role) -> Result<(), Error> {
        self.change(ChannelChange::AddMember(member, role, String::new()))
            .await
            .map(drop)
    }

    /// As [`add_member`](Self::add_member), with a human label for the
    /// member ("Anna's phone"), at most [`MAX_LABEL_LEN`](crate::MAX_LABEL_LEN)
    /// bytes.
    ///
    /// # Errors
    ///
    /// As [`add_member`](Self::add_member); [`Error::InvalidConfig`] for a
    /// label too long.
    pub async fn add_labelled_member(
        &self,
        member: NodeId,
        role: Role,
        label: &str,
    ) -> Result<(), Error> {
        if label.len() > crate::MAX_LABEL_LEN {
            return Err(Error::InvalidConfig(format!(
                "a member label must be at most {} bytes",
                crate::MAX_LABEL_LEN
            )));
        }
        self.change(ChannelChange::AddMember(member, role, label.to_owned()))
            .await
            .map(drop)
    }

    /// Removes `member`, everywhere: what it wrote up to now (as this node
    /// holds it) stays valid on every replica; what it writes after is
    /// rejected everywhere, and it is no longer served or pushed to.
    /// Removing a non-member does nothing. A member may remove itself
    /// (leave).
    ///
    /// # Errors
    ///
    /// As [`add_member`](Self::add_member).
    pub async fn remove_member(&self, member: &NodeId) -> Result<(), Error> {
        self.change(ChannelChange::RemoveMember(member.clone()))
            .await
            .map(drop)
    }

    /// Changes a member's role; a member that stops writing keeps what it
    /// wrote up to now, as [`remove_member`](Self::remove_member) does.
    ///
    /// # Errors
    ///
    /// As [`add_member`](Self::add_member); [`Error::InvalidConfig`] for a
    /// key that is not a member.
    pub async fn set_role(&self, member: &NodeId, role: Role) -> Result<(), Error> {
        self.change(ChannelChange::ChangeRole(member.clone(), role))
            .await
            .map(drop)
    }

    /// The members, their roles and labels, in key order.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`] when the channel was deleted.
    pub async fn members(&self) -> Result<Vec<(NodeId, Member)>, Error> {
        let channel = self.info().await?;
        Ok(channel
            .control()
            .members()
            .map(|(id, member)| (id.clone(), member.clone()))
            .collect())
    }

    /// This node's role: `None` until the control log says it is a member
    /// (just after [`Coordinator::join`]), or once it was removed.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`] when the channel was deleted.
    pub async fn role(&self) -> Result<Option<Role>, Error> {
        Ok(self.info().await?.role(self.node.local_id()))
    }

    /// An invitation to this channel from this node, reachable at
    /// `addresses`, adding nobody: whoever uses it syncs once an admin adds
    /// its key (an application that lets in whoever connects, or asks).
    /// [`invite`](Self::invite) adds the key too.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInvitation`] with too many addresses;
    /// [`Error::UnknownChannel`].
    pub async fn invitation_at(&self, addresses: Vec<String>) -> Result<Invitation, Error> {
        let owner = self.info().await?.owner().clone();
        Invitation::new(
            self.id.clone(),
            owner,
            self.node.local_id().clone(),
            addresses,
        )
    }

    /// Adds `member` with `role` (see [`add_member`](Self::add_member)) and
    /// returns the invitation to show it (as text or a QR code): on the
    /// invited device, [`Coordinator::join`] with it is enough to sync.
    ///
    /// # Errors
    ///
    /// As [`add_member`](Self::add_member).
    pub async fn invite(&self, member: NodeId, role: Role) -> Result<Invitation, Error> {
        self.invite_at(member, role, Vec::new()).await
    }

    /// As [`invite`](Self::invite), telling the invited device how to reach
    /// this node: transport addresses (`host:port` for TCP, a multiaddr
    /// for libp2p), at most
    /// [`MAX_INVITATION_ADDRESSES`](crate::MAX_INVITATION_ADDRESSES).
    ///
    /// # Errors
    ///
    /// As [`invite`](Self::invite); [`Error::InvalidInvitation`] with too
    /// many addresses.
    pub async fn invite_at(
        &self,
        member: NodeId,
        role: Role,
        addresses: Vec<String>,
    ) -> Result<Invitation, Error> {
        let channel = self.id.clone();
        self.node
            .request(|reply| Command::Invite {
                channel,
                member,
                role,
                addresses,
                reply,
            })
            .await
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

    /// Sets one stream's configuration (retention, payload limit) on every
    /// replica: an operation of the control log, like membership.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the payload limit does not fit the
    /// transport's frames; [`Error::ReservedStream`] for the control
    /// stream; [`Error::NotMember`] / [`Error::NotPermitted`] unless this
    /// node is an admin or the owner; [`Error::UnknownChannel`];
    /// [`Error::Store`].
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

    /// The channel's streams this node holds entries of (or held some of,
    /// before compaction removed them), sorted by name. The control stream
    /// ([`StreamId::control`]), which every channel has, is not listed.
    ///
    /// A stream is listed from its first entry on, local or merged; a
    /// stream nobody wrote to yet does not exist.
    ///
    /// ```
    /// # async fn demo(node: gossip_core::Coordinator) -> Result<(), gossip_core::Error> {
    /// use gossip_core::StreamId;
    ///
    /// let channel = node.create_channel("project-1").await?;
    /// assert!(channel.streams().await?.is_empty());
    /// for name in ["tasks", "chat"] {
    ///     let stream = channel.stream(StreamId::new(name)?).await?;
    ///     stream.append(b"hello".to_vec()).await?;
    /// }
    /// assert_eq!(
    ///     channel.streams().await?,
    ///     [StreamId::new("chat")?, StreamId::new("tasks")?]
    /// );
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`] when the channel was deleted;
    /// [`Error::Store`].
    pub async fn streams(&self) -> Result<Vec<StreamId>, Error> {
        self.info().await?;
        let mut streams = self.node.store().streams(&self.id).await?;
        streams.retain(|stream| !stream.is_control());
        Ok(streams)
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
