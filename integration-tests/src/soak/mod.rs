//! The soak run of issue 17: eight honest nodes over TCP on loopback append
//! continuously while one attacking member cycles through every attack;
//! nothing acknowledged may be lost, memory must stay flat, and every
//! attack must be counted. `src/bin/soak.rs` runs it for minutes;
//! `tests/soak_smoke.rs` for seconds.
//!
//! ```no_run
//! # async fn soak() -> Result<(), integration_tests::soak::BoxError> {
//! use std::time::Duration;
//! use integration_tests::soak::{run, SoakOptions};
//!
//! let report = run(SoakOptions::default().duration(Duration::from_secs(60))).await?;
//! eprintln!("{}", report.to_markdown());
//! assert!(report.passed());
//! # Ok(()) }
//! ```

mod attacks;
mod report;

pub use attacks::{Attack, Tally};
pub use report::{quantile, rss_kib, Counters, PhaseReport, SoakReport};

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use attacks::{Attacker, Target};
use gossip_core::{
    ChannelId, Config, Coordinator, Identity, NodeId, NodeState, ServeBudget, StreamHandle,
    StreamId,
};
use gossip_store_memory::MemoryStore;
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tokio::{
    sync::Mutex,
    task::JoinHandle,
    time::{sleep, Instant},
};

/// The error of a soak run that could not be carried out (setup failed, a
/// node stopped answering): distinct from a run that failed its claims.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a probe may take to reach every honest node before it counts
/// as missed.
const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// How long the honest nodes get to converge once the load stops.
const CONVERGE_LIMIT: Duration = Duration::from_secs(120);

/// What a soak run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SoakOptions {
    /// How long all the phases last together. Default 600 s.
    pub duration: Duration,
    /// Honest nodes. Default 8.
    pub nodes: usize,
    /// Entries per second each honest node appends. Default 5.
    pub rate: u32,
}

impl Default for SoakOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(600),
            nodes: 8,
            rate: 5,
        }
    }
}

impl SoakOptions {
    /// Sets [`duration`](Self::duration).
    #[must_use]
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Sets [`nodes`](Self::nodes).
    #[must_use]
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// Sets [`rate`](Self::rate).
    #[must_use]
    pub fn rate(mut self, rate: u32) -> Self {
        self.rate = rate;
        self
    }
}

/// The node configuration of the soak: defaults, but for a stream limit
/// and a serve budget an operator expecting hostile members would set
/// (both make the attacks reach their limits quickly on a small machine).
fn node_config(i: usize) -> Config {
    Config::default()
        .max_streams_per_channel(256)
        .serve_budget(ServeBudget::default().entries_per_second(5_000))
        .seed(0x50a_c000 ^ i as u64)
}

fn tcp_config(i: usize) -> TcpConfig {
    TcpConfig::default()
        .backoff(Duration::from_millis(20), Duration::from_millis(500))
        .seed(i as u64)
}

fn identity(i: usize) -> Identity {
    Identity::from_seed(format!("soak-node-{i}"))
}

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

fn stream_id(name: &str) -> Result<StreamId, BoxError> {
    Ok(StreamId::new(name)?)
}

/// The honest nodes, their transports and stream handles.
struct Cluster {
    nodes: Vec<Coordinator>,
    transports: Vec<Arc<TcpTransport>>,
    shared: Vec<StreamHandle>,
    probe: Vec<StreamHandle>,
}

impl Cluster {
    /// Counters summed over the honest nodes and their transports.
    async fn counters(&self) -> Result<Counters, BoxError> {
        let transports: Vec<&TcpTransport> = self.transports.iter().map(AsRef::as_ref).collect();
        Ok(Counters::of(&self.nodes, &transports).await?)
    }

    /// Entries held and entries buffered, summed over the honest nodes.
    async fn usage(&self) -> Result<(u64, usize), BoxError> {
        let (mut stored, mut buffered) = (0, 0);
        for node in &self.nodes {
            let usage = node.resource_usage().await?;
            stored += usage.entries;
            buffered += usage.buffered_entries;
        }
        Ok((stored, buffered))
    }
}

/// Binds the honest nodes and the attacker on loopback, tells everyone
/// where everyone is, opens the shared channel (the attacker one of its
/// members) and starts the nodes.
async fn set_up(options: &SoakOptions) -> Result<(Cluster, Attacker), BoxError> {
    let count = options.nodes.max(1);
    let rogue_identity = Identity::from_seed("soak-rogue");
    let mut transports = Vec::with_capacity(count);
    for i in 0..count {
        transports.push(Arc::new(
            TcpTransport::bind(&identity(i), loopback(), tcp_config(i)).await?,
        ));
    }
    let rogue_transport =
        TcpTransport::bind(&rogue_identity, loopback(), tcp_config(count)).await?;
    let targets: Vec<Target> = (0..count)
        .zip(&transports)
        .map(|(i, t)| Target {
            id: identity(i).node_id().clone(),
            address: t.local_addr(),
        })
        .collect();
    let rogue_id = rogue_identity.node_id().clone();
    for (i, transport) in transports.iter().enumerate() {
        for (j, target) in targets.iter().enumerate() {
            if i != j {
                transport.add_peer_address(target.id.clone(), target.address);
            }
        }
        transport.add_peer_address(rogue_id.clone(), rogue_transport.local_addr());
    }
    for target in &targets {
        rogue_transport.add_peer_address(target.id.clone(), target.address);
    }

    let owner = identity(0).node_id().clone();
    let channel = ChannelId::derive(&owner, "soak")?;
    let mut members: Vec<NodeId> = targets.iter().map(|t| t.id.clone()).collect();
    members.push(rogue_id.clone());
    let (shared_id, probe_id) = (stream_id("shared")?, stream_id("probe")?);
    let mut nodes = Vec::with_capacity(count);
    for (i, transport) in transports.iter().enumerate() {
        let node = Coordinator::builder(identity(i))
            .store(MemoryStore::new())
            .transport(transport.clone())
            .config(node_config(i))
            .build()
            .await?;
        for peer in members.iter().filter(|m| *m != node.local_id()) {
            node.add_peer(peer.clone()).await?;
        }
        crate::open_shared_channel(&node, &channel, &members).await?;
        node.start().await?;
        nodes.push(node);
    }
    let (mut shared, mut probe) = (Vec::new(), Vec::new());
    for node in &nodes {
        // A node that joined may write once the owner's control log reached it.
        crate::await_role(node, &channel, Duration::from_secs(60)).await?;
        let handle = node.channel(channel.clone()).await?;
        shared.push(handle.stream(shared_id.clone()).await?);
        probe.push(handle.stream(probe_id.clone()).await?);
    }
    let attacker = Attacker::new(
        &rogue_identity,
        rogue_transport,
        targets,
        channel,
        shared_id,
        probe_id,
    );
    let cluster = Cluster {
        nodes,
        transports,
        shared,
        probe,
    };
    Ok((cluster, attacker))
}

/// What one honest writer acknowledged: its author and the sequences
/// whose append returned `Ok`.
type Acknowledged = (NodeId, Vec<u64>);

/// Appends `rate` entries a second to `stream` until `stop`.
fn spawn_writer(
    i: usize,
    stream: StreamHandle,
    rate: u32,
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
    failures: Arc<AtomicU64>,
) -> JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let period = Duration::from_secs(1) / rate.max(1);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sequences = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            n += 1;
            let payload = format!("node {i} entry {n:>10} {:-<40}", "");
            match stream.append(payload.into_bytes()).await {
                Ok(entry) => {
                    sequences.push(entry.sequence);
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        sequences
    })
}

/// Probe latencies by phase, and probes missed by phase.
type Probes = Arc<Mutex<Vec<(usize, Option<Duration>)>>>;

/// Once a second, node 0 appends to the probe stream and the time until
/// every honest node holds it is recorded under the phase it started in.
fn spawn_prober(
    streams: Vec<StreamHandle>,
    phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    probes: Probes,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(writer) = streams.first().cloned() else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let started_in = phase.load(Ordering::Relaxed);
            let start = Instant::now();
            let Ok(entry) = writer.append(b"probe".to_vec()).await else {
                probes.lock().await.push((started_in, None));
                continue;
            };
            let latency = loop {
                let mut all = true;
                for stream in &streams {
                    let held = stream
                        .version()
                        .await
                        .map_or(0, |version| version.get(&entry.author));
                    if held < entry.sequence {
                        all = false;
                        break;
                    }
                }
                if all {
                    break Some(start.elapsed());
                }
                if start.elapsed() > PROBE_LIMIT {
                    break None;
                }
                sleep(Duration::from_millis(2)).await;
            };
            probes.lock().await.push((started_in, latency));
        }
    })
}

/// Runs a soak: sets up the cluster and the attacker, runs the phases of
/// [`Attack::PHASES`] for `options.duration` in all under continuous load,
/// then stops the load, waits for the honest nodes to converge and checks
/// every acknowledged entry is on every honest node.
///
/// # Errors
///
/// When the run cannot be carried out (binding, setup, a node no longer
/// answering). A run that breaks its claims returns a report that has not
/// [`passed`](SoakReport::passed).
pub async fn run(options: SoakOptions) -> Result<SoakReport, BoxError> {
    let (cluster, mut attacker) = set_up(&options).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let phase = Arc::new(AtomicUsize::new(0));
    let probes: Probes = Arc::default();
    let writers: Vec<_> = cluster
        .shared
        .iter()
        .enumerate()
        .map(|(i, stream)| {
            let author = cluster
                .nodes
                .get(i)
                .map(|n| n.local_id().clone())
                .unwrap_or_else(|| identity(i).node_id().clone());
            let handle = spawn_writer(
                i,
                stream.clone(),
                options.rate,
                stop.clone(),
                acknowledged.clone(),
                failures.clone(),
            );
            (author, handle)
        })
        .collect();
    let prober = spawn_prober(
        cluster.probe.clone(),
        phase.clone(),
        stop.clone(),
        probes.clone(),
    );

    let rss_start_kib = rss_kib();
    let (stored_start, _) = cluster.usage().await?;
    let phase_len = options.duration / Attack::PHASES.len() as u32;
    let started = Instant::now();
    let mut phases = Vec::with_capacity(Attack::PHASES.len());
    let mut before = cluster.counters().await?;
    for (index, attack) in Attack::PHASES.into_iter().enumerate() {
        phase.store(index, Ordering::Relaxed);
        let phase_start = Instant::now();
        let until = started + phase_len * (index as u32 + 1);
        let tally = attacker.run(attack, until).await;
        let after = cluster.counters().await?;
        let (stored_entries, buffered_entries) = cluster.usage().await?;
        phases.push(PhaseReport {
            attack,
            elapsed: phase_start.elapsed(),
            probes: Vec::new(),
            probe_misses: 0,
            counters: after.since(&before),
            tally,
            acknowledged: acknowledged.load(Ordering::Relaxed),
            stored_entries,
            buffered_entries,
            rss_kib: rss_kib(),
        });
        before = after;
    }
    let elapsed = started.elapsed();
    attacker.close().await;
    stop.store(true, Ordering::Relaxed);
    let mut acked: Vec<Acknowledged> = Vec::with_capacity(writers.len());
    for (author, handle) in writers {
        acked.push((author, handle.await?));
    }
    prober.await?;
    for (index, latency) in probes.lock().await.iter() {
        if let Some(phase) = phases.get_mut(*index) {
            match latency {
                Some(latency) => phase.probes.push(*latency),
                None => phase.probe_misses += 1,
            }
        }
    }
    for phase in &mut phases {
        phase.probes.sort();
    }

    let converged_after = converge(&cluster.shared).await?;
    let (lost_count, lost) = missing(&cluster.shared, &acked).await?;
    let mut dead_nodes = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        if !matches!(node.health().await.map(|h| h.state), Ok(NodeState::Running)) {
            dead_nodes.push(i);
        }
    }
    let rss_end_kib = rss_kib();
    let report = SoakReport {
        nodes: cluster.nodes.len(),
        rate: options.rate,
        elapsed,
        phases,
        acknowledged: acked.iter().map(|(_, seqs)| seqs.len()).sum(),
        append_failures: failures.load(Ordering::Relaxed),
        lost,
        lost_count,
        converged_after,
        rss_start_kib,
        rss_end_kib,
        stored_start,
        dead_nodes,
    };
    for node in &cluster.nodes {
        let _ = node.dispose().await;
    }
    Ok(report)
}

/// Waits until every honest node holds the same shared stream; returns
/// how long it took (`None`: not within [`CONVERGE_LIMIT`]).
async fn converge(streams: &[StreamHandle]) -> Result<Option<Duration>, BoxError> {
    let start = Instant::now();
    loop {
        let mut versions = Vec::with_capacity(streams.len());
        for stream in streams {
            versions.push(stream.version().await?);
        }
        if versions.windows(2).all(|w| w.first() == w.last()) {
            let mut entries = Vec::with_capacity(streams.len());
            for stream in streams {
                entries.push(stream.entries().await?);
            }
            if entries.windows(2).all(|w| w.first() == w.last()) {
                return Ok(Some(start.elapsed()));
            }
        }
        if start.elapsed() > CONVERGE_LIMIT {
            return Ok(None);
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Acknowledged entries some honest node does not hold: how many (entry,
/// node) pairs, and the first few, described.
async fn missing(
    streams: &[StreamHandle],
    acked: &[Acknowledged],
) -> Result<(usize, Vec<String>), BoxError> {
    let (mut count, mut first) = (0, Vec::new());
    for (i, stream) in streams.iter().enumerate() {
        let held: BTreeSet<(NodeId, u64)> = stream
            .entries()
            .await?
            .into_iter()
            .map(|e| (e.author, e.sequence))
            .collect();
        for (author, sequences) in acked {
            for sequence in sequences {
                if !held.contains(&(author.clone(), *sequence)) {
                    count += 1;
                    if first.len() < 5 {
                        first.push(format!("node {i} lacks {author}#{sequence}"));
                    }
                }
            }
        }
    }
    Ok((count, first))
}
