//! [`StreamHandle`]: one stream of a channel (append, read, subscribe, materialize).

use bytes::Bytes;

use super::{
    command::Command, coordinator::Coordinator, materialized::MaterializedView,
    subscription::Subscription,
};
use crate::{
    domain::{ChannelId, EntryKey, LogEntry, StateMaterializer, StreamId, VersionVector},
    error::Error,
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
    /// [`Error::Store`].
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
    /// [`Error::Store`].
    pub async fn entries_page(
        &self,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, Error> {
        Ok(self
            .node
            .store()
            .read(&self.channel, &self.stream, after, limit)
            .await?)
    }

    /// What this node holds of the stream.
    ///
    /// # Errors
    ///
    /// [`Error::Store`].
    pub async fn version(&self) -> Result<VersionVector, Error> {
        Ok(self
            .node
            .store()
            .version(&self.channel, &self.stream)
            .await?)
    }

    /// New entries, local and merged, from now on.
    #[must_use]
    pub fn subscribe(&self) -> Subscription<LogEntry> {
        self.node.feeds().entries(&self.channel, &self.stream)
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
