#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod inbox;
mod network;
mod transport;

pub use config::{
    LinkFaults, MemoryNetworkConfig, DEFAULT_INBOUND_QUEUE_CAPACITY, DEFAULT_MAX_FRAME_LEN,
    DEFAULT_REORDER_WINDOW,
};
pub use network::{MemoryNetwork, MemoryNetworkStats};
pub use transport::MemoryTransport;

/// The [`backend`](gossip_core::Transport::backend) name of this transport.
pub const BACKEND: &str = "memory";

// Every public type is `Send + Sync`: checked by the compiler on every build.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<MemoryNetwork>();
    send_sync::<MemoryTransport>();
    send_sync::<MemoryNetworkConfig>();
    send_sync::<LinkFaults>();
    send_sync::<MemoryNetworkStats>();
};
