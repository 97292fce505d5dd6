//! Faults: seeded drop, duplicate, delay, reorder and partition over any
//! transport (memory, TCP, libp2p, a stack of layers), for tests.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use gossip_core::{Identity, NodeId, Transport};
//! use gossip_middleware::{FaultConfig, FaultsLayer};
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//! use tower::Layer;
//!
//! let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//! let faults = FaultsLayer::new(FaultConfig::none().seed(42).drop(0.25));
//! let a = faults.layer(network.join(&Identity::from_seed("a"))?);
//! let b = faults.layer(network.join(&Identity::from_seed("b"))?);
//! assert!(!a.capabilities().reliable);
//! for _ in 0..100 {
//!     a.send(b.local_id(), "x".into()).await?; // Ok, even when lost
//! }
//! let stats = faults.stats();
//! assert_eq!(stats.dropped + stats.forwarded, 100);
//!
//! faults.handle().partition([b.local_id().clone()]); // b is cut off, both ways
//! faults.handle().heal();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Where faults apply
//!
//! - **Send path**: drop, duplicate, delay and reorder are decided per
//!   frame by `send`, from a generator seeded with
//!   [`FaultConfig::seed`] and the node's id: the same sends give the same
//!   faults. A lost frame still returns `Ok` (as on a real network). Delayed
//!   frames (and reordered ones, which get an extra delay so later frames
//!   overtake them) are sent by tokio tasks, at most
//!   [`FaultConfig::max_delayed`] at once; beyond that they go out without
//!   delay. Errors of a delayed send cannot be returned (its `send` already
//!   returned `Ok`): they are counted in [`FaultStats::delayed_failures`].
//!   Delays use `tokio::time`, so they follow paused test time.
//! - **Both paths**: a partition ([`FaultsHandle::partition`]) drops frames
//!   sent to and received from the partitioned peers, so one handle can
//!   isolate a node completely.
//! - Frame limits are checked first: an oversized frame is
//!   `FrameTooLarge`, never "dropped".
//!
//! # Where it belongs in a stack
//!
//! At the bottom, right above the transport: faults then hit the frames as
//! they travel (sealed, compressed). With [`FaultConfig::none`] the layer is a
//! pass-through and the transport keeps its capabilities.

mod config;
mod handle;
mod layer;
mod service;

pub use config::{FaultConfig, DEFAULT_MAX_DELAYED};
pub use handle::{FaultStats, FaultsHandle};
pub use layer::FaultsLayer;
pub use service::Faults;
