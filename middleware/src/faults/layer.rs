//! [`FaultsLayer`], which builds [`Faults`] transports.

use std::sync::Arc;

use gossip_core::Transport;
use tower::Layer;

use super::{handle::Shared, FaultConfig, FaultStats, Faults, FaultsHandle};

/// A [`tower::Layer`] that wraps a transport in [`Faults`].
///
/// Clones of a layer and every transport they build share one partition set
/// and one set of counters ([`handle`](Self::handle)); each transport draws
/// its faults from its own generator, seeded with the configured seed and its
/// node id, so the schedule does not depend on the order nodes were built.
#[derive(Debug, Clone)]
pub struct FaultsLayer {
    shared: Arc<Shared>,
}

impl FaultsLayer {
    /// A layer injecting the faults of `config`.
    #[must_use]
    pub fn new(config: FaultConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
        }
    }

    /// A handle to partition and heal at run time, and read the counters.
    #[must_use]
    pub fn handle(&self) -> FaultsHandle {
        FaultsHandle {
            shared: self.shared.clone(),
        }
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> FaultStats {
        self.handle().stats()
    }
}

impl<T: Transport> Layer<T> for FaultsLayer {
    type Service = Faults<T>;

    fn layer(&self, inner: T) -> Self::Service {
        Faults::with_shared(inner, self.shared.clone())
    }
}
