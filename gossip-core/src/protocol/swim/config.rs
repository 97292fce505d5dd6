//! [`SwimConfig`]: the timings and limits of the [`FailureDetector`](super::FailureDetector).

use std::time::Duration;

/// Timings and limits of the SWIM [`FailureDetector`](super::FailureDetector).
///
/// The defaults suit a handful of devices on a lossy network: they keep 8
/// members free of false "unreachable" verdicts under 30 % random message
/// loss (see the module tests) and detect a silent member within
/// [`SwimConfig::detection_bound`]. A node takes them as
/// [`Config::swim`](crate::Config::swim); these are its defaults too.
///
/// ```
/// use gossip_core::protocol::swim::SwimConfig;
/// use std::time::Duration;
///
/// let config = SwimConfig::default()
///     .probe_interval(Duration::from_millis(500))
///     .ping_timeout(Duration::from_millis(200));
/// assert_eq!(config.suspicion_threshold, 3);
/// assert_eq!(config.detection_bound(7), Duration::from_millis(22_500));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwimConfig {
    /// Length of a probe period: one member is probed per period. Default 1 s.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking intermediaries.
    /// Clamped to `probe_interval`; should be well below it so the indirect
    /// probe has time to finish. Default 500 ms.
    pub ping_timeout: Duration,
    /// Intermediaries asked to probe a member that did not answer directly
    /// (SWIM's *k*). Default 3.
    pub ping_req_fanout: usize,
    /// Consecutive failed probes before a member is suspected (1 is the
    /// original SWIM). Default 3.
    pub suspicion_threshold: u32,
    /// How long a member stays suspected, without contact or refutation,
    /// before it is declared unreachable. Default 8 s: in the 8-node
    /// simulation, 3 s starts to give false verdicts at 40 % loss and 5 s at
    /// 50 %; 8 s held at 50 %.
    pub suspicion_timeout: Duration,
    /// Most membership updates piggybacked on one message. Default 8.
    pub max_piggyback: usize,
    /// SWIM's λ: each update is piggybacked at most
    /// `retransmit_multiplier × (⌊log2(cluster size + 1)⌋ + 1)` times. Default 3.
    pub retransmit_multiplier: u32,
    /// Updates claiming an incarnation more than this above the known one
    /// are ignored, so that no single message can push a member (or this
    /// node) to an incarnation it can never refute. Default 2^16.
    pub max_incarnation_jump: u64,
    /// Most indirect probes run at once on behalf of other members
    /// (answers to their `PingReq`s); further requests are ignored. Default 64.
    pub max_relays: usize,
}

impl Default for SwimConfig {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(1),
            ping_timeout: Duration::from_millis(500),
            ping_req_fanout: 3,
            suspicion_threshold: 3,
            suspicion_timeout: Duration::from_secs(8),
            max_piggyback: 8,
            retransmit_multiplier: 3,
            max_incarnation_jump: 1 << 16,
            max_relays: 64,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl SwimConfig {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`SwimConfig::probe_interval`].
    probe_interval: Duration,
    /// Sets [`SwimConfig::ping_timeout`].
    ping_timeout: Duration,
    /// Sets [`SwimConfig::ping_req_fanout`].
    ping_req_fanout: usize,
    /// Sets [`SwimConfig::suspicion_threshold`].
    suspicion_threshold: u32,
    /// Sets [`SwimConfig::suspicion_timeout`].
    suspicion_timeout: Duration,
    /// Sets [`SwimConfig::max_piggyback`].
    max_piggyback: usize,
    /// Sets [`SwimConfig::retransmit_multiplier`].
    retransmit_multiplier: u32,
    /// Sets [`SwimConfig::max_incarnation_jump`].
    max_incarnation_jump: u64,
    /// Sets [`SwimConfig::max_relays`].
    max_relays: usize,
}

impl SwimConfig {
    /// The longest a member that falls silent can stay undetected by a
    /// detector with `members` other members, provided the caller calls
    /// [`handle_timeout`](super::FailureDetector::handle_timeout) at every
    /// [`next_deadline`](super::FailureDetector::next_deadline).
    ///
    /// `((suspicion_threshold + 1) × members + 1) × probe_interval + suspicion_timeout`:
    /// probing is round-robin over a list reshuffled each pass, so the
    /// `threshold`-th probe after the member fell silent ends at the latest
    /// `threshold + 1` passes of `members` periods later (the pass under way
    /// may already have probed it), plus one period for the first round to
    /// start; then the suspicion runs out. Contact with the member in the
    /// meantime restarts the count; gossip from other members only makes
    /// detection faster.
    #[must_use]
    pub fn detection_bound(&self, members: usize) -> Duration {
        let passes = u64::from(self.suspicion_threshold).saturating_add(1);
        let periods = passes
            .saturating_mul(u64::try_from(members).unwrap_or(u64::MAX))
            .saturating_add(1);
        let periods = u32::try_from(periods).unwrap_or(u32::MAX);
        self.probe_interval
            .saturating_mul(periods)
            .saturating_add(self.suspicion_timeout)
    }

    /// How often one update is piggybacked in a cluster of `cluster` nodes
    /// (this node included): `retransmit_multiplier × (⌊log2(cluster + 1)⌋ + 1)`.
    pub(crate) fn retransmit_limit(&self, cluster: usize) -> u32 {
        let log = usize::BITS - cluster.saturating_add(1).leading_zeros();
        self.retransmit_multiplier.saturating_mul(log).max(1)
    }
}

/// Milliseconds of a duration, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmit_limit_grows_with_log_of_cluster() {
        let config = SwimConfig::default();
        assert_eq!(config.retransmit_limit(1), 3 * 2);
        assert_eq!(config.retransmit_limit(8), 3 * 4);
        assert_eq!(config.retransmit_limit(32), 3 * 6);
        assert_eq!(config.retransmit_multiplier(0).retransmit_limit(8), 1);
    }

    #[test]
    fn detection_bound_formula() {
        let config = SwimConfig::default();
        // ((3 + 1) × 7 + 1) × 1 s + 8 s
        assert_eq!(config.detection_bound(7), Duration::from_secs(37));
    }
}
