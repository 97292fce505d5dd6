//! Test harness shared by the integration tests: clusters of nodes on the
// Test support: a failed expectation here is a failed test.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::missing_panics_doc
)]
//! in-memory transport, under paused tokio time.

pub mod matrix;
pub mod soak;

use std::time::Duration;

use gossip_core::{
    testkit::sim::SimClock, ChannelHandle, ChannelId, Config, Coordinator, Error, Identity,
    Invitation, LogEntry, NodeId, Role, StreamHandle, StreamId,
};
use gossip_store_memory::MemoryStore;
use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};

/// Opens `channel`, owned by `members[0]`, on `node`: the owner creates it
/// and adds the other members as writers; the others join it by an
/// invitation from the owner (their membership arrives with its control
/// log). Running it again on a node that holds the channel changes nothing
/// (a restarted owner does not undo removals or role changes).
pub async fn open_shared_channel(
    node: &Coordinator,
    channel: &ChannelId,
    members: &[NodeId],
) -> Result<ChannelHandle, Error> {
    let owner = members
        .first()
        .ok_or_else(|| Error::InvalidConfig("no owner".into()))?;
    if node.local_id() == owner {
        let handle = node.create_channel(channel.name()).await?;
        // Only a new channel: a restarted owner keeps what its log says.
        if handle.members().await?.len() == 1 {
            for member in members.iter().filter(|m| *m != owner) {
                handle.add_member(member.clone(), Role::Writer).await?;
            }
        }
        return Ok(handle);
    }
    let invitation = Invitation::new(channel.clone(), owner.clone(), owner.clone(), Vec::new())?;
    node.join(&invitation).await
}

/// Waits until `node` knows itself a member of `channel`, polling every
/// 10 ms (in simulated or real time) for at most `limit`.
pub async fn await_role(
    node: &Coordinator,
    channel: &ChannelId,
    limit: Duration,
) -> Result<Role, Error> {
    let start = tokio::time::Instant::now();
    loop {
        let info = node.channel(channel.clone()).await?.info().await?;
        if let Some(role) = info.role(node.local_id()) {
            return Ok(role);
        }
        if start.elapsed() > limit {
            return Err(Error::InvalidState(format!(
                "{} did not learn it is a member of {channel} within {limit:?}",
                node.local_id()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The epoch of simulated clocks (2024-01-01).
pub const EPOCH_MS: u64 = 1_704_067_200_000;

/// One node of a [`Cluster`]: its id, store (kept across restarts) and clock.
#[derive(Debug)]
pub struct Member {
    /// The node's identity.
    pub identity: Identity,
    /// The node's id.
    pub id: NodeId,
    /// Its store, reused when the node restarts.
    pub store: MemoryStore,
    /// Its clock.
    pub clock: SimClock,
    /// The running node, if up.
    pub node: Option<Coordinator>,
}

/// N nodes on one in-memory network, all peers of each other, sharing one channel.
#[derive(Debug)]
pub struct Cluster {
    /// The network.
    pub network: MemoryNetwork,
    /// The nodes.
    pub members: Vec<Member>,
    /// The shared channel.
    pub channel: ChannelId,
    /// The shared stream.
    pub stream: StreamId,
    config: Config,
}

/// The identity of the `i`-th node (seeded: the same on every run).
pub fn identity(i: usize) -> Identity {
    Identity::from_seed(format!("node-{i}"))
}

/// The id of the `i`-th node.
pub fn node_id(i: usize) -> NodeId {
    identity(i).node_id().clone()
}

impl Cluster {
    /// Builds and starts `n` nodes with `config` (each node's seed derived from it).
    pub async fn start(n: usize, config: Config, seed: u64) -> Result<Self, Error> {
        Self::start_on(MemoryNetworkConfig::default().seed(seed), n, config).await
    }

    /// As [`start`](Self::start), on a network configured by `network`.
    pub async fn start_on(
        network: MemoryNetworkConfig,
        n: usize,
        config: Config,
    ) -> Result<Self, Error> {
        let network = MemoryNetwork::new(network);
        let members = (0..n)
            .map(|i| Member {
                identity: identity(i),
                id: node_id(i),
                store: MemoryStore::new(),
                clock: SimClock::new(EPOCH_MS),
                node: None,
            })
            .collect();
        let mut cluster = Self {
            network,
            members,
            channel: ChannelId::derive(&node_id(0), "channel")?,
            stream: StreamId::new("stream")?,
            config,
        };
        for i in 0..n {
            cluster.boot(i).await?;
        }
        cluster.await_membership().await?;
        Ok(cluster)
    }

    /// Starts node `i` (again) on its store.
    pub async fn boot(&mut self, i: usize) -> Result<(), Error> {
        let n = self.members.len();
        let member = &mut self.members[i];
        let transport = self.network.join(&member.identity)?;
        let config = self
            .config
            .clone()
            .seed(self.config.seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
        let node = Coordinator::builder(member.identity.clone())
            .store(member.store.clone())
            .transport(transport)
            .clock(member.clock.clone())
            .config(config)
            .build()
            .await?;
        for j in 0..n {
            if j != i {
                node.add_peer(node_id(j)).await?;
            }
        }
        let members: Vec<NodeId> = (0..n).map(node_id).collect();
        open_shared_channel(&node, &self.channel, &members).await?;
        node.start().await?;
        member.node = Some(node);
        Ok(())
    }

    /// Waits (in simulated time) until every running node knows it is a
    /// member of the shared channel: the owner's control log reached it.
    pub async fn await_membership(&self) -> Result<(), Error> {
        for m in &self.members {
            if let Some(node) = &m.node {
                await_role(node, &self.channel, Duration::from_secs(60)).await?;
            }
        }
        Ok(())
    }

    /// Stops node `i` abruptly (its store survives).
    pub async fn crash(&mut self, i: usize) -> Result<(), Error> {
        if let Some(node) = self.members[i].node.take() {
            node.dispose().await?;
        }
        self.network.leave(&self.members[i].id);
        Ok(())
    }

    /// The running node `i`.
    pub fn node(&self, i: usize) -> &Coordinator {
        self.members[i].node.as_ref().expect("node is up")
    }

    /// Node `i`'s handle on the shared stream.
    pub async fn stream(&self, i: usize) -> Result<StreamHandle, Error> {
        let channel = self.node(i).channel(self.channel.clone()).await?;
        channel.stream(self.stream.clone()).await
    }

    /// Appends `payload` on node `i`.
    pub async fn append(
        &self,
        i: usize,
        payload: impl Into<bytes::Bytes>,
    ) -> Result<LogEntry, Error> {
        self.stream(i).await?.append(payload).await
    }

    /// Node `i`'s entries of the shared stream, in read order.
    pub async fn entries(&self, i: usize) -> Result<Vec<LogEntry>, Error> {
        self.stream(i).await?.entries().await
    }

    /// Whether every running node holds exactly `expected` entries.
    pub async fn all_hold(&self, expected: usize) -> Result<bool, Error> {
        for (i, m) in self.members.iter().enumerate() {
            if m.node.is_some() && self.entries(i).await?.len() != expected {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Waits (in simulated time, polling every 10 ms) until every running node
    /// holds `expected` entries; returns how long it took, or `None` after `limit`.
    pub async fn wait_converged(
        &self,
        expected: usize,
        limit: Duration,
    ) -> Result<Option<Duration>, Error> {
        let start = tokio::time::Instant::now();
        while start.elapsed() <= limit {
            if self.all_hold(expected).await? {
                return Ok(Some(start.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(None)
    }
}
