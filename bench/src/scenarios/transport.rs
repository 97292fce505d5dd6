//! The transport scenario: frame round trips and throughput per transport,
//! beside raw framed tokio TCP measured in the same run; connection set-up.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use bytes::Bytes;
use gossip_core::{NodeId, TransportErrorKind, TransportEvent};
use serde_json::json;

use gossip_transport_memory::LinkFaults;

use crate::{
    cluster::{identity, name, payload, transports, BoxTransport, Res, TransportKind},
    raw,
    stats::{f, ratio, Report, Summary},
    Ctx,
};

/// Sends, retrying while the peer's queue is full: a full queue yields to
/// the transport's tasks, which drain it (a timer sleep here would throttle
/// the sender to the timer's 1 ms resolution, not measure the transport).
async fn send(t: &BoxTransport, to: &NodeId, frame: Bytes) -> Res<()> {
    loop {
        match t.send(to, frame.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == TransportErrorKind::QueueFull => {
                tokio::task::yield_now().await;
            }
            Err(e) if e.kind() == TransportErrorKind::Unreachable => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The next frame, skipping peer events, within `limit`.
async fn recv_frame(t: &BoxTransport, limit: Duration) -> Res<Bytes> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, t.recv()).await {
            Err(_) => return Err("timed out waiting for a frame".into()),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(TransportEvent::Frame { frame, .. })) => return Ok(frame),
            Ok(Ok(_)) => {}
        }
    }
}

async fn pair(kind: TransportKind, seed: u64) -> Res<(BoxTransport, BoxTransport)> {
    let (ts, network) =
        transports(kind, &[identity(0), identity(1)], LinkFaults::none(), seed).await?;
    drop(network); // each in-memory transport keeps its network alive
    let mut it = ts.into_iter();
    match (it.next(), it.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err("transport pair".into()),
    }
}

/// Round trips of `size`-byte frames between two endpoints of `kind`.
async fn ping_pong(kind: TransportKind, size: usize, rounds: usize) -> Res<Summary> {
    let (a, b) = pair(kind, 1).await?;
    let a_id = a.local_id().clone();
    let b_id = b.local_id().clone();
    let echo = tokio::spawn(async move {
        while let Ok(frame) = recv_frame(&b, Duration::from_secs(30)).await {
            if send(&b, &a_id, frame).await.is_err() {
                break;
            }
        }
        let _ = b.close().await;
    });
    let frame = payload(size, 1);
    let warm = rounds / 10 + 10;
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds + warm {
        let start = Instant::now();
        send(&a, &b_id, frame.clone()).await?;
        recv_frame(&a, Duration::from_secs(30))
            .await
            .map_err(|e| format!("round {i}: {e}"))?;
        if i >= warm {
            samples.push(start.elapsed());
        }
    }
    let _ = a.close().await;
    echo.abort();
    Ok(Summary::of(&mut samples))
}

/// Frames per port call in the throughput runs: `send_many` batches and
/// `recv_many` takes of this size, as the node does.
const BATCH: usize = 64;

/// How the throughput run calls the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calls {
    /// `send` and `recv`: one frame per call.
    Single,
    /// `send_many` and `recv_many`: up to [`BATCH`] frames per call.
    Batched,
}

impl Calls {
    fn label(self) -> String {
        match self {
            Calls::Single => "1 frame".into(),
            Calls::Batched => format!("batches of {BATCH}"),
        }
    }
}

/// Sends a batch, retrying with what is left while the peer's queue is
/// full (yielding to the transport's tasks meanwhile).
async fn send_batch(t: &BoxTransport, to: &NodeId, batch: &mut VecDeque<Bytes>) -> Res<()> {
    while let Err(e) = t.send_many(to, batch).await {
        match e.kind() {
            TransportErrorKind::QueueFull => tokio::task::yield_now().await,
            TransportErrorKind::Unreachable => tokio::time::sleep(Duration::from_millis(5)).await,
            _ => return Err(e.into()),
        }
    }
    Ok(())
}

/// Frames taken by one `recv_many` within `limit`: `None` when nothing came.
async fn recv_frames(t: &BoxTransport, limit: Duration) -> Res<Option<usize>> {
    let mut events = Vec::with_capacity(BATCH);
    match tokio::time::timeout(limit, t.recv_many(&mut events, BATCH)).await {
        Err(_) => Ok(None),
        Ok(_) => {
            let mut frames = 0;
            for event in events {
                if let TransportEvent::Frame { .. } = event? {
                    frames += 1;
                }
            }
            Ok(Some(frames))
        }
    }
}

/// One-way throughput of `count` frames of `size` bytes: (frames/s, MB/s,
/// frames delivered). A transport may refuse frames when its receiver falls
/// behind: the reader stops after 3 s without a frame and the rate counts
/// what arrived.
async fn throughput(
    kind: TransportKind,
    size: usize,
    count: u64,
    calls: Calls,
) -> Res<(f64, f64, u64)> {
    let (a, b) = pair(kind, 2).await?;
    let b_id = b.local_id().clone();
    // Connect and warm up first.
    send(&a, &b_id, payload(size, 0)).await?;
    recv_frame(&b, Duration::from_secs(30)).await?;
    let reader = tokio::spawn(async move {
        let mut got = 0u64;
        let mut end = Instant::now();
        while got < count {
            let took = match calls {
                Calls::Single => recv_frame(&b, Duration::from_secs(3)).await.ok().map(|_| 1),
                Calls::Batched => recv_frames(&b, Duration::from_secs(3)).await?,
            };
            let Some(took) = took else { break };
            got += took as u64;
            end = Instant::now();
        }
        let _ = b.close().await;
        Ok::<_, crate::cluster::BoxError>((end, got))
    });
    let frame = payload(size, 1);
    let start = Instant::now();
    match calls {
        Calls::Single => {
            for _ in 0..count {
                send(&a, &b_id, frame.clone()).await?;
            }
        }
        Calls::Batched => {
            let mut left = count;
            let mut batch = VecDeque::with_capacity(BATCH);
            while left > 0 {
                let n = left.min(BATCH as u64);
                batch.extend((0..n).map(|_| frame.clone()));
                send_batch(&a, &b_id, &mut batch).await?;
                left -= n;
            }
        }
    }
    let (end, got) = reader.await??;
    let _ = a.close().await;
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    Ok((
        got as f64 / secs,
        got as f64 * size as f64 / secs / 1e6,
        got,
    ))
}

/// Time from the first send on a fresh pair to its arrival (dial, handshake, frame).
async fn setup(kind: TransportKind) -> Res<Duration> {
    let (a, b) = pair(kind, 3).await?;
    let start = Instant::now();
    send(&a, b.local_id(), payload(16, 0)).await?;
    recv_frame(&b, Duration::from_secs(30)).await?;
    let took = start.elapsed();
    let _ = a.close().await;
    let _ = b.close().await;
    Ok(took)
}

/// Runs the scenario.
pub(crate) async fn run(ctx: &Ctx) -> Res<()> {
    let sizes = [256usize, 1024, 32 * 1024];
    let (rounds, frames) = if ctx.quick {
        (200, 2_000u64)
    } else {
        (5_000, 50_000u64)
    };
    let mut report = Report::new(
        "Transports: frame round trip and one-way throughput, beside raw framed tokio TCP (same run)",
        &[
            "transport",
            "port calls",
            "size",
            "rtt p50 µs",
            "rtt p99 µs",
            "raw TCP rtt p99 µs",
            "added p99 µs",
            "frames/s",
            "MB/s",
            "raw TCP frames/s",
            "throughput ratio",
            "÷ raw TCP + AES-GCM",
            "delivered",
        ],
    );
    for &size in &sizes {
        let count = if size > 4096 { frames / 8 } else { frames };
        let raw_rtt = raw::tcp_ping_pong(size, rounds).await?;
        let (raw_fps, raw_mbs) = raw::tcp_throughput(size, count).await?;
        let (sealed_fps, sealed_mbs) = raw::tcp_sealed_throughput(size, count).await?;
        report.row(
            vec![
                "raw TCP + AES-256-GCM".into(),
                "—".into(),
                size.to_string(),
                "—".into(),
                "—".into(),
                f(raw_rtt.p99_us, 1),
                "—".into(),
                f(sealed_fps, 0),
                f(sealed_mbs, 1),
                f(raw_fps, 0),
                f(ratio(sealed_fps, raw_fps), 2),
                "1.00".into(),
                format!("{count}/{count}"),
            ],
            json!({"transport": "raw-tcp-aes-gcm", "size": size, "frames_per_s": sealed_fps, "mb_per_s": sealed_mbs}),
        );
        report.row(
            vec![
                "raw tokio TCP".into(),
                "—".into(),
                size.to_string(),
                f(raw_rtt.p50_us, 1),
                f(raw_rtt.p99_us, 1),
                f(raw_rtt.p99_us, 1),
                "0".into(),
                f(raw_fps, 0),
                f(raw_mbs, 1),
                f(raw_fps, 0),
                "1.00".into(),
                "—".into(),
                format!("{count}/{count}"),
            ],
            json!({"transport": "raw-tcp", "size": size, "rtt": raw_rtt, "frames_per_s": raw_fps, "mb_per_s": raw_mbs}),
        );
        for &kind in &ctx.transports {
            let rtt = ping_pong(kind, size, rounds)
                .await
                .map_err(|e| format!("{} ping-pong at {size} B: {e}", name(&kind)))?;
            for calls in [Calls::Batched, Calls::Single] {
                let (fps, mbs, delivered) = throughput(kind, size, count, calls)
                    .await
                    .map_err(|e| format!("{} throughput at {size} B: {e}", name(&kind)))?;
                let first = calls == Calls::Batched;
                let shown = |value: String| if first { value } else { "—".into() };
                report.row(
                    vec![
                        name(&kind),
                        calls.label(),
                        size.to_string(),
                        shown(f(rtt.p50_us, 1)),
                        shown(f(rtt.p99_us, 1)),
                        f(raw_rtt.p99_us, 1),
                        shown(f(rtt.p99_us - raw_rtt.p99_us, 1)),
                        f(fps, 0),
                        f(mbs, 1),
                        f(raw_fps, 0),
                        f(ratio(fps, raw_fps), 2),
                        f(ratio(fps, sealed_fps), 2),
                        format!("{delivered}/{count}"),
                    ],
                    json!({
                        "transport": kind, "port_calls": calls.label(), "size": size, "rtt": rtt,
                        "frames_per_s": fps, "mb_per_s": mbs, "raw_rtt": raw_rtt,
                        "raw_frames_per_s": raw_fps, "raw_mb_per_s": raw_mbs,
                        "throughput_ratio": ratio(fps, raw_fps),
                        "added_p99_us": rtt.p99_us - raw_rtt.p99_us, "sent": count,
                        "delivered": delivered, "raw_sealed_frames_per_s": sealed_fps,
                        "sealed_ratio": ratio(fps, sealed_fps),
                    }),
                );
            }
        }
    }
    println!("{}", report.table());
    report.write(&ctx.out, "transport", &ctx.meta())?;

    let mut setups = Report::new(
        "Connection set-up: first frame on a fresh pair (dial + handshake + frame), median of runs; baseline raw TCP connect + frame",
        &["transport", "runs", "p50 ms", "max ms"],
    );
    let runs = if ctx.quick { 3 } else { 10 };
    let mut raw_samples = Vec::new();
    for _ in 0..runs {
        raw_samples.push(raw::tcp_setup().await?);
    }
    let raw_setup = Summary::of(&mut raw_samples);
    setups.row(
        vec![
            "raw TCP (no handshake)".into(),
            runs.to_string(),
            f(raw_setup.p50_us / 1e3, 2),
            f(raw_setup.max_us / 1e3, 2),
        ],
        json!({"transport": "raw-tcp", "setup": raw_setup}),
    );
    for &kind in &ctx.transports {
        if kind == TransportKind::Memory {
            continue;
        }
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(setup(kind).await?);
        }
        let s = Summary::of(&mut samples);
        setups.row(
            vec![
                name(&kind),
                runs.to_string(),
                f(s.p50_us / 1e3, 2),
                f(s.max_us / 1e3, 2),
            ],
            json!({"transport": kind, "setup": s}),
        );
    }
    println!("{}", setups.table());
    setups.write(&ctx.out, "setup", &ctx.meta())?;
    Ok(())
}
