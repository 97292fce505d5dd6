//! The catch-up scenario: a fresh node joins a peer holding many entries;
//! entries/s and MB/s until it holds them all, beside raw framed TCP at the
//! same frame size and raw batched inserts into the same store (same run).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use gossip_core::Config;
use serde_json::json;

use gossip_transport_memory::LinkFaults;

use crate::{
    chart,
    cluster::{
        channel_id, held, identity, name, node, node_id, payload, store, stream_id, transports,
        wrap, Res, Stack, StoreKind, TransportKind,
    },
    counting::Counters,
    raw,
    stats::{f, ratio, Report},
    Ctx,
};

/// One catch-up measurement.
pub(crate) struct CatchUp {
    /// Seconds from the fresh node's start until it held everything.
    pub(crate) seconds: f64,
    /// Whether it got everything within the limit.
    pub(crate) complete: bool,
    /// Local append rate on the holder while seeding (entries/s).
    pub(crate) seed_rate: f64,
    /// (seconds, fraction held) samples.
    pub(crate) curve: Vec<(f64, f64)>,
    /// Bytes under the stack, both directions, during the catch-up.
    pub(crate) wire_bytes: u64,
}

/// A fresh node over `transport` with `store_kind` catches up with a peer holding `count` × `size` B.
pub(crate) async fn catch_up(
    transport: TransportKind,
    store_kind: StoreKind,
    count: u64,
    size: usize,
    limit: Duration,
) -> Res<CatchUp> {
    let dir = tempfile::tempdir()?;
    let identities = [identity(0), identity(1)];
    let ids = vec![node_id(0)?, node_id(1)?];
    let (ts, network) = transports(transport, &identities, LinkFaults::none(), 11).await?;
    let wire = Arc::new(Counters::default());
    let logical = Arc::new(Counters::default());
    let mut ts = ts.into_iter();
    let (Some(t0), Some(t1)) = (ts.next(), ts.next()) else {
        return Err("transport pair".into());
    };
    let (Some(id0), Some(id1)) = (ids.first(), ids.get(1)) else {
        return Err("ids".into());
    };
    let config = Config::default();
    // The holder alone: no peer, so nothing is pushed while seeding.
    let holder = node(
        &identities[0],
        std::slice::from_ref(id0),
        store(store_kind, dir.path(), id0).await?,
        wrap(Stack::Plain, t0, &wire, &logical),
        &config,
        1,
    )
    .await?;
    let channel = holder.channel(channel_id()?).await?;
    let stream = channel.stream(stream_id()?).await?;
    let batch = if size > 4096 { 100 } else { 1_000 };
    let seed_start = Instant::now();
    let mut next = 1u64;
    while next <= count {
        let k = batch.min(count + 1 - next);
        let payloads: Vec<Bytes> = (next..next + k).map(|i| payload(size, i)).collect();
        stream.append_batch(payloads).await?;
        next += k;
    }
    let seed_rate = count as f64 / seed_start.elapsed().as_secs_f64().max(1e-9);
    holder.add_peer(id1.clone()).await?;
    channel
        .add_member(id1.clone(), gossip_core::Role::Writer)
        .await?;
    let before = wire.snapshot();

    let start = Instant::now();
    let fresh = node(
        &identities[1],
        &ids,
        store(store_kind, dir.path(), id1).await?,
        wrap(Stack::Plain, t1, &wire, &logical),
        &config,
        2,
    )
    .await?;
    let handle = fresh
        .channel(channel_id()?)
        .await?
        .stream(stream_id()?)
        .await?;
    let mut curve = vec![(0.0, 0.0)];
    let mut complete = false;
    while start.elapsed() < limit {
        let h = held(&handle).await?;
        curve.push((start.elapsed().as_secs_f64(), h as f64 / count as f64));
        if h >= count {
            complete = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let wire_bytes = wire.snapshot().since(&before).total_bytes();
    fresh.dispose().await?;
    holder.dispose().await?;
    drop(network);
    if curve.len() > 400 {
        let step = curve.len() / 400 + 1;
        let last = curve.last().copied();
        curve = curve.into_iter().step_by(step).collect();
        curve.extend(last);
    }
    Ok(CatchUp {
        seconds,
        complete,
        seed_rate,
        curve,
        wire_bytes,
    })
}

/// The configurations: every transport with the first store at every size,
/// then every other store on TCP (or the first transport) at 256 B and 1 KiB.
fn matrix(ctx: &Ctx) -> Vec<(TransportKind, StoreKind, usize)> {
    let sizes = [256usize, 1024, 32 * 1024];
    let store0 = ctx.stores.first().copied().unwrap_or(StoreKind::Memory);
    let main = if ctx.transports.contains(&TransportKind::Tcp) {
        TransportKind::Tcp
    } else {
        ctx.transports
            .first()
            .copied()
            .unwrap_or(TransportKind::Memory)
    };
    let mut out = Vec::new();
    for &t in &ctx.transports {
        for &s in &sizes {
            out.push((t, store0, s));
        }
    }
    for &st in ctx.stores.iter().skip(1) {
        for &s in sizes.iter().take(2) {
            out.push((main, st, s));
        }
    }
    out
}

/// Runs the scenario.
pub(crate) async fn run(ctx: &Ctx) -> Res<()> {
    let limit = Duration::from_secs(if ctx.quick { 60 } else { 600 });
    let mut report = Report::new(
        "Catch-up: a fresh node joins a peer holding N entries; baselines raw framed TCP at the same size and raw batched store inserts (same run)",
        &[
            "transport", "store", "entries", "size", "seconds", "entries/s", "MB/s",
            "raw TCP MB/s", "÷ raw TCP", "raw store inserts/s", "wire B/entry", "complete",
        ],
    );
    let mut series = Vec::new();
    let mut cases: Vec<(TransportKind, StoreKind, usize, u64)> = Vec::new();
    for &count in &ctx.catchup_entries {
        for (t, st, size) in matrix(ctx) {
            // 32 KiB entries: at most 10 000 (320 MB per copy) so two copies fit in memory.
            let cap = if ctx.quick { 200 } else { 10_000 };
            let n = if size > 4096 { count.min(cap) } else { count };
            cases.push((t, st, size, n));
        }
    }
    // The target case: 1 000 × 1 KiB to a fresh SQLite peer.
    if ctx.stores.contains(&StoreKind::Sqlite) {
        for &t in &ctx.transports {
            if t != TransportKind::Memory {
                cases.push((t, StoreKind::Sqlite, 1024, 1_000));
            }
        }
    }
    for (transport, store_kind, size, count) in cases {
        let raw_frames = count.clamp(1_000, 200_000);
        let (_, raw_mbs) = raw::tcp_throughput(size, raw_frames).await?;
        let raw_store = {
            let dir = tempfile::tempdir()?;
            let s = store(store_kind, dir.path(), &node_id(9)?).await?;
            raw::store_inserts(&s, count.min(100_000), size.min(4096)).await?
        };
        let c = catch_up(transport, store_kind, count, size, limit).await?;
        let eps = count as f64 / c.seconds.max(1e-9);
        let mbs = eps * size as f64 / 1e6;
        report.row(
            vec![
                name(&transport),
                name(&store_kind),
                count.to_string(),
                size.to_string(),
                f(c.seconds, 3),
                f(eps, 0),
                f(mbs, 1),
                f(raw_mbs, 1),
                f(ratio(mbs, raw_mbs), 3),
                f(raw_store, 0),
                f(ratio(c.wire_bytes as f64, count as f64), 0),
                c.complete.to_string(),
            ],
            json!({
                "transport": transport, "store": store_kind, "entries": count, "size": size,
                "seconds": c.seconds, "entries_per_s": eps, "mb_per_s": mbs,
                "raw_tcp_mb_per_s": raw_mbs, "ratio_to_raw_tcp": ratio(mbs, raw_mbs),
                "raw_store_inserts_per_s": raw_store, "holder_append_per_s": c.seed_rate,
                "wire_bytes_per_entry": ratio(c.wire_bytes as f64, count as f64),
                "complete": c.complete, "curve": c.curve,
            }),
        );
        series.push((
            format!(
                "{}/{} {}×{size} B",
                name(&transport),
                name(&store_kind),
                count
            ),
            c.curve,
        ));
    }
    println!("{}", report.table());
    report.write(&ctx.out, "catchup", &ctx.meta())?;
    chart::lines(
        &ctx.out.join("catchup_curve.svg"),
        "catch-up of a fresh node: fraction held over time",
        "seconds since the fresh node started",
        "fraction of entries held",
        &series,
    )?;
    Ok(())
}
