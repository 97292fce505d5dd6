//! Nodes converge over real TCP on loopback: several writers, four nodes,
//! then a node restarting on the same port catches up.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gossip_core::{ChannelId, Config, Coordinator, Error, Identity, LogEntry, NodeId, StreamId};
use gossip_store_memory::MemoryStore;
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tokio::time::{sleep, timeout, Instant};

const NODES: usize = 4;
/// The bound on the whole of each test.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// How long the nodes get to converge.
const CONVERGE_LIMIT: Duration = Duration::from_secs(20);

fn identity(i: usize) -> Identity {
    Identity::from_seed(format!("tcp-node-{i}"))
}

fn node_id(i: usize) -> NodeId {
    identity(i).node_id().clone()
}

fn channel_id() -> ChannelId {
    ChannelId::derive(&identity(0).node_id().clone(), "tcp-channel").expect("valid id")
}

fn stream_id() -> StreamId {
    StreamId::new("tcp-stream").expect("valid id")
}

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

fn tcp_config(i: usize) -> TcpConfig {
    TcpConfig::default()
        .backoff(Duration::from_millis(20), Duration::from_millis(500))
        .seed(i as u64)
}

fn node_config(i: usize) -> Config {
    Config::default()
        .gossip_interval(Duration::from_millis(100))
        .seed(0x7c9 ^ i as u64)
}

/// Builds and starts node `i` on `transport`, whose address book the caller filled.
async fn start_node(
    i: usize,
    store: MemoryStore,
    transport: impl gossip_core::Transport,
) -> Result<Coordinator, Error> {
    let node = Coordinator::builder(identity(i))
        .store(store)
        .transport(transport)
        .config(node_config(i))
        .build()
        .await?;
    for j in (0..NODES).filter(|j| *j != i) {
        node.add_peer(node_id(j)).await?;
    }
    let members: Vec<NodeId> = (0..NODES).map(node_id).collect();
    integration_tests::open_shared_channel(&node, &channel_id(), &members).await?;
    node.start().await?;
    Ok(node)
}

async fn entries(node: &Coordinator) -> Result<Vec<LogEntry>, Error> {
    node.channel(channel_id())
        .await?
        .stream(stream_id())
        .await?
        .entries()
        .await
}

async fn append(node: &Coordinator, payload: String) -> Result<LogEntry, Error> {
    // A node that joined may write once the owner's control log reached it.
    integration_tests::await_role(node, &channel_id(), CONVERGE_LIMIT).await?;
    node.channel(channel_id())
        .await?
        .stream(stream_id())
        .await?
        .append(payload.into_bytes())
        .await
}

/// Polls until every node holds `expected` entries; returns how long it took.
async fn wait_converged(nodes: &[Coordinator], expected: usize) -> Result<Duration, Error> {
    let start = Instant::now();
    loop {
        let mut counts = Vec::with_capacity(nodes.len());
        for node in nodes {
            counts.push(entries(node).await?.len());
        }
        if counts.iter().all(|c| *c == expected) {
            return Ok(start.elapsed());
        }
        assert!(
            start.elapsed() < CONVERGE_LIMIT,
            "no convergence to {expected} entries within {CONVERGE_LIMIT:?}: {counts:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

async fn assert_identical(nodes: &[Coordinator]) -> Result<(), Error> {
    let reference = entries(&nodes[0]).await?;
    for node in &nodes[1..] {
        assert_eq!(
            entries(node).await?,
            reference,
            "{} differs",
            node.local_id()
        );
    }
    Ok(())
}

/// Binds every node on loopback and fills each address book with the others.
async fn bind_all() -> Result<(Vec<TcpTransport>, Vec<SocketAddr>), Error> {
    let mut transports = Vec::with_capacity(NODES);
    for i in 0..NODES {
        transports.push(TcpTransport::bind(&identity(i), loopback(), tcp_config(i)).await?);
    }
    let addresses: Vec<SocketAddr> = transports.iter().map(TcpTransport::local_addr).collect();
    for (i, transport) in transports.iter().enumerate() {
        for (j, address) in addresses.iter().enumerate() {
            if i != j {
                transport.add_peer_address(node_id(j), *address);
            }
        }
    }
    Ok((transports, addresses))
}

#[tokio::test]
async fn four_nodes_with_several_writers_converge_over_tcp() {
    timeout(TEST_LIMIT, async {
        let (transports, _) = bind_all().await?;
        // Keep a handle on each transport to check that TCP carried the sync.
        let transports: Vec<Arc<TcpTransport>> = transports.into_iter().map(Arc::new).collect();
        let mut nodes = Vec::with_capacity(NODES);
        for (i, transport) in transports.iter().enumerate() {
            nodes.push(start_node(i, MemoryStore::new(), transport.clone()).await?);
        }
        // Three writers, interleaved.
        for round in 0..5 {
            for (i, node) in nodes.iter().enumerate().take(3) {
                append(node, format!("node {i} entry {round}")).await?;
            }
        }
        let took = wait_converged(&nodes, 15).await?;
        assert_identical(&nodes).await?;
        eprintln!("4 nodes converged on 15 entries over TCP in {took:?}");
        for (node, transport) in nodes.iter().zip(&transports) {
            assert!(
                transport.stats().connections_opened > 0,
                "{}",
                node.local_id()
            );
            assert!(
                node.health().await?.stats.frames_in > 0,
                "{}",
                node.local_id()
            );
        }
        for node in &nodes {
            node.dispose().await?;
        }
        assert!(
            transports.iter().all(|t| t.is_closed()),
            "dispose closes the transport"
        );
        Ok::<(), Error>(())
    })
    .await
    .expect("test timed out")
    .expect("node operation failed");
}

#[tokio::test]
async fn a_node_restarting_on_the_same_port_catches_up() {
    timeout(TEST_LIMIT, async {
        let (transports, addresses) = bind_all().await?;
        let stores: Vec<MemoryStore> = (0..NODES).map(|_| MemoryStore::new()).collect();
        let mut nodes = Vec::with_capacity(NODES);
        for (i, transport) in transports.into_iter().enumerate() {
            nodes.push(start_node(i, stores[i].clone(), transport).await?);
        }
        append(&nodes[0], "before".to_owned()).await?;
        wait_converged(&nodes, 1).await?;

        // The last node goes down (its transport closes with it); the others write on.
        let last = NODES - 1;
        nodes.pop().expect("four nodes").dispose().await?;
        for (i, node) in nodes.iter().enumerate() {
            append(node, format!("while down {i}")).await?;
        }
        wait_converged(&nodes, NODES).await?;

        // It comes back on the same port with its store; everyone reconnects.
        let transport =
            TcpTransport::bind(&identity(last), addresses[last], tcp_config(last)).await?;
        for (j, address) in addresses.iter().enumerate().take(last) {
            transport.add_peer_address(node_id(j), *address);
        }
        nodes.push(start_node(last, stores[last].clone(), transport).await?);
        append(&nodes[last], "back".to_owned()).await?;
        wait_converged(&nodes, NODES + 1).await?;
        assert_identical(&nodes).await?;
        for node in &nodes {
            node.dispose().await?;
        }
        Ok::<(), Error>(())
    })
    .await
    .expect("test timed out")
    .expect("node operation failed");
}

#[tokio::test]
async fn a_node_with_a_valid_key_that_is_not_a_peer_learns_nothing() {
    use futures_util::StreamExt;
    use gossip_core::{
        protocol::{codec, DeltaRequest, DigestRequest, Message, StreamWant},
        VersionVector,
    };
    use gossip_transport_tcp::testing::RawPeer;

    timeout(TEST_LIMIT, async {
        let (transports, addresses) = bind_all().await?;
        let mut transports = transports.into_iter();
        let node = start_node(0, MemoryStore::new(), transports.next().unwrap()).await?;
        append(&node, "a secret".to_owned()).await?;
        let mut errors = node.errors();

        // A stranger with a key of its own (so its handshake succeeds) asks
        // for every entry of the channel, and for the digests.
        let stranger = Identity::from_seed("stranger");
        let mut peer = RawPeer::connect(&stranger, addresses[0], &node_id(0), None)
            .await
            .map_err(Error::InvalidState)?;
        let wants = vec![StreamWant {
            channel: channel_id(),
            stream: stream_id(),
            have: VersionVector::default(),
        }];
        for message in [
            Message::DeltaRequest(DeltaRequest { session: 1, wants }),
            Message::DigestRequest(DigestRequest {
                session: 2,
                channels: Vec::new(),
            }),
        ] {
            peer.send_frame(&codec::encode(&message)).await.unwrap();
        }
        // Reported, by the stranger's proven id…
        let reported = timeout(CONVERGE_LIMIT, async {
            while let Some(Ok(reported)) = errors.next().await {
                if matches!(&reported.error, Error::UnknownPeer(p) if p == stranger.node_id()) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(reported, Ok(true), "the node never reported the stranger");
        // …and answered with nothing: no delta, no digest.
        let answer = timeout(Duration::from_secs(1), peer.recv_frame(1 << 20)).await;
        assert!(answer.is_err(), "the stranger got an answer: {answer:?}");
        node.dispose().await?;
        Ok::<(), Error>(())
    })
    .await
    .expect("test timed out")
    .unwrap();
}
