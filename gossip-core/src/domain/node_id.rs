//! [`NodeId`]: a node's Ed25519 public key, and the [`Signature`]s it checks.
//!
//! An id is self-certifying: nobody can act as a `NodeId` without the secret
//! key behind it (an [`Identity`](crate::Identity)). Its text form is
//! `node1` followed by the 32 key bytes in lowercase base32hex (RFC 4648, no
//! padding), 57 characters that parse back to the same id.
//!
//! ```
//! use gossip_core::{Identity, NodeId};
//!
//! let alice = Identity::from_seed("alice");
//! let text = alice.node_id().to_string();
//! assert!(text.starts_with("node1"));
//! assert_eq!(text.parse::<NodeId>()?, *alice.node_id());
//! assert!("alice".parse::<NodeId>().is_err());
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::{cmp::Ordering, fmt, hash, str::FromStr, sync::Arc};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::base32;
use crate::error::{Error, IdKind};

/// The prefix of a [`NodeId`]'s text form.
pub const NODE_ID_PREFIX: &str = "node1";

/// Length of a [`NodeId`]'s text form: the prefix and 52 base32 digits.
pub const NODE_ID_TEXT_LEN: usize = NODE_ID_PREFIX.len() + base32::encoded_len(32);

/// Identifies a node: its Ed25519 public key.
///
/// Construct one from an [`Identity`](crate::Identity)
/// ([`Identity::node_id`](crate::Identity::node_id)), from its text form
/// ([`NodeId::new`], `parse`) or from the key's 32 bytes
/// ([`NodeId::from_bytes`]); every path checks that the bytes are a valid
/// Ed25519 point. Ordered, hashed and compared by key bytes. Cloning is
/// cheap (a reference count).
#[derive(Clone)]
pub struct NodeId(Arc<Inner>);

struct Inner {
    key: VerifyingKey,
    text: Box<str>,
}

fn invalid(value: &str, reason: &'static str) -> Error {
    Error::InvalidId {
        kind: IdKind::Node,
        value: value.chars().take(NODE_ID_TEXT_LEN + 8).collect(),
        reason,
    }
}

impl NodeId {
    /// Parses the text form (`node1` + 52 lowercase base32hex digits).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`] when the text is not that form or the bytes are
    /// not a valid Ed25519 public key.
    ///
    /// # Examples
    ///
    /// ```
    /// use gossip_core::{Identity, NodeId};
    ///
    /// let id = Identity::from_seed("device-1").node_id().clone();
    /// assert_eq!(NodeId::new(id.as_str())?, id);
    /// assert!(NodeId::new("device-1").is_err());
    /// # Ok::<(), gossip_core::Error>(())
    /// ```
    pub fn new(text: impl AsRef<str>) -> Result<Self, Error> {
        let text = text.as_ref();
        let digits = text
            .strip_prefix(NODE_ID_PREFIX)
            .ok_or_else(|| invalid(text, "must start with \"node1\""))?;
        let bytes = base32::decode::<32>(digits).ok_or_else(|| {
            invalid(
                text,
                "must be \"node1\" and 52 lowercase base32hex digits (0-9, a-v)",
            )
        })?;
        Self::from_bytes(&bytes).map_err(|_| invalid(text, "is not a valid Ed25519 public key"))
    }

    /// The id whose public key is `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidId`] when the bytes are not a valid Ed25519 public key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        if let Some(id) = recent::lookup(bytes) {
            return Ok(id);
        }
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| invalid(&base32::encode(bytes), "is not a valid Ed25519 public key"))?;
        let id = Self::from_key(key);
        recent::remember(&id);
        Ok(id)
    }

    pub(crate) fn from_key(key: VerifyingKey) -> Self {
        let text = format!("{NODE_ID_PREFIX}{}", base32::encode(key.as_bytes())).into();
        Self(Arc::new(Inner { key, text }))
    }

    /// The public key's 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.key.as_bytes()
    }

    /// The text form, as [`Display`](fmt::Display) prints it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// The first 12 characters of the text form (`node1` and 7 digits), for
    /// logs and people; not unique, never parsed.
    #[must_use]
    pub fn short(&self) -> &str {
        &self.0.text[..NODE_ID_PREFIX.len() + 7]
    }

    /// Checks that `signature` is this node's signature of `message`
    /// (strict Ed25519 verification: no malleable or small-order forms).
    ///
    /// # Errors
    ///
    /// [`Error::BadSignature`] when it is not.
    ///
    /// ```
    /// let alice = gossip_core::Identity::from_seed("alice");
    /// let signature = alice.sign(b"hello");
    /// assert!(alice.node_id().verify(b"hello", &signature).is_ok());
    /// assert!(alice.node_id().verify(b"hullo", &signature).is_err());
    /// ```
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), Error> {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .key
            .verify_strict(message, &signature)
            .map_err(|_| Error::BadSignature {
                signer: self.clone(),
            })
    }
}

/// The ids decoded last on this thread. Checking that 32 bytes are a valid
/// Ed25519 point (a point decompression, several microseconds) dominated
/// decoding a delta, where one author's id repeats in every entry; a
/// repeated id is now one comparison and a reference count.
mod recent {
    use std::cell::RefCell;

    use super::NodeId;

    const SLOTS: usize = 16;

    thread_local! {
        static RECENT: RefCell<(usize, Vec<NodeId>)> = const { RefCell::new((0, Vec::new())) };
    }

    pub(super) fn lookup(bytes: &[u8; 32]) -> Option<NodeId> {
        RECENT.with(|recent| {
            recent
                .borrow()
                .1
                .iter()
                .find(|id| id.as_bytes() == bytes)
                .cloned()
        })
    }

    pub(super) fn remember(id: &NodeId) {
        RECENT.with(|recent| {
            let (next, ids) = &mut *recent.borrow_mut();
            if ids.len() < SLOTS {
                ids.push(id.clone());
            } else if let Some(slot) = ids.get_mut(*next % SLOTS) {
                *slot = id.clone();
            }
            *next = next.wrapping_add(1);
        });
    }
}

impl PartialEq for NodeId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NodeId {}

impl PartialOrd for NodeId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl hash::Hash for NodeId {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.as_str())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for NodeId {
    type Error = Error;

    fn try_from(value: &str) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for NodeId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The text form in human-readable formats (JSON, TOML), the 32 key bytes
/// in binary ones (the wire codec, stores).
impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(self.as_str())
        } else {
            self.as_bytes().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            Self::new(&*text).map_err(serde::de::Error::custom)
        } else {
            let bytes = <[u8; 32]>::deserialize(deserializer)?;
            Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
        }
    }
}

/// An Ed25519 signature: 64 bytes, made by
/// [`Identity::sign`](crate::Identity::sign) and checked by
/// [`NodeId::verify`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// The signature whose bytes are `bytes` (checked only by
    /// [`NodeId::verify`]).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 64]) -> Self {
        Self(bytes)
    }

    /// The 64 bytes.
    #[must_use]
    pub const fn to_bytes(&self) -> [u8; 64] {
        self.0
    }
}

/// 64 raw bytes in binary formats (no length prefix), base32hex text in
/// human-readable ones.
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&base32::encode(&self.0))
        } else {
            let (low, high) = self.0.split_at(32);
            let low: [u8; 32] = low.try_into().unwrap_or_default();
            let high: [u8; 32] = high.try_into().unwrap_or_default();
            (low, high).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut bytes = [0u8; 64];
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            bytes = base32::decode::<64>(&text)
                .ok_or_else(|| serde::de::Error::custom("a signature is 64 base32hex bytes"))?;
        } else {
            let (low, high) = <([u8; 32], [u8; 32])>::deserialize(deserializer)?;
            let (a, b) = bytes.split_at_mut(32);
            a.copy_from_slice(&low);
            b.copy_from_slice(&high);
        }
        Ok(Self(bytes))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", base32::encode(&self.0[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn text_form_round_trips_and_is_canonical() {
        for seed in ["alice", "bravo", "charlie"] {
            let id = Identity::from_seed(seed).node_id().clone();
            assert_eq!(id.as_str().len(), NODE_ID_TEXT_LEN);
            assert_eq!(NodeId::new(id.as_str()).unwrap(), id);
            assert_eq!(NodeId::from_bytes(id.as_bytes()).unwrap(), id);
            assert!(id.as_str().starts_with(id.short()));
            // Upper case, a changed last digit (non-zero trailing bits), a
            // missing digit: all refused.
            assert!(NodeId::new(id.as_str().to_uppercase()).is_err());
            let mut last_changed = id.as_str().to_string();
            let last = last_changed.pop().unwrap();
            last_changed.push(if last == 'b' { 'c' } else { 'b' });
            assert!(NodeId::new(&last_changed).is_err(), "{last_changed}");
            assert!(NodeId::new(&id.as_str()[..NODE_ID_TEXT_LEN - 1]).is_err());
        }
    }

    #[test]
    fn names_and_invalid_points_are_not_ids() {
        for text in ["", "alice", "node1", "node1alice"] {
            let error = NodeId::new(text).unwrap_err();
            assert!(
                matches!(
                    error,
                    Error::InvalidId {
                        kind: IdKind::Node,
                        ..
                    }
                ),
                "{text}: {error}"
            );
        }
        // Not every 32 bytes are a curve point.
        let not_a_point = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .expect("some pattern is off the curve");
        assert!(NodeId::from_bytes(&not_a_point).is_err());
    }

    #[test]
    fn binary_formats_carry_the_key_and_validate_it() {
        let id = Identity::from_seed("alice").node_id().clone();
        let bytes = postcard::to_allocvec(&id).unwrap();
        assert_eq!(bytes.len(), 32);
        assert_eq!(postcard::from_bytes::<NodeId>(&bytes).unwrap(), id);
        assert!(postcard::from_bytes::<NodeId>(&bytes[..31]).is_err());
    }

    #[test]
    fn signatures_verify_only_for_their_signer_and_message() {
        let alice = Identity::from_seed("alice");
        let bravo = Identity::from_seed("bravo");
        let signature = alice.sign(b"entry");
        alice.node_id().verify(b"entry", &signature).unwrap();
        assert!(matches!(
            bravo.node_id().verify(b"entry", &signature),
            Err(Error::BadSignature { .. })
        ));
        let mut bytes = signature.to_bytes();
        bytes[0] ^= 1;
        assert!(alice
            .node_id()
            .verify(b"entry", &Signature::from_bytes(bytes))
            .is_err());
    }
}
