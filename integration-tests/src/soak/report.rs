//! What a soak run measured: counters summed over the honest nodes, probe
//! latencies, resident memory, and the report in markdown.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use gossip_core::{Coordinator, Error, NodeStats};
use gossip_transport_tcp::{TcpStats, TcpTransport};

use super::attacks::{Attack, Tally};

/// Counters summed over the honest nodes, by name: the node's
/// [`NodeStats`] and the transport's [`TcpStats`] that attacks move.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(pub BTreeMap<&'static str, u64>);

impl Counters {
    /// The counters of `nodes` and their `transports`, summed.
    ///
    /// # Errors
    ///
    /// When a node no longer answers (stopped, or its task died).
    pub async fn of(nodes: &[Coordinator], transports: &[&TcpTransport]) -> Result<Self, Error> {
        let mut sums = BTreeMap::new();
        for node in nodes {
            let health = node.health().await?;
            for (name, value) in node_counters(&health.stats) {
                *sums.entry(name).or_insert(0) += value;
            }
        }
        for transport in transports {
            for (name, value) in tcp_counters(&transport.stats()) {
                *sums.entry(name).or_insert(0) += value;
            }
        }
        Ok(Self(sums))
    }

    /// The counter `name` (0 when absent).
    #[must_use]
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// What grew from `before` to `self`.
    #[must_use]
    pub fn since(&self, before: &Self) -> Self {
        Self(
            self.0
                .iter()
                .map(|(name, value)| (*name, value.saturating_sub(before.get(name))))
                .collect(),
        )
    }
}

fn node_counters(stats: &NodeStats) -> [(&'static str, u64); 10] {
    [
        ("unsolicited_sync", stats.unsolicited_sync),
        ("serve_throttled", stats.serve_throttled),
        ("limit_refused", stats.limit_refused),
        ("buffer_refused", stats.buffer_refused),
        ("buffer_expired", stats.buffer_expired),
        ("malformed_frames", stats.malformed_frames),
        ("unknown_peer_frames", stats.unknown_peer_frames),
        ("throttled_frames", stats.throttled_frames),
        ("push_dropped", stats.push_dropped),
        ("entries_rejected", stats.entries_rejected),
    ]
}

fn tcp_counters(stats: &TcpStats) -> [(&'static str, u64); 5] {
    [
        ("handshake_failures", stats.handshake_failures),
        (
            "handshakes_refused_per_ip_cap",
            stats.handshakes_refused_per_ip_cap,
        ),
        (
            "handshakes_refused_total_cap",
            stats.handshakes_refused_total_cap,
        ),
        (
            "connections_refused_per_ip_cap",
            stats.connections_refused_per_ip_cap,
        ),
        (
            "connections_refused_total_cap",
            stats.connections_refused_total_cap,
        ),
    ]
}

/// The resident set size of this process in KiB (`VmRSS` of
/// `/proc/self/status`; 0 where there is none).
#[must_use]
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One phase of a soak run, as measured.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// What the attacker did.
    pub attack: Attack,
    /// How long it lasted.
    pub elapsed: Duration,
    /// Probe latencies (until all honest nodes held the probe), sorted.
    pub probes: Vec<Duration>,
    /// Probes that did not reach every honest node within the probe limit.
    pub probe_misses: usize,
    /// Counter growth over the phase, summed over the honest nodes.
    pub counters: Counters,
    /// What the attacker sent.
    pub tally: Tally,
    /// Entries the honest writers had acknowledged by the phase's end.
    pub acknowledged: usize,
    /// Entries held by the honest nodes at the phase's end (all streams).
    pub stored_entries: u64,
    /// Out-of-order entries buffered by the honest nodes at the phase's end.
    pub buffered_entries: usize,
    /// Resident memory at the phase's end, KiB.
    pub rss_kib: u64,
}

impl PhaseReport {
    /// The growth of the counters that prove this phase's attack was seen.
    #[must_use]
    pub fn own_count(&self) -> u64 {
        self.attack
            .own_counters()
            .iter()
            .map(|name| self.counters.get(name))
            .sum()
    }

    /// The `p`-th quantile of the probe latencies (`p` in 0..=1).
    #[must_use]
    pub fn quantile(&self, p: f64) -> Option<Duration> {
        quantile(&self.probes, p)
    }
}

/// The `p`-th quantile of `sorted` (nearest rank).
#[must_use]
pub fn quantile(sorted: &[Duration], p: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    let rank = ((last as f64) * p.clamp(0.0, 1.0)).round() as usize;
    sorted.get(rank.min(last)).copied()
}

/// The whole of a soak run.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Honest nodes.
    pub nodes: usize,
    /// Entries per second each honest node tried to append.
    pub rate: u32,
    /// How long the phases lasted in all.
    pub elapsed: Duration,
    /// The phases, in order.
    pub phases: Vec<PhaseReport>,
    /// Entries whose append returned `Ok`.
    pub acknowledged: usize,
    /// Appends that failed (not acknowledged: nothing is owed for them).
    pub append_failures: u64,
    /// Acknowledged entries missing on some honest node after convergence,
    /// as `node i lacks author#sequence` (the first few).
    pub lost: Vec<String>,
    /// How many acknowledged (entry, node) pairs were missing.
    pub lost_count: usize,
    /// How long the honest nodes took to agree on the shared stream once
    /// the load stopped (`None`: they never did within the limit).
    pub converged_after: Option<Duration>,
    /// Resident memory after setup, KiB.
    pub rss_start_kib: u64,
    /// Resident memory at the end (after convergence), KiB.
    pub rss_end_kib: u64,
    /// Entries held by the honest nodes after setup (all streams).
    pub stored_start: u64,
    /// Honest nodes that were no longer running at the end.
    pub dead_nodes: Vec<usize>,
}

impl SoakReport {
    /// The attacks whose own counters did not move.
    #[must_use]
    pub fn uncounted(&self) -> Vec<Attack> {
        self.phases
            .iter()
            .filter(|p| p.attack != Attack::Baseline && p.own_count() == 0)
            .map(|p| p.attack)
            .collect()
    }

    /// Whether the run met its claims: nothing acknowledged lost, the
    /// honest nodes converged and stayed up, every attack counted.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.lost_count == 0
            && self.converged_after.is_some()
            && self.dead_nodes.is_empty()
            && self.uncounted().is_empty()
    }

    /// The report in markdown.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = self.write_markdown(&mut out);
        out
    }

    fn write_markdown(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "### Soak: {} honest nodes over TCP, one attacking member, {:.0} s\n",
            self.nodes,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            out,
            "Load: each honest node appends {} entries/s (64-byte payloads) to the shared stream; \
             node 0 appends a probe to a second stream once a second and the time until all {} \
             honest nodes hold it is the probe latency.\n",
            self.rate, self.nodes
        )?;
        writeln!(
            out,
            "| phase | s | probes | p50 ms | p99 ms | max ms | attack counted by (Σ honest nodes) | other counters moved | attacker sent | stored entries | buffered | RSS MiB |"
        )?;
        writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|"
        )?;
        for (i, phase) in self.phases.iter().enumerate() {
            let ms =
                |d: Option<Duration>| d.map_or("–".to_owned(), |d| format!("{:.1}", millis(d)));
            let own: Vec<String> = phase
                .attack
                .own_counters()
                .iter()
                .map(|name| format!("{name} {}", phase.counters.get(name)))
                .collect();
            let others: Vec<String> = phase
                .counters
                .0
                .iter()
                .filter(|(name, value)| **value > 0 && !phase.attack.own_counters().contains(name))
                .map(|(name, value)| format!("{name} {value}"))
                .collect();
            let misses = if phase.probe_misses > 0 {
                format!(" (+{} missed)", phase.probe_misses)
            } else {
                String::new()
            };
            writeln!(
                out,
                "| {}. {} | {:.0} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                i + 1,
                phase.attack.name(),
                phase.elapsed.as_secs_f64(),
                phase.probes.len(),
                misses,
                ms(phase.quantile(0.5)),
                ms(phase.quantile(0.99)),
                ms(phase.probes.last().copied()),
                if own.is_empty() {
                    "–".to_owned()
                } else {
                    own.join(", ")
                },
                if others.is_empty() {
                    "–".to_owned()
                } else {
                    others.join(", ")
                },
                phase.tally,
                phase.stored_entries,
                phase.buffered_entries,
                mib(phase.rss_kib),
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "- Entries acknowledged: {} ({} appends failed, not acknowledged).",
            self.acknowledged, self.append_failures
        )?;
        match self.converged_after {
            Some(took) => writeln!(
                out,
                "- Honest nodes identical on the shared stream {:.1} s after the load stopped.",
                took.as_secs_f64()
            )?,
            None => writeln!(
                out,
                "- **Honest nodes did not converge on the shared stream.**"
            )?,
        }
        if self.lost_count == 0 {
            writeln!(
                out,
                "- Acknowledged entries lost: 0 (every one on every honest node)."
            )?;
        } else {
            writeln!(
                out,
                "- **Acknowledged entries missing: {}** (first: {}).",
                self.lost_count,
                self.lost.join("; ")
            )?;
        }
        if !self.dead_nodes.is_empty() {
            writeln!(
                out,
                "- **Honest nodes not running at the end: {:?}.**",
                self.dead_nodes
            )?;
        }
        let stored_end = self.phases.last().map_or(0, |p| p.stored_entries);
        writeln!(
            out,
            "- RSS: {:.1} MiB after setup ({} entries stored), {:.1} MiB at the end ({} entries stored).",
            mib(self.rss_start_kib),
            self.stored_start,
            mib(self.rss_end_kib),
            stored_end
        )?;
        let uncounted = self.uncounted();
        if uncounted.is_empty() {
            writeln!(out, "- Every attack counted: yes.")?;
        } else {
            let names: Vec<&str> = uncounted.iter().map(|a| a.name()).collect();
            writeln!(out, "- **Attacks not counted: {}.**", names.join(", "))?;
        }
        writeln!(
            out,
            "- Verdict: {}.",
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
