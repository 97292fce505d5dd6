//! [`Timers`]: the node task's time base and the deadlines of its periodic work.

use std::time::Duration;

use tokio::time::Instant;

/// When the node task started, and when the next gossip round and retention
/// pass are due. SWIM's deadlines are milliseconds since [`Timers::now_ms`]'s
/// epoch.
#[derive(Debug)]
pub(crate) struct Timers {
    epoch: Instant,
    next_gossip: Instant,
    next_retention: Instant,
}

impl Timers {
    /// Timers starting now: a gossip round is due at once, retention after
    /// one `retention_interval`.
    pub(crate) fn new(retention_interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            epoch: now,
            next_gossip: now,
            next_retention: now + retention_interval,
        }
    }

    /// Monotonic milliseconds since the node task started (SWIM's time base).
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant `ms` milliseconds after the epoch.
    pub(crate) fn at_ms(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// When the next gossip round is due.
    pub(crate) fn next_gossip(&self) -> Instant {
        self.next_gossip
    }

    /// When the next retention pass is due.
    pub(crate) fn next_retention(&self) -> Instant {
        self.next_retention
    }

    /// Makes a gossip round due at once (on start and resume).
    pub(crate) fn gossip_now(&mut self) {
        self.next_gossip = Instant::now();
    }

    /// Schedules the next gossip round one `interval` plus `jitter` from now.
    pub(crate) fn schedule_gossip(&mut self, interval: Duration, jitter: Duration) {
        self.next_gossip = Instant::now() + interval + jitter;
    }

    /// Schedules the next retention pass one `interval` from now.
    pub(crate) fn schedule_retention(&mut self, interval: Duration) {
        self.next_retention = Instant::now() + interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_epoch_is_the_start_and_deadlines_follow_the_clock() {
        let mut timers = Timers::new(Duration::from_secs(30));
        let start = Instant::now();
        assert_eq!(timers.now_ms(), 0);
        assert_eq!(timers.next_gossip(), start);
        assert_eq!(timers.next_retention(), start + Duration::from_secs(30));

        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert_eq!(timers.now_ms(), 1_500);
        assert_eq!(timers.at_ms(2_000), start + Duration::from_secs(2));

        timers.schedule_gossip(Duration::from_millis(200), Duration::from_millis(7));
        assert_eq!(timers.next_gossip(), start + Duration::from_millis(1_707));
        timers.schedule_retention(Duration::from_secs(1));
        assert_eq!(
            timers.next_retention(),
            start + Duration::from_millis(2_500)
        );
        timers.gossip_now();
        assert_eq!(timers.next_gossip(), Instant::now());
    }
}
