//! Digests: what a node holds of a channel, in a long and a short form.
//!
//! Two nodes in sync compare a [`DigestHash`] per channel (8 bytes) instead of
//! a version vector per stream.
//!
//! ```
//! use gossip_core::raw::{ChannelDigest, StreamDigest};
//! use gossip_core::{ChannelId, NodeId, StreamId, VersionVector};
//!
//! let mut version = VersionVector::new();
//! version.raise(&NodeId::from_seed("a"), 3);
//! let digest = ChannelDigest::new(
//!     ChannelId::new("c")?,
//!     vec![StreamDigest::new(StreamId::new("s")?, version, VersionVector::new())],
//! );
//! let same = digest.clone();
//! assert_eq!(digest.hash(), same.hash());
//! # Ok::<(), gossip_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use super::{
    checkpoint::BaseProof,
    entry::LogEntry,
    entry_runs::{rebuild, DecodedHashes, WireRun},
    ids::{ChannelId, StreamId},
    version_vector::{SeqRange, VersionVector},
};

/// A short, stable hash of a [`ChannelDigest`] (FNV-1a, 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DigestHash(pub u64);

/// What a node holds of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamDigest {
    /// The stream.
    pub stream: StreamId,
    /// Highest contiguous sequence held per author.
    pub version: VersionVector,
    /// What compaction removed, per author.
    pub base: VersionVector,
}

impl StreamDigest {
    /// A stream digest.
    #[must_use]
    pub fn new(stream: StreamId, version: VersionVector, base: VersionVector) -> Self {
        Self {
            stream,
            version,
            base,
        }
    }

    /// What `remote` holds that this side lacks.
    #[must_use]
    pub fn missing_from(&self, remote: &StreamDigest) -> Vec<SeqRange> {
        self.version.diff(&remote.version)
    }
}

/// What a node holds of one channel: a digest per stream, ordered by stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelDigest {
    /// The channel.
    pub channel: ChannelId,
    /// One digest per non-empty stream, ordered by stream id.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub streams: Vec<StreamDigest>,
    /// Which of the channel's streams this digest speaks for: all of them,
    /// unless a digest too large for one frame was sent in parts. A stream
    /// the part covers but does not list is one the sender lacks.
    pub part: DigestPart,
}

/// The streams a [`ChannelDigest`] speaks for: those whose id is after
/// `after` (if any) and at most `through` (if any). The default covers
/// every stream.
///
/// ```
/// use gossip_core::{raw::DigestPart, StreamId};
///
/// let part = DigestPart::new(Some(StreamId::new("b")?), Some(StreamId::new("d")?));
/// assert!(!part.covers(&StreamId::new("b")?));
/// assert!(part.covers(&StreamId::new("c")?) && part.covers(&StreamId::new("d")?));
/// assert!(DigestPart::default().covers(&StreamId::new("z")?));
/// # Ok::<(), gossip_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestPart {
    /// Streams up to and including this one are not covered.
    pub after: Option<StreamId>,
    /// Streams after this one are not covered.
    pub through: Option<StreamId>,
}

impl DigestPart {
    /// The part after `after` through `through`.
    #[must_use]
    pub fn new(after: Option<StreamId>, through: Option<StreamId>) -> Self {
        Self { after, through }
    }

    /// Whether `stream` is covered.
    #[must_use]
    pub fn covers(&self, stream: &StreamId) -> bool {
        self.after.as_ref().is_none_or(|after| stream > after)
            && self
                .through
                .as_ref()
                .is_none_or(|through| stream <= through)
    }
}

impl ChannelDigest {
    /// A channel digest; streams are sorted and empty ones left out.
    #[must_use]
    pub fn new(channel: ChannelId, mut streams: Vec<StreamDigest>) -> Self {
        streams.retain(|s| !s.version.is_empty());
        streams.sort_by(|a, b| a.stream.cmp(&b.stream));
        streams.dedup_by(|a, b| a.stream == b.stream);
        Self {
            channel,
            streams,
            part: DigestPart::default(),
        }
    }

    /// The digest of one stream, if held.
    #[must_use]
    pub fn stream(&self, stream: &StreamId) -> Option<&StreamDigest> {
        self.streams
            .binary_search_by(|s| s.stream.cmp(stream))
            .ok()
            .and_then(|i| self.streams.get(i))
    }

    /// The short hash: equal for two nodes that hold the same versions of
    /// every stream (bases are left out: they do not change what is missing).
    #[must_use]
    pub fn hash(&self) -> DigestHash {
        let mut h = Fnv1a::new();
        h.write(self.channel.as_str().as_bytes());
        for s in &self.streams {
            h.write(&[0xff]);
            h.write(s.stream.as_str().as_bytes());
            for (author, seq) in s.version.iter() {
                h.write(&[0xfe]);
                h.write(author.as_str().as_bytes());
                h.write(&seq.to_be_bytes());
            }
        }
        DigestHash(h.finish())
    }
}

/// Entries of one stream sent to a peer that lacks them, with proofs of the
/// sender's compaction base so that a receiver behind it can skip the
/// removed gap where its own retention policy says it is gone.
///
/// On the wire the entries travel as runs: consecutive entries of one
/// author state the author, the first sequence and the first link once, and
/// a decoded delta's other links are rebuilt by hashing, in its channel and
/// stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireDelta")]
#[non_exhaustive]
pub struct Delta {
    /// The channel.
    pub channel: ChannelId,
    /// The stream.
    pub stream: StreamId,
    /// Proofs of the sender's compaction base, for the authors the receiver
    /// lacks removed entries of.
    pub base: Vec<BaseProof>,
    /// The entries, ascending per author.
    #[serde(serialize_with = "super::entry_runs::serialize")]
    pub entries: Vec<LogEntry>,
    /// The entries' hashes when the delta was decoded (see
    /// [`DecodedHashes`]).
    #[serde(skip)]
    pub(crate) hashes: DecodedHashes,
}

/// A [`Delta`] as decoded, before its runs are rebuilt into entries.
#[derive(Deserialize)]
struct WireDelta {
    channel: ChannelId,
    stream: StreamId,
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    base: Vec<BaseProof>,
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    entries: Vec<WireRun>,
}

impl TryFrom<WireDelta> for Delta {
    type Error = String;

    fn try_from(wire: WireDelta) -> Result<Self, String> {
        let (entries, hashes) = rebuild(&wire.channel, &wire.stream, wire.entries)?;
        let mut delta = Self::new(wire.channel, wire.stream, wire.base, entries);
        delta.hashes = DecodedHashes(hashes);
        Ok(delta)
    }
}

impl Delta {
    /// A delta.
    #[must_use]
    pub fn new(
        channel: ChannelId,
        stream: StreamId,
        base: Vec<BaseProof>,
        entries: Vec<LogEntry>,
    ) -> Self {
        Self {
            channel,
            stream,
            base,
            entries,
            hashes: DecodedHashes::default(),
        }
    }
}

struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NodeId;

    fn vv(pairs: &[(&str, u64)]) -> VersionVector {
        pairs
            .iter()
            .map(|(a, s)| (NodeId::from_seed(a), *s))
            .collect()
    }

    fn digest(streams: &[(&str, &[(&str, u64)])]) -> ChannelDigest {
        ChannelDigest::new(
            ChannelId::new("c").unwrap(),
            streams
                .iter()
                .map(|(s, v)| StreamDigest::new(StreamId::new(s).unwrap(), vv(v), vv(&[])))
                .collect(),
        )
    }

    #[test]
    fn hash_ignores_stream_order_and_empty_streams() {
        let a = digest(&[("x", &[("n", 1)]), ("y", &[("m", 2)]), ("z", &[])]);
        let b = digest(&[("y", &[("m", 2)]), ("x", &[("n", 1)])]);
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn hash_changes_with_any_version() {
        let a = digest(&[("x", &[("n", 1)])]);
        let b = digest(&[("x", &[("n", 2)])]);
        let c = digest(&[("x", &[("n", 1), ("m", 1)])]);
        assert_ne!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn missing_from_lists_remote_surplus() {
        let a = digest(&[("x", &[("n", 1)])]);
        let b = digest(&[("x", &[("n", 4)])]);
        let s = StreamId::new("x").unwrap();
        let missing = a.stream(&s).unwrap().missing_from(b.stream(&s).unwrap());
        assert_eq!(missing.len(), 1);
        assert_eq!((missing[0].after, missing[0].up_to), (1, 4));
    }
}
