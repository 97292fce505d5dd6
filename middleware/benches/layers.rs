//! Per-frame cost of each layer beside its raw primitive, in the same run:
//!
//! - `encryption/*`: `Encryption<Loopback>` send + recv (seal + open) against
//!   ring's AES-256-GCM `seal_in_place_separate_tag` + `open_in_place` on the
//!   same sizes;
//! - `compression/*`: `Compression<Loopback>` send + recv against
//!   `lz4_flex` compress + decompress of the same frame;
//! - `metrics/*`: `Metrics<Loopback>` send + recv against the bare loopback.
//!
//! The loopback transport hands the last sent frame back on `recv`, so the
//! transport itself costs next to nothing. Run in release:
//!
//! ```text
//! cargo bench -p gossip-middleware --all-features --bench layers
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    hint::black_box,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gossip_core::{
    protocol::{MessageKind, PROTOCOL_VERSION},
    NodeId, Transport, TransportCapabilities, TransportEvent, TransportResult,
};
use gossip_middleware::{CompressionLayer, EncryptionLayer, MetricsLayer, NetworkKey};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use tower::Layer;

const SIZES: [usize; 3] = [256, 1024, 32 * 1024];

/// Hands the last frame sent through any transport sharing its slot back on
/// `recv`, as if it came from `peer`.
struct Loopback {
    id: NodeId,
    peer: NodeId,
    slot: Arc<Mutex<Bytes>>,
}

#[async_trait]
impl Transport for Loopback {
    fn backend(&self) -> &'static str {
        "loopback"
    }
    fn local_id(&self) -> &NodeId {
        &self.id
    }
    fn max_frame_len(&self) -> usize {
        1 << 20
    }
    fn capabilities(&self) -> TransportCapabilities {
        TransportCapabilities::stream_like()
    }
    async fn send(&self, _to: &NodeId, frame: Bytes) -> TransportResult<()> {
        *self.slot.lock().unwrap() = frame;
        Ok(())
    }
    async fn recv(&self) -> TransportResult<TransportEvent> {
        Ok(TransportEvent::Frame {
            from: self.peer.clone(),
            frame: self.slot.lock().unwrap().clone(),
        })
    }
    async fn close(&self) -> TransportResult<()> {
        Ok(())
    }
}

/// A sender on node `a` and a receiver on node `b` sharing one slot.
fn pair() -> (Loopback, Loopback) {
    let (a, b) = (NodeId::from_seed("bench-a"), NodeId::from_seed("bench-b"));
    let slot = Arc::new(Mutex::new(Bytes::new()));
    (
        Loopback {
            id: a.clone(),
            peer: b.clone(),
            slot: slot.clone(),
        },
        Loopback {
            id: b,
            peer: a,
            slot,
        },
    )
}

/// A gossip push frame of `len` bytes with a compressible but not trivial body
/// (text-like records with varying numbers).
fn frame(len: usize) -> Bytes {
    let mut frame = vec![PROTOCOL_VERSION, MessageKind::Push as u8];
    let mut i = 0u64;
    while frame.len() < len {
        let record = format!(
            "{{\"author\":\"node-{}\",\"seq\":{},\"hlc\":{},\"payload\":\"item {}\"}}",
            i % 7,
            i,
            i.wrapping_mul(2_654_435_761) % 1_000_003,
            i * 31 % 97
        );
        frame.extend_from_slice(record.as_bytes());
        i += 1;
    }
    frame.truncate(len);
    Bytes::from(frame)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// `iters` round trips (send on `tx`, recv on `rx`), timed.
fn round_trips<T: Transport>(
    rt: &tokio::runtime::Runtime,
    tx: &T,
    rx: &T,
    frame: &Bytes,
    iters: u64,
) -> Duration {
    let to = rx.local_id().clone();
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            tx.send(&to, frame.clone()).await.unwrap();
            black_box(rx.recv().await.unwrap());
        }
        start.elapsed()
    })
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

fn encryption(c: &mut Criterion) {
    let rt = runtime();
    let mut group = configure(c, "encryption");
    let bytes = [0x3Cu8; 32];
    for size in SIZES {
        let frame = frame(size);
        group.throughput(Throughput::Bytes(size as u64));
        // Bare ring: a copy of the frame into a reused buffer, seal in place,
        // open in place (the work the layer cannot avoid).
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).unwrap());
        let mut buffer = Vec::with_capacity(size + 16);
        let mut counter = 0u64;
        group.bench_function(BenchmarkId::new("ring_seal_open", size), |b| {
            b.iter(|| {
                counter += 1;
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&counter.to_be_bytes());
                buffer.clear();
                buffer.extend_from_slice(&frame);
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        &mut buffer,
                    )
                    .unwrap();
                buffer.extend_from_slice(tag.as_ref());
                let plain = key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        &mut buffer,
                    )
                    .unwrap();
                black_box(plain.len());
            });
        });
        let layer = EncryptionLayer::new(NetworkKey::new(1, bytes));
        let (a, b) = pair();
        let (tx, rx) = (layer.layer(a), layer.layer(b));
        group.bench_function(BenchmarkId::new("layer_send_recv", size), |bench| {
            bench.iter_custom(|iters| round_trips(&rt, &tx, &rx, &frame, iters));
        });
    }
    group.finish();
}

fn compression(c: &mut Criterion) {
    let rt = runtime();
    let mut group = configure(c, "compression");
    for size in SIZES {
        let frame = frame(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(
            BenchmarkId::new("lz4_flex_compress_decompress", size),
            |b| {
                b.iter(|| {
                    let compressed = lz4_flex::block::compress_prepend_size(&frame);
                    let plain = lz4_flex::block::decompress_size_prepended(&compressed).unwrap();
                    black_box(plain.len());
                });
            },
        );
        let layer = CompressionLayer::lz4();
        let (a, b) = pair();
        let (tx, rx) = (layer.layer(a), layer.layer(b));
        group.bench_function(BenchmarkId::new("layer_send_recv", size), |bench| {
            bench.iter_custom(|iters| round_trips(&rt, &tx, &rx, &frame, iters));
        });
    }
    group.finish();
}

fn metrics(c: &mut Criterion) {
    let rt = runtime();
    let mut group = configure(c, "metrics");
    let frame = frame(1024);
    let (a, b) = pair();
    group.bench_function("bare_loopback_send_recv", |bench| {
        bench.iter_custom(|iters| round_trips(&rt, &a, &b, &frame, iters));
    });
    let (a, b) = pair();
    let (tx, rx) = (MetricsLayer::new().layer(a), MetricsLayer::new().layer(b));
    group.bench_function("layer_send_recv_no_recorder", |bench| {
        bench.iter_custom(|iters| round_trips(&rt, &tx, &rx, &frame, iters));
    });
    let (a, b) = pair();
    let untimed = MetricsLayer::new().send_durations(false);
    let (tx, rx) = (untimed.layer(a), untimed.layer(b));
    group.bench_function("layer_send_recv_no_recorder_untimed", |bench| {
        bench.iter_custom(|iters| round_trips(&rt, &tx, &rx, &frame, iters));
    });
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        // Handles bind to the recorder installed when a peer is first seen.
        let (a, b) = pair();
        let (tx, rx) = (MetricsLayer::new().layer(a), MetricsLayer::new().layer(b));
        group.bench_function("layer_send_recv_prometheus", |bench| {
            bench.iter_custom(|iters| round_trips(&rt, &tx, &rx, &frame, iters));
        });
        let (a, b) = pair();
        let untimed = MetricsLayer::new().send_durations(false);
        let (tx, rx) = (untimed.layer(a), untimed.layer(b));
        group.bench_function("layer_send_recv_prometheus_untimed", |bench| {
            bench.iter_custom(|iters| round_trips(&rt, &tx, &rx, &frame, iters));
        });
    });
    group.finish();
}

criterion_group!(benches, encryption, compression, metrics);
criterion_main!(benches);
