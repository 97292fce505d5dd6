//! Helpers shared by the TCP transport's tests: loopback binding, event
//! waiting with deadlines, and a raw peer speaking the wire protocol by hand.

// Test support: a failed expectation here is a failed test.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::{net::SocketAddr, time::Duration};

use gossip_core::{protocol::PROTOCOL_VERSION, Identity, NodeId, Transport};
use gossip_transport_tcp::{testing::RawPeer, TcpConfig, TcpTransport};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

/// The `recv` helpers with deadlines come from gossip-core's testkit, shared
/// by every transport's tests.
pub use gossip_core::testkit::transport::events::{drain, next_error, next_event, next_frame};

/// The bound on any single wait in these tests.
pub const WAIT: Duration = gossip_core::testkit::transport::events::EVENT_WAIT;

/// 127.0.0.1, port 0: the only address these tests bind or dial.
pub fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

pub fn id(name: &str) -> NodeId {
    NodeId::from_seed(name)
}

pub async fn bind(name: &str, config: TcpConfig) -> TcpTransport {
    TcpTransport::bind(&Identity::from_seed(name), loopback(), config)
        .await
        .unwrap()
}

/// Binds `names` and gives each transport the others' addresses.
pub async fn mesh(names: &[&str], config: TcpConfig) -> Vec<TcpTransport> {
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(bind(name, config.clone()).await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.local_id() != b.local_id() {
                a.add_peer_address(b.local_id().clone(), b.local_addr());
            }
        }
    }
    nodes
}

/// A hand-built peer that completed the real handshake as `node` with
/// `server`, the node `target`: it sends whatever a test makes it send.
pub async fn raw_client(server: SocketAddr, node: &str, target: &str) -> RawPeer {
    timeout(
        WAIT,
        RawPeer::connect(&Identity::from_seed(node), server, &id(target), None),
    )
    .await
    .expect("handshake timed out")
    .expect("handshake accepted")
}

/// Waits until the server closes the raw peer's connection; panics after
/// [`WAIT`].
pub async fn expect_peer_closed(peer: &mut RawPeer) {
    let closed = timeout(WAIT, peer.closed_by_server(usize::MAX)).await;
    assert_eq!(
        closed,
        Ok(true),
        "the transport did not close the connection"
    );
}

/// Waits until the peer closes `stream` (EOF or reset); panics after [`WAIT`].
pub async fn expect_closed(stream: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    let closed = timeout(WAIT, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the transport did not close the connection");
}

/// Runs `body` under [`WAIT`] × 3.
pub async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    timeout(WAIT * 3, body).await.expect("test timed out");
}
