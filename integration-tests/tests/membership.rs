//! Membership as replicated, signed data: a device joins by invitation
//! alone; a removal reaches every node and is not retroactive; settings set
//! on one node apply on all; roles are enforced locally (typed errors) and
//! remotely (a misbehaving member's frames, sent through a raw transport,
//! change nothing). All under paused tokio time, on the memory network.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{future::Future, time::Duration};

use gossip_core::{
    protocol::{codec, Message, Push},
    testkit::sim::SimClock,
    ChannelHandle, Config, ControlOp, Coordinator, Error, Hlc, Identity, LogEntry, NodeId, Role,
    StreamConfig, StreamId, Transport,
};
use gossip_store_memory::MemoryStore;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
use integration_tests::{identity, node_id, Cluster, EPOCH_MS};

/// How long (simulated) anything here may take to spread.
const LIMIT: Duration = Duration::from_secs(20);

/// Polls `check` every 10 ms of simulated time until it holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::timeout(LIMIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within {LIMIT:?}"));
}

/// A started node on `network` that knows nobody.
async fn device(network: &MemoryNetwork, identity: &Identity) -> Coordinator {
    let node = Coordinator::builder(identity.clone())
        .store(MemoryStore::new())
        .transport(network.join(identity).unwrap())
        .clock(SimClock::new(EPOCH_MS))
        .build()
        .await
        .unwrap();
    node.start().await.unwrap();
    node
}

async fn payloads(stream: &gossip_core::StreamHandle) -> Vec<String> {
    stream
        .entries()
        .await
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_device_joins_by_invitation_alone_and_converges() {
    let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(1));
    let (laptop_key, phone_key) = (Identity::from_seed("laptop"), Identity::from_seed("phone"));
    let laptop = device(&network, &laptop_key).await;
    let phone = device(&network, &phone_key).await;
    let list = laptop.create_channel("groceries").await.unwrap();
    let items = StreamId::new("items").unwrap();
    let on_laptop = list.stream(items.clone()).await.unwrap();
    for item in ["milk", "bread", "eggs"] {
        on_laptop.append(item).await.unwrap();
    }

    // The phone is told nothing but the invitation's text.
    let invitation = list
        .invite(phone_key.node_id().clone(), Role::Writer)
        .await
        .unwrap()
        .to_string();
    let joined = phone.join(&invitation.parse().unwrap()).await.unwrap();
    assert_eq!(joined.id(), list.id());
    eventually("the phone learns it is a writer", || async {
        joined.role().await.unwrap() == Some(Role::Writer)
    })
    .await;
    let on_phone = joined.stream(items).await.unwrap();
    eventually("the phone holds the list", || async {
        on_phone.entries().await.unwrap().len() == 3
    })
    .await;
    on_phone.append("butter").await.unwrap();
    eventually("the laptop holds the phone's item", || async {
        on_laptop.entries().await.unwrap().len() == 4
    })
    .await;
    assert_eq!(
        on_laptop.entries().await.unwrap(),
        on_phone.entries().await.unwrap()
    );
    assert_eq!(
        joined.members().await.unwrap(),
        list.members().await.unwrap()
    );
}

/// Node `i`'s handle on the cluster's channel.
async fn channel(cluster: &Cluster, i: usize) -> ChannelHandle {
    cluster
        .node(i)
        .channel(cluster.channel.clone())
        .await
        .unwrap()
}

/// How many entries of `author` node `i` holds.
async fn held_by(cluster: &Cluster, i: usize, author: &NodeId) -> usize {
    cluster
        .entries(i)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.author == *author)
        .count()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_removal_is_not_retroactive_and_later_entries_are_dropped_everywhere() {
    let cluster = Cluster::start(3, Config::default(), 7).await.unwrap();
    let removed = node_id(2);
    cluster.append(2, b"before 1".to_vec()).await.unwrap();
    cluster.append(2, b"before 2".to_vec()).await.unwrap();
    assert!(cluster.wait_converged(2, LIMIT).await.unwrap().is_some());

    // Node 2 writes once more while the owner cannot hear it; only node 1
    // takes the entry, before it knows of any removal.
    cluster
        .network
        .partition(std::slice::from_ref(&removed), &[node_id(0)]);
    cluster
        .append(2, b"after the cut-off".to_vec())
        .await
        .unwrap();
    eventually("node 1 takes node 2's third entry", || async {
        held_by(&cluster, 1, &removed).await == 3
    })
    .await;

    // The owner removes node 2 as it saw it: two entries.
    channel(&cluster, 0)
        .await
        .remove_member(&removed)
        .await
        .unwrap();
    let cutoff = channel(&cluster, 0)
        .await
        .info()
        .await
        .unwrap()
        .control()
        .cutoff(&removed)
        .cloned()
        .unwrap();
    assert_eq!(cutoff.get(&cluster.stream), Some(&2));
    eventually(
        "node 1 drops what node 2 wrote after its cut-off",
        || async { held_by(&cluster, 1, &removed).await == 2 },
    )
    .await;
    assert_eq!(
        cluster.entries(0).await.unwrap(),
        cluster.entries(1).await.unwrap()
    );

    // Healed: node 2 hears nothing new, and what it offers is refused.
    cluster.network.heal();
    cluster.append(0, b"members only".to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    for i in 0..2 {
        assert_eq!(held_by(&cluster, i, &removed).await, 2, "node {i}");
        assert_eq!(cluster.entries(i).await.unwrap().len(), 3, "node {i}");
    }
    let on_removed = payloads(&cluster.stream(2).await.unwrap()).await;
    assert!(
        !on_removed.iter().any(|p| p == "members only"),
        "the removed member received {on_removed:?}"
    );

    // A member added later takes the history the log says was valid.
    let newcomer_key = Identity::from_seed("newcomer");
    let newcomer = device(&cluster.network, &newcomer_key).await;
    let invitation = channel(&cluster, 0)
        .await
        .invite(newcomer_key.node_id().clone(), Role::Reader)
        .await
        .unwrap();
    let joined = newcomer.join(&invitation).await.unwrap();
    let on_newcomer = joined.stream(cluster.stream.clone()).await.unwrap();
    eventually("the newcomer holds the valid history", || async {
        on_newcomer.entries().await.unwrap().len() == 3
    })
    .await;
    assert_eq!(
        on_newcomer.entries().await.unwrap(),
        cluster.entries(0).await.unwrap()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stream_settings_set_on_one_node_apply_on_all() {
    let cluster = Cluster::start(3, Config::default(), 11).await.unwrap();
    let small = StreamConfig::default().max_payload_bytes(8);
    channel(&cluster, 0)
        .await
        .set_stream_config(cluster.stream.clone(), small.clone())
        .await
        .unwrap();
    for i in 1..3 {
        let handle = channel(&cluster, i).await;
        eventually("the setting reaches every node", || async {
            handle.info().await.unwrap().stream_config(&cluster.stream) == &small
        })
        .await;
        let err = cluster.append(i, vec![0; 9]).await.unwrap_err();
        assert!(
            matches!(err, Error::PayloadTooLarge { size: 9, limit: 8 }),
            "{err}"
        );
    }
    // Only admins set them.
    let err = channel(&cluster, 1)
        .await
        .set_stream_config(cluster.stream.clone(), StreamConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotPermitted {
                role: Role::Writer,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn roles_are_enforced_locally_with_typed_errors_and_remotely() {
    let mut cluster = Cluster::start(3, Config::default(), 13).await.unwrap();
    let (reader, writer) = (node_id(1), node_id(2));
    channel(&cluster, 0)
        .await
        .set_role(&reader, Role::Reader)
        .await
        .unwrap();
    let on_reader = channel(&cluster, 1).await;
    eventually("node 1 learns it is a reader", || async {
        on_reader.role().await.unwrap() == Some(Role::Reader)
    })
    .await;

    // Locally: a reader cannot append, a writer cannot manage.
    let err = cluster.append(1, b"x".to_vec()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotPermitted {
                role: Role::Reader,
                needed: Role::Writer,
                ..
            }
        ),
        "{err}"
    );
    let stranger = NodeId::from_seed("stranger");
    let err = channel(&cluster, 2)
        .await
        .add_member(stranger.clone(), Role::Admin)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotPermitted {
                role: Role::Writer,
                needed: Role::Admin,
                ..
            }
        ),
        "{err}"
    );
    let err = channel(&cluster, 2)
        .await
        .remove_member(&node_id(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidConfig(_)),
        "the owner stays: {err}"
    );

    // Remotely: the reader's and the writer's keys in a raw transport send
    // exactly what their nodes refused to write. Nothing of it counts.
    cluster.crash(1).await.unwrap();
    cluster.crash(2).await.unwrap();
    let rogue_reader = cluster.network.join(&identity(1)).unwrap();
    let rogue_writer = cluster.network.join(&identity(2)).unwrap();
    let now = Hlc::new(EPOCH_MS + 1_000, 0).unwrap();
    let by_reader = LogEntry::new(reader.clone(), 1, now, b"reader speaks".to_vec()).sign(
        &identity(1),
        &cluster.channel,
        &cluster.stream,
    );
    let push = Message::Push(Push {
        channel: cluster.channel.clone(),
        stream: cluster.stream.clone(),
        entries: vec![by_reader],
    });
    rogue_reader
        .send(&node_id(0), codec::encode(&push))
        .await
        .unwrap();
    let control = StreamId::control();
    let held = channel(&cluster, 0)
        .await
        .stream(control.clone())
        .await
        .unwrap()
        .version()
        .await
        .unwrap()
        .get(&writer);
    let grab = ControlOp::AddMember {
        member: stranger.clone(),
        role: Role::Admin,
        label: String::new(),
    };
    let by_writer = LogEntry::new(writer.clone(), held + 1, now, grab.encode());
    // Linked to the writer's real control log, so that it is well formed.
    let previous = channel(&cluster, 0)
        .await
        .stream(control.clone())
        .await
        .unwrap()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .rfind(|e| e.author == writer)
        .map(|e| e.hash(&cluster.channel, &control))
        .unwrap_or(gossip_core::EntryHash::GENESIS);
    let by_writer = by_writer
        .linked_to(previous)
        .sign(&identity(2), &cluster.channel, &control);
    let push = Message::Push(Push {
        channel: cluster.channel.clone(),
        stream: control,
        entries: vec![by_writer],
    });
    rogue_writer
        .send(&node_id(0), codec::encode(&push))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let owner = channel(&cluster, 0).await.info().await.unwrap();
    assert_eq!(
        owner.role(&stranger),
        None,
        "a writer's operation never counts"
    );
    assert_eq!(owner.role(&writer), Some(Role::Writer));
    assert_eq!(
        held_by(&cluster, 0, &reader).await,
        0,
        "a reader's entry is refused"
    );
    let health = cluster.node(0).health().await.unwrap();
    assert_eq!(health.pending_entries, 0);
}
