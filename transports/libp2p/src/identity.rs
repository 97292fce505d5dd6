//! `NodeId` ↔ `PeerId`: a node's libp2p identity names it.
//!
//! The [`NodeId`] of a libp2p node is its [`PeerId`] in base58 (the form
//! libp2p prints, `12D3KooW…` for Ed25519 keys, 52 bytes), so the id a peer
//! proves in the Noise handshake *is* its node id: nobody can send frames
//! under another node's id without its private key.
//!
//! ```
//! use gossip_transport_libp2p::{node_id_from_keypair, peer_id_from_node_id};
//! use libp2p::identity::Keypair;
//!
//! let keypair = Keypair::generate_ed25519();
//! let node = node_id_from_keypair(&keypair)?;
//! assert_eq!(peer_id_from_node_id(&node), Some(keypair.public().to_peer_id()));
//! # Ok::<(), gossip_core::Error>(())
//! ```

use gossip_core::NodeId;
use libp2p::{
    identity::{Keypair, PublicKey},
    PeerId,
};

/// The [`NodeId`] of the node whose libp2p identity is `peer`: its base58 form.
///
/// # Errors
///
/// Never in practice: a `PeerId` in base58 is at most 60 ASCII characters,
/// well within [`NodeId`]'s limits. The `Result` is the one of
/// [`NodeId::new`].
pub fn node_id_from_peer_id(peer: &PeerId) -> Result<NodeId, gossip_core::Error> {
    NodeId::new(peer.to_base58())
}

/// The [`NodeId`] of the node whose identity key is `key`.
///
/// # Errors
///
/// As [`node_id_from_peer_id`] (never in practice).
pub fn node_id_from_public_key(key: &PublicKey) -> Result<NodeId, gossip_core::Error> {
    node_id_from_peer_id(&key.to_peer_id())
}

/// The [`NodeId`] of the node whose identity is `keypair`: what
/// [`Libp2pTransport::new`](crate::Libp2pTransport::new) uses as its
/// [`local_id`](gossip_core::Transport::local_id).
///
/// # Errors
///
/// As [`node_id_from_peer_id`] (never in practice).
pub fn node_id_from_keypair(keypair: &Keypair) -> Result<NodeId, gossip_core::Error> {
    node_id_from_public_key(&keypair.public())
}

/// The [`PeerId`] a derived [`NodeId`] names, or `None` when `node` is not a
/// `PeerId` in base58 (a name chosen by the application, see
/// [`Libp2pTransport::with_node_id`](crate::Libp2pTransport::with_node_id)).
#[must_use]
pub fn peer_id_from_node_id(node: &NodeId) -> Option<PeerId> {
    node.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn derivation_is_stable_and_reversible() {
        let keypair = Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
        let node = node_id_from_keypair(&keypair).unwrap();
        assert_eq!(node, node_id_from_keypair(&keypair).unwrap());
        assert_eq!(node, node_id_from_public_key(&keypair.public()).unwrap());
        assert_eq!(node.as_str().len(), 52);
        assert!(node.as_str().starts_with("12D3KooW"));
        assert_eq!(
            peer_id_from_node_id(&node),
            Some(keypair.public().to_peer_id())
        );
    }

    #[test]
    fn chosen_names_are_not_peer_ids() {
        let node = NodeId::from_seed("device-1");
        assert_eq!(peer_id_from_node_id(&node), None);
    }
}
