//! `NodeId` ↔ `PeerId`: one Ed25519 key names a node in both worlds.
//!
//! A node's libp2p keypair is its [`Identity`]'s key, so its [`PeerId`] (the
//! key, as libp2p encodes it) and its [`NodeId`] are the same key: the id a
//! peer proves in libp2p's Noise handshake *is* its node id, and nobody can
//! send frames under another node's id without its secret key. No name book
//! is needed.
//!
//! ```
//! use gossip_core::Identity;
//! use gossip_transport_libp2p::{keypair_from_identity, node_id_from_peer_id, peer_id_from_node_id};
//!
//! let identity = Identity::generate();
//! let peer = keypair_from_identity(&identity).public().to_peer_id();
//! assert_eq!(peer_id_from_node_id(identity.node_id()), peer);
//! assert_eq!(node_id_from_peer_id(&peer).as_ref(), Some(identity.node_id()));
//! ```

use gossip_core::{Identity, NodeId};
use libp2p::{
    identity::{ed25519, Keypair, PublicKey},
    PeerId,
};

/// The libp2p keypair of the node whose identity is `identity`: the same
/// Ed25519 key.
#[must_use]
pub fn keypair_from_identity(identity: &Identity) -> Keypair {
    match ed25519::SecretKey::try_from_bytes(identity.secret_bytes()) {
        Ok(secret) => Keypair::from(ed25519::Keypair::from(secret)),
        // Any 32 bytes are an Ed25519 secret key: only the length is checked.
        Err(error) => unreachable!("32 bytes refused as an Ed25519 secret key: {error}"),
    }
}

/// The [`NodeId`] of the node whose libp2p identity is `peer`, or `None`
/// when `peer` is not an Ed25519 key (a libp2p node of another kind, never
/// a gossip node).
#[must_use]
pub fn node_id_from_peer_id(peer: &PeerId) -> Option<NodeId> {
    let multihash = peer.as_ref();
    // Ed25519 peer ids inline the key (the identity multihash, code 0).
    if multihash.code() != 0 {
        return None;
    }
    let key = PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let key = key.try_into_ed25519().ok()?;
    NodeId::from_bytes(&key.to_bytes()).ok()
}

/// The bytes of an Ed25519 [`PeerId`] before its key: the identity
/// multihash (code 0, 36 bytes) of the key's protobuf encoding (field 1,
/// key type Ed25519 = 1; field 2, 32 bytes).
const ED25519_PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// The [`PeerId`] of the node `node`.
///
/// Cheap (no curve arithmetic): the peer id inlines the key, so it is built
/// from the bytes; this runs on every `send`.
#[must_use]
pub fn peer_id_from_node_id(node: &NodeId) -> PeerId {
    let mut bytes = [0u8; ED25519_PEER_ID_PREFIX.len() + 32];
    let (prefix, key) = bytes.split_at_mut(ED25519_PEER_ID_PREFIX.len());
    prefix.copy_from_slice(&ED25519_PEER_ID_PREFIX);
    key.copy_from_slice(node.as_bytes());
    PeerId::from_bytes(&bytes).unwrap_or_else(|_| peer_id_from_key(node))
}

/// [`peer_id_from_node_id`] through libp2p's key types (decompresses the
/// point).
fn peer_id_from_key(node: &NodeId) -> PeerId {
    match ed25519::PublicKey::try_from_bytes(node.as_bytes()) {
        Ok(key) => PublicKey::from(key).to_peer_id(),
        // A `NodeId` is checked to be a valid Ed25519 point when made.
        Err(error) => unreachable!("{node} refused as an Ed25519 public key: {error}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_same_key_names_the_node_and_the_peer() {
        for seed in ["a", "b", "c"] {
            let identity = Identity::from_seed(seed);
            let keypair = keypair_from_identity(&identity);
            let peer = keypair.public().to_peer_id();
            assert_eq!(peer_id_from_node_id(identity.node_id()), peer);
            assert_eq!(node_id_from_peer_id(&peer).unwrap(), *identity.node_id());
            assert!(peer.to_base58().starts_with("12D3KooW"));
        }
    }

    #[test]
    fn the_fast_peer_id_is_the_one_libp2p_derives() {
        for seed in ["a", "b", "c", "d"] {
            let node = Identity::from_seed(seed).node_id().clone();
            assert_eq!(peer_id_from_node_id(&node), peer_id_from_key(&node));
        }
    }

    #[test]
    fn peers_of_other_key_types_are_not_nodes() {
        // A peer id hashed with SHA-256 (keys of other types).
        let peer = PeerId::random();
        assert_eq!(node_id_from_peer_id(&peer), None);
    }
}
