//! Stream requests: following a stream (`tail`) and the node's status.

use futures_util::StreamExt;
use gossip::{ChannelId, Coordinator, EntryKey, LogEntry, NodeId, Store, StreamId, VersionVector};
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
/// once), and the subscription everything above it. Live entries arrive in
/// each author's sequence order: one below what was sent is skipped, one
/// past a gap (the subscription lagged while the client was slow) has the
/// gap filled from the store first, and a lag fills every author up to the
/// store's version. What is kept besides one page is one sequence per
/// author.
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
        let handle = node
            .channel(channel.clone())
            .await?
            .stream(stream.clone())
            .await?;
        CliResult::Ok((channel, stream, handle))
    };
    let (channel, stream, handle) = match opened.await {
        Ok(opened) => opened,
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
    let page = context.tail_page.max(1);
    if !new_only {
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
            let listed = entries
                .iter()
                .filter(|entry| entry.sequence <= held.get(&entry.author));
            for entry in listed {
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
    let mut gaps = Gaps {
        store: context.store.as_ref(),
        channel: &channel,
        stream: &stream,
        page,
        sent: held,
    };
    let mut scratch = [0u8; 256];
    loop {
        let filled = tokio::select! {
            item = live.next() => match item {
                Some(Ok(entry)) => gaps.live(&entry, &mut write).await,
                Some(Err(gossip::Error::Lagged { missed })) => {
                    tracing::debug!(missed, "tail subscriber lagged; reading what it missed from the store");
                    match handle.version().await {
                        Ok(now) => gaps.catch_up(&now, &mut write).await,
                        Err(error) => Err(error.into()),
                    }
                }
                Some(Err(error)) => Err(error.into()),
                None => return Ok(()),
            },
            read = reader.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return Ok(()), // the client went away
                Ok(_) => Ok(()),
            },
        };
        match filled {
            Ok(()) => {}
            Err(TailError::Io(error)) => return Err(error),
            Err(TailError::Node(error)) => {
                let message = one_line(&error);
                return send(&mut write, &Response::Error { message }).await;
            }
        }
    }
}

/// Why a tail stops: the client's connection, or the node.
#[derive(Debug)]
pub(crate) enum TailError {
    /// Writing to the client failed.
    Io(std::io::Error),
    /// The node or its store failed.
    Node(gossip::Error),
}

impl From<std::io::Error> for TailError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<gossip::Error> for TailError {
    fn from(error: gossip::Error) -> Self {
        Self::Node(error)
    }
}

impl From<gossip::StoreError> for TailError {
    fn from(error: gossip::StoreError) -> Self {
        Self::Node(error.into())
    }
}

/// What a tail sent of each author once past the history, and how it fills
/// what the subscription missed from the store.
pub(crate) struct Gaps<'a> {
    /// The node's store.
    pub(crate) store: &'a dyn Store,
    /// The tail's channel.
    pub(crate) channel: &'a ChannelId,
    /// The tail's stream.
    pub(crate) stream: &'a StreamId,
    /// How many entries one store read returns at most.
    pub(crate) page: usize,
    /// Per author, the highest sequence sent (or listed in the history).
    pub(crate) sent: VersionVector,
}

impl Gaps<'_> {
    /// Sends a live entry, after the entries of its author it follows that
    /// were not sent; skips it if it was sent.
    async fn live<W: AsyncWrite + Unpin>(
        &mut self,
        entry: &LogEntry,
        write: &mut W,
    ) -> Result<(), TailError> {
        let sent = self.sent.get(&entry.author);
        if entry.sequence <= sent {
            return Ok(());
        }
        if entry.sequence > sent.saturating_add(1) {
            self.fill(&entry.author, entry.sequence - 1, write).await?;
        }
        send(
            write,
            &Response::Entry {
                entry: entry.into(),
            },
        )
        .await?;
        self.sent.raise(&entry.author, entry.sequence);
        Ok(())
    }

    /// Sends, author by author, what the store holds up to `now` that was
    /// not sent.
    pub(crate) async fn catch_up<W: AsyncWrite + Unpin>(
        &mut self,
        now: &VersionVector,
        write: &mut W,
    ) -> Result<(), TailError> {
        for (author, until) in now.iter() {
            if until > self.sent.get(author) {
                self.fill(author, until, write).await?;
            }
        }
        Ok(())
    }

    /// Sends `author`'s held entries after the last one sent, up to
    /// sequence `until`, a page at a time.
    async fn fill<W: AsyncWrite + Unpin>(
        &mut self,
        author: &NodeId,
        until: u64,
        write: &mut W,
    ) -> Result<(), TailError> {
        loop {
            let after = self.sent.get(author);
            if after >= until {
                return Ok(());
            }
            let entries = self
                .store
                .read_author(self.channel, self.stream, author, after, self.page)
                .await?;
            let done = entries.len() < self.page;
            for entry in entries.iter().filter(|entry| entry.sequence <= until) {
                send(
                    write,
                    &Response::Entry {
                        entry: entry.into(),
                    },
                )
                .await?;
                self.sent.raise(author, entry.sequence);
            }
            // Compacted away: nothing held up to `until` is left to send.
            let stuck = self.sent.get(author) == after;
            if done || stuck {
                self.sent.raise(author, until);
                return Ok(());
            }
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
