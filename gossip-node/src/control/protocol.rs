//! The control protocol: requests, answers, and the views they carry.

use gossip::{LogEntry, Role};
use serde::{Deserialize, Serialize};

/// The version of the control protocol. Version 1: every request line
/// carries `"v":1` and the node's control token, `"token":"<64 hex>"`,
/// beside its `op` and fields.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// A request line as a client sends it: the protocol version, the token,
/// and the request's own fields, in one JSON object.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<'a> {
    /// [`PROTOCOL_VERSION`].
    pub(crate) v: u32,
    /// The control token, as hex.
    pub(crate) token: &'a str,
    /// The request.
    #[serde(flatten)]
    pub(crate) request: &'a Request,
}

/// What the node reads of a request line before anything else: the
/// protocol version and the token (either may be missing; other fields are
/// ignored).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Credentials {
    /// The protocol version the client speaks.
    #[serde(default)]
    pub(crate) v: Option<u64>,
    /// The control token, as hex.
    #[serde(default)]
    pub(crate) token: Option<String>,
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    /// Append `payload` to a stream.
    Append {
        channel: String,
        stream: String,
        payload: String,
    },
    /// Send the stream's entries (unless `new_only`), then new ones as they come.
    Tail {
        channel: String,
        stream: String,
        #[serde(default)]
        new_only: bool,
    },
    /// The node's status.
    Status,
    /// Add `member` to a channel with `role` (`reader`, `writer` or
    /// `admin`; default `writer`) and answer the invitation it joins with,
    /// reaching this node at `addresses` (default: its gossip listen
    /// address). The member also becomes a peer of this node.
    Invite {
        channel: String,
        member: String,
        #[serde(default = "default_role")]
        role: String,
        #[serde(default)]
        addresses: Vec<String>,
    },
    /// Join the channel of an invitation (its text form): the inviter's
    /// addresses go to the TCP transport, and it becomes a peer.
    Join { invitation: String },
    /// A channel's members.
    Members { channel: String },
    /// Remove `member` from a channel.
    Remove { channel: String, member: String },
}

/// The role `invite` gives when the request names none.
pub(crate) fn default_role() -> String {
    Role::Writer.to_string()
}

/// One entry, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EntryView {
    pub(crate) author: String,
    pub(crate) sequence: u64,
    pub(crate) timestamp: String,
    pub(crate) payload: String,
}

impl From<&LogEntry> for EntryView {
    fn from(entry: &LogEntry) -> Self {
        Self {
            author: entry.author.to_string(),
            sequence: entry.sequence,
            timestamp: entry.timestamp.to_string(),
            payload: String::from_utf8_lossy(&entry.payload).into_owned(),
        }
    }
}

/// A peer in a status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerView {
    pub(crate) id: String,
    pub(crate) status: String,
    pub(crate) last_heard_ms_ago: Option<u64>,
    /// Since an anti-entropy exchange with it last completed.
    #[serde(default)]
    pub(crate) last_sync_ms_ago: Option<u64>,
    /// Entries this node holds that it lacks, over the streams it is known
    /// about (`None`: nothing known of it yet).
    #[serde(default)]
    pub(crate) lacking_entries: Option<u64>,
    /// Their payload bytes.
    #[serde(default)]
    pub(crate) lacking_bytes: u64,
    /// The age of the oldest entry it lacks, ms.
    #[serde(default)]
    pub(crate) lag_ms: Option<u64>,
    /// The estimated offset of its clock, ms (positive: ahead).
    #[serde(default)]
    pub(crate) clock_skew_ms: Option<i64>,
}

/// A stream in a status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StreamView {
    pub(crate) channel: String,
    pub(crate) stream: String,
    pub(crate) entries: u64,
    /// Payload bytes held.
    pub(crate) bytes: u64,
    /// Highest contiguous sequence held per author.
    pub(crate) version: Vec<(String, u64)>,
}

/// A channel in a status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChannelView {
    /// The channel's id (`name~…`).
    pub(crate) id: String,
    /// Its name part.
    pub(crate) name: String,
    /// This node's role; `None` until the control log says it is a member
    /// (just after joining), or once it was removed.
    pub(crate) role: Option<String>,
    /// How many members it has, the owner included, as this node knows.
    pub(crate) members: usize,
}

/// A member of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MemberView {
    /// Its node id.
    pub(crate) id: String,
    /// `owner`, `admin`, `writer` or `reader`.
    pub(crate) role: String,
    /// The label the admin who added it gave (may be empty).
    pub(crate) label: String,
}

/// A node's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatusView {
    pub(crate) node: String,
    pub(crate) state: String,
    pub(crate) peers: Vec<PeerView>,
    pub(crate) channels: Vec<ChannelView>,
    pub(crate) streams: Vec<StreamView>,
    /// Entries received out of order, waiting for the gap before them.
    pub(crate) buffered_entries: usize,
    pub(crate) frames_in: u64,
    pub(crate) frames_out: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    /// What the node and its transport refused or dropped to protect
    /// themselves (non-zero counters only, by name).
    #[serde(default)]
    pub(crate) refused: Vec<(String, u64)>,
}

/// What the node answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Response {
    /// The entry `append` wrote.
    Appended { entry: EntryView },
    /// One entry of a `tail`.
    Entry { entry: EntryView },
    /// The answer to `status`.
    Status { status: StatusView },
    /// The answer to `invite`: the invitation's text.
    Invited {
        invitation: String,
        channel: String,
        member: String,
        role: String,
    },
    /// The answer to `join`: the channel joined, this node's role in it if
    /// the control log has arrived already, and the invitation's addresses
    /// that are not TCP addresses (not used).
    Joined {
        channel: String,
        inviter: String,
        role: Option<String>,
        skipped_addresses: Vec<String>,
    },
    /// The answer to `members`; `node` is this node's id.
    Members {
        channel: String,
        node: String,
        members: Vec<MemberView>,
    },
    /// The answer to `remove`: whether `member` was a member (removing a
    /// non-member changes nothing).
    Removed {
        channel: String,
        member: String,
        was_member: bool,
    },
    /// The request failed.
    Error { message: String },
}
