//! Test fixtures of the driver's unit tests: a small in-memory [`Store`]
//! (gossip-core cannot use `gossip-store-memory`: that crate depends on this
//! one, so its `Store` would be another crate's trait) and a [`Fixture`]
//! holding a driver over it.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, PoisonError,
    },
};

use async_trait::async_trait;

use crate::{
    domain::{Channel, ChannelId, EntryKey, Hlc, LogEntry, NodeId, StreamId, VersionVector},
    error::{StoreError, StoreErrorKind},
    ports::{PeerRecord, Store, StoreCapabilities, StoreResult, StreamStats},
};

type Key = (ChannelId, StreamId);

#[derive(Default)]
struct State {
    entries: BTreeMap<Key, BTreeMap<(NodeId, u64), LogEntry>>,
    versions: BTreeMap<Key, VersionVector>,
    bases: BTreeMap<Key, VersionVector>,
    channels: BTreeMap<ChannelId, Channel>,
    peers: BTreeMap<NodeId, PeerRecord>,
    clock: Option<Hlc>,
}

/// Keeps everything in maps; appends follow the contiguity contract.
#[derive(Default)]
pub(crate) struct TestStore {
    state: Mutex<State>,
    /// When set, every append fails (and writes nothing).
    pub(crate) fail_appends: AtomicBool,
    /// When set, every truncation fails (and removes nothing).
    pub(crate) fail_truncations: AtomicBool,
    /// When set, `version` and `read_author` pause a millisecond after
    /// reading, before they return: other tasks commit in between, as they
    /// would while a real store answers.
    pub(crate) slow_reads: AtomicBool,
    /// When set, the next `version` call reads, says so, and waits for the
    /// test before it returns (once).
    pub(crate) version_gate: Mutex<Option<VersionGate>>,
    /// When set, `version` fails as a closed store does.
    pub(crate) closed: AtomicBool,
}

/// Holds one `version` call between its read and its return.
pub(crate) struct VersionGate {
    /// Told when the version was read.
    pub(crate) read: tokio::sync::oneshot::Sender<()>,
    /// Awaited before the version is returned.
    pub(crate) resume: tokio::sync::oneshot::Receiver<()>,
}

impl TestStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn read_pause(&self) {
        if self.slow_reads.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    fn error(kind: StoreErrorKind, message: &str) -> StoreError {
        StoreError::new("test", kind, message)
    }
}

#[async_trait]
impl Store for TestStore {
    fn backend(&self) -> &'static str {
        "test"
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::volatile()
    }

    async fn append(&self, c: &ChannelId, s: &StreamId, entries: &[LogEntry]) -> StoreResult<()> {
        if self.fail_appends.load(Ordering::SeqCst) {
            return Err(Self::error(StoreErrorKind::Unavailable, "appends fail"));
        }
        let key = (c.clone(), s.clone());
        let mut state = self.state();
        let mut version = state.versions.get(&key).cloned().unwrap_or_default();
        for e in entries {
            if e.sequence != version.get(&e.author) + 1 {
                return Err(Self::error(StoreErrorKind::NonContiguous, "gap"));
            }
            version.raise(&e.author, e.sequence);
        }
        let stream = state.entries.entry(key.clone()).or_default();
        for e in entries {
            stream.insert((e.author.clone(), e.sequence), e.clone());
        }
        state.versions.insert(key, version);
        Ok(())
    }

    async fn read(
        &self,
        c: &ChannelId,
        s: &StreamId,
        after: Option<&EntryKey>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let state = self.state();
        let mut all: Vec<LogEntry> = state
            .entries
            .get(&(c.clone(), s.clone()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by_key(LogEntry::key);
        Ok(all
            .into_iter()
            .filter(|e| after.is_none_or(|a| &e.key() > a))
            .take(limit)
            .collect())
    }

    async fn read_author(
        &self,
        c: &ChannelId,
        s: &StreamId,
        author: &NodeId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let entries = self
            .state()
            .entries
            .get(&(c.clone(), s.clone()))
            .map(|m| {
                m.values()
                    .filter(|e| &e.author == author && e.sequence > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        self.read_pause().await;
        Ok(entries)
    }

    async fn version(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Self::error(StoreErrorKind::Closed, "closed"));
        }
        let key = (c.clone(), s.clone());
        let version = self.state().versions.get(&key).cloned().unwrap_or_default();
        self.read_pause().await;
        let gate = self
            .version_gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(gate) = gate {
            let _ = gate.read.send(());
            let _ = gate.resume.await;
        }
        Ok(version)
    }

    async fn base(&self, c: &ChannelId, s: &StreamId) -> StoreResult<VersionVector> {
        let key = (c.clone(), s.clone());
        Ok(self.state().bases.get(&key).cloned().unwrap_or_default())
    }

    async fn stats(&self, c: &ChannelId, s: &StreamId) -> StoreResult<StreamStats> {
        let state = self.state();
        let stream = state.entries.get(&(c.clone(), s.clone()));
        let entries = stream.map_or(0, |m| m.len() as u64);
        let bytes = stream.map_or(0, |m| m.values().map(|e| e.size_bytes()).sum::<u64>());
        Ok(StreamStats::new(entries, bytes))
    }

    async fn streams(&self, c: &ChannelId) -> StoreResult<Vec<StreamId>> {
        Ok(self
            .state()
            .versions
            .keys()
            .filter(|(channel, _)| channel == c)
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn compact(&self, c: &ChannelId, s: &StreamId, base: &VersionVector) -> StoreResult<u64> {
        let key = (c.clone(), s.clone());
        let mut state = self.state();
        let stream = state.entries.entry(key.clone()).or_default();
        let before = stream.len();
        stream.retain(|(author, seq), _| *seq > base.get(author));
        let removed = (before - stream.len()) as u64;
        let mut version = state.versions.get(&key).cloned().unwrap_or_default();
        version.merge(base);
        state.versions.insert(key.clone(), version);
        state.bases.entry(key).or_default().merge(base);
        Ok(removed)
    }

    async fn truncate_author(
        &self,
        c: &ChannelId,
        s: &StreamId,
        author: &NodeId,
        after: u64,
    ) -> StoreResult<u64> {
        if self.fail_truncations.load(Ordering::SeqCst) {
            return Err(Self::error(StoreErrorKind::Unavailable, "truncations fail"));
        }
        let key = (c.clone(), s.clone());
        let mut state = self.state();
        let keep = after.max(state.bases.get(&key).map_or(0, |b| b.get(author)));
        let Some(stream) = state.entries.get_mut(&key) else {
            return Ok(0);
        };
        let before = stream.len();
        stream.retain(|(a, seq), _| a != author || *seq <= keep);
        let removed = (before - stream.len()) as u64;
        if removed > 0 {
            let version = state.versions.get(&key).cloned().unwrap_or_default();
            let lowered = version
                .iter()
                .map(|(a, seq)| (a.clone(), if a == author { keep } else { seq }))
                .collect();
            state.versions.insert(key, lowered);
        }
        Ok(removed)
    }

    async fn save_channel(&self, channel: &Channel) -> StoreResult<()> {
        self.state()
            .channels
            .insert(channel.id().clone(), channel.clone());
        Ok(())
    }

    async fn load_channels(&self) -> StoreResult<Vec<Channel>> {
        Ok(self.state().channels.values().cloned().collect())
    }

    async fn delete_channel(&self, c: &ChannelId) -> StoreResult<()> {
        let mut state = self.state();
        state.channels.remove(c);
        state.entries.retain(|(channel, _), _| channel != c);
        state.versions.retain(|(channel, _), _| channel != c);
        state.bases.retain(|(channel, _), _| channel != c);
        Ok(())
    }

    async fn save_peer(&self, peer: &PeerRecord) -> StoreResult<()> {
        self.state().peers.insert(peer.id.clone(), peer.clone());
        Ok(())
    }

    async fn load_peers(&self) -> StoreResult<Vec<PeerRecord>> {
        Ok(self.state().peers.values().cloned().collect())
    }

    async fn remove_peer(&self, peer: &NodeId) -> StoreResult<()> {
        self.state().peers.remove(peer);
        Ok(())
    }

    async fn save_clock(&self, clock: Hlc) -> StoreResult<()> {
        self.state().clock = Some(clock);
        Ok(())
    }

    async fn load_clock(&self) -> StoreResult<Option<Hlc>> {
        Ok(self.state().clock)
    }

    async fn clear(&self) -> StoreResult<()> {
        *self.state() = State::default();
        Ok(())
    }
}

/// A driver over a [`TestStore`] and a manual clock, for the driver's unit
/// tests: node `a`, offline, with its channel `c` (stream `s`) already
/// created and its other members added as writers.
pub(crate) struct Fixture {
    pub(crate) driver: super::Driver,
    pub(crate) store: std::sync::Arc<TestStore>,
    pub(crate) clock: crate::ports::ManualClock,
    pub(crate) channel: ChannelId,
    pub(crate) stream: StreamId,
    events: crate::node::subscription::Subscription<crate::domain::DomainEvent>,
    errors: crate::node::subscription::Subscription<crate::domain::SyncError>,
}

/// A node id from a valid literal.
pub(crate) fn node(name: &str) -> NodeId {
    NodeId::from_seed(name)
}

impl Fixture {
    /// Node `a` with channel `c` whose other members are `others`.
    pub(crate) async fn new(others: &[&str]) -> Self {
        Self::with_config(others, crate::node::config::Config::default()).await
    }

    /// As [`new`](Self::new), with `config`.
    pub(crate) async fn with_config(others: &[&str], config: crate::node::config::Config) -> Self {
        Self::build(others, config, None).await
    }

    /// As [`new`](Self::new), over a [`RecordingTransport`] (returned too).
    pub(crate) async fn with_transport(
        others: &[&str],
    ) -> (Self, std::sync::Arc<RecordingTransport>) {
        let transport = std::sync::Arc::new(RecordingTransport::new(node("a")));
        let fixture = Self::build(
            others,
            crate::node::config::Config::default(),
            Some(transport.clone()),
        )
        .await;
        (fixture, transport)
    }

    async fn build(
        others: &[&str],
        config: crate::node::config::Config,
        transport: Option<crate::ports::DynTransport>,
    ) -> Self {
        use std::sync::Arc;
        let store = Arc::new(TestStore::default());
        let clock = crate::ports::ManualClock::new(1_000_000);
        let feeds = Arc::new(crate::node::subscription::Feeds::new(64));
        let (events, errors) = (feeds.events(), feeds.errors());
        let mut driver = super::Driver::load(
            crate::Identity::from_seed("a"),
            config,
            store.clone(),
            transport,
            Arc::new(clock.clone()),
            feeds,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let channel = driver
            .create_channel("c")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .id()
            .clone();
        for other in others {
            let add = crate::node::command::ChannelChange::AddMember(
                node(other),
                crate::domain::Role::Writer,
                String::new(),
            );
            driver
                .change_channel(&channel, add)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut fixture = Self {
            driver,
            store,
            clock,
            channel,
            stream: StreamId::new("s").unwrap_or_else(|e| panic!("{e}")),
            events,
            errors,
        };
        // What setting the channel up did is not the tests' business.
        fixture.events();
        fixture.errors();
        fixture.driver.stats = crate::node::health::NodeStats::default();
        fixture
    }

    /// Entries `first..=last` of `author`'s signed log in the fixture's
    /// stream, entry `seq` at `ts_ms + seq`.
    pub(crate) fn entries(
        &self,
        author: &str,
        seqs: std::ops::RangeInclusive<u64>,
        ts_ms: u64,
    ) -> Vec<LogEntry> {
        let identity = crate::Identity::from_seed(author);
        let mut previous = crate::domain::EntryHash::GENESIS;
        (1..=*seqs.end())
            .map(|seq| {
                let ts = Hlc::new(ts_ms + seq, 0).unwrap_or_else(|e| panic!("{e}"));
                let entry =
                    LogEntry::new(node(author), seq, ts, format!("{author}{seq}").into_bytes())
                        .linked_to(previous);
                previous = entry.hash(&self.channel, &self.stream);
                entry.sign_hashed(&identity, &previous)
            })
            .filter(|entry| seqs.contains(&entry.sequence))
            .collect()
    }

    /// The events reported since the last call.
    pub(crate) fn events(&mut self) -> Vec<crate::domain::DomainEvent> {
        drain(&mut self.events)
    }

    /// The errors reported since the last call.
    pub(crate) fn errors(&mut self) -> Vec<crate::error::Error> {
        drain(&mut self.errors)
            .into_iter()
            .map(|e| e.error)
            .collect()
    }
}

/// A transport for the driver's unit tests: keeps what is sent (every
/// send succeeds), receives nothing.
pub(crate) struct RecordingTransport {
    id: NodeId,
    queue: crate::ports::InboundQueue,
    sent: Mutex<Vec<(NodeId, bytes::Bytes)>>,
}

impl RecordingTransport {
    fn new(id: NodeId) -> Self {
        Self {
            id,
            queue: crate::ports::InboundQueue::new("recording", 16),
            sent: Mutex::new(Vec::new()),
        }
    }

    /// The frames sent since the last call, with their destinations.
    pub(crate) fn take_sent(&self) -> Vec<(NodeId, bytes::Bytes)> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl crate::ports::Transport for RecordingTransport {
    fn backend(&self) -> &'static str {
        "recording"
    }

    fn local_id(&self) -> &NodeId {
        &self.id
    }

    fn max_frame_len(&self) -> usize {
        1 << 20
    }

    fn capabilities(&self) -> crate::ports::TransportCapabilities {
        crate::ports::TransportCapabilities::stream_like()
    }

    async fn send(&self, to: &NodeId, frame: bytes::Bytes) -> crate::ports::TransportResult<()> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((to.clone(), frame));
        Ok(())
    }

    async fn recv(&self) -> crate::ports::TransportResult<crate::ports::TransportEvent> {
        self.queue.recv().await
    }

    async fn close(&self) -> crate::ports::TransportResult<()> {
        self.queue.close();
        Ok(())
    }
}

fn drain<T: Clone + Send + 'static>(
    sub: &mut crate::node::subscription::Subscription<T>,
) -> Vec<T> {
    use futures_util::{FutureExt, StreamExt};
    let mut items = Vec::new();
    while let Some(Some(item)) = sub.next().now_or_never() {
        items.push(item.unwrap_or_else(|e| panic!("{e}")));
    }
    items
}
