//! One chat participant: a gossip node over libp2p with a shared channel.

use std::{error::Error, path::Path, sync::Arc, time::Duration};

use gossip::transports::libp2p::{
    libp2p::{Multiaddr, PeerId},
    node_id_from_peer_id,
};
use gossip::{
    ChannelHandle, Config, Coordinator, Identity, Invitation, Libp2pConfig, Libp2pTransport,
    MemoryStore, NodeId, Role, StreamHandle, StreamId,
};

use crate::args::{KeySource, Options};

/// The result type of the example.
pub(crate) type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

/// A running participant.
pub(crate) struct Chat {
    pub(crate) node: Coordinator,
    pub(crate) transport: Arc<Libp2pTransport>,
    pub(crate) channel: ChannelHandle,
    pub(crate) stream: StreamHandle,
    pub(crate) name: String,
}

/// The identity `source` names.
pub(crate) fn identity(source: &KeySource) -> Result<Identity> {
    Ok(match source {
        KeySource::Fresh => Identity::generate(),
        KeySource::Seed(seed) => Identity::from_secret_bytes([*seed; 32]),
        KeySource::File(path) => key_file(path)?,
    })
}

/// Reads the identity in `path`, or creates the file (owner-only) with a
/// fresh one.
fn key_file(path: &Path) -> Result<Identity> {
    match Identity::load(path) {
        Err(gossip::Error::KeyFile {
            kind: gossip::KeyFileErrorKind::NotFound,
            ..
        }) => {
            let identity = Identity::generate();
            identity.save(path)?;
            Ok(identity)
        }
        other => Ok(other?),
    }
}

impl Chat {
    /// Starts a participant: listens, knows the given peers, joins the channel.
    pub(crate) async fn start(options: &Options) -> Result<Self> {
        let identity = identity(&options.identity)?;
        // mDNS off, even when a workspace build turns the crate feature on: peers come
        // from --peer and from identify (a peer that dials us is reported as discovered).
        let transport = Arc::new(Libp2pTransport::new(
            &identity,
            Libp2pConfig::default()
                .mdns(false)
                .backoff(Duration::from_millis(200), Duration::from_secs(5)),
        )?);
        transport.listen_on(options.listen.clone()).await?;
        let node = Coordinator::builder(identity)
            .store(MemoryStore::new())
            .transport(transport.clone())
            .config(Config::default().gossip_interval(Duration::from_millis(500)))
            .build()
            .await?;
        let channel = match &options.join {
            Some(invitation) => {
                // The invitation says where the inviter listens.
                for address in invitation.addresses() {
                    if let Ok(address) = address.parse::<Multiaddr>() {
                        transport.add_peer_address(invitation.inviter().clone(), address)?;
                    }
                }
                node.join(invitation).await?
            }
            None => node.create_channel(&options.channel).await?,
        };
        let stream = channel.stream(StreamId::new("messages")?).await?;
        let chat = Self {
            node,
            transport,
            channel,
            stream,
            name: options.name.clone(),
        };
        for (peer, address) in &options.peers {
            chat.add_peer(peer, Some(address.clone())).await?;
        }
        chat.node.start().await?;
        Ok(chat)
    }

    /// This node's id (the same key as its libp2p peer id).
    pub(crate) fn id(&self) -> &NodeId {
        self.node.local_id()
    }

    /// The addresses others pass to `--peer` to reach us.
    pub(crate) fn addresses(&self) -> Vec<Multiaddr> {
        let me = self.transport.peer_id();
        self.transport
            .listen_addrs()
            .into_iter()
            .filter_map(|a| a.with_p2p(me).ok())
            .collect()
    }

    /// The invitation others pass to `--join`: the room, and where this
    /// node listens.
    pub(crate) async fn invitation(&self) -> Result<Invitation> {
        let addresses = self.addresses().iter().map(ToString::to_string).collect();
        Ok(self.channel.invitation_at(addresses).await?)
    }

    /// This node's role in the room (`None` until the room's control log
    /// says it is a member).
    pub(crate) async fn role(&self) -> Result<Option<Role>> {
        Ok(self.channel.role().await?)
    }

    /// Chats with `peer` from now on (at `address` if given): a node peer,
    /// and a writer of the room if this node may let people in.
    pub(crate) async fn add_peer(&self, peer: &PeerId, address: Option<Multiaddr>) -> Result<()> {
        let id =
            node_id_from_peer_id(peer).ok_or_else(|| format!("{peer} is not an Ed25519 peer"))?;
        if let Some(address) = address {
            self.transport.add_peer_address(id.clone(), address)?;
        }
        self.node.add_peer(id.clone()).await?;
        if self.role().await?.is_some_and(Role::may_manage) {
            self.channel.add_member(id, Role::Writer).await?;
        }
        Ok(())
    }

    /// Adds a discovered node.
    pub(crate) async fn add_node(&self, node: &NodeId) -> Result<()> {
        let peer = gossip::transports::libp2p::peer_id_from_node_id(node);
        self.add_peer(&peer, None).await
    }

    /// Appends one line to the shared stream.
    pub(crate) async fn say(&self, line: &str) -> Result<()> {
        self.stream
            .append(format!("{}: {line}", self.name).into_bytes())
            .await?;
        Ok(())
    }

    /// Stops the node and closes the transport.
    pub(crate) async fn stop(self) -> Result<()> {
        self.node.dispose().await?;
        Ok(())
    }
}
