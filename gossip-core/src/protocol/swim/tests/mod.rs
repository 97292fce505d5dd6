//! Failure detector tests: hand-driven exchanges here, a small deterministic
//! simulation (seeded loss, no clock) in [`sim`].

use super::member::overrides;
use super::*;
use crate::protocol::messages::PingReq;

mod dormancy;
mod lifeguard;
mod sim;

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

fn ping_with(updates: Vec<MemberUpdate>) -> Message {
    Message::Ping(Ping {
        probe: 99,
        incarnation: 0,
        updates,
    })
}

/// The timings these tests are written for: the defaults with a 5 s
/// suspicion timeout (shorter than the 8 s default, so the timelines stay short).
pub(super) fn five_second_suspicion() -> SwimConfig {
    SwimConfig::default().suspicion_timeout(std::time::Duration::from_secs(5))
}

fn detector(local: &str, members: &[&str], seed: u64) -> FailureDetector {
    detector_with(five_second_suspicion(), local, members, seed)
}

fn detector_with(config: SwimConfig, local: &str, members: &[&str], seed: u64) -> FailureDetector {
    let mut d = FailureDetector::new(id(local), config, SeededRng::new(seed));
    for m in members {
        d.add_member(id(m), 0);
    }
    d
}

fn sends(d: &mut FailureDetector) -> Vec<(NodeId, Message)> {
    d.drain_outputs()
        .filter_map(|o| match o {
            SwimOutput::Send { to, message } => Some((to, message)),
            SwimOutput::StatusChanged { .. } => None,
        })
        .collect()
}

fn changes(d: &mut FailureDetector) -> Vec<(NodeId, PeerStatus)> {
    d.drain_outputs()
        .filter_map(|o| match o {
            SwimOutput::StatusChanged { peer, status } => Some((peer, status)),
            SwimOutput::Send { .. } => None,
        })
        .collect()
}

fn updates_of(message: &Message) -> &[MemberUpdate] {
    match message {
        Message::Ping(p) => &p.updates,
        Message::Ack(a) => &a.updates,
        Message::PingReq(r) => &r.updates,
        _ => &[],
    }
}

// ---------------------------------------------------------------------------
// Hand-driven rules.

#[test]
fn next_deadline_is_none_without_members_and_a_period_after_the_first() {
    let mut d = detector("a", &[], 1);
    assert_eq!(d.next_deadline(), None);
    d.handle_timeout(5_000);
    assert_eq!(d.drain_outputs().count(), 0);
    d.add_member(id("b"), 100);
    assert_eq!(d.next_deadline(), Some(1_100));
    d.add_member(id("a"), 200); // itself: ignored
    assert_eq!(d.members().count(), 1);
    d.remove_member(&id("b"));
    assert_eq!(d.next_deadline(), None);
}

#[test]
fn ping_is_acked_and_a_probe_goes_indirect_then_fails() {
    let mut a = detector("a", &["b", "c"], 1);
    let mut b = detector("b", &["a", "c"], 2);
    // b answers a ping with an ack carrying the probe number and its incarnation.
    b.handle_message(&id("a"), &ping_with(vec![]), 10);
    let out = sends(&mut b);
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0], (to, Message::Ack(ack))
        if to == &id("a") && ack.probe == 99 && ack.target == id("b") && ack.incarnation == 0));

    a.handle_timeout(1_000);
    let out = sends(&mut a);
    assert_eq!(out.len(), 1);
    let (target, Message::Ping(ping)) = &out[0] else {
        panic!("{out:?}")
    };
    let other = if target == &id("b") { id("c") } else { id("b") };
    // No ack: at the ping timeout, a ping-req to the only other member and a second ping.
    assert_eq!(a.next_deadline(), Some(1_500));
    a.handle_timeout(1_500);
    let out = sends(&mut a);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out.iter().any(|(to, m)| to == &other
        && matches!(m, Message::PingReq(r) if r.probe == ping.probe && &r.target == target)));
    assert!(out
        .iter()
        .any(|(to, m)| to == target && matches!(m, Message::Ping(p) if p.probe == ping.probe)));
    // The relayed ack resolves the probe: no failure counted.
    let relayed = Message::Ack(Ack {
        probe: ping.probe,
        target: target.clone(),
        incarnation: 0,
        updates: vec![],
    });
    a.handle_message(&other, &relayed, 1_600);
    assert!(a.probe.is_none());
    assert_eq!(a.members[target].failed_probes, 0);
}

#[test]
fn intermediary_relays_the_targets_ack_to_the_requester() {
    let mut c = detector("c", &["a", "b"], 3);
    let request = Message::PingReq(PingReq {
        probe: 7,
        target: id("b"),
        updates: vec![],
    });
    c.handle_message(&id("a"), &request, 100);
    let out = sends(&mut c);
    let [(to, Message::Ping(ping))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(to, &id("b"));
    // An ack from someone else, or for another probe, is not relayed.
    let fake = Message::Ack(Ack {
        probe: ping.probe,
        target: id("b"),
        incarnation: 0,
        updates: vec![],
    });
    c.handle_message(&id("a"), &fake, 110);
    assert!(sends(&mut c).is_empty());
    let ack = Message::Ack(Ack {
        probe: ping.probe,
        target: id("b"),
        incarnation: 4,
        updates: vec![],
    });
    c.handle_message(&id("b"), &ack, 120);
    let out = sends(&mut c);
    assert!(matches!(out.as_slice(), [(to, Message::Ack(a))]
        if to == &id("a") && a.probe == 7 && a.target == id("b") && a.incarnation == 4));
    // Relayed once only.
    c.handle_message(&id("b"), &ack, 130);
    assert!(sends(&mut c).is_empty());
}

#[test]
fn ping_req_about_itself_is_acked_directly_and_relays_are_bounded() {
    let config = SwimConfig::default().max_relays(3);
    let mut x = FailureDetector::new(id("x"), config, SeededRng::new(1));
    for m in ["a", "b", "c", "d", "t"] {
        x.add_member(id(m), 0);
    }
    let req = |target: &str| {
        Message::PingReq(PingReq {
            probe: 1,
            target: id(target),
            updates: vec![],
        })
    };
    x.handle_message(&id("a"), &req("x"), 10);
    assert!(matches!(sends(&mut x).as_slice(), [(to, Message::Ack(_))] if to == &id("a")));
    // One requester flooding: at most 2 relays.
    for _ in 0..100 {
        x.handle_message(&id("a"), &req("t"), 20);
    }
    assert_eq!(sends(&mut x).len(), 2);
    // Several requesters: at most max_relays in all.
    for m in ["b", "c", "d"] {
        x.handle_message(&id(m), &req("t"), 30);
    }
    assert_eq!(sends(&mut x).len(), 1);
    // Unknown targets, the requester itself, and non-members are refused.
    x.handle_message(&id("b"), &req("stranger"), 40);
    x.handle_message(&id("zz"), &req("t"), 40);
    x.handle_message(&id("b"), &req("b"), 50);
    assert!(sends(&mut x).is_empty());
    // Relays expire after a probe period (this also runs x's own first round).
    x.handle_timeout(5_000);
    let _ = x.drain_outputs().count();
    // Expired relays free their slots.
    x.handle_message(&id("b"), &req("t"), 5_002);
    assert_eq!(sends(&mut x).len(), 1);
}

#[test]
fn acks_for_unknown_probes_and_messages_from_strangers_are_ignored() {
    let mut a = detector("a", &["b"], 1);
    let ack = Message::Ack(Ack {
        probe: 12_345,
        target: id("b"),
        incarnation: 0,
        updates: vec![],
    });
    a.handle_message(&id("b"), &ack, 10);
    assert_eq!(a.drain_outputs().count(), 0);
    a.handle_message(&id("stranger"), &ping_with(vec![]), 10);
    a.handle_message(&id("a"), &ping_with(vec![]), 10);
    a.handle_contact(&id("stranger"), 10);
    assert_eq!(a.drain_outputs().count(), 0);
    assert_eq!(a.members().count(), 1);
}

#[test]
fn suspicion_threshold_failed_probes_suspect_then_timeout_declares_unreachable_then_contact_clears()
{
    // Classic timings (`lifeguard::a_lone_prober_slows_down_as_its_probes_fail`: the same with Lifeguard).
    let mut a = detector_with(five_second_suspicion().lifeguard(false), "a", &["b"], 1);
    let mut t = 0;
    let mut seen = Vec::new();
    while a.status(&id("b")) != Some(PeerStatus::Unreachable) {
        t = a.next_deadline().unwrap();
        a.handle_timeout(t);
        for out in a.drain_outputs() {
            match out {
                SwimOutput::Send { to, message } => {
                    assert_eq!(to, id("b"));
                    assert!(matches!(message, Message::Ping(_)));
                }
                SwimOutput::StatusChanged { status, .. } => seen.push((t, status)),
            }
        }
        assert!(t < 60_000);
    }
    // Probes at 1, 2, 3 s fail at 2, 3, 4 s: suspected at 4 s, unreachable 5 s later.
    assert_eq!(
        seen,
        vec![
            (4_000, PeerStatus::Suspected),
            (9_000, PeerStatus::Unreachable)
        ]
    );
    assert_eq!(t, 9_000);
    assert_eq!(a.reachable().count(), 0);
    // The verdict is gossiped.
    a.handle_message(&id("b"), &ping_with(vec![]), t + 1);
    let out = a.drain_outputs().collect::<Vec<_>>();
    assert_eq!(
        out[0],
        SwimOutput::StatusChanged {
            peer: id("b"),
            status: PeerStatus::Reachable
        }
    );
    let SwimOutput::Send { message, .. } = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(
        updates_of(message),
        [update("b", 0, MemberState::Unreachable)]
    );
    assert_eq!(a.status(&id("b")), Some(PeerStatus::Reachable));
}

#[test]
fn any_contact_resets_the_failed_probe_count() {
    let mut a = detector("a", &["b"], 1);
    for _ in 0..20 {
        let t = a.next_deadline().unwrap();
        a.handle_timeout(t);
        // Anti-entropy traffic from b once per period is enough.
        a.handle_contact(&id("b"), t);
    }
    assert!(changes(&mut a).is_empty());
    assert_eq!(a.status(&id("b")), Some(PeerStatus::Reachable));
}

#[test]
fn false_suspicion_is_refuted_via_incarnation_bump() {
    let mut x = detector("x", &["a", "b"], 1);
    let mut b = detector("b", &["a", "x"], 2);
    // a tells b that x is suspect; b has not heard from x itself, so it adopts it.
    b.handle_message(
        &id("a"),
        &ping_with(vec![update("x", 0, MemberState::Suspect)]),
        10,
    );
    assert_eq!(b.status(&id("x")), Some(PeerStatus::Suspected));
    assert_eq!(changes(&mut b), vec![(id("x"), PeerStatus::Suspected)]);
    // a tells x the same: x refutes by raising its incarnation ...
    x.handle_message(
        &id("a"),
        &ping_with(vec![update("x", 0, MemberState::Suspect)]),
        20,
    );
    assert_eq!(x.incarnation(), 1);
    let out = sends(&mut x);
    let [(_, Message::Ack(ack))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(ack.incarnation, 1);
    assert_eq!(ack.updates, [update("x", 1, MemberState::Alive)]);
    // ... which, gossiped by a, clears b's suspicion (no contact with x needed).
    b.handle_message(&id("a"), &ping_with(ack.updates.clone()), 30);
    assert_eq!(b.status(&id("x")), Some(PeerStatus::Reachable));
    assert_eq!(b.member_incarnation(&id("x")), Some(1));
    // A stale suspicion at the old incarnation no longer applies.
    b.handle_message(
        &id("a"),
        &ping_with(vec![update("x", 0, MemberState::Unreachable)]),
        40,
    );
    assert_eq!(b.status(&id("x")), Some(PeerStatus::Reachable));
    // Old news about x's own state is not refuted twice.
    x.handle_message(
        &id("a"),
        &ping_with(vec![update("x", 0, MemberState::Suspect)]),
        50,
    );
    assert_eq!(x.incarnation(), 1);
}

#[test]
fn precedence_rules() {
    use MemberState::{Alive, Suspect, Unreachable};
    assert!(overrides((2, Alive), (1, Suspect)));
    assert!(!overrides((1, Alive), (1, Suspect)));
    assert!(overrides((1, Suspect), (1, Alive)));
    assert!(!overrides((0, Suspect), (1, Alive)));
    assert!(!overrides((1, Suspect), (1, Suspect)));
    assert!(overrides((1, Unreachable), (1, Suspect)));
    assert!(overrides((1, Unreachable), (1, Alive)));
    assert!(!overrides((1, Suspect), (1, Unreachable)));
    assert!(overrides((2, Alive), (1, Unreachable)));
}

#[test]
fn own_contact_beats_hearsay_for_a_suspicion_timeout() {
    let mut a = detector("a", &["b", "c"], 1);
    a.handle_contact(&id("c"), 1_000);
    let suspect = ping_with(vec![update("c", 0, MemberState::Suspect)]);
    a.handle_message(&id("b"), &suspect, 2_000);
    assert_eq!(a.status(&id("c")), Some(PeerStatus::Reachable));
    a.handle_message(&id("b"), &suspect, 6_000);
    assert_eq!(a.status(&id("c")), Some(PeerStatus::Suspected));
}

#[test]
fn hostile_incarnation_jump_is_ignored() {
    let mut a = detector("a", &["b", "c"], 1);
    let jump = SwimConfig::default().max_incarnation_jump;
    let hostile = ping_with(vec![
        update("c", jump + 1, MemberState::Unreachable),
        update("a", jump + 1, MemberState::Suspect),
        update("stranger", 0, MemberState::Unreachable),
    ]);
    a.handle_message(&id("b"), &hostile, 10);
    assert_eq!(a.status(&id("c")), Some(PeerStatus::Reachable));
    assert_eq!(a.member_incarnation(&id("c")), Some(0));
    assert_eq!(a.incarnation(), 0);
    assert_eq!(a.status(&id("stranger")), None);
    assert!(changes(&mut a).is_empty());
    // The sender's own claimed incarnation is bounded the same way.
    let b_lies = Message::Ping(Ping {
        probe: 1,
        incarnation: u64::MAX,
        updates: vec![],
    });
    a.handle_message(&id("b"), &b_lies, 20);
    assert_eq!(a.member_incarnation(&id("b")), Some(0));
    // A plausible jump is taken: it is how a member refutes.
    a.handle_message(
        &id("b"),
        &ping_with(vec![update("c", jump, MemberState::Suspect)]),
        30,
    );
    assert_eq!(a.status(&id("c")), Some(PeerStatus::Suspected));
    assert_eq!(a.member_incarnation(&id("c")), Some(jump));
    // And, in any case, hearing from the member itself clears it.
    a.handle_contact(&id("c"), 40);
    assert_eq!(a.status(&id("c")), Some(PeerStatus::Reachable));
}

#[test]
fn piggyback_is_bounded_and_each_update_is_sent_a_bounded_number_of_times() {
    let members: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let mut a = detector("a", &refs, 1);
    let updates: Vec<_> = refs
        .iter()
        .map(|m| update(m, 1, MemberState::Alive))
        .collect();
    a.handle_message(&id("m0"), &ping_with(updates), 10);
    let limit = a.config().retransmit_limit(21) as usize;
    let mut carried = 0;
    for _ in 0..100 {
        a.handle_message(&id("m1"), &ping_with(vec![]), 20);
        for (_, m) in sends(&mut a) {
            assert!(updates_of(&m).len() <= a.config().max_piggyback);
            carried += updates_of(&m).len();
        }
    }
    assert_eq!(carried, 20 * limit);
}

#[test]
fn removed_member_is_forgotten_everywhere() {
    let mut a = detector("a", &["b", "c"], 1);
    let t = a.next_deadline().unwrap();
    a.handle_timeout(t);
    let out = sends(&mut a);
    let (target, _) = &out[0];
    a.remove_member(target);
    assert!(a.probe.is_none());
    assert_eq!(a.status(target), None);
    assert!(!a.probe_order.contains(target));
    for _ in 0..10 {
        let t = a.next_deadline().unwrap();
        a.handle_timeout(t);
        for (to, _) in sends(&mut a) {
            assert_ne!(&to, target);
        }
    }
}

#[test]
fn late_caller_does_not_turn_into_failed_probes() {
    let mut a = detector("a", &["b"], 1);
    a.handle_timeout(1_000);
    let out = sends(&mut a);
    let Message::Ping(ping) = &out[0].1 else {
        panic!()
    };
    // The caller sleeps through the whole period: the indirect phase still gets its time.
    a.handle_timeout(10_000);
    assert_eq!(sends(&mut a).len(), 1, "a second direct ping");
    assert!(a.probe.is_some());
    assert_eq!(a.next_deadline(), Some(10_500));
    let ack = Message::Ack(Ack {
        probe: ping.probe,
        target: id("b"),
        incarnation: 0,
        updates: vec![],
    });
    a.handle_message(&id("b"), &ack, 10_100);
    assert!(a.probe.is_none());
    // The next round is overdue: it runs at once, then the schedule resumes.
    assert!(a.next_deadline().unwrap() <= 10_100);
    a.handle_timeout(10_100);
    assert_eq!(sends(&mut a).len(), 1);
    assert_eq!(a.next_deadline(), Some(10_600));
    assert_eq!(a.next_round_at, Some(11_100));
}
