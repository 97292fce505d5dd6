//! Helpers shared by the libp2p transport's tests: loopback listening,
//! address books, and event waiting with deadlines.

// Test support: a failed expectation here is a failed test.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::time::Duration;

use gossip_core::{Identity, Transport};
use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pConfig, Libp2pTransport};
use tokio::time::timeout;

/// The `recv` helpers with deadlines come from gossip-core's testkit, shared
/// by every transport's tests.
pub use gossip_core::testkit::transport::events::{drain, next_error, next_event, next_frame};

/// The bound on any single wait in these tests.
pub const WAIT: Duration = gossip_core::testkit::transport::events::EVENT_WAIT;

/// `/ip4/127.0.0.1/tcp/0`: the only address these tests listen on.
pub fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

/// The test configuration: mDNS off (feature or not), short backoff.
pub fn config() -> Libp2pConfig {
    Libp2pConfig::default()
        .mdns(false)
        .backoff(Duration::from_millis(200), Duration::from_secs(2))
}

/// A transport with a new identity, listening on loopback.
pub async fn node(config: Libp2pConfig) -> Libp2pTransport {
    let transport = Libp2pTransport::new(&Identity::generate(), config).unwrap();
    transport.listen_on(loopback()).await.unwrap();
    transport
}

/// `transport`'s first listen address with its `/p2p/<peer id>`.
pub fn dial_addr(transport: &Libp2pTransport) -> Multiaddr {
    transport.listen_addrs()[0]
        .clone()
        .with_p2p(transport.peer_id())
        .unwrap()
}

/// Tells `a` where `b` listens.
pub fn introduce(a: &Libp2pTransport, b: &Libp2pTransport) {
    a.add_peer_address(b.local_id().clone(), dial_addr(b))
        .unwrap();
}

/// `n` transports with derived ids, each knowing all the others.
pub async fn mesh(n: usize, config: Libp2pConfig) -> Vec<Libp2pTransport> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(node(config.clone()).await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.local_id() != b.local_id() {
                introduce(a, b);
            }
        }
    }
    nodes
}

/// Runs `body` under [`WAIT`] × 3.
pub async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    timeout(WAIT * 3, body).await.expect("test timed out");
}

/// Closes every transport.
pub async fn close_all(nodes: &[Libp2pTransport]) {
    for node in nodes {
        node.close().await.unwrap();
    }
}
