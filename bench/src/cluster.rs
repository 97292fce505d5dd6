//! Building benchmark clusters: N nodes over a chosen transport, store and
//! middleware stack, all peers of each other and members of one channel.

use std::{
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::ValueEnum;
use gossip_core::{
    ChannelId, Config, Coordinator, DynStore, Identity, Invitation, LogEntry, NodeId, Role,
    StreamHandle, StreamId, Transport,
};
use gossip_middleware::{Compression, Encryption, NetworkKey};
use gossip_store_memory::MemoryStore;
use gossip_store_sqlite::SqliteStore;
use gossip_transport_memory::{LinkFaults, MemoryNetwork, MemoryNetworkConfig};
use gossip_transport_tcp::{TcpConfig, TcpTransport};

use crate::counting::{Counters, Counting};

/// Any error, boxed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// `Result` with a boxed error.
pub(crate) type Res<T> = Result<T, BoxError>;

/// A transport erased to a box.
pub(crate) type BoxTransport = Box<dyn Transport>;

/// Which transport carries the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TransportKind {
    /// In-process network (`gossip-transport-memory`).
    Memory,
    /// TCP on loopback (`gossip-transport-tcp`).
    Tcp,
    /// libp2p (TCP + Noise + Yamux) on loopback; needs the `libp2p` feature.
    Libp2p,
}

/// Which store each node keeps its log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StoreKind {
    /// `gossip-store-memory`.
    Memory,
    /// `gossip-store-sqlite`, one file per node in a temporary directory.
    Sqlite,
    /// `gossip-store-rocksdb`; needs the `rocksdb` feature.
    Rocksdb,
}

/// Which middleware wraps the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stack {
    /// No layer.
    Plain,
    /// lz4 compression.
    Compressed,
    /// AES-256-GCM encryption.
    Encrypted,
}

/// The name of a value-enum value, as on the command line.
pub(crate) fn name<T: ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map_or_else(|| "?".to_owned(), |v| v.get_name().to_owned())
}

/// The identity of node `i` (seeded: the same on every run).
pub(crate) fn identity(i: usize) -> Identity {
    Identity::from_seed(format!("n{i}"))
}

/// The id of node `i`.
pub(crate) fn node_id(i: usize) -> Res<NodeId> {
    Ok(identity(i).node_id().clone())
}

/// The benchmark's channel, owned by node 0.
pub(crate) fn channel_id() -> Res<ChannelId> {
    Ok(ChannelId::derive(&node_id(0)?, "bench")?)
}

/// The benchmark's stream.
pub(crate) fn stream_id() -> Res<StreamId> {
    Ok(StreamId::new("log")?)
}

/// Creates one connected transport per identity (not yet used by a node).
pub(crate) async fn transports(
    kind: TransportKind,
    identities: &[Identity],
    faults: LinkFaults,
    seed: u64,
) -> Res<(Vec<BoxTransport>, Option<MemoryNetwork>)> {
    match kind {
        TransportKind::Memory => {
            let mut config = MemoryNetworkConfig::default()
                .seed(seed)
                .inbound_queue_capacity(65_536);
            if !faults.is_none() {
                config = config.default_faults(faults);
            }
            let network = MemoryNetwork::new(config);
            let mut out: Vec<BoxTransport> = Vec::new();
            for identity in identities {
                out.push(Box::new(network.join(identity)?));
            }
            Ok((out, Some(network)))
        }
        TransportKind::Tcp => {
            let mut bound = Vec::new();
            for identity in identities {
                // Every node of the cluster dials from 127.0.0.1: the
                // per-address inbound caps (16 connections, 8 handshakes)
                // would refuse a loopback cluster of more than 16 nodes.
                let config = TcpConfig::default()
                    .send_queue_capacity(4_096)
                    .inbound_queue_capacity(4_096)
                    .max_inbound_connections_per_ip(identities.len())
                    .max_pending_handshakes_per_ip(identities.len());
                let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
                bound.push(TcpTransport::bind(identity, addr, config).await?);
            }
            let addrs: Vec<(NodeId, SocketAddr)> = bound
                .iter()
                .map(|t| (t.local_id().clone(), t.local_addr()))
                .collect();
            for t in &bound {
                for (id, addr) in &addrs {
                    if id != t.local_id() {
                        t.add_peer_address(id.clone(), *addr);
                    }
                }
            }
            Ok((
                bound
                    .into_iter()
                    .map(|t| Box::new(t) as BoxTransport)
                    .collect(),
                None,
            ))
        }
        TransportKind::Libp2p => libp2p_transports(identities).await.map(|t| (t, None)),
    }
}

#[cfg(feature = "libp2p")]
async fn libp2p_transports(identities: &[Identity]) -> Res<Vec<BoxTransport>> {
    use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pConfig, Libp2pTransport};
    let mut bound = Vec::new();
    let loopback: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
    for identity in identities {
        // No mDNS (a workspace build may turn the feature on): the cluster is
        // the nodes given, not whatever else runs on the machine's network.
        let config = Libp2pConfig::default()
            .mdns(false)
            .send_queue_capacity(4_096)
            .inbound_queue_capacity(4_096);
        let t = Libp2pTransport::new(identity, config)?;
        let addr = t.listen_on(loopback.clone()).await?;
        let addr = addr
            .with_p2p(t.peer_id())
            .map_err(|a| format!("cannot add /p2p to {a}"))?;
        bound.push((t, addr));
    }
    let addrs: Vec<(NodeId, Multiaddr)> = bound
        .iter()
        .map(|(t, a)| (t.local_id().clone(), a.clone()))
        .collect();
    for (t, _) in &bound {
        for (id, addr) in &addrs {
            if id != t.local_id() {
                t.add_peer_address(id.clone(), addr.clone())?;
            }
        }
    }
    Ok(bound
        .into_iter()
        .map(|(t, _)| Box::new(t) as BoxTransport)
        .collect())
}

#[cfg(not(feature = "libp2p"))]
async fn libp2p_transports(_identities: &[Identity]) -> Res<Vec<BoxTransport>> {
    Err("the libp2p transport needs `--features libp2p`".into())
}

/// Wraps `inner` in `stack`, counting wire bytes under the stack into `wire`
/// and plain protocol frames above it into `logical`.
pub(crate) fn wrap(
    stack: Stack,
    inner: BoxTransport,
    wire: &Arc<Counters>,
    logical: &Arc<Counters>,
) -> BoxTransport {
    let counted: BoxTransport = Box::new(Counting::new(inner, wire.clone()));
    let stacked: BoxTransport = match stack {
        Stack::Plain => counted,
        Stack::Compressed => Box::new(Compression::new(counted)),
        Stack::Encrypted => Box::new(Encryption::new(counted, NetworkKey::new(1, [0x5a; 32]))),
    };
    Box::new(Counting::new(stacked, logical.clone()))
}

/// Opens a store of `kind` for node `id`, files under `dir`.
pub(crate) async fn store(kind: StoreKind, dir: &Path, id: &NodeId) -> Res<DynStore> {
    match kind {
        StoreKind::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreKind::Sqlite => Ok(Arc::new(
            SqliteStore::open(dir.join(format!("{id}.sqlite"))).await?,
        )),
        StoreKind::Rocksdb => rocksdb_store(dir, id).await,
    }
}

#[cfg(feature = "rocksdb")]
async fn rocksdb_store(dir: &Path, id: &NodeId) -> Res<DynStore> {
    Ok(Arc::new(
        gossip_store_rocksdb::RocksDbStore::open(dir.join(format!("{id}.rocksdb"))).await?,
    ))
}

#[cfg(not(feature = "rocksdb"))]
async fn rocksdb_store(_dir: &Path, _id: &NodeId) -> Res<DynStore> {
    Err("the RocksDB store needs `--features rocksdb`".into())
}

/// Builds and starts one node: peers `all` but itself, member of the channel.
pub(crate) async fn node(
    identity: &Identity,
    all: &[NodeId],
    store: DynStore,
    transport: BoxTransport,
    config: &Config,
    seed: u64,
) -> Res<Coordinator> {
    let id = identity.node_id();
    let node = Coordinator::builder(identity.clone())
        .store(store)
        .transport(transport)
        .config(config.clone().seed(seed))
        .build()
        .await?;
    for peer in all.iter().filter(|p| *p != id) {
        node.add_peer(peer.clone()).await?;
    }
    // Node 0 owns the channel and adds the others; they join it and learn
    // their membership from its control log.
    let owner = node_id(0)?;
    if *id == owner {
        let channel = node.create_channel(channel_id()?.name()).await?;
        for member in all.iter().filter(|m| **m != owner) {
            channel.add_member(member.clone(), Role::Writer).await?;
        }
    } else {
        let invitation = Invitation::new(channel_id()?, owner.clone(), owner, Vec::new())?;
        node.join(&invitation).await?;
    }
    node.start().await?;
    Ok(node)
}

/// Waits until `node` knows itself a member of the benchmark's channel.
pub(crate) async fn await_membership(node: &Coordinator, limit: Duration) -> Res<()> {
    let start = Instant::now();
    let channel = node.channel(channel_id()?).await?;
    while channel.info().await?.role(node.local_id()).is_none() {
        if start.elapsed() > limit {
            return Err(format!("{} never learned it is a member", node.local_id()).into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// What a cluster is made of.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Nodes.
    pub(crate) nodes: usize,
    /// Transport.
    pub(crate) transport: TransportKind,
    /// Store.
    pub(crate) store: StoreKind,
    /// Middleware.
    pub(crate) stack: Stack,
    /// Node configuration.
    pub(crate) config: Config,
    /// Frame loss probability on every link (memory transport only).
    pub(crate) loss: f64,
    /// Shortest and longest delay of a frame on every link (memory
    /// transport only).
    pub(crate) link_delay: Option<(Duration, Duration)>,
}

impl Spec {
    /// What every link of the memory transport does to frames.
    pub(crate) fn link_faults(&self) -> LinkFaults {
        let faults = LinkFaults::none().drop(self.loss);
        match self.link_delay {
            Some((min, max)) => faults.delay(min, max),
            None => faults,
        }
    }
}

/// N started nodes.
pub(crate) struct Cluster {
    /// The nodes, `n0` first.
    pub(crate) nodes: Vec<Coordinator>,
    /// Bytes and frames under the stack (on the wire), all nodes.
    pub(crate) wire: Arc<Counters>,
    /// Plain protocol frames above the stack, all nodes.
    pub(crate) logical: Arc<Counters>,
    _dir: tempfile::TempDir,
    _network: Option<MemoryNetwork>,
}

impl Cluster {
    /// Builds and starts the cluster.
    pub(crate) async fn start(spec: &Spec) -> Res<Self> {
        let identities: Vec<Identity> = (0..spec.nodes).map(identity).collect();
        let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
        let dir = tempfile::tempdir()?;
        let (transports, network) =
            transports(spec.transport, &identities, spec.link_faults(), 7).await?;
        let wire = Arc::new(Counters::default());
        let logical = Arc::new(Counters::default());
        let mut nodes = Vec::new();
        for (i, (me, t)) in identities.iter().zip(transports).enumerate() {
            let store = store(spec.store, dir.path(), me.node_id()).await?;
            let t = wrap(spec.stack, t, &wire, &logical);
            nodes.push(node(me, &ids, store, t, &spec.config, 1 + i as u64).await?);
        }
        for node in &nodes {
            await_membership(node, Duration::from_secs(60)).await?;
        }
        Ok(Self {
            nodes,
            wire,
            logical,
            _dir: dir,
            _network: network,
        })
    }

    /// Node `i`'s handle on the benchmark stream.
    pub(crate) async fn stream(&self, i: usize) -> Res<StreamHandle> {
        let node = self.nodes.get(i).ok_or("no such node")?;
        Ok(node
            .channel(channel_id()?)
            .await?
            .stream(stream_id()?)
            .await?)
    }

    /// Disposes of every node.
    pub(crate) async fn dispose(self) -> Res<()> {
        for node in &self.nodes {
            node.dispose().await?;
        }
        Ok(())
    }
}

/// How many entries `handle` holds (the sum of its version vector).
pub(crate) async fn held(handle: &StreamHandle) -> Res<u64> {
    Ok(handle.version().await?.total())
}

/// Waits until `handle` holds `expected` entries or `limit` passes; true if it does.
pub(crate) async fn wait_for(handle: &StreamHandle, expected: u64, limit: Duration) -> Res<bool> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if held(handle).await? >= expected {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A payload of `size` bytes whose content varies with `i` (not trivially
/// compressible to nothing, but compressible like typical text).
pub(crate) fn payload(size: usize, i: u64) -> Bytes {
    let seed = format!("entry {i:>12} lorem ipsum dolor sit amet, consectetur adipiscing elit; ");
    let bytes: Vec<u8> = seed.bytes().cycle().take(size).collect();
    Bytes::from(bytes)
}

/// Ready-made entries by `author` for raw store inserts (sequences from
/// `first`), as large as the node's: a 32-byte link and a 64-byte
/// signature each (the store does not check them, so they are filler).
pub(crate) fn entries(author: &NodeId, first: u64, count: u64, size: usize) -> Res<Vec<LogEntry>> {
    let epoch = 1_704_067_200_000u64;
    (first..first + count)
        .map(|seq| {
            let ts = gossip_core::Hlc::new(epoch + seq, 0)?;
            let mut entry = LogEntry::new(author.clone(), seq, ts, payload(size, seq));
            entry.previous = gossip_core::EntryHash::from_bytes([7; 32]);
            entry.signature = Some(gossip_core::Signature::from_bytes([9; 64]));
            Ok(entry)
        })
        .collect()
}
