//! The probe cycle: round-robin target choice, direct and indirect probes,
//! and the indirect probes run on behalf of other members (with their nacks).

use super::{millis, FailureDetector, MAX_RELAYS_PER_REQUESTER};
use crate::{
    domain::NodeId,
    protocol::messages::{Ack, MemberState, Message, Nack, PingReq},
};

/// An intermediary nacks at this share (in percent) of the requester's
/// indirect phase, leaving the rest for the nack to travel (Lifeguard's 80 %).
const NACK_AT_PERCENT: u64 = 80;

/// Where a probe of ours stands.
#[derive(Debug, Clone, Copy)]
pub(super) enum Phase {
    /// Waiting for a direct ack until then.
    Direct { until: u64 },
    /// Intermediaries asked; the probe fails at `until`.
    Indirect { until: u64 },
}

/// Our probe in flight (one at a time: probe periods never overlap).
#[derive(Debug, Clone)]
pub(super) struct Probe {
    pub(super) number: u64,
    pub(super) target: NodeId,
    pub(super) phase: Phase,
    /// Length of the indirect phase, fixed when the probe starts (the local
    /// health multiplier may change meanwhile).
    pub(super) indirect_ms: u64,
    pub(super) intermediaries: Vec<NodeId>,
    /// The intermediaries that nacked (a subset of `intermediaries`).
    pub(super) nacks: Vec<NodeId>,
}

/// An indirect probe run for another member: our ping `number` (the map
/// key) to `target`, whose ack goes back to `requester` as `requester_probe`.
#[derive(Debug, Clone)]
pub(super) struct Relay {
    pub(super) requester: NodeId,
    pub(super) requester_probe: u64,
    pub(super) target: NodeId,
    pub(super) expires: u64,
    /// When to nack if no ack came (Lifeguard); `None` once sent, or without it.
    pub(super) nack_at: Option<u64>,
}

impl FailureDetector {
    /// The next member of the round-robin, reshuffling after each pass.
    /// Dormant members are skipped: they said they are away.
    pub(super) fn next_target(&mut self) -> Option<NodeId> {
        for _ in 0..=self.members.len() {
            if self.probe_cursor >= self.probe_order.len() {
                self.probe_order = self.members.keys().cloned().collect();
                self.rng.shuffle(&mut self.probe_order);
                self.probe_cursor = 0;
            }
            let target = self.probe_order.get(self.probe_cursor).cloned();
            self.probe_cursor = self.probe_cursor.saturating_add(1);
            let dormant = target
                .as_ref()
                .and_then(|t| self.members.get(t))
                .is_some_and(|m| m.state == MemberState::Dormant);
            if !dormant {
                return target;
            }
        }
        None
    }

    pub(super) fn start_round(&mut self, now_ms: u64) {
        let period = self.period_ms();
        let scheduled = self.next_round_at.unwrap_or(now_ms);
        let mut next = scheduled.saturating_add(period);
        if next <= now_ms {
            // The caller was late: no burst of catch-up rounds.
            next = now_ms.saturating_add(period);
        }
        self.next_round_at = Some(next);
        let Some(target) = self.next_target() else {
            self.next_round_at = None;
            return;
        };
        let number = self.new_probe_number();
        self.ping(&target, number);
        let direct_ms = self.direct_ms();
        self.probe = Some(Probe {
            number,
            target,
            phase: Phase::Direct {
                until: now_ms.saturating_add(direct_ms),
            },
            indirect_ms: period.saturating_sub(direct_ms),
            intermediaries: Vec::new(),
            nacks: Vec::new(),
        });
    }

    pub(super) fn go_indirect(&mut self, now_ms: u64) {
        let Some(mut probe) = self.probe.take() else {
            return;
        };
        let target_state = self.members.get(&probe.target).map(|m| m.state);
        if target_state.is_some_and(|s| s != MemberState::Unreachable) {
            let mut candidates: Vec<NodeId> = self
                .members
                .iter()
                .filter(|(n, m)| m.state == MemberState::Alive && **n != probe.target)
                .map(|(n, _)| n.clone())
                .collect();
            self.rng.shuffle(&mut candidates);
            candidates.truncate(self.config.ping_req_fanout);
            for intermediary in &candidates {
                let updates = self.piggyback(intermediary);
                self.send(
                    intermediary.clone(),
                    Message::PingReq(PingReq {
                        probe: probe.number,
                        target: probe.target.clone(),
                        updates,
                    }),
                );
            }
            probe.intermediaries = candidates;
            // A second direct ping: the first one or its ack may just have been lost.
            self.ping(&probe.target, probe.number);
        }
        probe.phase = Phase::Indirect {
            until: now_ms.saturating_add(probe.indirect_ms),
        };
        self.probe = Some(probe);
    }

    /// The probe got no ack in its period. Lifeguard: every intermediary
    /// that neither acked nor nacked points at this node's own slowness, as
    /// does a failed probe without intermediaries; each raises the local
    /// health multiplier by one. Probes of unreachable members are expected
    /// to fail and say nothing about this node.
    pub(super) fn fail_probe(&mut self, now_ms: u64) {
        let Some(probe) = self.probe.take() else {
            return;
        };
        let threshold = self.config.suspicion_threshold;
        let Some(member) = self.members.get_mut(&probe.target) else {
            return;
        };
        if member.state != MemberState::Unreachable {
            let missing = if probe.intermediaries.is_empty() {
                1
            } else {
                probe.intermediaries.len().saturating_sub(probe.nacks.len())
            };
            self.health
                .raise(u32::try_from(missing).unwrap_or(u32::MAX));
        }
        member.failed_probes = member.failed_probes.saturating_add(1);
        if member.failed_probes >= threshold && member.state == MemberState::Alive {
            let incarnation = member.incarnation;
            self.set_state(
                &probe.target,
                incarnation,
                MemberState::Suspect,
                None,
                now_ms,
            );
        }
    }

    pub(super) fn on_ack(&mut self, from: &NodeId, ack: &Ack, now_ms: u64) {
        if &ack.target == from {
            self.assert_alive(from, ack.incarnation, now_ms);
        }
        if let Some(probe) = &self.probe {
            let answers = probe.number == ack.probe
                && probe.target == ack.target
                && (&probe.target == from || probe.intermediaries.contains(from));
            if answers {
                let target = probe.target.clone();
                self.probe = None;
                self.health.lower();
                if &target != from {
                    self.assert_alive(&target, ack.incarnation, now_ms);
                    self.contact(&target, now_ms);
                }
                return;
            }
        }
        let relayed = self
            .relays
            .get(&ack.probe)
            .is_some_and(|r| r.target == ack.target && &r.target == from);
        if !relayed {
            return;
        }
        let Some(relay) = self.relays.remove(&ack.probe) else {
            return;
        };
        let updates = self.piggyback(&relay.requester);
        self.send(
            relay.requester,
            Message::Ack(Ack {
                probe: relay.requester_probe,
                target: relay.target,
                incarnation: ack.incarnation,
                updates,
            }),
        );
    }

    pub(super) fn on_ping_req(&mut self, from: &NodeId, request: &PingReq, now_ms: u64) {
        if request.target == self.local {
            let updates = self.piggyback(from);
            self.send(
                from.clone(),
                Message::Ack(Ack {
                    probe: request.probe,
                    target: self.local.clone(),
                    incarnation: self.incarnation,
                    updates,
                }),
            );
            return;
        }
        if &request.target == from || !self.members.contains_key(&request.target) {
            return;
        }
        self.relays.retain(|_, r| r.expires > now_ms);
        let from_requester = self
            .relays
            .values()
            .filter(|r| &r.requester == from)
            .count();
        if self.relays.len() >= self.config.max_relays || from_requester >= MAX_RELAYS_PER_REQUESTER
        {
            tracing::debug!(requester = %from, "swim: ignored a ping-req over the relay limit");
            return;
        }
        let number = self.new_probe_number();
        let nack_at = self.config.lifeguard.then(|| {
            // The requester's indirect phase at its configured length: a
            // slow requester waits longer, so the nack still arrives in time.
            let indirect =
                millis(self.config.probe_interval).saturating_sub(millis(self.config.ping_timeout));
            now_ms.saturating_add(indirect.saturating_mul(NACK_AT_PERCENT) / 100)
        });
        self.relays.insert(
            number,
            Relay {
                requester: from.clone(),
                requester_probe: request.probe,
                target: request.target.clone(),
                expires: now_ms.saturating_add(self.period_ms()),
                nack_at,
            },
        );
        self.ping(&request.target, number);
    }

    /// Nacks the indirect probes run for others whose target has not acked
    /// by their nack time. The relay stays: a late ack is still relayed.
    pub(super) fn send_due_nacks(&mut self, now_ms: u64) {
        let due: Vec<u64> = self
            .relays
            .iter()
            .filter(|(_, r)| r.nack_at.is_some_and(|at| at <= now_ms))
            .map(|(number, _)| *number)
            .collect();
        for number in due {
            let Some(relay) = self.relays.get_mut(&number) else {
                continue;
            };
            relay.nack_at = None;
            let (requester, probe, target) = (
                relay.requester.clone(),
                relay.requester_probe,
                relay.target.clone(),
            );
            let updates = self.piggyback(&requester);
            self.send(
                requester,
                Message::Nack(Nack {
                    probe,
                    target,
                    updates,
                }),
            );
        }
    }

    /// Counts a nack from one of the intermediaries of our probe in flight
    /// (once per intermediary). Ignored without Lifeguard.
    pub(super) fn on_nack(&mut self, from: &NodeId, nack: &Nack) {
        if !self.config.lifeguard {
            return;
        }
        let Some(probe) = self.probe.as_mut() else {
            return;
        };
        let answers = probe.number == nack.probe
            && probe.target == nack.target
            && probe.intermediaries.contains(from);
        if answers && !probe.nacks.contains(from) {
            probe.nacks.push(from.clone());
        }
    }
}
