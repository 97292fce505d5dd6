//! Two nodes with the metrics layers; their metrics are served on a
//! Prometheus endpoint, scraped once and printed.
#![allow(clippy::print_stdout)] // a demo program: printing is its job

use std::{net::SocketAddr, time::Duration};

use gossip::layers::metrics::describe;
use gossip::{
    ChannelId, Coordinator, Identity, Invitation, MemoryNetwork, MemoryNetworkConfig, MemoryStore,
    Metrics, NodeId, Role, StoreMetrics, StreamId,
};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The endpoint's address: `METRICS_ADDR`, or a free loopback port.
fn endpoint() -> Result<SocketAddr, Box<dyn std::error::Error>> {
    if let Ok(address) = std::env::var("METRICS_ADDR") {
        return Ok(address
            .parse()
            .map_err(|e| format!("METRICS_ADDR={address:?} is not an address: {e}"))?);
    }
    // Ask the OS for a free port, then hand it to the exporter.
    let probe = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(probe.local_addr()?)
}

/// `GET /metrics` over plain HTTP/1.0; returns the body.
async fn scrape(address: SocketAddr) -> Result<String, Box<dyn std::error::Error>> {
    let mut last_error = String::new();
    for _ in 0..50 {
        match tokio::net::TcpStream::connect(address).await {
            Ok(mut socket) => {
                socket
                    .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    .await?;
                let mut response = String::new();
                socket.read_to_string(&mut response).await?;
                let body = response
                    .split_once("\r\n\r\n")
                    .map(|(_, body)| body.to_owned())
                    .ok_or("malformed HTTP response")?;
                return Ok(body);
            }
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("cannot reach the endpoint at {address}: {last_error}").into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = endpoint()?;
    PrometheusBuilder::new()
        .with_http_listener(address)
        .install()?;
    describe();
    println!("serving metrics on http://{address}/metrics");

    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let identities = [Identity::generate(), Identity::generate()]; // left, right
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
    let channel = ChannelId::derive(identities[0].node_id(), "metered")?;
    let stream = StreamId::new("events")?;
    let mut streams = Vec::new();
    let mut nodes = Vec::new();
    for identity in &identities {
        let id = identity.node_id();
        let node = Coordinator::builder(identity.clone())
            .store(StoreMetrics::new(MemoryStore::new()))
            .transport(Metrics::new(network.join(identity)?))
            .build()
            .await?;
        for peer in ids.iter().filter(|p| *p != id) {
            node.add_peer(peer.clone()).await?;
        }
        // The left node owns the channel and adds the right one, which joins.
        let owner = ids.first().ok_or("no nodes")?;
        let handle = if id == owner {
            let handle = node.create_channel(channel.name()).await?;
            for member in ids.iter().skip(1) {
                handle.add_member(member.clone(), Role::Writer).await?;
            }
            handle
        } else {
            let invitation =
                Invitation::new(channel.clone(), owner.clone(), owner.clone(), vec![])?;
            node.join(&invitation).await?
        };
        node.start().await?;
        streams.push(handle.stream(stream.clone()).await?);
        nodes.push(node);
    }

    let (Some(left), Some(right)) = (streams.first(), streams.last()) else {
        return Err("two nodes expected".into());
    };
    for k in 0..20 {
        left.append(format!("reading {k}")).await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while right.entries().await?.len() < 20 {
        if tokio::time::Instant::now() > deadline {
            return Err("the nodes did not converge".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("20 entries synced; scraping the endpoint:");

    let body = scrape(address).await?;
    let lines: Vec<&str> = body
        .lines()
        .filter(|line| line.starts_with("gossip_"))
        .collect();
    for line in &lines {
        println!("{line}");
    }
    if lines.is_empty() {
        return Err("the scrape holds no gossip_ series".into());
    }

    let hold: u64 = std::env::var("HOLD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if hold > 0 {
        println!("serving for {hold} s more");
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    for node in &nodes {
        node.dispose().await?;
    }
    Ok(())
}
