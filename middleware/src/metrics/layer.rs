//! [`MetricsLayer`] and [`StoreMetricsLayer`].

use tower::Layer;

use super::{Metrics, StoreMetrics};

/// A [`tower::Layer`] that wraps a transport in [`Metrics`]. Put it at the
/// top of a stack (see the [module docs](super)).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer {
    _private: (),
}

impl MetricsLayer {
    /// A metrics layer recording into the global `metrics` recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T> Layer<T> for MetricsLayer {
    type Service = Metrics<T>;

    fn layer(&self, inner: T) -> Self::Service {
        Metrics::new(inner)
    }
}

/// A [`tower::Layer`] that wraps a store in [`StoreMetrics`].
///
/// ```
/// use gossip_core::Store;
/// use gossip_middleware::StoreMetricsLayer;
/// use gossip_store_memory::MemoryStore;
/// use tower::Layer;
///
/// let store = StoreMetricsLayer::new().layer(MemoryStore::new());
/// assert_eq!(store.backend(), "metrics");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreMetricsLayer {
    _private: (),
}

impl StoreMetricsLayer {
    /// A store metrics layer recording into the global `metrics` recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for StoreMetricsLayer {
    type Service = StoreMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StoreMetrics::new(inner)
    }
}
