//! What the detector knows of each member, and how updates and contact change it.

use super::{millis, FailureDetector, MAX_UPDATES_READ};
use crate::{
    domain::{NodeId, PeerStatus},
    protocol::messages::{MemberState, MemberUpdate},
};

/// What this node knows of one member.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// The highest incarnation known.
    pub(super) incarnation: u64,
    /// The state at that incarnation.
    pub(super) state: MemberState,
    /// When the suspicion runs out (only while `Suspect`).
    pub(super) suspicion_deadline: Option<u64>,
    /// Consecutive failed probes since the last contact.
    pub(super) failed_probes: u32,
    /// Last time we heard from the member, directly or through a relayed ack.
    pub(super) last_contact: Option<u64>,
}

fn rank(state: MemberState) -> u8 {
    match state {
        MemberState::Alive => 0,
        MemberState::Suspect => 1,
        MemberState::Unreachable => 2,
    }
}

/// The status reported for a state.
pub(super) fn status_of(state: MemberState) -> PeerStatus {
    match state {
        MemberState::Alive => PeerStatus::Reachable,
        MemberState::Suspect => PeerStatus::Suspected,
        MemberState::Unreachable => PeerStatus::Unreachable,
    }
}

/// SWIM precedence: does `(incarnation, state)` replace what is known?
pub(super) fn overrides(new: (u64, MemberState), known: (u64, MemberState)) -> bool {
    (new.0, rank(new.1)) > (known.0, rank(known.1))
}

impl FailureDetector {
    pub(super) fn expire_suspicions(&mut self, now_ms: u64) {
        let expired: Vec<(NodeId, u64)> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.state == MemberState::Suspect && m.suspicion_deadline.is_some_and(|d| d <= now_ms)
            })
            .map(|(n, m)| (n.clone(), m.incarnation))
            .collect();
        for (node, incarnation) in expired {
            self.set_state(&node, incarnation, MemberState::Unreachable, now_ms);
        }
    }

    /// Sets a member's state, arms or clears its suspicion timer, emits the
    /// status change and queues the update for gossip.
    pub(super) fn set_state(
        &mut self,
        node: &NodeId,
        incarnation: u64,
        state: MemberState,
        now_ms: u64,
    ) {
        let suspicion_ms = millis(self.config.suspicion_timeout);
        let Some(member) = self.members.get_mut(node) else {
            return;
        };
        let before = status_of(member.state);
        member.incarnation = incarnation;
        member.state = state;
        member.suspicion_deadline =
            (state == MemberState::Suspect).then(|| now_ms.saturating_add(suspicion_ms));
        if state == MemberState::Alive {
            member.failed_probes = 0;
        }
        let after = status_of(state);
        if before != after {
            self.emit(node.clone(), after);
        }
        self.gossip.push(MemberUpdate {
            node: node.clone(),
            incarnation,
            state,
        });
    }

    /// Direct evidence that `node` is alive.
    pub(super) fn contact(&mut self, node: &NodeId, now_ms: u64) {
        let Some(member) = self.members.get_mut(node) else {
            return;
        };
        member.last_contact = Some(now_ms);
        member.failed_probes = 0;
        if member.state != MemberState::Alive {
            // Tell the member what we believed, so that it refutes it for
            // everyone still holding the suspicion.
            self.gossip.notify(MemberUpdate {
                node: node.clone(),
                incarnation: member.incarnation,
                state: member.state,
            });
            member.state = MemberState::Alive;
            member.suspicion_deadline = None;
            self.emit(node.clone(), PeerStatus::Reachable);
        }
    }

    /// `node` (or an intermediary for it) says it is alive at `incarnation`.
    pub(super) fn assert_alive(&mut self, node: &NodeId, incarnation: u64, now_ms: u64) {
        self.apply_update(
            &MemberUpdate {
                node: node.clone(),
                incarnation,
                state: MemberState::Alive,
            },
            now_ms,
        );
    }

    pub(super) fn apply_updates(&mut self, updates: &[MemberUpdate], now_ms: u64) {
        for update in updates.iter().take(MAX_UPDATES_READ) {
            self.apply_update(update, now_ms);
        }
    }

    pub(super) fn apply_update(&mut self, update: &MemberUpdate, now_ms: u64) {
        let jump = self.config.max_incarnation_jump;
        if update.node == self.local {
            self.apply_about_self(update);
            return;
        }
        let Some(member) = self.members.get(&update.node) else {
            return;
        };
        if update.incarnation > member.incarnation.saturating_add(jump) {
            tracing::debug!(
                node = %update.node,
                claimed = update.incarnation,
                known = member.incarnation,
                "swim: ignored an update with an implausible incarnation"
            );
            return;
        }
        if !overrides(
            (update.incarnation, update.state),
            (member.incarnation, member.state),
        ) {
            return;
        }
        if update.state != MemberState::Alive {
            let suspicion_ms = millis(self.config.suspicion_timeout);
            let vouched = member
                .last_contact
                .is_some_and(|at| now_ms.saturating_sub(at) < suspicion_ms);
            if vouched {
                return;
            }
        }
        self.set_state(&update.node, update.incarnation, update.state, now_ms);
    }

    /// Refutes a suspicion of this node by raising its incarnation.
    pub(super) fn apply_about_self(&mut self, update: &MemberUpdate) {
        if update.state == MemberState::Alive
            || update.incarnation < self.incarnation
            || update.incarnation
                > self
                    .incarnation
                    .saturating_add(self.config.max_incarnation_jump)
        {
            return;
        }
        self.incarnation = update.incarnation.saturating_add(1);
        self.gossip.push(MemberUpdate {
            node: self.local.clone(),
            incarnation: self.incarnation,
            state: MemberState::Alive,
        });
    }
}
