//! Two nodes that edit one todo list concurrently end with the same
//! materialized list.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{collections::BTreeMap, time::Duration};

use gossip::{
    ChannelId, Coordinator, Identity, Invitation, MaterializedView, MemoryNetwork,
    MemoryNetworkConfig, MemoryStore, NodeId, Role, StreamHandle, StreamId,
};
use materializer::{Command, TodoList};

type List = BTreeMap<String, bool>;

async fn start(
    network: &MemoryNetwork,
    me: usize,
    identities: &[Identity],
) -> (Coordinator, StreamHandle) {
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
    let id = ids[me].clone();
    let node = Coordinator::builder(identities[me].clone())
        .store(MemoryStore::new())
        .transport(network.join(&identities[me]).unwrap())
        .build()
        .await
        .unwrap();
    for peer in ids.iter().filter(|p| **p != id) {
        node.add_peer(peer.clone()).await.unwrap();
    }
    // Node 0 owns the list; the others join it and may write once its
    // control log reaches them.
    let owner = &ids[0];
    let channel = if id == *owner {
        let channel = node.create_channel("household").await.unwrap();
        for member in &ids[1..] {
            channel
                .add_member(member.clone(), Role::Writer)
                .await
                .unwrap();
        }
        channel
    } else {
        let id = ChannelId::derive(owner, "household").unwrap();
        let invitation = Invitation::new(id, owner.clone(), owner.clone(), vec![]).unwrap();
        node.join(&invitation).await.unwrap()
    };
    node.start().await.unwrap();
    while channel.role().await.unwrap().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let stream = channel
        .stream(StreamId::new("todo").unwrap())
        .await
        .unwrap();
    (node, stream)
}

async fn settle(
    view: &mut MaterializedView<List, TodoList>,
    stream: &StreamHandle,
    entries: usize,
) -> List {
    while stream.entries().await.unwrap().len() < entries {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    view.state().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn concurrent_edits_fold_to_the_same_list_on_both_nodes() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(7));
    let ids = [Identity::from_seed("a"), Identity::from_seed("b")];
    let (a, a_stream) = start(&network, 0, &ids).await;
    let (b, b_stream) = start(&network, 1, &ids).await;
    let mut a_view = a_stream.materialize(TodoList).await.unwrap();
    let mut b_view = b_stream.materialize(TodoList).await.unwrap();

    for task in ["milk", "bread"] {
        a_stream
            .append(Command::Add(task.into()).encode())
            .await
            .unwrap();
    }
    b_stream
        .append(Command::Add("tea".into()).encode())
        .await
        .unwrap();
    b_stream
        .append(Command::Done("milk".into()).encode())
        .await
        .unwrap();
    a_stream
        .append(Command::Drop("bread".into()).encode())
        .await
        .unwrap();
    b_stream.append(b"not a command".to_vec()).await.unwrap();

    let limit = Duration::from_secs(30);
    let (a_list, b_list) = tokio::time::timeout(limit, async {
        (
            settle(&mut a_view, &a_stream, 6).await,
            settle(&mut b_view, &b_stream, 6).await,
        )
    })
    .await
    .expect("the nodes converge");
    assert_eq!(a_list, b_list, "both replicas fold to the same list");
    assert!(!a_list.contains_key("bread"));
    assert_eq!(a_list.get("tea"), Some(&false));
    a.dispose().await.unwrap();
    b.dispose().await.unwrap();
}
