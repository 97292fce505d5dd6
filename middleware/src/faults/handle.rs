//! [`FaultsHandle`]: partitions at run time, and [`FaultStats`].

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
};

use gossip_core::{raw::SeededRng, NodeId};
use tokio::sync::Semaphore;

use super::FaultConfig;

/// Counters of a [`FaultsLayer`](super::FaultsLayer) and every transport it
/// built, since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// Frames handed to the inner transport (duplicates included).
    pub forwarded: u64,
    /// Frames lost on purpose.
    pub dropped: u64,
    /// Extra copies sent.
    pub duplicated: u64,
    /// Frames sent after a delay.
    pub delayed: u64,
    /// Frames held back to be reordered.
    pub reordered: u64,
    /// Frames to or from a partitioned peer, dropped.
    pub partitioned: u64,
    /// Frames sent at once because [`FaultConfig::max_delayed`] were waiting.
    pub undelayed: u64,
    /// Delayed sends that the inner transport refused (their `send` had
    /// already returned `Ok`).
    pub delayed_failures: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) forwarded: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) duplicated: AtomicU64,
    pub(crate) delayed: AtomicU64,
    pub(crate) reordered: AtomicU64,
    pub(crate) partitioned: AtomicU64,
    pub(crate) undelayed: AtomicU64,
    pub(crate) delayed_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> FaultStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultStats {
            forwarded: get(&self.forwarded),
            dropped: get(&self.dropped),
            duplicated: get(&self.duplicated),
            delayed: get(&self.delayed),
            reordered: get(&self.reordered),
            partitioned: get(&self.partitioned),
            undelayed: get(&self.undelayed),
            delayed_failures: get(&self.delayed_failures),
        }
    }
}

/// State shared by a layer, its handles and the transports it built.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: FaultConfig,
    pub(crate) partitioned: RwLock<BTreeSet<NodeId>>,
    pub(crate) delay_slots: Arc<Semaphore>,
    pub(crate) counters: Counters,
}

impl Shared {
    pub(crate) fn new(config: FaultConfig) -> Self {
        Self {
            partitioned: RwLock::new(config.partitioned.clone()),
            delay_slots: Arc::new(Semaphore::new(config.max_delayed.max(1))),
            counters: Counters::default(),
            config,
        }
    }

    pub(crate) fn is_partitioned(&self, peer: &NodeId) -> bool {
        let set = self
            .partitioned
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        !set.is_empty() && set.contains(peer)
    }

    /// The schedule of one transport: the seed mixed with its id (FNV-1a),
    /// so it does not depend on the order transports were built in.
    pub(crate) fn rng_for(&self, local: &NodeId) -> Mutex<SeededRng> {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for byte in local.as_str().bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Mutex::new(SeededRng::new(self.config.seed ^ hash))
    }
}

/// Changes the partitions of a [`FaultsLayer`](super::FaultsLayer) and every
/// transport it built, at run time, and reads their counters. Cheap to clone.
///
/// ```
/// use gossip_core::NodeId;
/// use gossip_middleware::{FaultConfig, FaultsLayer};
///
/// let layer = FaultsLayer::new(FaultConfig::none());
/// let handle = layer.handle();
/// let c = NodeId::from_seed("c");
/// handle.partition([c.clone()]);
/// assert!(handle.is_partitioned(&c));
/// handle.heal();
/// assert!(!handle.is_partitioned(&c));
/// # Ok::<(), gossip_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FaultsHandle {
    pub(crate) shared: Arc<Shared>,
}

impl FaultsHandle {
    /// Cuts `peers` off: frames sent to them, and frames received from them,
    /// are dropped by every transport of this layer (for a node built with
    /// the layer, that isolates it both ways from the others).
    pub fn partition(&self, peers: impl IntoIterator<Item = NodeId>) {
        let mut set = self
            .shared
            .partitioned
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        set.extend(peers);
    }

    /// Ends every partition.
    pub fn heal(&self) {
        self.shared
            .partitioned
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether `peer` is cut off.
    #[must_use]
    pub fn is_partitioned(&self, peer: &NodeId) -> bool {
        self.shared.is_partitioned(peer)
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> FaultStats {
        self.shared.counters.snapshot()
    }
}
