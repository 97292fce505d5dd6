//! What the detector knows of each member, and how updates and contact change it.

use super::{millis, suspicion::Suspicion, FailureDetector, MAX_UPDATES_READ};
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
    /// The suspicion running (only while `Suspect`).
    pub(super) suspicion: Option<Suspicion>,
    /// Consecutive failed probes since the last contact.
    pub(super) failed_probes: u32,
    /// Last time we heard from the member, directly or through a relayed ack.
    pub(super) last_contact: Option<u64>,
    /// While `Dormant`: when it is probed again.
    pub(super) dormant_until: Option<u64>,
}

fn rank(state: MemberState) -> u8 {
    match state {
        MemberState::Alive => 0,
        MemberState::Dormant => 1,
        MemberState::Suspect => 2,
        MemberState::Unreachable => 3,
    }
}

/// The status reported for a state.
pub(super) fn status_of(state: MemberState) -> PeerStatus {
    match state {
        MemberState::Alive => PeerStatus::Reachable,
        MemberState::Suspect => PeerStatus::Suspected,
        MemberState::Unreachable => PeerStatus::Unreachable,
        MemberState::Dormant => PeerStatus::Dormant,
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
                m.state == MemberState::Suspect
                    && m.suspicion.as_ref().is_some_and(|s| s.deadline() <= now_ms)
            })
            .map(|(n, m)| (n.clone(), m.incarnation))
            .collect();
        for (node, incarnation) in expired {
            self.set_state(&node, incarnation, MemberState::Unreachable, None, now_ms);
        }
    }

    /// Sets a member's state, arms or clears its suspicion timer, emits the
    /// status change and queues the update for gossip. `origin` is the
    /// member whose gossip raised a suspicion (`None` for our own probes).
    pub(super) fn set_state(
        &mut self,
        node: &NodeId,
        incarnation: u64,
        state: MemberState,
        origin: Option<&NodeId>,
        now_ms: u64,
    ) {
        let suspicion = (state == MemberState::Suspect).then(|| self.new_suspicion(origin, now_ms));
        let dormancy = millis(self.config.max_dormancy);
        let Some(member) = self.members.get_mut(node) else {
            return;
        };
        member.dormant_until =
            (state == MemberState::Dormant).then(|| now_ms.saturating_add(dormancy));
        let before = status_of(member.state);
        member.incarnation = incarnation;
        member.state = state;
        member.suspicion = suspicion;
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
        // A dormant member wakes by saying so at a higher incarnation, not
        // by a frame it sent before pausing arriving late.
        if !matches!(member.state, MemberState::Alive | MemberState::Dormant) {
            // Tell the member what we believed, so that it refutes it for
            // everyone still holding the suspicion.
            self.gossip.notify(MemberUpdate {
                node: node.clone(),
                incarnation: member.incarnation,
                state: member.state,
            });
            member.state = MemberState::Alive;
            member.suspicion = None;
            self.emit(node.clone(), PeerStatus::Reachable);
        }
    }

    /// A suspicion starting now: from `suspicion_timeout` up to
    /// [`max_suspicion_timeout`](super::SwimConfig::max_suspicion_timeout),
    /// expecting confirmations from at most the members that could give
    /// them (all but the suspect and the origin; this node is not a member).
    fn new_suspicion(&self, origin: Option<&NodeId>, now_ms: u64) -> Suspicion {
        let expected = if self.config.lifeguard {
            let others = self
                .members
                .len()
                .saturating_sub(1)
                .saturating_sub(usize::from(origin.is_some()));
            let others = u32::try_from(others).unwrap_or(u32::MAX);
            self.config.suspicion_confirmations.min(others)
        } else {
            0
        };
        Suspicion::new(
            now_ms,
            millis(self.config.suspicion_timeout),
            millis(self.config.max_suspicion_timeout()),
            expected,
            origin.cloned(),
        )
    }

    /// `node` (or an intermediary for it) says it is alive at `incarnation`.
    pub(super) fn assert_alive(&mut self, node: &NodeId, incarnation: u64, now_ms: u64) {
        self.apply_update(
            &MemberUpdate {
                node: node.clone(),
                incarnation,
                state: MemberState::Alive,
            },
            None,
            now_ms,
        );
    }

    /// Applies the updates piggybacked on a message from `from`.
    pub(super) fn apply_updates(&mut self, updates: &[MemberUpdate], from: &NodeId, now_ms: u64) {
        for update in updates.iter().take(MAX_UPDATES_READ) {
            self.apply_update(update, Some(from), now_ms);
        }
    }

    /// Applies one update, gossiped by `from` (`None`: first-hand, from the
    /// member itself or an ack relayed for it).
    pub(super) fn apply_update(
        &mut self,
        update: &MemberUpdate,
        from: Option<&NodeId>,
        now_ms: u64,
    ) {
        let jump = self.config.max_incarnation_jump;
        if update.node == self.local {
            self.apply_about_self(update);
            return;
        }
        let Some(member) = self.members.get_mut(&update.node) else {
            return;
        };
        if let (Some(from), Some(suspicion)) = (from, member.suspicion.as_mut()) {
            // Lifeguard: another member gossiping the suspicion we hold is
            // an independent confirmation, and shortens it.
            let same = update.state == MemberState::Suspect
                && member.state == MemberState::Suspect
                && update.incarnation == member.incarnation;
            if same && from != &update.node {
                suspicion.confirm(from);
            }
        }
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
        // Dormancy is no accusation: recent contact does not veto it.
        if !matches!(update.state, MemberState::Alive | MemberState::Dormant) {
            let suspicion_ms = millis(self.config.suspicion_timeout);
            let vouched = member
                .last_contact
                .is_some_and(|at| now_ms.saturating_sub(at) < suspicion_ms);
            if vouched {
                return;
            }
        }
        self.set_state(&update.node, update.incarnation, update.state, from, now_ms);
    }

    /// Refutes a suspicion of this node by raising its incarnation. Having
    /// to refute is a hint that this node is slow: it raises the local
    /// health multiplier.
    pub(super) fn apply_about_self(&mut self, update: &MemberUpdate) {
        if update.state == MemberState::Alive
            || (update.state == MemberState::Dormant && self.dormant)
            || update.incarnation < self.incarnation
            || update.incarnation
                > self
                    .incarnation
                    .saturating_add(self.config.max_incarnation_jump)
        {
            return;
        }
        self.incarnation = update.incarnation.saturating_add(1);
        // Refuting a stale or forged "dormant" says nothing of our speed.
        if update.state != MemberState::Dormant {
            self.health.raise(1);
        }
        self.gossip.push(MemberUpdate {
            node: self.local.clone(),
            incarnation: self.incarnation,
            state: MemberState::Alive,
        });
    }
}
