//! [`CoordinatorBuilder`]: assembles a node from a store, a transport, a clock and a config.
//!
//! The builder is typed by what it holds: `build()` only exists once a store
//! was given, so forgetting it does not compile.
//!
//! ```compile_fail
//! # async fn f() -> Result<(), gossip_core::Error> {
//! use gossip_core::{Coordinator, Identity};
//! // No store: there is no `build` to call.
//! let node = Coordinator::builder(Identity::generate()).build().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{config::Config, coordinator::Coordinator, driver::Driver, subscription::Feeds};
use crate::{
    error::Error,
    identity::Identity,
    ports::{Clock, DynStore, DynTransport, Store, SystemClock, Transport},
};

/// The builder's state before a store is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

/// Assembles a [`Coordinator`]. Start with [`Coordinator::builder`].
#[must_use]
pub struct CoordinatorBuilder<S = NoStore> {
    identity: Identity,
    store: S,
    transport: Option<DynTransport>,
    clock: Arc<dyn Clock>,
    config: Config,
}

impl<S> std::fmt::Debug for CoordinatorBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorBuilder")
            .field("identity", &self.identity)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CoordinatorBuilder<NoStore> {
    pub(crate) fn new(identity: Identity) -> Self {
        Self {
            identity,
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
            identity: self.identity,
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
    /// current tokio runtime). The node starts [`Idle`](super::NodeState::Idle):
    /// call [`Coordinator::start`] to begin networking.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a bad configuration or a payload limit
    /// that does not fit the transport's frames; [`Error::Store`] when the
    /// saved state cannot be read.
    pub async fn build(self) -> Result<Coordinator, Error> {
        let Self {
            identity,
            store,
            transport,
            clock,
            config,
        } = self;
        config.validate()?;
        let local = identity.node_id().clone();
        let feeds = Arc::new(Feeds::new(config.stream_capacity));
        let (commands, receiver) = mpsc::channel(config.command_capacity);
        let driver = Driver::load(
            identity,
            config,
            store.clone(),
            transport,
            clock,
            feeds.clone(),
        )
        .await?;
        tokio::spawn(driver.run(receiver));
        Ok(Coordinator::new(local, commands, store, feeds))
    }
}
