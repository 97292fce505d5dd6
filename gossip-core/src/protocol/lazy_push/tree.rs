//! [`PushTree`]: one channel's eager links (the push tree); every other
//! member is a lazy link.

use std::collections::BTreeSet;

use crate::domain::{Channel, NodeId, SeededRng};

/// The members this node pushes a channel's new entries to at once (eager
/// links); the other members only hear of them in announcements (lazy
/// links).
///
/// Formed on first use from `fanout` random members; a duplicate push
/// demotes its sender (PRUNE), a first delivery or a graft promotes it, as
/// in PlumTree. Only members of the channel are ever eager, so the set is
/// bounded by the channel's membership.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushTree {
    eager: BTreeSet<NodeId>,
    formed: bool,
}

impl PushTree {
    /// Forms the tree on first use and forgets links to non-members.
    pub(crate) fn refresh(
        &mut self,
        channel: &Channel,
        local: &NodeId,
        fanout: usize,
        rng: &mut SeededRng,
    ) {
        if !self.formed {
            self.formed = true;
            let mut members: Vec<NodeId> =
                channel.members().filter(|m| *m != local).cloned().collect();
            rng.shuffle(&mut members);
            self.eager.extend(members.into_iter().take(fanout));
        }
        self.eager.retain(|m| channel.syncs_with(m) && m != local);
    }

    /// The eager links.
    pub(crate) fn eager(&self) -> &BTreeSet<NodeId> {
        &self.eager
    }

    /// Makes `peer` an eager link.
    pub(crate) fn promote(&mut self, peer: &NodeId) {
        self.eager.insert(peer.clone());
    }

    /// Makes `peer` a lazy link; whether it was eager.
    pub(crate) fn demote(&mut self, peer: &NodeId) -> bool {
        self.eager.remove(peer)
    }

    /// The lazy links: members other than `local` and the eager links.
    pub(crate) fn lazy(&self, channel: &Channel, local: &NodeId) -> Vec<NodeId> {
        channel
            .members()
            .filter(|m| *m != local && !self.eager.contains(*m))
            .cloned()
            .collect()
    }
}
