//! The baselines scenario: bare AEAD and compression primitives, raw
//! batched store inserts per store, raw framed TCP.

use serde_json::json;

use crate::{
    cluster::{name, node_id, store, Res},
    raw,
    stats::{f, Report},
    Ctx,
};

/// Runs the scenario.
pub(crate) async fn run(ctx: &Ctx) -> Res<()> {
    let iterations = if ctx.quick { 2_000 } else { 100_000 };
    let mut prim = Report::new(
        "Bare primitives (no node, no transport)",
        &[
            "primitive",
            "input B",
            "ns/op",
            "MB/s",
            "output or overhead B",
        ],
    );
    for size in [256usize, 1024, 32 * 1024] {
        let its = if size > 4096 {
            iterations / 16 + 1
        } else {
            iterations
        };
        for p in raw::primitives(size, its)? {
            prim.row(
                vec![
                    p.name.into(),
                    size.to_string(),
                    f(p.ns_per_op, 0),
                    f(size as f64 / p.ns_per_op.max(1e-9) * 1e3, 0),
                    p.out_bytes.to_string(),
                ],
                json!(p),
            );
        }
    }
    println!("{}", prim.table());
    prim.write(&ctx.out, "baseline_primitives", &ctx.meta())?;

    let count = if ctx.quick { 5_000 } else { 100_000 };
    let mut stores = Report::new(
        "Raw batched inserts through the store port (batches of 1 000, no node)",
        &["store", "entries", "size", "entries/s"],
    );
    for &kind in &ctx.stores {
        for size in [256usize, 1024] {
            let dir = tempfile::tempdir()?;
            let s = store(kind, dir.path(), &node_id(0)?).await?;
            let eps = raw::store_inserts(&s, count, size).await?;
            stores.row(
                vec![name(&kind), count.to_string(), size.to_string(), f(eps, 0)],
                json!({"store": kind, "entries": count, "size": size, "entries_per_s": eps}),
            );
        }
    }
    println!("{}", stores.table());
    stores.write(&ctx.out, "baseline_stores", &ctx.meta())?;

    let mut tcp = Report::new(
        "Raw length-prefixed tokio TCP on loopback",
        &["size", "ping-pong p50 µs", "p99 µs", "frames/s", "MB/s"],
    );
    let frames = if ctx.quick { 5_000 } else { 200_000 };
    for size in [256usize, 1024, 32 * 1024] {
        let rtt = raw::tcp_ping_pong(size, if ctx.quick { 300 } else { 5_000 }).await?;
        let n = if size > 4096 { frames / 8 } else { frames };
        let (fps, mbs) = raw::tcp_throughput(size, n).await?;
        tcp.row(
            vec![
                size.to_string(),
                f(rtt.p50_us, 1),
                f(rtt.p99_us, 1),
                f(fps, 0),
                f(mbs, 1),
            ],
            json!({"size": size, "rtt": rtt, "frames_per_s": fps, "mb_per_s": mbs}),
        );
    }
    println!("{}", tcp.table());
    tcp.write(&ctx.out, "baseline_tcp", &ctx.meta())?;
    Ok(())
}
