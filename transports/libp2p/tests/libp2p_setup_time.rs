//! Connection set-up time: from the first `send` to a peer not yet
//! connected (TCP connect, Noise, Yamux, the substream) to the frame's
//! arrival, on loopback, beside the same thing over a raw tokio TCP
//! connection (connect, write a length-prefixed frame, read it) measured in the
//! same run. Ignored by default (a measurement, not a check):
//!
//! ```text
//! cargo test -p gossip-transport-libp2p --release --test libp2p_setup_time -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use gossip_core::Transport;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn dial_to_first_frame() {
    const ROUNDS: usize = 20;
    let mut cold = Vec::with_capacity(ROUNDS);
    let mut warm = Vec::with_capacity(ROUNDS);
    let mut raw = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        raw.push(raw_tcp_first_frame().await);
        let nodes = mesh(2, config()).await;
        let (a, b) = (&nodes[0], &nodes[1]);
        let start = Instant::now();
        a.send(b.local_id(), Bytes::from_static(b"first"))
            .await
            .unwrap();
        next_frame(b).await;
        cold.push(start.elapsed());
        let start = Instant::now();
        a.send(b.local_id(), Bytes::from_static(b"second"))
            .await
            .unwrap();
        next_frame(b).await;
        warm.push(start.elapsed());
        close_all(&nodes).await;
    }
    let report = |name: &str, mut samples: Vec<Duration>| {
        samples.sort();
        eprintln!(
            "{name}: min {:?}, median {:?}, max {:?} over {ROUNDS} rounds",
            samples[0],
            samples[ROUNDS / 2],
            samples[ROUNDS - 1]
        );
    };
    let raw_median = {
        let mut sorted = raw.clone();
        sorted.sort();
        sorted[ROUNDS / 2]
    };
    let cold_median = {
        let mut sorted = cold.clone();
        sorted.sort();
        sorted[ROUNDS / 2]
    };
    report("raw tokio TCP: connect → first frame read", raw);
    report("dial → first frame delivered", cold);
    eprintln!(
        "libp2p set-up / raw TCP set-up (medians): {:.1}x",
        cold_median.as_secs_f64() / raw_median.as_secs_f64()
    );
    report("next frame on the open connection", warm);
}

/// The baseline: a fresh loopback TCP connection carrying one
/// length-prefixed frame, from `connect` to the frame read on the other side.
async fn raw_tcp_first_frame() -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(&5u32.to_be_bytes()).await.unwrap();
        stream.write_all(b"first").await.unwrap();
        stream
    });
    let (mut inbound, _) = listener.accept().await.unwrap();
    let mut frame = [0u8; 9];
    inbound.read_exact(&mut frame).await.unwrap();
    let took = start.elapsed();
    drop(writer.await.unwrap());
    took
}
