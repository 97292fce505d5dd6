//! Measures what the [`MetricsLayer`](gossip_middleware::MetricsLayer) costs
//! per frame: sends and receives through `Metrics<Null>` over a transport
//! that does nothing, with no recorder, with `metrics-util`'s debugging
//! recorder and with the Prometheus recorder, beside the bare transport.
//! Run in release:
//!
//! ```text
//! cargo run --release -p gossip-middleware --features metrics --example metrics_bench
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    protocol::{MessageKind, PROTOCOL_VERSION},
    NodeId, Transport, TransportCapabilities, TransportEvent, TransportResult,
};
use gossip_middleware::MetricsLayer;
use tower::Layer;

const FRAMES: u32 = 200_000;

/// A transport that accepts every frame and always has one to deliver.
struct Null {
    id: NodeId,
    peer: NodeId,
    frame: Bytes,
}

#[async_trait]
impl Transport for Null {
    fn backend(&self) -> &'static str {
        "null"
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
    async fn send(&self, _to: &NodeId, _frame: Bytes) -> TransportResult<()> {
        Ok(())
    }
    async fn recv(&self) -> TransportResult<TransportEvent> {
        Ok(TransportEvent::Frame {
            from: self.peer.clone(),
            frame: self.frame.clone(),
        })
    }
    async fn close(&self) -> TransportResult<()> {
        Ok(())
    }
}

fn null() -> Null {
    let mut frame = vec![PROTOCOL_VERSION, MessageKind::Push as u8];
    frame.resize(1024, 0);
    Null {
        id: NodeId::from_seed("bench-a"),
        peer: NodeId::from_seed("bench-b"),
        frame: Bytes::from(frame),
    }
}

/// Nanoseconds per frame for `FRAMES` sends and `FRAMES` receives.
fn run<T: Transport>(rt: &tokio::runtime::Runtime, transport: &T) -> (f64, f64) {
    let peer = NodeId::from_seed("bench-b");
    let mut frame = vec![PROTOCOL_VERSION, MessageKind::Push as u8];
    frame.resize(1024, 0);
    let frame = Bytes::from(frame);
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..FRAMES {
            transport.send(&peer, frame.clone()).await.unwrap();
        }
        let send = start.elapsed().as_nanos() as f64 / f64::from(FRAMES);
        let start = Instant::now();
        for _ in 0..FRAMES {
            std::hint::black_box(transport.recv().await.unwrap());
        }
        let recv = start.elapsed().as_nanos() as f64 / f64::from(FRAMES);
        (send, recv)
    })
}

fn report(name: &str, (send, recv): (f64, f64)) {
    println!("{name:<44} send {send:>7.1} ns/frame   recv {recv:>7.1} ns/frame");
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bare = null();
    let layered = MetricsLayer::new().layer(null());
    for _ in 0..2 {
        report("bare transport (baseline)", run(&rt, &bare));
        report("Metrics<_>, no recorder installed", run(&rt, &layered));
        let debugging = metrics_util::debugging::DebuggingRecorder::new();
        metrics::with_local_recorder(&debugging, || {
            report(
                "Metrics<_>, metrics-util DebuggingRecorder",
                run(&rt, &layered),
            );
        });
        let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&prometheus, || {
            report("Metrics<_>, Prometheus recorder", run(&rt, &layered));
        });
    }
}
