//! [`MatrixCluster`]: N nodes of one [`Cell`], all peers of each other,
//! sharing one channel, with restarts on the same store and partitions.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use gossip_core::{
    ChannelHandle, ChannelId, Config, Coordinator, DynStore, Identity, LogEntry, NodeId, StreamId,
};
use gossip_middleware::FaultsHandle;
use gossip_store_memory::MemoryStore;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
use tokio::time::{sleep, Instant};

use super::{
    wire::{self, Wire},
    Cell, StoreKind, TransportKind, CONVERGE_LIMIT,
};

/// What the matrix harness returns: any plug-in's error, boxed.
pub type MatrixResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A temporary directory removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> MatrixResult<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "gossip-matrix-{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One node of a [`MatrixCluster`].
#[derive(Debug)]
struct Slot {
    identity: Identity,
    id: NodeId,
    /// The memory store, kept across restarts (memory cells only).
    memory: MemoryStore,
    wire: Wire,
    faults: Option<FaultsHandle>,
    node: Option<Coordinator>,
}

/// N nodes of one [`Cell`]; node `i` is up between [`boot`](Self::boot) and
/// [`shut_down`](Self::shut_down), and comes back on the same store.
#[derive(Debug)]
pub struct MatrixCluster {
    cell: Cell,
    dir: TempDir,
    network: MemoryNetwork,
    slots: Vec<Slot>,
    channel: ChannelId,
    stream: StreamId,
    /// The members every node's channel starts with.
    initial_members: BTreeSet<usize>,
}

impl MatrixCluster {
    /// `n` nodes of `cell`, none up yet; the channel starts with every node
    /// as a member.
    ///
    /// # Errors
    ///
    /// When the temporary directory cannot be created or an id derived.
    pub fn new(cell: Cell, n: usize) -> MatrixResult<Self> {
        let dir = TempDir::new(&cell.to_string().replace("::", "-"))?;
        let mut slots = Vec::with_capacity(n);
        for i in 0..n {
            let wire = Wire::new(cell.transport);
            let identity = Identity::from_seed(format!("matrix-{i}"));
            slots.push(Slot {
                id: identity.node_id().clone(),
                identity,
                memory: MemoryStore::new(),
                wire,
                faults: None,
                node: None,
            });
        }
        Ok(Self {
            cell,
            dir,
            network: MemoryNetwork::new(MemoryNetworkConfig::default().seed(0x6d61)),
            slots,
            channel: ChannelId::derive(
                &Identity::from_seed("matrix-0").node_id().clone(),
                "matrix",
            )?,
            stream: StreamId::new("log")?,
            initial_members: (0..n).collect(),
        })
    }

    /// Sets the members each node's channel starts with (by index).
    pub fn set_initial_members(&mut self, members: impl IntoIterator<Item = usize>) {
        self.initial_members = members.into_iter().collect();
    }

    /// The cell.
    #[must_use]
    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// The number of nodes, up or down.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cluster has no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Node `i`'s id.
    #[must_use]
    pub fn id(&self, i: usize) -> NodeId {
        self.slots[i].id.clone()
    }

    /// Whether node `i` is up.
    #[must_use]
    pub fn is_up(&self, i: usize) -> bool {
        self.slots[i].node.is_some()
    }

    /// The running node `i`.
    ///
    /// # Panics
    ///
    /// When node `i` is down.
    #[must_use]
    pub fn node(&self, i: usize) -> &Coordinator {
        self.slots[i].node.as_ref().expect("node is up")
    }

    /// Boots every node.
    ///
    /// # Errors
    ///
    /// As [`boot`](Self::boot).
    pub async fn boot_all(&mut self) -> MatrixResult<()> {
        for i in 0..self.len() {
            self.boot(i).await?;
        }
        let members: Vec<usize> = self.initial_members.iter().copied().collect();
        for i in members {
            self.await_membership(i).await?;
        }
        Ok(())
    }

    async fn open_store(&self, i: usize) -> MatrixResult<DynStore> {
        let path = self.dir.0.join(format!("node-{i}"));
        Ok(match self.cell.store {
            StoreKind::Memory => std::sync::Arc::new(self.slots[i].memory.clone()),
            StoreKind::Sqlite => std::sync::Arc::new(
                gossip_store_sqlite::SqliteStore::open(path.with_extension("db")).await?,
            ),
            #[cfg(feature = "rocksdb")]
            StoreKind::RocksDb => {
                std::sync::Arc::new(gossip_store_rocksdb::RocksDbStore::open(path).await?)
            }
        })
    }

    /// Starts node `i` (again) on its store, with a fresh transport in the
    /// cell's stack, every other node as a peer and the channel with the
    /// initial members.
    ///
    /// # Errors
    ///
    /// When the store, the transport or the node fails.
    pub async fn boot(&mut self, i: usize) -> MatrixResult<()> {
        let store = self.open_store(i).await?;
        let seed = 0x3a7 ^ (i as u64).wrapping_mul(0x9E37_79B9);
        let (before, rest) = self.slots.split_at_mut(i);
        let (slot, after) = rest.split_first_mut().ok_or("no such node")?;
        let others: Vec<(NodeId, &Wire)> = before
            .iter()
            .chain(after.iter())
            .map(|s| (s.id.clone(), &s.wire))
            .collect();
        let opened = wire::open(
            &slot.identity,
            seed,
            &mut slot.wire,
            &self.network,
            &others,
            self.cell.stack,
        )
        .await?;
        let config = Config::default()
            .gossip_interval(Duration::from_millis(100))
            .seed(seed);
        let node = Coordinator::builder(slot.identity.clone())
            .store(store)
            .transport(opened.transport)
            .config(config)
            .build()
            .await?;
        for (peer, _) in &others {
            node.add_peer(peer.clone()).await?;
        }
        // Node 0 owns the channel; the initial members learn they are
        // members from its control log.
        let members: Vec<NodeId> = std::iter::once(0)
            .chain(self.initial_members.iter().copied().filter(|m| *m != 0))
            .map(|m| self.slots[m].id.clone())
            .collect();
        crate::open_shared_channel(&node, &self.channel, &members).await?;
        node.start().await?;
        let slot = &mut self.slots[i];
        slot.faults = opened.faults;
        slot.node = Some(node);
        Ok(())
    }

    /// Waits until node `i` knows itself a member of the channel (node 0's
    /// control log reached it).
    ///
    /// # Errors
    ///
    /// When it does not within the convergence limit.
    pub async fn await_membership(&self, i: usize) -> MatrixResult<()> {
        let node = self.slots[i].node.as_ref().ok_or("node is down")?;
        crate::await_role(node, &self.channel, CONVERGE_LIMIT).await?;
        Ok(())
    }

    /// Stops node `i` (its store survives for the next [`boot`](Self::boot)).
    ///
    /// # Errors
    ///
    /// When the node fails to dispose.
    pub async fn shut_down(&mut self, i: usize) -> MatrixResult<()> {
        let slot = &mut self.slots[i];
        if let Some(node) = slot.node.take() {
            node.dispose().await?;
        }
        slot.faults = None;
        slot.wire.down();
        if self.cell.transport == TransportKind::Memory {
            self.network.leave(&slot.id);
        }
        Ok(())
    }

    /// Stops every node that is up.
    ///
    /// # Errors
    ///
    /// As [`shut_down`](Self::shut_down).
    pub async fn shut_down_all(&mut self) -> MatrixResult<()> {
        for i in 0..self.len() {
            self.shut_down(i).await?;
        }
        Ok(())
    }

    /// Cuts node `i` off from every other node, both ways: through the
    /// memory network's links, or the faults layers of the others' stacks.
    pub fn isolate(&self, i: usize) {
        let me = self.id(i);
        let others: Vec<NodeId> = (0..self.len())
            .filter(|j| *j != i)
            .map(|j| self.id(j))
            .collect();
        match self.cell.transport {
            TransportKind::Memory => self.network.partition(std::slice::from_ref(&me), &others),
            TransportKind::Tcp | TransportKind::Libp2p => {
                for (j, slot) in self.slots.iter().enumerate() {
                    if let Some(faults) = &slot.faults {
                        if j == i {
                            faults.partition(others.clone());
                        } else {
                            faults.partition([me.clone()]);
                        }
                    }
                }
            }
        }
    }

    /// Ends every partition.
    pub fn heal(&self) {
        self.network.heal();
        for faults in self.slots.iter().filter_map(|s| s.faults.as_ref()) {
            faults.heal();
        }
    }

    /// Node `i`'s handle on the shared channel.
    ///
    /// # Errors
    ///
    /// When the node is down or lost the channel.
    pub async fn channel(&self, i: usize) -> MatrixResult<ChannelHandle> {
        let node = self.slots[i].node.as_ref().ok_or("node is down")?;
        Ok(node.channel(self.channel.clone()).await?)
    }

    /// Appends `payload` on node `i`.
    ///
    /// # Errors
    ///
    /// When the node is down or the append fails.
    pub async fn append(
        &self,
        i: usize,
        payload: impl Into<bytes::Bytes>,
    ) -> MatrixResult<LogEntry> {
        let stream = self.channel(i).await?.stream(self.stream.clone()).await?;
        Ok(stream.append(payload).await?)
    }

    /// Appends `count` entries on node `i`, in batches of `batch`.
    ///
    /// # Errors
    ///
    /// When the node is down or an append fails.
    pub async fn append_many(&self, i: usize, count: usize, batch: usize) -> MatrixResult<()> {
        let stream = self.channel(i).await?.stream(self.stream.clone()).await?;
        let mut written = 0;
        while written < count {
            let n = batch.min(count - written).max(1);
            let payloads = (written..written + n)
                .map(|k| bytes::Bytes::from(format!("node {i} history {k:05} {}", "x".repeat(64))))
                .collect();
            stream.append_batch(payloads).await?;
            written += n;
        }
        Ok(())
    }

    /// Node `i`'s entries of the shared stream, in read order.
    ///
    /// # Errors
    ///
    /// When the node is down or the read fails.
    pub async fn entries(&self, i: usize) -> MatrixResult<Vec<LogEntry>> {
        let stream = self.channel(i).await?.stream(self.stream.clone()).await?;
        Ok(stream.entries().await?)
    }

    /// Waits until each of `nodes` holds exactly `expected` entries, then
    /// checks that they hold the same ones in the same order.
    ///
    /// # Errors
    ///
    /// After [`CONVERGE_LIMIT`], with every node's count; when reads fail; when
    /// the streams differ.
    pub async fn converge(&self, nodes: &[usize], expected: usize) -> MatrixResult<Duration> {
        let start = Instant::now();
        loop {
            let mut counts = Vec::with_capacity(nodes.len());
            for i in nodes {
                counts.push(self.entries(*i).await?.len());
            }
            if counts.iter().all(|c| *c == expected) {
                break;
            }
            if start.elapsed() > CONVERGE_LIMIT {
                return Err(format!(
                    "nodes {nodes:?} did not converge on {expected} entries within \
                     {CONVERGE_LIMIT:?}: they hold {counts:?}"
                )
                .into());
            }
            sleep(Duration::from_millis(25)).await;
        }
        let took = start.elapsed();
        self.assert_identical(nodes).await?;
        Ok(took)
    }

    /// Checks that `nodes` hold the same entries in the same order.
    ///
    /// # Errors
    ///
    /// When they differ or a read fails.
    pub async fn assert_identical(&self, nodes: &[usize]) -> MatrixResult<()> {
        let Some((first, rest)) = nodes.split_first() else {
            return Ok(());
        };
        let reference = self.entries(*first).await?;
        for i in rest {
            if self.entries(*i).await? != reference {
                return Err(format!("node {i} holds other entries than node {first}").into());
            }
        }
        Ok(())
    }

    /// The indices of the nodes that are up.
    #[must_use]
    pub fn up(&self) -> Vec<usize> {
        (0..self.len()).filter(|i| self.is_up(*i)).collect()
    }
}
