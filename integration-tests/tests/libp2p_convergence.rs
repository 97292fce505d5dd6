//! Nodes converge over libp2p (TCP + Noise + Yamux) on loopback: four
//! nodes whose ids are derived from their libp2p keys, several writers; bad
//! input on the wire reaches a node's error stream and disturbs no one else.

// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use gossip_core::{
    ChannelId, Config, Coordinator, Error, Identity, LogEntry, NodeId, StreamId, Transport,
    TransportErrorKind,
};
use gossip_store_memory::MemoryStore;
use gossip_transport_libp2p::{
    libp2p::{multiaddr::Protocol, Multiaddr},
    Libp2pConfig, Libp2pTransport,
};
use tokio::time::{sleep, timeout, Instant};

const NODES: usize = 4;
/// The bound on the whole test.
const TEST_LIMIT: Duration = Duration::from_secs(180);
/// How long the nodes get to converge.
const CONVERGE_LIMIT: Duration = Duration::from_secs(60);

fn channel_id() -> ChannelId {
    ChannelId::derive(&identity(0).node_id().clone(), "libp2p-channel").expect("valid id")
}

fn stream_id() -> StreamId {
    StreamId::new("libp2p-stream").expect("valid id")
}

fn libp2p_config(i: usize) -> Libp2pConfig {
    Libp2pConfig::default()
        .mdns(false)
        .backoff(Duration::from_millis(20), Duration::from_millis(500))
        .seed(i as u64)
}

fn node_config(i: usize) -> Config {
    Config::default()
        .gossip_interval(Duration::from_millis(100))
        .seed(0x1b9 ^ i as u64)
}

fn identity(i: usize) -> Identity {
    Identity::from_seed(format!("libp2p-node-{i}"))
}

/// Creates every transport (identity `i` each), listens on
/// loopback and fills each address book with the others' `/p2p/` addresses.
async fn listen_all() -> Result<Vec<Libp2pTransport>, Error> {
    let loopback: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr");
    let mut transports = Vec::with_capacity(NODES);
    let mut book = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let transport = Libp2pTransport::new(&identity(i), libp2p_config(i))?;
        let address = transport.listen_on(loopback.clone()).await?;
        book.push((
            transport.local_id().clone(),
            address.with_p2p(transport.peer_id()).expect("own peer id"),
        ));
        transports.push(transport);
    }
    for transport in &transports {
        for (id, address) in &book {
            if id != transport.local_id() {
                transport.add_peer_address(id.clone(), address.clone())?;
            }
        }
    }
    Ok(transports)
}

/// Builds and starts node `i` on `transport`.
async fn start_node(
    i: usize,
    transport: Arc<Libp2pTransport>,
    ids: &[NodeId],
) -> Result<Coordinator, Error> {
    let id = transport.local_id().clone();
    let node = Coordinator::builder(identity(i))
        .store(MemoryStore::new())
        .transport(transport)
        .config(node_config(i))
        .build()
        .await?;
    for peer in ids.iter().filter(|peer| **peer != id) {
        node.add_peer(peer.clone()).await?;
    }
    integration_tests::open_shared_channel(&node, &channel_id(), ids).await?;
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

#[tokio::test]
async fn four_nodes_with_several_writers_converge_over_libp2p() {
    timeout(TEST_LIMIT, async {
        let transports: Vec<Arc<Libp2pTransport>> =
            listen_all().await?.into_iter().map(Arc::new).collect();
        let ids: Vec<NodeId> = transports.iter().map(|t| t.local_id().clone()).collect();
        for (transport, id) in transports.iter().zip(&ids) {
            assert_eq!(
                transport.peer_id(),
                gossip_transport_libp2p::peer_id_from_node_id(id),
                "a node's peer id is its identity key"
            );
        }
        let mut nodes = Vec::with_capacity(NODES);
        for (i, transport) in transports.iter().enumerate() {
            nodes.push(start_node(i, transport.clone(), &ids).await?);
        }
        // Three writers, interleaved.
        for round in 0..5 {
            for (i, node) in nodes.iter().enumerate().take(3) {
                append(node, format!("node {i} entry {round}")).await?;
            }
        }
        let took = wait_converged(&nodes, 15).await?;
        let reference = entries(&nodes[0]).await?;
        for node in &nodes[1..] {
            assert_eq!(
                entries(node).await?,
                reference,
                "{} differs",
                node.local_id()
            );
        }
        eprintln!("4 nodes converged on 15 entries over libp2p in {took:?}");

        // A late writer (the fourth node) reaches everyone too.
        append(&nodes[3], "node 3 late entry".to_owned()).await?;
        wait_converged(&nodes, 16).await?;

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
async fn garbage_on_the_wire_reaches_the_error_stream_and_the_nodes_keep_converging() {
    use tokio::io::AsyncWriteExt;

    timeout(TEST_LIMIT, async {
        let transports: Vec<Arc<Libp2pTransport>> =
            listen_all().await?.into_iter().map(Arc::new).collect();
        let ids: Vec<NodeId> = transports.iter().map(|t| t.local_id().clone()).collect();
        let mut nodes = Vec::with_capacity(NODES);
        for (i, transport) in transports.iter().enumerate() {
            nodes.push(start_node(i, transport.clone(), &ids).await?);
        }
        let mut errors = nodes[0].errors();

        // Node 0's TCP port, written to by something that does not speak libp2p.
        let port = transports[0].listen_addrs()[0]
            .iter()
            .find_map(|part| match part {
                Protocol::Tcp(port) => Some(port),
                _ => None,
            })
            .expect("a TCP listen address");
        let mut intruder = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        intruder
            .write_all(&b"\x16\x03\x01 not noise, not multistream\n".repeat(16))
            .await
            .expect("write");

        let reported = loop {
            let report = errors
                .next()
                .await
                .expect("the error stream ended")
                .expect("no report was dropped");
            if let Error::Transport(e) = &report.error {
                if e.kind() == TransportErrorKind::Handshake {
                    break report;
                }
            }
        };
        assert!(
            reported.to_string().contains("inbound connection from"),
            "{reported}"
        );
        assert_eq!(transports[0].stats().handshake_failures, 1);

        // The honest nodes never noticed.
        for (i, node) in nodes.iter().enumerate() {
            append(node, format!("node {i} after the garbage")).await?;
        }
        wait_converged(&nodes, NODES).await?;
        for node in &nodes {
            node.dispose().await?;
        }
        Ok::<(), Error>(())
    })
    .await
    .expect("test timed out")
    .expect("node operation failed");
}
