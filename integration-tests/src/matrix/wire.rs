//! The transport side of a matrix node: the raw transport of each kind, where
//! it listens, and the middleware stack over it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gossip_core::{DynTransport, Identity, NodeId, Transport};
use gossip_middleware::{
    Compression, Encryption, FaultConfig, FaultsHandle, FaultsLayer, Metrics, NetworkKey,
};
use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pConfig, Libp2pTransport};
use gossip_transport_memory::MemoryNetwork;
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tower::Layer;

use super::{cluster::MatrixResult, Stack, TransportKind};

/// The network key every encrypted stack of a cluster shares.
pub(crate) fn network_key() -> NetworkKey {
    NetworkKey::new(1, [0x5a; 32])
}

/// What a node keeps of its transport across restarts.
#[derive(Debug)]
pub(crate) enum Wire {
    /// Joins the cluster's memory network under its id.
    Memory,
    /// Binds a fresh loopback port at each boot.
    Tcp {
        /// The transport of the running node.
        current: Option<Arc<TcpTransport>>,
        /// Where it listens now.
        address: Option<SocketAddr>,
    },
    /// Listens on a fresh loopback port at each boot.
    Libp2p {
        /// The transport of the running node.
        current: Option<Arc<Libp2pTransport>>,
        /// Where it listens now, ending in `/p2p/<peer id>`.
        address: Option<Multiaddr>,
    },
}

impl Wire {
    /// A wire of `kind`.
    pub(crate) fn new(kind: TransportKind) -> Self {
        match kind {
            TransportKind::Memory => Wire::Memory,
            TransportKind::Tcp => Wire::Tcp {
                current: None,
                address: None,
            },
            TransportKind::Libp2p => Wire::Libp2p {
                current: None,
                address: None,
            },
        }
    }

    /// Forgets the running transport (the node closed it).
    pub(crate) fn down(&mut self) {
        match self {
            Wire::Memory => {}
            Wire::Tcp { current, .. } => *current = None,
            Wire::Libp2p { current, .. } => *current = None,
        }
    }
}

/// A raw transport just opened, before the stack, with what the faults
/// layer (if any) gives to partition it.
pub(crate) struct Opened {
    /// The stacked, erased transport for the node.
    pub(crate) transport: DynTransport,
    /// The partition switch, for transports that have no network of their own.
    pub(crate) faults: Option<FaultsHandle>,
}

fn tcp_config(seed: u64) -> TcpConfig {
    TcpConfig::default()
        .backoff(Duration::from_millis(20), Duration::from_millis(400))
        .seed(seed)
}

fn libp2p_config(seed: u64) -> Libp2pConfig {
    Libp2pConfig::default()
        .mdns(false)
        .backoff(Duration::from_millis(20), Duration::from_millis(400))
        .seed(seed)
}

/// Opens the raw transport of the node whose identity is `identity` on
/// `wire` and wraps it in `stack`.
/// `others` are the wires of the other nodes: their address books learn this
/// node's new address, and this node's learns theirs.
pub(crate) async fn open(
    identity: &Identity,
    seed: u64,
    wire: &mut Wire,
    network: &MemoryNetwork,
    others: &[(NodeId, &Wire)],
    stack: Stack,
) -> MatrixResult<Opened> {
    let id = identity.node_id();
    match wire {
        Wire::Memory => {
            let transport = network.join(identity)?;
            Ok(Opened {
                transport: layered(transport, stack),
                faults: None,
            })
        }
        Wire::Tcp { current, address } => {
            let tcp = Arc::new(
                TcpTransport::bind(identity, ([127, 0, 0, 1], 0).into(), tcp_config(seed)).await?,
            );
            let own = tcp.local_addr();
            for (peer, other) in others {
                if let Wire::Tcp {
                    current: peer_current,
                    address: Some(peer_address),
                } = other
                {
                    tcp.add_peer_address(peer.clone(), *peer_address);
                    if let Some(peer_tcp) = peer_current {
                        peer_tcp.add_peer_address(id.clone(), own);
                    }
                }
            }
            *current = Some(tcp.clone());
            *address = Some(own);
            Ok(with_faults(tcp, stack))
        }
        Wire::Libp2p { current, address } => {
            let p2p = Arc::new(Libp2pTransport::new(identity, libp2p_config(seed))?);
            let loopback: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
            let listening = p2p.listen_on(loopback).await?;
            let own = listening
                .with_p2p(p2p.peer_id())
                .map_err(|a| format!("cannot end {a} with the peer id"))?;
            for (peer, other) in others {
                if let Wire::Libp2p {
                    current: peer_current,
                    address: Some(peer_address),
                    ..
                } = other
                {
                    p2p.add_peer_address(peer.clone(), peer_address.clone())?;
                    if let Some(peer_p2p) = peer_current {
                        peer_p2p.add_peer_address(id.clone(), own.clone())?;
                    }
                }
            }
            *current = Some(p2p.clone());
            *address = Some(own);
            Ok(with_faults(p2p, stack))
        }
    }
}

/// `transport` under a faults layer (no faults until partitioned), then `stack`.
fn with_faults<T: Transport>(transport: T, stack: Stack) -> Opened {
    let layer = FaultsLayer::new(FaultConfig::none());
    let faults = layer.handle();
    Opened {
        transport: layered(layer.layer(transport), stack),
        faults: Some(faults),
    }
}

/// `transport` wrapped in `stack`, in the recommended order
/// (metrics → compression → encryption → transport), erased.
pub(crate) fn layered<T: Transport>(transport: T, stack: Stack) -> DynTransport {
    match stack {
        Stack::Plain => Arc::new(transport),
        Stack::Compressed => Arc::new(Compression::new(transport)),
        Stack::Encrypted => Arc::new(Encryption::new(transport, network_key())),
        Stack::Full => Arc::new(Metrics::new(Compression::new(Encryption::new(
            transport,
            network_key(),
        )))),
    }
}
