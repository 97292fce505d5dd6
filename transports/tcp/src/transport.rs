//! [`TcpTransport`]: a node's TCP endpoint.

use std::{
    collections::VecDeque,
    fmt,
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    Identity, NodeId, Transport, TransportCapabilities, TransportError, TransportErrorKind,
    TransportEvent, TransportResult,
};
use tokio::{net::TcpListener, task::JoinHandle, time::Instant};

use crate::{
    connection::{accept_loop, spawn_connector},
    state::{error, Shared},
    TcpConfig, BACKEND,
};

/// A live connection, as reported by [`TcpTransport::connections`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpConnectionInfo {
    /// The peer at the other end.
    pub peer: NodeId,
    /// This end's socket address.
    pub local_addr: SocketAddr,
    /// The peer's socket address.
    pub remote_addr: SocketAddr,
    /// Whether this node dialed the connection (else the peer did).
    pub dialed_by_us: bool,
}

/// Counters of a [`TcpTransport`], from [`TcpTransport::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpStats {
    /// Peers with a live connection now.
    pub connected_peers: usize,
    /// Connections that completed the handshake and were kept, either direction.
    pub connections_opened: u64,
    /// Outgoing TCP connects that failed or timed out.
    pub connect_failures: u64,
    /// Handshakes that failed, either direction (bad magic or version,
    /// invalid id, wrong peer, timeout). Connections refused before their
    /// handshake by a cap are counted below instead.
    pub handshake_failures: u64,
    /// Inbound connections open now, in their handshake or established
    /// (capped by [`TcpConfig::max_inbound_connections`]).
    pub inbound_connections: usize,
    /// Of [`inbound_connections`](Self::inbound_connections), those in their
    /// handshake now (capped by [`TcpConfig::max_pending_handshakes`]).
    pub pending_handshakes: usize,
    /// Inbound connections closed at once because
    /// [`TcpConfig::max_inbound_connections`] were open.
    pub connections_refused_total_cap: u64,
    /// Inbound connections closed at once because their address held
    /// [`TcpConfig::max_inbound_connections_per_ip`] connections.
    pub connections_refused_per_ip_cap: u64,
    /// Inbound connections closed before their handshake because
    /// [`TcpConfig::max_pending_handshakes`] handshakes were under way and
    /// none could be evicted (no address held two more than theirs).
    pub handshakes_refused_total_cap: u64,
    /// Inbound connections closed before their handshake because their
    /// address held its fair share of pending handshakes,
    /// [`TcpConfig::max_pending_handshakes_per_ip`], or, all pending slots
    /// taken, held two more than a newcomer's address, which took the
    /// oldest one's slot.
    pub handshakes_refused_per_ip_cap: u64,
    /// Connections dropped because the peer announced a frame over the maximum.
    pub oversized_frames: u64,
    /// Peer events (`Connected`, `Disconnected`, `PeerDiscovered`) dropped
    /// because the inbound queue was full.
    pub dropped_events: u64,
    /// Queued frames discarded: queued for a connection attempt that failed,
    /// or over the peer's announced maximum.
    pub discarded_frames: u64,
}

/// A node's TCP endpoint: listens for peers, dials them on demand, and
/// carries length-prefixed frames over one connection per peer.
///
/// Created by [`bind`](Self::bind); the application fills the address book
/// ([`add_peer_address`](Self::add_peer_address)). Dropping it closes it,
/// like [`close`](Transport::close). See the crate docs for the wire format,
/// back-pressure and reconnect policy.
///
/// # Capabilities
///
/// [`TransportCapabilities::stream_like`]: ordered and reliable per link
/// *while a connection lives*. Frames still in flight on a connection that
/// breaks (written to the socket, or taken from the queue by its writer)
/// are lost, as are frames queued for a connection attempt that fails; the
/// protocol's anti-entropy repairs what they carried.
pub struct TcpTransport {
    shared: Arc<Shared>,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTransport")
            .field("local", &self.shared.local)
            .field("local_addr", &self.shared.local_addr)
            .field("closed", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}

impl TcpTransport {
    /// Listens on `addr` (port 0 picks a free port, see
    /// [`local_addr`](Self::local_addr)) as the node whose identity is
    /// `identity`.
    ///
    /// Must be called inside a tokio runtime (with I/O and time enabled): the
    /// transport's tasks run on it.
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Other`] when `config` is out of range,
    /// [`TransportErrorKind::Io`] when the address cannot be bound.
    pub async fn bind(
        identity: &Identity,
        addr: SocketAddr,
        config: TcpConfig,
    ) -> Result<Self, TransportError> {
        config
            .validate()
            .map_err(|reason| TransportError::invalid_config(BACKEND, reason))?;
        let listener = TcpListener::bind(addr).await.map_err(|io| {
            error(TransportErrorKind::Io, format!("cannot listen on {addr}")).with_source(io)
        })?;
        let local_addr = listener.local_addr().map_err(|io| {
            error(TransportErrorKind::Io, "cannot read the bound address").with_source(io)
        })?;
        let shared = Arc::new(Shared::new(identity, config, local_addr)?);
        let accept_task = tokio::spawn(accept_loop(shared.clone(), listener));
        tracing::debug!(local = %shared.local, %local_addr, "listening");
        Ok(Self {
            shared,
            accept_task: Mutex::new(Some(accept_task)),
        })
    }

    /// The address the transport listens on (with the port chosen when
    /// bound to port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &TcpConfig {
        &self.shared.config
    }

    /// Sets (or changes) where `peer` listens. The next `send` to it dials
    /// there if no connection is up; a changed address clears its backoff.
    pub fn add_peer_address(&self, peer: NodeId, address: SocketAddr) {
        self.shared.lock().add_address(peer, address);
    }

    /// Forgets `peer`: its address, its queued frames and its connection
    /// (closed). Returns the address it had. A later inbound connection from
    /// it is treated like one from an unknown node.
    pub fn remove_peer(&self, peer: &NodeId) -> Option<SocketAddr> {
        self.shared.transition(|table, fx| table.remove(peer, fx))
    }

    /// The address book, sorted by node id.
    #[must_use]
    pub fn peer_addresses(&self) -> Vec<(NodeId, SocketAddr)> {
        self.shared.lock().addresses()
    }

    /// The live connections, one per connected peer, sorted by peer.
    #[must_use]
    pub fn connections(&self) -> Vec<TcpConnectionInfo> {
        self.shared.lock().connections()
    }

    /// Counters since the transport was bound.
    #[must_use]
    pub fn stats(&self) -> TcpStats {
        self.shared.stats()
    }

    /// Whether [`close`](Transport::close) was called (or the transport dropped).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    fn shut(&self) -> bool {
        let first = !self.shared.closed.swap(true, Ordering::AcqRel);
        if first {
            self.shared.shutdown.send_replace(true);
            self.shared.inbound.close();
            self.shared.lock().clear();
        }
        first
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.shut();
    }
}

#[async_trait]
impl Transport for TcpTransport {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn local_id(&self) -> &NodeId {
        &self.shared.local
    }

    fn max_frame_len(&self) -> usize {
        self.shared.config.limits.max_frame_len
    }

    /// [`TransportCapabilities::stream_like`]: see the type's docs for what
    /// "reliable" means when a connection breaks.
    fn capabilities(&self) -> TransportCapabilities {
        TransportCapabilities::stream_like()
    }

    /// Queues the frame on the peer's bounded send queue and returns; a
    /// writer task puts it on the wire. Never waits for the network.
    ///
    /// # Errors
    ///
    /// - `FrameTooLarge`: over [`max_frame_len`](Transport::max_frame_len),
    ///   or over the maximum the peer announced in its handshake;
    /// - `UnknownPeer`: no address for `to` and no live connection from it
    ///   (or `to` is this node);
    /// - `Unreachable`: the last connection attempt failed and the peer is
    ///   in backoff (the failure is the error's source);
    /// - `QueueFull`: the peer's send queue is full;
    /// - `Closed`: after [`close`](Transport::close).
    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        if self.shared.is_closed() {
            return Err(TransportError::closed(BACKEND));
        }
        let max = self.shared.config.limits.max_frame_len;
        if frame.len() > max {
            return Err(TransportError::frame_too_large(BACKEND, frame.len(), max));
        }
        self.send_many(to, &mut VecDeque::from([frame])).await
    }

    /// Queues the frames under one lock of the peer table (the writer task
    /// then seals and writes what is queued in one system call); the same
    /// errors as `send`, for the first frame not queued.
    async fn send_many(&self, to: &NodeId, frames: &mut VecDeque<Bytes>) -> TransportResult<()> {
        if self.shared.is_closed() {
            return Err(TransportError::closed(BACKEND));
        }
        if to == &self.shared.local {
            return Err(TransportError::send_to_self(BACKEND));
        }
        let max = self.shared.config.limits.max_frame_len;
        let (attempt, result) = self
            .shared
            .lock()
            .enqueue_many(to, frames, max, Instant::now());
        if let Some(attempt) = attempt {
            spawn_connector(self.shared.clone(), to.clone(), attempt);
        }
        result
    }

    /// Waits for the next frame or peer event from any peer.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: events wait in the transport's bounded
    /// [`InboundQueue`](gossip_core::InboundQueue), whose `recv` loses
    /// nothing when dropped.
    async fn recv(&self) -> TransportResult<TransportEvent> {
        self.shared.inbound.recv().await
    }

    /// Every event already queued, up to `limit`, in one wake-up.
    async fn recv_many(
        &self,
        events: &mut Vec<TransportResult<TransportEvent>>,
        limit: usize,
    ) -> usize {
        self.shared.inbound.recv_many(events, limit).await
    }

    /// Stops accepting, closes every connection, drops queued frames and
    /// wakes pending `recv` calls with `Closed`. Idempotent; returns once
    /// the listening socket is released.
    async fn close(&self) -> TransportResult<()> {
        if self.shut() {
            tracing::debug!(local = %self.shared.local, "closing");
        }
        let accept_task = self
            .accept_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = accept_task {
            // The task ends on the shutdown signal; it never panics.
            let _ = task.await;
        }
        Ok(())
    }

    /// The listening address as `ip:port`, unless it is a wildcard
    /// (`0.0.0.0`, `::`), which no other node could dial.
    fn advertised_addresses(&self) -> Vec<String> {
        let address = self.local_addr();
        if address.ip().is_unspecified() {
            return Vec::new();
        }
        vec![address.to_string()]
    }

    /// Reads `address` as `ip:port` and takes it as `peer`'s unless the
    /// transport has one for it already: an address the application gave
    /// ([`add_peer_address`](TcpTransport::add_peer_address)) is never
    /// replaced by what a node says about itself (it may sit behind a
    /// proxy, or a NAT, that only the application knows of).
    fn learn_address(&self, peer: &NodeId, address: &str) -> TransportResult<bool> {
        let parsed: SocketAddr = address.parse().map_err(|_| {
            error(
                TransportErrorKind::Rejected,
                format!("{address:?} is not an ip:port address"),
            )
        })?;
        let mut table = self.shared.lock();
        if *peer == self.shared.local || table.addresses().iter().any(|(id, _)| id == peer) {
            return Ok(false);
        }
        table.add_address(peer.clone(), parsed);
        Ok(true)
    }

    /// Every [`TcpStats`] field, by its name (a new field does not compile
    /// until it is listed here).
    fn counters(&self) -> Vec<gossip_core::TransportCounter> {
        use gossip_core::TransportCounter as C;
        let TcpStats {
            connected_peers,
            connections_opened,
            connect_failures,
            handshake_failures,
            inbound_connections,
            pending_handshakes,
            connections_refused_total_cap,
            connections_refused_per_ip_cap,
            handshakes_refused_total_cap,
            handshakes_refused_per_ip_cap,
            oversized_frames,
            dropped_events,
            discarded_frames,
        } = self.stats();
        vec![
            C::new("connected_peers", connected_peers as u64),
            C::new("connections_opened", connections_opened),
            C::new("connect_failures", connect_failures),
            C::new("handshake_failures", handshake_failures),
            C::new("inbound_connections", inbound_connections as u64),
            C::new("pending_handshakes", pending_handshakes as u64),
            C::new(
                "connections_refused_total_cap",
                connections_refused_total_cap,
            ),
            C::new(
                "connections_refused_per_ip_cap",
                connections_refused_per_ip_cap,
            ),
            C::new("handshakes_refused_total_cap", handshakes_refused_total_cap),
            C::new(
                "handshakes_refused_per_ip_cap",
                handshakes_refused_per_ip_cap,
            ),
            C::new("oversized_frames", oversized_frames),
            C::new("dropped_events", dropped_events),
            C::new("discarded_frames", discarded_frames),
        ]
    }
}
