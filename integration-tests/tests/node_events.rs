//! Every `DomainEvent` variant, triggered through the public API as an
//! application would and observed on `Coordinator::events()`. Memory
//! network under paused tokio time, except `PeerDiscovered` (the memory
//! network does not discover; TCP does, on loopback in real time).
//!
//! `gossip_core::domain::events`' unit tests list the variants exhaustively
//! with the test here that covers each: a new variant needs a test here.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use gossip_core::{
    protocol::{codec, Message, Push},
    ChannelHandle, Config, Coordinator, DomainEvent, Hlc, Identity, LogEntry, PeerStatus,
    RetentionPolicy, Role, StreamConfig, Subscription, Transport,
};
use gossip_store_memory::MemoryStore;
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use integration_tests::{identity, node_id, Cluster, EPOCH_MS};

/// How long (simulated, or real for TCP) an event may take to come: a
/// failure guard, never a measurement.
const LIMIT: Duration = Duration::from_secs(30);

/// The first event on `events` that `want` picks, within [`LIMIT`].
async fn next_event<T>(
    events: &mut Subscription<DomainEvent>,
    what: &str,
    mut want: impl FnMut(DomainEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(LIMIT, async {
        loop {
            let event = events.next().await.expect("the node is up").unwrap();
            if let Some(found) = want(event) {
                return found;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within {LIMIT:?}"))
}

async fn channel(cluster: &Cluster, i: usize) -> ChannelHandle {
    cluster
        .node(i)
        .channel(cluster.channel.clone())
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn entries_appended_and_entries_merged() {
    let cluster = Cluster::start(2, Config::default(), 31).await.unwrap();
    let mut on_writer = cluster.node(0).events();
    let mut on_reader = cluster.node(1).events();
    let stream = cluster.stream(0).await.unwrap();

    stream.append(b"one".to_vec()).await.unwrap();
    stream
        .append_batch(vec![
            Bytes::from_static(b"two"),
            Bytes::from_static(b"three"),
        ])
        .await
        .unwrap();
    for want in [1, 2] {
        let (channel, stream, count) = next_event(&mut on_writer, "EntriesAppended", |e| match e {
            DomainEvent::EntriesAppended {
                channel,
                stream,
                count,
            } => Some((channel, stream, count)),
            _ => None,
        })
        .await;
        assert_eq!(
            (channel, stream, count),
            (cluster.channel.clone(), cluster.stream.clone(), want)
        );
    }

    // The other node merges the three, in one or more merges, each naming
    // the sender.
    let mut merged = 0;
    while merged < 3 {
        merged += next_event(&mut on_reader, "EntriesMerged", |e| match e {
            DomainEvent::EntriesMerged {
                channel,
                stream,
                from,
                count,
            } if stream == cluster.stream => {
                assert_eq!(channel, cluster.channel);
                assert_eq!(from, Some(node_id(0)));
                Some(count)
            }
            _ => None,
        })
        .await;
    }
    assert_eq!(merged, 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn channel_changed_where_a_change_is_made_and_where_it_arrives() {
    let cluster = Cluster::start(3, Config::default(), 32).await.unwrap();
    let mut events: Vec<_> = (0..3).map(|i| cluster.node(i).events()).collect();
    let keep_ten =
        StreamConfig::default().retention(RetentionPolicy::CountBased { max_per_author: 10 });
    channel(&cluster, 0)
        .await
        .set_stream_config(cluster.stream.clone(), keep_ten)
        .await
        .unwrap();
    for (i, events) in events.iter_mut().enumerate() {
        let changed = next_event(events, "ChannelChanged", |e| match e {
            DomainEvent::ChannelChanged { channel } => Some(channel),
            _ => None,
        })
        .await;
        assert_eq!(changed, cluster.channel, "node {i}");
    }
    // A membership change too.
    channel(&cluster, 0)
        .await
        .set_role(&node_id(2), Role::Reader)
        .await
        .unwrap();
    for events in &mut events {
        next_event(events, "ChannelChanged", |e| match e {
            DomainEvent::ChannelChanged { channel } if channel == cluster.channel => Some(()),
            _ => None,
        })
        .await;
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn non_member_entries_rejected_when_a_reader_s_entries_arrive() {
    let mut cluster = Cluster::start(2, Config::default(), 33).await.unwrap();
    let reader = node_id(1);
    channel(&cluster, 0)
        .await
        .set_role(&reader, Role::Reader)
        .await
        .unwrap();
    let on_reader = channel(&cluster, 1).await;
    tokio::time::timeout(LIMIT, async {
        while on_reader.role().await.unwrap() != Some(Role::Reader) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("node 1 learns it is a reader");

    // The reader's node refuses to write; its key, in a raw transport,
    // sends what it signed anyway.
    cluster.crash(1).await.unwrap();
    let rogue = cluster.network.join(&identity(1)).unwrap();
    let mut events = cluster.node(0).events();
    let now = Hlc::new(EPOCH_MS + 1_000, 0).unwrap();
    let sign = |entry: LogEntry| entry.sign(&identity(1), &cluster.channel, &cluster.stream);
    let first = sign(LogEntry::new(reader.clone(), 1, now, b"reader".to_vec()));
    // Linked to the first, so that the two are a well-formed run.
    let link = first.hash(&cluster.channel, &cluster.stream);
    let second = sign(LogEntry::new(reader.clone(), 2, now, b"speaks".to_vec()).linked_to(link));
    let push = Message::Push(Push {
        channel: cluster.channel.clone(),
        stream: cluster.stream.clone(),
        entries: vec![first, second],
    });
    rogue.send(&node_id(0), codec::encode(&push)).await.unwrap();

    let (author, count) = next_event(&mut events, "NonMemberEntriesRejected", |e| match e {
        DomainEvent::NonMemberEntriesRejected {
            channel,
            stream,
            author,
            count,
        } => {
            assert_eq!(
                (channel, stream),
                (cluster.channel.clone(), cluster.stream.clone())
            );
            Some((author, count))
        }
        _ => None,
    })
    .await;
    assert_eq!((author, count), (reader, 2));
    assert!(cluster.entries(0).await.unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stream_compacted_with_how_many_entries_went() {
    let cluster = Cluster::start(2, Config::default(), 34).await.unwrap();
    let keep_two =
        StreamConfig::default().retention(RetentionPolicy::CountBased { max_per_author: 2 });
    channel(&cluster, 0)
        .await
        .set_stream_config(cluster.stream.clone(), keep_two)
        .await
        .unwrap();
    for k in 0..5 {
        cluster.append(0, vec![k]).await.unwrap();
    }
    let mut events = cluster.node(0).events();
    assert_eq!(cluster.node(0).compact_now().await.unwrap(), 3);
    let (channel, stream, removed) = next_event(&mut events, "StreamCompacted", |e| match e {
        DomainEvent::StreamCompacted {
            channel,
            stream,
            removed,
        } => Some((channel, stream, removed)),
        _ => None,
    })
    .await;
    assert_eq!(
        (channel, stream, removed),
        (cluster.channel.clone(), cluster.stream.clone(), 3)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn peer_status_changed_as_a_peer_goes_and_returns() {
    let mut cluster = Cluster::start(3, Config::default(), 35).await.unwrap();
    let mut events = cluster.node(0).events();
    cluster.crash(2).await.unwrap();
    let mut seen = Vec::new();
    for want in [PeerStatus::Suspected, PeerStatus::Unreachable] {
        let status = next_event(&mut events, "PeerStatusChanged", |e| match e {
            DomainEvent::PeerStatusChanged { peer, status } if peer == node_id(2) => Some(status),
            _ => None,
        })
        .await;
        seen.push(status);
        assert_eq!(status, want, "{seen:?}");
    }
    cluster.boot(2).await.unwrap();
    let status = next_event(&mut events, "PeerStatusChanged", |e| match e {
        DomainEvent::PeerStatusChanged { peer, status } if peer == node_id(2) => Some(status),
        _ => None,
    })
    .await;
    assert_eq!(status, PeerStatus::Reachable);
}

/// A node over TCP that knows nobody hears from one that knows its address.
#[tokio::test]
async fn peer_discovered_when_an_unknown_peer_connects() {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (known, stranger) = (
        Identity::from_seed("known"),
        Identity::from_seed("stranger"),
    );
    let known_transport = TcpTransport::bind(&known, loopback, TcpConfig::default())
        .await
        .unwrap();
    let address = known_transport.local_addr();
    let node = Coordinator::builder(known.clone())
        .store(MemoryStore::new())
        .transport(known_transport)
        .build()
        .await
        .unwrap();
    node.start().await.unwrap();
    let mut events = node.events();

    let stranger_transport = TcpTransport::bind(&stranger, loopback, TcpConfig::default())
        .await
        .unwrap();
    stranger_transport.add_peer_address(known.node_id().clone(), address);
    let other = Coordinator::builder(stranger.clone())
        .store(MemoryStore::new())
        .transport(stranger_transport)
        .build()
        .await
        .unwrap();
    other.add_peer(known.node_id().clone()).await.unwrap();
    other.start().await.unwrap();

    let peer = next_event(&mut events, "PeerDiscovered", |e| match e {
        DomainEvent::PeerDiscovered { peer } => Some(peer),
        _ => None,
    })
    .await;
    assert_eq!(&peer, stranger.node_id());
    other.dispose().await.unwrap();
    node.dispose().await.unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn peer_caught_up_once_it_holds_what_was_appended() {
    let cluster = Cluster::start(2, Config::default(), 37).await.unwrap();
    let mut events = cluster.node(0).events();
    cluster.append(0, b"news".to_vec()).await.unwrap();
    let (peer, channel) = next_event(&mut events, "PeerCaughtUp", |e| match e {
        DomainEvent::PeerCaughtUp { peer, channel } => Some((peer, channel)),
        _ => None,
    })
    .await;
    assert_eq!((peer, channel), (node_id(1), cluster.channel.clone()));
    let health = cluster.node(0).health().await.unwrap();
    assert!(health.peers.iter().all(|p| p.caught_up()), "{health:?}");
}
