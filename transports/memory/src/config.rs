//! [`MemoryNetworkConfig`] and [`LinkFaults`]: how a [`MemoryNetwork`](crate::MemoryNetwork)
//! is sized and how its links misbehave.

use std::time::Duration;

use gossip_core::raw::SeededRng;

/// Default [`MemoryNetworkConfig::max_frame_len`]: 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// Default [`MemoryNetworkConfig::inbound_queue_capacity`]: frames queued per node.
pub const DEFAULT_INBOUND_QUEUE_CAPACITY: usize = 4096;

/// Default [`LinkFaults::reorder_window`].
pub const DEFAULT_REORDER_WINDOW: Duration = Duration::from_millis(10);

/// How a [`MemoryNetwork`](crate::MemoryNetwork) is built.
///
/// ```
/// use gossip_transport_memory::{LinkFaults, MemoryNetworkConfig};
///
/// let config = MemoryNetworkConfig::default()
///     .seed(7)
///     .max_frame_len(64 * 1024)
///     .default_faults(LinkFaults::none().drop(0.1));
/// assert_eq!(config.max_frame_len, 64 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MemoryNetworkConfig {
    /// Seed of every random fault decision. Same seed and same sends (on a
    /// current-thread runtime with paused time) give the same deliveries.
    pub seed: u64,
    /// The largest frame, in bytes (at least 1). Default
    /// [`DEFAULT_MAX_FRAME_LEN`].
    pub max_frame_len: usize,
    /// Frames that may wait in one node's inbox, delayed ones included (at
    /// least 1). A send to a full inbox fails with `QueueFull`. Default
    /// [`DEFAULT_INBOUND_QUEUE_CAPACITY`].
    pub inbound_queue_capacity: usize,
    /// Faults of every link without its own
    /// ([`MemoryNetwork::set_link_faults`](crate::MemoryNetwork::set_link_faults)).
    /// Default: none.
    pub default_faults: LinkFaults,
}

impl Default for MemoryNetworkConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            inbound_queue_capacity: DEFAULT_INBOUND_QUEUE_CAPACITY,
            default_faults: LinkFaults::none(),
        }
    }
}

impl MemoryNetworkConfig {
    /// Sets [`seed`](Self::seed).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`max_frame_len`](Self::max_frame_len) (0 is raised to 1).
    #[must_use]
    pub fn max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len.max(1);
        self
    }

    /// Sets [`inbound_queue_capacity`](Self::inbound_queue_capacity) (0 is raised to 1).
    #[must_use]
    pub fn inbound_queue_capacity(mut self, inbound_queue_capacity: usize) -> Self {
        self.inbound_queue_capacity = inbound_queue_capacity.max(1);
        self
    }

    /// Sets [`default_faults`](Self::default_faults).
    #[must_use]
    pub fn default_faults(mut self, faults: LinkFaults) -> Self {
        self.default_faults = faults;
        self
    }
}

/// What goes wrong on a link (one direction, sender → receiver).
///
/// Probabilities are clamped to `[0, 1]` when used (NaN counts as 0). A
/// frame's fate is decided when it is sent, from the link's own seeded
/// generator:
///
/// 1. with probability [`drop`](Self::drop) it is lost (`send` still returns `Ok`);
/// 2. it is delayed by a uniform time in [`delay_min`](Self::delay_min)`..=`[`delay_max`](Self::delay_max),
///    but never delivered before a frame sent earlier on the link: delay
///    alone keeps the link in order;
/// 3. with probability [`reorder`](Self::reorder) it is held back by up to
///    [`reorder_window`](Self::reorder_window) more, outside the link's order, so later frames
///    may overtake it;
/// 4. with probability [`duplicate`](Self::duplicate) a second copy is delivered right after it.
///
/// ```
/// use std::time::Duration;
/// use gossip_transport_memory::LinkFaults;
///
/// let flaky = LinkFaults::none()
///     .drop(0.2)
///     .duplicate(0.05)
///     .reorder(0.1)
///     .delay(Duration::from_millis(5), Duration::from_millis(50));
/// assert!(!flaky.is_none());
/// assert!(LinkFaults::none().is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinkFaults {
    /// Probability that a frame is lost.
    pub drop: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame leaves the link's order (held back by up to
    /// [`reorder_window`](Self::reorder_window)).
    pub reorder: f64,
    /// Shortest delay of a frame.
    pub delay_min: Duration,
    /// Longest delay of a frame (taken as `delay_min` when smaller).
    pub delay_max: Duration,
    /// Longest extra delay of a reordered frame. With a zero window,
    /// reordering has no effect. Default [`DEFAULT_REORDER_WINDOW`].
    pub reorder_window: Duration,
}

impl Default for LinkFaults {
    fn default() -> Self {
        Self::none()
    }
}

impl LinkFaults {
    /// A perfect link: no loss, no delay, no duplicates, in order.
    #[must_use]
    pub fn none() -> Self {
        Self {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay_min: Duration::ZERO,
            delay_max: Duration::ZERO,
            reorder_window: DEFAULT_REORDER_WINDOW,
        }
    }

    /// Sets [`drop`](Self::drop).
    #[must_use]
    pub fn drop(mut self, probability: f64) -> Self {
        self.drop = probability;
        self
    }

    /// Sets [`duplicate`](Self::duplicate).
    #[must_use]
    pub fn duplicate(mut self, probability: f64) -> Self {
        self.duplicate = probability;
        self
    }

    /// Sets [`reorder`](Self::reorder).
    #[must_use]
    pub fn reorder(mut self, probability: f64) -> Self {
        self.reorder = probability;
        self
    }

    /// Sets [`delay_min`](Self::delay_min) and [`delay_max`](Self::delay_max).
    #[must_use]
    pub fn delay(mut self, min: Duration, max: Duration) -> Self {
        self.delay_min = min;
        self.delay_max = max;
        self
    }

    /// Sets [`reorder_window`](Self::reorder_window).
    #[must_use]
    pub fn reorder_window(mut self, window: Duration) -> Self {
        self.reorder_window = window;
        self
    }

    /// Whether these faults leave frames untouched: no loss, no duplicates,
    /// no reordering, no delay.
    #[must_use]
    pub fn is_none(&self) -> bool {
        !self.may_drop()
            && !self.may_duplicate()
            && !self.may_reorder()
            && self.delay_min.max(self.delay_max).is_zero()
    }

    pub(crate) fn may_drop(&self) -> bool {
        probability(self.drop) > 0.0
    }

    pub(crate) fn may_duplicate(&self) -> bool {
        probability(self.duplicate) > 0.0
    }

    pub(crate) fn may_reorder(&self) -> bool {
        probability(self.reorder) > 0.0 && !self.reorder_window.is_zero()
    }

    /// Decides one frame's fate.
    pub(crate) fn decide(&self, rng: &mut SeededRng) -> Fate {
        if rng.chance(probability(self.drop)) {
            return Fate::Dropped;
        }
        let delay = uniform(rng, self.delay_min, self.delay_max.max(self.delay_min));
        let reorder = rng.chance(probability(self.reorder));
        let extra = if reorder {
            Some(uniform(rng, Duration::ZERO, self.reorder_window))
        } else {
            None
        };
        let duplicate = rng.chance(probability(self.duplicate));
        Fate::Delivered {
            delay,
            reorder: extra,
            duplicate,
        }
    }
}

/// What happens to one frame on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Lost.
    Dropped,
    /// Delivered after `delay`; out of the link's order after `reorder` more
    /// when set; twice when `duplicate`.
    Delivered {
        delay: Duration,
        reorder: Option<Duration>,
        duplicate: bool,
    },
}

fn probability(p: f64) -> f64 {
    if p.is_nan() {
        0.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

/// A uniform duration in `min..=max`, at nanosecond resolution.
fn uniform(rng: &mut SeededRng, min: Duration, max: Duration) -> Duration {
    let span = u64::try_from(max.saturating_sub(min).as_nanos()).unwrap_or(u64::MAX);
    if span == 0 {
        return min;
    }
    min.saturating_add(Duration::from_nanos(rng.below(span.saturating_add(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_deliver_at_once_in_order() {
        let mut rng = SeededRng::new(1);
        for _ in 0..100 {
            assert_eq!(
                LinkFaults::none().decide(&mut rng),
                Fate::Delivered {
                    delay: Duration::ZERO,
                    reorder: None,
                    duplicate: false
                }
            );
        }
    }

    #[test]
    fn delays_stay_in_range_and_bad_probabilities_are_clamped() {
        let faults = LinkFaults::none()
            .drop(f64::NAN)
            .duplicate(7.0)
            .delay(Duration::from_millis(5), Duration::from_millis(9));
        let mut rng = SeededRng::new(2);
        for _ in 0..1_000 {
            match faults.decide(&mut rng) {
                Fate::Dropped => panic!("NaN drop probability must count as 0"),
                Fate::Delivered {
                    delay, duplicate, ..
                } => {
                    assert!(duplicate, "a probability above 1 counts as 1");
                    assert!(delay >= Duration::from_millis(5) && delay <= Duration::from_millis(9));
                }
            }
        }
    }

    #[test]
    fn is_none_sees_every_fault() {
        assert!(LinkFaults::none().is_none());
        assert!(!LinkFaults::none().drop(0.1).is_none());
        assert!(!LinkFaults::none().duplicate(0.1).is_none());
        assert!(!LinkFaults::none().reorder(0.1).is_none());
        assert!(LinkFaults::none()
            .reorder(0.1)
            .reorder_window(Duration::ZERO)
            .is_none());
        assert!(!LinkFaults::none()
            .delay(Duration::ZERO, Duration::from_millis(1))
            .is_none());
    }
}
