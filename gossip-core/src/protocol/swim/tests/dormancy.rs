//! Announced dormancy: a paused node is left alone, not suspected; it
//! comes back by saying so; one that never comes back is suspected by the
//! normal rules once `max_dormancy` has passed.

use std::time::Duration;

use super::sim::{secs, Sim};
use super::*;

/// Verdicts about `node` by anyone: (suspicions, unreachable).
fn verdicts_about(sim: &Sim, node: usize) -> (usize, usize) {
    let about = sim.events.iter().filter(|e| e.2 == node);
    let suspected = about
        .clone()
        .filter(|e| e.3 == PeerStatus::Suspected)
        .count();
    let unreachable = about.filter(|e| e.3 == PeerStatus::Unreachable).count();
    (suspected, unreachable)
}

#[test]
fn a_node_paused_for_30_s_is_never_suspected_and_is_reachable_after_resume() {
    let (n, paused) = (8, 3);
    let (mut announced, mut silent) = ((0, 0), (0, 0));
    for seed in 1..=200 {
        // Announced: pause, 30 s away, resume.
        let mut sim = Sim::new(n, seed, 0.01, SwimConfig::default());
        sim.run_until(secs(20));
        sim.pause(paused);
        sim.run_until(secs(50));
        assert!(
            (0..n)
                .filter(|i| *i != paused)
                .all(|i| sim.nodes[i].status(&sim.ids[paused]) == Some(PeerStatus::Dormant)),
            "seed {seed}: every member knows it is dormant"
        );
        sim.resume(paused);
        sim.run_until(secs(70));
        let (s, u) = verdicts_about(&sim, paused);
        announced = (announced.0 + s, announced.1 + u);
        assert_eq!((s, u), (0, 0), "seed {seed}: a dormant node was suspected");
        for i in (0..n).filter(|i| *i != paused) {
            assert_eq!(
                sim.nodes[i].status(&sim.ids[paused]),
                Some(PeerStatus::Reachable),
                "seed {seed}: node {i} after the resume"
            );
        }
        // The same 30 s without announcing it (as before this change).
        let mut sim = Sim::new(n, seed, 0.01, SwimConfig::default());
        sim.run_until(secs(20));
        sim.stop(paused);
        sim.run_until(secs(50));
        let (s, u) = verdicts_about(&sim, paused);
        silent = (silent.0 + s, silent.1 + u);
    }
    println!(
        "200 seeds, 8 nodes, 1 % loss, one node away for 30 s: announced → {} suspicions, {} \
         unreachable verdicts; silent → {} suspicions, {} unreachable verdicts",
        announced.0, announced.1, silent.0, silent.1
    );
    assert!(silent.1 > 0, "the silent pause is declared unreachable");
}

#[test]
fn a_dormant_node_that_never_returns_is_suspected_after_max_dormancy() {
    let config = SwimConfig::default().max_dormancy(Duration::from_secs(60));
    let bound = config.detection_bound(7).as_millis() as u64;
    for seed in 1..=20 {
        let mut sim = Sim::new(8, seed, 0.0, config.clone());
        sim.run_until(secs(10));
        sim.pause(0);
        sim.run_until(secs(10 + 60) + bound);
        let first = sim
            .events
            .iter()
            .filter(|e| e.2 == 0 && e.3 != PeerStatus::Dormant)
            .map(|e| e.0)
            .min();
        assert!(
            first.is_some_and(|at| at >= secs(70)),
            "seed {seed}: nothing before max_dormancy: {first:?}"
        );
        for i in 1..8 {
            assert_eq!(
                sim.nodes[i].status(&sim.ids[0]),
                Some(PeerStatus::Unreachable),
                "seed {seed}: node {i}"
            );
        }
    }
}

#[test]
fn a_forged_dormancy_claim_is_refuted_by_the_node_it_names() {
    let mut d = detector("a", &["b", "c"], 1);
    // `b` claims `a` is dormant at `a`'s incarnation: `a` is not, and says so.
    d.handle_message(
        &id("b"),
        &ping_with(vec![update("a", 0, MemberState::Dormant)]),
        10,
    );
    assert_eq!(d.incarnation(), 1);
    assert_eq!(d.local_health(), 0, "no slowness hint");
    assert!(!d.is_dormant());
}
