//! [`SendLayer`]: applies a tower layer to a transport's send path.

use std::sync::Arc;

use tower::Layer;

use super::{SendService, ServiceTransport};

/// A [`tower::Layer`] over transports that applies the tower layer `L` (a
/// timeout, a rate limit, a concurrency limit, a `ServiceBuilder` of them)
/// to the send path: it builds
/// `ServiceTransport<L::Service, T>` around `L` layered over
/// [`SendService<T>`].
///
/// ```
/// use std::time::Duration;
/// use gossip_core::{Identity, NodeId, Transport};
/// use gossip_middleware::SendLayer;
/// use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
/// use tower::{limit::ConcurrencyLimitLayer, timeout::TimeoutLayer, ServiceBuilder};
///
/// let network = MemoryNetwork::new(MemoryNetworkConfig::default());
/// let transport = ServiceBuilder::new()
///     .layer(SendLayer::new(
///         ServiceBuilder::new()
///             .layer(TimeoutLayer::new(Duration::from_secs(1)))
///             .layer(ConcurrencyLimitLayer::new(16)),
///     ))
///     .service(network.join(&Identity::from_seed("a"))?);
/// assert_eq!(transport.backend(), "tower");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SendLayer<L> {
    layer: L,
}

impl<L> SendLayer<L> {
    /// Applies `layer` to sends.
    pub fn new(layer: L) -> Self {
        Self { layer }
    }
}

impl<L, T> Layer<T> for SendLayer<L>
where
    L: Layer<SendService<T>>,
{
    type Service = ServiceTransport<L::Service, T>;

    fn layer(&self, inner: T) -> Self::Service {
        let transport = Arc::new(inner);
        let service = self.layer.layer(SendService::from_arc(transport.clone()));
        ServiceTransport::new(service, transport)
    }
}
