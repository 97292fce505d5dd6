//! One chat participant: a gossip node over libp2p with a shared channel.

use std::{error::Error, path::Path, sync::Arc, time::Duration};

use gossip::transports::libp2p::{
    libp2p::{identity::Keypair, Multiaddr, PeerId},
    node_id_from_peer_id,
};
use gossip::{
    ChannelHandle, ChannelId, Config, Coordinator, Libp2pConfig, Libp2pTransport, MemoryStore,
    NodeId, StreamHandle, StreamId, Transport,
};

use crate::args::{Identity, Options};

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

/// The identity key `identity` names.
pub(crate) fn keypair(identity: &Identity) -> Result<Keypair> {
    Ok(match identity {
        Identity::Fresh => Keypair::generate_ed25519(),
        Identity::Seed(seed) => Keypair::ed25519_from_bytes([*seed; 32])?,
        Identity::File(path) => key_file(path)?,
    })
}

/// Reads the key in `path`, or creates the file with a fresh key.
fn key_file(path: &Path) -> Result<Keypair> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Keypair::from_protobuf_encoding(&bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            std::fs::write(path, keypair.to_protobuf_encoding()?)?;
            Ok(keypair)
        }
        Err(e) => Err(e.into()),
    }
}

impl Chat {
    /// Starts a participant: listens, knows the given peers, joins the channel.
    pub(crate) async fn start(options: &Options) -> Result<Self> {
        let keypair = keypair(&options.identity)?;
        // mDNS is off (the crate feature is not enabled here); peers come from --peer
        // and from identify (a peer that dials us is reported as discovered).
        let transport = Arc::new(Libp2pTransport::new(
            keypair,
            Libp2pConfig::default().backoff(Duration::from_millis(200), Duration::from_secs(5)),
        )?);
        transport.listen_on(options.listen.clone()).await?;
        let node = Coordinator::builder(transport.local_id().clone())
            .store(MemoryStore::new())
            .transport(transport.clone())
            .config(Config::default().gossip_interval(Duration::from_millis(500)))
            .build()
            .await?;
        let channel = node
            .create_channel(ChannelId::new(options.channel.clone())?)
            .await?;
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

    /// This node's id (its libp2p peer id).
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

    /// Chats with `peer` from now on (at `address` if given): a node peer and
    /// a channel member.
    pub(crate) async fn add_peer(&self, peer: &PeerId, address: Option<Multiaddr>) -> Result<()> {
        let id = node_id_from_peer_id(peer)?;
        if let Some(address) = address {
            self.transport.add_peer_address(id.clone(), address)?;
        }
        self.node.add_peer(id.clone()).await?;
        self.channel.add_member(id).await?;
        Ok(())
    }

    /// Adds a discovered node (its id is its peer id in base58).
    pub(crate) async fn add_node(&self, node: &NodeId) -> Result<()> {
        match node.as_str().parse::<PeerId>() {
            Ok(peer) => self.add_peer(&peer, None).await,
            Err(e) => Err(format!("{node} is not a libp2p peer id: {e}").into()),
        }
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
