//! A minimal Prometheus scrape endpoint: `GET /metrics` on a bound listener.
//!
//! Serving it here (instead of the exporter's own listener) lets the node
//! bind port 0 and print the port it got.

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Installs the Prometheus recorder as the global `metrics` recorder.
pub(crate) fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| error.to_string())
}

/// Every second, where each peer stands, as gauges labelled by peer:
/// `gossip_peer_lacking_entries`, `gossip_peer_lacking_bytes`,
/// `gossip_peer_lag_ms` (age of the oldest entry it lacks, 0 when caught
/// up) and `gossip_peer_last_sync_ms_ago`. Runs until the node is disposed.
pub(crate) async fn export_peer_sync(node: gossip::Coordinator) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Ok(health) = node.health().await else {
            return;
        };
        for peer in health.peers {
            let id = peer.id.to_string();
            metrics::gauge!("gossip_peer_lacking_entries", "peer" => id.clone())
                .set(peer.lacking_entries() as f64);
            let bytes: u64 = peer.streams.iter().map(|s| s.lacking_bytes).sum();
            metrics::gauge!("gossip_peer_lacking_bytes", "peer" => id.clone()).set(bytes as f64);
            metrics::gauge!("gossip_peer_lag_ms", "peer" => id.clone())
                .set(peer.lag_ms().unwrap_or(0) as f64);
            if let Some(ago) = peer.last_sync_ms_ago {
                metrics::gauge!("gossip_peer_last_sync_ms_ago", "peer" => id).set(ago as f64);
            }
        }
    }
}

/// Answers scrapes until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), answer(socket, handle)).await;
        });
    }
}

async fn answer(mut socket: TcpStream, handle: PrometheusHandle) -> std::io::Result<()> {
    // Read the request head (bounded); only the request line matters.
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let request_line = String::from_utf8_lossy(&head);
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = if path == "/metrics" || path == "/" {
        ("200 OK", "text/plain; version=0.0.4", handle.render())
    } else {
        ("404 Not Found", "text/plain", "try /metrics\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}
