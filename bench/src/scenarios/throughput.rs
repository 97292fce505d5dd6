//! The throughput scenario: one writer appends as fast as it can (batches of
//! 100); the sustained rate at which every node holds everything, and the
//! distribution of how far behind the others are (sampled every 20 ms).

use std::time::{Duration, Instant};

use gossip_core::Config;
use serde_json::json;

use crate::{
    cluster::{held, name, payload, Cluster, Res, Spec, Stack, StoreKind},
    raw,
    stats::{f, ratio, Report},
    Ctx,
};

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(rank).copied().unwrap_or(0)
}

/// Runs the scenario.
pub(crate) async fn run(ctx: &Ctx) -> Res<()> {
    let size = 256;
    let total: u64 = if ctx.quick { 2_000 } else { 50_000 };
    let batch = 100u64;
    let (raw_fps, raw_mbs) = raw::tcp_throughput(size, total * 4).await?;
    let mut report = Report::new(
        &format!(
            "Throughput: {total} × {size} B appended in batches of {batch}, as fast as possible; baseline raw framed TCP {raw_fps:.0} frames/s ({raw_mbs:.1} MB/s, same run)"
        ),
        &[
            "nodes", "transport", "store", "entries/s to all", "MB/s to all",
            "÷ raw TCP frames/s", "local append entries/s", "lag p50", "lag p99", "lag max",
            "complete",
        ],
    );
    for &n in &ctx.nodes {
        for &transport in &ctx.transports {
            let store = ctx.stores.first().copied().unwrap_or(StoreKind::Memory);
            let spec = Spec {
                nodes: n,
                transport,
                store,
                stack: Stack::Plain,
                config: Config::default(),
                loss: 0.0,
                link_delay: None,
            };
            let cluster = Cluster::start(&spec).await?;
            let writer = cluster.stream(0).await?;
            let mut readers = Vec::new();
            for i in 1..n {
                readers.push(cluster.stream(i).await?);
            }
            let sampler_readers = readers.clone();
            let sampler_writer = writer.clone();
            let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
            let sampler = tokio::spawn(async move {
                let mut lags = Vec::new();
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        _ = tick.tick() => {}
                    }
                    let Ok(written) = held(&sampler_writer).await else {
                        break;
                    };
                    for r in &sampler_readers {
                        if let Ok(h) = held(r).await {
                            lags.push(written.saturating_sub(h));
                        }
                    }
                }
                lags
            });
            let start = Instant::now();
            let mut next = 1u64;
            while next <= total {
                let k = batch.min(total + 1 - next);
                let payloads = (next..next + k).map(|i| payload(size, i)).collect();
                writer.append_batch(payloads).await?;
                next += k;
            }
            let appended = start.elapsed();
            let deadline = Instant::now() + Duration::from_secs(if ctx.quick { 60 } else { 300 });
            let mut complete = true;
            for r in &readers {
                while held(r).await? < total {
                    if Instant::now() > deadline {
                        complete = false;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            let took = start.elapsed().as_secs_f64().max(1e-9);
            let _ = stop_tx.send(());
            let mut lags = sampler.await?;
            lags.sort_unstable();
            cluster.dispose().await?;
            let eps = total as f64 / took;
            let local = total as f64 / appended.as_secs_f64().max(1e-9);
            report.row(
                vec![
                    n.to_string(),
                    name(&transport),
                    name(&store),
                    f(eps, 0),
                    f(eps * size as f64 / 1e6, 2),
                    f(ratio(eps, raw_fps), 3),
                    f(local, 0),
                    percentile(&lags, 0.5).to_string(),
                    percentile(&lags, 0.99).to_string(),
                    lags.last().copied().unwrap_or(0).to_string(),
                    complete.to_string(),
                ],
                json!({
                    "nodes": n, "transport": transport, "store": store, "entries": total,
                    "size": size, "entries_per_s_to_all": eps, "local_append_per_s": local,
                    "raw_tcp_frames_per_s": raw_fps, "raw_tcp_mb_per_s": raw_mbs,
                    "lag_entries": {"p50": percentile(&lags, 0.5), "p90": percentile(&lags, 0.9),
                        "p99": percentile(&lags, 0.99), "max": lags.last().copied().unwrap_or(0),
                        "samples": lags.len()},
                    "complete": complete,
                }),
            );
        }
    }
    println!("{}", report.table());
    report.write(&ctx.out, "throughput", &ctx.meta())?;
    Ok(())
}
