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

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        is_send_sync::<MemoryNetwork>();
        is_send_sync::<MemoryTransport>();
        is_send_sync::<MemoryNetworkConfig>();
        is_send_sync::<LinkFaults>();
        is_send_sync::<MemoryNetworkStats>();
    }
}
