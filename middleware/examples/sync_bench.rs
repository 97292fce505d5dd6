//! End-to-end cost of the [`EncryptionLayer`](gossip_middleware::EncryptionLayer):
//! a node holding N entries and a fresh node, two `Coordinator`s over
//! `gossip-transport-tcp` on loopback, timed until the fresh node holds all
//! N; once over plain TCP (the baseline) and once with both transports
//! wrapped in the encryption layer, alternating, in the same run. Run in
//! release:
//!
//! ```text
//! cargo run --release -p gossip-middleware --features encryption --example sync_bench [-- ENTRIES SIZE ROUNDS]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use gossip_core::{
    ChannelId, Coordinator, Identity, Invitation, NodeId, Role, StreamId, Transport,
};
use gossip_middleware::{EncryptionLayer, NetworkKey};
use gossip_store_memory::MemoryStore;
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tower::Layer;

type Error = Box<dyn std::error::Error>;

/// Gives up on a run after this long (reported as incomplete).
const LIMIT: Duration = Duration::from_secs(300);

async fn pair() -> Result<(TcpTransport, TcpTransport), Error> {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let a = TcpTransport::bind(&identity("holder"), loopback, TcpConfig::default()).await?;
    let b = TcpTransport::bind(&identity("fresh"), loopback, TcpConfig::default()).await?;
    a.add_peer_address(b.local_id().clone(), b.local_addr());
    b.add_peer_address(a.local_id().clone(), a.local_addr());
    Ok((a, b))
}

/// The seeded identity of the benchmark's node `name`.
fn identity(name: &str) -> Identity {
    Identity::from_seed(name)
}

async fn node<T: Transport>(transport: T, peer: &NodeId) -> Result<Coordinator, Error> {
    let id = transport.local_id().clone();
    let me = ["holder", "fresh"]
        .into_iter()
        .map(identity)
        .find(|candidate| *candidate.node_id() == id)
        .ok_or("a transport of an unknown node")?;
    let node = Coordinator::builder(me)
        .store(MemoryStore::new())
        .transport(transport)
        .build()
        .await?;
    node.add_peer(peer.clone()).await?;
    // The holder owns the channel and adds the fresh node, which joins it.
    let owner = identity("holder").node_id().clone();
    if id == owner {
        let channel = node.create_channel("bench").await?;
        channel.add_member(peer.clone(), Role::Writer).await?;
    } else {
        let invitation = Invitation::new(channel_id()?, owner.clone(), owner, Vec::new())?;
        node.join(&invitation).await?;
    }
    node.start().await?;
    Ok(node)
}

/// The benchmark's channel, owned by the holder.
fn channel_id() -> Result<ChannelId, Error> {
    Ok(ChannelId::derive(identity("holder").node_id(), "bench")?)
}

/// Seconds for the fresh node to hold `entries` entries of `size` bytes.
async fn run<T: Transport>(holder: T, fresh: T, entries: u64, size: usize) -> Result<f64, Error> {
    let (holder_id, fresh_id) = (holder.local_id().clone(), fresh.local_id().clone());
    let holder = node(holder, &fresh_id).await?;
    let stream = holder
        .channel(channel_id()?)
        .await?
        .stream(StreamId::new("s")?)
        .await?;
    let mut next = 0u64;
    while next < entries {
        let batch = 1_000.min(entries - next);
        let payloads = (next..next + batch)
            .map(|i| {
                let mut payload = format!("entry {i} ").into_bytes();
                payload.resize(size, (i % 251) as u8);
                Bytes::from(payload)
            })
            .collect();
        stream.append_batch(payloads).await?;
        next += batch;
    }
    let start = Instant::now();
    let fresh = node(fresh, &holder_id).await?;
    let handle = fresh
        .channel(channel_id()?)
        .await?
        .stream(StreamId::new("s")?)
        .await?;
    while handle.version().await?.total() < entries {
        if start.elapsed() > LIMIT {
            return Err(format!("incomplete after {LIMIT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let held = handle.entries().await?;
    if held.len() as u64 != entries {
        return Err(format!("fresh node lists {} of {entries} entries", held.len()).into());
    }
    fresh.dispose().await?;
    holder.dispose().await?;
    Ok(seconds)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let entries: u64 = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let size: usize = args.next().map_or(Ok(1024), |a| a.parse())?;
    let rounds: u32 = args.next().map_or(Ok(3), |a| a.parse())?;
    println!("{entries} entries × {size} B, holder → fresh node, TCP loopback, {rounds} rounds");
    let layer = EncryptionLayer::new(NetworkKey::new(1, [0x5A; 32]));
    let (mut plain, mut sealed) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (a, b) = pair().await?;
        let seconds = run(a, b, entries, size).await?;
        plain.push(entries as f64 / seconds);
        let (a, b) = pair().await?;
        let seconds_sealed = run(layer.layer(a), layer.layer(b), entries, size).await?;
        sealed.push(entries as f64 / seconds_sealed);
        println!(
            "round {round}: plaintext {:>9.0} entries/s ({seconds:.3} s)   encrypted {:>9.0} entries/s ({seconds_sealed:.3} s)",
            entries as f64 / seconds,
            entries as f64 / seconds_sealed
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (p, s) = (median(&mut plain), median(&mut sealed));
    println!(
        "median: plaintext {p:.0} entries/s, encrypted {s:.0} entries/s, encrypted / plaintext = {:.2}",
        s / p
    );
    Ok(())
}
