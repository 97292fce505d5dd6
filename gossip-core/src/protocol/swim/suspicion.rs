//! Lifeguard's local-health-aware suspicion: a suspicion starts long and
//! shortens as other members independently confirm it.

use std::collections::BTreeSet;

use crate::domain::NodeId;

/// A running suspicion of one member, at one incarnation.
///
/// It lasts `max_ms` while unconfirmed, and shrinks logarithmically towards
/// `min_ms` as distinct members gossip the same suspicion, reaching it at
/// `expected` confirmations (see [`timeout_ms`]). With `min_ms == max_ms` it
/// is SWIM's fixed suspicion timeout.
#[derive(Debug, Clone)]
pub(super) struct Suspicion {
    started: u64,
    min_ms: u64,
    max_ms: u64,
    expected: u32,
    /// Who raised it, if it came from gossip: not counted as a confirmation.
    origin: Option<NodeId>,
    /// Distinct members that confirmed it, at most `expected`.
    confirmers: BTreeSet<NodeId>,
}

impl Suspicion {
    /// A suspicion started at `started`, raised by `origin` (`None` when
    /// this node's own probes raised it), expecting `expected` confirmations.
    pub(super) fn new(
        started: u64,
        min_ms: u64,
        max_ms: u64,
        expected: u32,
        origin: Option<NodeId>,
    ) -> Self {
        Self {
            started,
            min_ms,
            max_ms: max_ms.max(min_ms),
            expected,
            origin,
            confirmers: BTreeSet::new(),
        }
    }

    /// Records that `from` holds the same suspicion. Returns whether it
    /// counted: not the origin, not a member already counted, and not past
    /// the expected number (so the set stays bounded).
    pub(super) fn confirm(&mut self, from: &NodeId) -> bool {
        if self.origin.as_ref() == Some(from)
            || self.confirmers.len() >= usize::try_from(self.expected).unwrap_or(usize::MAX)
        {
            return false;
        }
        self.confirmers.insert(from.clone())
    }

    /// The confirmations counted so far.
    pub(super) fn confirmations(&self) -> u32 {
        u32::try_from(self.confirmers.len()).unwrap_or(u32::MAX)
    }

    /// When the suspicion runs out, given the confirmations so far.
    pub(super) fn deadline(&self) -> u64 {
        let timeout = timeout_ms(
            self.confirmations(),
            self.expected,
            self.min_ms,
            self.max_ms,
        );
        self.started.saturating_add(timeout)
    }
}

/// The suspicion timeout after `confirmations` of `expected`:
/// `max − (max − min) × log(c + 1) / log(k + 1)`, never below `min`, and
/// `min` when no confirmation can be expected (`expected == 0`), as in
/// memberlist's `suspicion.go`.
pub(super) fn timeout_ms(confirmations: u32, expected: u32, min_ms: u64, max_ms: u64) -> u64 {
    if expected == 0 || max_ms <= min_ms {
        return min_ms;
    }
    let fraction = (f64::from(confirmations) + 1.0).ln() / (f64::from(expected) + 1.0).ln();
    let span = (max_ms - min_ms) as f64;
    let timeout = (max_ms as f64 - fraction.clamp(0.0, 1.0) * span).floor();
    // In range [min, max] by construction; the cast saturates anyway.
    (timeout as u64).clamp(min_ms, max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::from_seed(s)
    }

    #[test]
    fn timeout_shrinks_logarithmically_from_max_to_min() {
        let (min, max) = (8_000, 48_000);
        let steps: Vec<u64> = (0..=4).map(|c| timeout_ms(c, 3, min, max)).collect();
        // c = 0: max; c = k: min; in between, log-shaped (big first step).
        assert_eq!(steps[0], 48_000);
        assert_eq!(steps[1], 28_000); // 48 − 40 × ln 2 / ln 4
        assert_eq!(steps[2], 16_300); // 48 − 40 × ln 3 / ln 4 = 16.30…
        assert_eq!(steps[3], 8_000);
        assert_eq!(steps[4], 8_000, "clamped at min");
        assert!(steps[0] - steps[1] > steps[1] - steps[2]);
    }

    #[test]
    fn fixed_when_nothing_to_expect_or_no_range() {
        assert_eq!(timeout_ms(0, 0, 5_000, 30_000), 5_000);
        assert_eq!(timeout_ms(0, 3, 5_000, 5_000), 5_000);
        assert_eq!(timeout_ms(2, 3, 5_000, 1_000), 5_000);
    }

    #[test]
    fn distinct_confirmations_shorten_the_deadline_origin_and_repeats_do_not() {
        let mut s = Suspicion::new(1_000, 8_000, 48_000, 3, Some(id("origin")));
        assert_eq!(s.deadline(), 49_000);
        assert!(!s.confirm(&id("origin")));
        assert!(s.confirm(&id("b")));
        assert!(!s.confirm(&id("b")));
        assert_eq!(s.confirmations(), 1);
        assert_eq!(s.deadline(), 29_000);
        assert!(s.confirm(&id("c")));
        assert!(s.confirm(&id("d")));
        assert_eq!(s.deadline(), 9_000);
        // Bounded: a fourth confirmer is not even stored.
        assert!(!s.confirm(&id("e")));
        assert_eq!(s.confirmations(), 3);
    }
}
