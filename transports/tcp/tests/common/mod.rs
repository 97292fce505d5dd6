//! Helpers shared by the TCP transport's tests: loopback binding, event
//! waiting with deadlines, and a raw client speaking the wire format by hand.

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
use gossip_transport_tcp::{TcpConfig, TcpTransport};
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

/// A hello as the wire format spells it.
pub fn hello(version: u8, node: &str, max_frame_len: u32, listen_port: u16) -> Vec<u8> {
    let mut out = b"GOSSIP/T".to_vec();
    out.push(version);
    out.extend_from_slice(&max_frame_len.to_be_bytes());
    out.extend_from_slice(&listen_port.to_be_bytes());
    out.push(u8::try_from(node.len()).unwrap());
    out.extend_from_slice(node.as_bytes());
    out
}

/// A dialer's hello in this node's protocol version, followed by the node
/// it means to reach.
pub fn good_hello(node: &str, target: &str) -> Vec<u8> {
    let mut out = hello(PROTOCOL_VERSION, node, 1 << 20, 0);
    out.push(u8::try_from(target.len()).unwrap());
    out.extend_from_slice(target.as_bytes());
    out
}

/// What an acceptor answered: its version, its id and the verdict.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub version: u8,
    pub node: String,
    pub verdict: u8,
}

pub async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut head = [0u8; 16];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[..8], b"GOSSIP/T");
    let mut node = vec![0u8; usize::from(head[15])];
    stream.read_exact(&mut node).await.unwrap();
    Reply {
        version: head[8],
        node: String::from_utf8(node).unwrap(),
        verdict: stream.read_u8().await.unwrap(),
    }
}

/// A raw client that completed the handshake as `node` with `server`, a
/// node named `target`.
pub async fn raw_client(server: SocketAddr, node: &str, target: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server).await.unwrap();
    stream.write_all(&good_hello(node, target)).await.unwrap();
    let reply = timeout(WAIT, read_reply(&mut stream)).await.unwrap();
    assert_eq!(reply.verdict, 0, "handshake not accepted: {reply:?}");
    stream
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
