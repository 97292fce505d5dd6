//! The local control endpoint: line-delimited JSON over TCP.
//!
//! A client connects, sends one [`Request`] line, and reads [`Response`]
//! lines: one for `append` and `status`, then the connection closes; for
//! `tail`, entries until the client disconnects or the node stops.

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use futures_util::StreamExt;
use std::sync::Arc;

use gossip::{ChannelId, Coordinator, LogEntry, NodeId, Store, StreamId};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

use crate::error::{CliError, CliResult};

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

/// A node's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatusView {
    pub(crate) node: String,
    pub(crate) state: String,
    pub(crate) peers: Vec<PeerView>,
    pub(crate) channels: Vec<String>,
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
    /// The request failed.
    Error { message: String },
}

/// Serves the control endpoint until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, node: Coordinator, store: Arc<dyn Store>) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let node = node.clone();
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(error) = handle(socket, node, store).await {
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

async fn handle(
    socket: TcpStream,
    node: Coordinator,
    store: Arc<dyn Store>,
) -> std::io::Result<()> {
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
    match request {
        Request::Append {
            channel,
            stream,
            payload,
        } => {
            let response = match append(&node, &channel, &stream, payload).await {
                Ok(entry) => Response::Appended {
                    entry: EntryView::from(&entry),
                },
                Err(error) => Response::Error {
                    message: crate::error::one_line(&error),
                },
            };
            send(&mut write, &response).await
        }
        Request::Status => {
            let response = match status(&node, store.as_ref()).await {
                Ok(status) => Response::Status { status },
                Err(error) => Response::Error {
                    message: crate::error::one_line(&error),
                },
            };
            send(&mut write, &response).await
        }
        Request::Tail {
            channel,
            stream,
            new_only,
        } => tail(&node, &channel, &stream, new_only, reader, write).await,
    }
}

async fn append(
    node: &Coordinator,
    channel: &str,
    stream: &str,
    payload: String,
) -> Result<LogEntry, gossip::Error> {
    let handle = node
        .channel(ChannelId::new(channel)?)
        .await?
        .stream(StreamId::new(stream)?)
        .await?;
    handle.append(payload.into_bytes()).await
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
        node.channel(ChannelId::new(channel)?)
            .await?
            .stream(StreamId::new(stream)?)
            .await
    };
    let handle = match opened.await {
        Ok(handle) => handle,
        Err(error) => {
            let message = crate::error::one_line(&error);
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
                let message = crate::error::one_line(&error);
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
                    let message = crate::error::one_line(&error);
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
        channels.push(channel_id.to_string());
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

    /// The single answer to an `append` or `status`.
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
