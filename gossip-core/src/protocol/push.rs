//! Eager push: who receives a freshly appended (or freshly merged) entry at once.
//!
//! An append is pushed to every reachable member of a channel of at most
//! `fanout` other members, so a small group converges in one network hop
//! instead of a gossip interval. Anti-entropy repairs whatever a push
//! missed. A larger channel pushes along a tree and announces to the rest
//! instead ([`lazy_push`](super::lazy_push)), so that an entry costs about
//! one frame per member, not members × fanout.
//!
//! ```
//! use gossip_core::protocol::push::EagerPush;
//! use gossip_core::{raw::SeededRng, Channel, ChannelId, NodeId};
//!
//! let me = NodeId::from_seed("a");
//! let mut channel = Channel::new(ChannelId::derive(&me, "c")?, me.clone());
//! channel.add_member(NodeId::from_seed("b"), gossip_core::Role::Writer);
//! let mut push = EagerPush::new(4, SeededRng::new(7));
//! let targets = push.targets(&channel, &me, None, |_| true);
//! assert_eq!(targets, vec![NodeId::from_seed("b")]);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use crate::domain::{Channel, NodeId, SeededRng};

/// Chooses push targets; counts what was pushed and dropped.
#[derive(Debug, Clone)]
pub struct EagerPush {
    fanout: usize,
    rng: SeededRng,
}

impl EagerPush {
    /// Pushes to at most `fanout` members per append.
    #[must_use]
    pub fn new(fanout: usize, rng: SeededRng) -> Self {
        Self { fanout, rng }
    }

    /// The fanout.
    #[must_use]
    pub fn fanout(&self) -> usize {
        self.fanout
    }

    /// Whether a node that accepted pushed entries should forward them: only
    /// when the originator could not reach every member itself (the
    /// channel then pushes along a tree: see
    /// [`LazyPush::uses_tree`](super::lazy_push::LazyPush::uses_tree)).
    #[must_use]
    pub fn forwards(&self, channel: &Channel) -> bool {
        channel.members().len().saturating_sub(1) > self.fanout
    }

    /// Up to `fanout` random members of `channel`, other than `local` and
    /// `exclude` (the node the entries came from), for which `reachable` holds.
    pub fn targets(
        &mut self,
        channel: &Channel,
        local: &NodeId,
        exclude: Option<&NodeId>,
        reachable: impl Fn(&NodeId) -> bool,
    ) -> Vec<NodeId> {
        let mut candidates: Vec<NodeId> = channel
            .members()
            .filter(|m| *m != local && Some(*m) != exclude && reachable(m))
            .cloned()
            .collect();
        if candidates.len() > self.fanout {
            self.rng.shuffle(&mut candidates);
            candidates.truncate(self.fanout);
            candidates.sort();
        }
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChannelId;

    fn channel(n: usize) -> (Channel, Vec<NodeId>) {
        let ids: Vec<NodeId> = (0..n).map(|i| NodeId::from_seed(format!("n{i}"))).collect();
        let mut c = Channel::new(ChannelId::new("c").unwrap(), ids[0].clone());
        for id in &ids[1..] {
            c.add_member(id.clone(), crate::domain::Role::Writer);
        }
        (c, ids)
    }

    #[test]
    fn bounded_fanout_excludes_self_sender_and_unreachable() {
        let (c, ids) = channel(10);
        let mut push = EagerPush::new(3, SeededRng::new(1));
        for _ in 0..50 {
            let t = push.targets(&c, &ids[0], Some(&ids[1]), |n| n != &ids[2]);
            assert_eq!(t.len(), 3);
            assert!(!t.contains(&ids[0]) && !t.contains(&ids[1]) && !t.contains(&ids[2]));
        }
        assert!(push.forwards(&c));
        assert!(!EagerPush::new(9, SeededRng::new(1)).forwards(&c));
    }
}
