//! [`PushTree`]: one channel's eager links (the push tree); every other
//! member is a lazy link.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{Channel, NodeId, SeededRng};

/// The members this node pushes a channel's new entries to at once (eager
/// links); the other members only hear of them in announcements (lazy
/// links).
///
/// Formed on first use from `fanout` random members; a member who joins
/// later becomes eager with probability `fanout / members`, so that every
/// member keeps about `fanout` nodes pushing to it whenever it joined. A
/// member's PRUNE (it got a run of duplicates from this node) demotes it; a
/// first delivery from a member or its graft promotes it, as in PlumTree. Only members of the channel are
/// ever eager, known or counted, so every map is bounded by the channel's
/// membership.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushTree {
    eager: BTreeSet<NodeId>,
    /// The other members when the tree was last refreshed.
    known: BTreeSet<NodeId>,
    /// Consecutive duplicate pushes per link since its last first delivery.
    strikes: BTreeMap<NodeId, u32>,
    formed: bool,
}

impl PushTree {
    /// Forms the tree on first use, links new members, and forgets links
    /// to non-members.
    pub(crate) fn refresh(
        &mut self,
        channel: &Channel,
        local: &NodeId,
        fanout: usize,
        rng: &mut SeededRng,
    ) {
        let others = channel.members().len().saturating_sub(1).max(1);
        if !self.formed {
            self.formed = true;
            let mut members: Vec<NodeId> =
                channel.members().filter(|m| *m != local).cloned().collect();
            rng.shuffle(&mut members);
            self.known = members.iter().cloned().collect();
            self.eager.extend(members.into_iter().take(fanout));
        } else if channel.members().len() != self.known.len() + 1
            || channel
                .members()
                .any(|m| m != local && !self.known.contains(m))
        {
            let chance = fanout as f64 / others as f64;
            for member in channel.members().filter(|m| *m != local) {
                if self.known.insert(member.clone()) && rng.chance(chance) {
                    self.eager.insert(member.clone());
                }
            }
            self.known.retain(|m| channel.is_member(m));
        }
        self.eager.retain(|m| channel.syncs_with(m) && m != local);
        self.strikes.retain(|m, _| channel.syncs_with(m));
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
        self.strikes.remove(peer);
        self.eager.remove(peer)
    }

    /// `peer` pushed a duplicate: whether that makes `prune_after` in a row
    /// (the count then starts again).
    pub(crate) fn strike(&mut self, peer: &NodeId, prune_after: u32) -> bool {
        let strikes = self.strikes.entry(peer.clone()).or_default();
        *strikes += 1;
        if *strikes < prune_after.max(1) {
            return false;
        }
        self.strikes.remove(peer);
        true
    }

    /// `peer` delivered something first: its duplicates count from zero.
    pub(crate) fn clear_strikes(&mut self, peer: &NodeId) {
        self.strikes.remove(peer);
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
