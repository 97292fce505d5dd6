#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod behaviour;
mod codec;
mod config;
mod driver;
mod frames;
mod identity;
mod link;
mod muxer;
mod state;
mod transport;

pub use codec::PROTOCOL;
pub use config::{
    Libp2pConfig, DEFAULT_INBOUND_QUEUE_CAPACITY, DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_FRAME_LEN, DEFAULT_SEND_QUEUE_CAPACITY, MAX_FRAME_LEN_LIMIT,
};
pub use identity::{keypair_from_identity, node_id_from_peer_id, peer_id_from_node_id};
pub use transport::{Libp2pStats, Libp2pTransport};

/// Re-exported so that applications name the same libp2p types
/// ([`Keypair`](libp2p::identity::Keypair), [`Multiaddr`](libp2p::Multiaddr),
/// [`PeerId`](libp2p::PeerId)) without depending on a matching version.
pub use libp2p;

/// The [`backend`](gossip_core::Transport::backend) name of this transport.
pub const BACKEND: &str = "libp2p";
