//! [`MetricsLayer`] and [`StoreMetricsLayer`].

use tower::Layer;

use super::{Metrics, StoreMetrics};

/// A [`tower::Layer`] that wraps a transport in [`Metrics`]. Put it at the
/// top of a stack (see the [module docs](super)).
#[derive(Debug, Clone, Copy)]
pub struct MetricsLayer {
    pub(super) time_sends: bool,
}

impl Default for MetricsLayer {
    fn default() -> Self {
        Self { time_sends: true }
    }
}

impl MetricsLayer {
    /// A metrics layer recording into the global `metrics` recorder, timing
    /// sends.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to time every send into
    /// [`SEND_DURATION`](super::SEND_DURATION) (default `true`). Timing
    /// costs two clock reads per send (about 50 ns in
    /// `benches/layers.rs`); with `false` that histogram is not recorded and
    /// the counters stay as they are.
    ///
    /// ```
    /// use gossip_middleware::MetricsLayer;
    ///
    /// let layer = MetricsLayer::new().send_durations(false);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn send_durations(mut self, time_sends: bool) -> Self {
        self.time_sends = time_sends;
        self
    }
}

impl<T> Layer<T> for MetricsLayer {
    type Service = Metrics<T>;

    fn layer(&self, inner: T) -> Self::Service {
        Metrics::with_layer(inner, self)
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
