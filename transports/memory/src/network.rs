//! [`MemoryNetwork`]: the shared bus nodes join, and where faults are configured.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

use bytes::Bytes;
use gossip_core::{
    raw::SeededRng, Identity, NodeId, TransportCapabilities, TransportError, TransportErrorKind,
    TransportResult,
};
use tokio::time::Instant;

use crate::{
    config::{Fate, LinkFaults, MemoryNetworkConfig},
    inbox::Node,
    MemoryTransport, BACKEND,
};

/// An in-process network: nodes [`join`](Self::join) it and exchange frames
/// through bounded inboxes, over links that can drop, delay, duplicate,
/// reorder and partition, all driven by one seed.
///
/// Cloning is cheap and gives another handle to the same network.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use gossip_core::{Identity, Transport};
/// use gossip_transport_memory::{LinkFaults, MemoryNetwork, MemoryNetworkConfig};
///
/// let network = MemoryNetwork::new(MemoryNetworkConfig::default().seed(1));
/// let (alice, bob) = (Identity::from_seed("a"), Identity::from_seed("b"));
/// let node_a = network.join(&alice)?;
/// let _node_b = network.join(&bob)?;
/// let (a, b) = (alice.node_id().clone(), bob.node_id().clone());
///
/// network.partition(&[a.clone()], &[b.clone()]);
/// node_a.send(&b, "lost".into()).await?; // silently lost, like a real network
/// network.heal();
/// network.set_default_faults(LinkFaults::none().drop(0.5));
/// assert!(!node_a.capabilities().reliable);
/// assert_eq!(network.stats().partitioned, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryNetwork {
    shared: Arc<Shared>,
}

/// Counters of a [`MemoryNetwork`], since it was created.
///
/// Once every inbox is empty ([`MemoryNetwork::queued`] is 0):
/// `sent + duplicated == delivered + dropped + partitioned + discarded`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryNetworkStats {
    /// Frames accepted by `send` (it returned `Ok`), lost ones included.
    pub sent: u64,
    /// `send` calls that failed (too large, unknown or unreachable peer,
    /// full inbox, closed sender).
    pub rejected: u64,
    /// Frames returned by `recv`, duplicates included.
    pub delivered: u64,
    /// Frames lost to the [`drop`](LinkFaults::drop) fault.
    pub dropped: u64,
    /// Frames lost to a partition.
    pub partitioned: u64,
    /// Extra copies made by the [`duplicate`](LinkFaults::duplicate) fault.
    pub duplicated: u64,
    /// Frames still waiting in an inbox when its node closed or left.
    pub discarded: u64,
}

pub(crate) struct Shared {
    seed: u64,
    max_frame_len: usize,
    inbound_queue_capacity: usize,
    state: Mutex<State>,
    stats: Counters,
}

struct State {
    default_faults: LinkFaults,
    link_faults: HashMap<Link, LinkFaults>,
    blocked: HashSet<Link>,
    /// Attached nodes.
    nodes: HashMap<NodeId, Arc<Node>>,
    /// Every id that ever joined: sending to one of them while it is away is
    /// `Unreachable`, to any other id `UnknownPeer`.
    known: HashSet<NodeId>,
    links: HashMap<Link, LinkState>,
    /// Tie-breaker of frames due at the same instant: the order they were sent.
    next_seq: u64,
}

type Link = (NodeId, NodeId);

struct LinkState {
    rng: SeededRng,
    /// When the last in-order frame of the link is due: later ones are not
    /// delivered before it.
    last_due: Option<Instant>,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    rejected: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    partitioned: AtomicU64,
    duplicated: AtomicU64,
    discarded: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing in this crate panics while holding a lock; if a caller's
    // panic poisoned one, the data is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// FNV-1a, for per-link seeds that do not depend on the std hasher.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl LinkState {
    /// Each link has its own generator, derived from the network seed and the
    /// two ids, so one link's schedule does not depend on traffic elsewhere.
    fn new(seed: u64, (from, to): &Link) -> Self {
        let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, &seed.to_le_bytes());
        hash = fnv1a(hash, from.as_str().as_bytes());
        hash = fnv1a(hash, &[0xff]);
        hash = fnv1a(hash, to.as_str().as_bytes());
        Self {
            rng: SeededRng::new(seed ^ hash).fork(),
            last_due: None,
        }
    }
}

fn error(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
    TransportError::new(BACKEND, kind, message)
}

/// `now + by`, saturating far in the future instead of overflowing.
fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

impl MemoryNetwork {
    /// A network with no nodes yet. A `max_frame_len` or `inbound_queue_capacity`
    /// of 0 is raised to 1.
    #[must_use]
    pub fn new(config: MemoryNetworkConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                seed: config.seed,
                max_frame_len: config.max_frame_len.max(1),
                inbound_queue_capacity: config.inbound_queue_capacity.max(1),
                state: Mutex::new(State {
                    default_faults: config.default_faults,
                    link_faults: HashMap::new(),
                    blocked: HashSet::new(),
                    nodes: HashMap::new(),
                    known: HashSet::new(),
                    links: HashMap::new(),
                    next_seq: 0,
                }),
                stats: Counters::default(),
            }),
        }
    }

    /// Attaches the node whose identity is `identity` and returns its
    /// transport. Joining takes the identity, not just its id: a transport
    /// speaks only for a node whose secret key its caller holds, and frames
    /// it sends carry that id as `from`.
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Other`] when a transport for the node is
    /// attached already. Once it has closed, left or been dropped, the node
    /// may join again (a node restart): it starts with an empty inbox.
    pub fn join(&self, identity: &Identity) -> Result<MemoryTransport, TransportError> {
        let id = identity.node_id().clone();
        let mut state = lock(&self.shared.state);
        if state.nodes.contains_key(&id) {
            return Err(error(
                TransportErrorKind::Other,
                format!("node {id} is already attached to this network"),
            ));
        }
        let node = Arc::new(Node::new(id.clone()));
        state.nodes.insert(id.clone(), node.clone());
        state.known.insert(id);
        drop(state);
        Ok(MemoryTransport::new(self.clone(), node))
    }

    /// Detaches node `id` as if it crashed: frames waiting for it are
    /// discarded, its pending and future `recv` calls return `Closed`, its
    /// `send` calls fail with `Closed`, and frames sent to it fail with
    /// `Unreachable` until it joins again. Returns whether it was attached.
    pub fn leave(&self, id: &NodeId) -> bool {
        let node = lock(&self.shared.state).nodes.remove(id);
        match node {
            Some(node) => {
                self.shut(&node);
                true
            }
            None => false,
        }
    }

    /// The ids of the attached nodes, sorted.
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = lock(&self.shared.state).nodes.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Whether node `id` is attached.
    #[must_use]
    pub fn is_attached(&self, id: &NodeId) -> bool {
        lock(&self.shared.state).nodes.contains_key(id)
    }

    /// Replaces the faults of every link that has none of its own.
    pub fn set_default_faults(&self, faults: LinkFaults) {
        lock(&self.shared.state).default_faults = faults;
    }

    /// Sets the faults of the link `from` → `to` (one direction), overriding
    /// the default faults.
    pub fn set_link_faults(&self, from: &NodeId, to: &NodeId, faults: LinkFaults) {
        lock(&self.shared.state)
            .link_faults
            .insert((from.clone(), to.clone()), faults);
    }

    /// Removes every fault: default faults become [`LinkFaults::none`] and
    /// per-link faults are forgotten. Partitions stay (see [`heal`](Self::heal)).
    /// Frames already in flight keep the fate they were given.
    pub fn clear_faults(&self) {
        let mut state = lock(&self.shared.state);
        state.default_faults = LinkFaults::none();
        state.link_faults.clear();
    }

    /// Cuts every link between `a_side` and `b_side`, both ways. Frames sent
    /// across are silently lost (`send` returns `Ok`), as on a real network.
    pub fn partition(&self, a_side: &[NodeId], b_side: &[NodeId]) {
        let mut state = lock(&self.shared.state);
        for a in a_side {
            for b in b_side {
                state.blocked.insert((a.clone(), b.clone()));
                state.blocked.insert((b.clone(), a.clone()));
            }
        }
    }

    /// Cuts the link `from` → `to` only: `to` can still reach `from`.
    pub fn partition_one_way(&self, from: &NodeId, to: &NodeId) {
        lock(&self.shared.state)
            .blocked
            .insert((from.clone(), to.clone()));
    }

    /// Removes every partition. Faults stay (see [`clear_faults`](Self::clear_faults)).
    pub fn heal(&self) {
        lock(&self.shared.state).blocked.clear();
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> MemoryNetworkStats {
        let counters = &self.shared.stats;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MemoryNetworkStats {
            sent: read(&counters.sent),
            rejected: read(&counters.rejected),
            delivered: read(&counters.delivered),
            dropped: read(&counters.dropped),
            partitioned: read(&counters.partitioned),
            duplicated: read(&counters.duplicated),
            discarded: read(&counters.discarded),
        }
    }

    /// Frames waiting in the inboxes of attached nodes, delayed ones included.
    #[must_use]
    pub fn queued(&self) -> usize {
        let state = lock(&self.shared.state);
        state.nodes.values().map(|node| node.queued()).sum()
    }

    /// The network's seed.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// The largest frame, in bytes.
    #[must_use]
    pub fn max_frame_len(&self) -> usize {
        self.shared.max_frame_len
    }

    // -------------------------------------------------- for MemoryTransport --

    /// Detaches `node` if it is still the attached incarnation of its id, and
    /// shuts its inbox. Idempotent.
    pub(crate) fn detach(&self, node: &Arc<Node>) {
        {
            let mut state = lock(&self.shared.state);
            if state
                .nodes
                .get(node.id())
                .is_some_and(|attached| Arc::ptr_eq(attached, node))
            {
                state.nodes.remove(node.id());
            }
        }
        self.shut(node);
    }

    fn shut(&self, node: &Node) {
        let discarded = node.shut();
        bump(&self.shared.stats.discarded, discarded as u64);
    }

    pub(crate) fn count_delivered(&self) {
        bump(&self.shared.stats.delivered, 1);
    }

    /// What a node can rely on now: the faults of the default and of the
    /// links from or to it (see [`MemoryTransport`]'s `capabilities`).
    pub(crate) fn capabilities_of(&self, id: &NodeId) -> TransportCapabilities {
        let state = lock(&self.shared.state);
        let relevant = std::iter::once(&state.default_faults).chain(
            state
                .link_faults
                .iter()
                .filter(|((from, to), _)| from == id || to == id)
                .map(|(_, faults)| faults),
        );
        let mut caps = TransportCapabilities::stream_like();
        for faults in relevant {
            caps.reliable &= !faults.may_drop();
            caps.ordered &= !faults.may_reorder();
            caps.may_duplicate |= faults.may_duplicate();
        }
        caps
    }

    /// Routes one frame from `from` to `to`.
    pub(crate) fn send(&self, from: &Node, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        self.send_many(from, to, &mut VecDeque::from([frame]))
    }

    /// Routes the frames of `frames` front first under one lock, taking each
    /// one routed; stops at the first refused (left at the front). The
    /// receiver is woken once.
    pub(crate) fn send_many(
        &self,
        from: &Node,
        to: &NodeId,
        frames: &mut VecDeque<Bytes>,
    ) -> TransportResult<()> {
        let mut routed = 0;
        let mut woken = None;
        let result = if from.is_shut() {
            Err(TransportError::closed(BACKEND))
        } else {
            let mut guard = lock(&self.shared.state);
            let now = Instant::now();
            loop {
                let Some(frame) = frames.front() else {
                    break Ok(());
                };
                match self.route(&mut guard, from, to, frame.clone(), now) {
                    Ok(dest) => {
                        frames.pop_front();
                        routed += 1;
                        woken = dest.or(woken);
                    }
                    Err(error) => break Err(error),
                }
            }
        };
        bump(&self.shared.stats.sent, routed);
        if result.is_err() {
            bump(&self.shared.stats.rejected, 1);
        }
        if let Some(dest) = woken {
            dest.wake();
        }
        result
    }

    /// Routes one frame; returns the node to wake when it was queued (not
    /// when a fault or a partition took it).
    fn route(
        &self,
        state: &mut State,
        from: &Node,
        to: &NodeId,
        frame: Bytes,
        now: Instant,
    ) -> TransportResult<Option<Arc<Node>>> {
        let max = self.shared.max_frame_len;
        if frame.len() > max {
            return Err(TransportError::frame_too_large(BACKEND, frame.len(), max));
        }
        let Some(dest) = state.nodes.get(to).cloned() else {
            return Err(if state.known.contains(to) {
                TransportError::unreachable(BACKEND, to, "it is down")
            } else {
                TransportError::unknown_peer(BACKEND, to)
            });
        };
        let link: Link = (from.id().clone(), to.clone());
        if state.blocked.contains(&link) {
            bump(&self.shared.stats.partitioned, 1);
            return Ok(None);
        }
        let faults = state
            .link_faults
            .get(&link)
            .unwrap_or(&state.default_faults);
        let seed = self.shared.seed;
        let link_state = state
            .links
            .entry(link)
            .or_insert_with_key(|link| LinkState::new(seed, link));
        let (delay, reorder, duplicate) = match faults.decide(&mut link_state.rng) {
            Fate::Dropped => {
                bump(&self.shared.stats.dropped, 1);
                return Ok(None);
            }
            Fate::Delivered {
                delay,
                reorder,
                duplicate,
            } => (delay, reorder, duplicate),
        };
        let due = match reorder {
            Some(extra) => later(later(now, delay), extra),
            None => later(now, delay).max(link_state.last_due.unwrap_or(now)),
        };
        let capacity = self.shared.inbound_queue_capacity;
        let seq = state.next_seq;
        let copies = dest
            .push(from.id(), frame, due, seq, duplicate, capacity)
            .map_err(|()| {
                TransportError::queue_full(BACKEND, format_args!("the inbox of {to}"), capacity)
            })?;
        state.next_seq += copies;
        if reorder.is_none() {
            link_state.last_due = Some(due);
        }
        if copies > 1 {
            bump(&self.shared.stats.duplicated, copies - 1);
        }
        Ok(Some(dest))
    }
}

impl fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryNetwork")
            .field("seed", &self.shared.seed)
            .field("max_frame_len", &self.shared.max_frame_len)
            .field(
                "inbound_queue_capacity",
                &self.shared.inbound_queue_capacity,
            )
            .field("nodes", &self.nodes())
            .field("stats", &self.stats())
            .finish()
    }
}
