//! [`Replica`]: what the node holds — channels, each stream's version and
//! base, entries waiting for their predecessors, and the hybrid clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{
    domain::{
        Channel, ChannelId, ControlState, EntryHash, EquivocationProof, HlcClock, LogEntry, NodeId,
        OutOfOrderBuffer, StreamId,
    },
    error::Error,
    node::config::Config,
    ports::Store,
    protocol::anti_entropy::ReplicaIndex,
};

/// The replica state the node task keeps in memory, derived from the store
/// (entries are the truth) when the node is built.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) channels: BTreeMap<ChannelId, Channel>,
    pub(crate) index: ReplicaIndex,
    pub(crate) buffer: OutOfOrderBuffer,
    pub(crate) hlc: HlcClock,
    /// Per stream, the sequence and hash of the last entry this node wrote
    /// there: what its next entry links to.
    pub(crate) own_heads: HashMap<(ChannelId, StreamId), (u64, EntryHash)>,
    /// Proofs of equivocation seen, the first per (channel, stream, author),
    /// at most [`MAX_EQUIVOCATION_PROOFS`].
    pub(crate) equivocations: BTreeMap<(ChannelId, StreamId, NodeId), EquivocationProof>,
    /// Proven entries stamped beyond the allowed clock drift, in arrival
    /// order, waiting for the clock to catch up (bounded by
    /// [`Config::quarantine_capacity`]).
    pub(crate) quarantine: Vec<Quarantined>,
    /// Proven entries by authors the control log has not explained yet,
    /// waiting for it to change (bounded by
    /// [`Config::pending_capacity`]).
    pub(crate) pending: Vec<Quarantined>,
    /// Channels whose control log changed since their pending entries were
    /// last merged again.
    pub(crate) control_changed: BTreeSet<ChannelId>,
    /// Channels in which this node should announce its addresses (it
    /// started, or became a member).
    pub(crate) announce: BTreeSet<ChannelId>,
}

/// Every entry of one stream, in read order.
///
/// # Errors
///
/// [`Error::Store`] when a page cannot be read.
pub(crate) async fn read_stream(
    store: &dyn Store,
    channel: &ChannelId,
    stream: &StreamId,
) -> Result<Vec<LogEntry>, Error> {
    const PAGE: usize = 1_024;
    let mut entries: Vec<LogEntry> = Vec::new();
    loop {
        let after = entries.last().map(LogEntry::key);
        let page = store.read(channel, stream, after.as_ref(), PAGE).await?;
        let full = page.len() == PAGE;
        entries.extend(page);
        if !full {
            return Ok(entries);
        }
    }
}

/// An entry held in quarantine, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Quarantined {
    pub(crate) channel: ChannelId,
    pub(crate) stream: StreamId,
    pub(crate) from: NodeId,
    pub(crate) entry: LogEntry,
}

/// The most equivocation proofs a node keeps (one per channel, stream and
/// author): enough to name every misbehaving author of any sane network,
/// bounded against one that makes up authors.
pub(crate) const MAX_EQUIVOCATION_PROOFS: usize = 256;

impl Replica {
    /// An empty replica.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            channels: BTreeMap::new(),
            index: ReplicaIndex::default(),
            buffer: OutOfOrderBuffer::new(config.buffer),
            hlc: HlcClock::new(config.max_clock_drift),
            own_heads: HashMap::new(),
            equivocations: BTreeMap::new(),
            quarantine: Vec::new(),
            pending: Vec::new(),
            control_changed: BTreeSet::new(),
            announce: BTreeSet::new(),
        }
    }

    /// Remembers `entries` as the latest `local` wrote in the stream, if
    /// they are (appended here, or merged back from a peer after a restore).
    pub(crate) fn note_own(
        &mut self,
        local: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) {
        let Some(last) = entries
            .iter()
            .filter(|e| e.author == *local)
            .max_by_key(|e| e.sequence)
        else {
            return;
        };
        let key = (channel.clone(), stream.clone());
        if self
            .own_heads
            .get(&key)
            .is_none_or(|(seq, _)| *seq < last.sequence)
        {
            let hash = last.hash(channel, stream);
            self.own_heads.insert(key, (last.sequence, hash));
        }
    }

    /// Keeps `proof` if it is the first for its author in its stream and
    /// there is room. Returns whether it was kept.
    pub(crate) fn note_equivocation(&mut self, proof: EquivocationProof) -> bool {
        let key = (
            proof.channel.clone(),
            proof.stream.clone(),
            proof.conflicting.author.clone(),
        );
        if self.equivocations.len() >= MAX_EQUIVOCATION_PROOFS
            || self.equivocations.contains_key(&key)
        {
            return false;
        }
        self.equivocations.insert(key, proof);
        true
    }

    /// Loads node `local`'s replica from `store`: its channels, every
    /// stream's version and base, and a clock past both the saved clock and
    /// the last entry `local` wrote (so a lost clock save cannot make it
    /// reuse a timestamp).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the saved state cannot be read.
    pub(crate) async fn load(
        store: &dyn Store,
        local: &NodeId,
        config: &Config,
    ) -> Result<Self, Error> {
        let mut replica = Self::new(config);
        if let Some(saved) = store.load_clock().await? {
            replica.hlc.observe(saved);
        }
        for channel in store.load_channels().await? {
            let id = channel.id().clone();
            replica.index.add_channel(&id);
            for stream in store.streams(&id).await? {
                let version = store.version(&id, &stream).await?;
                let base = store.base(&id, &stream).await?;
                let own = version.get(local);
                if own > 0 {
                    let last = store.read_author(&id, &stream, local, own - 1, 1).await?;
                    if let Some(entry) = last.first() {
                        replica.hlc.observe(entry.timestamp);
                    }
                    replica.note_own(local, &id, &stream, &last);
                }
                replica.index.set(&id, &stream, version, base);
            }
            // The saved channel is a cache of the control log's fold: a
            // crash between the two writes leaves the log right.
            let mut channel = channel;
            let control = read_stream(store, &id, &StreamId::control()).await?;
            channel.set_control(ControlState::fold(channel.owner().clone(), &control));
            replica.channels.insert(id, channel);
        }
        Ok(replica)
    }

    /// Forgets a channel and everything held of it.
    pub(crate) fn remove_channel(&mut self, id: &ChannelId) {
        self.channels.remove(id);
        self.quarantine.retain(|q| q.channel != *id);
        self.pending.retain(|q| q.channel != *id);
        self.control_changed.remove(id);
        self.announce.remove(id);
        self.index.remove_channel(id);
        self.buffer.forget_channel(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{Hlc, LogEntry, StreamId, VersionVector},
        node::driver::fixture::TestStore,
    };

    fn node(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    #[tokio::test]
    async fn loading_restores_channels_versions_bases_and_a_clock_past_own_entries() {
        let (a, b) = (node("a"), node("b"));
        let channel = Channel::new(ChannelId::new("c").unwrap(), a.clone());
        let stream = StreamId::new("s").unwrap();
        let store = TestStore::default();
        store.save_channel(&channel).await.unwrap();
        store.save_clock(Hlc::new(10, 0).unwrap()).await.unwrap();
        let entries = vec![
            LogEntry::new(a.clone(), 1, Hlc::new(50, 0).unwrap(), b"x".to_vec()),
            LogEntry::new(a.clone(), 2, Hlc::new(90, 3).unwrap(), b"y".to_vec()),
            LogEntry::new(b.clone(), 1, Hlc::new(500, 0).unwrap(), b"z".to_vec()),
        ];
        store.append(channel.id(), &stream, &entries).await.unwrap();
        let base: VersionVector = [(a.clone(), 1)].into_iter().collect();
        store.compact(channel.id(), &stream, &base).await.unwrap();

        let replica = Replica::load(&store, &a, &Config::default()).await.unwrap();
        assert_eq!(replica.channels.get(channel.id()), Some(&channel));
        let version = replica.index.version(channel.id(), &stream);
        assert_eq!((version.get(&a), version.get(&b)), (2, 1));
        assert_eq!(replica.index.base(channel.id(), &stream).get(&a), 1);
        // Past its own last entry, not past other authors' entries.
        assert_eq!(replica.hlc.last(), Hlc::new(90, 3).unwrap());
    }

    #[tokio::test]
    async fn removing_a_channel_forgets_its_streams() {
        let store = TestStore::default();
        let channel = Channel::new(ChannelId::new("c").unwrap(), node("a"));
        store.save_channel(&channel).await.unwrap();
        let mut replica = Replica::load(&store, &node("a"), &Config::default())
            .await
            .unwrap();
        replica.remove_channel(channel.id());
        assert!(replica.channels.is_empty());
        assert_eq!(replica.index.streams(channel.id()).count(), 0);
    }
}
