//! The peer table: for every peer its address, its send queue and where its
//! link stands, and every transition between links: dialing, the tie-break
//! of simultaneous dials, yielding, backoff, reconnecting and closing.
//!
//! Pure state: no I/O, no clock (callers pass `now`), no lock. A transition
//! that the outside world must hear about records it in [`Effects`] (events
//! for `recv`, counters); [`Shared`](crate::state::Shared) holds the table
//! under its lock and applies the effects after releasing it.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::Arc,
};

use bytes::Bytes;
use gossip_core::{raw::SeededRng, NodeId, ReconnectPolicy, TransportError, TransportEvent};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

use crate::{secure::handshake::Hello, TcpConfig, TcpConnectionInfo, BACKEND};

#[cfg(test)]
mod tests;

/// How many ids of unknown peers are remembered as already reported by
/// `PeerDiscovered` (the set is cleared when full, so it stays bounded).
const REPORTED_LIMIT: usize = 1024;

/// The receiving end of a peer's send queue, shared by the successive
/// connections to that peer (one writer holds it at a time).
pub(crate) type QueueRx = Arc<tokio::sync::Mutex<mpsc::Receiver<Bytes>>>;

/// A peer's bounded send queue.
struct Queue {
    tx: mpsc::Sender<Bytes>,
    rx: QueueRx,
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
struct Conn {
    id: u64,
    dialed_by_us: bool,
    local_addr: SocketAddr,
    remote_addr: SocketAddr,
    /// The connection's tasks stop when this is dropped.
    _stop: watch::Sender<bool>,
}

/// Where a peer's link stands.
enum Link {
    /// No connection, no attempt running.
    Idle,
    /// A connection attempt of ours is running.
    Dialing { attempt: u64 },
    /// Our attempt was answered `yield`: the peer keeps another connection
    /// with us or is dialing us; our connector waits for it.
    Yielding { attempt: u64 },
    /// A handshaken connection carries the frames.
    Connected(Conn),
    /// The last attempt failed: sends fail fast until `until`.
    Backoff { until: Instant },
}

/// One peer: its address (if the application gave one), its send queue and
/// its link.
struct Peer {
    address: Option<SocketAddr>,
    queue: Queue,
    link: Link,
    /// Consecutive failed connection attempts (reset by any connection).
    failures: u32,
    /// Why the last attempt failed, returned as the source of `Unreachable`.
    last_error: Option<TransportError>,
    /// The largest frame the peer accepts, learnt in the last handshake.
    max_frame_len: Option<usize>,
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

    fn is_dialing(&self, attempt: u64) -> bool {
        matches!(self.link, Link::Dialing { attempt: a } if a == attempt)
    }
}

/// What a transition asks of the transport once the table is released.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Peer events for `recv`, in order.
    pub(crate) events: Vec<TransportEvent>,
    /// Connections installed.
    pub(crate) connections_opened: u64,
    /// Queued frames thrown away (failed attempt, forgotten peer).
    pub(crate) discarded_frames: usize,
}

/// A connection the table installed: what its tasks need.
pub(crate) struct Installed {
    /// The connection's id in the table.
    pub(crate) conn_id: u64,
    /// Changes (or closes) when the table drops the connection.
    pub(crate) stop: watch::Receiver<bool>,
    /// The peer's send queue, for the writer.
    pub(crate) queue: QueueRx,
}

/// What the acceptor does with a handshaken inbound connection.
pub(crate) enum InboundDecision {
    /// Keep it: it is installed.
    Accept(Installed),
    /// Keep the other connection: answer `yield` and close this one.
    Yield,
}

/// The peer table of one transport.
pub(crate) struct PeerTable {
    local: NodeId,
    send_queue_capacity: usize,
    reconnect: ReconnectPolicy,
    peers: HashMap<NodeId, Peer>,
    rng: SeededRng,
    next_id: u64,
    reported: HashSet<NodeId>,
}

impl PeerTable {
    /// An empty table for the node `local`.
    pub(crate) fn new(local: NodeId, config: &TcpConfig) -> Self {
        Self {
            rng: config.reconnect.rng(local.as_str().as_bytes()),
            local,
            send_queue_capacity: config.limits.send_queue_capacity,
            reconnect: config.reconnect,
            peers: HashMap::new(),
            next_id: 0,
            reported: HashSet::new(),
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn peer_or_insert(&mut self, id: &NodeId) -> &mut Peer {
        let capacity = self.send_queue_capacity;
        self.peers
            .entry(id.clone())
            .or_insert_with(|| Peer::new(None, capacity))
    }

    // ------------------------------------------------------ address book --

    /// Records the address to dial `peer` at. A new address resets the
    /// backoff: it deserves a fresh try.
    pub(crate) fn add_address(&mut self, peer: NodeId, address: SocketAddr) {
        let entry = self.peer_or_insert(&peer);
        if entry.address != Some(address) {
            entry.address = Some(address);
            entry.failures = 0;
            if matches!(entry.link, Link::Backoff { .. }) {
                entry.link = Link::Idle;
            }
        }
    }

    /// Forgets the peer: its address, queued frames and connection.
    pub(crate) fn remove(&mut self, peer: &NodeId, fx: &mut Effects) -> Option<SocketAddr> {
        let removed = self.peers.remove(peer)?;
        if matches!(removed.link, Link::Connected(_)) {
            fx.events
                .push(TransportEvent::Disconnected { peer: peer.clone() });
        }
        removed.address
    }

    /// Every peer with an address, sorted.
    pub(crate) fn addresses(&self) -> Vec<(NodeId, SocketAddr)> {
        let mut list: Vec<_> = self
            .peers
            .iter()
            .filter_map(|(id, peer)| peer.address.map(|address| (id.clone(), address)))
            .collect();
        list.sort();
        list
    }

    /// Every live connection, sorted by peer.
    pub(crate) fn connections(&self) -> Vec<TcpConnectionInfo> {
        let mut list: Vec<_> = self
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

    /// How many peers are connected.
    pub(crate) fn connected_count(&self) -> usize {
        self.peers
            .values()
            .filter(|peer| matches!(peer.link, Link::Connected(_)))
            .count()
    }

    /// Drops every peer, stopping every connection.
    pub(crate) fn clear(&mut self) {
        self.peers.clear();
    }

    // ------------------------------------------------------- transitions --

    /// Records a handshaken connection as the peer's link, replacing (and so
    /// stopping) any other.
    fn install(
        &mut self,
        peer_id: &NodeId,
        hello: &Hello,
        dialed_by_us: bool,
        (local_addr, remote_addr): (SocketAddr, SocketAddr),
        fx: &mut Effects,
    ) -> Option<Installed> {
        let conn_id = self.next_id();
        let peer = self.peers.get_mut(peer_id)?;
        let (stop_tx, stop) = watch::channel(false);
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
        fx.connections_opened += 1;
        tracing::debug!(local = %self.local, peer = %peer_id, conn_id, dialed_by_us, %remote_addr, "connected");
        if !was_connected {
            fx.events.push(TransportEvent::Connected {
                peer: peer_id.clone(),
            });
        }
        if unknown && !self.reported.contains(peer_id) {
            if self.reported.len() >= REPORTED_LIMIT {
                self.reported.clear();
            }
            self.reported.insert(peer_id.clone());
            let address = (hello.listen_port != 0)
                .then(|| SocketAddr::new(remote_addr.ip(), hello.listen_port).to_string());
            fx.events.push(TransportEvent::PeerDiscovered {
                peer: peer_id.clone(),
                address,
            });
        }
        Some(Installed {
            conn_id,
            stop,
            queue,
        })
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
        &mut self,
        hello: &Hello,
        addrs: (SocketAddr, SocketAddr),
        fx: &mut Effects,
    ) -> InboundDecision {
        let dialer = &hello.node;
        let accept = match &self.peer_or_insert(dialer).link {
            Link::Idle | Link::Backoff { .. } | Link::Yielding { .. } => true,
            Link::Dialing { .. } => dialer < &self.local,
            Link::Connected(conn) => !conn.dialed_by_us,
        };
        if !accept {
            return InboundDecision::Yield;
        }
        match self.install(dialer, hello, false, addrs, fx) {
            Some(installed) => InboundDecision::Accept(installed),
            None => InboundDecision::Yield,
        }
    }

    /// Our attempt `attempt` completed with `accepted`: installs it if it is
    /// still the peer's current attempt.
    pub(crate) fn dial_accepted(
        &mut self,
        peer_id: &NodeId,
        attempt: u64,
        hello: &Hello,
        addrs: (SocketAddr, SocketAddr),
        fx: &mut Effects,
    ) -> Option<Installed> {
        if !self.peers.get(peer_id)?.is_dialing(attempt) {
            return None;
        }
        self.install(peer_id, hello, true, addrs, fx)
    }

    /// Our attempt was told to yield: wait for the peer's connection.
    /// Returns `false` when the attempt is no longer current.
    pub(crate) fn dial_yielded(&mut self, peer_id: &NodeId, attempt: u64) -> bool {
        match self.peers.get_mut(peer_id) {
            Some(peer) if peer.is_dialing(attempt) => {
                peer.link = Link::Yielding { attempt };
                true
            }
            _ => false,
        }
    }

    /// After waiting in `Yielding`: if no connection came and frames are
    /// waiting, starts a new attempt (returned); otherwise goes idle.
    pub(crate) fn yield_expired(&mut self, peer_id: &NodeId, attempt: u64) -> Option<u64> {
        let next = self.next_id();
        let peer = self.peers.get_mut(peer_id)?;
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

    /// Our attempt failed at `now`: back off, and discard the frames queued
    /// for it.
    pub(crate) fn dial_failed(
        &mut self,
        peer_id: &NodeId,
        attempt: u64,
        error: TransportError,
        now: Instant,
        fx: &mut Effects,
    ) {
        let Some(peer) = self.peers.get_mut(peer_id) else {
            return;
        };
        if !peer.is_dialing(attempt) {
            return;
        }
        peer.failures = peer.failures.saturating_add(1);
        let delay = self.reconnect.delay(peer.failures, &mut self.rng);
        let discarded = peer.queue.pending();
        peer.queue = Queue::new(self.send_queue_capacity);
        peer.link = Link::Backoff { until: now + delay };
        tracing::debug!(
            local = %self.local, peer = %peer_id, failures = peer.failures, ?delay, discarded,
            %error, "connection attempt failed; backing off"
        );
        peer.last_error = Some(error);
        fx.discarded_frames += discarded;
    }

    /// The connection `conn_id` to `peer_id` ended. If it was the peer's
    /// link: reports `Disconnected`, forgets a peer that has no address, and
    /// redials at once if frames are still queued (unless the transport is
    /// `closing`). Returns the attempt to run.
    pub(crate) fn conn_closed(
        &mut self,
        peer_id: &NodeId,
        conn_id: u64,
        why: &str,
        closing: bool,
        fx: &mut Effects,
    ) -> Option<u64> {
        let next = self.next_id();
        let peer = self.peers.get_mut(peer_id)?;
        if !matches!(&peer.link, Link::Connected(conn) if conn.id == conn_id) {
            return None;
        }
        tracing::debug!(local = %self.local, peer = %peer_id, conn_id, why, "disconnected");
        peer.link = Link::Idle;
        let redial = if closing {
            None
        } else if peer.address.is_none() {
            fx.discarded_frames += peer.queue.pending();
            self.peers.remove(peer_id);
            None
        } else if peer.queue.pending() > 0 {
            peer.link = Link::Dialing { attempt: next };
            Some(next)
        } else {
            None
        };
        fx.events.push(TransportEvent::Disconnected {
            peer: peer_id.clone(),
        });
        redial
    }

    /// What `send` does with one frame for `to` at `now`.
    #[cfg(test)]
    pub(crate) fn enqueue(
        &mut self,
        to: &NodeId,
        frame: Bytes,
        now: Instant,
    ) -> Result<Option<u64>, TransportError> {
        let (attempt, result) =
            self.enqueue_many(to, &mut VecDeque::from([frame]), usize::MAX, now);
        result.map(|()| attempt)
    }

    /// What `send_many` does with frames for `to` at `now`: queues them
    /// front first, taking each one queued, and stops at the first refused
    /// (over `max_frame_len` or the peer's maximum, or the queue full), which stays in
    /// `frames`. Starts a connection attempt when there is none: the
    /// attempt to run is returned even beside an error (frames waiting in
    /// a full queue are worth a connection).
    pub(crate) fn enqueue_many(
        &mut self,
        to: &NodeId,
        frames: &mut VecDeque<Bytes>,
        max_frame_len: usize,
        now: Instant,
    ) -> (Option<u64>, Result<(), TransportError>) {
        let next = self.next_id();
        let send_queue_capacity = self.send_queue_capacity;
        let Some(peer) = self.peers.get_mut(to) else {
            return (None, Err(TransportError::unknown_peer(BACKEND, to)));
        };
        let mut attempt = None;
        match &peer.link {
            Link::Connected(_) | Link::Dialing { .. } | Link::Yielding { .. } => {}
            Link::Backoff { until } if now < *until => {
                let left = until.saturating_duration_since(now);
                let mut failure = TransportError::unreachable(
                    BACKEND,
                    to,
                    format_args!("next attempt in {left:?}"),
                );
                if let Some(last) = &peer.last_error {
                    failure = failure.with_source(last.clone());
                }
                return (None, Err(failure));
            }
            Link::Idle | Link::Backoff { .. } => {
                if peer.address.is_none() {
                    return (None, Err(TransportError::unknown_peer(BACKEND, to)));
                }
                peer.link = Link::Dialing { attempt: next };
                attempt = Some(next);
            }
        }
        let max = peer
            .max_frame_len
            .map_or(max_frame_len, |peer_max| peer_max.min(max_frame_len));
        let fitting = frames.iter().take_while(|frame| frame.len() <= max).count();
        let room = fitting.min(peer.queue.tx.capacity());
        if room > 0 {
            match peer.queue.tx.try_reserve_many(room) {
                Ok(permits) => {
                    for (permit, frame) in permits.zip(frames.drain(..room)) {
                        permit.send(frame);
                    }
                }
                Err(_) => return (attempt, Err(TransportError::closed(BACKEND))),
            }
        }
        let result = match frames.front() {
            None => Ok(()),
            Some(frame) if frame.len() > max => {
                Err(TransportError::frame_too_large(BACKEND, frame.len(), max))
            }
            Some(_) => Err(TransportError::queue_full(
                BACKEND,
                format_args!("send queue to {to}"),
                send_queue_capacity,
            )),
        };
        (attempt, result)
    }

    /// The address to dial for `attempt`, if it is still current.
    pub(crate) fn dial_target(&self, peer_id: &NodeId, attempt: u64) -> Option<Option<SocketAddr>> {
        let peer = self.peers.get(peer_id)?;
        peer.is_dialing(attempt).then_some(peer.address)
    }
}
