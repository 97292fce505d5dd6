//! [`MisbehavingPeer`]: a peer that speaks the wire protocol by hand, for
//! testing that a node survives what a hostile network or a malicious
//! member sends it.
//!
//! It wraps any raw [`Transport`] (an in-memory one joined with a stolen or
//! a stranger's identity, a TCP transport, your own) and sends any frame, at
//! any rate, under the identity the transport holds: well-formed messages
//! the protocol would never send in that order, validly signed entries
//! meant to fill a node's buffers or open streams by the thousand, or plain
//! garbage. Use it to hold your store or transport to the node's
//! guarantees: the honest peers keep converging, and the abuse is counted
//! in [`Health`](crate::Health) and reported on the error stream.
//!
//! ```
//! use gossip_core::testkit::misbehaving::frames;
//! use gossip_core::{protocol::Message, ChannelId, Identity, StreamId};
//!
//! let rogue = Identity::from_seed("rogue");
//! let channel = ChannelId::new("c")?;
//! // Entries the rogue really signed, in 100 streams it opens at once.
//! let pushes = frames::entries_in_new_streams(&rogue, &channel, 100, 16);
//! assert_eq!(pushes.len(), 100);
//! // A digest response nobody asked for, naming a channel with no streams:
//! // a receiver that acted on it would send everything it holds.
//! let Message::DigestResponse(response) = frames::empty_digest_response(7, &channel)
//! else { unreachable!() };
//! assert!(response.digests[0].streams.is_empty());
//! # let _ = StreamId::new("s")?;
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::time::Duration;

use bytes::Bytes;

use crate::{
    domain::{
        ChannelDigest, ChannelId, DigestHash, EntryHash, Hlc, LogEntry, NodeId, StreamId,
        VersionVector,
    },
    error::TransportErrorKind,
    identity::Identity,
    ports::{Transport, TransportEvent},
    protocol::{
        codec, Announced, ChannelSummary, DeltaRequest, DigestRequest, DigestResponse, Graft,
        GraftWant, IHave, Message, Push, StreamWant, MAX_IHAVE_RANGES,
    },
};

/// What a [`MisbehavingPeer::flood`] managed to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodReport {
    /// Frames the transport accepted.
    pub sent: usize,
    /// Frames refused with `QueueFull` (the transport's back-pressure).
    pub queue_full: usize,
    /// Frames refused for any other reason.
    pub failed: usize,
}

/// A peer built from a raw transport that sends whatever it is told to.
///
/// The frames of the attacks are built by the functions of [`frames`].
#[derive(Debug)]
pub struct MisbehavingPeer<T> {
    transport: T,
}

impl<T: Transport> MisbehavingPeer<T> {
    /// A peer speaking through `transport` (under the identity it holds).
    pub fn new(transport: T) -> Self {
        Self { transport }
    }

    /// The id it speaks as.
    pub fn id(&self) -> &NodeId {
        self.transport.local_id()
    }

    /// Its transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Sends `message` to `to`.
    ///
    /// # Errors
    ///
    /// What the transport's `send` returns.
    pub async fn send(&self, to: &NodeId, message: &Message) -> crate::TransportResult<()> {
        self.transport.send(to, codec::encode(message)).await
    }

    /// Sends raw bytes as one frame (garbage, truncated or replayed frames).
    ///
    /// # Errors
    ///
    /// What the transport's `send` returns.
    pub async fn send_raw(&self, to: &NodeId, frame: Bytes) -> crate::TransportResult<()> {
        self.transport.send(to, frame).await
    }

    /// Sends `frame` to `to` `count` times as fast as the transport takes
    /// it, yielding to the runtime every `yield_every` frames (at least 1)
    /// so the node under attack gets to run on a single-threaded runtime.
    pub async fn flood(
        &self,
        to: &NodeId,
        frame: &Bytes,
        count: usize,
        yield_every: usize,
    ) -> FloodReport {
        let mut report = FloodReport::default();
        for i in 0..count {
            match self.transport.send(to, frame.clone()).await {
                Ok(()) => report.sent += 1,
                Err(e) if e.kind() == TransportErrorKind::QueueFull => report.queue_full += 1,
                Err(_) => report.failed += 1,
            }
            if (i + 1) % yield_every.max(1) == 0 {
                tokio::task::yield_now().await;
            }
        }
        report
    }

    /// Receives for `window` and returns every frame that arrived, with its
    /// sender: what the node under attack sent back (its size is the
    /// amplification).
    pub async fn received_within(&self, window: Duration) -> Vec<(NodeId, Bytes)> {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, self.transport.recv()).await {
            if let TransportEvent::Frame { from, frame } = event {
                frames.push((from, frame));
            }
        }
        frames
    }
}

/// Frames of the attacks, for [`MisbehavingPeer::send`].
pub mod frames {
    use super::*;

    /// A digest request whose hash matches nothing: it opens a session, and
    /// the receiver answers with its full digest of `channel`.
    #[must_use]
    pub fn digest_request(session: u64, channel: &ChannelId) -> Message {
        Message::DigestRequest(DigestRequest {
            session,
            channels: vec![ChannelSummary {
                channel: channel.clone(),
                hash: DigestHash(0x6261_6462_6164),
            }],
        })
    }

    /// A digest response claiming to hold nothing of `channel`: a receiver
    /// that acted on it unasked would send everything it holds.
    #[must_use]
    pub fn empty_digest_response(session: u64, channel: &ChannelId) -> Message {
        Message::DigestResponse(DigestResponse {
            session,
            digests: vec![ChannelDigest::new(channel.clone(), Vec::new())],
        })
    }

    /// A delta request claiming to hold nothing of `stream`: asks for the
    /// whole stream.
    #[must_use]
    pub fn empty_delta_request(session: u64, channel: &ChannelId, stream: &StreamId) -> Message {
        Message::DeltaRequest(DeltaRequest {
            session,
            wants: vec![StreamWant {
                channel: channel.clone(),
                stream: stream.clone(),
                have: VersionVector::new(),
            }],
        })
    }

    /// A lazy announcement (`IHave`) of as many ranges as a frame may
    /// carry, each in a stream nobody wrote (`ann-{round}-0`, …), by one of
    /// `authors` in turn, up to sequence 1 000: a receiver that believed
    /// it would track them all and graft them forever.
    #[must_use]
    pub fn announcements(channel: &ChannelId, authors: &[NodeId], round: usize) -> Message {
        let ranges = (0..MAX_IHAVE_RANGES)
            .filter_map(|j| {
                let stream = StreamId::new(format!("ann-{round}-{j}")).ok()?;
                let author = authors.get(j % authors.len().max(1))?.clone();
                Some(Announced {
                    stream,
                    author,
                    up_to: 1_000,
                })
            })
            .collect();
        Message::IHave(IHave {
            channel: channel.clone(),
            ranges,
        })
    }

    /// A graft asking for every entry of `author` in `stream`.
    #[must_use]
    pub fn graft_everything(channel: &ChannelId, stream: &StreamId, author: &NodeId) -> Message {
        Message::Graft(Graft {
            channel: channel.clone(),
            wants: vec![GraftWant {
                stream: stream.clone(),
                author: author.clone(),
                after: 0,
                up_to: u64::MAX,
            }],
        })
    }

    /// Pushes of one entry each, signed by `author`, into `count` streams
    /// named `flood-0`, `flood-1`, …: every one opens a stream.
    #[must_use]
    pub fn entries_in_new_streams(
        author: &Identity,
        channel: &ChannelId,
        count: usize,
        payload_len: usize,
    ) -> Vec<Message> {
        (0..count)
            .filter_map(|i| StreamId::new(format!("flood-{i}")).ok())
            .map(|stream| {
                let entry = signed(author, channel, &stream, 1, EntryHash::GENESIS, payload_len);
                Message::Push(Push {
                    channel: channel.clone(),
                    stream,
                    entries: vec![entry],
                })
            })
            .collect()
    }

    /// A push of entries signed by `author` at sequences `from..from + count`
    /// of `stream`, each signed on its own: valid entries that, with
    /// `from` beyond what the receiver holds, can only wait in its
    /// out-of-order buffer for predecessors that never come.
    #[must_use]
    pub fn gap_entries(
        author: &Identity,
        channel: &ChannelId,
        stream: &StreamId,
        from: u64,
        count: u64,
        payload_len: usize,
    ) -> Message {
        // Linked to each other (so the run is proven), the first to an
        // entry that does not exist.
        let mut link = EntryHash::from_bytes([0x9a; 32]);
        let entries = (from..from.saturating_add(count))
            .map(|seq| {
                let entry = signed(author, channel, stream, seq, link, payload_len);
                link = entry.hash(channel, stream);
                entry
            })
            .collect();
        Message::Push(Push {
            channel: channel.clone(),
            stream: stream.clone(),
            entries,
        })
    }

    fn signed(
        author: &Identity,
        channel: &ChannelId,
        stream: &StreamId,
        sequence: u64,
        link: EntryHash,
        payload_len: usize,
    ) -> LogEntry {
        let timestamp = Hlc::new(1_704_067_200_000 + sequence, 0).unwrap_or_default();
        LogEntry::new(
            author.node_id().clone(),
            sequence,
            timestamp,
            vec![0x5a; payload_len],
        )
        .linked_to(link)
        .sign(author, channel, stream)
    }
}
