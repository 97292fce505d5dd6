//! The crate's error type, [`Error`], and the port errors it wraps.

use std::{fmt, path::PathBuf, sync::Arc};

use crate::{
    domain::{ChannelId, Hlc, LogEntry, NodeId, StreamId},
    identity::KeyFileErrorKind,
};

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which identifier an [`Error::InvalidId`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// A [`NodeId`].
    Node,
    /// A [`ChannelId`].
    Channel,
    /// A [`StreamId`].
    Stream,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Node => "node",
            IdKind::Channel => "channel",
            IdKind::Stream => "stream",
        })
    }
}

/// Every error of `gossip-core`.
///
/// Operations return it; non-fatal problems met while syncing (a bad frame, a
/// rejected entry) are reported on the node's error stream as a
/// [`SyncError`](crate::SyncError) wrapping it. Each variant says whether
/// state was affected.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An identifier failed validation. Nothing was created.
    #[error("invalid {kind} id {value:?}: {reason}")]
    InvalidId {
        /// Which identifier.
        kind: IdKind,
        /// The offending value (truncated).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An entry carried sequence 0 (sequences start at 1), or an author's
    /// log would pass [`MAX_SEQUENCE`](crate::MAX_SEQUENCE). The entry was
    /// rejected.
    #[error("invalid sequence {sequence} from {author}: sequences run from 1 to 2^63")]
    InvalidSequence {
        /// The entry's author.
        author: NodeId,
        /// The offending sequence.
        sequence: u64,
    },
    /// A payload exceeded the stream's limit. Nothing was written.
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Entries from an author who is not a member of the channel were rejected.
    #[error("{count} entries from {author}, not a member of channel {channel}, were rejected")]
    NonMember {
        /// The channel.
        channel: ChannelId,
        /// The non-member author.
        author: NodeId,
        /// How many entries were rejected.
        count: usize,
    },
    /// An author produced two different entries with the same sequence. The
    /// first one seen is kept; the other was rejected.
    #[error("equivocation: {author} wrote two different entries with sequence {sequence} in {channel}/{stream}")]
    Equivocation {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// The author who equivocated.
        author: NodeId,
        /// The sequence written twice.
        sequence: u64,
    },
    /// Entries claiming `author` that it did not sign were rejected: a bad
    /// signature or a broken link (`forged`), or no signed entry of the
    /// author to vouch for them (`unproven`). Nothing of them was kept or
    /// passed on; the peer that sent them is named beside the error.
    #[error(
        "rejected entries claiming {author} in {channel}/{stream}: {forged} forged, \
         {unproven} without proof"
    )]
    ForgedEntries {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// The author the entries claim.
        author: NodeId,
        /// Entries with a bad signature or a broken link.
        forged: usize,
        /// Unsigned entries nothing vouched for.
        unproven: usize,
    },
    /// A peer's proof of its compaction base was refused: the base was not
    /// raised and nothing was removed. Forged proofs are attacks; a base the
    /// stream's retention keeps is fetched from peers that still hold it.
    #[error("compaction base {sequence} of {author} in {channel}/{stream} refused: {reason}")]
    BaseRefused {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// The author whose base it claims.
        author: NodeId,
        /// The base it claims.
        sequence: u64,
        /// Why it was refused.
        reason: crate::domain::BaseRefusal,
    },
    /// Entries stamped further in the future than the allowed clock drift
    /// were quarantined (not stored): they are merged once this node's clock
    /// catches up, or dropped if the quarantine is full.
    #[error(
        "{count} entries of {author} in {channel}/{stream} are up to {ahead_ms} ms in the \
         future: quarantined until the clock catches up"
    )]
    FutureEntries {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// Their author.
        author: NodeId,
        /// How many.
        count: usize,
        /// How far ahead of this node's clock the furthest is, in ms.
        ahead_ms: u64,
    },
    /// The out-of-order buffer (or the quarantine of future entries) was
    /// full, or an entry was too far ahead to
    /// fit: entries were dropped (anti-entropy fetches them again later).
    #[error(
        "out-of-order buffer full: dropped {dropped} entries from {author} in {channel}/{stream}"
    )]
    BufferOverflow {
        /// The channel.
        channel: ChannelId,
        /// The stream.
        stream: StreamId,
        /// The author whose entries were dropped.
        author: NodeId,
        /// How many were dropped.
        dropped: usize,
    },
    /// A remote timestamp was too far in the future; the local clock was not moved.
    #[error("remote timestamp {remote} is more than {max_drift_ms} ms ahead of local time {local_ms} ms")]
    ClockDrift {
        /// The remote timestamp.
        remote: Hlc,
        /// Local physical time, in milliseconds.
        local_ms: u64,
        /// The configured maximum drift, in milliseconds.
        max_drift_ms: u64,
    },
    /// The hybrid logical clock reached its largest value. Nothing was issued.
    #[error("the hybrid logical clock reached its largest value")]
    ClockExhausted,
    /// The channel is not known to this node.
    #[error("unknown channel {0}")]
    UnknownChannel(ChannelId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A frame could not be decoded. It was dropped; nothing else changed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An entry, with the envelope and headers it must travel with, does not
    /// fit in one frame of the transport's maximum size (or the maximum is
    /// smaller than an empty message). Nothing was encoded or sent.
    #[error("a frame of {size} bytes is needed, more than the maximum of {max_frame_len} bytes")]
    EntryTooLargeForFrame {
        /// The smallest frame that would carry the entry.
        size: usize,
        /// The transport's maximum frame length.
        max_frame_len: usize,
    },
    /// A frame came from a node that is not a known peer. It was dropped.
    #[error("frame from unknown peer {0} dropped")]
    UnknownPeer(NodeId),
    /// The node has been stopped or disposed.
    #[error("the node is not running")]
    NodeStopped,
    /// A [durable append](crate::StreamHandle::append_durable) was written
    /// here, but fewer members than wanted were known to hold it when the
    /// wait ended (timeout, or the node stopped). The entry stays appended
    /// and keeps replicating; it is not lost, only not yet confirmed.
    #[error("entry {} of {} held by {held_by} of the {wanted} members wanted", .entry.sequence, .entry.author)]
    NotDurable {
        /// The entry appended.
        entry: Box<LogEntry>,
        /// Members known to hold it, this node included.
        held_by: usize,
        /// Members wanted.
        wanted: usize,
    },
    /// A subscriber read too slowly and missed items; it keeps receiving from
    /// the newest ones.
    #[error("subscriber lagged behind and missed {missed} items")]
    Lagged {
        /// How many items were missed.
        missed: u64,
    },
    /// The local node is not a member of the channel it tried to write to.
    #[error("{node} is not a member of channel {channel}")]
    NotMember {
        /// The channel.
        channel: ChannelId,
        /// The node.
        node: NodeId,
    },
    /// The local node's role in the channel does not allow what it tried
    /// (a reader appending, a writer changing membership). Nothing changed.
    #[error("{node} is {role} in channel {channel} and may not {action} (needs {needed})")]
    NotPermitted {
        /// The channel.
        channel: ChannelId,
        /// The node.
        node: NodeId,
        /// Its role.
        role: crate::domain::Role,
        /// The least role that may.
        needed: crate::domain::Role,
        /// What it tried.
        action: &'static str,
    },
    /// An invitation could not be read, or does not hold together (its
    /// channel is not derived from its owner).
    #[error("invalid invitation: {0}")]
    InvalidInvitation(String),
    /// The control stream is written only through a channel's membership
    /// and settings methods.
    #[error("the control stream {0} is written only through the channel's membership and settings methods")]
    ReservedStream(StreamId),
    /// A control log entry's payload is not a valid
    /// [`ControlOp`](crate::ControlOp); the fold skips it.
    #[error("invalid control operation: {reason}")]
    InvalidControlOp {
        /// What is wrong with it.
        reason: String,
    },
    /// A peer sent more than its [`InboundBudget`](crate::InboundBudget)
    /// allows; its frames are dropped (and counted) until it slows down.
    /// Reported once per episode.
    #[error("peer {0} is over its inbound budget; its frames are dropped until it slows down")]
    Throttled(NodeId),
    /// A peer asked for more than its [`ServeBudget`](crate::ServeBudget)
    /// allows this node to serve it; its sync requests go unanswered until
    /// the budget refills (it asks again on its next round). Reported once
    /// per episode.
    #[error(
        "peer {0} is over its serving budget; its sync requests go unanswered until it refills"
    )]
    ServeThrottled(NodeId),
    /// A sync message belongs to no session this node opened with, or
    /// answered for, the peer (never asked for, or long expired): dropped
    /// unanswered, so a few bytes cannot make the node send a delta.
    #[error("unsolicited {kind} for session {session} from {peer} dropped")]
    UnsolicitedSync {
        /// The peer.
        peer: NodeId,
        /// The message kind.
        kind: &'static str,
        /// The session it named.
        session: u64,
    },
    /// A channel reached one of its configured limits (streams per channel,
    /// authors per stream): what would exceed it was refused. Nothing else
    /// changed.
    #[error("channel {channel} is at its limit of {limit} {what}")]
    LimitReached {
        /// The channel.
        channel: ChannelId,
        /// What is limited: `"streams"` or `"authors per stream"`.
        what: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A range of sequences starts after it ends (`5..3`, `5..=3`). Nothing
    /// was read.
    #[error("invalid sequence range: starts at {start}, after its end {end}")]
    InvalidRange {
        /// The first sequence the range asked for.
        start: u64,
        /// The sequence it ends before (exclusive).
        end: u64,
    },
    /// An operation was asked of a node in a lifecycle state that does not
    /// allow it (for example resuming a node that was never started, or
    /// starting one that was stopped). Nothing changed: the node stays in
    /// the state it was in.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// A signature did not verify under the key of the node said to have
    /// made it. Whatever it signed was rejected.
    #[error("bad signature: not made by {signer}")]
    BadSignature {
        /// The node the signature claimed to come from.
        signer: NodeId,
    },
    /// A key file could not be created, read or trusted. Nothing was
    /// written or loaded.
    #[error("key file {}: {kind}: {detail}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        kind: KeyFileErrorKind,
        /// The details.
        detail: String,
    },
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is shorter than the envelope header.
    #[error("frame of {0} bytes is too short for the envelope")]
    Truncated(usize),
    /// The frame announces a protocol version this node does not speak.
    #[error("unsupported protocol version {found} (this node speaks {supported})")]
    UnsupportedVersion {
        /// The version in the frame.
        found: u8,
        /// The version this node speaks.
        supported: u8,
    },
    /// The frame announces an unknown message kind.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// The frame is longer than the largest frame accepted.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The body does not decode as the announced message.
    #[error("malformed {kind} body: {reason}")]
    Malformed {
        /// The announced kind's name.
        kind: &'static str,
        /// What the decoder reported.
        reason: String,
    },
}

/// What kind of failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The frame is longer than the transport's maximum; nothing was sent.
    FrameTooLarge,
    /// The transport knows no way to reach this node.
    UnknownPeer,
    /// The peer is known but cannot be reached now (down, partitioned).
    Unreachable,
    /// The peer's send queue is full; the frame was not queued.
    QueueFull,
    /// The connection handshake failed (wrong protocol, wrong network key, timeout).
    Handshake,
    /// The transport was closed.
    Closed,
    /// An incoming frame was rejected by a layer (failed authentication,
    /// replayed, malformed, or would decompress beyond the maximum frame). The
    /// frame was dropped; the transport keeps serving the next ones.
    Rejected,
    /// An I/O failure.
    Io,
    /// Another failure.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::FrameTooLarge => "frame too large",
            TransportErrorKind::UnknownPeer => "unknown peer",
            TransportErrorKind::Unreachable => "unreachable",
            TransportErrorKind::QueueFull => "queue full",
            TransportErrorKind::Handshake => "handshake failed",
            TransportErrorKind::Closed => "closed",
            TransportErrorKind::Rejected => "frame rejected",
            TransportErrorKind::Io => "i/o error",
            TransportErrorKind::Other => "failure",
        })
    }
}

/// An error from a [`Transport`](crate::Transport) or a layer over one. Names
/// the backend and keeps its own error as the source.
#[derive(Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    backend: &'static str,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} transport: {}: {}",
            self.backend, self.kind, self.message
        )
    }
}

impl std::error::Error for TransportError {
    /// The backend's own error, as its concrete type (so `downcast_ref` works).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("backend", &self.backend)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(ToString::to_string))
            .finish()
    }
}

impl TransportError {
    /// A new error of `kind` from `backend` (e.g. `"tcp"`, `"encryption"`).
    pub fn new(
        backend: &'static str,
        kind: TransportErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            backend,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the backend's own error as the source.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The backend (or layer) that failed.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Whether retrying later may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Unreachable
                | TransportErrorKind::QueueFull
                | TransportErrorKind::Io
        )
    }
}

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// An entry with the same `(author, sequence)` is already stored; nothing was written.
    AlreadyExists,
    /// An entry's sequence does not follow the author's highest stored one; nothing was written.
    NonContiguous,
    /// The stored data is damaged or unreadable.
    Corrupt,
    /// The database was written by a newer (or unknown) schema version.
    IncompatibleSchema,
    /// The backend is temporarily unavailable (busy, locked); retrying may succeed.
    Unavailable,
    /// The store was closed.
    Closed,
    /// Another backend failure.
    Other,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::AlreadyExists => "already exists",
            StoreErrorKind::NonContiguous => "non-contiguous sequence",
            StoreErrorKind::Corrupt => "corrupt data",
            StoreErrorKind::IncompatibleSchema => "incompatible schema",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Closed => "closed",
            StoreErrorKind::Other => "failure",
        })
    }
}

/// An error from a [`Store`](crate::Store) backend. Names the backend and
/// keeps the backend's own error as its source, so `gossip-core` never names
/// sqlx or RocksDB types.
#[derive(Clone)]
pub struct StoreError {
    kind: StoreErrorKind,
    backend: &'static str,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} store: {}: {}", self.backend, self.kind, self.message)
    }
}

impl std::error::Error for StoreError {
    /// The backend's own error, as its concrete type (so `downcast_ref` works).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.kind)
            .field("backend", &self.backend)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(ToString::to_string))
            .finish()
    }
}

impl StoreError {
    /// A new error of `kind` from `backend` (e.g. `"sqlite"`).
    pub fn new(backend: &'static str, kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            backend,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the backend's own error as the source.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The backend that failed.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Whether retrying the same operation may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire")]
    struct Backend;

    #[test]
    fn port_error_sources_downcast_to_the_backend_error() {
        use std::error::Error as _;
        let e = StoreError::new("test", StoreErrorKind::Other, "write").with_source(Backend);
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<Backend>())
            .is_some());
        assert_eq!(e.to_string(), "test store: failure: write");
        let t = TransportError::new("test", TransportErrorKind::Io, "send").with_source(Backend);
        assert!(t
            .source()
            .and_then(|s| s.downcast_ref::<Backend>())
            .is_some());
        assert!(t.is_transient());
    }
}
