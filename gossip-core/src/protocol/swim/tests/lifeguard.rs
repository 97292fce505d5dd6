//! Lifeguard: the local health multiplier, nacks, suspicions shortened by
//! confirmations (hand-driven), and a CPU-starved node in the simulation.

use std::time::Duration;

use super::sim::{secs, Sim, Starvation};
use super::*;
use crate::protocol::messages::{Nack, PingReq};

fn ping_req(probe: u64, target: &str) -> Message {
    Message::PingReq(PingReq {
        probe,
        target: id(target),
        updates: vec![],
    })
}

fn ack(probe: u64, target: &str) -> Message {
    Message::Ack(Ack {
        probe,
        target: id(target),
        incarnation: 0,
        updates: vec![],
    })
}

fn nack(probe: u64, target: &NodeId) -> Message {
    Message::Nack(Nack {
        probe,
        target: target.clone(),
        updates: vec![],
    })
}

/// Runs `a`'s next probe round (unless one is in flight) and lets the
/// direct phase expire: returns the probe number, the target and the
/// intermediaries asked.
fn probe_goes_indirect(a: &mut FailureDetector) -> (u64, NodeId, Vec<NodeId>) {
    if a.probe.is_none() {
        let t = a.next_deadline().unwrap();
        a.handle_timeout(t);
    }
    let _ = sends(a);
    let t = a.next_deadline().unwrap();
    a.handle_timeout(t);
    let asked = sends(a)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::PingReq(_)))
        .map(|(to, _)| to)
        .collect();
    let probe = a.probe.as_ref().unwrap();
    (probe.number, probe.target.clone(), asked)
}

// ---------------------------------------------------------------------------
// Local health multiplier.

#[test]
fn missing_nacks_raise_local_health_received_ones_spare_it_and_successes_lower_it() {
    let mut a = detector("a", &["b", "c", "d"], 1);
    let (probe, target, asked) = probe_goes_indirect(&mut a);
    assert_eq!(asked.len(), 2);
    // Both intermediaries nack: the target is the problem, not us.
    for from in &asked {
        a.handle_message(from, &nack(probe, &target), 1_700);
        a.handle_message(from, &nack(probe, &target), 1_710); // counted once
    }
    a.handle_timeout(a.next_deadline().unwrap());
    assert_eq!(a.members[&target].failed_probes, 1);
    assert_eq!(a.local_health(), 0);

    // Next probe: one nack; a nack for another probe and one from the
    // target itself do not count: one nack missing.
    let (probe, target, asked) = probe_goes_indirect(&mut a);
    assert_eq!(asked.len(), 2);
    a.handle_message(&asked[0], &nack(probe, &target), 2_700);
    a.handle_message(&asked[1], &nack(probe + 1, &target), 2_700);
    a.handle_message(&target, &nack(probe, &target), 2_700);
    let failed_at = a.next_deadline().unwrap();
    a.handle_timeout(failed_at);
    assert_eq!(a.local_health(), 1);

    // The next round started at once, with doubled timings; its success
    // brings health back down.
    assert_eq!(a.next_deadline(), Some(failed_at + 2 * 500));
    assert_eq!(a.next_round_at, Some(failed_at + 2 * 1_000));
    let (number, target) = {
        let probe = a.probe.as_ref().unwrap();
        (probe.number, probe.target.clone())
    };
    let answer = Message::Ack(Ack {
        probe: number,
        target: target.clone(),
        incarnation: 0,
        updates: vec![],
    });
    a.handle_message(&target, &answer, failed_at + 900);
    assert!(a.probe.is_none());
    assert_eq!(a.local_health(), 0);
}

#[test]
fn refuting_a_suspicion_raises_local_health_and_stretches_the_probe_timings() {
    let mut x = detector("x", &["a", "b"], 1);
    for incarnation in 0..2 {
        let suspect = ping_with(vec![update("x", incarnation, MemberState::Suspect)]);
        x.handle_message(&id("a"), &suspect, 100);
    }
    assert_eq!(x.incarnation(), 2);
    assert_eq!(x.local_health(), 2);
    // The first round was scheduled at health 0; it runs with 3 × the timings.
    x.handle_timeout(1_000);
    assert_eq!(x.next_deadline(), Some(1_000 + 3 * 500));
    assert_eq!(x.next_round_at, Some(1_000 + 3 * 1_000));

    let config = five_second_suspicion().lifeguard(false);
    let mut classic = detector_with(config, "x", &["a", "b"], 1);
    classic.handle_message(
        &id("a"),
        &ping_with(vec![update("x", 0, MemberState::Suspect)]),
        100,
    );
    assert_eq!(classic.incarnation(), 1);
    assert_eq!(classic.local_health(), 0);
}

#[test]
fn a_lone_prober_slows_down_as_its_probes_fail() {
    // With no intermediary to nack, each failed probe counts against us.
    let mut a = detector("a", &["b"], 1);
    let mut seen = Vec::new();
    let mut health = Vec::new();
    while a.status(&id("b")) != Some(PeerStatus::Unreachable) {
        let t = a.next_deadline().unwrap();
        a.handle_timeout(t);
        for (peer, status) in changes(&mut a) {
            assert_eq!(peer, id("b"));
            seen.push((t, status));
            health.push(a.local_health());
        }
        assert!(t < 60_000);
    }
    // Probes at 1, 2, 4 s last 1, 2, 3 s: suspected at 7 s. No member can
    // confirm, so the suspicion runs its minimum, 5 s.
    assert_eq!(
        seen,
        vec![
            (7_000, PeerStatus::Suspected),
            (12_000, PeerStatus::Unreachable)
        ]
    );
    assert_eq!(health, vec![3, 4]);
}

// ---------------------------------------------------------------------------
// Nacks.

#[test]
fn an_intermediary_nacks_a_silent_target_once_and_never_an_answering_one() {
    let mut c = detector("c", &["a", "b"], 3);
    c.handle_message(&id("a"), &ping_req(7, "b"), 100);
    assert_eq!(sends(&mut c).len(), 1, "the ping to b");
    // 80 % of the requester's indirect phase (1 s − 500 ms).
    assert_eq!(c.next_deadline(), Some(500));
    c.handle_timeout(500);
    let out = sends(&mut c);
    assert!(
        matches!(out.as_slice(), [(to, Message::Nack(n))]
            if to == &id("a") && n.probe == 7 && n.target == id("b")),
        "{out:?}"
    );
    c.handle_timeout(600);
    assert!(sends(&mut c).is_empty(), "nacked once");

    // b answers in time: the ack is relayed, no nack follows.
    c.handle_message(&id("a"), &ping_req(8, "b"), 2_000);
    let out = sends(&mut c);
    let [(_, Message::Ping(ping))] = out.as_slice() else {
        panic!("{out:?}")
    };
    c.handle_message(&id("b"), &ack(ping.probe, "b"), 2_050);
    assert!(matches!(sends(&mut c).as_slice(), [(_, Message::Ack(_))]));
    c.handle_timeout(2_400);
    assert!(sends(&mut c)
        .iter()
        .all(|(_, m)| !matches!(m, Message::Nack(_))));

    // Without Lifeguard, no nacks.
    let config = five_second_suspicion().lifeguard(false);
    let mut classic = detector_with(config, "c", &["a", "b"], 3);
    classic.handle_message(&id("a"), &ping_req(7, "b"), 100);
    let _ = sends(&mut classic);
    assert_eq!(classic.next_deadline(), Some(1_000), "its own first round");
}

// ---------------------------------------------------------------------------
// Suspicions shortened by confirmations.

#[test]
fn independent_confirmations_shorten_a_suspicion_down_to_the_timeout() {
    let mut a = detector("a", &["b", "c", "d", "e", "f"], 1);
    let suspect_f = ping_with(vec![update("f", 0, MemberState::Suspect)]);
    let deadline = |a: &FailureDetector| {
        a.members[&id("f")]
            .suspicion
            .as_ref()
            .map(suspicion::Suspicion::deadline)
    };
    // b raises it: unconfirmed, it runs 6 × 5 s.
    a.handle_message(&id("b"), &suspect_f, 10_000);
    assert_eq!(a.status(&id("f")), Some(PeerStatus::Suspected));
    assert_eq!(deadline(&a), Some(10_000 + 30_000));
    // b again is no confirmation.
    a.handle_message(&id("b"), &suspect_f, 10_100);
    assert_eq!(deadline(&a), Some(10_000 + 30_000));
    // Each distinct member confirming shortens it, logarithmically: k = 3.
    a.handle_message(&id("c"), &suspect_f, 10_200);
    assert_eq!(deadline(&a), Some(10_000 + 17_500));
    a.handle_message(&id("d"), &suspect_f, 10_300);
    assert_eq!(deadline(&a), Some(10_000 + 10_187));
    a.handle_message(&id("e"), &suspect_f, 10_400);
    assert_eq!(deadline(&a), Some(10_000 + 5_000));
    a.handle_timeout(15_000);
    assert_eq!(a.status(&id("f")), Some(PeerStatus::Unreachable));
    // An older incarnation's suspicion confirms nothing.
    let mut b = detector("b", &["a", "c", "d", "e", "f"], 2);
    b.handle_message(
        &id("a"),
        &ping_with(vec![update("f", 3, MemberState::Suspect)]),
        100,
    );
    b.handle_message(&id("c"), &suspect_f, 200);
    assert_eq!(
        b.members[&id("f")]
            .suspicion
            .as_ref()
            .unwrap()
            .confirmations(),
        0
    );

    // In a 3-node cluster a suspicion heard from the only other member can
    // get no confirmation: it runs the minimum at once. One raised by our
    // own probes can still be confirmed by that member.
    let mut small = detector("a", &["b", "f"], 4);
    small.handle_message(&id("b"), &suspect_f, 10_000);
    assert_eq!(deadline(&small), Some(10_000 + 5_000));
    let mut small = detector("a", &["b", "f"], 4);
    while small.status(&id("f")) != Some(PeerStatus::Suspected) {
        let t = small.next_deadline().unwrap();
        small.handle_timeout(t);
        small.handle_contact(&id("b"), t); // b stays in touch; f is silent
    }
    let started = small.members[&id("f")]
        .suspicion
        .as_ref()
        .unwrap()
        .deadline()
        - 30_000;
    small.handle_message(&id("b"), &suspect_f, started + 10);
    assert_eq!(deadline(&small), Some(started + 5_000), "k = 1, confirmed");

    // Without Lifeguard, the suspicion is the fixed timeout.
    let config = five_second_suspicion().lifeguard(false);
    let mut classic = detector_with(config, "a", &["b", "c", "d", "e", "f"], 1);
    classic.handle_message(&id("b"), &suspect_f, 10_000);
    assert_eq!(deadline(&classic), Some(15_000));
}

// ---------------------------------------------------------------------------
// Simulated: a CPU-starved node, and a dead one.

/// False verdicts about healthy members.
#[derive(Debug, Default, Clone, Copy)]
struct FalseVerdicts {
    /// Suspicions raised by anyone.
    suspicions: usize,
    /// Of which by the starved node itself.
    by_starved: usize,
    /// Unreachable verdicts raised by anyone.
    unreachable: usize,
}

/// Counts, over `seeds`, the suspicions and unreachable verdicts about
/// healthy members (any but the starved node 0) raised by anyone, in 8-node
/// clusters under 1 % loss where node 0 is starved in bursts (see
/// [`Starvation::random`]) for 5 minutes.
fn false_verdicts_around_a_starved_node(config: &SwimConfig, seeds: u64) -> FalseVerdicts {
    let (n, starved, end) = (8, 0, secs(300));
    let mut count = FalseVerdicts::default();
    for seed in 1..=seeds {
        let mut sim = Sim::new(n, seed, 0.01, config.clone());
        let mut rng = SeededRng::new(seed ^ 0x5eed);
        sim.starve(starved, Starvation::random(&mut rng, end));
        sim.run_until(end);
        for &(_, observer, peer, status) in &sim.events {
            if peer == starved {
                continue;
            }
            match status {
                PeerStatus::Suspected => {
                    count.suspicions += 1;
                    count.by_starved += usize::from(observer == starved);
                }
                PeerStatus::Unreachable => count.unreachable += 1,
                PeerStatus::Reachable | PeerStatus::Dormant => {}
            }
        }
    }
    count
}

/// `false_verdicts_around_a_starved_node` over 200 seeds with and without
/// Lifeguard, printed.
fn compare(name: &str, config: &SwimConfig) -> (FalseVerdicts, FalseVerdicts) {
    let seeds = 200;
    let with = false_verdicts_around_a_starved_node(&config.clone().lifeguard(true), seeds);
    let without = false_verdicts_around_a_starved_node(&config.clone().lifeguard(false), seeds);
    println!(
        "starved node, {name}, {seeds} seeds × 8 nodes × 5 min: false suspicions (by the \
         starved node) / unreachable verdicts about healthy nodes: with Lifeguard {} ({}) / {}, \
         without {} ({}) / {}",
        with.suspicions,
        with.by_starved,
        with.unreachable,
        without.suspicions,
        without.by_starved,
        without.unreachable
    );
    (with, without)
}

#[test]
fn lifeguard_keeps_a_starved_node_from_blaming_healthy_ones() {
    // Classic SWIM: one failed probe makes a suspicion (as in memberlist).
    let config = SwimConfig::default()
        .suspicion_threshold(1)
        .suspicion_timeout(Duration::from_secs(5));
    let (with, without) = compare("threshold 1, 5 s suspicion", &config);
    assert!(
        without.suspicions > 0,
        "the starved node never misled anyone"
    );
    assert!(
        with.suspicions < without.suspicions,
        "with {with:?}, without {without:?}"
    );
    assert!(
        with.unreachable <= without.unreachable,
        "with {with:?}, without {without:?}"
    );
}

#[test]
fn with_several_failed_probes_to_suspect_lifeguard_is_no_worse() {
    // Three failed probes in a row (the default) and any contact resetting
    // the count already absorb most of the starved node's lateness.
    for (name, config) in [
        ("threshold 2", SwimConfig::default().suspicion_threshold(2)),
        ("defaults (threshold 3)", SwimConfig::default()),
    ] {
        let (with, without) = compare(name, &config);
        assert!(
            with.suspicions <= without.suspicions && with.unreachable <= without.unreachable,
            "{name}: with {with:?}, without {without:?}"
        );
    }
}

#[test]
fn a_dead_node_is_still_declared_unreachable_within_the_bound() {
    let config = five_second_suspicion();
    assert!(config.lifeguard);
    let n = 8;
    let bound = u64::try_from(config.detection_bound(n - 1).as_millis()).unwrap();
    for (seed, loss) in [(1, 0.0), (2, 0.0), (3, 0.1), (4, 0.1), (5, 0.2)] {
        let mut sim = Sim::new(n, seed, loss, config.clone());
        let silent = n - 1;
        sim.run_until(secs(30));
        let stopped_at = sim.now;
        sim.stop(silent);
        sim.run_until(stopped_at + bound);
        let mut slowest = 0;
        for observer in 0..silent {
            assert_eq!(
                sim.nodes[observer].status(&sim.ids[silent]),
                Some(PeerStatus::Unreachable),
                "seed {seed}: observer {observer}"
            );
            let at = sim
                .events
                .iter()
                .filter(|e| e.1 == observer && e.2 == silent && e.3 == PeerStatus::Unreachable)
                .map(|e| e.0)
                .max()
                .unwrap();
            slowest = slowest.max(at - stopped_at);
        }
        let health = sim.nodes[..silent]
            .iter()
            .map(FailureDetector::local_health)
            .max()
            .unwrap();
        println!(
            "seed {seed} loss {loss}: all declared n{silent} unreachable {slowest} ms after it \
             stopped (bound {bound}; highest local health now {health})"
        );
        if loss == 0.0 {
            // Without loss, every intermediary nacks the dead node: no
            // observer's health rises, and the healthy bound holds.
            let healthy = config.detection_bound_at_health(n - 1, 0).as_millis();
            assert!(
                u128::from(slowest) <= healthy,
                "seed {seed}: {slowest} > {healthy}"
            );
        }
    }
}
