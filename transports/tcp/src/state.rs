//! The state shared by a transport's handle and its tasks: the peer table
//! (address book, per-peer send queue, link state) and the inbound queue.
//!
//! Every transition happens under one short-held lock, never across an
//! `.await`; the tasks in [`connection`](crate::connection) do the I/O.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

use bytes::Bytes;
use gossip_core::{
    raw::SeededRng, InboundQueue, InboundSender, NodeId, TransportError, TransportErrorKind,
    TransportEvent,
};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

use crate::{handshake::Hello, TcpConfig, TcpConnectionInfo, TcpStats, BACKEND};

/// How many ids of unknown peers are remembered as already reported by
/// `PeerDiscovered` (the set is cleared when full, so it stays bounded).
const REPORTED_LIMIT: usize = 1024;

/// The receiving end of a peer's send queue, shared by the successive
/// connections to that peer (one writer holds it at a time).
pub(crate) type QueueRx = Arc<tokio::sync::Mutex<mpsc::Receiver<Bytes>>>;

/// A peer's bounded send queue.
pub(crate) struct Queue {
    pub(crate) tx: mpsc::Sender<Bytes>,
    pub(crate) rx: QueueRx,
}

impl Queue {
    fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Self {
            tx,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
        }
    }

    /// Frames waiting in the queue.
    fn pending(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// A live, handshaken connection, as the table knows it. Dropping it (or
/// replacing it) stops the connection's tasks.
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) dialed_by_us: bool,
    pub(crate) local_addr: SocketAddr,
    pub(crate) remote_addr: SocketAddr,
    /// The connection's tasks stop when this is dropped (or set).
    _stop: watch::Sender<bool>,
}

/// Where a peer's link stands.
pub(crate) enum Link {
    /// No connection, no attempt running.
    Idle,
    /// A connection attempt of ours is running.
    Dialing { attempt: u64 },
    /// Our attempt was answered `yield`: the peer keeps another connection
    /// with us or is dialing us; our connector waits until `until`.
    Yielding { attempt: u64 },
    /// A handshaken connection carries the frames.
    Connected(Conn),
    /// The last attempt failed: sends fail fast until `until`.
    Backoff { until: Instant },
}

/// One peer: its address (if the application gave one), its send queue and
/// its link.
pub(crate) struct Peer {
    pub(crate) address: Option<SocketAddr>,
    pub(crate) queue: Queue,
    pub(crate) link: Link,
    /// Consecutive failed connection attempts (reset by any connection).
    pub(crate) failures: u32,
    /// Why the last attempt failed, returned as the source of `Unreachable`.
    pub(crate) last_error: Option<TransportError>,
    /// The largest frame the peer accepts, learnt in the last handshake.
    pub(crate) max_frame_len: Option<usize>,
}

impl Peer {
    fn new(address: Option<SocketAddr>, capacity: usize) -> Self {
        Self {
            address,
            queue: Queue::new(capacity),
            link: Link::Idle,
            failures: 0,
            last_error: None,
            max_frame_len: None,
        }
    }
}

/// The peer table.
pub(crate) struct Table {
    pub(crate) peers: HashMap<NodeId, Peer>,
    rng: SeededRng,
    next_id: u64,
    reported: HashSet<NodeId>,
}

impl Table {
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// What the acceptor does with a handshaken inbound connection.
pub(crate) enum InboundDecision {
    /// Keep it: it is installed with this id; the connection's tasks stop
    /// when `stop` says so (or its sender is dropped).
    Accept {
        conn_id: u64,
        stop: watch::Receiver<bool>,
        queue: QueueRx,
    },
    /// Keep the other connection: answer `yield` and close this one.
    Yield,
}

/// Counters behind [`TcpStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) oversized_frames: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
    pub(crate) discarded_frames: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Everything a transport's tasks share.
pub(crate) struct Shared {
    pub(crate) local: NodeId,
    pub(crate) config: TcpConfig,
    pub(crate) local_addr: SocketAddr,
    pub(crate) hello: Hello,
    table: Mutex<Table>,
    /// What `recv` returns, closed with the transport.
    pub(crate) inbound: InboundQueue,
    /// The filling end of `inbound`, for the connection tasks.
    pub(crate) events: InboundSender,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) closed: AtomicBool,
    pub(crate) counters: Counters,
}

impl Shared {
    pub(crate) fn new(local: NodeId, config: TcpConfig, local_addr: SocketAddr) -> Self {
        let inbound = InboundQueue::new(BACKEND, config.limits.inbound_queue_capacity);
        let events = inbound.sender();
        let rng = config.reconnect.rng(local.as_str().as_bytes());
        let hello = Hello::ours(
            local.clone(),
            config.limits.max_frame_len,
            local_addr.port(),
        );
        Self {
            local,
            local_addr,
            hello,
            table: Mutex::new(Table {
                peers: HashMap::new(),
                rng,
                next_id: 0,
                reported: HashSet::new(),
            }),
            inbound,
            events,
            shutdown: watch::Sender::new(false),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            config,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent at every step, so a panic elsewhere
        // (a bug) does not make it unusable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A new receiver of the shutdown signal.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Queues a peer event for `recv` without waiting: when the inbound queue
    /// is full the event is dropped and counted (see the crate docs).
    pub(crate) fn notify(&self, event: TransportEvent) {
        if let Err(error) = self.events.try_push(Ok(event)) {
            bump(&self.counters.dropped_events, 1);
            tracing::debug!(local = %self.local, event = ?error.into_inner(), "inbound queue full: peer event dropped");
        }
    }

    /// Reports a peer's bad input (a failed handshake, a frame over the
    /// maximum, a truncated frame) to `recv` without waiting, so the node
    /// above puts it on its error stream. Dropped (and counted) when the
    /// inbound queue is full.
    pub(crate) fn report(&self, kind: TransportErrorKind, message: String) {
        if self.events.try_push(Err(error(kind, message))).is_err() {
            bump(&self.counters.dropped_events, 1);
        }
    }

    pub(crate) fn count_connect_failure(&self, handshake: bool) {
        if handshake {
            bump(&self.counters.handshake_failures, 1);
        } else {
            bump(&self.counters.connect_failures, 1);
        }
    }

    pub(crate) fn count_oversized(&self) {
        bump(&self.counters.oversized_frames, 1);
    }

    pub(crate) fn count_discarded(&self, frames: usize) {
        bump(&self.counters.discarded_frames, frames as u64);
    }

    pub(crate) fn stats(&self) -> TcpStats {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let connected_peers = self
            .lock()
            .peers
            .values()
            .filter(|peer| matches!(peer.link, Link::Connected(_)))
            .count();
        TcpStats {
            connected_peers,
            connections_opened: load(&c.connections_opened),
            connect_failures: load(&c.connect_failures),
            handshake_failures: load(&c.handshake_failures),
            oversized_frames: load(&c.oversized_frames),
            dropped_events: load(&c.dropped_events),
            discarded_frames: load(&c.discarded_frames),
        }
    }

    // ------------------------------------------------------ address book --

    pub(crate) fn add_peer_address(&self, peer: NodeId, address: SocketAddr) {
        let capacity = self.config.limits.send_queue_capacity;
        let mut table = self.lock();
        let entry = table
            .peers
            .entry(peer)
            .or_insert_with(|| Peer::new(None, capacity));
        if entry.address != Some(address) {
            entry.address = Some(address);
            // A new address deserves a fresh try.
            entry.failures = 0;
            if matches!(entry.link, Link::Backoff { .. }) {
                entry.link = Link::Idle;
            }
        }
    }

    /// Forgets the peer: its address, queued frames and connection.
    pub(crate) fn remove_peer(&self, peer: &NodeId) -> Option<SocketAddr> {
        let removed = self.lock().peers.remove(peer);
        let removed = removed?;
        if matches!(removed.link, Link::Connected(_)) {
            self.notify(TransportEvent::Disconnected { peer: peer.clone() });
        }
        removed.address
    }

    pub(crate) fn peer_addresses(&self) -> Vec<(NodeId, SocketAddr)> {
        let mut list: Vec<_> = self
            .lock()
            .peers
            .iter()
            .filter_map(|(id, peer)| peer.address.map(|address| (id.clone(), address)))
            .collect();
        list.sort();
        list
    }

    pub(crate) fn connections(&self) -> Vec<TcpConnectionInfo> {
        let mut list: Vec<_> = self
            .lock()
            .peers
            .iter()
            .filter_map(|(id, peer)| match &peer.link {
                Link::Connected(conn) => Some(TcpConnectionInfo {
                    peer: id.clone(),
                    local_addr: conn.local_addr,
                    remote_addr: conn.remote_addr,
                    dialed_by_us: conn.dialed_by_us,
                }),
                _ => None,
            })
            .collect();
        list.sort_by(|a, b| a.peer.cmp(&b.peer));
        list
    }

    // ------------------------------------------------------- transitions --

    /// Records a handshaken connection as the peer's link, replacing (and so
    /// stopping) any other. Returns what the connection's tasks need.
    fn install(
        &self,
        table: &mut Table,
        peer_id: &NodeId,
        hello: &Hello,
        conn_id: u64,
        dialed_by_us: bool,
        (local_addr, remote_addr): (SocketAddr, SocketAddr),
    ) -> Option<(watch::Receiver<bool>, QueueRx)> {
        let peer = table.peers.get_mut(peer_id)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let was_connected = matches!(peer.link, Link::Connected(_));
        peer.link = Link::Connected(Conn {
            id: conn_id,
            dialed_by_us,
            local_addr,
            remote_addr,
            _stop: stop_tx,
        });
        peer.failures = 0;
        peer.last_error = None;
        peer.max_frame_len = usize::try_from(hello.max_frame_len).ok();
        let queue = peer.queue.rx.clone();
        let unknown = peer.address.is_none();
        bump(&self.counters.connections_opened, 1);
        tracing::debug!(local = %self.local, peer = %peer_id, conn_id, dialed_by_us, %remote_addr, "connected");
        if !was_connected {
            self.notify(TransportEvent::Connected {
                peer: peer_id.clone(),
            });
        }
        if unknown && !table.reported.contains(peer_id) {
            if table.reported.len() >= REPORTED_LIMIT {
                table.reported.clear();
            }
            table.reported.insert(peer_id.clone());
            let address = (hello.listen_port != 0)
                .then(|| SocketAddr::new(remote_addr.ip(), hello.listen_port).to_string());
            self.notify(TransportEvent::PeerDiscovered {
                peer: peer_id.clone(),
                address,
            });
        }
        Some((stop_rx, queue))
    }

    /// Decides about an inbound connection from `hello.node`, whose handshake
    /// has been read. The tie-break between two connections of one pair keeps
    /// the one dialed by the smaller node id:
    ///
    /// - no link, backoff, or our own attempt already told to yield → accept;
    /// - our attempt is running → accept if the dialer's id is smaller than
    ///   ours (its connection wins; our attempt will be told to yield), else
    ///   yield (ours wins; the dialer's side accepts ours);
    /// - connected through a connection the peer dialed → accept, replacing
    ///   it (the peer only dials when it has lost that one);
    /// - connected through a connection we dialed → yield (a late attempt
    ///   from a simultaneous dial, or the peer lost it and will see us close
    ///   it; it retries after waiting).
    pub(crate) fn decide_inbound(
        &self,
        hello: &Hello,
        addrs: (SocketAddr, SocketAddr),
    ) -> InboundDecision {
        let capacity = self.config.limits.send_queue_capacity;
        let mut table = self.lock();
        let dialer = &hello.node;
        let peer = table
            .peers
            .entry(dialer.clone())
            .or_insert_with(|| Peer::new(None, capacity));
        let accept = match &peer.link {
            Link::Idle | Link::Backoff { .. } | Link::Yielding { .. } => true,
            Link::Dialing { .. } => dialer < &self.local,
            Link::Connected(conn) => !conn.dialed_by_us,
        };
        if !accept {
            return InboundDecision::Yield;
        }
        let conn_id = table.next_id();
        match self.install(&mut table, dialer, hello, conn_id, false, addrs) {
            Some((stop, queue)) => InboundDecision::Accept {
                conn_id,
                stop,
                queue,
            },
            None => InboundDecision::Yield,
        }
    }

    /// Our attempt `attempt` completed with `accepted`: installs it if it is
    /// still the peer's current attempt.
    pub(crate) fn dial_accepted(
        &self,
        peer_id: &NodeId,
        attempt: u64,
        hello: &Hello,
        addrs: (SocketAddr, SocketAddr),
    ) -> Option<(u64, watch::Receiver<bool>, QueueRx)> {
        let mut table = self.lock();
        let current = matches!(
            table.peers.get(peer_id).map(|peer| &peer.link),
            Some(Link::Dialing { attempt: a }) if *a == attempt
        );
        if !current {
            return None;
        }
        let conn_id = table.next_id();
        self.install(&mut table, peer_id, hello, conn_id, true, addrs)
            .map(|(stop, queue)| (conn_id, stop, queue))
    }

    /// Our attempt was told to yield: wait for the peer's connection.
    /// Returns `false` when the attempt is no longer current.
    pub(crate) fn dial_yielded(&self, peer_id: &NodeId, attempt: u64) -> bool {
        let mut table = self.lock();
        match table.peers.get_mut(peer_id) {
            Some(peer) if matches!(peer.link, Link::Dialing { attempt: a } if a == attempt) => {
                peer.link = Link::Yielding { attempt };
                true
            }
            _ => false,
        }
    }

    /// After waiting in `Yielding`: if no connection came and frames are
    /// waiting, starts a new attempt (returned); otherwise goes idle.
    pub(crate) fn yield_expired(&self, peer_id: &NodeId, attempt: u64) -> Option<u64> {
        let mut table = self.lock();
        let next = table.next_id();
        let peer = table.peers.get_mut(peer_id)?;
        if !matches!(peer.link, Link::Yielding { attempt: a } if a == attempt) {
            return None;
        }
        if peer.queue.pending() > 0 && peer.address.is_some() {
            peer.link = Link::Dialing { attempt: next };
            Some(next)
        } else {
            peer.link = Link::Idle;
            None
        }
    }

    /// Our attempt failed: back off, and discard the frames queued for it.
    pub(crate) fn dial_failed(&self, peer_id: &NodeId, attempt: u64, error: TransportError) {
        let mut guard = self.lock();
        let table = &mut *guard;
        let Some(peer) = table.peers.get_mut(peer_id) else {
            return;
        };
        if !matches!(peer.link, Link::Dialing { attempt: a } if a == attempt) {
            return;
        }
        peer.failures = peer.failures.saturating_add(1);
        let delay = self.config.reconnect.delay(peer.failures, &mut table.rng);
        let discarded = peer.queue.pending();
        peer.queue = Queue::new(self.config.limits.send_queue_capacity);
        peer.link = Link::Backoff {
            until: Instant::now() + delay,
        };
        tracing::debug!(
            local = %self.local, peer = %peer_id, failures = peer.failures, ?delay, discarded,
            %error, "connection attempt failed; backing off"
        );
        peer.last_error = Some(error);
        drop(guard);
        self.count_discarded(discarded);
    }

    /// The connection `conn_id` to `peer_id` ended. If it was the peer's
    /// link: reports `Disconnected`, forgets a peer that has no address, and
    /// redials at once if frames are still queued. Returns the attempt to run.
    pub(crate) fn conn_closed(&self, peer_id: &NodeId, conn_id: u64, why: &str) -> Option<u64> {
        let mut table = self.lock();
        let next = table.next_id();
        let peer = table.peers.get_mut(peer_id)?;
        if !matches!(&peer.link, Link::Connected(conn) if conn.id == conn_id) {
            return None;
        }
        tracing::debug!(local = %self.local, peer = %peer_id, conn_id, why, "disconnected");
        peer.link = Link::Idle;
        let redial = if self.is_closed() {
            None
        } else if peer.address.is_none() {
            let discarded = peer.queue.pending();
            table.peers.remove(peer_id);
            self.count_discarded(discarded);
            None
        } else if peer.queue.pending() > 0 {
            peer.link = Link::Dialing { attempt: next };
            Some(next)
        } else {
            None
        };
        drop(table);
        self.notify(TransportEvent::Disconnected {
            peer: peer_id.clone(),
        });
        redial
    }

    /// What `send` does with a frame for `to`, under the lock: queue it,
    /// starting a connection attempt when there is none (returned), or fail.
    pub(crate) fn enqueue(&self, to: &NodeId, frame: Bytes) -> Result<Option<u64>, TransportError> {
        let mut table = self.lock();
        let next = table.next_id();
        let Some(peer) = table.peers.get_mut(to) else {
            return Err(TransportError::unknown_peer(BACKEND, to));
        };
        if let Some(max) = peer.max_frame_len {
            if frame.len() > max {
                return Err(TransportError::frame_too_large(BACKEND, frame.len(), max));
            }
        }
        let mut attempt = None;
        match &peer.link {
            Link::Connected(_) | Link::Dialing { .. } | Link::Yielding { .. } => {}
            Link::Backoff { until } if Instant::now() < *until => {
                let left = until.saturating_duration_since(Instant::now());
                let mut failure = TransportError::unreachable(
                    BACKEND,
                    to,
                    format_args!("next attempt in {left:?}"),
                );
                if let Some(last) = &peer.last_error {
                    failure = failure.with_source(last.clone());
                }
                return Err(failure);
            }
            Link::Idle | Link::Backoff { .. } => {
                if peer.address.is_none() {
                    return Err(TransportError::unknown_peer(BACKEND, to));
                }
                peer.link = Link::Dialing { attempt: next };
                attempt = Some(next);
            }
        }
        match peer.queue.tx.try_send(frame) {
            Ok(()) => Ok(attempt),
            Err(mpsc::error::TrySendError::Full(_)) => Err(TransportError::queue_full(
                BACKEND,
                format_args!("send queue to {to}"),
                self.config.limits.send_queue_capacity,
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(TransportError::closed(BACKEND)),
        }
    }

    /// The address to dial for `attempt`, if it is still current.
    pub(crate) fn dial_target(&self, peer_id: &NodeId, attempt: u64) -> Option<Option<SocketAddr>> {
        let table = self.lock();
        let peer = table.peers.get(peer_id)?;
        matches!(peer.link, Link::Dialing { attempt: a } if a == attempt).then_some(peer.address)
    }

    /// Drops every peer (stopping every connection) when the transport closes.
    pub(crate) fn clear(&self) {
        let peers = std::mem::take(&mut self.lock().peers);
        drop(peers);
    }

    /// How long a yielding attempt waits for the peer's connection.
    pub(crate) fn yield_wait(&self) -> Duration {
        self.config.handshake_timeout
    }
}

/// A [`TransportError`] of this backend.
pub(crate) fn error(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
    TransportError::new(BACKEND, kind, message)
}
