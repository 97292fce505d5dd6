//! [`AuthorPush`]: an author's push of the entries it has just written,
//! without what the receiver already knows.
//!
//! A [`Push`] is self-contained: every run names its author (32 bytes) and
//! the link of its first entry (32 bytes), so that any node can forward it
//! and any receiver can prove it. When the sender *is* the author and the
//! receiver already holds the entry before the run, both are redundant: the
//! author is the authenticated peer the frame came from, and the link is the
//! hash of the receiver's own copy of that entry. An `AuthorPush` leaves the
//! author out always and the link out when the sender knows the receiver
//! holds the entry before (it pushed it on the same connection, or the
//! receiver said so): a single 256-byte append then costs about 95 bytes of
//! overhead instead of about 155.
//!
//! Nothing is taken on trust: the receiver rebuilds the entries with the
//! frame's sender as author, in the stream it holds under that tag, and,
//! for an omitted link, the hash of the entry it holds; the run's signature then proves them exactly as it proves a
//! [`Push`]. A receiver that does not hold the entry before (the push that
//! carried it was lost) asks the sender for the run with a
//! [`Graft`](super::Graft), answered with a self-contained [`Push`].
//!
//! ```
//! use gossip_core::protocol::{codec, AuthorPush, Message, StreamRef, StreamTag};
//! use gossip_core::{ChannelId, EntryHash, Hlc, Identity, LogEntry, StreamId};
//!
//! let alice = Identity::from_seed("alice");
//! let (c, s) = (ChannelId::new("c")?, StreamId::new("s")?);
//! let first = LogEntry::new(alice.node_id().clone(), 1, Hlc::new(1, 0)?, b"1".to_vec())
//!     .sign(&alice, &c, &s);
//! let second = LogEntry::new(alice.node_id().clone(), 2, Hlc::new(2, 0)?, b"2".to_vec())
//!     .linked_to(first.hash(&c, &s))
//!     .sign(&alice, &c, &s);
//! // The receiver holds `first`: the link is left out, the stream tagged.
//! let push = AuthorPush::of_run(c.clone(), s.clone(), &[second.clone()], false).unwrap();
//! assert_eq!(push.previous, None);
//! assert_eq!(push.to, StreamRef::Tagged(StreamTag::of(&c, &s)));
//! let frame = codec::encode(&Message::AuthorPush(push.clone()));
//! let Message::AuthorPush(decoded) = codec::decode(&frame, 64 * 1024)? else { unreachable!() };
//! // The receiver names the sender as author, the stream it holds under
//! // that tag, and the link it holds.
//! let (rebuilt, _hashes) = decoded.into_push(alice.node_id(), (c.clone(), s.clone()), first.hash(&c, &s));
//! assert_eq!(rebuilt.entries, vec![second]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::messages::Push;
use crate::domain::{
    deserialize_sequence,
    entry_runs::{continues, rebuild_run},
    ChannelId, EntryHash, Hlc, LogEntry, NodeId, Signature, StreamId, MAX_SEQUENCE,
};

/// One entry of a run on the wire: what is not implied by its place in the
/// run (its sequence, author and link are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEntry {
    /// When the author wrote it.
    pub timestamp: Hlc,
    /// The payload.
    #[serde(deserialize_with = "crate::shared_payload::deserialize")]
    pub payload: Bytes,
    /// The author's signature (on the run's signed ends only).
    pub signature: Option<Signature>,
}

/// A short name of a stream: the first 8 bytes of a BLAKE3 hash of its
/// channel and stream ids. Used only where the receiver holds the stream,
/// which it finds among its own by this tag; two streams with one tag (a
/// 2^-64 chance per pair) make the tag ambiguous, and a push so named is
/// not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamTag(pub [u8; 8]);

impl StreamTag {
    /// The tag of `stream` in `channel`.
    #[must_use]
    pub fn of(channel: &ChannelId, stream: &StreamId) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key("gossip 2026 stream tag");
        for name in [channel.as_str(), stream.as_str()] {
            hasher.update(&(name.len() as u64).to_be_bytes());
            hasher.update(name.as_bytes());
        }
        let mut tag = [0; 8];
        tag.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
        Self(tag)
    }
}

/// The stream an [`AuthorPush`] is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamRef {
    /// By its channel and stream ids.
    Named(ChannelId, StreamId),
    /// By its tag: the receiver holds the stream.
    Tagged(StreamTag),
}

/// An author's push of one run of its own new entries: the author is the
/// frame's sender; `previous` is left out, and the stream named by its tag,
/// when the receiver holds the entry before `first` (see the
/// [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireAuthorPush")]
pub struct AuthorPush {
    /// The stream.
    pub to: StreamRef,
    /// The sequence of the first entry.
    pub first: u64,
    /// The link of the first entry, or `None`: "the hash of my entry at
    /// `first - 1`, which you hold".
    pub previous: Option<EntryHash>,
    /// The entries, at consecutive sequences from `first`; never empty.
    pub entries: Vec<RunEntry>,
}

#[derive(Deserialize)]
struct WireAuthorPush {
    to: StreamRef,
    #[serde(deserialize_with = "deserialize_sequence")]
    first: u64,
    previous: Option<EntryHash>,
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    entries: Vec<RunEntry>,
}

impl TryFrom<WireAuthorPush> for AuthorPush {
    type Error = String;

    fn try_from(wire: WireAuthorPush) -> Result<Self, String> {
        let count = wire.entries.len() as u64;
        if count == 0 {
            return Err("an author push without entries".into());
        }
        if wire.first == 0 {
            return Err("an author push starting at sequence 0".into());
        }
        if wire.first.saturating_add(count - 1) > MAX_SEQUENCE {
            return Err(format!(
                "a run of {count} entries from sequence {} passes the maximum 2^63",
                wire.first
            ));
        }
        Ok(Self {
            to: wire.to,
            first: wire.first,
            previous: wire.previous,
            entries: wire.entries,
        })
    }
}

impl AuthorPush {
    /// The push of `entries`, one run of one author (consecutive sequences):
    /// with `state_link`, the stream named and the first entry's link
    /// stated; without, the link left out and, after the author's first
    /// entry, the stream tagged (for a receiver that holds the entry
    /// before). `None` when `entries` is empty or not one run.
    #[must_use]
    pub fn of_run(
        channel: ChannelId,
        stream: StreamId,
        entries: &[LogEntry],
        state_link: bool,
    ) -> Option<Self> {
        let first = entries.first()?;
        if !entries
            .iter()
            .zip(entries.iter().skip(1))
            .all(|(a, b)| continues(a, b))
        {
            return None;
        }
        let to = if state_link || first.sequence == 1 {
            StreamRef::Named(channel, stream)
        } else {
            StreamRef::Tagged(StreamTag::of(&channel, &stream))
        };
        Some(Self {
            to,
            first: first.sequence,
            previous: state_link.then_some(first.previous),
            entries: entries
                .iter()
                .map(|e| RunEntry {
                    timestamp: e.timestamp,
                    payload: e.payload.clone(),
                    signature: e.signature,
                })
                .collect(),
        })
    }

    /// The sequence of the last entry.
    #[must_use]
    pub fn last(&self) -> u64 {
        self.first
            .saturating_add((self.entries.len() as u64).saturating_sub(1))
    }

    /// The entries rebuilt as a [`Push`] by `author` (the frame's sender)
    /// in `stream` (`to` resolved: named, or the stream the receiver holds
    /// under the tag), with every entry's hash. A link left out is
    /// `held_link`: the hash of the receiver's entry at `first - 1`; a
    /// stated link is used as stated. The signature is not checked here:
    /// merging the push does.
    #[must_use]
    pub fn into_push(
        self,
        author: &NodeId,
        stream: (ChannelId, StreamId),
        held_link: EntryHash,
    ) -> (Push, Vec<EntryHash>) {
        let (channel, stream) = stream;
        let count = self.entries.len();
        let (mut entries, mut hashes) = (Vec::with_capacity(count), Vec::with_capacity(count));
        let run = self
            .entries
            .into_iter()
            .map(|e| (e.timestamp, e.payload, e.signature));
        let rebuilt = rebuild_run(
            (&channel, &stream),
            author,
            self.first,
            self.previous.unwrap_or(held_link),
            run,
            (&mut entries, &mut hashes),
        );
        // Decoding refused what `rebuild_run` would (empty runs, sequences
        // past the maximum); a value built by hand with either is pushed
        // as nothing.
        if rebuilt.is_err() {
            entries.clear();
            hashes.clear();
        }
        let push = Push {
            channel,
            stream,
            entries,
        };
        (push, hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        protocol::{codec, Message, PROTOCOL_VERSION},
        DecodeError,
    };

    fn frame(first: u64, previous: Option<EntryHash>, entries: usize) -> Bytes {
        let push = AuthorPush {
            to: StreamRef::Named(ChannelId::new("c").unwrap(), StreamId::new("s").unwrap()),
            first,
            previous,
            entries: vec![
                RunEntry {
                    timestamp: Hlc::new(1, 0).unwrap(),
                    payload: Bytes::from_static(b"p"),
                    signature: None,
                };
                entries
            ],
        };
        codec::encode(&Message::AuthorPush(push))
    }

    #[test]
    fn empty_runs_sequence_zero_and_sequences_past_the_maximum_are_refused_at_decode() {
        for bad in [
            frame(1, None, 0),
            frame(0, None, 1),
            frame(MAX_SEQUENCE, None, 2),
            frame(MAX_SEQUENCE + 1, None, 1),
        ] {
            assert!(
                matches!(
                    codec::decode(&bad, 1 << 16),
                    Err(DecodeError::Malformed {
                        kind: "author_push",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        assert!(codec::decode(&frame(MAX_SEQUENCE - 1, None, 2), 1 << 16).is_ok());
        assert_eq!(frame(1, None, 1)[0], PROTOCOL_VERSION);
    }

    #[test]
    fn only_one_run_of_one_author_makes_an_author_push() {
        let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
        let at = |author: &str, seq| {
            LogEntry::new(
                NodeId::from_seed(author),
                seq,
                Hlc::new(seq, 0).unwrap(),
                vec![1],
            )
        };
        let of = |entries: &[LogEntry]| AuthorPush::of_run(c.clone(), s.clone(), entries, true);
        assert!(of(&[]).is_none());
        assert!(of(&[at("a", 1), at("a", 3)]).is_none());
        assert!(of(&[at("a", 1), at("b", 2)]).is_none());
        let push = of(&[at("a", 4), at("a", 5)]).unwrap();
        assert_eq!((push.first, push.last()), (4, 5));
        assert_eq!(push.to, StreamRef::Named(c.clone(), s.clone()));
        let first = AuthorPush::of_run(c.clone(), s.clone(), &[at("a", 1)], false).unwrap();
        assert_eq!(first.to, StreamRef::Named(c.clone(), s.clone()));
        let later = AuthorPush::of_run(c.clone(), s.clone(), &[at("a", 2)], false).unwrap();
        assert_eq!(later.to, StreamRef::Tagged(StreamTag::of(&c, &s)));
    }

    #[test]
    fn tags_tell_channel_and_stream_boundaries_apart() {
        let tag = |c: &str, s: &str| {
            StreamTag::of(&ChannelId::new(c).unwrap(), &StreamId::new(s).unwrap())
        };
        assert_eq!(tag("ab", "c"), tag("ab", "c"));
        assert_ne!(tag("ab", "c"), tag("a", "bc"));
        assert_ne!(tag("a", "b"), tag("b", "a"));
    }
}
