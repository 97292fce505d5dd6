//! The wire messages. Every frame is `[protocol version][message kind][body]`;
//! see [`codec`](super::codec) for the encoding.

use serde::{Deserialize, Serialize};

use crate::domain::{
    entry_runs::{rebuild, WireRun},
    ChannelDigest, ChannelId, Delta, DigestHash, LogEntry, NodeId, StreamId, VersionVector,
};

/// The protocol version this build speaks: 7 since authors push their own
/// new entries without their author and, when the receiver holds the entry
/// before, without its link ([`AuthorPush`](super::AuthorPush)); 6 since SWIM intermediaries
/// answer a [`PingReq`] they cannot serve with a [`Nack`] (Lifeguard); 5
/// brought lazy push for large channels ([`IHave`], [`Graft`], [`Prune`]); 4 brought channel digests in
/// parts ([`DigestPart`](crate::raw::DigestPart)); 3 brought the
/// signed control log (version 2 nodes took membership from local
/// configuration, version 1 carried unsigned entries). Earlier versions are
/// refused.
pub const PROTOCOL_VERSION: u8 = 7;

/// The kind byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageKind {
    /// SWIM direct probe.
    Ping = 1,
    /// SWIM probe answer.
    Ack = 2,
    /// SWIM indirect probe request.
    PingReq = 3,
    /// Anti-entropy step 1: channel hashes.
    DigestRequest = 4,
    /// Anti-entropy step 2: full digests of the channels that differ.
    DigestResponse = 5,
    /// Anti-entropy step 3: what the requester lacks.
    DeltaRequest = 6,
    /// Anti-entropy step 4: the entries (paged).
    DeltaResponse = 7,
    /// Eager push of freshly appended entries.
    Push = 8,
    /// Lazy push: what the sender holds (large channels).
    IHave = 9,
    /// Lazy push: "send me these, and push to me eagerly".
    Graft = 10,
    /// Lazy push: "stop pushing to me eagerly".
    Prune = 11,
    /// SWIM: an intermediary got no ack from the target of a [`PingReq`].
    Nack = 12,
    /// An author's push of its own new entries, without what the receiver
    /// holds already.
    AuthorPush = 13,
}

impl MessageKind {
    /// Every kind, in kind-byte order.
    pub const ALL: [MessageKind; 13] = [
        MessageKind::Ping,
        MessageKind::Ack,
        MessageKind::PingReq,
        MessageKind::DigestRequest,
        MessageKind::DigestResponse,
        MessageKind::DeltaRequest,
        MessageKind::DeltaResponse,
        MessageKind::Push,
        MessageKind::IHave,
        MessageKind::Graft,
        MessageKind::Prune,
        MessageKind::Nack,
        MessageKind::AuthorPush,
    ];

    /// The kind for a kind byte, if known.
    #[must_use]
    pub fn from_u8(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == byte)
    }

    /// A short lowercase name, for logs and metrics labels.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Ping => "ping",
            MessageKind::Ack => "ack",
            MessageKind::PingReq => "ping_req",
            MessageKind::DigestRequest => "digest_request",
            MessageKind::DigestResponse => "digest_response",
            MessageKind::DeltaRequest => "delta_request",
            MessageKind::DeltaResponse => "delta_response",
            MessageKind::Push => "push",
            MessageKind::IHave => "ihave",
            MessageKind::Graft => "graft",
            MessageKind::Prune => "prune",
            MessageKind::Nack => "nack",
            MessageKind::AuthorPush => "author_push",
        }
    }
}

/// A member's state as gossiped by SWIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MemberState {
    /// Alive at this incarnation.
    Alive,
    /// Suspected at this incarnation (the member refutes by raising its incarnation).
    Suspect,
    /// Declared unreachable at this incarnation.
    Unreachable,
    /// Announced by the member itself as it pauses: neither probed nor
    /// suspected until it speaks again at a higher incarnation, or until
    /// [`max_dormancy`](crate::protocol::swim::SwimConfig::max_dormancy) passes.
    Dormant,
}

/// A piggybacked SWIM membership update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUpdate {
    /// The member the update is about.
    pub node: NodeId,
    /// The member's incarnation the update refers to.
    pub incarnation: u64,
    /// The state.
    pub state: MemberState,
}

/// SWIM direct probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Probe number chosen by the prober, echoed in the [`Ack`].
    pub probe: u64,
    /// The sender's incarnation.
    pub incarnation: u64,
    /// Piggybacked membership updates.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub updates: Vec<MemberUpdate>,
}

/// SWIM probe answer, direct or relayed by an intermediary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The probe number being answered.
    pub probe: u64,
    /// The node that answered the probe (the sender for a direct ack, the
    /// probed target for a relayed one).
    pub target: NodeId,
    /// The target's incarnation.
    pub incarnation: u64,
    /// Piggybacked membership updates.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub updates: Vec<MemberUpdate>,
}

/// SWIM indirect probe: "ping `target` for me and relay its ack".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReq {
    /// The requester's probe number, echoed in the relayed [`Ack`].
    pub probe: u64,
    /// The node to probe.
    pub target: NodeId,
    /// Piggybacked membership updates.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub updates: Vec<MemberUpdate>,
}

/// SWIM negative acknowledgement (Lifeguard): an intermediary asked by a
/// [`PingReq`] got no ack from `target` in time. It tells the requester
/// that its request arrived and the intermediary is alive, so a probe that
/// gets neither ack nor nack points at the requester's own slowness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nack {
    /// The requester's probe number, from its [`PingReq`].
    pub probe: u64,
    /// The node that did not answer.
    pub target: NodeId,
    /// Piggybacked membership updates.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub updates: Vec<MemberUpdate>,
}

/// A channel's short digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSummary {
    /// The channel.
    pub channel: ChannelId,
    /// The hash of the sender's [`ChannelDigest`].
    pub hash: DigestHash,
}

/// Anti-entropy step 1: the requester's channel hashes (only channels the
/// responder is a member of).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRequest {
    /// Session id chosen by the requester, echoed in every reply.
    pub session: u64,
    /// One summary per shared channel.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub channels: Vec<ChannelSummary>,
}

/// Anti-entropy step 2: the responder's full digest of every channel whose
/// hash differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestResponse {
    /// The session.
    pub session: u64,
    /// Full digests of the channels that differ.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub digests: Vec<ChannelDigest>,
}

/// What the requester holds of a stream, asking for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamWant {
    /// The channel.
    pub channel: ChannelId,
    /// The stream.
    pub stream: StreamId,
    /// The requester's version vector of the stream.
    pub have: VersionVector,
}

/// Anti-entropy step 3: the streams the requester lacks entries of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaRequest {
    /// The session.
    pub session: u64,
    /// What the requester holds of each stream it wants more of.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub wants: Vec<StreamWant>,
}

/// Anti-entropy step 4 (also sent unsolicited to repair the other direction):
/// entries the receiver lacks. Large deltas span several responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaResponse {
    /// The session.
    pub session: u64,
    /// The entries, per stream, with the sender's compaction base.
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    pub deltas: Vec<Delta>,
    /// Whether the sender holds more that did not fit: the receiver asks again.
    pub more: bool,
}

/// Eager push of freshly appended entries (on the wire as runs, like a
/// [`Delta`]'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WirePush")]
pub struct Push {
    /// The channel.
    pub channel: ChannelId,
    /// The stream.
    pub stream: StreamId,
    /// The new entries.
    #[serde(serialize_with = "crate::domain::entry_runs::serialize")]
    pub entries: Vec<LogEntry>,
}

/// A [`Push`] as decoded, before its runs are rebuilt into entries.
#[derive(Deserialize)]
struct WirePush {
    channel: ChannelId,
    stream: StreamId,
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]
    entries: Vec<WireRun>,
}

impl TryFrom<WirePush> for Push {
    type Error = String;

    fn try_from(wire: WirePush) -> Result<Self, String> {
        let (entries, _) = rebuild(&wire.channel, &wire.stream, wire.entries)?;
        Ok(Self {
            channel: wire.channel,
            stream: wire.stream,
            entries,
        })
    }
}

/// Most ranges one [`IHave`] carries; a frame announcing more is refused
/// when decoded.
pub const MAX_IHAVE_RANGES: usize = 256;

/// Most wants one [`Graft`] carries; a frame asking for more is refused
/// when decoded.
pub const MAX_GRAFT_WANTS: usize = 64;

/// One range of a lazy announcement: the sender holds `author`'s entries of
/// `stream` up to `up_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announced {
    /// The stream.
    pub stream: StreamId,
    /// The author.
    pub author: NodeId,
    /// The highest sequence of the author the sender holds.
    pub up_to: u64,
}

/// Lazy push (large channels): what the sender received since its last
/// gossip tick, sent instead of the entries to members that are not its
/// eager links. A receiver missing some grafts them after a timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IHave {
    /// The channel.
    pub channel: ChannelId,
    /// What the sender holds, at most [`MAX_IHAVE_RANGES`].
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_ihave_ranges")]
    pub ranges: Vec<Announced>,
}

/// One range a [`Graft`] asks for: `author`'s entries of `stream` after
/// `after`, up to `up_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraftWant {
    /// The stream.
    pub stream: StreamId,
    /// The author.
    pub author: NodeId,
    /// The highest sequence of the author the requester holds.
    pub after: u64,
    /// The highest sequence announced.
    pub up_to: u64,
}

/// Lazy push: "send me these entries you announced, and push the channel's
/// new entries to me eagerly from now on". Answered with [`Push`]es, within
/// the requester's serve budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graft {
    /// The channel.
    pub channel: ChannelId,
    /// What the requester lacks, at most [`MAX_GRAFT_WANTS`].
    #[serde(deserialize_with = "crate::serde_bounded::deserialize_graft_wants")]
    pub wants: Vec<GraftWant>,
}

/// Lazy push: "your push was a duplicate; only announce the channel's new
/// entries to me from now on".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prune {
    /// The channel.
    pub channel: ChannelId,
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// See [`Ping`].
    Ping(Ping),
    /// See [`Ack`].
    Ack(Ack),
    /// See [`PingReq`].
    PingReq(PingReq),
    /// See [`DigestRequest`].
    DigestRequest(DigestRequest),
    /// See [`DigestResponse`].
    DigestResponse(DigestResponse),
    /// See [`DeltaRequest`].
    DeltaRequest(DeltaRequest),
    /// See [`DeltaResponse`].
    DeltaResponse(DeltaResponse),
    /// See [`Push`].
    Push(Push),
    /// See [`IHave`].
    IHave(IHave),
    /// See [`Graft`].
    Graft(Graft),
    /// See [`Prune`].
    Prune(Prune),
    /// See [`Nack`].
    Nack(Nack),
    /// See [`AuthorPush`](super::AuthorPush).
    AuthorPush(super::AuthorPush),
}

impl Message {
    /// The message's kind.
    #[must_use]
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Ping(_) => MessageKind::Ping,
            Message::Ack(_) => MessageKind::Ack,
            Message::PingReq(_) => MessageKind::PingReq,
            Message::DigestRequest(_) => MessageKind::DigestRequest,
            Message::DigestResponse(_) => MessageKind::DigestResponse,
            Message::DeltaRequest(_) => MessageKind::DeltaRequest,
            Message::DeltaResponse(_) => MessageKind::DeltaResponse,
            Message::Push(_) => MessageKind::Push,
            Message::IHave(_) => MessageKind::IHave,
            Message::Graft(_) => MessageKind::Graft,
            Message::Prune(_) => MessageKind::Prune,
            Message::Nack(_) => MessageKind::Nack,
            Message::AuthorPush(_) => MessageKind::AuthorPush,
        }
    }
}
