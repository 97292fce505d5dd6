//! Lifeguard's local health multiplier: how far this node distrusts its own
//! timeliness, and how much it stretches its probe timings because of it.

/// A saturating score from 0 (healthy) to a configured maximum.
///
/// It rises when this node's own probes fail in a way that points at itself
/// (missing acks, missing nacks from intermediaries that should have sent
/// one) and when it has to refute a suspicion about itself; it falls by one
/// with each successful probe. The probe period and the ping timeout are
/// multiplied by `score + 1`, so a node that processes its messages late
/// waits longer before it blames others. With a maximum of 0 the score
/// stays 0 and the timings are SWIM's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LocalHealth {
    score: u32,
    max: u32,
}

impl LocalHealth {
    /// A healthy node (score 0) whose score never exceeds `max`.
    pub(super) fn new(max: u32) -> Self {
        Self { score: 0, max }
    }

    /// The current score, `0..=max`.
    pub(super) fn score(self) -> u32 {
        self.score
    }

    /// Raises the score by `by`, up to the maximum.
    pub(super) fn raise(&mut self, by: u32) {
        self.score = self.score.saturating_add(by).min(self.max);
    }

    /// Lowers the score by one, down to 0.
    pub(super) fn lower(&mut self) {
        self.score = self.score.saturating_sub(1);
    }

    /// `ms` stretched by the multiplier `score + 1`, saturating.
    pub(super) fn scale(self, ms: u64) -> u64 {
        ms.saturating_mul(u64::from(self.score).saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_saturates_at_both_ends_and_scales_timings() {
        let mut health = LocalHealth::new(8);
        assert_eq!(health.score(), 0);
        assert_eq!(health.scale(500), 500);
        health.lower();
        assert_eq!(health.score(), 0, "never below 0");
        health.raise(3);
        assert_eq!(health.score(), 3);
        assert_eq!(health.scale(500), 2_000);
        health.raise(100);
        assert_eq!(health.score(), 8, "never above the maximum");
        assert_eq!(health.scale(1_000), 9_000);
        health.lower();
        assert_eq!(health.score(), 7);
        assert_eq!(health.scale(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_maximum_of_zero_turns_it_off() {
        let mut health = LocalHealth::new(0);
        health.raise(5);
        assert_eq!(health.score(), 0);
        assert_eq!(health.scale(500), 500);
    }
}
