//! Reconnect delays for transports: exponential with jitter, replayable from
//! a seed. [`ReconnectPolicy`] is the setting the TCP and libp2p transports
//! embed in their configurations; public so that third-party transports back
//! off the same way.
//!
//! ```
//! use gossip_core::ReconnectPolicy;
//! use std::time::Duration;
//!
//! let policy = ReconnectPolicy::default()
//!     .backoff(Duration::from_millis(50), Duration::from_secs(10))
//!     .seed(7);
//! let mut rng = policy.rng(b"node-a");
//! let first = policy.delay(1, &mut rng);
//! assert!(first >= Duration::from_millis(25) && first <= Duration::from_millis(50));
//! ```

use std::time::Duration;

use crate::domain::SeededRng;

/// How a transport waits before dialing a peer again after failed attempts:
/// [`reconnect_delay`] between [`backoff_min`](Self::backoff_min) and
/// [`backoff_max`](Self::backoff_max), jittered from [`seed`](Self::seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The first delay after a failed attempt. Default 100 ms.
    pub backoff_min: Duration,
    /// The longest delay (at least `backoff_min`). Default 30 s.
    pub backoff_max: Duration,
    /// Seed of the jitter, mixed with the local node's identity (see
    /// [`rng`](Self::rng)) so that nodes sharing a configuration do not
    /// retry in lockstep. Default 0.
    pub seed: u64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            seed: 0,
        }
    }
}

impl ReconnectPolicy {
    /// Sets [`backoff_min`](Self::backoff_min) and [`backoff_max`](Self::backoff_max).
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// Sets [`seed`](Self::seed).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The jitter source of the node whose identity bytes are `identity`
    /// ([`jitter_seed`] of the policy's seed).
    #[must_use]
    pub fn rng(&self, identity: &[u8]) -> SeededRng {
        SeededRng::new(jitter_seed(self.seed, identity))
    }

    /// The delay after `failures` consecutive failures: [`reconnect_delay`]
    /// within this policy's bounds.
    #[must_use]
    pub fn delay(&self, failures: u32, rng: &mut SeededRng) -> Duration {
        reconnect_delay(failures, self.backoff_min, self.backoff_max, rng)
    }

    /// Checks the bounds.
    ///
    /// # Errors
    ///
    /// A message when `backoff_min` exceeds `backoff_max`.
    pub fn validate(&self) -> Result<(), String> {
        if self.backoff_min > self.backoff_max {
            return Err(format!(
                "backoff_min {:?} exceeds backoff_max {:?}",
                self.backoff_min, self.backoff_max
            ));
        }
        Ok(())
    }
}

/// The delay before the next connection attempt after `failures`
/// consecutive failures (at least 1): `min · 2^(failures − 1)`, capped at
/// `max`, then jittered uniformly into its upper half (`[d/2, d]`) so that
/// peers which lost each other at the same moment do not retry in lockstep.
///
/// ```
/// use gossip_core::raw::{reconnect_delay, SeededRng};
/// use std::time::Duration;
///
/// let (min, max) = (Duration::from_millis(100), Duration::from_secs(30));
/// let mut rng = SeededRng::new(7);
/// let third = reconnect_delay(3, min, max, &mut rng); // base 400 ms
/// assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
/// assert!(reconnect_delay(40, min, max, &mut rng) <= max);
/// ```
#[must_use]
pub fn reconnect_delay(
    failures: u32,
    min: Duration,
    max: Duration,
    rng: &mut SeededRng,
) -> Duration {
    let exponent = failures.saturating_sub(1).min(31);
    let base = min.saturating_mul(1u32 << exponent).min(max);
    let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
    let half = nanos / 2;
    let jitter = rng.below(nanos - half + 1);
    Duration::from_nanos(half + jitter)
}

/// A jitter seed for one node: `seed` mixed with the node's identity bytes
/// (FNV-1a), so nodes configured with the same seed still jitter apart.
///
/// ```
/// use gossip_core::raw::jitter_seed;
///
/// assert_ne!(jitter_seed(0, b"node-a"), jitter_seed(0, b"node-b"));
/// assert_eq!(jitter_seed(5, b"node-a"), jitter_seed(5, b"node-a"));
/// ```
#[must_use]
pub fn jitter_seed(seed: u64, identity: &[u8]) -> u64 {
    let fnv1a = identity
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    seed ^ fnv1a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut rng = SeededRng::new(1);
        for failures in 1..=40u32 {
            let base = min.saturating_mul(1 << (failures - 1).min(31)).min(max);
            for _ in 0..20 {
                let d = reconnect_delay(failures, min, max, &mut rng);
                assert!(
                    d >= base / 2 && d <= base,
                    "{failures}: {d:?} outside [{:?}, {base:?}]",
                    base / 2
                );
            }
        }
    }

    #[test]
    fn jitter_varies_and_replays_from_the_seed() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(30));
        let run = |seed| {
            let mut rng = SeededRng::new(seed);
            (0..8)
                .map(|_| reconnect_delay(4, min, max, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        let delays = run(9);
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "no jitter: {delays:?}"
        );
    }

    #[test]
    fn policy_delays_within_its_bounds_and_replays_per_identity() {
        let policy = ReconnectPolicy::default()
            .backoff(Duration::from_millis(10), Duration::from_millis(40))
            .seed(3);
        assert_eq!(policy.validate(), Ok(()));
        let run = |identity: &[u8]| {
            let mut rng = policy.rng(identity);
            (1..=6)
                .map(|failures| policy.delay(failures, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(b"a"), run(b"a"));
        assert_ne!(run(b"a"), run(b"b"));
        assert!(run(b"a")
            .iter()
            .all(|d| *d >= Duration::from_millis(5) && *d <= Duration::from_millis(40)));
    }

    #[test]
    fn policy_refuses_min_over_max() {
        let policy =
            ReconnectPolicy::default().backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert!(policy.validate().is_err());
        assert_eq!(ReconnectPolicy::default().validate(), Ok(()));
    }

    #[test]
    fn zero_min_is_zero_delay() {
        let mut rng = SeededRng::new(3);
        assert_eq!(
            reconnect_delay(5, Duration::ZERO, Duration::ZERO, &mut rng),
            Duration::ZERO
        );
    }
}
