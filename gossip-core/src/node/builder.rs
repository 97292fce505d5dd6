//! [`CoordinatorBuilder`]: assembles a node from a store, a transport, a clock and a config.
//!
//! The builder is typed by what it holds: `build()` only exists once a store
//! was given, so forgetting it does not compile.
//!
//! ```compile_fail
//! # async fn f() -> Result<(), gossip_core::Error> {
//! use gossip_core::{Coordinator, NodeId};
//! // No store: there is no `build` to call.
//! let node = Coordinator::builder(NodeId::new("a")?).build().await?;
//! # Ok(()) }
//! ```

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use tokio::{sync::mpsc, time::Instant};

use super::{
    budget::InboundBudgets,
    config::Config,
    coordinator::Coordinator,
    driver::{Driver, FRAME_HEADROOM},
    health::{NodeState, NodeStats},
    subscription::Feeds,
};
use crate::{
    domain::{HlcClock, NodeId, OutOfOrderBuffer, SeededRng},
    error::Error,
    ports::{Clock, DynStore, DynTransport, Store, SystemClock, Transport},
    protocol::{
        anti_entropy::{AntiEntropy, ReplicaIndex},
        push::EagerPush,
        swim::{FailureDetector, SwimConfig},
    },
};

/// The builder's state before a store is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

/// Assembles a [`Coordinator`]. Start with [`Coordinator::builder`].
#[must_use]
pub struct CoordinatorBuilder<S = NoStore> {
    local: NodeId,
    store: S,
    transport: Option<DynTransport>,
    clock: Arc<dyn Clock>,
    config: Config,
}

impl<S> std::fmt::Debug for CoordinatorBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorBuilder")
            .field("local", &self.local)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CoordinatorBuilder<NoStore> {
    pub(crate) fn new(local: NodeId) -> Self {
        Self {
            local,
            store: NoStore,
            transport: None,
            clock: Arc::new(SystemClock),
            config: Config::default(),
        }
    }
}

impl<S> CoordinatorBuilder<S> {
    /// The store (required): `MemoryStore::new()`, `SqliteStore::open(..)`, or your own.
    pub fn store<T: Store>(self, store: T) -> CoordinatorBuilder<DynStore> {
        CoordinatorBuilder {
            local: self.local,
            store: Arc::new(store),
            transport: self.transport,
            clock: self.clock,
            config: self.config,
        }
    }

    /// The transport, possibly wrapped in layers. Without one the node works offline.
    pub fn transport<T: Transport>(mut self, transport: T) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// The physical clock (default: the system clock).
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The configuration (default: [`Config::default`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
}

impl CoordinatorBuilder<DynStore> {
    /// Loads the node's state from the store and spawns its task (on the
    /// current tokio runtime). The node starts [`Idle`](NodeState::Idle):
    /// call [`Coordinator::start`] to begin networking.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a bad configuration or a payload limit
    /// that does not fit the transport's frames; [`Error::Store`] when the
    /// saved state cannot be read.
    pub async fn build(self) -> Result<Coordinator, Error> {
        let Self {
            local,
            store,
            transport,
            clock,
            config,
        } = self;
        config.validate()?;
        let max_frame_len = transport.as_ref().map_or(usize::MAX, |t| t.max_frame_len());
        if let Some(t) = &transport {
            if t.local_id() != &local {
                return Err(Error::InvalidConfig(format!(
                    "the transport speaks for {} but the node is {local}",
                    t.local_id()
                )));
            }
            if config.max_payload_bytes + FRAME_HEADROOM > max_frame_len {
                return Err(Error::InvalidConfig(format!(
                    "max_payload_bytes {} does not fit the transport's largest frame of {max_frame_len} bytes",
                    config.max_payload_bytes
                )));
            }
        }

        // Everything below is derived from the store: entries are the truth.
        let mut hlc = HlcClock::new(config.max_clock_drift);
        if let Some(saved) = store.load_clock().await? {
            hlc.observe(saved);
        }
        let mut channels = BTreeMap::new();
        let mut index = ReplicaIndex::default();
        for channel in store.load_channels().await? {
            let id = channel.id().clone();
            index.add_channel(&id);
            for stream in store.streams(&id).await? {
                let version = store.version(&id, &stream).await?;
                let base = store.base(&id, &stream).await?;
                let own = version.get(&local);
                if own > 0 {
                    let last = store.read_author(&id, &stream, &local, own - 1, 1).await?;
                    if let Some(entry) = last.first() {
                        hlc.observe(entry.timestamp);
                    }
                }
                index.set(&id, &stream, version, base);
            }
            channels.insert(id, channel);
        }
        let peers = store
            .load_peers()
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();

        let mut rng = SeededRng::new(config.seed);
        let swim_config = SwimConfig::default()
            .probe_interval(config.probe_interval)
            .ping_timeout(config.ping_timeout)
            .ping_req_fanout(config.ping_req_fanout)
            .suspicion_threshold(config.suspicion_threshold)
            .suspicion_timeout(config.suspicion_timeout);
        let feeds = Arc::new(Feeds::new(config.stream_capacity));
        let (commands, receiver) = mpsc::channel(config.command_capacity);
        let now = Instant::now();
        let driver = Driver {
            swim: FailureDetector::new(local.clone(), swim_config, rng.fork()),
            anti_entropy: AntiEntropy::new(rng.fork()),
            push: EagerPush::new(config.push_fanout, rng.fork()),
            buffer: OutOfOrderBuffer::new(config.buffer),
            local: local.clone(),
            store: store.clone(),
            transport,
            clock,
            hlc,
            channels,
            index,
            peers,
            last_heard: Default::default(),
            rng,
            feeds: feeds.clone(),
            state: NodeState::Idle,
            stats: NodeStats::default(),
            epoch: now,
            next_gossip: now,
            next_retention: now + config.retention_interval,
            max_frame_len,
            budgets: InboundBudgets::new(config.inbound_budget),
            pulling_from: HashMap::new(),
            serving: HashMap::new(),
            config,
        };
        tokio::spawn(driver.run(receiver));
        Ok(Coordinator::new(local, commands, store, feeds))
    }
}
