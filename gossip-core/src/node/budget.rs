//! Per-peer inbound budgets (DESIGN §11): token buckets on the bytes and the
//! frames each peer may send, so one noisy peer cannot starve the others.
//!
//! Pure: the caller passes "now" in milliseconds; nothing here reads a clock.

use std::collections::HashMap;

use crate::domain::NodeId;

/// How much one peer may send a node, sustained and in a burst.
///
/// A frame over budget is dropped before it is decoded, counted in
/// [`NodeStats::throttled_frames`](crate::NodeStats::throttled_frames), and
/// reported once per throttling episode as [`Error::Throttled`](crate::Error::Throttled).
/// Anti-entropy repairs whatever was dropped once the peer slows down.
///
/// The defaults are far above what the protocol sends on its own (a full
/// catch-up included), so only a misbehaving peer meets them.
///
/// ```
/// use gossip_core::{Config, InboundBudget};
///
/// let config = Config::default().inbound_budget(
///     InboundBudget::default().bytes_per_second(8 << 20).frames_per_second(2_000),
/// );
/// assert_eq!(config.inbound_budget.frames_per_second, 2_000);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundBudget {
    /// Sustained bytes per second per peer. Default 256 MiB/s.
    pub bytes_per_second: u64,
    /// Sustained frames per second per peer. Default 20 000.
    pub frames_per_second: u64,
    /// How many seconds' worth a peer may send at once after being quiet. Default 2.
    pub burst_seconds: u64,
}

impl Default for InboundBudget {
    fn default() -> Self {
        Self {
            bytes_per_second: 256 << 20,
            frames_per_second: 20_000,
            burst_seconds: 2,
        }
    }
}

impl InboundBudget {
    /// No budget: every frame is admitted (a rate of `u64::MAX` means no limit).
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            bytes_per_second: u64::MAX,
            frames_per_second: u64::MAX,
            burst_seconds: 1,
        }
    }

    /// Sets [`bytes_per_second`](Self::bytes_per_second).
    #[must_use]
    pub fn bytes_per_second(mut self, value: u64) -> Self {
        self.bytes_per_second = value;
        self
    }

    /// Sets [`frames_per_second`](Self::frames_per_second).
    #[must_use]
    pub fn frames_per_second(mut self, value: u64) -> Self {
        self.frames_per_second = value;
        self
    }

    /// Sets [`burst_seconds`](Self::burst_seconds).
    #[must_use]
    pub fn burst_seconds(mut self, value: u64) -> Self {
        self.burst_seconds = value;
        self
    }
}

/// One token bucket, in thousandths of a unit so refills stay exact at
/// millisecond resolution.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    milli_tokens: u128,
}

impl Bucket {
    pub(super) fn full(per_second: u64, burst_seconds: u64) -> Self {
        Self {
            milli_tokens: capacity(per_second, burst_seconds),
        }
    }

    pub(super) fn refill(&mut self, per_second: u64, burst_seconds: u64, elapsed_ms: u64) {
        // `per_second` units per 1 000 ms = `per_second` milli-units per ms.
        let added = u128::from(per_second) * u128::from(elapsed_ms);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(added)
            .min(capacity(per_second, burst_seconds));
    }
}

impl Bucket {
    /// `u64::MAX` per second means no limit.
    pub(super) fn affords(&self, per_second: u64, cost: u128) -> bool {
        per_second == u64::MAX || self.milli_tokens >= cost
    }

    /// Whole units available now (`u64::MAX` when unlimited).
    pub(super) fn available(&self, per_second: u64) -> u64 {
        if per_second == u64::MAX {
            u64::MAX
        } else {
            u64::try_from(self.milli_tokens / 1_000).unwrap_or(u64::MAX)
        }
    }

    pub(super) fn spend(&mut self, per_second: u64, cost: u128) {
        if per_second != u64::MAX {
            self.milli_tokens = self.milli_tokens.saturating_sub(cost);
        }
    }
}

fn capacity(per_second: u64, burst_seconds: u64) -> u128 {
    u128::from(per_second) * u128::from(burst_seconds.max(1)) * 1_000
}

#[derive(Debug, Clone, Copy)]
struct PeerBudget {
    bytes: Bucket,
    frames: Bucket,
    last_ms: u64,
    throttling: bool,
}

/// What [`InboundBudgets::admit`] decided about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Within budget.
    Admitted,
    /// Over budget, and the first frame dropped since the peer was last
    /// within budget: worth reporting.
    ThrottlingStarted,
    /// Over budget, throttling already reported.
    Throttled,
}

/// The budgets of every peer a node hears from.
#[derive(Debug)]
pub(crate) struct InboundBudgets {
    budget: InboundBudget,
    peers: HashMap<NodeId, PeerBudget>,
}

impl InboundBudgets {
    pub(crate) fn new(budget: InboundBudget) -> Self {
        Self {
            budget,
            peers: HashMap::new(),
        }
    }

    /// Charges a frame of `len` bytes from `peer` at `now_ms`.
    pub(crate) fn admit(&mut self, peer: &NodeId, len: usize, now_ms: u64) -> Admission {
        let InboundBudget {
            bytes_per_second: bps,
            frames_per_second: fps,
            burst_seconds: burst,
        } = self.budget;
        let state = self.peers.entry(peer.clone()).or_insert(PeerBudget {
            bytes: Bucket::full(bps, burst),
            frames: Bucket::full(fps, burst),
            last_ms: now_ms,
            throttling: false,
        });
        let elapsed = now_ms.saturating_sub(state.last_ms);
        state.last_ms = state.last_ms.max(now_ms);
        state.bytes.refill(bps, burst, elapsed);
        state.frames.refill(fps, burst, elapsed);
        let byte_cost = u128::try_from(len)
            .unwrap_or(u128::MAX)
            .saturating_mul(1_000);
        if state.bytes.affords(bps, byte_cost) && state.frames.affords(fps, 1_000) {
            state.bytes.spend(bps, byte_cost);
            state.frames.spend(fps, 1_000);
            state.throttling = false;
            Admission::Admitted
        } else if state.throttling {
            Admission::Throttled
        } else {
            state.throttling = true;
            Admission::ThrottlingStarted
        }
    }

    /// Forgets a peer (removed from the node).
    pub(crate) fn forget(&mut self, peer: &NodeId) {
        self.peers.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    #[test]
    fn a_flood_of_frames_is_cut_at_the_burst_and_reported_once() {
        let mut budgets = InboundBudgets::new(
            InboundBudget::default()
                .frames_per_second(10)
                .burst_seconds(1),
        );
        let noisy = peer("noisy");
        let admitted = (0..100)
            .map(|_| budgets.admit(&noisy, 10, 0))
            .filter(|a| *a == Admission::Admitted)
            .count();
        assert_eq!(admitted, 10, "one second's burst");
        // The 11th frame started throttling; later ones are quiet.
        assert_eq!(budgets.admit(&noisy, 10, 0), Admission::Throttled);
        // 100 ms later one more frame's worth has refilled.
        assert_eq!(budgets.admit(&noisy, 10, 100), Admission::Admitted);
        assert_eq!(budgets.admit(&noisy, 10, 100), Admission::ThrottlingStarted);
    }

    #[test]
    fn one_noisy_peer_does_not_spend_another_peers_budget() {
        let mut budgets = InboundBudgets::new(
            InboundBudget::default()
                .bytes_per_second(1_000)
                .burst_seconds(1),
        );
        let (noisy, quiet) = (peer("noisy"), peer("quiet"));
        assert_eq!(budgets.admit(&noisy, 1_000, 0), Admission::Admitted);
        assert_eq!(budgets.admit(&noisy, 1, 0), Admission::ThrottlingStarted);
        assert_eq!(budgets.admit(&quiet, 1_000, 0), Admission::Admitted);
    }

    #[test]
    fn refills_are_capped_at_the_burst_and_unlimited_admits_everything() {
        let mut budgets = InboundBudgets::new(
            InboundBudget::default()
                .frames_per_second(5)
                .burst_seconds(2),
        );
        let p = peer("p");
        // An hour of silence refills only two seconds' worth.
        assert_eq!(budgets.admit(&p, 1, 0), Admission::Admitted);
        let admitted = (0..50)
            .filter(|_| budgets.admit(&p, 1, 3_600_000) == Admission::Admitted)
            .count();
        assert_eq!(admitted, 10);
        let mut open = InboundBudgets::new(InboundBudget::unlimited());
        assert!((0..10_000).all(|_| open.admit(&p, usize::MAX, 0) == Admission::Admitted));
    }
}
