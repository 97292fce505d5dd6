//! The simulation harness: detectors on a simulated network, and the
//! scenarios that need more than two of them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::id;
use crate::domain::{NodeId, PeerStatus, SeededRng};
use crate::protocol::messages::Message;
use crate::protocol::swim::{FailureDetector, SwimConfig, SwimOutput};

struct Envelope {
    from: usize,
    to: usize,
    message: Message,
    /// Already held back by a starved receiver (not held back twice).
    held: bool,
}

/// Several detectors on a simulated network: seeded loss, 1–20 ms latency,
/// directed links that can be cut, nodes that can be stopped and restarted,
/// and nodes starved of CPU (see [`Starvation`]).
/// Time advances to the next delivery or deadline; nothing reads a clock.
pub(super) struct Sim {
    pub(super) ids: Vec<NodeId>,
    pub(super) nodes: Vec<FailureDetector>,
    up: Vec<bool>,
    starved: BTreeMap<usize, Starvation>,
    config: SwimConfig,
    rng: SeededRng,
    loss: f64,
    cut: BTreeSet<(usize, usize)>,
    in_flight: BTreeMap<(u64, u64), Envelope>,
    seq: u64,
    pub(super) now: u64,
    /// (time, observer, peer, status)
    pub(super) events: Vec<(u64, usize, usize, PeerStatus)>,
    pub(super) sent: BTreeMap<&'static str, usize>,
    trace: Option<Vec<String>>,
}

/// The share of the messages arriving at a node in a starvation burst that
/// its full receive buffer drops.
const STARVED_OVERFLOW: f64 = 0.2;

/// A node starved of CPU in bursts: during a burst its incoming messages
/// wait `lag` ms in its receive queue (in order) before it handles them, and
/// its timers fire `lag / 4` ms late. Between bursts it is healthy.
#[derive(Debug, Clone)]
pub(super) struct Starvation {
    /// (start, end, lag), sorted and disjoint.
    bursts: Vec<(u64, u64, u64)>,
    /// When the receive queue's last message is handled (keeps it in order).
    queue_tail: u64,
}

impl Starvation {
    /// Bursts until `end`: healthy for 2–10 s, then starved for 5–30 s with
    /// a lag of 300–3000 ms, and so on.
    pub(super) fn random(rng: &mut SeededRng, end: u64) -> Self {
        let mut bursts = Vec::new();
        let mut t = 0;
        loop {
            let start = t + 2_000 + rng.below(8_001);
            if start >= end {
                break;
            }
            let stop = start + 5_000 + rng.below(25_001);
            bursts.push((start, stop, 300 + rng.below(5_701)));
            t = stop;
        }
        Self {
            bursts,
            queue_tail: 0,
        }
    }

    /// The receive lag at `t`: that of the burst under way, else 0.
    fn lag(&self, t: u64) -> u64 {
        self.bursts
            .iter()
            .find(|(start, end, _)| (*start..*end).contains(&t))
            .map_or(0, |b| b.2)
    }
}

impl Sim {
    pub(super) fn new(n: usize, seed: u64, loss: f64, config: SwimConfig) -> Self {
        let mut rng = SeededRng::new(seed);
        let ids: Vec<NodeId> = (0..n).map(|i| id(&format!("n{i}"))).collect();
        let nodes = ids
            .iter()
            .map(|local| {
                let mut d = FailureDetector::new(local.clone(), config.clone(), rng.fork());
                for other in &ids {
                    d.add_member(other.clone(), 0);
                }
                d
            })
            .collect();
        Self {
            ids,
            nodes,
            up: vec![true; n],
            starved: BTreeMap::new(),
            config,
            rng,
            loss,
            cut: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            seq: 0,
            now: 0,
            events: Vec::new(),
            sent: BTreeMap::new(),
            trace: None,
        }
    }

    /// Starves node `i` as `starvation` says.
    pub(super) fn starve(&mut self, i: usize, starvation: Starvation) {
        self.starved.insert(i, starvation);
    }

    /// When node `i` handles a timer due at `deadline`.
    fn timer_fires(&self, i: usize, deadline: u64) -> u64 {
        let lag = self.starved.get(&i).map_or(0, |s| s.lag(deadline));
        deadline + lag / 4
    }

    fn index(&self, node: &NodeId) -> usize {
        self.ids.iter().position(|n| n == node).unwrap()
    }

    fn collect(&mut self, i: usize) {
        let outputs: Vec<SwimOutput> = self.nodes[i].drain_outputs().collect();
        for output in outputs {
            if let Some(trace) = &mut self.trace {
                trace.push(format!("{} {} {:?}", self.now, self.ids[i], output));
            }
            match output {
                SwimOutput::Send { to, message } => {
                    let to = self.index(&to);
                    *self.sent.entry(message.kind().name()).or_default() += 1;
                    let lost = self.rng.chance(self.loss);
                    if !self.up[to] || self.cut.contains(&(i, to)) || lost {
                        continue;
                    }
                    let at = self.now + 1 + self.rng.below(20);
                    self.seq += 1;
                    self.in_flight.insert(
                        (at, self.seq),
                        Envelope {
                            from: i,
                            to,
                            message,
                            held: false,
                        },
                    );
                }
                SwimOutput::StatusChanged { peer, status } => {
                    let peer = self.index(&peer);
                    self.events.push((self.now, i, peer, status));
                }
            }
        }
    }

    pub(super) fn run_until(&mut self, end: u64) {
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 10_000_000, "simulation does not progress");
            let timer = (0..self.nodes.len())
                .filter(|i| self.up[*i])
                .filter_map(|i| {
                    self.nodes[i]
                        .next_deadline()
                        .map(|t| (self.timer_fires(i, t).max(self.now), i))
                })
                .min();
            let delivery = self.in_flight.keys().next().copied();
            let next = match (timer, delivery) {
                (Some((t, _)), Some((d, _))) => t.min(d),
                (Some((t, _)), None) => t,
                (None, Some((d, _))) => d,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            assert!(next >= self.now, "time went backwards");
            self.now = next;
            if delivery.is_some_and(|(d, _)| d == next) {
                let (_, mut envelope) = self.in_flight.pop_first().unwrap();
                if let Some(starvation) = self.starved.get_mut(&envelope.to) {
                    let lag = starvation.lag(next);
                    if !envelope.held && (lag > 0 || starvation.queue_tail > next) {
                        if lag > 0 && self.rng.chance(STARVED_OVERFLOW) {
                            continue; // its receive buffer overflowed
                        }
                        // Into the starved node's receive queue, in order.
                        let at = (next + lag).max(starvation.queue_tail);
                        starvation.queue_tail = at;
                        envelope.held = true;
                        self.seq += 1;
                        self.in_flight.insert((at, self.seq), envelope);
                        continue;
                    }
                }
                if self.up[envelope.to] {
                    let from = self.ids[envelope.from].clone();
                    self.nodes[envelope.to].handle_message(&from, &envelope.message, next);
                    self.collect(envelope.to);
                }
            } else if let Some((_, i)) = timer {
                self.nodes[i].handle_timeout(next);
                self.collect(i);
            }
        }
        self.now = end;
    }

    pub(super) fn stop(&mut self, i: usize) {
        self.up[i] = false;
    }

    /// Node `i` pauses as a node does: announces it is dormant, then goes
    /// quiet (handles nothing, sends nothing).
    pub(super) fn pause(&mut self, i: usize) {
        self.nodes[i].go_dormant(self.now);
        self.collect(i);
        self.up[i] = false;
    }

    /// Node `i` resumes after [`pause`](Self::pause) and says so.
    pub(super) fn resume(&mut self, i: usize) {
        self.up[i] = true;
        self.nodes[i].wake(self.now);
        self.collect(i);
    }

    /// The node comes back as a fresh process: incarnation 0, every member reachable.
    fn restart(&mut self, i: usize) {
        let mut d = FailureDetector::new(self.ids[i].clone(), self.config.clone(), self.rng.fork());
        for other in &self.ids {
            d.add_member(other.clone(), self.now);
        }
        self.nodes[i] = d;
        self.up[i] = true;
    }

    fn cut_both_ways(&mut self, a: usize, b: usize) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    pub(super) fn unreachable_verdicts(&self) -> Vec<&(u64, usize, usize, PeerStatus)> {
        self.events
            .iter()
            .filter(|e| e.3 == PeerStatus::Unreachable)
            .collect()
    }
}

pub(super) fn secs(s: u64) -> u64 {
    s * 1_000
}

// ---------------------------------------------------------------------------
// Simulated scenarios.

#[test]
fn direct_ping_ack_keeps_everyone_reachable() {
    let mut sim = Sim::new(5, 1, 0.0, SwimConfig::default());
    sim.run_until(secs(120));
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    for (i, node) in sim.nodes.iter().enumerate() {
        assert_eq!(node.members().count(), 4);
        assert_eq!(node.reachable().count(), 4, "node {i}");
        assert_eq!(node.incarnation(), 0);
    }
    // One ping per node per period, each answered; no indirect probing needed.
    assert!(sim.sent["ping"] >= 5 * 119);
    assert_eq!(sim.sent.get("ping_req"), None);
}

#[test]
fn silent_node_is_suspected_then_unreachable_within_the_bound_and_reachable_after_it_returns() {
    // Classic SWIM timings; `lifeguard::a_dead_node_is_still_declared_unreachable_within_the_bound`
    // runs this with Lifeguard.
    let config = super::five_second_suspicion().lifeguard(false);
    let n = 8;
    let bound = u64::try_from(config.detection_bound(n - 1).as_millis()).unwrap();
    // ((3 + 1) × 7 + 1) × 1 s + 5 s
    assert_eq!(bound, secs(34));
    for (seed, loss) in [(1, 0.0), (2, 0.0), (3, 0.1), (4, 0.1), (5, 0.2)] {
        let mut sim = Sim::new(n, seed, loss, config.clone());
        let silent = n - 1;
        sim.run_until(secs(30));
        let stopped_at = sim.now;
        sim.stop(silent);
        sim.run_until(stopped_at + bound);
        for observer in 0..silent {
            let about: Vec<_> = sim
                .events
                .iter()
                .filter(|e| e.1 == observer && e.2 == silent && e.0 >= stopped_at)
                .map(|e| e.3)
                .collect();
            assert_eq!(
                about.last(),
                Some(&PeerStatus::Unreachable),
                "seed {seed}: observer {observer} saw {about:?}"
            );
            assert!(about.contains(&PeerStatus::Suspected), "seed {seed}");
            assert_eq!(
                sim.nodes[observer].status(&sim.ids[silent]),
                Some(PeerStatus::Unreachable)
            );
            assert!(!sim.nodes[observer]
                .reachable()
                .any(|p| p == &sim.ids[silent]));
        }
        let last_verdict = sim
            .unreachable_verdicts()
            .iter()
            .filter(|e| e.2 == silent)
            .map(|e| e.0)
            .max()
            .unwrap();
        println!(
            "seed {seed} loss {loss}: all declared n{silent} unreachable {} ms after it stopped (bound {bound})",
            last_verdict - stopped_at
        );

        // It comes back as a fresh process and is reachable again within one
        // pass of its own probes (it pings every member once).
        sim.run_until(stopped_at + secs(60));
        let returned_at = sim.now;
        sim.restart(silent);
        sim.run_until(returned_at + (n as u64 + 1) * secs(1));
        for observer in 0..silent {
            assert_eq!(
                sim.nodes[observer].status(&sim.ids[silent]),
                Some(PeerStatus::Reachable),
                "seed {seed}: observer {observer}"
            );
        }
        assert_eq!(sim.nodes[silent].reachable().count(), n - 1);
    }
}

#[test]
fn indirect_probes_rescue_a_broken_direct_link() {
    let mut sim = Sim::new(3, 7, 0.0, SwimConfig::default());
    sim.cut_both_ways(0, 1);
    sim.run_until(secs(300));
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(
        sim.nodes[0].status(&sim.ids[1]),
        Some(PeerStatus::Reachable)
    );
    assert_eq!(
        sim.nodes[1].status(&sim.ids[0]),
        Some(PeerStatus::Reachable)
    );
    assert!(sim.sent["ping_req"] > 50);
}

#[test]
fn indirect_probes_rescue_a_broken_link_under_loss_too() {
    let mut sim = Sim::new(8, 11, 0.1, SwimConfig::default());
    sim.cut_both_ways(0, 1);
    sim.run_until(secs(600));
    assert!(sim.unreachable_verdicts().is_empty(), "{:?}", sim.events);
}

#[test]
fn a_partitioned_node_refutes_the_suspicion_by_raising_its_incarnation() {
    let mut sim = Sim::new(4, 5, 0.0, SwimConfig::default());
    sim.run_until(secs(10));
    for other in 0..3 {
        sim.cut_both_ways(3, other);
    }
    // Long enough for n3 to be suspected (3 failed probes, round-robin over
    // 3 members). Once healed, the first node that hears from n3 tells it
    // what it believed; n3 refutes, and everyone adopts its new incarnation.
    sim.run_until(secs(10) + secs(12));
    let suspected = sim
        .events
        .iter()
        .any(|e| e.2 == 3 && e.3 == PeerStatus::Suspected);
    assert!(suspected, "{:?}", sim.events);
    sim.cut.clear();
    sim.run_until(secs(60));
    assert!(sim.nodes[3].incarnation() >= 1, "n3 never refuted");
    for observer in 0..3 {
        assert_eq!(
            sim.nodes[observer].status(&sim.ids[3]),
            Some(PeerStatus::Reachable)
        );
        assert_eq!(
            sim.nodes[observer].member_incarnation(&sim.ids[3]),
            Some(sim.nodes[3].incarnation())
        );
    }
}

#[test]
fn no_node_is_declared_unreachable_under_30_percent_loss_alone() {
    let n = 8;
    let mut suspicions = 0;
    for seed in 1..=6 {
        let mut sim = Sim::new(n, seed, 0.3, SwimConfig::default());
        sim.run_until(secs(600));
        let verdicts = sim.unreachable_verdicts();
        assert!(verdicts.is_empty(), "seed {seed}: {verdicts:?}");
        suspicions += sim
            .events
            .iter()
            .filter(|e| e.3 == PeerStatus::Suspected)
            .count();
        for node in &sim.nodes {
            assert_eq!(node.reachable().count(), n - 1);
        }
    }
    println!("30% loss: {suspicions} transient suspicions over 6 runs of 8 nodes × 10 min");
}

#[test]
fn same_seed_same_trace() {
    let run = |seed| {
        let mut sim = Sim::new(6, seed, 0.3, SwimConfig::default());
        sim.trace = Some(Vec::new());
        sim.run_until(secs(20));
        sim.stop(5);
        sim.run_until(secs(80));
        (sim.trace.unwrap(), sim.events)
    };
    let (a, events_a) = run(42);
    let (b, events_b) = run(42);
    assert!(a.len() > 1_000);
    assert_eq!(a, b);
    assert_eq!(events_a, events_b);
    assert_ne!(a, run(43).0);
}

#[test]
fn detection_bound_holds_for_a_small_config_too() {
    for lifeguard in [false, true] {
        let config = SwimConfig::default()
            .lifeguard(lifeguard)
            .probe_interval(Duration::from_millis(200))
            .ping_timeout(Duration::from_millis(80))
            .suspicion_threshold(2)
            .suspicion_timeout(Duration::from_millis(600));
        let bound = u64::try_from(config.detection_bound(4).as_millis()).unwrap();
        let mut sim = Sim::new(5, 9, 0.0, config);
        sim.run_until(5_000);
        sim.stop(4);
        sim.run_until(5_000 + bound);
        for observer in 0..4 {
            assert_eq!(
                sim.nodes[observer].status(&sim.ids[4]),
                Some(PeerStatus::Unreachable),
                "lifeguard {lifeguard}"
            );
        }
    }
}
