//! Durability receipts: "is my write safe if this device is lost now?"
//!
//! Three devices share a channel. The laptop appends with
//! `append_durable(.., Durability::copies(2))`: the call returns once the
//! laptop and at least one other device hold the entry. Then two devices go
//! offline, and a write that wants all three copies ends with
//! `Error::NotDurable` after its timeout: appended on the laptop, replicating
//! as soon as a peer is back, but not confirmed.
#![allow(clippy::print_stdout, clippy::indexing_slicing)] // a demo program: printing is its job

use std::time::{Duration, Instant};

use gossip::{
    Coordinator, Durability, Error, Identity, MemoryNetwork, MemoryNetworkConfig, MemoryStore,
    NodeId, Role, StreamId,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let identities: Vec<Identity> = (0..3).map(|_| Identity::generate()).collect();
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
    let mut nodes = Vec::new();
    for identity in &identities {
        let node = Coordinator::builder(identity.clone())
            .store(MemoryStore::new())
            .transport(network.join(identity)?)
            .build()
            .await?;
        for peer in ids.iter().filter(|p| *p != identity.node_id()) {
            node.add_peer(peer.clone()).await?;
        }
        node.start().await?;
        nodes.push(node);
    }
    let notes = nodes[0].create_channel("field-notes").await?;
    for (device, id) in nodes.iter().zip(&ids).skip(1) {
        let invitation = notes.invite(id.clone(), Role::Writer).await?;
        device.join(&invitation).await?;
    }
    let laptop = notes.stream(StreamId::new("notes")?).await?;

    // Members learn of each other through the channel's control log: the
    // first durable append may wait for that, hence a generous timeout.
    let started = Instant::now();
    let two_of_three = Durability::copies(2).timeout(Duration::from_secs(10));
    let entry = laptop
        .append_durable(b"sample 17: pH 6.8".to_vec(), two_of_three)
        .await?;
    println!(
        "entry {} is held by 2 of 3 devices ({} ms)",
        entry.sequence,
        started.elapsed().as_millis()
    );

    // The phone and the tablet go offline: three copies cannot be confirmed.
    for node in nodes.drain(1..) {
        node.dispose().await?;
    }
    let all_three = Durability::copies(3).timeout(Duration::from_secs(1));
    match laptop.append_durable(b"sample 18".to_vec(), all_three).await {
        Err(Error::NotDurable {
            entry,
            held_by,
            wanted,
        }) => println!(
            "entry {} appended, held by {held_by} of the {wanted} devices wanted: not confirmed yet",
            entry.sequence
        ),
        other => return Err(format!("expected NotDurable, got {other:?}").into()),
    }
    nodes[0].dispose().await?;
    Ok(())
}
