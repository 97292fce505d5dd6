//! Stream requests: following a stream (`tail`) and the node's status.

use futures_util::StreamExt;
use gossip::{Coordinator, EntryKey, LogEntry, Store, StreamId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::error::{one_line, CliResult};

use super::*;

/// How many entries `tail` reads from the store at a time: what it holds of
/// a stream's history at once.
pub(crate) const TAIL_PAGE: usize = 256;

/// Sends a stream's entries (unless `new_only`) read `page` at a time, then
/// new ones as they come, each once, until the client goes away.
///
/// The subscription starts before the store's version vector is read; the
/// history sends exactly the entries that version covers (each author's
/// sequences up to it; the store holds each author's log as a contiguous
/// prefix and paging by key visits every entry held throughout exactly
/// once), and the subscription everything above it. What is kept besides
/// one page is one sequence per author.
pub(crate) async fn tail<R, W>(
    node: &Coordinator,
    channel: &str,
    stream: &str,
    new_only: bool,
    page: usize,
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
    // Subscribe before reading the version, so nothing falls between the
    // two: an entry the version covers was listed (or is skipped, with
    // `new_only`); one above it comes live.
    let mut live = handle.subscribe();
    let held = match handle.version().await {
        Ok(held) => held,
        Err(error) => {
            let message = one_line(&error);
            return send(&mut write, &Response::Error { message }).await;
        }
    };
    let listed = |entry: &LogEntry| entry.sequence <= held.get(&entry.author);
    if !new_only {
        let page = page.max(1);
        let mut after: Option<EntryKey> = None;
        loop {
            let entries = match handle.entries_page(after.as_ref(), page).await {
                Ok(entries) => entries,
                Err(error) => {
                    let message = one_line(&error);
                    return send(&mut write, &Response::Error { message }).await;
                }
            };
            let done = entries.len() < page;
            after = entries.last().map(LogEntry::key);
            for entry in entries.iter().filter(|entry| listed(entry)) {
                send(
                    &mut write,
                    &Response::Entry {
                        entry: entry.into(),
                    },
                )
                .await?;
            }
            if done {
                break;
            }
        }
    }
    let mut scratch = [0u8; 256];
    loop {
        tokio::select! {
            item = live.next() => match item {
                Some(Ok(entry)) => {
                    if listed(&entry) {
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

pub(crate) async fn status(
    node: &Coordinator,
    store: &dyn Store,
) -> Result<StatusView, gossip::Error> {
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
