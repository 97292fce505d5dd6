//! Transports: how a node's frames reach its peers.
//!
//! One module per backend, each behind its `transports-*` feature; the main
//! types are also re-exported at the crate root (`gossip::TcpTransport`).
//!
//! | module | feature | type |
//! |---|---|---|
//! | `memory` | `transports-memory` | `MemoryNetwork` / `MemoryTransport`: in-process, seeded faults |
//! | `tcp` | `transports-tcp` | `TcpTransport`: tokio TCP, handshake, reconnect with backoff |
//! | `libp2p` | `transports-libp2p` | `Libp2pTransport`: TCP + Noise + Yamux swarm |
//!
//! `transports-libp2p-mdns` adds mDNS discovery to `Libp2pTransport` (on by
//! default then; `Libp2pConfig::mdns(false)` turns it off): nodes on the local
//! network find each other with no configured address. A discovered node
//! is reported as `DomainEvent::PeerDiscovered`; when it is a member of a
//! channel this node holds it is synced with at once, and a stranger is
//! left to the application.

/// In-process transport with seeded faults (`gossip-transport-memory`).
#[cfg(feature = "transports-memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "transports-memory")))]
pub mod memory {
    pub use gossip_transport_memory::*;
}

/// tokio TCP transport (`gossip-transport-tcp`).
#[cfg(feature = "transports-tcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "transports-tcp")))]
pub mod tcp {
    pub use gossip_transport_tcp::*;
}

/// libp2p transport (`gossip-transport-libp2p`); `libp2p` itself is
/// re-exported inside so applications name matching types.
#[cfg(feature = "transports-libp2p")]
#[cfg_attr(docsrs, doc(cfg(feature = "transports-libp2p")))]
pub mod libp2p {
    pub use gossip_transport_libp2p::*;
}
