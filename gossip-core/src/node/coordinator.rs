//! [`Coordinator`], the entry point: lifecycle, peers, channels, streams of
//! events and errors, health. Its handles live beside it
//! ([`ChannelHandle`], [`StreamHandle`]).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{
    builder::{CoordinatorBuilder, NoStore},
    channel_handle::ChannelHandle,
    command::{Command, Lifecycle, Reply},
    health::{Health, ResourceUsage},
    subscription::{Feeds, Subscription},
};
use crate::{
    domain::{ChannelId, DomainEvent, Invitation, NodeId, SyncError},
    error::Error,
    identity::Identity,
    ports::{DynStore, PeerRecord},
};

/// A gossip node. Cheap to clone: every clone talks to the same node task.
///
/// ```
/// # async fn demo(node: gossip_core::Coordinator) -> Result<(), gossip_core::Error> {
/// use gossip_core::{NodeId, Role, StreamId};
///
/// node.add_peer(NodeId::from_seed("device-2")).await?;
/// node.start().await?;
/// let channel = node.create_channel("project-1").await?;
/// channel.add_member(NodeId::from_seed("device-2"), Role::Writer).await?;
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
    /// Starts building the node whose identity is `identity`: its
    /// [`NodeId`] is the identity's, and a transport given to the builder
    /// must have been made with the same identity. The store is required
    /// (the builder does not compile `build()` without one).
    pub fn builder(identity: Identity) -> CoordinatorBuilder<NoStore> {
        CoordinatorBuilder::new(identity)
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

    /// Sends a command to the node task and waits for its reply.
    pub(super) async fn request<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, Error> {
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
    /// # Lifecycle
    ///
    /// idle → running ⇄ paused → stopped → disposed
    /// ([`NodeState`](crate::NodeState), reported by [`health`](Self::health)):
    ///
    /// | call | from | to |
    /// |---|---|---|
    /// | `start` | idle | running |
    /// | `pause` | running | paused |
    /// | `resume` | paused | running |
    /// | `stop` | idle, running, paused | stopped |
    /// | `dispose` | any | disposed |
    ///
    /// Asking for the state the node is in already succeeds and changes
    /// nothing: `start` or `resume` while running, `pause` while paused,
    /// `stop` while stopped. Any other change is an
    /// [`Error::InvalidState`]: `pause` or `resume` an idle node, `start` a
    /// paused node (`resume` it), `start`, `pause` or `resume` a stopped
    /// node. A stopped node is not started again: build a new node on its
    /// store.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when the node's state does not allow the
    /// change (see above); the node stays as it was.
    /// [`Error::NodeStopped`] after [`dispose`](Self::dispose).
    pub async fn start(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Start, r))
            .await
    }

    /// Suspends networking (from running); local operations keep working.
    /// First it tells its peers it is going dormant (SWIM, at a new
    /// incarnation, gossiped on): they see it as
    /// [`PeerStatus::Dormant`](crate::PeerStatus::Dormant) and neither probe,
    /// suspect, push to nor sync with it, for up to
    /// [`SwimConfig::max_dormancy`](crate::SwimConfig::max_dormancy) (then
    /// the normal rules apply: a node that never comes back is suspected and
    /// declared unreachable). While paused, frames still arriving are
    /// dropped and nothing is sent: appends reach peers after
    /// [`resume`](Self::resume).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start): [`Error::InvalidState`] unless running or
    /// paused.
    pub async fn pause(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Pause, r))
            .await
    }

    /// Resumes networking after [`pause`](Self::pause): the node tells its
    /// peers it is back (at a new incarnation, so their "dormant" gives way
    /// everywhere) and starts a gossip round with every peer at once, to
    /// sync from where it stands.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start): [`Error::InvalidState`] unless paused or
    /// running.
    pub async fn resume(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Resume, r))
            .await
    }

    /// Ends networking for good (closes the transport, saves the clock),
    /// from any state but disposed. Local appends, reads and retention keep
    /// working; the node cannot be started again (see [`start`](Self::start)).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the clock could not be saved;
    /// [`Error::NodeStopped`] after [`dispose`](Self::dispose).
    pub async fn stop(&self) -> Result<(), Error> {
        self.request(|r| Command::Lifecycle(Lifecycle::Stop, r))
            .await
    }

    /// Ends everything, from any state: networking, then the node task;
    /// saves the clock and closes the store. The event, error and entry
    /// feeds ([`events`](Self::events), [`errors`](Self::errors),
    /// [`StreamHandle::subscribe`](crate::StreamHandle::subscribe)) end.
    /// Later calls on this node or its handles that go through the node
    /// task, and the reads a [`StreamHandle`](crate::StreamHandle) serves
    /// from the store itself, fail with [`Error::NodeStopped`].
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

    /// Creates the channel this node owns under `name`, or opens it if it
    /// exists. Its id is derived from this node's key and the name
    /// ([`ChannelId::derive`]), so no other node can own a channel with the
    /// same id; this node is its only member until it adds others.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`] for a bad name; [`Error::Store`] when it cannot
    /// be saved.
    pub async fn create_channel(&self, name: &str) -> Result<ChannelHandle, Error> {
        let name = name.to_owned();
        let channel = self.request(|r| Command::CreateChannel(name, r)).await?;
        Ok(ChannelHandle::new(self.clone(), channel.id().clone()))
    }

    /// Joins the channel of `invitation`: the inviter becomes a peer, and
    /// the channel's control log, then its data, sync from it (once an
    /// admin has added this node's key, which
    /// [`ChannelHandle::invite`] does). Joining a channel held already
    /// changes nothing but the peer.
    ///
    /// ```
    /// # async fn demo(laptop: gossip_core::Coordinator, phone: gossip_core::Coordinator) -> Result<(), gossip_core::Error> {
    /// use gossip_core::Role;
    ///
    /// let list = laptop.create_channel("groceries").await?;
    /// let invitation = list.invite(phone.local_id().clone(), Role::Writer).await?;
    /// // Shown as text or a QR code, typed or scanned on the phone:
    /// let joined = phone.join(&invitation.to_string().parse()?).await?;
    /// assert_eq!(joined.id(), list.id());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when it cannot be saved.
    pub async fn join(&self, invitation: &Invitation) -> Result<ChannelHandle, Error> {
        let invitation = invitation.clone();
        let channel = self.request(|r| Command::Join(invitation, r)).await?;
        Ok(ChannelHandle::new(self.clone(), channel.id().clone()))
    }

    /// Opens an existing channel.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownChannel`] when it does not exist.
    pub async fn channel(&self, id: ChannelId) -> Result<ChannelHandle, Error> {
        let id2 = id.clone();
        self.request(|r| Command::GetChannel(id2, r)).await?;
        Ok(ChannelHandle::new(self.clone(), id))
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

    /// The store, for handles that read it directly.
    pub(super) fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// Runs a read a handle serves from the store itself, not through the
    /// node task: [`Error::NodeStopped`] once the node is disposed (also
    /// when the store closed under the read), like every other call.
    pub(super) async fn read_store<T>(
        &self,
        read: impl std::future::Future<Output = crate::StoreResult<T>>,
    ) -> Result<T, Error> {
        if self.inner.feeds.disposing() {
            return Err(Error::NodeStopped);
        }
        match read.await {
            Ok(value) => Ok(value),
            Err(_) if self.inner.feeds.disposing() => Err(Error::NodeStopped),
            Err(error) => Err(Error::Store(error)),
        }
    }

    /// The event, error and entry feeds.
    pub(super) fn feeds(&self) -> &Feeds {
        &self.inner.feeds
    }
}
