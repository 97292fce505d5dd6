//! The node task: the one place where `await` meets the store and the network.
//!
//! [`Driver`] owns the node's state, grouped by concern, each group in its
//! own file with its own tests:
//!
//! - [`Link`](link::Link): the transport and its frame limit;
//! - [`Timers`](timers::Timers): the time base and periodic deadlines;
//! - [`PeerBook`](peers::PeerBook): peers, budgets, pulls under way;
//! - [`Engines`](engines::Engines): SWIM, anti-entropy, eager and lazy push;
//! - [`Replica`](replica::Replica): channels, the replica index, the
//!   out-of-order buffer and the hybrid clock;
//! - [`PeerSync`](peer_sync::PeerSync): where each peer stands, per
//!   channel and stream.
//!
//! Its behaviour is split the same way: the `select!` loop and frame
//! handling ([`event_loop`]), commands from handles ([`commands`]), the
//! lifecycle ([`lifecycle`]), replication — gossip rounds, digests, deltas,
//! pushes ([`replication`]), authors' pushes of their own entries
//! ([`author_push`]), lazy push in large channels ([`lazy`]), discovered peers ([`discovery`]), ingest — local appends and remote merges
//! through one commit path ([`ingest`]), and retention ([`retention`]).
//! Handles talk to the task through a bounded command queue.

mod acks;
mod addresses;
mod author_push;
mod commands;
mod discovery;
mod engines;
mod event_loop;
#[cfg(test)]
pub(super) mod fixture;
mod ingest;
mod lazy;
mod lifecycle;
mod limits;
mod link;
mod membership;
mod peer_sync;
mod peers;
mod pulls;
mod receipts;
mod replica;
mod replication;
mod retention;
mod sync_state;
mod timers;

use std::{collections::VecDeque, sync::Arc};

use bytes::Bytes;

use self::{
    engines::Engines, link::Link, peer_sync::PeerSync, peers::PeerBook, replica::Replica,
    timers::Timers,
};
use super::{
    config::Config,
    health::{NodeState, NodeStats},
    subscription::Feeds,
};
use crate::{
    domain::{NodeId, SyncError},
    error::{Error, TransportErrorKind},
    identity::Identity,
    ports::{Clock, DynStore, DynTransport},
};

/// Everything the node task owns.
pub(crate) struct Driver {
    /// Signs what this node appends.
    identity: Identity,
    local: NodeId,
    config: Config,
    store: DynStore,
    clock: Arc<dyn Clock>,
    feeds: Arc<Feeds>,
    state: NodeState,
    stats: NodeStats,
    /// The buffer transport events are received into, a burst at a time.
    inbox: Vec<crate::ports::TransportResult<crate::ports::TransportEvent>>,
    link: Link,
    timers: Timers,
    peers: PeerBook,
    engines: Engines,
    replica: Replica,
    /// Where each peer stands, per channel and stream.
    peer_sync: PeerSync,
    /// Durable appends waiting for enough holders.
    receipts: receipts::Receipts,
    /// Entries to acknowledge to their pushers and authors.
    acks: acks::Acks,
    /// What lets pushes of authors' own entries leave links out.
    author_pushes: author_push::AuthorPushes,
    /// The delta request last sent to each peer, continued while it has more.
    pulls: pulls::Pulls,
    /// The mean size of the entries last read to serve deltas, which sizes
    /// the next reads (see `replication::read_page_len`).
    served_entry_size: Option<u64>,
}

impl Driver {
    /// Loads the state of the node whose identity is `identity` from `store` (entries are the truth:
    /// channels, versions, bases, peers and the clock are derived from it)
    /// into an [`Idle`](NodeState::Idle) driver that reports on `feeds`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the transport speaks for another node or
    /// its frames cannot carry `config.max_payload_bytes`; [`Error::Store`]
    /// when the saved state cannot be read.
    pub(crate) async fn load(
        identity: Identity,
        config: Config,
        store: DynStore,
        transport: Option<DynTransport>,
        clock: Arc<dyn Clock>,
        feeds: Arc<Feeds>,
    ) -> Result<Self, Error> {
        let local = identity.node_id().clone();
        let link = Link::new(transport, &local, config.max_payload_bytes)?;
        let replica = Replica::load(store.as_ref(), &local, &config).await?;
        let peers = PeerBook::new(store.load_peers().await?, &config);
        Ok(Self {
            engines: Engines::new(local.clone(), &config),
            identity,
            timers: Timers::new(config.retention_interval),
            local,
            store,
            clock,
            feeds,
            state: NodeState::Idle,
            stats: NodeStats::default(),
            inbox: Vec::new(),
            link,
            peers,
            replica,
            peer_sync: PeerSync::default(),
            receipts: receipts::Receipts::default(),
            acks: acks::Acks::default(),
            author_pushes: author_push::AuthorPushes::default(),
            pulls: pulls::Pulls::default(),
            served_entry_size: None,
            config,
        })
    }

    /// Whether frames are received (running or paused, with a transport).
    fn networking(&self) -> bool {
        self.link.is_up() && matches!(self.state, NodeState::Running | NodeState::Paused)
    }

    /// Whether the node gossips, probes and pushes.
    fn running(&self) -> bool {
        self.link.is_up() && self.state == NodeState::Running
    }

    /// Sends one frame, counting it; failures are counted and reported.
    async fn send(&mut self, to: &NodeId, frame: Bytes) -> bool {
        self.send_batch(to, VecDeque::from([frame])).await == 1
    }

    /// Sends frames to one peer in one call of the transport, counting
    /// them; returns how many were accepted. The first refusal ends the
    /// batch: every frame not sent counts as a send failure, and the error
    /// is reported.
    async fn send_batch(&mut self, to: &NodeId, mut frames: VecDeque<Bytes>) -> usize {
        let Some(transport) = self.link.transport() else {
            return 0;
        };
        let offered = frames.len();
        let bytes: u64 = frames.iter().map(|frame| frame.len() as u64).sum();
        let result = transport.send_many(to, &mut frames).await;
        let unsent_bytes: u64 = frames.iter().map(|frame| frame.len() as u64).sum();
        let sent = offered - frames.len();
        self.stats.frames_out += sent as u64;
        self.stats.bytes_out += bytes - unsent_bytes;
        self.stats.send_failures += frames.len() as u64;
        if let Err(error) = result {
            // Unreachable peers are SWIM's business; don't flood the error stream.
            if !matches!(
                error.kind(),
                TransportErrorKind::Unreachable | TransportErrorKind::QueueFull
            ) {
                self.report(Error::Transport(error), Some(to));
            }
        }
        sent
    }

    /// Reports a non-fatal error on the error stream.
    fn report(&self, error: Error, peer: Option<&NodeId>) {
        let mut e = SyncError::new(error);
        if let Some(peer) = peer {
            e = e.with_peer(peer.clone());
        }
        self.feeds.error(e);
    }
}
