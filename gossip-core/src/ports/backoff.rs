//! Reconnect delays for transports: exponential with jitter, replayable from
//! a seed. Shared by the TCP and libp2p transports, and public so that
//! third-party transports back off the same way.

use std::time::Duration;

use crate::domain::SeededRng;

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
    fn zero_min_is_zero_delay() {
        let mut rng = SeededRng::new(3);
        assert_eq!(
            reconnect_delay(5, Duration::ZERO, Duration::ZERO, &mut rng),
            Duration::ZERO
        );
    }
}
