//! The local control endpoint: line-delimited JSON over TCP.
//!
//! A client connects, sends one [`Request`] line, and reads [`Response`]
//! lines: one for every request but `tail`, then the connection closes; for
//! `tail`, entries until the client disconnects or the node stops.
//!
//! A request's `channel` is a channel id held by the node (`main~…`) or a
//! name (`main`): the one held channel of that name.

use std::{collections::HashSet, net::SocketAddr, sync::Arc, time::Duration};

use futures_util::StreamExt;
use gossip::{ChannelId, Coordinator, LogEntry, NodeId, Role, Store, StreamId, TcpTransport};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

use crate::{
    cli::parse_addr,
    config::{parse_invitation, parse_node_id},
    error::{one_line, CliError, CliResult},
    node::register_inviter,
};

/// The longest request line a server reads, and the longest response line a
/// client reads (an entry of the largest payload, escaped, fits).
pub(crate) const MAX_LINE: u64 = 1024 * 1024;

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
fn default_role() -> String {
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

/// What the control endpoint serves: the node, and what it needs besides.
#[derive(Clone)]
pub(crate) struct ControlContext {
    /// The node.
    pub(crate) node: Coordinator,
    /// Its store (for stream statistics).
    pub(crate) store: Arc<dyn Store>,
    /// Its TCP transport, told where inviters listen on `join`.
    pub(crate) tcp: Arc<TcpTransport>,
    /// Where its gossip listens: the address `invite` puts in invitations.
    pub(crate) gossip_addr: SocketAddr,
}

/// Serves the control endpoint until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, context: ControlContext) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let context = context.clone();
                tokio::spawn(async move {
                    if let Err(error) = handle(socket, context).await {
                        tracing::debug!(%peer, %error, "control connection ended");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "control endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(socket: TcpStream, context: ControlContext) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    let Some(line) = read_line(&mut reader).await? else {
        return Ok(());
    };
    let request = match serde_json::from_str::<Request>(&line) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("bad request: {error}");
            return send(&mut write, &Response::Error { message }).await;
        }
    };
    if let Request::Tail {
        channel,
        stream,
        new_only,
    } = request
    {
        return tail(&context.node, &channel, &stream, new_only, reader, write).await;
    }
    let response = answer(&context, request)
        .await
        .unwrap_or_else(|error| Response::Error {
            message: one_line(&error),
        });
    send(&mut write, &response).await
}

/// The single answer to any request but `tail`.
pub(crate) async fn answer(context: &ControlContext, request: Request) -> CliResult<Response> {
    let node = &context.node;
    match request {
        Request::Append {
            channel,
            stream,
            payload,
        } => {
            let entry = append(node, &channel, &stream, payload).await?;
            Ok(Response::Appended {
                entry: EntryView::from(&entry),
            })
        }
        Request::Status => Ok(Response::Status {
            status: status(node, context.store.as_ref()).await?,
        }),
        Request::Invite {
            channel,
            member,
            role,
            addresses,
        } => invite(context, &channel, &member, &role, addresses).await,
        Request::Join { invitation } => join(context, &invitation).await,
        Request::Members { channel } => {
            let id = resolve_channel(node, &channel).await?;
            let members = node.channel(id.clone()).await?.members().await?;
            Ok(Response::Members {
                channel: id.to_string(),
                node: node.local_id().to_string(),
                members: members
                    .into_iter()
                    .map(|(id, member)| MemberView {
                        id: id.to_string(),
                        role: member.role.to_string(),
                        label: member.label,
                    })
                    .collect(),
            })
        }
        Request::Remove { channel, member } => {
            let id = resolve_channel(node, &channel).await?;
            let member = parse_node_id("node id", &member)?;
            let handle = node.channel(id.clone()).await?;
            let was_member = handle.members().await?.iter().any(|(m, _)| *m == member);
            handle.remove_member(&member).await?;
            if was_member {
                tracing::info!(channel = %id, %member, "member removed");
            }
            Ok(Response::Removed {
                channel: id.to_string(),
                member: member.to_string(),
                was_member,
            })
        }
        Request::Tail { .. } => Err(CliError::Invalid(
            "tail answers with a stream of entries, not one answer".into(),
        )),
    }
}

/// The held channel `text` names: its full id, or its name when exactly
/// one held channel has it.
pub(crate) async fn resolve_channel(node: &Coordinator, text: &str) -> CliResult<ChannelId> {
    let held = node.channels().await?;
    let text = text.trim();
    if let Some(id) = held.iter().find(|id| id.as_str() == text) {
        return Ok(id.clone());
    }
    let named: Vec<&ChannelId> = held.iter().filter(|id| id.name() == text).collect();
    let list = |ids: &[&ChannelId]| {
        ids.iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] if held.is_empty() => Err(CliError::Invalid(format!(
            "this node holds no channel {text:?}, nor any other: `gossip-node run --channel NAME` \
             creates one it owns, `gossip-node join INVITATION` joins one"
        ))),
        [] => Err(CliError::Invalid(format!(
            "this node holds no channel {text:?}; it holds {} (give a name or a full id)",
            list(&held.iter().collect::<Vec<_>>())
        ))),
        many => Err(CliError::Invalid(format!(
            "channel name {text:?} is ambiguous on this node: it names {}; give the full id",
            list(many)
        ))),
    }
}

async fn invite(
    context: &ControlContext,
    channel: &str,
    member: &str,
    role: &str,
    addresses: Vec<String>,
) -> CliResult<Response> {
    let node = &context.node;
    let id = resolve_channel(node, channel).await?;
    let member = parse_node_id("node id", member)?;
    let role: Role = role.parse()?;
    if role == Role::Owner {
        return Err(CliError::Invalid(
            "a channel has one owner, the node its id is derived from: invite as reader, writer \
             or admin"
                .into(),
        ));
    }
    if member == *node.local_id() {
        return Err(CliError::Invalid(format!(
            "{member} is this node: invite another node (`gossip-node id KEY_FILE` prints its id)"
        )));
    }
    let addresses = if addresses.is_empty() {
        if context.gossip_addr.ip().is_unspecified() {
            return Err(CliError::Invalid(format!(
                "this node listens on {}, which other nodes cannot dial: pass --address HOST:PORT \
                 with the address they reach it at",
                context.gossip_addr
            )));
        }
        vec![context.gossip_addr.to_string()]
    } else {
        addresses
            .iter()
            .map(|address| {
                parse_addr("--address", address)
                    .map(|addr| addr.to_string())
                    .map_err(CliError::Invalid)
            })
            .collect::<CliResult<Vec<_>>>()?
    };
    let handle = node.channel(id.clone()).await?;
    if handle.info().await?.owner() == &member {
        return Err(CliError::Invalid(format!(
            "{member} owns channel {id}: it is a member already"
        )));
    }
    let invitation = handle.invite_at(member.clone(), role, addresses).await?;
    // The new member dials this node: frames from a node that is not a peer
    // are dropped.
    let peers = node.health().await?.peers;
    if !peers.iter().any(|peer| peer.id == member) {
        node.add_peer(member.clone()).await?;
    }
    tracing::info!(channel = %id, %member, %role, "member invited");
    Ok(Response::Invited {
        invitation: invitation.to_string(),
        channel: id.to_string(),
        member: member.to_string(),
        role: role.to_string(),
    })
}

async fn join(context: &ControlContext, text: &str) -> CliResult<Response> {
    let invitation = parse_invitation("the join request", text)?;
    let skipped = register_inviter(&context.tcp, &invitation);
    let handle = context.node.join(&invitation).await?;
    let role = handle.role().await?;
    tracing::info!(channel = %handle.id(), inviter = %invitation.inviter(), "joined by invitation");
    Ok(Response::Joined {
        channel: handle.id().to_string(),
        inviter: invitation.inviter().to_string(),
        role: role.map(|role| role.to_string()),
        skipped_addresses: skipped,
    })
}

async fn append(
    node: &Coordinator,
    channel: &str,
    stream: &str,
    payload: String,
) -> CliResult<LogEntry> {
    let channel = resolve_channel(node, channel).await?;
    let handle = node
        .channel(channel)
        .await?
        .stream(StreamId::new(stream)?)
        .await?;
    Ok(handle.append(payload.into_bytes()).await?)
}

async fn tail<R, W>(
    node: &Coordinator,
    channel: &str,
    stream: &str,
    new_only: bool,
    mut reader: R,
    mut write: W,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let opened = async {
        let channel = resolve_channel(node, channel).await?;
        CliResult::Ok(
            node.channel(channel)
                .await?
                .stream(StreamId::new(stream)?)
                .await?,
        )
    };
    let handle = match opened.await {
        Ok(handle) => handle,
        Err(error) => {
            let message = one_line(&error);
            return send(&mut write, &Response::Error { message }).await;
        }
    };
    // Subscribe before listing, so nothing falls between the two; entries
    // seen in the listing are skipped when they come again live.
    let mut live = handle.subscribe();
    let mut seen: HashSet<(NodeId, u64)> = HashSet::new();
    if !new_only {
        let entries = match handle.entries().await {
            Ok(entries) => entries,
            Err(error) => {
                let message = one_line(&error);
                return send(&mut write, &Response::Error { message }).await;
            }
        };
        for entry in &entries {
            seen.insert((entry.author.clone(), entry.sequence));
            send(
                &mut write,
                &Response::Entry {
                    entry: entry.into(),
                },
            )
            .await?;
        }
    }
    let mut scratch = [0u8; 256];
    loop {
        tokio::select! {
            item = live.next() => match item {
                Some(Ok(entry)) => {
                    if seen.remove(&(entry.author.clone(), entry.sequence)) {
                        continue;
                    }
                    send(&mut write, &Response::Entry { entry: (&entry).into() }).await?;
                }
                Some(Err(gossip::Error::Lagged { missed })) => {
                    tracing::warn!(missed, "tail subscriber lagged");
                }
                Some(Err(error)) => {
                    let message = one_line(&error);
                    return send(&mut write, &Response::Error { message }).await;
                }
                None => return Ok(()),
            },
            read = reader.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return Ok(()), // the client went away
                Ok(_) => {}
            },
        }
    }
}

async fn status(node: &Coordinator, store: &dyn Store) -> Result<StatusView, gossip::Error> {
    let health = node.health().await?;
    let mut channels = Vec::new();
    let mut streams = Vec::new();
    for channel_id in node.channels().await? {
        let channel = node.channel(channel_id.clone()).await?;
        let info = channel.info().await?;
        channels.push(ChannelView {
            id: channel_id.to_string(),
            name: channel_id.name().to_owned(),
            role: info.role(node.local_id()).map(|role| role.to_string()),
            members: info.members().len(),
        });
        for stream_id in store.streams(&channel_id).await? {
            let handle = channel.stream(stream_id.clone()).await?;
            let version = handle.version().await?;
            let stats = store.stats(&channel_id, &stream_id).await?;
            streams.push(StreamView {
                channel: channel_id.to_string(),
                stream: stream_id.to_string(),
                entries: stats.entries,
                bytes: stats.bytes,
                version: version
                    .iter()
                    .map(|(author, seq)| (author.to_string(), seq))
                    .collect(),
            });
        }
    }
    Ok(StatusView {
        node: node.local_id().to_string(),
        state: format!("{:?}", health.state).to_lowercase(),
        peers: health
            .peers
            .iter()
            .map(|peer| PeerView {
                id: peer.id.to_string(),
                status: peer.status.to_string(),
                last_heard_ms_ago: peer.last_heard_ms_ago,
            })
            .collect(),
        channels,
        streams,
        buffered_entries: health.buffered_entries,
        frames_in: health.stats.frames_in,
        frames_out: health.stats.frames_out,
        bytes_in: health.stats.bytes_in,
        bytes_out: health.stats.bytes_out,
    })
}

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at end of input.
pub(crate) async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    let read = (&mut *reader).take(MAX_LINE).read_line(&mut line).await?;
    if read == 0 {
        return Ok(None);
    }
    if !line.ends_with('\n') && read as u64 >= MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long",
        ));
    }
    Ok(Some(line))
}

/// Writes one JSON line.
pub(crate) async fn send<W: AsyncWrite + Unpin, T: Serialize>(
    write: &mut W,
    message: &T,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await
}

/// A client connection to a running node's control endpoint.
pub(crate) struct ControlClient {
    addr: String,
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: tokio::net::tcp::OwnedWriteHalf,
}

impl ControlClient {
    /// Connects (within 5 s) and sends `request`.
    pub(crate) async fn connect(addr: &str, request: &Request) -> CliResult<Self> {
        let unreachable = |reason: String| CliError::ControlUnreachable {
            addr: addr.to_owned(),
            reason,
        };
        let target: SocketAddr = addr.trim().parse().map_err(|_| {
            CliError::Invalid(format!(
                "invalid --control {addr:?}: expected HOST:PORT as printed by `gossip-node run`"
            ))
        })?;
        let socket = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target))
            .await
            .map_err(|_| unreachable("timed out after 5 s".into()))?
            .map_err(|error| unreachable(error.to_string()))?;
        let (read, mut write) = socket.into_split();
        send(&mut write, request)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        Ok(Self {
            addr: addr.to_owned(),
            reader: BufReader::new(read),
            write,
        })
    }

    /// The next response, `None` when the node closed the connection.
    pub(crate) async fn next(&mut self) -> CliResult<Option<Response>> {
        let broken = |reason: String| CliError::Control {
            addr: self.addr.clone(),
            reason,
        };
        let Some(line) = read_line(&mut self.reader)
            .await
            .map_err(|error| broken(error.to_string()))?
        else {
            return Ok(None);
        };
        serde_json::from_str(&line).map(Some).map_err(|error| {
            broken(format!(
                "unexpected answer ({error}); is this a gossip-node control address?"
            ))
        })
    }

    /// The single answer to any request but `tail`.
    pub(crate) async fn answer(mut self) -> CliResult<Response> {
        let answer = self.next().await?;
        let _ = self.write.shutdown().await;
        match answer {
            Some(Response::Error { message }) => Err(CliError::Remote(message)),
            Some(response) => Ok(response),
            None => Err(CliError::Control {
                addr: self.addr,
                reason: "closed without an answer".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let request = Request::Append {
            channel: "main".into(),
            stream: "events".into(),
            payload: "hi".into(),
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            json,
            r#"{"op":"append","channel":"main","stream":"events","payload":"hi"}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
        let tail: Request =
            serde_json::from_str(r#"{"op":"tail","channel":"c","stream":"s"}"#).unwrap();
        assert_eq!(
            tail,
            Request::Tail {
                channel: "c".into(),
                stream: "s".into(),
                new_only: false
            }
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"status"}"#).unwrap(),
            Request::Status
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }

    #[test]
    fn membership_requests_are_tagged_json_lines() {
        let invite: Request =
            serde_json::from_str(r#"{"op":"invite","channel":"main","member":"node1x"}"#).unwrap();
        assert_eq!(
            invite,
            Request::Invite {
                channel: "main".into(),
                member: "node1x".into(),
                role: "writer".into(),
                addresses: Vec::new(),
            }
        );
        for (json, request) in [
            (
                r#"{"op":"join","invitation":"gossip-invite1x"}"#,
                Request::Join {
                    invitation: "gossip-invite1x".into(),
                },
            ),
            (
                r#"{"op":"members","channel":"main"}"#,
                Request::Members {
                    channel: "main".into(),
                },
            ),
            (
                r#"{"op":"remove","channel":"main","member":"node1x"}"#,
                Request::Remove {
                    channel: "main".into(),
                    member: "node1x".into(),
                },
            ),
        ] {
            assert_eq!(serde_json::from_str::<Request>(json).unwrap(), request);
            assert_eq!(serde_json::to_string(&request).unwrap(), json);
        }
    }

    /// A node (not started: commands are answered all the same) with an
    /// in-memory store and a TCP transport on loopback, and its context.
    async fn context(seed: &str, listen: SocketAddr) -> ControlContext {
        let identity = gossip::Identity::from_seed(seed);
        let tcp = crate::node::bind_tcp(&identity, listen, None)
            .await
            .unwrap();
        let gossip_addr = tcp.local_addr();
        let store: gossip::DynStore = Arc::new(gossip::MemoryStore::new());
        let node = Coordinator::builder(identity)
            .store(store.clone())
            .transport(tcp.clone())
            .build()
            .await
            .unwrap();
        ControlContext {
            node,
            store,
            tcp,
            gossip_addr,
        }
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    async fn ask(context: &ControlContext, request: Request) -> Result<Response, String> {
        answer(context, request)
            .await
            .map_err(|error| one_line(&error))
    }

    #[tokio::test]
    async fn channels_are_named_by_id_or_by_an_unambiguous_name() {
        let a = context("a", loopback()).await;
        let error = resolve_channel(&a.node, "main")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("nor any other"), "{error}");
        let main = a.node.create_channel("main").await.unwrap();
        let other = a.node.create_channel("other").await.unwrap();
        assert_eq!(&resolve_channel(&a.node, "main").await.unwrap(), main.id());
        assert_eq!(
            &resolve_channel(&a.node, other.id().as_str()).await.unwrap(),
            other.id()
        );
        let error = resolve_channel(&a.node, "nope")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(main.id().as_str()), "{error}");
        assert!(error.contains(other.id().as_str()), "{error}");
        // Another owner's "main", joined: the name no longer says which.
        let b = gossip::NodeId::from_seed("b");
        let theirs = gossip::Invitation::new(
            ChannelId::derive(&b, "main").unwrap(),
            b.clone(),
            b,
            vec!["127.0.0.1:9".into()],
        )
        .unwrap();
        let Response::Joined { channel, role, .. } = ask(
            &a,
            Request::Join {
                invitation: theirs.to_string(),
            },
        )
        .await
        .unwrap() else {
            panic!("not joined")
        };
        assert_eq!(channel, theirs.channel().as_str());
        assert_eq!(role, None, "the control log has not arrived");
        let error = resolve_channel(&a.node, "main")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("ambiguous"), "{error}");
        assert!(error.contains(main.id().as_str()), "{error}");
        assert!(error.contains(theirs.channel().as_str()), "{error}");
        assert_eq!(
            &resolve_channel(&a.node, theirs.channel().as_str())
                .await
                .unwrap(),
            theirs.channel()
        );
    }

    #[tokio::test]
    async fn invite_members_and_remove_through_the_endpoint() {
        let a = context("a", loopback()).await;
        let main = a.node.create_channel("main").await.unwrap();
        let b = gossip::NodeId::from_seed("b");
        let Response::Invited {
            invitation,
            channel,
            role,
            ..
        } = ask(
            &a,
            Request::Invite {
                channel: "main".into(),
                member: b.to_string(),
                role: "reader".into(),
                addresses: Vec::new(),
            },
        )
        .await
        .unwrap()
        else {
            panic!("not invited")
        };
        assert_eq!(
            (channel.as_str(), role.as_str()),
            (main.id().as_str(), "reader")
        );
        let invitation: gossip::Invitation = invitation.parse().unwrap();
        assert_eq!(invitation.channel(), main.id());
        assert_eq!(invitation.inviter(), a.node.local_id());
        assert_eq!(invitation.addresses(), [a.gossip_addr.to_string()]);
        let peers = a.node.health().await.unwrap().peers;
        assert!(
            peers.iter().any(|peer| peer.id == b),
            "the invited node is a peer"
        );

        let Response::Members { members, node, .. } = ask(
            &a,
            Request::Members {
                channel: "main".into(),
            },
        )
        .await
        .unwrap() else {
            panic!("not members")
        };
        assert_eq!(node, a.node.local_id().to_string());
        let roles: Vec<(String, String)> = members
            .into_iter()
            .map(|member| (member.id, member.role))
            .collect();
        assert!(
            roles.contains(&(b.to_string(), "reader".into())),
            "{roles:?}"
        );
        assert!(roles.contains(&(node.clone(), "owner".into())), "{roles:?}");

        let remove = || Request::Remove {
            channel: "main".into(),
            member: b.to_string(),
        };
        let removed = ask(&a, remove()).await.unwrap();
        assert!(
            matches!(
                removed,
                Response::Removed {
                    was_member: true,
                    ..
                }
            ),
            "{removed:?}"
        );
        let again = ask(&a, remove()).await.unwrap();
        assert!(
            matches!(
                again,
                Response::Removed {
                    was_member: false,
                    ..
                }
            ),
            "{again:?}"
        );

        let status = status(&a.node, a.store.as_ref()).await.unwrap();
        let view = status.channels.first().unwrap();
        assert_eq!(
            (view.name.as_str(), view.role.as_deref(), view.members),
            ("main", Some("owner"), 1)
        );
    }

    #[tokio::test]
    async fn bad_membership_requests_are_explained() {
        let a = context("a", loopback()).await;
        a.node.create_channel("main").await.unwrap();
        let b = gossip::NodeId::from_seed("b").to_string();
        let invite = |member: &str, role: &str, addresses: Vec<String>| Request::Invite {
            channel: "main".into(),
            member: member.into(),
            role: role.into(),
            addresses,
        };
        let error = ask(&a, invite("bob", "writer", vec![])).await.unwrap_err();
        assert!(error.contains("gossip-node id"), "{error}");
        let error = ask(&a, invite(&b, "owner", vec![])).await.unwrap_err();
        assert!(error.contains("one owner"), "{error}");
        let error = ask(&a, invite(&b, "boss", vec![])).await.unwrap_err();
        assert!(error.contains("unknown role"), "{error}");
        let me = a.node.local_id().to_string();
        let error = ask(&a, invite(&me, "writer", vec![])).await.unwrap_err();
        assert!(error.contains("this node"), "{error}");
        let error = ask(&a, invite(&b, "writer", vec!["nowhere".into()]))
            .await
            .unwrap_err();
        assert!(error.contains("--address"), "{error}");
        let error = ask(
            &a,
            Request::Join {
                invitation: "gossip-invite1garbage".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(error.contains("invalid invitation"), "{error}");

        // Listening on every interface: the invitation needs an address
        // others can dial.
        let any = context("c", SocketAddr::from(([0, 0, 0, 0], 0))).await;
        any.node.create_channel("main").await.unwrap();
        let error = ask(&any, invite(&b, "writer", vec![])).await.unwrap_err();
        assert!(error.contains("--address"), "{error}");
        let answer = ask(&any, invite(&b, "writer", vec!["192.0.2.1:7000".into()]))
            .await
            .unwrap();
        let Response::Invited { invitation, .. } = answer else {
            panic!("not invited: {answer:?}")
        };
        let invitation: gossip::Invitation = invitation.parse().unwrap();
        assert_eq!(invitation.addresses(), ["192.0.2.1:7000"]);
    }

    #[tokio::test]
    async fn long_lines_are_refused() {
        let data = vec![b'x'; usize::try_from(MAX_LINE).unwrap() + 10];
        let mut reader = BufReader::new(&data[..]);
        assert!(read_line(&mut reader).await.is_err());
        let mut reader = BufReader::new(&b"ok\n"[..]);
        assert_eq!(read_line(&mut reader).await.unwrap().unwrap(), "ok\n");
        assert!(read_line(&mut reader).await.unwrap().is_none());
    }
}
