//! Serves the gossip metrics in Prometheus' text format on
//! `http://127.0.0.1:9898/metrics` while two nodes exchange frames over the
//! memory transport through the full layer stack. Stops by itself after
//! `SECONDS` seconds (default 30; `0` sends a burst and exits).
//!
//! ```text
//! cargo run -p gossip-middleware --features full --example prometheus
//! curl -s http://127.0.0.1:9898/metrics | grep gossip_
//! ```
#![allow(clippy::print_stdout)]

use std::{net::SocketAddr, time::Duration};

use gossip_core::{
    protocol::{MessageKind, PROTOCOL_VERSION},
    Identity, NodeId, Transport,
};
use gossip_middleware::{metrics::describe, MetricsLayer};
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::Layer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let address: SocketAddr = ([127, 0, 0, 1], 9898).into();
    PrometheusBuilder::new()
        .with_http_listener(address)
        .install()?;
    describe();
    println!("serving metrics on http://{address}/metrics for {seconds} s");

    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let a = MetricsLayer::new().layer(network.join(&Identity::from_seed("a"))?);
    let b = MetricsLayer::new().layer(network.join(&Identity::from_seed("b"))?);
    let receiver = tokio::spawn(async move { while b.recv().await.is_ok() {} });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut round = 0u64;
    loop {
        for kind in [
            MessageKind::Ping,
            MessageKind::Push,
            MessageKind::DigestRequest,
        ] {
            let frame = vec![PROTOCOL_VERSION, kind as u8, 0, 0, 0];
            a.send(&NodeId::from_seed("b"), frame.into()).await?;
        }
        round += 1;
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.close().await?;
    receiver.abort();
    println!("sent {} frames", round * 3);
    Ok(())
}
