//! [`StoreMetrics`]: a store that counts and times its operations.

use std::{future::Future, time::Instant};

use async_trait::async_trait;
use gossip_core::{
    Channel, ChannelId, EntryKey, Hlc, LogEntry, NodeId, PeerRecord, Store, StoreCapabilities,
    StoreResult, StreamId, StreamStats, VersionVector,
};
use metrics::{counter, histogram};

use super::{labels, STORE_DURATION, STORE_ENTRIES, STORE_ERRORS, STORE_OPERATIONS};

/// A store that records, per operation, a counter by outcome, errors by kind,
/// a latency histogram and the entries moved. Built by
/// [`StoreMetricsLayer`](super::StoreMetricsLayer); the metric names are
/// listed in the [module docs](super).
#[derive(Debug, Clone)]
pub struct StoreMetrics<S> {
    inner: S,
}

impl<S> StoreMetrics<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        super::describe();
        Self { inner }
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped store, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

async fn observe<R>(
    op: &'static str,
    operation: impl Future<Output = StoreResult<R>>,
) -> StoreResult<R> {
    let start = Instant::now();
    let result = operation.await;
    histogram!(STORE_DURATION, "op" => op).record(start.elapsed().as_secs_f64());
    match &result {
        Ok(_) => counter!(STORE_OPERATIONS, "op" => op, "outcome" => "ok").increment(1),
        Err(error) => {
            counter!(STORE_OPERATIONS, "op" => op, "outcome" => "error").increment(1);
            let label = labels::store_error(error.kind());
            counter!(STORE_ERRORS, "op" => op, "error" => label).increment(1);
        }
    }
    result
}

fn entries(op: &'static str, count: usize) {
    counter!(STORE_ENTRIES, "op" => op).increment(count as u64);
}

// A forwarding wrapper: every `Store` method, defaulted ones included, is
// written out, so a method added to the trait later cannot silently bypass it.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for StoreMetrics<S> {
    fn backend(&self) -> &'static str {
        "metrics"
    }

    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }

    async fn append(&self, c: &ChannelId, s: &StreamId, batch: &[LogEntry]) -> StoreResult<()> {
        let result = observe("append", self.inner.append(c, s, batch)).await;
        if result.is_ok() {
            entries("append", batch.len());
        }
        result
    }

    async fn read(
        &self,
        c: &ChannelId,
        s: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let result = observe("read", self.inner.read(c, s, after, limit)).await;
        if let Ok(read) = &result {
            entries("read", read.len());
        }
        result
    }

    async fn read_author(
        &self,
        c: &ChannelId,
        s: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let result = observe(
            "read_author",
            self.inner.read_author(c, s, author, after, limit),
        )
        .await;
        if let Ok(read) = &result {
            entries("read_author", read.len());
        }
        result
    }

    async fn version(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
        observe("version", self.inner.version(c, s)).await
    }

    async fn base(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
        observe("base", self.inner.base(c, s)).await
    }

    async fn stats(&self, c: &ChannelId, s: &StreamId) -> StoreResult<StreamStats> {
        observe("stats", self.inner.stats(c, s)).await
    }

    async fn streams(&self, c: &ChannelId) -> StoreResult<Vec<StreamId>> {
        observe("streams", self.inner.streams(c)).await
    }

    async fn compact(&self, c: &ChannelId, s: &StreamId, base: &VersionVector) -> StoreResult<u64> {
        observe("compact", self.inner.compact(c, s, base)).await
    }

    async fn truncate_author(
        &self,
        c: &ChannelId,
        s: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64> {
        observe(
            "truncate_author",
            self.inner.truncate_author(c, s, author, after),
        )
        .await
    }

    async fn save_channel(&self, channel: &Channel) -> StoreResult<()> {
        observe("save_channel", self.inner.save_channel(channel)).await
    }

    async fn load_channels(&self) -> StoreResult<Vec<Channel>> {
        observe("load_channels", self.inner.load_channels()).await
    }

    async fn delete_channel(&self, channel: &ChannelId) -> StoreResult<()> {
        observe("delete_channel", self.inner.delete_channel(channel)).await
    }

    async fn save_peer(&self, peer: &PeerRecord) -> StoreResult<()> {
        observe("save_peer", self.inner.save_peer(peer)).await
    }

    async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>> {
        observe("load_peers", self.inner.load_peers()).await
    }

    async fn remove_peer(&self, peer: &NodeId) -> StoreResult<()> {
        observe("remove_peer", self.inner.remove_peer(peer)).await
    }

    async fn save_clock(&self, clock: Hlc) -> StoreResult<()> {
        observe("save_clock", self.inner.save_clock(clock)).await
    }

    async fn load_clock(&self) -> StoreResult<Option<Hlc>> {
        observe("load_clock", self.inner.load_clock()).await
    }

    async fn clear(&self) -> StoreResult<()> {
        observe("clear", self.inner.clear()).await
    }

    async fn close(&self) -> StoreResult<()> {
        observe("close", self.inner.close()).await
    }
}
