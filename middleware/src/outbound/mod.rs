//! tower on the outbound path: a transport's send side as a
//! [`tower::Service`] ([`SendService`]), and a transport rebuilt from such a
//! service plus the inner transport's receive side ([`ServiceTransport`]),
//! so tower's own middleware — `TimeoutLayer`, `RateLimitLayer`,
//! `ConcurrencyLimitLayer`, or any other — applies to sends.
//!
//! [`SendLayer`] does both in one layer that fits a transport stack:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use gossip_core::{Identity, NodeId, Transport};
//! use gossip_middleware::{MetricsLayer, SendLayer};
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//! use tower::{limit::RateLimitLayer, timeout::TimeoutLayer, ServiceBuilder};
//!
//! let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//! let a = ServiceBuilder::new()
//!     .layer(SendLayer::new(
//!         ServiceBuilder::new()
//!             .layer(TimeoutLayer::new(Duration::from_millis(500)))
//!             .layer(RateLimitLayer::new(1_000, Duration::from_secs(1))),
//!     ))
//!     .service(network.join(&Identity::from_seed("a"))?);
//! let _b = network.join(&Identity::from_seed("b"))?;
//! a.send(&NodeId::from_seed("b"), "rate limited".into()).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The equivalent by hand: share the transport, layer tower over
//! `SendService::from_arc(shared.clone())`, and build
//! `ServiceTransport::new(service, shared)`.
//!
//! # Where it belongs in a stack
//!
//! Anywhere; usually near the top (just below metrics, so a timeout is
//! counted as an error), so that limits apply to logical frames.

mod layer;
mod send_service;
mod service_transport;

pub use layer::SendLayer;
pub use send_service::{SendFuture, SendService};
pub use service_transport::ServiceTransport;
