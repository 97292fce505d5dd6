//! The memory scenario: resident memory (VmRSS) of a node holding many
//! entries, one child process per store so stores do not share a heap.

use std::{process::Command, time::Instant};

use bytes::Bytes;
use gossip_core::Config;
use serde_json::json;

use gossip_transport_memory::LinkFaults;

use crate::{
    cluster::{
        channel_id, identity, name, node, node_id, payload, store, stream_id, transports, wrap,
        Res, Stack, StoreKind, TransportKind,
    },
    counting::Counters,
    stats::{f, ratio, Report},
    Ctx,
};

/// A field of `/proc/self/status` in bytes (Linux), or 0.
fn status_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// In a child process: one node on `kind` appends `entries` × 256 B; prints JSON.
pub(crate) async fn child(kind: StoreKind, entries: u64) -> Res<()> {
    let size = 256usize;
    let dir = tempfile::tempdir()?;
    let me = identity(0);
    let id = node_id(0)?;
    let rss_start = status_bytes("VmRSS:");
    let (ts, _network) = transports(
        TransportKind::Memory,
        std::slice::from_ref(&me),
        LinkFaults::none(),
        1,
    )
    .await?;
    let t = ts.into_iter().next().ok_or("transport")?;
    let counters = std::sync::Arc::new(Counters::default());
    let n = node(
        &me,
        std::slice::from_ref(&id),
        store(kind, dir.path(), &id).await?,
        wrap(Stack::Plain, t, &counters, &counters),
        &Config::default(),
        1,
    )
    .await?;
    let stream = n.channel(channel_id()?).await?.stream(stream_id()?).await?;
    let rss_node = status_bytes("VmRSS:");
    let start = Instant::now();
    let mut next = 1u64;
    while next <= entries {
        let k = 1_000.min(entries + 1 - next);
        let payloads: Vec<Bytes> = (next..next + k).map(|i| payload(size, i)).collect();
        stream.append_batch(payloads).await?;
        next += k;
    }
    let secs = start.elapsed().as_secs_f64();
    let rss_full = status_bytes("VmRSS:");
    let hwm = status_bytes("VmHWM:");
    let disk: u64 = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    n.dispose().await?;
    let out = json!({
        "store": kind, "entries": entries, "payload": size,
        "rss_start": rss_start, "rss_node": rss_node, "rss_full": rss_full, "rss_peak": hwm,
        "append_seconds": secs, "disk_bytes": disk,
    });
    println!("{out}");
    Ok(())
}

/// Runs the scenario.
pub(crate) async fn run(ctx: &Ctx) -> Res<()> {
    let entries = ctx.memory_entries;
    let exe = std::env::current_exe()?;
    let mut report = Report::new(
        &format!("Resident memory with {entries} × 256 B entries in one node (one process per store); baseline: the payload bytes themselves"),
        &["store", "entries", "RSS before MB", "RSS after MB", "peak MB", "RSS growth B/entry", "÷ payload", "disk MB", "appends/s"],
    );
    for &kind in &ctx.stores {
        let mut cmd = Command::new(&exe);
        cmd.arg("--memory-child")
            .arg(name(&kind))
            .arg("--memory-entries")
            .arg(entries.to_string());
        let output = tokio::task::spawn_blocking(move || cmd.output()).await??;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout.lines().rev().find(|l| l.starts_with('{')) else {
            return Err(format!(
                "memory child for {} failed: {}",
                name(&kind),
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        };
        let v: serde_json::Value = serde_json::from_str(line)?;
        let get = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        let growth = (get("rss_full") - get("rss_node")) / entries.max(1) as f64;
        report.row(
            vec![
                name(&kind),
                entries.to_string(),
                f(get("rss_node") / 1e6, 1),
                f(get("rss_full") / 1e6, 1),
                f(get("rss_peak") / 1e6, 1),
                f(growth, 0),
                f(ratio(growth, 256.0), 2),
                f(get("disk_bytes") / 1e6, 1),
                f(entries as f64 / get("append_seconds").max(1e-9), 0),
            ],
            v,
        );
    }
    println!("{}", report.table());
    report.write(&ctx.out, "memory", &ctx.meta())?;
    Ok(())
}
