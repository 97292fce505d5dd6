//! Node ids and peer ids: one key names both, the address book checks
//! what it is given, and unknown inbound peers are reported as discovered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::*;
use gossip_core::{Identity, Transport, TransportErrorKind, TransportEvent};
use gossip_transport_libp2p::{
    keypair_from_identity,
    libp2p::{identity::Keypair, Multiaddr, PeerId},
    node_id_from_peer_id, peer_id_from_node_id, Libp2pTransport,
};

#[test]
fn the_identity_key_is_the_libp2p_key() {
    let identity = Identity::from_secret_bytes([42u8; 32]);
    let keypair = keypair_from_identity(&identity);
    let peer = keypair.public().to_peer_id();
    // Fixed: the same key always names the same peer, across versions.
    assert_eq!(
        peer.to_base58(),
        Keypair::ed25519_from_bytes([42u8; 32])
            .unwrap()
            .public()
            .to_peer_id()
            .to_base58(),
    );
    assert_eq!(
        node_id_from_peer_id(&peer).as_ref(),
        Some(identity.node_id())
    );
    assert_eq!(peer_id_from_node_id(identity.node_id()), peer);
}

#[tokio::test]
async fn the_transport_speaks_for_its_identity() {
    let identity = Identity::generate();
    let transport = Libp2pTransport::new(&identity, config()).unwrap();
    assert_eq!(transport.local_id(), identity.node_id());
    assert_eq!(
        transport.peer_id(),
        peer_id_from_node_id(identity.node_id())
    );
    assert_eq!(transport.backend(), "libp2p");
    transport.close().await.unwrap();
}

#[tokio::test]
async fn the_address_book_refuses_what_it_cannot_use() {
    let a = node(config()).await;
    let other = Identity::generate();
    let other_peer: PeerId = peer_id_from_node_id(other.node_id());
    let bare: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().unwrap();
    // A bare address, or one naming the same peer.
    a.add_peer_address(other.node_id().clone(), bare.clone())
        .unwrap();
    a.add_peer_address(
        other.node_id().clone(),
        bare.clone().with_p2p(other_peer).unwrap(),
    )
    .unwrap();
    // ... but not one naming another peer.
    let third = Keypair::generate_ed25519().public().to_peer_id();
    let error = a
        .add_peer_address(
            other.node_id().clone(),
            bare.clone().with_p2p(third).unwrap(),
        )
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Other);
    // Not ourselves.
    assert!(a
        .add_peer_address(a.local_id().clone(), bare.clone())
        .is_err());
    let book = a.peer_addresses();
    assert_eq!(book.len(), 1, "{book:?}");
    assert_eq!(a.peer_id_of(other.node_id()), other_peer);
    a.close().await.unwrap();
}

#[tokio::test]
async fn an_unknown_inbound_peer_is_reported_once_and_can_be_answered() {
    bounded(async {
        let a = node(config()).await;
        let b = node(config()).await;
        introduce(&a, &b);
        a.send(b.local_id(), Bytes::from_static(b"hello"))
            .await
            .unwrap();
        let event = next_event(&b, |e| matches!(e, TransportEvent::PeerDiscovered { .. })).await;
        let TransportEvent::PeerDiscovered { peer, address } = event else {
            unreachable!()
        };
        assert_eq!(&peer, a.local_id());
        let address: Multiaddr = address.expect("identify gives an address").parse().unwrap();
        assert_eq!(address, dial_addr(&a));
        // b's book is empty, but it can answer (connected, and it learnt a's address).
        b.send(a.local_id(), Bytes::from_static(b"hi back"))
            .await
            .unwrap();
        assert_eq!(next_frame(&a).await.0, b.local_id().clone());
        let again = drain(&b, std::time::Duration::from_millis(300)).await;
        assert!(
            !again
                .iter()
                .any(|e| matches!(e, TransportEvent::PeerDiscovered { .. })),
            "reported twice: {again:?}"
        );
        close_all(&[a, b]).await;
    })
    .await;
}
