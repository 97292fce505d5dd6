//! mDNS discovery (crate feature `mdns`): two transports that were told
//! nothing about each other find each other on the local network, report
//! each other as discovered, and carry frames both ways.
//!
//! libp2p's mDNS skips loopback interfaces: it multicasts on every other
//! interface that is up (with multicast loop on, so two nodes on one host
//! hear each other) and answers with the listen addresses of that
//! interface. The transports therefore listen on `0.0.0.0`; a host whose
//! only interface is loopback cannot run this test, and it fails there
//! (loudly, on the wait's deadline) rather than passing without running.
#![cfg(feature = "mdns")]
// Test helpers: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::{bounded, close_all, next_event, next_frame};
use gossip_core::{Identity, NodeId, Transport, TransportEvent};
use gossip_transport_libp2p::{libp2p::Multiaddr, Libp2pConfig, Libp2pTransport};

/// A transport with mDNS on, listening on every interface, its address book
/// empty.
async fn mdns_node() -> Libp2pTransport {
    let config = Libp2pConfig::default().mdns(true).backoff(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(2),
    );
    let transport = Libp2pTransport::new(&Identity::generate(), config).unwrap();
    let any: Multiaddr = "/ip4/0.0.0.0/tcp/0".parse().unwrap();
    transport.listen_on(any).await.unwrap();
    transport
}

/// Waits until `transport` reports `peer` as discovered, with an address
/// (mDNS gives one); other discoveries (other nodes on the network) are
/// skipped.
async fn discovered(transport: &Libp2pTransport, peer: &NodeId) -> String {
    let event = next_event(
        transport,
        |e| matches!(e, TransportEvent::PeerDiscovered { peer: found, .. } if found == peer),
    )
    .await;
    let TransportEvent::PeerDiscovered { address, .. } = event else {
        unreachable!()
    };
    address.expect("mDNS gives the peer's address")
}

#[tokio::test]
async fn two_transports_discover_each_other_by_mdns_and_exchange_frames() {
    bounded(async {
        let a = mdns_node().await;
        let b = mdns_node().await;
        let address = discovered(&a, b.local_id()).await;
        let address: Multiaddr = address.parse().unwrap();
        assert_eq!(
            address.iter().last(),
            Some(gossip_transport_libp2p::libp2p::multiaddr::Protocol::P2p(
                b.peer_id()
            )),
            "the reported address ends in the peer's id: {address}"
        );
        discovered(&b, a.local_id()).await;
        // Nothing was configured: the addresses mDNS found are dialed.
        a.send(b.local_id(), Bytes::from_static(b"found you"))
            .await
            .unwrap();
        assert_eq!(
            next_frame(&b).await,
            (a.local_id().clone(), Bytes::from_static(b"found you"))
        );
        b.send(a.local_id(), Bytes::from_static(b"and you"))
            .await
            .unwrap();
        assert_eq!(
            next_frame(&a).await,
            (b.local_id().clone(), Bytes::from_static(b"and you"))
        );
        close_all(&[a, b]).await;
    })
    .await;
}
