//! Compaction by proof: a peer may tell us an author's entries up to some
//! sequence are gone only with that author's signature on them.
//!
//! A [`SignedHeader`] is an entry without its payload (only the payload's
//! hash) but with its author's signature: it proves the author wrote that
//! entry, and hashes exactly like it. A [`BaseProof`] carries two: the
//! header at the compaction base (the last entry removed) and the author's
//! latest entry held (how far its log goes). [`BaseProof::check`] accepts
//! the base only when both verify, the author is not the checking node, and
//! the stream's own retention policy would remove that entry too — so a
//! lagging node skips a gap only where the policy says it is gone
//! everywhere, and no member can erase another's history by claiming it
//! was compacted.
//!
//! ```
//! use gossip_core::raw::{BaseProof, BaseRefusal};
//! use gossip_core::{ChannelId, Hlc, Identity, LogEntry, NodeId, RetentionPolicy, StreamId};
//!
//! let alice = Identity::from_seed("alice");
//! let (c, s) = (ChannelId::new("c")?, StreamId::new("s")?);
//! let mut log = Vec::new();
//! for seq in 1..=5 {
//!     let mut e = LogEntry::new(alice.node_id().clone(), seq, Hlc::new(seq, 0)?, vec![]);
//!     if let Some(prev) = log.last() {
//!         e = e.linked_to(LogEntry::hash(prev, &c, &s));
//!     }
//!     log.push(e.sign(&alice, &c, &s));
//! }
//! let proof = BaseProof::new(log[1].signed_header(), log[4].signed_header())
//!     .expect("both entries are signed");
//! let keep_three = RetentionPolicy::CountBased { max_per_author: 3 };
//! let bob = NodeId::from_seed("bob");
//! assert_eq!(proof.check(&c, &s, &keep_three, Some(&bob), 0), Ok(2));
//! // A policy that keeps everything never lets a peer skip anything.
//! assert_eq!(
//!     proof.check(&c, &s, &RetentionPolicy::KeepAll, Some(&bob), 0),
//!     Err(BaseRefusal::RetentionKeepsIt)
//! );
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    entry::{deserialize_sequence, LogEntry},
    entry_proof::{header_hash, payload_hash, signed_message, EntryHash, HeaderFields},
    hlc::Hlc,
    ids::{ChannelId, StreamId},
    node_id::{NodeId, Signature},
    retention::RetentionPolicy,
};

/// An entry's header and its author's signature, without the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignedHeader {
    /// The entry's author.
    pub author: NodeId,
    /// The entry's sequence.
    #[serde(deserialize_with = "deserialize_sequence")]
    pub sequence: u64,
    /// The entry's timestamp.
    pub timestamp: Hlc,
    /// The hash of the author's entry before it.
    pub previous: EntryHash,
    /// The BLAKE3 hash of the entry's payload.
    pub payload_hash: EntryHash,
    /// The author's signature over the entry's hash.
    pub signature: Signature,
}

impl SignedHeader {
    /// The hash of the entry this is the header of.
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
                payload_hash: &self.payload_hash,
            },
        )
    }

    /// Whether the author signed this header in `channel` and `stream`.
    #[must_use]
    pub fn is_signed_by_author(&self, channel: &ChannelId, stream: &StreamId) -> bool {
        let hash = self.hash(channel, stream);
        self.author
            .verify(&signed_message(&hash), &self.signature)
            .is_ok()
    }
}

impl LogEntry {
    /// The entry's signed header, when it carries its own signature.
    #[must_use]
    pub fn signed_header(&self) -> Option<SignedHeader> {
        Some(SignedHeader {
            author: self.author.clone(),
            sequence: self.sequence,
            timestamp: self.timestamp,
            previous: self.previous,
            payload_hash: payload_hash(&self.payload),
            signature: self.signature?,
        })
    }
}

/// Proof that an author's entries up to [`base`](Self::base)'s sequence may
/// have been compacted away: the signed header at the base, and the signed
/// header of the author's latest entry held by the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BaseProof {
    /// The last entry removed.
    pub base: SignedHeader,
    /// The author's latest entry the sender holds.
    pub head: SignedHeader,
}

/// Why a [`BaseProof`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BaseRefusal {
    /// It names this node as the author: only this node compacts its own log.
    LocalAuthor,
    /// Its two headers name different authors, or the head is below the base.
    Inconsistent,
    /// A header does not carry its author's signature: a forgery.
    BadSignature,
    /// The stream's retention policy keeps that entry: it is not gone
    /// everywhere, so the gap is fetched from peers that hold it.
    RetentionKeepsIt,
}

impl fmt::Display for BaseRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaseRefusal::LocalAuthor => "it names this node's own log",
            BaseRefusal::Inconsistent => "its headers do not belong together",
            BaseRefusal::BadSignature => "a header is not signed by its author",
            BaseRefusal::RetentionKeepsIt => "the stream's retention policy keeps that entry",
        })
    }
}

impl BaseProof {
    /// A proof from two signed headers (as [`LogEntry::signed_header`]
    /// gives them); `None` when either is missing.
    #[must_use]
    pub fn new(base: Option<SignedHeader>, head: Option<SignedHeader>) -> Option<Self> {
        Some(Self {
            base: base?,
            head: head?,
        })
    }

    /// The author whose base this is.
    #[must_use]
    pub fn author(&self) -> &NodeId {
        &self.base.author
    }

    /// Checks the proof for `stream` of `channel` whose retention is
    /// `policy`, at node `local` (when known: a base for its own log is
    /// refused) at physical time `now_ms`. Returns the base sequence it
    /// proves.
    ///
    /// # Errors
    ///
    /// The [`BaseRefusal`]: what the proof fails to show.
    pub fn check(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        policy: &RetentionPolicy,
        local: Option<&NodeId>,
        now_ms: u64,
    ) -> Result<u64, BaseRefusal> {
        let (base, head) = (&self.base, &self.head);
        if local == Some(&base.author) {
            return Err(BaseRefusal::LocalAuthor);
        }
        if head.author != base.author || head.sequence < base.sequence || base.sequence == 0 {
            return Err(BaseRefusal::Inconsistent);
        }
        if !policy.removes_at(base.sequence, base.timestamp, head.sequence, now_ms) {
            return Err(BaseRefusal::RetentionKeepsIt);
        }
        if !base.is_signed_by_author(channel, stream) || !head.is_signed_by_author(channel, stream)
        {
            return Err(BaseRefusal::BadSignature);
        }
        Ok(base.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    fn ids() -> (ChannelId, StreamId) {
        (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap())
    }

    fn header(author: &Identity, seq: u64, ms: u64) -> SignedHeader {
        let (c, s) = ids();
        LogEntry::new(
            author.node_id().clone(),
            seq,
            Hlc::new(ms, 0).unwrap(),
            vec![1],
        )
        .sign(author, &c, &s)
        .signed_header()
        .unwrap()
    }

    #[test]
    fn a_header_hashes_like_its_entry() {
        let (c, s) = ids();
        let alice = Identity::from_seed("a");
        let entry = LogEntry::new(alice.node_id().clone(), 3, Hlc::new(9, 1).unwrap(), vec![7])
            .sign(&alice, &c, &s);
        let header = entry.signed_header().unwrap();
        assert_eq!(header.hash(&c, &s), entry.hash(&c, &s));
        assert!(header.is_signed_by_author(&c, &s));
        assert!(
            LogEntry::new(alice.node_id().clone(), 1, Hlc::new(1, 0).unwrap(), vec![])
                .signed_header()
                .is_none()
        );
    }

    #[test]
    fn forged_inconsistent_local_and_kept_bases_are_refused() {
        let (c, s) = ids();
        let (alice, mallory) = (Identity::from_seed("a"), Identity::from_seed("m"));
        let bob = Identity::from_seed("b");
        let count = RetentionPolicy::CountBased { max_per_author: 2 };
        let proof = |base: SignedHeader, head: SignedHeader| BaseProof { base, head };
        let good = proof(header(&alice, 3, 3), header(&alice, 5, 5));
        assert_eq!(good.check(&c, &s, &count, Some(bob.node_id()), 0), Ok(3));
        // The author itself never takes a base from a peer.
        assert_eq!(
            good.check(&c, &s, &count, Some(alice.node_id()), 0),
            Err(BaseRefusal::LocalAuthor)
        );
        // 2 kept of 5: 4 is kept, so a base at 4 is not proven.
        let too_far = proof(header(&alice, 4, 4), header(&alice, 5, 5));
        assert_eq!(
            too_far.check(&c, &s, &count, Some(bob.node_id()), 0),
            Err(BaseRefusal::RetentionKeepsIt)
        );
        // A member signing a base in another's name.
        let mut forged = proof(header(&alice, 3, 3), header(&alice, 1 << 62, 5));
        forged.base.signature = header(&mallory, 3, 3).signature;
        assert_eq!(
            forged.check(&c, &s, &count, Some(bob.node_id()), 0),
            Err(BaseRefusal::BadSignature)
        );
        let huge_head = proof(header(&alice, 1 << 62, 3), header(&alice, 1 << 62, 3));
        assert_eq!(
            huge_head.check(&c, &s, &count, Some(bob.node_id()), 0),
            Err(BaseRefusal::RetentionKeepsIt),
            "the author's last entry is never removed"
        );
        let mixed = proof(header(&alice, 3, 3), header(&mallory, 5, 5));
        assert_eq!(
            mixed.check(&c, &s, &count, Some(bob.node_id()), 0),
            Err(BaseRefusal::Inconsistent)
        );
        // Time-based: only entries older than the age go.
        let week = RetentionPolicy::TimeBased {
            max_age: std::time::Duration::from_secs(7 * 86_400),
        };
        let day_ms = 86_400_000;
        let old = proof(header(&alice, 3, day_ms), header(&alice, 5, 9 * day_ms));
        assert_eq!(
            old.check(&c, &s, &week, Some(bob.node_id()), 9 * day_ms),
            Ok(3)
        );
        assert_eq!(
            old.check(&c, &s, &week, Some(bob.node_id()), 7 * day_ms),
            Err(BaseRefusal::RetentionKeepsIt)
        );
    }
}
