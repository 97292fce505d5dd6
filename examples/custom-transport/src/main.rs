//! Two nodes sync a stream over `ChannelTransport`, the transport this crate
//! writes from scratch against gossip-core's public API.
#![allow(clippy::print_stdout)] // a demo program: printing is its job

use std::time::Duration;

use custom_transport::ChannelHub;
use gossip_core::{ChannelId, Coordinator, Identity, Invitation, NodeId, Role, StreamId};
use gossip_store_memory::MemoryStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hub = ChannelHub::new();
    let identities = [Identity::generate(), Identity::generate()]; // desk, pocket
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
    let owner = ids.first().ok_or("no nodes")?.clone();
    let channel = ChannelId::derive(&owner, "notes")?;
    let stream = StreamId::new("today")?;

    let mut nodes = Vec::new();
    for identity in &identities {
        let id = identity.node_id();
        let node = Coordinator::builder(identity.clone())
            .store(MemoryStore::new())
            .transport(hub.attach(identity)?)
            .build()
            .await?;
        for peer in ids.iter().filter(|p| *p != id) {
            node.add_peer(peer.clone()).await?;
        }
        // The first node owns the channel and adds the other, which joins.
        let handle = if *id == owner {
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
        nodes.push((node, handle));
    }
    // A joined node may write once the owner's control log reached it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for (node, handle) in &nodes {
        while handle.role().await?.is_none() {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{} never learned it is a member", node.local_id()).into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let nodes: Vec<Coordinator> = nodes.into_iter().map(|(node, _)| node).collect();

    for (node, note) in nodes.iter().zip(["buy stamps", "call the plumber"]) {
        let handle = node
            .channel(channel.clone())
            .await?
            .stream(stream.clone())
            .await?;
        handle.append(note).await?;
        println!("{} wrote {note:?}", node.local_id());
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for node in &nodes {
        let handle = node
            .channel(channel.clone())
            .await?
            .stream(stream.clone())
            .await?;
        let mut entries = handle.entries().await?;
        while entries.len() < 2 {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{} did not converge", node.local_id()).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            entries = handle.entries().await?;
        }
        let notes: Vec<String> = entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
            .collect();
        println!("{} holds {notes:?}", node.local_id());
    }
    for node in &nodes {
        node.dispose().await?;
    }
    Ok(())
}
