//! The latency scenario: one writer appends at a fixed rate; the time from
//! calling `append` until the entry is present on every other node, with
//! eager push on and off, beside raw TCP ping-pong measured in the same run.
//! In the same cluster, the owner then changes the channel's settings at the
//! same rate: the time until each change (an entry of the control log) is
//! present on every other node.

use std::{collections::HashMap, time::Duration};

use futures_util::StreamExt;
use gossip_core::{protocol::MessageKind, Config, StreamConfig, StreamHandle, StreamId};
use serde_json::json;
// Tokio's clock: simulated time under `--simulated`, the system's otherwise.
use tokio::time::Instant;

use super::lag_check::{self, LagCheck};
use crate::{
    chart,
    cluster::{
        channel_id, name, payload, stream_id, wait_for, Cluster, Res, Spec, Stack, StoreKind,
        TransportKind,
    },
    raw,
    stats::{cdf, f, ratio, Report, Summary},
    Ctx,
};

/// The configurations measured: every transport on the first store and
/// stack, then every other store and every other stack on one network
/// transport (TCP when chosen).
pub(crate) fn matrix(ctx: &Ctx) -> Vec<(TransportKind, StoreKind, Stack)> {
    let (Some(&store0), Some(&stack0)) = (ctx.stores.first(), ctx.stacks.first()) else {
        return Vec::new();
    };
    let main = if ctx.transports.contains(&TransportKind::Tcp) {
        TransportKind::Tcp
    } else {
        ctx.transports
            .first()
            .copied()
            .unwrap_or(TransportKind::Memory)
    };
    let mut out: Vec<_> = ctx
        .transports
        .iter()
        .map(|&t| (t, store0, stack0))
        .collect();
    out.extend(ctx.stores.iter().skip(1).map(|&s| (main, s, stack0)));
    out.extend(ctx.stacks.iter().skip(1).map(|&z| (main, store0, z)));
    out
}

/// The kinds of frames that carry or announce new entries: what an entry
/// costs in frames.
const PUSH_KINDS: [MessageKind; 5] = [
    MessageKind::Push,
    MessageKind::AuthorPush,
    MessageKind::IHave,
    MessageKind::Graft,
    MessageKind::Prune,
];

/// Per-entry results of one run.
pub(crate) struct Run {
    /// Append→present-on-all latencies of the entries every node got.
    pub(crate) latencies: Vec<Duration>,
    /// Entries some node never got within the time limit.
    pub(crate) missing: usize,
    /// Bytes under the stack per appended entry (all frames of all nodes).
    pub(crate) wire_bytes_per_entry: f64,
    /// Push, announce (`IHave`), graft and prune frames per appended entry
    /// (all nodes, counted on the wire: plain stack only, 0 under layers
    /// that hide the kind byte).
    pub(crate) push_frames_per_entry: f64,
    /// Change→present-on-all latencies of the membership and settings
    /// changes every node got.
    pub(crate) changes: Vec<Duration>,
    /// Changes some node never got within the time limit.
    pub(crate) changes_missing: usize,
    /// The lag the writer's `health()` reported per peer, against the lag
    /// measured from arrival times.
    pub(crate) lag: LagCheck,
}

/// The arrival time of each entry with a sequence above `after` (by
/// sequence) on `handle`, until `count` arrived or `limit` passed.
async fn reader(
    handle: StreamHandle,
    count: usize,
    after: u64,
    limit: Duration,
) -> HashMap<u64, Instant> {
    let mut sub = handle.subscribe();
    let deadline = Instant::now() + limit;
    let mut got = HashMap::with_capacity(count);
    while got.len() < count {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(Ok(entry))) => {
                if entry.sequence > after {
                    got.entry(entry.sequence).or_insert_with(Instant::now);
                }
            }
            Ok(Some(Err(_))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    got
}

/// Runs one configuration: `count` appends of `size` bytes at `rate` per second.
pub(crate) async fn run_one(spec: &Spec, count: usize, rate: u32, size: usize) -> Res<Run> {
    let cluster = Cluster::start(spec).await?;
    let writer = cluster.stream(0).await?;
    // Warm up: connections, membership; entry 1 is not measured.
    writer.append(payload(size, 0)).await?;
    for i in 1..spec.nodes {
        wait_for(&cluster.stream(i).await?, 1, Duration::from_secs(60)).await?;
    }
    let writing = Duration::from_secs_f64(count as f64 / f64::from(rate));
    let limit = writing + Duration::from_secs(30) + spec.config.gossip_interval * 40;
    let mut readers = Vec::new();
    for i in 1..spec.nodes {
        readers.push(tokio::spawn(reader(
            cluster.stream(i).await?,
            count,
            1,
            limit,
        )));
    }
    tokio::task::yield_now().await;
    let sampling = spec.config.gossip_interval;
    let (stop_sampling, stop) = tokio::sync::oneshot::channel();
    let sampler = tokio::spawn(lag_check::sample(
        cluster.nodes.first().ok_or("no writer")?.clone(),
        stream_id()?,
        sampling,
        stop,
    ));
    let before = cluster.wire.snapshot();
    let mut sent = HashMap::with_capacity(count);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..count {
        tick.tick().await;
        let start = Instant::now();
        let entry = writer.append(payload(size, i as u64 + 1)).await?;
        sent.insert(entry.sequence, start);
    }
    let mut got = Vec::new();
    for r in readers {
        got.push(r.await?);
    }
    let _ = stop_sampling.send(());
    let samples = sampler.await?;
    let wire = cluster.wire.snapshot().since(&before);
    let pushed: u64 = PUSH_KINDS.iter().map(|k| wire.of(*k).0).sum();
    let by_peer: HashMap<_, _> = cluster
        .nodes
        .iter()
        .skip(1)
        .map(|n| n.local_id().clone())
        .zip(got.iter().cloned())
        .collect();
    let lag = lag_check::compare(&samples, &sent, &by_peer, sampling);
    let (latencies, missing) = latest_arrivals(&sent, &got);
    let (changes, changes_missing) = settings_changes(&cluster, spec, count.min(500), rate).await?;
    cluster.dispose().await?;
    Ok(Run {
        latencies,
        missing,
        wire_bytes_per_entry: ratio(wire.total_bytes() as f64, count as f64),
        push_frames_per_entry: ratio(pushed as f64, count as f64),
        changes,
        changes_missing,
        lag,
    })
}

/// Per sent sequence, the time until the last reader had it (sorted), and
/// how many some reader never got.
fn latest_arrivals(
    sent: &HashMap<u64, Instant>,
    got: &[HashMap<u64, Instant>],
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::with_capacity(sent.len());
    let mut missing = 0;
    for (seq, start) in sent {
        let arrivals: Option<Vec<&Instant>> = got.iter().map(|g| g.get(seq)).collect();
        match arrivals.and_then(|a| a.into_iter().max().copied()) {
            Some(last) => latencies.push(last.saturating_duration_since(*start)),
            None => missing += 1,
        }
    }
    latencies.sort_unstable();
    (latencies, missing)
}

/// The owner changes a stream's settings `count` times at `rate` per
/// second (each change a signed operation of the control log); the time
/// until each is present on every other node.
async fn settings_changes(
    cluster: &Cluster,
    spec: &Spec,
    count: usize,
    rate: u32,
) -> Res<(Vec<Duration>, usize)> {
    let owner = cluster.nodes.first().ok_or("no owner")?;
    let channel = owner.channel(channel_id()?).await?;
    let control = StreamId::control();
    let after = channel
        .stream(control.clone())
        .await?
        .version()
        .await?
        .get(owner.local_id());
    let writing = Duration::from_secs_f64(count as f64 / f64::from(rate));
    let limit = writing + Duration::from_secs(30) + spec.config.gossip_interval * 40;
    let mut readers = Vec::new();
    for node in cluster.nodes.iter().skip(1) {
        let handle = node
            .channel(channel_id()?)
            .await?
            .stream(control.clone())
            .await?;
        readers.push(tokio::spawn(reader(handle, count, after, limit)));
    }
    tokio::task::yield_now().await;
    let setting = StreamId::new("settings")?;
    let mut sent = HashMap::with_capacity(count);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..count {
        tick.tick().await;
        let start = Instant::now();
        let config = StreamConfig::default().max_payload_bytes(1_024 + i % 2);
        channel.set_stream_config(setting.clone(), config).await?;
        sent.insert(after + i as u64 + 1, start);
    }
    let mut got = Vec::new();
    for r in readers {
        got.push(r.await?);
    }
    Ok(latest_arrivals(&sent, &got))
}

/// Runs the scenario.
pub(crate) async fn run(ctx: &Ctx) -> Res<()> {
    let size = 256;
    // On simulated time a socket's round trip means nothing: the baseline
    // is then the links' delay and the smallest cluster's figure.
    let raw_rtt = if ctx.simulated {
        None
    } else {
        Some(raw::tcp_ping_pong(size, if ctx.quick { 300 } else { 3_000 }).await?)
    };
    let lossy = ctx.loss > 0.0;
    let baseline = match (&raw_rtt, ctx.link_delay) {
        (Some(rtt), _) => format!(
            "baseline raw TCP ping-pong p50 {:.1} µs, p99 {:.1} µs (same run)",
            rtt.p50_us, rtt.p99_us
        ),
        (None, Some((min, max))) => format!(
            "simulated time, every frame delayed {}–{} ms on its link",
            min.as_millis(),
            max.as_millis()
        ),
        (None, None) => "simulated time, no link delay".to_owned(),
    };
    let mut report = Report::new(
        &format!(
            "Latency: append → present on all nodes ({size} B entries, {} appends/s{}); {baseline}",
            ctx.rate,
            if lossy {
                format!(", {:.1}% loss on every link", ctx.loss * 100.0)
            } else {
                String::new()
            },
        ),
        &[
            "nodes",
            "transport",
            "store",
            "stack",
            "eager push",
            "entries",
            "missing",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "p99 ÷ raw TCP p99",
            "p99 ÷ first cluster's p99",
            "wire B/entry",
            "push frames/entry",
            "changes",
            "change p50 ms",
            "change p99 ms",
            "change p99 ÷ entry p99",
            "reported lag within 1 sample of measured",
        ],
    );
    let mut eager_series = Vec::new();
    let mut lazy_series = Vec::new();
    // The p99 of each configuration in the first cluster size measured.
    let mut first_p99 = HashMap::new();
    for &n in &ctx.nodes {
        // Loss is injected by the memory transport only: other transports would be lossless.
        let configs = matrix(ctx)
            .into_iter()
            .filter(|(t, _, _)| !lossy || *t == TransportKind::Memory);
        for (transport, store, stack) in configs {
            for eager in [true, false] {
                let loss = if transport == TransportKind::Memory {
                    ctx.loss
                } else {
                    0.0
                };
                let spec = Spec {
                    nodes: n,
                    transport,
                    store,
                    stack,
                    config: Config::default().eager_push(eager),
                    loss,
                    link_delay: ctx
                        .link_delay
                        .filter(|_| transport == TransportKind::Memory),
                };
                let count = ctx.entries as usize;
                let result = run_one(&spec, count, ctx.rate, size).await?;
                let mut lat = result.latencies.clone();
                let s = Summary::of(&mut lat);
                let first = *first_p99
                    .entry((transport, store, stack, eager))
                    .or_insert(s.p99_us);
                let raw_p99 = raw_rtt.as_ref().map(|rtt| rtt.p99_us);
                let mut changes = result.changes.clone();
                let c = Summary::of(&mut changes);
                let label = format!(
                    "{n}×{}/{}/{}{}",
                    name(&transport),
                    name(&store),
                    name(&stack),
                    if loss > 0.0 {
                        format!(" {:.0}% loss", loss * 100.0)
                    } else {
                        String::new()
                    }
                );
                report.row(
                    vec![
                        n.to_string(),
                        name(&transport),
                        name(&store),
                        name(&stack),
                        if eager { "on" } else { "off" }.into(),
                        count.to_string(),
                        result.missing.to_string(),
                        f(s.p50_us / 1e3, 2),
                        f(s.p90_us / 1e3, 2),
                        f(s.p99_us / 1e3, 2),
                        f(s.max_us / 1e3, 2),
                        raw_p99.map_or_else(|| "—".to_owned(), |p99| f(ratio(s.p99_us, p99), 1)),
                        f(ratio(s.p99_us, first), 1),
                        f(result.wire_bytes_per_entry, 0),
                        f(result.push_frames_per_entry, 1),
                        format!(
                            "{} ({} missing)",
                            result.changes.len(),
                            result.changes_missing
                        ),
                        f(c.p50_us / 1e3, 2),
                        f(c.p99_us / 1e3, 2),
                        f(ratio(c.p99_us, s.p99_us), 2),
                        format!(
                            "{:.0} % of {} (max error {} ms, sampled every {} ms); {:.0} % at most one sample old",
                            result.lag.within_percent(),
                            result.lag.samples,
                            result.lag.max_error_ms,
                            result.lag.interval_ms,
                            result.lag.fresh_percent()
                        ),
                    ],
                    json!({
                        "nodes": n, "transport": transport, "store": store, "stack": stack,
                        "eager_push": eager, "loss": loss, "entries": count, "rate": ctx.rate,
                        "missing": result.missing, "latency": s,
                        "raw_tcp_ping_pong": raw_rtt,
                        "p99_ratio_to_raw_tcp_p99": raw_p99.map(|p99| ratio(s.p99_us, p99)),
                        "p99_ratio_to_first_cluster_p99": ratio(s.p99_us, first),
                        "simulated_time": ctx.simulated,
                        "link_delay_ms": ctx.link_delay.map(|(min, max)| [min.as_millis(), max.as_millis()]),
                        "gossip_interval_ms": 200,
                        "wire_bytes_per_entry": result.wire_bytes_per_entry,
                        "push_frames_per_entry": result.push_frames_per_entry,
                        "changes": result.changes.len(),
                        "changes_missing": result.changes_missing,
                        "change_latency": c,
                        "change_p99_ratio_to_entry_p99": ratio(c.p99_us, s.p99_us),
                        "reported_lag_check": result.lag,
                        "cdf_ms": cdf(&result.latencies, 200),
                    }),
                );
                let series = (label, cdf(&result.latencies, 200));
                if eager {
                    eager_series.push(series);
                } else {
                    lazy_series.push(series);
                }
            }
        }
    }
    println!("{}", report.table());
    let file = match (ctx.simulated, lossy) {
        (true, _) => "latency_simulated",
        (false, true) => "latency_loss",
        (false, false) => "latency",
    };
    report.write(&ctx.out, file, &ctx.meta())?;
    chart::lines(
        &ctx.out.join(format!("{file}_cdf_eager.svg")),
        "append → present on all: CDF, eager push on",
        "latency (ms)",
        "fraction of entries",
        &eager_series,
    )?;
    chart::lines(
        &ctx.out.join(format!("{file}_cdf_anti_entropy.svg")),
        "append → present on all: CDF, eager push off (anti-entropy only)",
        "latency (ms)",
        "fraction of entries",
        &lazy_series,
    )?;
    Ok(())
}
