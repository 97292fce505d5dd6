//! [`SwimConfig`]: the timings and limits of the [`FailureDetector`](super::FailureDetector).

use std::time::Duration;

/// Timings and limits of the SWIM [`FailureDetector`](super::FailureDetector).
///
/// The defaults suit a handful of devices on a lossy network: they keep 8
/// members free of false "unreachable" verdicts under 30 % random message
/// loss (see the module tests), detect a silent member within
/// [`SwimConfig::detection_bound`], and, with [`lifeguard`](Self::lifeguard),
/// keep a slow node from declaring healthy members dead. A node takes them as
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
/// // Lifeguard on (the default): the worst case has this node at its
/// // highest local health multiplier and the suspicion unconfirmed.
/// assert_eq!(config.detection_bound(7), Duration::from_millis(14_500 * 9 + 48_000));
/// // Classic SWIM timings.
/// let classic = config.lifeguard(false);
/// assert_eq!(classic.detection_bound(7), Duration::from_millis(22_500));
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
    /// Lifeguard (Dadgar et al., 2018, as in HashiCorp's memberlist): a
    /// local health multiplier that slows this node's probing while it is
    /// itself slow, nacks from intermediaries, and suspicions that start
    /// long and shorten as other members confirm them. `false` gives classic
    /// SWIM timings: fixed probe period, ping timeout and suspicion timeout,
    /// nacks neither sent nor counted. Default `true`.
    pub lifeguard: bool,
    /// Lifeguard: the highest local health multiplier. Probe period and ping
    /// timeout are scaled by `health + 1`, where `health` (0 to this) rises on
    /// failed probes (by the nacks missing from the intermediaries asked, or
    /// by 1 without intermediaries), on refuting a suspicion about this node,
    /// and falls by 1 on each successful probe. 0 turns the multiplier off.
    /// Default 8, as memberlist's `AwarenessMaxMultiplier`.
    pub max_local_health: u32,
    /// Lifeguard: a suspicion starts at `suspicion_timeout ×` this and
    /// shrinks towards `suspicion_timeout` as independent confirmations
    /// arrive (see [`suspicion_confirmations`](Self::suspicion_confirmations)).
    /// 0 and 1 keep suspicions at `suspicion_timeout`. Default 6, as
    /// memberlist's `SuspicionMaxTimeoutMult`.
    pub suspicion_max_multiplier: u32,
    /// Lifeguard: the confirmations (other members gossiping the same
    /// suspicion) that bring a suspicion down to `suspicion_timeout`; the
    /// timeout after `c` of them is
    /// `max − (max − min) × log(c + 1) / log(k + 1)`, with `k` this value
    /// capped at the members that could confirm. Default 3.
    pub suspicion_confirmations: u32,
    /// How long a member that announced it is pausing
    /// ([`FailureDetector::go_dormant`](super::FailureDetector::go_dormant))
    /// is left alone: not probed, suspected or synced with. After that it is
    /// probed again and, if still silent, suspected and declared unreachable
    /// by the normal rules. Default 1 hour.
    pub max_dormancy: Duration,
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
            lifeguard: true,
            max_local_health: 8,
            suspicion_max_multiplier: 6,
            suspicion_confirmations: 3,
            max_dormancy: Duration::from_secs(3_600),
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
    /// Sets [`SwimConfig::lifeguard`].
    lifeguard: bool,
    /// Sets [`SwimConfig::max_local_health`].
    max_local_health: u32,
    /// Sets [`SwimConfig::suspicion_max_multiplier`].
    suspicion_max_multiplier: u32,
    /// Sets [`SwimConfig::suspicion_confirmations`].
    suspicion_confirmations: u32,
    /// Sets [`SwimConfig::max_dormancy`].
    max_dormancy: Duration,
}

impl SwimConfig {
    /// The longest a member that falls silent can stay undetected by a
    /// detector with `members` other members, provided the caller calls
    /// [`handle_timeout`](super::FailureDetector::handle_timeout) at every
    /// [`next_deadline`](super::FailureDetector::next_deadline).
    ///
    /// [`detection_bound_at_health`](Self::detection_bound_at_health) for the
    /// highest local health multiplier the detector may reach
    /// ([`max_local_health`](Self::max_local_health) with Lifeguard on, 0
    /// without): a slow node stretches its own probe periods, and the bound
    /// has to allow for it.
    #[must_use]
    pub fn detection_bound(&self, members: usize) -> Duration {
        self.detection_bound_at_health(members, self.max_local_health)
    }

    /// [`detection_bound`](Self::detection_bound) for a detector whose local
    /// health multiplier never exceeds `health` (for instance 0 on a healthy
    /// node whose probes succeed and whose intermediaries answer).
    ///
    /// `((suspicion_threshold + 1) × members + 1) × probe_interval × (health + 1)
    /// + max_suspicion_timeout`:
    /// probing is round-robin over a list reshuffled each pass, so the
    /// `threshold`-th probe after the member fell silent ends at the latest
    /// `threshold + 1` passes of `members` periods later (the pass under way
    /// may already have probed it), plus one period for the first round to
    /// start, each period at most `health + 1` times the configured one; then
    /// the suspicion runs out, at the latest after
    /// [`max_suspicion_timeout`](Self::max_suspicion_timeout) (no
    /// confirmation). Contact with the member in the meantime restarts the
    /// count; gossip from other members only makes detection faster.
    /// `health` is capped at what the configuration allows.
    #[must_use]
    pub fn detection_bound_at_health(&self, members: usize, health: u32) -> Duration {
        let passes = u64::from(self.suspicion_threshold).saturating_add(1);
        let periods = passes
            .saturating_mul(u64::try_from(members).unwrap_or(u64::MAX))
            .saturating_add(1);
        let periods = u32::try_from(periods).unwrap_or(u32::MAX);
        let scale = health.min(self.health_cap()).saturating_add(1);
        self.probe_interval
            .saturating_mul(periods)
            .saturating_mul(scale)
            .saturating_add(self.max_suspicion_timeout())
    }

    /// The longest a suspicion runs before the member is declared
    /// unreachable: `suspicion_timeout × suspicion_max_multiplier` with
    /// Lifeguard on (an unconfirmed suspicion), `suspicion_timeout` without.
    #[must_use]
    pub fn max_suspicion_timeout(&self) -> Duration {
        let multiplier = if self.lifeguard {
            self.suspicion_max_multiplier.max(1)
        } else {
            1
        };
        self.suspicion_timeout.saturating_mul(multiplier)
    }

    /// The highest local health multiplier in force: 0 without Lifeguard.
    pub(crate) fn health_cap(&self) -> u32 {
        if self.lifeguard {
            self.max_local_health
        } else {
            0
        }
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
        let classic = SwimConfig::default().lifeguard(false);
        // ((3 + 1) × 7 + 1) × 1 s + 8 s
        assert_eq!(classic.detection_bound(7), Duration::from_secs(37));
        assert_eq!(
            classic.detection_bound_at_health(7, 8),
            Duration::from_secs(37)
        );
        let lifeguard = SwimConfig::default();
        // ((3 + 1) × 7 + 1) × 1 s × (8 + 1) + 8 s × 6
        assert_eq!(
            lifeguard.detection_bound(7),
            Duration::from_secs(29 * 9 + 48)
        );
        assert_eq!(
            lifeguard.detection_bound_at_health(7, 0),
            Duration::from_secs(29 + 48)
        );
        assert_eq!(
            lifeguard.detection_bound_at_health(7, 100),
            lifeguard.detection_bound(7)
        );
        assert_eq!(
            lifeguard
                .max_local_health(0)
                .suspicion_max_multiplier(0)
                .detection_bound(7),
            Duration::from_secs(37)
        );
    }
}
