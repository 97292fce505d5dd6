//! Stream requests: following a stream (`tail`) and the node's status.

use futures_util::StreamExt;
use gossip::{Coordinator, StreamId, VersionVector};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::error::{one_line, CliResult};

use super::*;

/// Sends a stream's entries (unless `new_only`: from what the node holds
/// when the request is read), then new ones as they come, each once, until
/// the client goes away: the node's
/// [`subscribe_from`](gossip::StreamHandle::subscribe_from), which reads
/// the history a page at a time and fills from the store whatever it
/// missed while the client was slow.
pub(crate) async fn tail<R, W>(
    context: &ControlContext,
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
    let node = &context.node;
    let opened = async {
        let channel = resolve_channel(node, channel).await?;
        let stream = StreamId::new(stream)?;
        let handle = node.channel(channel).await?.stream(stream).await?;
        let from = if new_only {
            handle.version().await?
        } else {
            VersionVector::new()
        };
        CliResult::Ok(handle.subscribe_from(from))
    };
    let mut feed = match opened.await {
        Ok(feed) => feed,
        Err(error) => {
            let message = one_line(&error);
            return send(&mut write, &Response::Error { message }).await;
        }
    };
    let mut scratch = [0u8; 256];
    loop {
        // Both branches are cancel safe: a feed's store read in progress
        // stays with the feed.
        tokio::select! {
            item = feed.next() => match item {
                Some(Ok(entry)) => {
                    send(&mut write, &Response::Entry { entry: (&entry).into() }).await?;
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

pub(crate) async fn status(node: &Coordinator) -> Result<StatusView, gossip::Error> {
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
        // The control log first (its size is worth seeing), then the
        // application's streams.
        let stream_ids = std::iter::once(StreamId::control()).chain(channel.streams().await?);
        for stream_id in stream_ids {
            let handle = channel.stream(stream_id.clone()).await?;
            let version = handle.version().await?;
            let stats = handle.stats().await?;
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
                last_sync_ms_ago: peer.last_sync_ms_ago,
                lacking_entries: (!peer.streams.is_empty()).then(|| peer.lacking_entries()),
                lacking_bytes: peer.streams.iter().map(|s| s.lacking_bytes).sum(),
                lag_ms: peer.lag_ms(),
                clock_skew_ms: peer.clock_skew_ms,
            })
            .collect(),
        channels,
        streams,
        buffered_entries: health.buffered_entries,
        frames_in: health.stats.frames_in,
        frames_out: health.stats.frames_out,
        bytes_in: health.stats.bytes_in,
        bytes_out: health.stats.bytes_out,
        refused: refused(&health),
    })
}

/// The non-zero counters of what the node and its transport refused or
/// dropped, by name.
fn refused(health: &gossip::Health) -> Vec<(String, u64)> {
    let s = &health.stats;
    let node = [
        ("malformed_frames", s.malformed_frames),
        ("unknown_peer_frames", s.unknown_peer_frames),
        ("throttled_frames", s.throttled_frames),
        ("entries_rejected", s.entries_rejected),
        ("equivocations", s.equivocations),
        ("serve_throttled", s.serve_throttled),
        ("unsolicited_sync", s.unsolicited_sync),
        ("limit_refused", s.limit_refused),
        ("buffer_refused", s.buffer_refused),
        ("buffer_expired", s.buffer_expired),
        ("lazy_refused", s.lazy_refused),
    ];
    let transport = health
        .transport
        .iter()
        .filter(|c| c.name.contains("refused") || c.name.contains("oversized"))
        .map(|c| (c.name, c.value));
    node.into_iter()
        .chain(transport)
        .filter(|(_, value)| *value > 0)
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}
