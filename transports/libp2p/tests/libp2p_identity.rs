//! Node ids and peer ids: derivation is stable, the address book checks
//! what it is given, chosen names are bound to peer ids, and unknown
//! inbound peers are reported as discovered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use common::*;
use gossip_core::{NodeId, Transport, TransportErrorKind, TransportEvent};
use gossip_transport_libp2p::{
    libp2p::{identity::Keypair, Multiaddr, PeerId},
    node_id_from_keypair, node_id_from_peer_id, node_id_from_public_key, peer_id_from_node_id,
    Libp2pTransport,
};

#[test]
fn node_id_derivation_is_stable() {
    let keypair = Keypair::ed25519_from_bytes([42u8; 32]).unwrap();
    let node = node_id_from_keypair(&keypair).unwrap();
    // Fixed: the same key always names the same node, across versions.
    assert_eq!(
        node.as_str(),
        "12D3KooWBXu3uGPMkjjxViK6autSnFH5QaKJgTwW8CaSxYSD6yYL",
        "the derived node id changed"
    );
    assert!(node.as_str().len() <= gossip_core::domain::MAX_ID_LEN);
    assert_eq!(node_id_from_public_key(&keypair.public()).unwrap(), node);
    let peer = keypair.public().to_peer_id();
    assert_eq!(node_id_from_peer_id(&peer).unwrap(), node);
    assert_eq!(peer_id_from_node_id(&node), Some(peer));
}

#[tokio::test]
async fn the_transport_speaks_for_the_derived_id() {
    let keypair = Keypair::generate_ed25519();
    let expected = node_id_from_keypair(&keypair).unwrap();
    let peer = keypair.public().to_peer_id();
    let transport = Libp2pTransport::new(keypair, config()).unwrap();
    assert_eq!(transport.local_id(), &expected);
    assert_eq!(transport.peer_id(), peer);
    assert_eq!(transport.backend(), "libp2p");
    transport.close().await.unwrap();
}

#[tokio::test]
async fn the_address_book_refuses_what_it_cannot_use() {
    let a = node(config()).await;
    let other: PeerId = Keypair::generate_ed25519().public().to_peer_id();
    let derived = node_id_from_peer_id(&other).unwrap();
    let bare: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().unwrap();
    // A derived id: a bare address, or one naming the same peer.
    a.add_peer_address(derived.clone(), bare.clone()).unwrap();
    a.add_peer_address(derived.clone(), bare.clone().with_p2p(other).unwrap())
        .unwrap();
    // ... but not one naming another peer.
    let third = Keypair::generate_ed25519().public().to_peer_id();
    let error = a
        .add_peer_address(derived.clone(), bare.clone().with_p2p(third).unwrap())
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Other);
    // A chosen name needs /p2p/, and one name per peer id.
    let name = NodeId::from_seed("device-7");
    assert!(a.add_peer_address(name.clone(), bare.clone()).is_err());
    a.add_peer_address(name.clone(), bare.clone().with_p2p(third).unwrap())
        .unwrap();
    assert_eq!(a.peer_id_of(&name), Some(third));
    let error = a
        .add_peer_address(
            NodeId::from_seed("device-8"),
            bare.clone().with_p2p(third).unwrap(),
        )
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Other);
    // Not ourselves.
    assert!(a
        .add_peer_address(a.local_id().clone(), bare.clone())
        .is_err());
    let book = a.peer_addresses();
    assert_eq!(book.len(), 2, "{book:?}");
    a.close().await.unwrap();
}

#[tokio::test]
async fn chosen_names_are_bound_only_where_the_book_says_so() {
    bounded(async {
        let named = Libp2pTransport::with_node_id(
            Keypair::generate_ed25519(),
            NodeId::from_seed("alice"),
            config(),
        )
        .unwrap();
        named.listen_on(loopback()).await.unwrap();
        let knows = node(config()).await;
        let stranger = node(config()).await;
        knows
            .add_peer_address(NodeId::from_seed("alice"), dial_addr(&named))
            .unwrap();
        introduce(&named, &knows);
        introduce(&named, &stranger);
        named
            .send(knows.local_id(), Bytes::from_static(b"1"))
            .await
            .unwrap();
        named
            .send(stranger.local_id(), Bytes::from_static(b"2"))
            .await
            .unwrap();
        // Bound: the name. Not bound: the proven, derived id.
        assert_eq!(next_frame(&knows).await.0.as_str(), "alice");
        let (from, _) = next_frame(&stranger).await;
        assert_eq!(from, node_id_from_peer_id(&named.peer_id()).unwrap());
        close_all(&[named, knows, stranger]).await;
    })
    .await;
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
