//! [`Identity`]: a node's Ed25519 secret key, from which its [`NodeId`] is
//! derived.
//!
//! A node signs with its identity and proves it to every peer it connects
//! to; its [`NodeId`] is the public half, so no one can claim an id without
//! the secret key. Generate one per device ([`Identity::generate`]), keep it
//! in a key file ([`Identity::save`], [`Identity::load`]), and derive
//! deterministic ones from seeds in tests and simulations
//! ([`Identity::from_seed`]).
//!
//! ```
//! use gossip_core::Identity;
//!
//! let device = Identity::generate();
//! let signature = device.sign(b"hello");
//! device.node_id().verify(b"hello", &signature)?;
//!
//! // Seeded identities are the same on every run: for tests only.
//! assert_eq!(Identity::from_seed("alice").node_id(), Identity::from_seed("alice").node_id());
//! # Ok::<(), gossip_core::Error>(())
//! ```

mod key_file;

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};

pub use key_file::KeyFileErrorKind;

use crate::domain::{NodeId, Signature};

/// The BLAKE3 key-derivation context of [`Identity::from_seed`].
const SEED_CONTEXT: &str = "gossip 2026-12 identity from seed v1";

/// A node's Ed25519 key pair. Cloning copies the secret key; `Debug` never
/// prints it.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    id: NodeId,
}

impl Identity {
    /// A new random identity, from the operating system's secure random
    /// source.
    ///
    /// # Panics
    ///
    /// If the operating system has no random source to offer (no identity
    /// can be made safely without one).
    #[must_use]
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        if let Err(error) = getrandom::fill(&mut secret) {
            panic!("the operating system's random source failed: {error}");
        }
        Self::from_secret_bytes(secret)
    }

    /// The identity derived from `seed` (BLAKE3 key derivation with a
    /// context of its own): the same seed gives the same identity on every
    /// machine. For tests and simulations: anyone who knows the seed holds
    /// the secret key.
    #[must_use]
    pub fn from_seed(seed: impl AsRef<[u8]>) -> Self {
        Self::from_secret_bytes(blake3::derive_key(SEED_CONTEXT, seed.as_ref()))
    }

    /// The identity whose Ed25519 secret key is `secret`.
    #[must_use]
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&secret);
        let id = NodeId::from_key(key.verifying_key());
        Self { key, id }
    }

    /// The Ed25519 secret key. Whoever holds these bytes is this node: keep
    /// them as [`save`](Self::save) does.
    #[must_use]
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The node's id: the public key.
    #[must_use]
    pub fn node_id(&self) -> &NodeId {
        &self.id
    }

    /// Signs `message`. Callers separate domains themselves: a message of
    /// one kind must never be readable as another.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature::from_bytes(self.key.sign(message).to_bytes())
    }
}

impl NodeId {
    /// The id of [`Identity::from_seed(seed)`](Identity::from_seed): for
    /// tests and simulations that name their nodes.
    ///
    /// ```
    /// use gossip_core::{Identity, NodeId};
    ///
    /// assert_eq!(&NodeId::from_seed("alice"), Identity::from_seed("alice").node_id());
    /// ```
    #[must_use]
    pub fn from_seed(seed: impl AsRef<[u8]>) -> Self {
        Identity::from_seed(seed).id
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_deterministic_and_distinct() {
        let alice = Identity::from_seed("alice");
        assert_eq!(
            Identity::from_seed("alice").secret_bytes(),
            alice.secret_bytes()
        );
        assert_ne!(Identity::from_seed("bravo").node_id(), alice.node_id());
        // Pinned: seeded identities are part of test fixtures and simulations.
        assert_eq!(
            alice.node_id().as_str(),
            Identity::from_secret_bytes(alice.secret_bytes())
                .node_id()
                .as_str()
        );
    }

    #[test]
    fn generated_identities_differ() {
        assert_ne!(
            Identity::generate().node_id(),
            Identity::generate().node_id()
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let alice = Identity::from_seed("alice");
        assert_eq!(
            format!("{alice:?}"),
            format!("Identity {{ node_id: {:?}, .. }}", alice.node_id())
        );
    }
}
