//! The README's quick start: three nodes in one process converge.
#![allow(clippy::print_stdout, clippy::indexing_slicing)] // a demo program: printing is its job

use std::time::Duration;

use futures_util::StreamExt;
use gossip::{
    Coordinator, Identity, MemoryNetwork, MemoryNetworkConfig, MemoryStore, NodeId, Role, StreamId,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    // One identity per device (laptop, phone, tablet): its key is its id.
    let identities: Vec<Identity> = (0..3).map(|_| Identity::generate()).collect();
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
    let stream_id = StreamId::new("items")?;

    // Build one node per device: a store, a transport, its peers.
    let mut nodes = Vec::new();
    for identity in &identities {
        let id = identity.node_id();
        let node = Coordinator::builder(identity.clone())
            .store(MemoryStore::new())
            .transport(network.join(identity)?)
            .build()
            .await?;
        for peer in ids.iter().filter(|p| *p != id) {
            node.add_peer(peer.clone()).await?;
        }
        node.start().await?;
        nodes.push(node);
    }

    // The laptop creates the list and invites the phone and the tablet; each
    // joins with its invitation (a string to show as text or a QR code).
    let list = nodes[0].create_channel("shopping-list").await?;
    for (device, id) in nodes.iter().zip(&ids).skip(1) {
        let invitation = list.invite(id.clone(), Role::Writer).await?;
        device.join(&invitation.to_string().parse()?).await?;
    }
    let channel_id = list.id().clone();

    // Watch the phone's copy of the stream.
    let phone = nodes[1]
        .channel(channel_id.clone())
        .await?
        .stream(stream_id.clone())
        .await?;
    let mut live = phone.subscribe();

    // The laptop appends two items.
    let laptop = nodes[0]
        .channel(channel_id.clone())
        .await?
        .stream(stream_id.clone())
        .await?;
    for item in ["milk", "bread"] {
        let entry = laptop.append(item.as_bytes().to_vec()).await?;
        println!("laptop appended {:?} (sequence {})", item, entry.sequence);
    }
    for _ in 0..2 {
        let entry = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await?
            .ok_or("node stopped")??;
        println!(
            "phone received {:?} from {}",
            String::from_utf8_lossy(&entry.payload),
            entry.author.short()
        );
    }

    // Every node now lists the same entries in the same order.
    for (id, node) in ids.iter().zip(&nodes) {
        let stream = node
            .channel(channel_id.clone())
            .await?
            .stream(stream_id.clone())
            .await?;
        let mut entries = stream.entries().await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while entries.len() < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            entries = stream.entries().await?;
        }
        let items: Vec<String> = entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
            .collect();
        println!("{id:>6} holds {items:?}");
        if items != ["milk", "bread"] {
            return Err(format!("{id} did not converge: {items:?}").into());
        }
    }
    for node in &nodes {
        node.dispose().await?;
    }
    println!("converged");
    Ok(())
}
