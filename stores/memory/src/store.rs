//! [`MemoryStore`]: the [`Store`] that keeps everything in memory.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use async_trait::async_trait;
use gossip_core::{
    AppendRejection, Channel, ChannelId, EntryKey, Hlc, LogEntry, NodeId, PeerRecord, Store,
    StoreCapabilities, StoreResult, StreamId, StreamStats, VersionVector,
};

use crate::stream::StreamState;

/// The backend name reported by [`MemoryStore`] and its errors.
pub(crate) const BACKEND: &str = "memory";

type StreamRef = Arc<RwLock<StreamState>>;
type Streams = BTreeMap<ChannelId, BTreeMap<StreamId, StreamRef>>;

/// Channels, peers and the clock.
#[derive(Debug, Default)]
struct Records {
    channels: BTreeMap<ChannelId, Channel>,
    peers: BTreeMap<NodeId, PeerRecord>,
    clock: Option<Hlc>,
}

/// Lock order: `streams`, then one stream's lock or `records`; never the
/// other way round. No lock is held across an `await` (no method awaits).
#[derive(Default)]
struct Shared {
    streams: RwLock<Streams>,
    records: Mutex<Records>,
}

/// A [`Store`] that keeps everything in memory: fast, nothing persisted.
///
/// Cloning is cheap and the clones share the same data. Lookups are
/// logarithmic: each stream keeps, per author, a contiguous log indexed by
/// sequence, and an ordered index of `(timestamp, author, sequence)` keys
/// for reading in read order; counts and bytes are maintained as entries
/// come and go. Each stream has its own lock, so appends to different
/// streams do not wait for each other.
///
/// [`close`](Store::close) does nothing: the store keeps serving.
///
/// ```
/// use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StreamId};
/// use gossip_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let (channel, stream) = (ChannelId::new("project-1")?, StreamId::new("messages")?);
/// let author = NodeId::from_seed("device-1");
/// let entry = LogEntry::new(author.clone(), 1, Hlc::new(1_000, 0)?, b"hello".to_vec());
/// store.append(&channel, &stream, &[entry.clone()]).await?;
/// assert_eq!(store.read(&channel, &stream, None, 10).await?, vec![entry]);
/// assert_eq!(store.version(&channel, &stream).await?.get(&author), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let streams: usize = read(&self.shared.streams).values().map(BTreeMap::len).sum();
        f.debug_struct("MemoryStore")
            .field("streams", &streams)
            .finish_non_exhaustive()
    }
}

// A panic while a lock was held (only possible on allocation failure, since
// no code under a lock panics otherwise) must not brick the store: recover
// the guard instead of propagating the poison.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream's state, if it was ever created.
    fn stream(&self, channel: &ChannelId, stream: &StreamId) -> Option<StreamRef> {
        read(&self.shared.streams)
            .get(channel)?
            .get(stream)
            .map(Arc::clone)
    }

    /// The stream's state, created empty if missing.
    fn stream_or_create(&self, channel: &ChannelId, stream: &StreamId) -> StreamRef {
        if let Some(state) = self.stream(channel, stream) {
            return state;
        }
        let mut streams = write(&self.shared.streams);
        let channel_streams = match streams.get_mut(channel) {
            Some(map) => map,
            None => streams.entry(channel.clone()).or_default(),
        };
        Arc::clone(channel_streams.entry(stream.clone()).or_default())
    }

    /// Runs `f` on the stream's state, or returns `default` for an unknown stream.
    fn with_stream<T>(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        default: T,
        f: impl FnOnce(&StreamState) -> T,
    ) -> T {
        match self.stream(channel, stream) {
            Some(state) => f(&read(&state)),
            None => default,
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::volatile()
    }

    async fn append(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let refused =
            |rejection: AppendRejection| rejection.into_store_error(BACKEND, channel, stream);
        let state = match self.stream(channel, stream) {
            Some(state) => state,
            None => {
                // Refuse a bad first batch before creating the stream.
                StreamState::default().validate(entries).map_err(refused)?;
                self.stream_or_create(channel, stream)
            }
        };
        let mut state = write(&state);
        let plan = state.validate(entries).map_err(refused)?;
        state.apply(entries, &plan);
        Ok(())
    }

    async fn read(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        Ok(self.with_stream(channel, stream, Vec::new(), |s| s.read(after, limit)))
    }

    async fn read_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        Ok(self.with_stream(channel, stream, Vec::new(), |s| {
            s.read_author(author, after, limit)
        }))
    }

    async fn version(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector> {
        Ok(self.with_stream(channel, stream, VersionVector::new(), StreamState::version))
    }

    async fn base(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<VersionVector> {
        Ok(self.with_stream(channel, stream, VersionVector::new(), StreamState::base))
    }

    async fn stats(&self, channel: &ChannelId, stream: &StreamId) -> StoreResult<StreamStats> {
        Ok(self.with_stream(channel, stream, StreamStats::default(), StreamState::stats))
    }

    async fn streams(&self, channel: &ChannelId) -> StoreResult<Vec<StreamId>> {
        let streams = read(&self.shared.streams);
        let Some(channel_streams) = streams.get(channel) else {
            return Ok(Vec::new());
        };
        Ok(channel_streams
            .iter()
            .filter(|(_, state)| !read(state).is_empty())
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn compact(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        base: &VersionVector,
    ) -> StoreResult<u64> {
        if base.is_empty() {
            return Ok(0);
        }
        let state = self.stream_or_create(channel, stream);
        let removed = write(&state).compact(base);
        Ok(removed)
    }

    async fn truncate_author(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64> {
        let Some(state) = self.stream(channel, stream) else {
            return Ok(0);
        };
        let removed = write(&state).truncate_author(author, after);
        Ok(removed)
    }

    async fn save_channel(&self, channel: &Channel) -> StoreResult<()> {
        lock(&self.shared.records)
            .channels
            .insert(channel.id().clone(), channel.clone());
        Ok(())
    }

    async fn load_channels(&self) -> StoreResult<Vec<Channel>> {
        Ok(lock(&self.shared.records)
            .channels
            .values()
            .cloned()
            .collect())
    }

    async fn delete_channel(&self, channel: &ChannelId) -> StoreResult<()> {
        // Both locks at once, so no reader sees the record without its entries.
        let mut streams = write(&self.shared.streams);
        let mut records = lock(&self.shared.records);
        streams.remove(channel);
        records.channels.remove(channel);
        Ok(())
    }

    async fn save_peer(&self, peer: &PeerRecord) -> StoreResult<()> {
        lock(&self.shared.records)
            .peers
            .insert(peer.id.clone(), peer.clone());
        Ok(())
    }

    async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>> {
        Ok(lock(&self.shared.records).peers.values().cloned().collect())
    }

    async fn remove_peer(&self, peer: &NodeId) -> StoreResult<()> {
        lock(&self.shared.records).peers.remove(peer);
        Ok(())
    }

    async fn save_clock(&self, clock: Hlc) -> StoreResult<()> {
        let mut records = lock(&self.shared.records);
        records.clock = Some(records.clock.map_or(clock, |saved| saved.max(clock)));
        Ok(())
    }

    async fn load_clock(&self) -> StoreResult<Option<Hlc>> {
        Ok(lock(&self.shared.records).clock)
    }

    async fn clear(&self) -> StoreResult<()> {
        let mut streams = write(&self.shared.streams);
        let mut records = lock(&self.shared.records);
        streams.clear();
        *records = Records::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gossip_core::testkit::fixtures::{channel, entries, node, stream, total_bytes};

    use super::*;

    #[test]
    fn clones_share_state() {
        gossip_core::testkit::fixtures::run(async {
            let store = MemoryStore::new();
            let clone = store.clone();
            let (c, s) = (channel("c"), stream("s"));
            let batch = entries(&node("a"), 1..=3, |q| q);
            store.append(&c, &s, &batch).await.unwrap();
            assert_eq!(
                clone.stats(&c, &s).await.unwrap(),
                StreamStats::new(3, total_bytes(&batch))
            );
            assert!(format!("{clone:?}").contains("streams: 1"));
        });
    }

    #[test]
    fn failed_first_append_creates_no_stream_state() {
        gossip_core::testkit::fixtures::run(async {
            let store = MemoryStore::new();
            let (c, s) = (channel("c"), stream("s"));
            let bad = entries(&node("a"), 2..=3, |q| q);
            assert!(store.append(&c, &s, &bad).await.is_err());
            assert!(store.stream(&c, &s).is_none());
        });
    }

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let store = MemoryStore::new();
        let poisoner = store.clone();
        let _ = std::thread::spawn(move || {
            let _guard = write(&poisoner.shared.streams);
            panic!("poison the lock");
        })
        .join();
        assert!(store.shared.streams.is_poisoned());
        gossip_core::testkit::fixtures::run(async {
            let (c, s) = (channel("c"), stream("s"));
            store
                .append(&c, &s, &entries(&node("a"), 1..=1, |q| q))
                .await
                .unwrap();
            assert_eq!(store.streams(&c).await.unwrap(), vec![s]);
        });
    }
}
