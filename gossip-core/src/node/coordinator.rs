//! [`Coordinator`], the entry point, and its cheap handles [`ChannelHandle`] and [`StreamHandle`].

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{
    builder::{CoordinatorBuilder, NoStore},
    command::{ChannelChange, Command, Lifecycle, Reply},
    health::{Health, ResourceUsage},
    materialized::MaterializedView,
    subscription::{Feeds, Subscription},
};
use crate::{
    domain::{
        Channel, ChannelId, DomainEvent, EntryKey, LogEntry, NodeId, StateMaterializer,
        StreamConfig, StreamId, SyncError, VersionVector,
    },
    error::Error,
    ports::{DynStore, PeerRecord},
};

/// A gossip node. Cheap to clone: every clone talks to the same node task.
///
/// ```
/// # async fn demo(node: gossip_core::Coordinator) -> Result<(), gossip_core::Error> {
/// use gossip_core::{ChannelId, NodeId, StreamId};
///
/// node.add_peer(NodeId::new("device-2")?).await?;
/// node.start().await?;
/// let channel = node.create_channel(ChannelId::new("project-1")?).await?;
/// channel.add_member(NodeId::new("device-2")?).await?;
/// let stream = channel.stream(StreamId::new("messages")?).await?;
/// stream.append(b"hello".to_vec()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

struct Inner {
    local: NodeId,
    commands: mpsc::Sender<Command>,
    store: DynStore,
    feeds: Arc<Feeds>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("local", &self.inner.local)
            .finish_non_exhaustive()
    }
}

impl Coordinator {
    /// Starts building a node called `local`. The store is required (the
    /// builder does not compile `build()` without one).
    pub fn builder(local: NodeId) -> CoordinatorBuilder<NoStore> {
        CoordinatorBuilder::new(local)
    }

    pub(crate) fn new(
        local: NodeId,
        commands: mpsc::Sender<Command>,
        store: DynStore,
        feeds: Arc<Feeds>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                local,
                commands,
                store,
                feeds,
            }),
        }
    }

    /// This node's id.
    #[must_use]
    pub fn local_id(&self) -> &NodeId {
        &self.inner.local
    }

    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(make(tx))
            .await
            .map_err(|_| Error::NodeStopped)?;
        rx.await.map_err(|_| Error::NodeStopped)?
    }

    /// Starts networking: receiving, anti-entropy, probing, eager push.
    ///
    /// # Errors
    ///
    /// [`Error::NodeStopped`] after [`dispose`](Self::dispose);
    /// [`Error::InvalidConfig`] when the node was stopped.
    pub async fn start(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Start, r))
            .await
    }

    /// Suspends networking; local operations keep working.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub async fn pause(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Pause, r))
            .await
    }

    /// Resumes networking after [`pause`](Self::pause).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub async fn resume(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Resume, r))
            .await
    }

    /// Ends networking for good (closes the transport, saves the clock).
    /// Local appends and reads keep working.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the clock could not be saved.
    pub async fn stop(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Stop, r))
            .await
    }

    /// Ends everything: networking, then the node task; closes the store.
    /// Later calls on any handle fail with [`Error::NodeStopped`].
    ///
    /// # Errors
    ///
    /// [`Error::NodeStopped`] when already disposed.
    pub async fn dispose(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Dispose, r))
            .await
    }

    /// Adds a peer to sync with (persisted).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when it cannot be saved; [`Error::InvalidConfig`] for the node itself.
    pub async fn add_peer(&self, peer: NodeId) -> Result<(), Error> {
        self.add_peer_record(PeerRecord::new(peer)).await
    }

    /// Adds a peer with a transport address (persisted).
    ///
    /// # Errors
    ///
    /// As [`add_peer`](Self::add_peer).
    pub async fn add_peer_record(&self, peer: PeerRecord) -> Result<(), Error> {
        self.request(|r| Command::AddPeer(peer, r)).await
    }

    /// Forgets a peer.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when it cannot be removed.
    pub async fn remove_peer(&self, peer: &NodeId) -> Result<(), Error> {
        let peer = peer.clone();
        self.request(|r| Command::RemovePeer(peer, r)).await
    }

    /// Creates a channel with this node as its only member, or opens it if it exists.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when it cannot be saved.
    pub async fn create_channel(&self, id: ChannelId) -> Result<ChannelHandle, Error> {
        let id2 = id.clone();
        self.request(|r| Command::CreateChannel(id2, r)).await?;
        Ok(ChannelHandle {
            node: self.clone(),
            id,
        })
    }

    /// Opens an existing channel.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`] when it does not exist.
    pub async fn channel(&self, id: ChannelId) -> Result<ChannelHandle, Error> {
        let id2 = id.clone();
        self.request(|r| Command::GetChannel(id2, r)).await?;
        Ok(ChannelHandle {
            node: self.clone(),
            id,
        })
    }

    /// Every channel of this node.
    ///
    /// # Errors
    ///
    /// [`Error::NodeStopped`] after disposal.
    pub async fn channels(&self) -> Result<Vec<ChannelId>, Error> {
        self.request(Command::ListChannels).await
    }

    /// Deletes a channel and everything stored in it.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn delete_channel(&self, id: &ChannelId) -> Result<(), Error> {
        let id = id.clone();
        self.request(|r| Command::DeleteChannel(id, r)).await
    }

    /// Domain events, from now on.
    #[must_use]
    pub fn events(&self) -> Subscription<DomainEvent> {
        self.inner.feeds.events()
    }

    /// Non-fatal errors met while syncing, from now on.
    #[must_use]
    pub fn errors(&self) -> Subscription<SyncError> {
        self.inner.feeds.errors()
    }

    /// State, peers and their reachability, counters.
    ///
    /// # Errors
    ///
    /// [`Error::NodeStopped`] after disposal.
    pub async fn health(&self) -> Result<Health, Error> {
        self.request(Command::Health).await
    }

    /// Channels, streams, entries and bytes held.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn resource_usage(&self) -> Result<ResourceUsage, Error> {
        self.request(Command::ResourceUsage).await
    }

    /// Runs an anti-entropy round with every peer now, instead of waiting for
    /// the next interval.
    ///
    /// # Errors
    ///
    /// [`Error::NodeStopped`] after disposal.
    pub async fn sync_now(&self) -> Result<(), Error> {
        self.request(Command::SyncNow).await
    }

    /// Applies every stream's retention policy now; returns entries removed.
    ///
    /// # Errors
    ///
    /// [`Error::NodeStopped`] after disposal.
    pub async fn compact_now(&self) -> Result<u64, Error> {
        self.request(Command::Compact).await
    }
}

/// A channel of a node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChannelHandle {
    node: Coordinator,
    id: ChannelId,
}

impl ChannelHandle {
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
        Ok(StreamHandle {
            node: self.node.clone(),
            channel: self.id.clone(),
            stream,
        })
    }
}

/// One stream of a channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    node: Coordinator,
    channel: ChannelId,
    stream: StreamId,
}

/// Entries read per page by [`StreamHandle::entries`].
const PAGE: usize = 1_024;

impl StreamHandle {
    /// The channel's id.
    #[must_use]
    pub fn channel_id(&self) -> &ChannelId {
        &self.channel
    }

    /// The stream's id.
    #[must_use]
    pub fn id(&self) -> &StreamId {
        &self.stream
    }

    /// Appends one entry written by this node; returns it.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadTooLarge`] (nothing written), [`Error::UnknownChannel`],
    /// [`Error::NotMember`], [`Error::Store`].
    pub async fn append(&self, payload: impl Into<Bytes>) -> Result<LogEntry, Error> {
        let mut entries = self.append_batch(vec![payload.into()]).await?;
        entries.pop().ok_or(Error::NodeStopped)
    }

    /// Appends several entries in one atomic batch.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append); nothing is written on error.
    pub async fn append_batch(&self, payloads: Vec<Bytes>) -> Result<Vec<LogEntry>, Error> {
        let (channel, stream) = (self.channel.clone(), self.stream.clone());
        self.node
            .request(|reply| Command::Append {
                channel,
                stream,
                payloads,
                reply,
            })
            .await
    }

    /// Every entry, in read order `(timestamp, author, sequence)`. For long
    /// histories prefer [`entries_page`](Self::entries_page).
    ///
    /// # Errors
    ///
    /// [`Error::Store`].
    pub async fn entries(&self) -> Result<Vec<LogEntry>, Error> {
        let mut all = Vec::new();
        let mut after: Option<EntryKey> = None;
        loop {
            let page = self.entries_page(after.as_ref(), PAGE).await?;
            let done = page.len() < PAGE;
            after = page.last().map(LogEntry::key);
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Up to `limit` entries after `after` (exclusive), in read order.
    ///
    /// # Errors
    ///
    /// [`Error::Store`].
    pub async fn entries_page(
        &self,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, Error> {
        Ok(self
            .node
            .inner
            .store
            .read(&self.channel, &self.stream, after, limit)
            .await?)
    }

    /// What this node holds of the stream.
    ///
    /// # Errors
    ///
    /// [`Error::Store`].
    pub async fn version(&self) -> Result<VersionVector, Error> {
        Ok(self
            .node
            .inner
            .store
            .version(&self.channel, &self.stream)
            .await?)
    }

    /// New entries, local and merged, from now on.
    #[must_use]
    pub fn subscribe(&self) -> Subscription<LogEntry> {
        self.node.inner.feeds.entries(&self.channel, &self.stream)
    }

    /// Registers a materializer: a view that folds the stream into state and
    /// keeps up with new entries.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] while reading the history.
    pub async fn materialize<T, M>(&self, materializer: M) -> Result<MaterializedView<T, M>, Error>
    where
        T: Clone + Send + 'static,
        M: StateMaterializer<T>,
    {
        MaterializedView::new(self.clone(), materializer).await
    }
}
