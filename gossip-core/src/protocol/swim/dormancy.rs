//! Announced dormancy: a node that pauses says so, and its peers neither
//! probe nor suspect it until it wakes (or stays away longer than
//! [`max_dormancy`](super::SwimConfig::max_dormancy)).

use super::FailureDetector;
use crate::{
    domain::PeerStatus,
    protocol::messages::{MemberState, MemberUpdate, Message, Ping},
};

impl FailureDetector {
    /// This node is pausing: it raises its incarnation and tells every
    /// member, in a [`Ping`] each, that it is
    /// [`Dormant`](MemberState::Dormant) at it (they gossip it on). Until
    /// [`wake`](Self::wake) it starts no probe. The caller sends the
    /// outputs *before* it stops sending.
    ///
    /// ```
    /// use gossip_core::protocol::swim::{FailureDetector, SwimConfig, SwimOutput};
    /// use gossip_core::{raw::SeededRng, NodeId, PeerStatus};
    ///
    /// let (a, b) = (NodeId::from_seed("a"), NodeId::from_seed("b"));
    /// let mut alice = FailureDetector::new(a.clone(), SwimConfig::default(), SeededRng::new(1));
    /// let mut bob = FailureDetector::new(b.clone(), SwimConfig::default(), SeededRng::new(2));
    /// alice.add_member(b.clone(), 0);
    /// bob.add_member(a.clone(), 0);
    ///
    /// alice.go_dormant(10);
    /// for out in alice.drain_outputs() {
    ///     if let SwimOutput::Send { message, .. } = out {
    ///         bob.handle_message(&a, &message, 11);
    ///     }
    /// }
    /// assert_eq!(bob.status(&a), Some(PeerStatus::Dormant));
    /// // Bob neither probes nor suspects her, however long she is silent
    /// // (up to `max_dormancy`).
    /// assert!(bob.reachable().next().is_none());
    /// ```
    pub fn go_dormant(&mut self, _now_ms: u64) {
        if self.dormant {
            return;
        }
        self.dormant = true;
        self.probe = None;
        self.next_round_at = None;
        self.announce(MemberState::Dormant);
    }

    /// This node is back: it raises its incarnation again and tells every
    /// member it is [`Alive`](MemberState::Alive), and probing resumes.
    pub fn wake(&mut self, now_ms: u64) {
        if !self.dormant {
            return;
        }
        self.dormant = false;
        self.announce(MemberState::Alive);
        if !self.members.is_empty() {
            self.next_round_at = Some(now_ms.saturating_add(self.period_ms()));
        }
    }

    /// Whether this node announced it is dormant and has not woken.
    #[must_use]
    pub fn is_dormant(&self) -> bool {
        self.dormant
    }

    /// Raises the incarnation and tells every member this node's `state`
    /// at it, directly (a ping each) and by gossip.
    fn announce(&mut self, state: MemberState) {
        self.incarnation = self.incarnation.saturating_add(1);
        let update = MemberUpdate {
            node: self.local.clone(),
            incarnation: self.incarnation,
            state,
        };
        self.gossip.push(update.clone());
        let members: Vec<_> = self.members.keys().cloned().collect();
        for member in members {
            let probe = self.new_probe_number();
            self.send(
                member,
                Message::Ping(Ping {
                    probe,
                    incarnation: self.incarnation,
                    updates: vec![update.clone()],
                }),
            );
        }
    }

    /// Members dormant for longer than `max_dormancy` are probed again
    /// (and, if still silent, suspected by the normal rules).
    pub(super) fn expire_dormancy(&mut self, now_ms: u64) {
        let mut expired = Vec::new();
        for (node, member) in &mut self.members {
            if member.state == MemberState::Dormant
                && member.dormant_until.is_some_and(|at| at <= now_ms)
            {
                member.state = MemberState::Alive;
                member.dormant_until = None;
                member.failed_probes = 0;
                expired.push(node.clone());
            }
        }
        for node in expired {
            self.emit(node, PeerStatus::Reachable);
        }
        self.resume_probing(now_ms);
    }

    /// Probing stops when every member is dormant (nothing to probe): it
    /// starts again once one is not (woken, or its dormancy expired).
    pub(super) fn resume_probing(&mut self, now_ms: u64) {
        let idle = self.probe.is_none() && self.next_round_at.is_none();
        let someone = self
            .members
            .values()
            .any(|m| m.state != MemberState::Dormant);
        if idle && someone && !self.dormant {
            self.next_round_at = Some(now_ms.saturating_add(self.period_ms()));
        }
    }
}
