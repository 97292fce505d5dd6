//! What makes an entry its author's: the hash chain ([`EntryHash`]) and the
//! author's signature, over a canonical, domain-separated encoding.
//!
//! An entry's **hash** is BLAKE3 (in key-derivation mode, with a context of
//! its own) over its *header*: channel, stream, author, sequence, timestamp,
//! the hash of the author's previous entry in the stream (`previous`, zero
//! for sequence 1) and the BLAKE3 hash of the payload. So an author's log in
//! a stream is a hash chain, and a signature over the last entry's hash
//! vouches for every entry before it. The author signs
//! `"gossip entry signature v1:" ‖ hash`.
//!
//! ```
//! use gossip_core::{ChannelId, EntryHash, Hlc, Identity, LogEntry, StreamId};
//!
//! let alice = Identity::from_seed("alice");
//! let (channel, stream) = (ChannelId::new("notes")?, StreamId::new("todo")?);
//! let first = LogEntry::new(alice.node_id().clone(), 1, Hlc::new(10, 0)?, b"milk".to_vec())
//!     .sign(&alice, &channel, &stream);
//! first.verify_signature(&channel, &stream)?;
//! assert_eq!(first.previous, EntryHash::GENESIS);
//!
//! // The next entry links to the first.
//! let second = LogEntry::new(alice.node_id().clone(), 2, Hlc::new(11, 0)?, b"eggs".to_vec())
//!     .linked_to(first.hash(&channel, &stream))
//!     .sign(&alice, &channel, &stream);
//! assert_eq!(second.previous, first.hash(&channel, &stream));
//!
//! // Anyone else's signature, or a changed byte, does not verify.
//! let mut altered = second.clone();
//! altered.payload = b"beer".to_vec().into();
//! assert!(altered.verify_signature(&channel, &stream).is_err());
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    base32,
    entry::LogEntry,
    hlc::Hlc,
    ids::{ChannelId, StreamId},
    node_id::NodeId,
};
use crate::{error::Error, identity::Identity};

/// The BLAKE3 key-derivation context of entry hashes.
const HASH_CONTEXT: &str = "gossip 2026-12 entry header v1";

/// A hasher already keyed with [`HASH_CONTEXT`]: cloning it saves deriving
/// the context key for every entry (one BLAKE3 compression each).
static HEADER_HASHER: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(HASH_CONTEXT));

/// What the author signs before an entry's hash.
const SIGNATURE_CONTEXT: &[u8] = b"gossip entry signature v1:";

/// The BLAKE3 hash of an entry's header: what the next entry of the author
/// links to, and what the author signs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// The `previous` of an author's first entry in a stream.
    pub const GENESIS: EntryHash = EntryHash([0; 32]);

    /// The hash whose bytes are `bytes`.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({self})")
    }
}

/// The first 8 bytes in base32hex: enough to tell hashes apart in logs.
impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base32::encode(self.0.get(..8).unwrap_or_default()))
    }
}

/// 32 raw bytes in binary formats, base32hex text in human-readable ones.
impl Serialize for EntryHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&base32::encode(&self.0))
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for EntryHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            let bytes = base32::decode::<32>(&text)
                .ok_or_else(|| serde::de::Error::custom("an entry hash is 32 base32hex bytes"))?;
            Ok(Self(bytes))
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Self)
        }
    }
}

fn update_name(hasher: &mut blake3::Hasher, name: &str) {
    // Names are at most MAX_ID_LEN bytes; the length prefix keeps
    // ("ab", "c") and ("a", "bc") apart.
    hasher.update(&(name.len() as u64).to_be_bytes());
    hasher.update(name.as_bytes());
}

/// The fields of an entry's header, borrowed: what [`header_hash`] hashes.
pub(crate) struct HeaderFields<'a> {
    pub(crate) author: &'a NodeId,
    pub(crate) sequence: u64,
    pub(crate) timestamp: Hlc,
    pub(crate) previous: &'a EntryHash,
    pub(crate) payload_hash: &'a EntryHash,
}

/// The hash of an entry whose header is `fields`, in `channel` and `stream`.
pub(crate) fn header_hash(
    channel: &ChannelId,
    stream: &StreamId,
    fields: &HeaderFields<'_>,
) -> EntryHash {
    let mut hasher = HEADER_HASHER.clone();
    update_name(&mut hasher, channel.as_str());
    update_name(&mut hasher, stream.as_str());
    hasher.update(fields.author.as_bytes());
    hasher.update(&fields.sequence.to_be_bytes());
    hasher.update(&fields.timestamp.as_u64().to_be_bytes());
    hasher.update(fields.previous.as_bytes());
    hasher.update(fields.payload_hash.as_bytes());
    EntryHash(*hasher.finalize().as_bytes())
}

/// The BLAKE3 hash of a payload, as an entry's header carries it.
pub(crate) fn payload_hash(payload: &[u8]) -> EntryHash {
    EntryHash(*blake3::hash(payload).as_bytes())
}

/// The message an author signs for the entry whose hash is `hash`.
pub(crate) fn signed_message(hash: &EntryHash) -> [u8; SIGNATURE_CONTEXT.len() + 32] {
    let mut message = [0u8; SIGNATURE_CONTEXT.len() + 32];
    let (context, digest) = message.split_at_mut(SIGNATURE_CONTEXT.len());
    context.copy_from_slice(SIGNATURE_CONTEXT);
    digest.copy_from_slice(hash.as_bytes());
    message
}

impl LogEntry {
    /// The entry's hash: BLAKE3 over its canonical header in `channel` and
    /// `stream` (see [`EntryHash`]).
    #[must_use]
    pub fn hash(&self, channel: &ChannelId, stream: &StreamId) -> EntryHash {
        header_hash(
            channel,
            stream,
            &HeaderFields {
                author: &self.author,
                sequence: self.sequence,
                timestamp: self.timestamp,
                previous: &self.previous,
                payload_hash: &payload_hash(&self.payload),
            },
        )
    }

    /// The entry with `previous` set to `previous` (the hash of the author's
    /// entry before it in the stream).
    #[must_use]
    pub fn linked_to(mut self, previous: EntryHash) -> Self {
        self.previous = previous;
        self
    }

    /// The entry signed by `author`, which must be the entry's author for
    /// the signature to verify.
    #[must_use]
    pub fn sign(self, author: &Identity, channel: &ChannelId, stream: &StreamId) -> Self {
        let hash = self.hash(channel, stream);
        self.sign_hashed(author, &hash)
    }

    /// The entry signed by `author`, given its `hash` (as
    /// [`hash`](Self::hash) computes it): saves hashing twice when the hash
    /// is needed anyway, to link the next entry.
    #[must_use]
    pub fn sign_hashed(mut self, author: &Identity, hash: &EntryHash) -> Self {
        self.signature = Some(author.sign(&signed_message(hash)));
        self
    }

    /// Checks the entry's own signature, given its `hash` (as
    /// [`hash`](Self::hash) computes it).
    ///
    /// # Errors
    ///
    /// [`Error::BadSignature`] when the entry has no signature or it was not
    /// made by the author over this hash.
    pub fn verify_signature_of(&self, hash: &EntryHash) -> Result<(), Error> {
        let signature = self.signature.as_ref().ok_or_else(|| Error::BadSignature {
            signer: self.author.clone(),
        })?;
        self.author.verify(&signed_message(hash), signature)
    }

    /// Checks the entry's own signature in `channel` and `stream`.
    ///
    /// # Errors
    ///
    /// As [`verify_signature_of`](Self::verify_signature_of).
    pub fn verify_signature(&self, channel: &ChannelId, stream: &StreamId) -> Result<(), Error> {
        self.verify_signature_of(&self.hash(channel, stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (ChannelId, StreamId) {
        (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap())
    }

    fn entry(author: &NodeId, seq: u64, payload: &[u8]) -> LogEntry {
        LogEntry::new(
            author.clone(),
            seq,
            Hlc::new(seq, 0).unwrap(),
            payload.to_vec(),
        )
    }

    #[test]
    fn every_header_field_changes_the_hash() {
        let (c, s) = ids();
        let a = NodeId::from_seed("a");
        let base = entry(&a, 1, b"x");
        let h = base.hash(&c, &s);
        let mut variants = vec![
            entry(&NodeId::from_seed("b"), 1, b"x"),
            entry(&a, 2, b"x"),
            entry(&a, 1, b"y"),
            base.clone().linked_to(EntryHash::from_bytes([1; 32])),
        ];
        let mut later = base.clone();
        later.timestamp = Hlc::new(1, 1).unwrap();
        variants.push(later);
        for v in &variants {
            assert_ne!(v.hash(&c, &s), h, "{v:?}");
        }
        assert_ne!(base.hash(&ChannelId::new("d").unwrap(), &s), h);
        assert_ne!(base.hash(&c, &StreamId::new("t").unwrap()), h);
        // Names are length-prefixed: moving a byte between them changes it.
        assert_ne!(
            base.hash(&ChannelId::new("ab").unwrap(), &StreamId::new("c").unwrap()),
            base.hash(&ChannelId::new("a").unwrap(), &StreamId::new("bc").unwrap()),
        );
        // The signature is not part of the header.
        let signed = base.clone().sign(&Identity::from_seed("a"), &c, &s);
        assert_eq!(signed.hash(&c, &s), h);
    }

    #[test]
    fn only_the_author_signs_and_only_for_this_stream() {
        let (c, s) = ids();
        let alice = Identity::from_seed("a");
        let e = entry(alice.node_id(), 1, b"x").sign(&alice, &c, &s);
        e.verify_signature(&c, &s).unwrap();
        assert!(e
            .verify_signature(&c, &StreamId::new("t").unwrap())
            .is_err());
        let forged = entry(alice.node_id(), 1, b"x").sign(&Identity::from_seed("m"), &c, &s);
        assert!(matches!(
            forged.verify_signature(&c, &s),
            Err(Error::BadSignature { signer }) if signer == *alice.node_id()
        ));
        assert!(entry(alice.node_id(), 1, b"x")
            .verify_signature(&c, &s)
            .is_err());
    }

    #[test]
    fn hashes_round_trip_in_both_serde_forms() {
        let h = EntryHash::from_bytes([7; 32]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<EntryHash>(&json).unwrap(), h);
        let bytes = postcard::to_allocvec(&h).unwrap();
        assert_eq!(bytes.len(), 32);
        assert_eq!(postcard::from_bytes::<EntryHash>(&bytes).unwrap(), h);
    }
}
