//! [`Engines`]: the pure protocol engines the node task drives, and their randomness.

use std::time::Duration;

use crate::{
    domain::{NodeId, PeerStatus, SeededRng},
    node::config::Config,
    protocol::{
        anti_entropy::AntiEntropy, lazy_push::LazyPush, push::EagerPush, swim::FailureDetector,
    },
};

/// SWIM, anti-entropy, eager and lazy push, each with its own fork of the node's
/// seeded randomness (forked in a fixed order, so a seed replays a run).
#[derive(Debug)]
pub(crate) struct Engines {
    pub(crate) swim: FailureDetector,
    pub(crate) anti_entropy: AntiEntropy,
    pub(crate) push: EagerPush,
    pub(crate) lazy: LazyPush,
    rng: SeededRng,
}

impl Engines {
    /// The engines of node `local`, configured and seeded by `config`.
    pub(crate) fn new(local: NodeId, config: &Config) -> Self {
        let mut rng = SeededRng::new(config.seed);
        let swim = FailureDetector::new(local, config.swim.clone(), rng.fork());
        let anti_entropy = AntiEntropy::new(rng.fork());
        let push = EagerPush::new(config.push_fanout, rng.fork());
        let lazy = LazyPush::new(config.push_fanout, config.lazy_push.clone(), rng.fork());
        Self {
            swim,
            anti_entropy,
            push,
            lazy,
            rng,
        }
    }

    /// A random delay of up to a tenth of `interval`, so that nodes started
    /// together do not gossip in lockstep.
    pub(crate) fn gossip_jitter(&mut self, interval: Duration) -> Duration {
        let tenth = u64::try_from(interval.as_millis() / 10).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.below(tenth.saturating_add(1)))
    }

    /// What SWIM believes of `peer`; a peer it does not track is reachable.
    pub(crate) fn status(&self, peer: &NodeId) -> PeerStatus {
        self.swim.status(peer).unwrap_or(PeerStatus::Reachable)
    }

    /// Whether `peer` is worth sending to: not declared unreachable, and
    /// not dormant (paused, as it announced).
    pub(crate) fn reachable(&self, peer: &NodeId) -> bool {
        worth_sending(self.swim.status(peer))
    }
}

/// Whether a peer whose SWIM status is `status` (`None`: not tracked) is
/// worth sending to.
pub(crate) fn worth_sending(status: Option<PeerStatus>) -> bool {
    !matches!(status, Some(PeerStatus::Unreachable | PeerStatus::Dormant))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    #[test]
    fn the_seed_replays_the_jitter_and_bounds_it() {
        let interval = Duration::from_millis(200);
        let config = Config::default().seed(7);
        let mut a = Engines::new(node("a"), &config);
        let mut b = Engines::new(node("a"), &config);
        let run_a: Vec<Duration> = (0..32).map(|_| a.gossip_jitter(interval)).collect();
        let run_b: Vec<Duration> = (0..32).map(|_| b.gossip_jitter(interval)).collect();
        assert_eq!(run_a, run_b);
        assert!(run_a.iter().all(|j| *j <= Duration::from_millis(20)));
        assert!(run_a.iter().any(|j| !j.is_zero()));
    }

    #[test]
    fn swim_takes_the_nested_config_and_unknown_peers_count_as_reachable() {
        let config = Config::default().swim(
            crate::protocol::swim::SwimConfig::default().probe_interval(Duration::from_secs(3)),
        );
        let mut engines = Engines::new(node("a"), &config);
        assert_eq!(engines.swim.config(), &config.swim);
        assert!(engines.reachable(&node("b")));
        engines.swim.add_member(node("b"), 0);
        assert_eq!(engines.status(&node("b")), PeerStatus::Reachable);
        assert_eq!(engines.push.fanout(), config.push_fanout);
    }
}
