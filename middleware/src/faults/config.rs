//! [`FaultConfig`]: what a [`Faults`](super::Faults) layer does to frames.

use std::{collections::BTreeSet, time::Duration};

use gossip_core::NodeId;

/// Default bound on frames waiting in delay tasks at once.
pub const DEFAULT_MAX_DELAYED: usize = 1024;

/// The faults to inject. All off by default ([`FaultConfig::none`]); set
/// them with its builder methods.
///
/// ```
/// use std::time::Duration;
/// use gossip_middleware::FaultConfig;
///
/// let config = FaultConfig::none()
///     .seed(7)
///     .drop(0.1)
///     .duplicate(0.05)
///     .delay(Duration::from_millis(1), Duration::from_millis(20))
///     .reorder(0.2, Duration::from_millis(50));
/// assert!(!config.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FaultConfig {
    /// Probability that a sent frame is silently lost.
    pub drop: f64,
    /// Probability that a sent frame is delivered twice.
    pub duplicate: f64,
    /// Each delivered frame is delayed by a uniform time in this range
    /// (`None`: sent at once).
    pub delay: Option<(Duration, Duration)>,
    /// Probability that a frame is held back by an extra uniform delay of up
    /// to [`reorder_window`](Self::reorder_window), so later frames overtake it.
    pub reorder: f64,
    /// The largest extra delay of a reordered frame.
    pub reorder_window: Duration,
    /// The seed of the fault schedule: the same seed and the same sequence
    /// of sends give the same faults.
    pub seed: u64,
    /// Peers cut off from the start (see [`FaultsHandle::partition`](super::FaultsHandle::partition)).
    pub partitioned: BTreeSet<NodeId>,
    /// At most this many frames wait in delay tasks at once; beyond it,
    /// frames are sent without delay (and counted in
    /// [`FaultStats::undelayed`](super::FaultStats::undelayed)).
    pub max_delayed: usize,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self::none()
    }
}

impl FaultConfig {
    /// No faults: frames pass as they are.
    #[must_use]
    pub fn none() -> Self {
        Self {
            drop: 0.0,
            duplicate: 0.0,
            delay: None,
            reorder: 0.0,
            reorder_window: Duration::ZERO,
            seed: 0,
            partitioned: BTreeSet::new(),
            max_delayed: DEFAULT_MAX_DELAYED,
        }
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the drop probability (clamped to `[0, 1]`).
    #[must_use]
    pub fn drop(mut self, probability: f64) -> Self {
        self.drop = probability.clamp(0.0, 1.0);
        self
    }

    /// Sets the duplication probability (clamped to `[0, 1]`).
    #[must_use]
    pub fn duplicate(mut self, probability: f64) -> Self {
        self.duplicate = probability.clamp(0.0, 1.0);
        self
    }

    /// Delays every frame by a uniform time in `min..=max` (swapped if reversed).
    #[must_use]
    pub fn delay(mut self, min: Duration, max: Duration) -> Self {
        self.delay = Some((min.min(max), min.max(max)));
        self
    }

    /// Holds back a frame with `probability` by up to `window` more.
    #[must_use]
    pub fn reorder(mut self, probability: f64, window: Duration) -> Self {
        self.reorder = probability.clamp(0.0, 1.0);
        self.reorder_window = window;
        self
    }

    /// Cuts `peers` off from the start.
    #[must_use]
    pub fn partitioned(mut self, peers: impl IntoIterator<Item = NodeId>) -> Self {
        self.partitioned.extend(peers);
        self
    }

    /// Bounds the frames waiting in delay tasks at once (at least 1).
    #[must_use]
    pub fn max_delayed(mut self, frames: usize) -> Self {
        self.max_delayed = frames.max(1);
        self
    }

    /// Whether no fault is configured.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.drop <= 0.0
            && self.duplicate <= 0.0
            && !self.delays()
            && self.reorder <= 0.0
            && self.partitioned.is_empty()
    }

    /// Whether some frames may be delayed (and so reordered).
    pub(crate) fn delays(&self) -> bool {
        self.delay.is_some_and(|(_, max)| !max.is_zero())
            || (self.reorder > 0.0 && !self.reorder_window.is_zero())
    }
}
