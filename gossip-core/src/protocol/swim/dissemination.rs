//! The piggyback queue: the latest update about each node, and how often it
//! was sent.

use std::collections::BTreeMap;

use crate::{
    domain::NodeId,
    protocol::messages::{MemberState, MemberUpdate},
};

#[derive(Debug, Clone)]
struct Pending {
    update: MemberUpdate,
    sent: u32,
}

/// Updates waiting to be piggybacked, at most one per node (a newer update
/// about a node replaces the older one), so the queue is bounded by the
/// membership.
///
/// Beside them, at most one *notice* per node: an update meant for that node
/// alone (a suspicion this node dropped on hearing from the suspect), sent
/// once with the next message to it so it can refute cluster-wide.
#[derive(Debug, Clone, Default)]
pub(super) struct Dissemination {
    pending: BTreeMap<NodeId, Pending>,
    notices: BTreeMap<NodeId, MemberUpdate>,
}

impl Dissemination {
    /// Queues `update`, replacing any older one about the same node.
    pub(super) fn push(&mut self, update: MemberUpdate) {
        self.pending
            .insert(update.node.clone(), Pending { update, sent: 0 });
    }

    /// Queues `update` for its own node only, once.
    pub(super) fn notify(&mut self, update: MemberUpdate) {
        self.notices.insert(update.node.clone(), update);
    }

    /// Forgets the updates about `node`.
    pub(super) fn remove(&mut self, node: &NodeId) {
        self.pending.remove(node);
        self.notices.remove(node);
    }

    /// How many updates are waiting.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Picks at most `max` updates for a message to `to`: the notice for `to`,
    /// then a suspicion about `to` itself (so it can refute at once), then the least-sent,
    /// ties broken by node id. Each pick counts as one transmission; updates
    /// sent `limit` times are dropped.
    pub(super) fn select(&mut self, to: &NodeId, max: usize, limit: u32) -> Vec<MemberUpdate> {
        if max == 0 {
            return Vec::new();
        }
        let notice = self.notices.remove(to);
        let max = max - usize::from(notice.is_some());
        let mut updates = Vec::new();
        updates.extend(notice);
        if self.pending.is_empty() {
            return updates;
        }
        let mut order: Vec<(bool, u32, &NodeId)> = self
            .pending
            .iter()
            .filter(|(_, p)| updates.first() != Some(&p.update))
            .map(|(node, p)| {
                let accusation = node == to && p.update.state != MemberState::Alive;
                (!accusation, p.sent, node)
            })
            .collect();
        order.sort();
        let chosen: Vec<NodeId> = order
            .into_iter()
            .take(max)
            .map(|(_, _, node)| node.clone())
            .collect();
        for node in chosen {
            let Some(pending) = self.pending.get_mut(&node) else {
                continue;
            };
            updates.push(pending.update.clone());
            pending.sent = pending.sent.saturating_add(1);
            if pending.sent >= limit {
                self.pending.remove(&node);
            }
        }
        updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::from_seed(s)
    }

    fn update(node: &str, incarnation: u64, state: MemberState) -> MemberUpdate {
        MemberUpdate {
            node: id(node),
            incarnation,
            state,
        }
    }

    #[test]
    fn least_sent_first_and_bounded_retransmissions() {
        let mut d = Dissemination::default();
        d.push(update("a", 0, MemberState::Alive));
        d.push(update("b", 0, MemberState::Suspect));
        assert_eq!(
            d.select(&id("z"), 1, 2),
            vec![update("a", 0, MemberState::Alive)]
        );
        assert_eq!(
            d.select(&id("z"), 1, 2),
            vec![update("b", 0, MemberState::Suspect)]
        );
        assert_eq!(d.select(&id("z"), 8, 2).len(), 2);
        assert!(d.select(&id("z"), 8, 2).is_empty());
    }

    #[test]
    fn accusation_goes_to_the_accused_first_and_newer_replaces_older() {
        let mut d = Dissemination::default();
        d.push(update("c", 0, MemberState::Suspect));
        assert_eq!(d.select(&id("z"), 1, 10).len(), 1);
        d.push(update("a", 0, MemberState::Alive));
        d.push(update("b", 0, MemberState::Alive));
        // "c" was sent once, the others never: still first for "c" itself.
        assert_eq!(
            d.select(&id("c"), 1, 10),
            vec![update("c", 0, MemberState::Suspect)]
        );
        assert_eq!(
            d.select(&id("z"), 1, 10),
            vec![update("a", 0, MemberState::Alive)]
        );
        d.push(update("c", 1, MemberState::Unreachable));
        assert_eq!(d.len(), 3);
        assert!(d
            .select(&id("z"), 3, 10)
            .contains(&update("c", 1, MemberState::Unreachable)));
        assert!(d.select(&id("c"), 0, 10).is_empty());
    }

    #[test]
    fn a_notice_goes_once_to_its_node_only() {
        let mut d = Dissemination::default();
        d.notify(update("c", 2, MemberState::Suspect));
        assert!(d.select(&id("z"), 8, 10).is_empty());
        assert_eq!(
            d.select(&id("c"), 8, 10),
            vec![update("c", 2, MemberState::Suspect)]
        );
        assert!(d.select(&id("c"), 8, 10).is_empty());
        d.notify(update("c", 2, MemberState::Suspect));
        d.remove(&id("c"));
        assert!(d.select(&id("c"), 8, 10).is_empty());
    }
}
