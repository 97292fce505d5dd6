//! Two nodes edit one todo list; their materialized views converge.
#![allow(clippy::print_stdout)] // a demo program: printing is its job

use std::{collections::BTreeMap, time::Duration};

use gossip::{
    ChannelId, Coordinator, Identity, Invitation, MaterializedView, MemoryNetwork,
    MemoryNetworkConfig, MemoryStore, NodeId, Role, StreamHandle, StreamId,
};
use materializer::{Command, TodoList};

type View = MaterializedView<BTreeMap<String, bool>, TodoList>;

async fn start(
    network: &MemoryNetwork,
    identity: &Identity,
    ids: &[NodeId],
    channel: &ChannelId,
    stream: &StreamId,
) -> Result<(Coordinator, StreamHandle), Box<dyn std::error::Error>> {
    let id = identity.node_id();
    let node = Coordinator::builder(identity.clone())
        .store(MemoryStore::new())
        .transport(network.join(identity)?)
        .build()
        .await?;
    for peer in ids.iter().filter(|p| *p != id) {
        node.add_peer(peer.clone()).await?;
    }
    // The first device owns the list and adds the others; they join it and
    // may write once its control log reaches them.
    let owner = ids.first().ok_or("no devices")?;
    let handle = if id == owner {
        let handle = node.create_channel(channel.name()).await?;
        for member in ids.iter().skip(1) {
            handle.add_member(member.clone(), Role::Writer).await?;
        }
        handle
    } else {
        let invitation = Invitation::new(channel.clone(), owner.clone(), owner.clone(), vec![])?;
        node.join(&invitation).await?
    };
    node.start().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handle.role().await?.is_none() {
        if tokio::time::Instant::now() > deadline {
            return Err("the owner's control log never arrived".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stream = handle.stream(stream.clone()).await?;
    Ok((node, stream))
}

/// Waits until `view` shows `expected`, or fails after ten seconds.
async fn wait_for(
    view: &mut View,
    expected: &BTreeMap<String, bool>,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while &view.state().await? != expected {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("no convergence: {:?}", view.state().await?).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn show(name: &str, list: &BTreeMap<String, bool>) {
    let items: Vec<String> = list
        .iter()
        .map(|(task, done)| format!("[{}] {task}", if *done { "x" } else { " " }))
        .collect();
    println!("{name:>7}: {}", items.join(", "));
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default());
    let identities = [Identity::generate(), Identity::generate()]; // kitchen, phone
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
    let channel = ChannelId::derive(identities[0].node_id(), "household")?;
    let stream = StreamId::new("todo")?;
    let (kitchen, kitchen_stream) =
        start(&network, &identities[0], &ids, &channel, &stream).await?;
    let (phone, phone_stream) = start(&network, &identities[1], &ids, &channel, &stream).await?;
    let mut kitchen_view: View = kitchen_stream.materialize(TodoList).await?;
    let mut phone_view: View = phone_stream.materialize(TodoList).await?;

    for task in ["milk", "bread", "eggs"] {
        kitchen_stream
            .append(Command::Add(task.into()).encode())
            .await?;
    }
    let first: BTreeMap<String, bool> = [("bread", false), ("eggs", false), ("milk", false)]
        .into_iter()
        .map(|(t, d)| (t.to_owned(), d))
        .collect();
    wait_for(&mut phone_view, &first).await?;
    show("phone", &phone_view.state().await?);

    // Both edit at once: the phone ticks milk off and drops eggs, the
    // kitchen adds coffee.
    phone_stream
        .append(Command::Done("milk".into()).encode())
        .await?;
    phone_stream
        .append(Command::Drop("eggs".into()).encode())
        .await?;
    kitchen_stream
        .append(Command::Add("coffee".into()).encode())
        .await?;
    let last: BTreeMap<String, bool> = [("bread", false), ("coffee", false), ("milk", true)]
        .into_iter()
        .map(|(t, d)| (t.to_owned(), d))
        .collect();
    wait_for(&mut kitchen_view, &last).await?;
    wait_for(&mut phone_view, &last).await?;
    show("kitchen", &kitchen_view.state().await?);
    show("phone", &phone_view.state().await?);
    println!(
        "both folded {} commands into the same list",
        kitchen_view.folded()
    );

    kitchen.dispose().await?;
    phone.dispose().await?;
    Ok(())
}
