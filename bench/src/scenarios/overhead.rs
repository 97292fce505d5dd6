//! The overhead scenario: bytes on the wire per replicated entry, digest
//! bytes per anti-entropy round when in sync (1, 100, 1 000 streams), and
//! idle traffic per node with 10 nodes.

use std::time::{Duration, Instant};

use gossip_core::{
    protocol::{codec, MessageKind},
    Config, LogEntry, StreamId,
};
use serde_json::json;

use crate::{
    cluster::{
        channel_id, name, payload, stream_id, wait_for, Cluster, Res, Spec, Stack, TransportKind,
    },
    stats::{f, ratio, Report},
    Ctx,
};

const KINDS: [MessageKind; 9] = [
    MessageKind::Ping,
    MessageKind::Ack,
    MessageKind::PingReq,
    MessageKind::DigestRequest,
    MessageKind::DigestResponse,
    MessageKind::DeltaRequest,
    MessageKind::DeltaResponse,
    MessageKind::Push,
    MessageKind::AuthorPush,
];

fn spec(nodes: usize, transport: TransportKind, stack: Stack) -> Spec {
    Spec {
        nodes,
        transport,
        store: crate::cluster::StoreKind::Memory,
        stack,
        config: Config::default(),
        loss: 0.0,
        link_delay: None,
    }
}

/// Per-entry bytes: 2 nodes, `count` single appends (and batches of 100).
async fn per_entry(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let size = 256usize;
    let count: u64 = if ctx.quick { 100 } else { 1_000 };
    for stack in ctx.stacks.clone() {
        for batched in [false, true] {
            let cluster = Cluster::start(&spec(2, TransportKind::Memory, stack)).await?;
            let writer = cluster.stream(0).await?;
            let reader = cluster.stream(1).await?;
            writer.append(payload(size, 0)).await?;
            wait_for(&reader, 1, Duration::from_secs(30)).await?;
            let (wire0, log0) = (cluster.wire.snapshot(), cluster.logical.snapshot());
            // Baseline: the same appends as self-contained `Push` frames
            // (every run naming its channel, stream, author and link).
            let mut self_contained = 0usize;
            let mut as_push = |entries: Vec<LogEntry>| -> Res<()> {
                let frames = codec::push_frames(channel_id()?, stream_id()?, entries, usize::MAX)?;
                self_contained += frames.iter().map(|f| f.len()).sum::<usize>();
                Ok(())
            };
            if batched {
                let mut next = 1;
                while next <= count {
                    let k = 100.min(count + 1 - next);
                    as_push(
                        writer
                            .append_batch((next..next + k).map(|i| payload(size, i)).collect())
                            .await?,
                    )?;
                    next += k;
                }
            } else {
                for i in 1..=count {
                    as_push(vec![writer.append(payload(size, i)).await?])?;
                }
            }
            let baseline = ratio(self_contained as f64, count as f64) - size as f64;
            let ok = wait_for(&reader, count + 1, Duration::from_secs(60)).await?;
            let wire = cluster.wire.snapshot().since(&wire0);
            let logical = cluster.logical.snapshot().since(&log0);
            cluster.dispose().await?;
            // Self-contained pushes and authors' pushes of their own entries.
            let (push_frames, push_bytes) = [MessageKind::Push, MessageKind::AuthorPush]
                .iter()
                .map(|k| logical.of(*k))
                .fold((0, 0), |(f, b), (kf, kb)| (f + kf, b + kb));
            let per_push = ratio(push_bytes as f64, count as f64);
            report.row(
                vec![
                    name(&stack),
                    if batched { "batches of 100" } else { "single appends" }.into(),
                    count.to_string(),
                    push_frames.to_string(),
                    f(per_push, 1),
                    f(per_push - size as f64, 1),
                    f(baseline, 1),
                    f(ratio(wire.total_bytes() as f64, count as f64), 1),
                    f(ratio(wire.total_bytes() as f64, count as f64) - size as f64, 1),
                    ok.to_string(),
                ],
                json!({
                    "stack": stack, "batched": batched, "entries": count, "payload": size,
                    "push_frames": push_frames, "push_bytes": push_bytes,
                    "push_bytes_per_entry": per_push,
                    "push_overhead_per_entry": per_push - size as f64,
                    "self_contained_push_overhead_per_entry": baseline,
                    "wire_bytes_per_entry_all_kinds": ratio(wire.total_bytes() as f64, count as f64),
                    "complete": ok,
                }),
            );
        }
    }
    Ok(())
}

/// Digest bytes per anti-entropy round when in sync, with `streams` streams.
async fn digest(streams: usize, window: Duration) -> Res<serde_json::Value> {
    let cluster = Cluster::start(&spec(2, TransportKind::Memory, Stack::Plain)).await?;
    let node = cluster.nodes.first().ok_or("no node")?;
    let channel = node.channel(channel_id()?).await?;
    for i in 0..streams {
        let s = channel.stream(StreamId::new(format!("s{i}"))?).await?;
        s.append(payload(64, i as u64)).await?;
    }
    let other = cluster.nodes.get(1).ok_or("no node")?;
    let other_channel = other.channel(channel_id()?).await?;
    let last = other_channel
        .stream(StreamId::new(format!("s{}", streams.saturating_sub(1)))?)
        .await?;
    let synced = wait_for(&last, 1, Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = cluster.logical.snapshot();
    tokio::time::sleep(window).await;
    let c = cluster.logical.snapshot().since(&before);
    cluster.dispose().await?;
    let (req_frames, req_bytes) = c.of(MessageKind::DigestRequest);
    let (resp_frames, resp_bytes) = c.of(MessageKind::DigestResponse);
    let (delta_frames, delta_bytes) = c.of(MessageKind::DeltaRequest);
    let rounds = req_frames.max(1);
    Ok(json!({
        "streams": streams, "synced": synced, "window_s": window.as_secs_f64(),
        "rounds": req_frames, "digest_request_bytes": req_bytes, "digest_response_frames": resp_frames,
        "digest_response_bytes": resp_bytes, "delta_request_frames": delta_frames,
        "delta_request_bytes": delta_bytes,
        "bytes_per_round": (req_bytes + resp_bytes + delta_bytes) as f64 / rounds as f64,
        "request_bytes_per_round": req_bytes as f64 / rounds as f64,
    }))
}

/// Idle traffic per node with `n` nodes in sync.
async fn idle(n: usize, transport: TransportKind, window: Duration) -> Res<serde_json::Value> {
    let cluster = Cluster::start(&spec(n, transport, Stack::Plain)).await?;
    cluster.stream(0).await?.append(payload(64, 0)).await?;
    for i in 1..n {
        wait_for(&cluster.stream(i).await?, 1, Duration::from_secs(60)).await?;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = cluster.wire.snapshot();
    let logical_before = cluster.logical.snapshot();
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let secs = start.elapsed().as_secs_f64();
    let c = cluster.wire.snapshot().since(&before);
    let l = cluster.logical.snapshot().since(&logical_before);
    cluster.dispose().await?;
    let per = |v: u64| v as f64 / n as f64 / secs;
    let kinds: serde_json::Map<String, serde_json::Value> = KINDS
        .iter()
        .map(|k| {
            let (frames, bytes) = l.of(*k);
            (
                k.name().to_owned(),
                json!({"msgs_per_s_per_node": per(frames), "bytes_per_s_per_node": per(bytes)}),
            )
        })
        .collect();
    Ok(json!({
        "nodes": n, "transport": transport, "window_s": secs,
        "bytes_per_s_per_node": per(c.total_bytes()),
        "msgs_per_s_per_node": per(c.total_frames()),
        "by_kind": kinds,
    }))
}

/// The number at JSON pointer `ptr` of `v`, or 0.
fn num(v: &serde_json::Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
}

/// Runs the scenario.
pub(crate) async fn run(ctx: &Ctx) -> Res<()> {
    let mut entries = Report::new(
        "Overhead per replicated entry (2 nodes, 256 B payloads, memory transport; bytes at the transport port, TCP adds a 4 B length prefix per frame)",
        &[
            "stack", "appends", "entries", "push frames", "push B/entry", "push overhead B/entry",
            "baseline: as self-contained Push, overhead B/entry",
            "all frames B/entry", "all frames overhead B/entry", "complete",
        ],
    );
    per_entry(ctx, &mut entries).await?;
    println!("{}", entries.table());
    entries.write(&ctx.out, "overhead_entry", &ctx.meta())?;

    let window = Duration::from_secs(if ctx.quick { 1 } else { 6 });
    let mut digests = Report::new(
        "Digest bytes per anti-entropy round when in sync (2 nodes, 1 channel, gossip interval 200 ms)",
        &["streams", "rounds", "digest request B/round", "all digest traffic B/round", "delta requests"],
    );
    let counts: &[usize] = if ctx.quick {
        &[1, 100]
    } else {
        &[1, 100, 1_000]
    };
    for &s in counts {
        let d = digest(s, window).await?;
        digests.row(
            vec![
                s.to_string(),
                f(num(&d, "/rounds"), 0),
                f(num(&d, "/request_bytes_per_round"), 0),
                f(num(&d, "/bytes_per_round"), 0),
                f(num(&d, "/delta_request_frames"), 0),
            ],
            d,
        );
    }
    println!("{}", digests.table());
    digests.write(&ctx.out, "overhead_digest", &ctx.meta())?;

    let n = if ctx.quick { 4 } else { 10 };
    let mut idles = Report::new(
        &format!("Idle traffic per node, {n} nodes in sync (bytes at the transport port)"),
        &[
            "transport",
            "nodes",
            "bytes/s per node",
            "msgs/s per node",
            "ping+ack+ping-req msgs/s",
            "digest msgs/s",
        ],
    );
    for &t in &ctx.transports {
        let d = idle(n, t, window).await?;
        let kind = |k: &str| num(&d, &format!("/by_kind/{k}/msgs_per_s_per_node"));
        let swim = kind("ping") + kind("ack") + kind("ping_req");
        let dig = kind("digest_request") + kind("digest_response");
        idles.row(
            vec![
                name(&t),
                n.to_string(),
                f(num(&d, "/bytes_per_s_per_node"), 0),
                f(num(&d, "/msgs_per_s_per_node"), 1),
                f(swim, 1),
                f(dig, 1),
            ],
            d,
        );
    }
    println!("{}", idles.table());
    idles.write(&ctx.out, "overhead_idle", &ctx.meta())?;
    Ok(())
}
