//! Membership: channels created and joined, changes appended to the
//! control log, and the log folded into its channel whenever it grows.

use super::{replica::read_stream, Driver};
use crate::{
    domain::{
        Channel, ChannelId, ControlOp, ControlState, Cutoff, DomainEvent, Invitation, NodeId, Role,
        StreamConfig, StreamId, DEFAULT_MAX_PAYLOAD_BYTES,
    },
    error::Error,
    node::command::ChannelChange,
    ports::PeerRecord,
};

impl Driver {
    /// The channel `id` as held now.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`].
    pub(super) fn channel(&self, id: &ChannelId) -> Result<Channel, Error> {
        self.replica
            .channels
            .get(id)
            .cloned()
            .ok_or_else(|| Error::UnknownChannel(id.clone()))
    }

    /// Creates the channel this node owns under `name` (its id derived from
    /// this node's key and the name), or opens it if it exists.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`] for a bad name; [`Error::Store`].
    pub(super) async fn create_channel(&mut self, name: &str) -> Result<Channel, Error> {
        let id = ChannelId::derive(&self.local, name)?;
        if let Some(existing) = self.replica.channels.get(&id) {
            return Ok(existing.clone());
        }
        self.keep_channel(Channel::new(id.clone(), self.local.clone()))
            .await?;
        self.replica.announce.insert(id.clone());
        if self.config.max_payload_bytes != DEFAULT_MAX_PAYLOAD_BYTES {
            let config = StreamConfig::default().max_payload_bytes(self.config.max_payload_bytes);
            self.change_channel(&id, ChannelChange::DefaultStreamConfig(config))
                .await?;
        }
        self.channel(&id)
    }

    /// Starts following the channel of `invitation` (or notes one more
    /// introducer of a channel held already): the inviter is synced with
    /// (and kept as a peer) so that the control log, then the data, arrive.
    ///
    /// # Errors
    ///
    /// [`Error::Store`].
    pub(super) async fn join(&mut self, invitation: Invitation) -> Result<Channel, Error> {
        let id = invitation.channel().clone();
        let mut channel = match self.replica.channels.get(&id) {
            Some(held) => held.clone(),
            None => Channel::new(id.clone(), invitation.owner().clone()),
        };
        let inviter = invitation.inviter().clone();
        if inviter != self.local {
            channel.add_introducer(inviter.clone());
            if !self.peers.contains(&inviter) {
                self.add_peer(PeerRecord::new(inviter.clone())).await?;
            }
            // A hint, not saved: the inviter announces where it is in the
            // control log, which a restarted node reads.
            self.learn_addresses(&inviter, invitation.addresses());
        }
        self.keep_channel(channel).await?;
        self.channel(&id)
    }

    /// Saves `channel` and holds it.
    async fn keep_channel(&mut self, channel: Channel) -> Result<(), Error> {
        self.store.save_channel(&channel).await?;
        let id = channel.id().clone();
        self.replica.index.add_channel(&id);
        self.replica.channels.insert(id, channel);
        Ok(())
    }

    /// Adds `member` (if it is not one) and returns an invitation to show
    /// it, reaching this node at `addresses` (the transport's advertised
    /// ones when empty).
    ///
    /// # Errors
    ///
    /// As [`change_channel`](Self::change_channel).
    pub(super) async fn invite(
        &mut self,
        id: &ChannelId,
        member: NodeId,
        role: Role,
        addresses: Vec<String>,
    ) -> Result<Invitation, Error> {
        let channel = self
            .change_channel(id, ChannelChange::AddMember(member, role, String::new()))
            .await?;
        let addresses = if addresses.is_empty() {
            self.link
                .transport()
                .map(|t| t.advertised_addresses())
                .unwrap_or_default()
                .into_iter()
                .take(crate::domain::MAX_INVITATION_ADDRESSES)
                .collect()
        } else {
            addresses
        };
        Invitation::new(
            id.clone(),
            channel.owner().clone(),
            self.local.clone(),
            addresses,
        )
    }

    /// Appends `change` to the channel's control log, signed by this node,
    /// if this node's role allows it; returns the channel after it.
    /// Adding a member that already is one changes its role (or does
    /// nothing); removing a non-member does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`]; [`Error::NotMember`] when this node is not
    /// a member; [`Error::NotPermitted`] when its role does not allow the
    /// change; [`Error::InvalidConfig`] for a change of the owner's role or
    /// a payload limit that does not fit the transport's frames;
    /// [`Error::ReservedStream`] for settings of the control stream;
    /// [`Error::Store`].
    pub(super) async fn change_channel(
        &mut self,
        id: &ChannelId,
        change: ChannelChange,
    ) -> Result<Channel, Error> {
        let channel = self.channel(id)?;
        let Some(op) = self.control_op(&channel, change)? else {
            return Ok(channel);
        };
        let mut trial = channel.control().clone();
        if !trial.apply(&self.local, &op) {
            return Err(self.refusal(&channel, &op));
        }
        if let ControlOp::AddMember { member, .. } = &op {
            // A member is synced with: make it a peer (its frames are heard).
            if *member != self.local && !self.peers.contains(member) {
                self.add_peer(PeerRecord::new(member.clone())).await?;
            }
        }
        self.append(id, &StreamId::control(), vec![op.encode()])
            .await?;
        self.channel(id)
    }

    /// The operation for `change`, or `None` when it changes nothing.
    fn control_op(
        &self,
        channel: &Channel,
        change: ChannelChange,
    ) -> Result<Option<ControlOp>, Error> {
        let owner_untouchable = |member: &NodeId| {
            if member == channel.owner() {
                Err(Error::InvalidConfig(format!(
                    "{member} owns channel {}: its role cannot change",
                    channel.id()
                )))
            } else {
                Ok(())
            }
        };
        Ok(match change {
            ChannelChange::AddMember(member, role, label) => {
                owner_untouchable(&member)?;
                match channel.role(&member) {
                    Some(held) if held == role => None,
                    Some(_) => self.control_op(channel, ChannelChange::ChangeRole(member, role))?,
                    None => Some(ControlOp::AddMember {
                        member,
                        role,
                        label,
                    }),
                }
            }
            ChannelChange::RemoveMember(member) => {
                owner_untouchable(&member)?;
                channel.is_member(&member).then(|| ControlOp::RemoveMember {
                    cutoff: self.cutoff_of(channel.id(), &member),
                    member,
                })
            }
            ChannelChange::ChangeRole(member, role) => {
                owner_untouchable(&member)?;
                if role == Role::Owner {
                    return Err(Error::InvalidConfig(
                        "a channel has one owner, the key its id is derived from".into(),
                    ));
                }
                if channel.role(&member).is_none() {
                    return Err(Error::InvalidConfig(format!(
                        "{member} is not a member of channel {}",
                        channel.id()
                    )));
                }
                (channel.role(&member) != Some(role)).then(|| ControlOp::ChangeRole {
                    cutoff: self.cutoff_of(channel.id(), &member),
                    member,
                    role,
                })
            }
            ChannelChange::StreamConfig(stream, config) => {
                if stream.is_control() {
                    return Err(Error::ReservedStream(stream));
                }
                self.link.check_payload_fits(config.max_payload_bytes)?;
                Some(ControlOp::SetStreamConfig { stream, config })
            }
            ChannelChange::DefaultStreamConfig(config) => {
                self.link.check_payload_fits(config.max_payload_bytes)?;
                Some(ControlOp::SetDefaultStreamConfig { config })
            }
        })
    }

    /// Why this node may not append `op` to `channel`'s control log.
    fn refusal(&self, channel: &Channel, op: &ControlOp) -> Error {
        let Some(role) = channel.role(&self.local) else {
            return Error::NotMember {
                channel: channel.id().clone(),
                node: self.local.clone(),
            };
        };
        let action = match op {
            ControlOp::AddMember { .. } => "add members",
            ControlOp::RemoveMember { .. } => "remove members",
            ControlOp::ChangeRole { .. } => "change roles",
            _ => "change stream settings",
        };
        Error::NotPermitted {
            channel: channel.id().clone(),
            node: self.local.clone(),
            role,
            needed: Role::Admin,
            action,
        }
    }

    /// What `member` wrote in each stream of the channel, as this node
    /// holds it: the cut-off of its removal or demotion.
    fn cutoff_of(&self, channel: &ChannelId, member: &NodeId) -> Cutoff {
        self.replica
            .index
            .streams(channel)
            .filter_map(|stream| {
                let held = self.replica.index.version(channel, stream).get(member);
                (held > 0).then(|| (stream.clone(), held))
            })
            .collect()
    }

    /// Folds the channel's control log again after it grew; when
    /// membership or settings changed, saves the channel, reports it, and
    /// marks the entries pending on it to be merged again. Returns the
    /// members it removed.
    pub(super) async fn refold_control(&mut self, id: &ChannelId) -> Vec<NodeId> {
        let Some(owner) = self.replica.channels.get(id).map(|c| c.owner().clone()) else {
            return Vec::new();
        };
        let entries = match read_stream(self.store.as_ref(), id, &StreamId::control()).await {
            Ok(entries) => entries,
            Err(error) => {
                self.report(error, None);
                return Vec::new();
            }
        };
        let control = ControlState::fold(owner, &entries);
        let Some(channel) = self.replica.channels.get_mut(id) else {
            return Vec::new();
        };
        if *channel.control() == control {
            return Vec::new();
        }
        let removed: Vec<NodeId> = channel
            .members()
            .filter(|m| control.role(m).is_none())
            .cloned()
            .collect();
        if channel.role(&self.local).is_none() && control.role(&self.local).is_some() {
            // Let in: tell the others where to reach this node.
            self.replica.announce.insert(id.clone());
        }
        channel.set_control(control);
        let channel = channel.clone();
        // The saved channel is a cache: loading folds the log again.
        if let Err(error) = self.store.save_channel(&channel).await {
            self.report(Error::Store(error), None);
        }
        self.replica.control_changed.insert(id.clone());
        self.feeds.event(DomainEvent::ChannelChanged {
            channel: id.clone(),
        });
        self.drop_denied(id).await;
        self.learn_channel_addresses(id);
        self.peer_with_members(id).await;
        removed
    }

    /// Removes what the channel's cut-offs now deny: entries members wrote
    /// after their removal (or demotion), accepted here before the
    /// operation arrived. Every replica ends up holding the same history
    /// (but the author's, which keeps its own entries: they are never
    /// served, and flow again if it may write again).
    async fn drop_denied(&mut self, id: &ChannelId) {
        let Some(channel) = self.replica.channels.get(id) else {
            return;
        };
        let mut denied = Vec::new();
        for stream in self.replica.index.streams(id) {
            if stream.is_control() {
                continue;
            }
            let version = self.replica.index.version(id, stream);
            let base = self.replica.index.base(id, stream);
            // This node's own entries stay here: if it may write again one
            // day they flow again, and its sequences are never reused.
            for (author, held) in version.iter().filter(|(a, _)| **a != self.local) {
                let Some(cutoff) = channel.control().cutoff(author) else {
                    continue;
                };
                if channel
                    .role(author)
                    .is_some_and(crate::domain::Role::may_write)
                {
                    continue;
                }
                let last = cutoff.get(stream).copied().unwrap_or(0);
                // What compaction removed cannot be dropped again.
                if held > last.max(base.get(author)) {
                    denied.push((stream.clone(), author.clone(), last));
                }
            }
        }
        for (stream, author, last) in denied {
            match self.store.truncate_author(id, &stream, &author, last).await {
                Ok(dropped) => {
                    tracing::info!(
                        channel = %id,
                        stream = %stream,
                        %author,
                        dropped,
                        "dropped entries written after the author's cut-off"
                    );
                    self.stats.entries_rejected += dropped;
                }
                Err(error) => self.report(Error::Store(error), None),
            }
            self.reload_stream(id, &stream).await;
        }
    }

    /// Merges again the entries pending on channels whose control log
    /// changed: those it now allows are stored, those it denies rejected,
    /// the rest wait on.
    pub(super) async fn release_pending(&mut self) {
        // Each round merges only what waited on a change; a merge that
        // changes a control log again is taken up by the next round.
        for _ in 0..8 {
            let changed = std::mem::take(&mut self.replica.control_changed);
            if changed.is_empty() || self.replica.pending.is_empty() {
                return;
            }
            let (ready, waiting) = std::mem::take(&mut self.replica.pending)
                .into_iter()
                .partition(|q| changed.contains(&q.channel));
            self.replica.pending = waiting;
            self.merge_again(ready).await;
        }
    }
}
