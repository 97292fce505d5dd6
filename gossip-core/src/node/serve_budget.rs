//! Per-peer serving budgets (DESIGN §11): token buckets on the entries and
//! bytes a node sends each peer in answer to its sync requests, so that a
//! few bytes of request cannot make a node read and send megabytes again and
//! again (amplification).
//!
//! Pure: the caller passes "now" in milliseconds; nothing here reads a clock.

use std::collections::HashMap;

use super::budget::Bucket;
use crate::domain::NodeId;

/// How much a node serves one peer, sustained and in a burst: the entries
/// and bytes of deltas (asked for, or sent to repair the other direction)
/// and of digests.
///
/// A request that finds the peer's budget empty is not answered: it is
/// counted in [`NodeStats::serve_throttled`](crate::NodeStats::serve_throttled)
/// and reported once per episode as [`Error::ServeThrottled`](crate::Error::ServeThrottled).
/// A request that finds it partly spent gets what fits, marked `more`, and
/// the peer asks again later. An honest peer is never refused for long: its
/// next anti-entropy round asks again.
///
/// The defaults let a fresh node take its first quarter of a million
/// entries from one peer at full speed (the burst) and 65 536 a second
/// after that, and bound what a member can make this node read and send by
/// asking for the same entries over and over to what one core serves
/// without strain (the soak run in BENCHMARKS.md measured the cost).
///
/// ```
/// use gossip_core::{Config, ServeBudget};
///
/// let config = Config::default()
///     .serve_budget(ServeBudget::default().entries_per_second(50_000));
/// assert_eq!(config.serve_budget.entries_per_second, 50_000);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeBudget {
    /// Sustained entries per second served per peer. Default 65 536.
    pub entries_per_second: u64,
    /// Sustained bytes per second served per peer (payloads of entries,
    /// digests by their encoded size). Default 64 MiB/s.
    pub bytes_per_second: u64,
    /// How many seconds' worth a peer may be served at once after being
    /// quiet. Default 4.
    pub burst_seconds: u64,
}

impl Default for ServeBudget {
    fn default() -> Self {
        Self {
            entries_per_second: 1 << 16,
            bytes_per_second: 64 << 20,
            burst_seconds: 4,
        }
    }
}

impl ServeBudget {
    /// No budget: every request is answered in full (a rate of `u64::MAX`
    /// means no limit).
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            entries_per_second: u64::MAX,
            bytes_per_second: u64::MAX,
            burst_seconds: 1,
        }
    }

    /// Sets [`entries_per_second`](Self::entries_per_second).
    #[must_use]
    pub fn entries_per_second(mut self, value: u64) -> Self {
        self.entries_per_second = value;
        self
    }

    /// Sets [`bytes_per_second`](Self::bytes_per_second).
    #[must_use]
    pub fn bytes_per_second(mut self, value: u64) -> Self {
        self.bytes_per_second = value;
        self
    }

    /// Sets [`burst_seconds`](Self::burst_seconds).
    #[must_use]
    pub fn burst_seconds(mut self, value: u64) -> Self {
        self.burst_seconds = value;
        self
    }
}

#[derive(Debug, Clone, Copy)]
struct PeerServing {
    entries: Bucket,
    bytes: Bucket,
    last_ms: u64,
    throttling: bool,
}

/// What a peer may be served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowance {
    /// Up to this many entries and bytes.
    Serve {
        /// Entries.
        entries: u64,
        /// Bytes.
        bytes: u64,
    },
    /// Nothing, and the first refusal since the peer was last served:
    /// worth reporting.
    ThrottlingStarted,
    /// Nothing; already reported.
    Throttled,
}

/// The serving budgets of every peer.
#[derive(Debug)]
pub(crate) struct ServeBudgets {
    budget: ServeBudget,
    peers: HashMap<NodeId, PeerServing>,
}

impl ServeBudgets {
    pub(crate) fn new(budget: ServeBudget) -> Self {
        Self {
            budget,
            peers: HashMap::new(),
        }
    }

    fn refilled(&mut self, peer: &NodeId, now_ms: u64) -> &mut PeerServing {
        let ServeBudget {
            entries_per_second: eps,
            bytes_per_second: bps,
            burst_seconds: burst,
        } = self.budget;
        let state = self.peers.entry(peer.clone()).or_insert(PeerServing {
            entries: Bucket::full(eps, burst),
            bytes: Bucket::full(bps, burst),
            last_ms: now_ms,
            throttling: false,
        });
        let elapsed = now_ms.saturating_sub(state.last_ms);
        state.last_ms = state.last_ms.max(now_ms);
        state.entries.refill(eps, burst, elapsed);
        state.bytes.refill(bps, burst, elapsed);
        state
    }

    /// What `peer` may be served at `now_ms`.
    pub(crate) fn allowance(&mut self, peer: &NodeId, now_ms: u64) -> Allowance {
        let (eps, bps) = (self.budget.entries_per_second, self.budget.bytes_per_second);
        let state = self.refilled(peer, now_ms);
        let (entries, bytes) = (state.entries.available(eps), state.bytes.available(bps));
        if entries > 0 && bytes > 0 {
            state.throttling = false;
            Allowance::Serve { entries, bytes }
        } else if state.throttling {
            Allowance::Throttled
        } else {
            state.throttling = true;
            Allowance::ThrottlingStarted
        }
    }

    /// Charges what was served to `peer`.
    pub(crate) fn charge(&mut self, peer: &NodeId, entries: u64, bytes: u64, now_ms: u64) {
        let (eps, bps) = (self.budget.entries_per_second, self.budget.bytes_per_second);
        let state = self.refilled(peer, now_ms);
        state
            .entries
            .spend(eps, u128::from(entries).saturating_mul(1_000));
        state
            .bytes
            .spend(bps, u128::from(bytes).saturating_mul(1_000));
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
    fn a_peer_asking_again_and_again_is_served_its_budget_then_refused_once_reported() {
        let mut budgets = ServeBudgets::new(
            ServeBudget::default()
                .entries_per_second(100)
                .bytes_per_second(1_000_000)
                .burst_seconds(1),
        );
        let greedy = peer("greedy");
        let mut served = 0;
        let mut outcomes = Vec::new();
        for _ in 0..10 {
            match budgets.allowance(&greedy, 0) {
                Allowance::Serve { entries, .. } => {
                    let n = entries.min(40);
                    budgets.charge(&greedy, n, n * 10, 0);
                    served += n;
                }
                other => outcomes.push(other),
            }
        }
        assert_eq!(served, 100, "one second's burst, no more");
        assert_eq!(
            outcomes.first(),
            Some(&Allowance::ThrottlingStarted),
            "the first refusal is worth reporting"
        );
        assert!(outcomes.iter().skip(1).all(|a| *a == Allowance::Throttled));
        // 100 ms later ten entries' worth has refilled.
        assert_eq!(
            budgets.allowance(&greedy, 100),
            Allowance::Serve {
                entries: 10,
                bytes: 1_000_000
            }
        );
    }

    #[test]
    fn bytes_bound_too_and_one_peer_does_not_spend_anothers() {
        let mut budgets = ServeBudgets::new(
            ServeBudget::default()
                .bytes_per_second(1_000)
                .burst_seconds(1),
        );
        let (greedy, quiet) = (peer("greedy"), peer("quiet"));
        budgets.charge(&greedy, 1, 5_000, 0);
        assert_eq!(budgets.allowance(&greedy, 0), Allowance::ThrottlingStarted);
        assert!(matches!(
            budgets.allowance(&quiet, 0),
            Allowance::Serve { bytes: 1_000, .. }
        ));
        // An hour of silence refills one burst, no more.
        assert!(matches!(
            budgets.allowance(&greedy, 3_600_000),
            Allowance::Serve { bytes: 1_000, .. }
        ));
        let mut open = ServeBudgets::new(ServeBudget::unlimited());
        open.charge(&greedy, u64::MAX, u64::MAX, 0);
        assert_eq!(
            open.allowance(&greedy, 0),
            Allowance::Serve {
                entries: u64::MAX,
                bytes: u64::MAX
            }
        );
    }
}
