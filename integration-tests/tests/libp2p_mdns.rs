//! LAN discovery: nodes over libp2p with mDNS on and no configured address
//! find each other, report each other as discovered, and sync — the
//! members of a channel without the application adding peers or
//! addresses; a stranger on the same network is reported and left alone.
//!
//! libp2p's mDNS skips loopback: it multicasts on the other interfaces that
//! are up (with multicast loop on, so nodes on one host hear each other)
//! and gives the listen addresses of that interface. The nodes listen on
//! `0.0.0.0`. A host with only a loopback interface cannot run this test:
//! it fails there on its deadline, it does not pass without running.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use futures_util::StreamExt;
use gossip_core::{
    ChannelId, Config, Coordinator, DomainEvent, Identity, Invitation, NodeId, Role, StreamId,
    Subscription,
};
use gossip_store_memory::MemoryStore;
use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pConfig, Libp2pTransport};
use tokio::time::timeout;

/// The bound on each wait (a failure guard, not a measure).
const WAIT: Duration = Duration::from_secs(30);

/// A started node over libp2p with mDNS on, listening on every interface,
/// knowing no address.
async fn lan_node(identity: &Identity) -> Coordinator {
    let config = Libp2pConfig::default()
        .mdns(true)
        .backoff(Duration::from_millis(50), Duration::from_secs(1));
    let transport = Libp2pTransport::new(identity, config).unwrap();
    let any: Multiaddr = "/ip4/0.0.0.0/tcp/0".parse().unwrap();
    transport.listen_on(any).await.unwrap();
    Coordinator::builder(identity.clone())
        .store(MemoryStore::new())
        .transport(transport)
        .config(Config::default().gossip_interval(Duration::from_millis(100)))
        .build()
        .await
        .unwrap()
}

/// Waits for `events` to report `peer` as discovered.
async fn discovered(events: &mut Subscription<DomainEvent>, peer: &NodeId) {
    timeout(WAIT, async {
        while let Some(event) = events.next().await {
            if matches!(event, Ok(DomainEvent::PeerDiscovered { peer: found }) if &found == peer) {
                return;
            }
        }
        panic!("the events ended before {peer} was discovered");
    })
    .await
    .unwrap_or_else(|_| panic!("{peer} was not discovered within {WAIT:?}"));
}

/// Waits until `node` holds the entry `payload` in `stream` of `channel`.
async fn holds(node: &Coordinator, channel: &ChannelId, stream: &StreamId, payload: &[u8]) {
    let stream = node
        .channel(channel.clone())
        .await
        .unwrap()
        .stream(stream.clone())
        .await
        .unwrap();
    let mut live = stream.subscribe();
    let held = |entries: &[gossip_core::LogEntry]| entries.iter().any(|e| e.payload == payload);
    if held(&stream.entries().await.unwrap()) {
        return;
    }
    timeout(WAIT, async {
        while let Some(entry) = live.next().await {
            if entry.is_ok_and(|e| e.payload == payload) {
                return;
            }
        }
        panic!("the subscription ended");
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} did not receive {:?} within {WAIT:?}",
            node.local_id(),
            String::from_utf8_lossy(payload)
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_find_each_other_by_mdns_and_sync_strangers_are_only_reported() {
    let (alice_id, bob_id, carol_id) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let (alice_node, bob_node, carol_node) = (
        alice_id.node_id().clone(),
        bob_id.node_id().clone(),
        carol_id.node_id().clone(),
    );
    let alice = lan_node(&alice_id).await;
    let bob = lan_node(&bob_id).await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();

    // Alice's channel, bob a writer; bob joins with an invitation that
    // says nothing about where alice is.
    let channel = alice.create_channel("lan").await.unwrap();
    channel
        .add_member(bob_node.clone(), Role::Writer)
        .await
        .unwrap();
    let invitation = Invitation::new(
        channel.id().clone(),
        alice_node.clone(),
        alice_node.clone(),
        Vec::new(),
    )
    .unwrap();
    bob.join(&invitation).await.unwrap();
    let stream_id = StreamId::new("notes").unwrap();
    let stream = channel.stream(stream_id.clone()).await.unwrap();
    stream.append(b"from alice".to_vec()).await.unwrap();

    alice.start().await.unwrap();
    bob.start().await.unwrap();
    discovered(&mut alice_events, &bob_node).await;
    discovered(&mut bob_events, &alice_node).await;
    holds(&bob, channel.id(), &stream_id, b"from alice").await;

    // Bob may write once the control log reached him; his entry comes back.
    integration_tests::await_role(&bob, channel.id(), WAIT)
        .await
        .unwrap();
    bob.channel(channel.id().clone())
        .await
        .unwrap()
        .stream(stream_id.clone())
        .await
        .unwrap()
        .append(b"from bob".to_vec())
        .await
        .unwrap();
    holds(&alice, channel.id(), &stream_id, b"from bob").await;

    // A stranger on the same network: reported, not made a peer.
    let mut alice_events = alice.events();
    let carol = lan_node(&carol_id).await;
    carol.start().await.unwrap();
    discovered(&mut alice_events, &carol_node).await;
    let peers: Vec<NodeId> = alice
        .health()
        .await
        .unwrap()
        .peers
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(peers, vec![bob_node.clone()], "alice's peers");

    for node in [carol, bob, alice] {
        node.dispose().await.unwrap();
    }
}
