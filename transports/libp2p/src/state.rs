//! The state shared by a transport's handle and its swarm task: who is who
//! (`NodeId` ↔ `PeerId`), the address book, per-peer link state (connections,
//! backoff), the per-peer send queues ([`Links`]) and the counters.
//!
//! Every transition happens under one short-held lock, never across an
//! `.await`; the swarm task in [`driver`](crate::driver) does the I/O.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex, MutexGuard, PoisonError,
    },
};

use gossip_core::{raw::SeededRng, InboundSender, NodeId, TransportError, TransportErrorKind};
use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};
use tokio::{sync::watch, time::Instant};

use crate::{
    identity::{node_id_from_peer_id, peer_id_from_node_id},
    link::{Links, Readers},
    Libp2pConfig, Libp2pStats, BACKEND,
};

/// Addresses kept per peer, in each of the two lists (given, learnt).
const MAX_ADDRESSES: usize = 16;

/// How many peers are remembered as already reported by `PeerDiscovered`
/// (the set is cleared when full, so it stays bounded).
const REPORTED_LIMIT: usize = 1024;

/// Peers whose state is kept without an address or a connection (learnt
/// addresses only), beyond which such entries are forgotten.
const MAX_LEARNT_PEERS: usize = 4096;

/// What the transport knows about one remote peer.
#[derive(Default)]
pub(crate) struct PeerState {
    /// Addresses the application gave (`add_peer_address`).
    addresses: Vec<Multiaddr>,
    /// Addresses learnt from identify or mDNS; dialed when there are no
    /// given ones.
    learnt: Vec<Multiaddr>,
    /// Established connections now.
    connections: u32,
    /// Consecutive failed dials (reset by any connection).
    failures: u32,
    /// While set and in the future, `send` fails fast with `Unreachable`.
    backoff_until: Option<Instant>,
    /// Why the last dial failed, the source of `Unreachable`.
    last_error: Option<TransportError>,
}

impl PeerState {
    fn dial_addresses(&self) -> Vec<Multiaddr> {
        if self.addresses.is_empty() {
            self.learnt.clone()
        } else {
            self.addresses.clone()
        }
    }

    fn is_idle(&self) -> bool {
        self.addresses.is_empty() && self.connections == 0
    }
}

/// The peer table.
pub(crate) struct Table {
    /// Bindings of application-chosen node ids, both ways.
    peers: HashMap<PeerId, PeerState>,
    listen_addrs: Vec<Multiaddr>,
    rng: SeededRng,
    reported: HashSet<PeerId>,
}

/// Counters behind [`Libp2pStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) connections_opened: AtomicU64,
    pub(crate) dial_failures: AtomicU64,
    pub(crate) oversized_frames: AtomicU64,
    pub(crate) refused_streams: AtomicU64,
    pub(crate) streams_opened: AtomicU64,
    pub(crate) failed_frames: AtomicU64,
    pub(crate) inbound_failures: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The shared state.
pub(crate) struct Shared {
    pub(crate) local: NodeId,
    pub(crate) local_peer: PeerId,
    pub(crate) config: Libp2pConfig,
    table: Mutex<Table>,
    pub(crate) counters: Counters,
    /// The per-peer send queues and their writers.
    pub(crate) links: Links,
    /// The inbound substreams being read, per peer.
    pub(crate) readers: Readers,
    pub(crate) closed: AtomicBool,
    pub(crate) shutdown: watch::Sender<bool>,
}

/// A [`TransportError`] of this backend.
pub(crate) fn error(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
    TransportError::new(BACKEND, kind, message)
}

/// Splits a trailing `/p2p/<peer id>` off `address`.
pub(crate) fn split_p2p(address: &Multiaddr) -> (Multiaddr, Option<PeerId>) {
    let mut bare = address.clone();
    match bare.pop() {
        Some(Protocol::P2p(peer)) => (bare, Some(peer)),
        _ => (address.clone(), None),
    }
}

fn push_bounded(list: &mut Vec<Multiaddr>, address: Multiaddr) {
    if !list.contains(&address) {
        if list.len() >= MAX_ADDRESSES {
            list.remove(0);
        }
        list.push(address);
    }
}

impl Shared {
    pub(crate) fn new(local: NodeId, local_peer: PeerId, config: Libp2pConfig) -> Self {
        let rng = config.reconnect.rng(&local_peer.to_bytes());
        Self {
            local,
            local_peer,
            config,
            table: Mutex::new(Table {
                peers: HashMap::new(),
                listen_addrs: Vec::new(),
                rng,
                reported: HashSet::new(),
            }),
            counters: Counters::default(),
            links: Links::default(),
            readers: Readers::default(),
            closed: AtomicBool::new(false),
            shutdown: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Reports bad input from a peer as an error from `recv`, without
    /// waiting: dropped (and counted) when the inbound queue is full.
    pub(crate) fn report(&self, events: &InboundSender, failure: TransportError) {
        tracing::debug!(local = %self.local, %failure, "bad input");
        if events.try_push(Err(failure)).is_err() {
            bump(&self.counters.dropped_events);
        }
    }

    // ------------------------------------------------------------- ids --

    // ---------------------------------------------------- address book --

    /// Records that `node` listens on `address` (see
    /// [`Libp2pTransport::add_peer_address`](crate::Libp2pTransport::add_peer_address)).
    pub(crate) fn add_peer_address(
        &self,
        node: NodeId,
        address: &Multiaddr,
    ) -> Result<PeerId, TransportError> {
        let (bare, named) = split_p2p(address);
        let peer = peer_id_from_node_id(&node);
        if let Some(named) = named.filter(|named| *named != peer) {
            return Err(error(
                TransportErrorKind::Other,
                format!("{address} names peer {named}, but {node} is peer {peer}"),
            ));
        }
        if peer == self.local_peer {
            return Err(error(
                TransportErrorKind::Other,
                format!("{address} is this node's own peer id"),
            ));
        }
        let mut table = self.lock();
        let state = table.peers.entry(peer).or_default();
        if !bare.is_empty() {
            push_bounded(&mut state.addresses, bare);
        }
        state.backoff_until = None;
        Ok(peer)
    }

    /// The address book: node, peer and the addresses given for it, sorted by node.
    pub(crate) fn peer_addresses(&self) -> Vec<(NodeId, PeerId, Vec<Multiaddr>)> {
        let table = self.lock();
        let mut list: Vec<_> = table
            .peers
            .iter()
            .filter(|(_, state)| !state.addresses.is_empty())
            .filter_map(|(peer, state)| {
                node_id_from_peer_id(peer).map(|node| (node, *peer, state.addresses.clone()))
            })
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Addresses learnt from identify or mDNS for `peer`. Returns the node
    /// id to report with `PeerDiscovered` when the peer is new to us (no
    /// given address, not reported before).
    pub(crate) fn learn_addresses(
        &self,
        peer: PeerId,
        addresses: impl IntoIterator<Item = Multiaddr>,
    ) -> Option<(NodeId, Option<Multiaddr>)> {
        if peer == self.local_peer {
            return None;
        }
        let mut guard = self.lock();
        let table = &mut *guard;
        if !table.peers.contains_key(&peer) && table.peers.len() >= MAX_LEARNT_PEERS {
            table.peers.retain(|_, state| !state.is_idle());
        }
        let state = table.peers.entry(peer).or_default();
        for address in addresses {
            let (bare, _) = split_p2p(&address);
            if !bare.is_empty() {
                push_bounded(&mut state.learnt, bare);
            }
        }
        let known = !state.addresses.is_empty();
        let first = state.learnt.first().cloned();
        if known || table.reported.contains(&peer) {
            return None;
        }
        if table.reported.len() >= REPORTED_LIMIT {
            table.reported.clear();
        }
        table.reported.insert(peer);
        let node = node_id_from_peer_id(&peer)?;
        Some((node, first.map(|address| address.with(Protocol::P2p(peer)))))
    }

    pub(crate) fn set_listen_addr(&self, address: Multiaddr, present: bool) {
        let mut table = self.lock();
        if present {
            if !table.listen_addrs.contains(&address) {
                table.listen_addrs.push(address);
            }
        } else {
            table.listen_addrs.retain(|a| *a != address);
        }
    }

    pub(crate) fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.lock().listen_addrs.clone()
    }

    // ------------------------------------------------------------ send --

    /// Admits a frame for `to`: resolves the peer and checks that it is
    /// connected or can be dialed now (see [`dial_plan`](Self::dial_plan)).
    pub(crate) fn admit(&self, to: &NodeId) -> Result<PeerId, TransportError> {
        let peer = peer_id_from_node_id(to);
        if peer == self.local_peer {
            return Err(TransportError::send_to_self(BACKEND));
        }
        self.dial_plan_of(to, &peer)?;
        Ok(peer)
    }

    /// What reaching `peer` takes now: `None` when it is connected, the
    /// addresses to dial when it is not.
    ///
    /// # Errors
    ///
    /// `UnknownPeer` when it is not connected and no address is known;
    /// `Unreachable` while it is in backoff after a failed dial.
    pub(crate) fn dial_plan(
        &self,
        peer: &PeerId,
    ) -> Result<Option<Vec<Multiaddr>>, TransportError> {
        match node_id_from_peer_id(peer) {
            Some(node) => self.dial_plan_of(&node, peer),
            None => Err(error(
                TransportErrorKind::UnknownPeer,
                format!("{peer} is not a gossip node"),
            )),
        }
    }

    fn dial_plan_of(
        &self,
        to: &NodeId,
        peer: &PeerId,
    ) -> Result<Option<Vec<Multiaddr>>, TransportError> {
        let table = self.lock();
        let unknown = || TransportError::unknown_peer(BACKEND, to);
        let state = table.peers.get(peer).ok_or_else(unknown)?;
        if state.connections > 0 {
            return Ok(None);
        }
        let dial = state.dial_addresses();
        if dial.is_empty() {
            return Err(unknown());
        }
        if let Some(until) = state.backoff_until {
            let now = Instant::now();
            if now < until {
                let mut failure = TransportError::unreachable(
                    BACKEND,
                    to,
                    format_args!("next dial in {:?}", until.saturating_duration_since(now)),
                );
                if let Some(last) = &state.last_error {
                    failure = failure.with_source(last.clone());
                }
                return Err(failure);
            }
        }
        Ok(Some(dial))
    }

    // ----------------------------------------------------- connections --

    /// `peer` now has `established` connections. Returns whether it is
    /// the first.
    pub(crate) fn connected(&self, peer: PeerId, established: u32) -> bool {
        let mut table = self.lock();
        let state = table.peers.entry(peer).or_default();
        let first = state.connections == 0;
        state.connections = established;
        state.failures = 0;
        state.backoff_until = None;
        state.last_error = None;
        bump(&self.counters.connections_opened);
        first
    }

    /// A connection to `peer` closed; `remaining` are still up.
    pub(crate) fn disconnected(&self, peer: &PeerId, remaining: u32) {
        let mut table = self.lock();
        if let Some(state) = table.peers.get_mut(peer) {
            state.connections = remaining;
            if state.is_idle() && state.learnt.is_empty() {
                table.peers.remove(peer);
            }
        }
    }

    /// A dial to `peer` failed: back off (once per failure, not once per
    /// frame that was waiting for it).
    pub(crate) fn dial_failed(&self, peer: &PeerId, why: TransportError) {
        let mut guard = self.lock();
        let table = &mut *guard;
        let Some(state) = table.peers.get_mut(peer) else {
            return;
        };
        let now = Instant::now();
        if state.connections > 0 || state.backoff_until.is_some_and(|until| now < until) {
            return;
        }
        state.failures = state.failures.saturating_add(1);
        let delay = self.config.reconnect.delay(state.failures, &mut table.rng);
        state.backoff_until = Some(now + delay);
        tracing::debug!(
            local = %self.local, %peer, failures = state.failures, ?delay, %why,
            "dial failed; backing off"
        );
        state.last_error = Some(why);
        bump(&self.counters.dial_failures);
    }

    pub(crate) fn stats(&self) -> Libp2pStats {
        let connected_peers = self
            .lock()
            .peers
            .values()
            .filter(|state| state.connections > 0)
            .count();
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        Libp2pStats {
            connected_peers,
            connections_opened: get(&counters.connections_opened),
            dial_failures: get(&counters.dial_failures),
            oversized_frames: get(&counters.oversized_frames),
            refused_streams: get(&counters.refused_streams),
            streams_opened: get(&counters.streams_opened),
            failed_frames: get(&counters.failed_frames),
            inbound_failures: get(&counters.inbound_failures),
            handshake_failures: get(&counters.handshake_failures),
            dropped_events: get(&counters.dropped_events),
        }
    }
}
