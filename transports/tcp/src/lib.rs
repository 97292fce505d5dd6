#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod connection;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod peer_table;
mod secure;
mod state;
mod transport;

pub use config::{
    NetworkPsk, TcpConfig, DEFAULT_INBOUND_QUEUE_CAPACITY, DEFAULT_MAX_FRAME_LEN,
    DEFAULT_MAX_INBOUND_CONNECTIONS, DEFAULT_MAX_INBOUND_CONNECTIONS_PER_IP,
    DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_PENDING_HANDSHAKES_PER_IP,
    DEFAULT_SEND_QUEUE_CAPACITY, MAX_FRAME_LEN_LIMIT,
};
pub use transport::{TcpConnectionInfo, TcpStats, TcpTransport};

/// Test support: a peer built by hand from the wire protocol, to attack a
/// transport with. Not part of the stable API.
#[doc(hidden)]
pub mod testing {
    pub use crate::secure::raw_peer::RawPeer;
}

/// The [`backend`](gossip_core::Transport::backend) name of this transport.
pub const BACKEND: &str = "tcp";

// Every public type is `Send + Sync`: checked by the compiler on every build.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<TcpTransport>();
    send_sync::<TcpConfig>();
    send_sync::<TcpStats>();
    send_sync::<TcpConnectionInfo>();
};
