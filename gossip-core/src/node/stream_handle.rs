//! [`StreamHandle`]: one stream of a channel (append, read, subscribe, materialize).

use std::ops::RangeBounds;

use bytes::Bytes;

use super::{
    command::Command, coordinator::Coordinator, entry_feed::EntryFeed,
    materialized::MaterializedView, sequence_range::sequence_range, subscription::Subscription,
};
use crate::{
    domain::{ChannelId, EntryKey, LogEntry, NodeId, StateMaterializer, StreamId, VersionVector},
    error::Error,
    ports::StreamStats,
};

/// One stream of a channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    node: Coordinator,
    channel: ChannelId,
    stream: StreamId,
}

/// Entries read per page by [`StreamHandle::entries`].
const PAGE: usize = 1_024;

impl StreamHandle {
    pub(super) fn new(node: Coordinator, channel: ChannelId, stream: StreamId) -> Self {
        Self {
            node,
            channel,
            stream,
        }
    }

    /// The channel's id.
    #[must_use]
    pub fn channel_id(&self) -> &ChannelId {
        &self.channel
    }

    /// The stream's id.
    #[must_use]
    pub fn id(&self) -> &StreamId {
        &self.stream
    }

    /// Appends one entry written by this node; returns it.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadTooLarge`] (nothing written), [`Error::UnknownChannel`],
    /// [`Error::NotMember`], [`Error::NotPermitted`] for a reader,
    /// [`Error::ReservedStream`] for the control stream, [`Error::Store`].
    pub async fn append(&self, payload: impl Into<Bytes>) -> Result<LogEntry, Error> {
        let mut entries = self.append_batch(vec![payload.into()]).await?;
        entries.pop().ok_or(Error::NodeStopped)
    }

    /// Appends one entry and waits until at least `durability.copies`
    /// members of the channel hold it (this node counts as one): the
    /// answer to "is my write safe if this device is lost now?". Peers are
    /// asked at once (a digest exchange right after the push), so with
    /// reachable peers this takes a round trip or two; holders are learnt
    /// the way [`PeerHealth::streams`](crate::PeerHealth::streams) learns
    /// them.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append) (nothing written); then
    /// [`Error::NotDurable`] when fewer members were known to hold it after
    /// `durability.timeout` (the entry stays appended and keeps
    /// replicating: retrying the append would write a second entry).
    pub async fn append_durable(
        &self,
        payload: impl Into<Bytes>,
        durability: super::durability::Durability,
    ) -> Result<LogEntry, Error> {
        if self.stream.is_control() {
            return Err(Error::ReservedStream(self.stream.clone()));
        }
        let (channel, stream) = (self.channel.clone(), self.stream.clone());
        super::durability::append_durable(&self.node, channel, stream, payload.into(), durability)
            .await
    }

    /// Appends several entries in one atomic batch.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append); nothing is written on error.
    pub async fn append_batch(&self, payloads: Vec<Bytes>) -> Result<Vec<LogEntry>, Error> {
        if self.stream.is_control() {
            return Err(Error::ReservedStream(self.stream.clone()));
        }
        let (channel, stream) = (self.channel.clone(), self.stream.clone());
        self.node
            .request(|reply| Command::Append {
                channel,
                stream,
                payloads,
                reply,
            })
            .await
    }

    /// Every entry, in read order `(timestamp, author, sequence)`. For long
    /// histories prefer [`entries_page`](Self::entries_page).
    ///
    /// # Errors
    ///
    /// [`Error::Store`]; [`Error::NodeStopped`] after
    /// [`dispose`](crate::Coordinator::dispose).
    pub async fn entries(&self) -> Result<Vec<LogEntry>, Error> {
        let mut all = Vec::new();
        let mut after: Option<EntryKey> = None;
        loop {
            let page = self.entries_page(after.as_ref(), PAGE).await?;
            let done = page.len() < PAGE;
            after = page.last().map(LogEntry::key);
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Up to `limit` entries after `after` (exclusive), in read order.
    ///
    /// # Errors
    ///
    /// [`Error::Store`]; [`Error::NodeStopped`] after
    /// [`dispose`](crate::Coordinator::dispose).
    pub async fn entries_page(
        &self,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, Error> {
        self.node
            .read_store(
                self.node
                    .store()
                    .read(&self.channel, &self.stream, after, limit),
            )
            .await
    }

    /// Up to `limit` of one author's entries whose sequence is in
    /// `sequences`, in sequence order: `1..=10`, `5..`, `..`. To page
    /// through a long range, call again from the last sequence returned
    /// plus one; fewer than `limit` entries means the range is done.
    ///
    /// At most `limit` entries are read from the store, whatever the range:
    /// a range is never loaded whole. Sequences start at 1; an author's
    /// entries removed by compaction are not returned (the first one
    /// returned is then the first held). An unknown author or stream reads
    /// as empty.
    ///
    /// ```
    /// # async fn demo(stream: gossip_core::StreamHandle) -> Result<(), gossip_core::Error> {
    /// let me = stream.append(b"first".to_vec()).await?.author;
    /// stream.append(b"second".to_vec()).await?;
    /// stream.append(b"third".to_vec()).await?;
    ///
    /// let two = stream.entries_by(&me, 2.., 100).await?;
    /// assert_eq!(two.iter().map(|e| e.sequence).collect::<Vec<_>>(), [2, 3]);
    ///
    /// // Page by page, two at a time.
    /// let mut next = 1;
    /// loop {
    ///     let page = stream.entries_by(&me, next.., 2).await?;
    ///     let Some(last) = page.last() else { break };
    ///     next = last.sequence + 1;
    ///     if page.len() < 2 {
    ///         break;
    ///     }
    /// }
    /// assert_eq!(next, 4);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRange`] for a range that starts after its end
    /// (`5..3`; an empty range such as `5..5` reads as empty);
    /// [`Error::Store`]; [`Error::NodeStopped`] after
    /// [`dispose`](crate::Coordinator::dispose).
    pub async fn entries_by(
        &self,
        author: &NodeId,
        sequences: impl RangeBounds<u64>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, Error> {
        let Some(range) = sequence_range(author, &sequences)? else {
            return Ok(Vec::new());
        };
        let limit = usize::try_from(range.len()).map_or(limit, |len| limit.min(len));
        let store = self.node.store();
        let mut entries = self
            .node
            .read_store(store.read_author(&self.channel, &self.stream, author, range.after, limit))
            .await?;
        // Past a compacted prefix the store reads on from the first held.
        entries.truncate(entries.partition_point(|e| e.sequence <= range.up_to));
        Ok(entries)
    }

    /// What this node holds of the stream.
    ///
    /// # Errors
    ///
    /// [`Error::Store`]; [`Error::NodeStopped`] after
    /// [`dispose`](crate::Coordinator::dispose).
    pub async fn version(&self) -> Result<VersionVector, Error> {
        self.node
            .read_store(self.node.store().version(&self.channel, &self.stream))
            .await
    }

    /// How many entries, and how many payload and signature bytes, this
    /// node holds of the stream now (compaction subtracts).
    ///
    /// ```
    /// # async fn demo(stream: gossip_core::StreamHandle) -> Result<(), gossip_core::Error> {
    /// let before = stream.stats().await?.entries;
    /// stream.append(b"hello".to_vec()).await?;
    /// assert_eq!(stream.stats().await?.entries, before + 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Store`]; [`Error::NodeStopped`] after
    /// [`dispose`](crate::Coordinator::dispose).
    pub async fn stats(&self) -> Result<StreamStats, Error> {
        self.node
            .read_store(self.node.store().stats(&self.channel, &self.stream))
            .await
    }

    /// New entries, local and merged, from now on. To start from what is
    /// held too, use [`subscribe_from`](Self::subscribe_from).
    #[must_use]
    pub fn subscribe(&self) -> Subscription<LogEntry> {
        self.node.feeds().entries(&self.channel, &self.stream)
    }

    /// Every entry after `from`, each exactly once: first what this node
    /// holds beyond `from` (read from the store a page at a time), then new
    /// entries, local and merged, as they are committed. Entries `from`
    /// covers are never delivered. `VersionVector::new()` starts at the
    /// beginning of the stream; [`version`](Self::version) at what is held
    /// now.
    ///
    /// No entry falls between the replay and the live part, and none comes
    /// twice, also while other tasks and peers append concurrently. Each
    /// author's entries come in sequence order; the replay comes in read
    /// order (whenever each author's timestamps grow with its sequences),
    /// live entries in the order they were committed. To resume after a
    /// restart, keep the highest sequence seen per author
    /// ([`VersionVector::raise`]) and subscribe from it.
    ///
    /// The feed never lags: when the reader falls behind the node, it
    /// reads what it missed from the store instead of reporting
    /// [`Error::Lagged`]. Entries removed by compaction before they were
    /// read are skipped; an entry delivered is not taken back if it is
    /// later removed (a removed member's writes past its cut-off), as with
    /// [`subscribe`](Self::subscribe). The subscription is registered by
    /// this call, and the store is read as the feed is polled.
    ///
    /// ```
    /// # async fn demo(stream: gossip_core::StreamHandle) -> Result<(), gossip_core::Error> {
    /// use futures_util::StreamExt;
    /// use gossip_core::VersionVector;
    ///
    /// stream.append(b"held".to_vec()).await?;
    /// let mut feed = stream.subscribe_from(VersionVector::new());
    /// stream.append(b"new".to_vec()).await?;
    ///
    /// let mut seen = VersionVector::new();
    /// for expected in [&b"held"[..], b"new"] {
    ///     let entry = feed.next().await.expect("the node runs")?;
    ///     assert_eq!(entry.payload, expected);
    ///     seen.raise(&entry.author, entry.sequence);
    /// }
    /// // Later, or after a restart: what came after `seen`, and no more.
    /// let _resumed = stream.subscribe_from(seen);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The feed yields [`Error::Store`] when a read fails, and retries the
    /// read when polled again. It ends when the node is disposed (its live
    /// part ends, or its store reports
    /// [`StoreErrorKind::Closed`](crate::StoreErrorKind::Closed)).
    #[must_use]
    pub fn subscribe_from(&self, from: VersionVector) -> Subscription<LogEntry> {
        // Registered before the feed reads the store's version.
        let live = self.subscribe();
        EntryFeed::new(
            self.node.store().clone(),
            self.channel.clone(),
            self.stream.clone(),
            live,
            from,
        )
        .into_subscription()
    }

    /// Registers a materializer: a view that folds the stream into state and
    /// keeps up with new entries.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] while reading the history.
    pub async fn materialize<T, M>(&self, materializer: M) -> Result<MaterializedView<T, M>, Error>
    where
        T: Clone + Send + 'static,
        M: StateMaterializer<T>,
    {
        MaterializedView::new(self.clone(), materializer).await
    }
}
