//! [`Libp2pTransport`]: a node's libp2p endpoint.

use std::{
    collections::VecDeque,
    fmt,
    sync::{atomic::Ordering, Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    Identity, InboundQueue, NodeId, Transport, TransportCapabilities, TransportError,
    TransportErrorKind, TransportEvent, TransportResult,
};
use libp2p::{Multiaddr, PeerId};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::{
    behaviour::build_swarm,
    driver::{Command, Driver},
    link::{writer::Writer, Enqueued},
    state::{error, Shared},
    Libp2pConfig, BACKEND,
};

/// Counters of a [`Libp2pTransport`], from [`Libp2pTransport::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Libp2pStats {
    /// Peers with at least one established connection now.
    pub connected_peers: usize,
    /// Connections established, either direction.
    pub connections_opened: u64,
    /// Dials that failed (each puts the peer in backoff).
    pub dial_failures: u64,
    /// Inbound frames refused because their length prefix exceeded
    /// `max_frame_len` (nothing was allocated for them).
    pub oversized_frames: u64,
    /// Inbound frames substreams reset at once because
    /// [`max_concurrent_streams`](Libp2pConfig::max_concurrent_streams) of
    /// the peer's were open already.
    pub refused_streams: u64,
    /// Outbound frames substreams opened (one per peer while it has frames
    /// to carry; a new one after an idle close or a broken one).
    pub streams_opened: u64,
    /// Frames accepted by `send` whose delivery failed or is unknown: the
    /// dial failed, the substream or connection broke (the frames being
    /// written and those still queued), or the peer refused them.
    pub failed_frames: u64,
    /// Inbound frames refused (oversized, cut short) and inbound substreams
    /// that failed.
    pub inbound_failures: u64,
    /// Connections closed before they were established: an inbound
    /// handshake that failed or timed out, a refused inbound connection, or
    /// a peer speaking another protocol version (each also reported by
    /// `recv`).
    pub handshake_failures: u64,
    /// Peer events (`Connected`, `Disconnected`, `PeerDiscovered`) and
    /// reports of bad input dropped because the inbound queue was full.
    pub dropped_events: u64,
}

/// A node's libp2p endpoint: a swarm over TCP with Noise and Yamux, carrying
/// gossip frames on one long-lived `/gossip/frames/2` substream per peer and
/// direction.
///
/// Created by [`new`](Self::new) from the node's identity (its peer id is
/// its node id's key); then [`listen_on`](Self::listen_on) and fill the address book
/// ([`add_peer_address`](Self::add_peer_address)). The swarm runs in its
/// own task; dropping the transport closes it, like
/// [`close`](Transport::close). See the crate docs for the protocol,
/// back-pressure and reconnect policy.
///
/// # Capabilities
///
/// Ordered, reliable, no duplicates ([`TransportCapabilities::stream_like`]):
/// the frames to a peer travel one after the other on one substream, and the
/// receiver reads one substream per peer at a time. Frames in flight on a
/// substream that breaks, or queued for a dial that fails, are lost (and
/// counted in [`Libp2pStats::failed_frames`]); anti-entropy repairs what
/// they carried.
pub struct Libp2pTransport {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    inbound: InboundQueue,
    runtime: tokio::runtime::Handle,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Libp2pTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Libp2pTransport")
            .field("local", &self.shared.local)
            .field("peer_id", &self.shared.local_peer)
            .field("closed", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}

impl Libp2pTransport {
    /// A transport speaking for the node whose identity is `identity`: its
    /// libp2p keypair is the identity's key
    /// ([`keypair_from_identity`](crate::keypair_from_identity)), so its
    /// [`PeerId`] and its [`local_id`](Transport::local_id) are the same key.
    /// Starts the swarm task; listens nowhere until
    /// [`listen_on`](Self::listen_on).
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Other`] when `config` is out of range, the
    /// swarm cannot be built, or no tokio runtime is running.
    pub fn new(identity: &Identity, config: Libp2pConfig) -> Result<Self, TransportError> {
        let keypair = crate::keypair_from_identity(identity);
        let node = identity.node_id().clone();
        config
            .validate()
            .map_err(|reason| TransportError::invalid_config(BACKEND, reason))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            error(
                TransportErrorKind::Other,
                "a libp2p transport must be created inside a tokio runtime",
            )
            .with_source(e)
        })?;
        let local_peer = keypair.public().to_peer_id();
        let shared = Arc::new(Shared::new(node, local_peer, config));
        let swarm = {
            let _guard = runtime.enter();
            build_swarm(keypair, &shared.config)?
        };
        let (commands_tx, commands_rx) = mpsc::channel(shared.config.command_queue_capacity);
        let inbound = InboundQueue::new(BACKEND, shared.config.limits.inbound_queue_capacity);
        let driver = Driver::new(shared.clone(), swarm, commands_rx, inbound.sender());
        let task = runtime.spawn(driver.run());
        tracing::debug!(local = %shared.local, peer_id = %local_peer, "libp2p transport started");
        Ok(Self {
            shared,
            commands: commands_tx,
            inbound,
            runtime,
            task: Mutex::new(Some(task)),
        })
    }

    /// This node's libp2p identity.
    #[must_use]
    pub fn peer_id(&self) -> PeerId {
        self.shared.local_peer
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &Libp2pConfig {
        &self.shared.config
    }

    /// Starts listening on `address` (e.g. `/ip4/0.0.0.0/tcp/7000`; port 0
    /// picks a free port) and returns the first address the listener
    /// reports. All current ones are in [`listen_addrs`](Self::listen_addrs).
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Io`] when the address cannot be listened on,
    /// `Closed` after [`close`](Transport::close).
    pub async fn listen_on(&self, address: Multiaddr) -> Result<Multiaddr, TransportError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Listen { address, reply }).await?;
        answer.await.map_err(|_| TransportError::closed(BACKEND))?
    }

    /// Dials `address` now, without sending anything: an address ending in
    /// `/p2p/<peer id>` is checked to be that peer. Returns once the dial
    /// has started; the connection is reported by `TransportEvent::Connected`
    /// (and, for a peer the address book does not know, `PeerDiscovered`
    /// once identify has run).
    ///
    /// # Errors
    ///
    /// `Unreachable` when the dial cannot start (e.g. an unsupported
    /// address), `Closed` after [`close`](Transport::close).
    pub async fn dial(&self, address: Multiaddr) -> Result<(), TransportError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Dial { address, reply }).await?;
        answer.await.map_err(|_| TransportError::closed(BACKEND))?
    }

    /// Tells the transport that `peer` listens on `address`.
    ///
    /// The address may be bare (`/ip4/192.168.1.20/tcp/7000`) or end in
    /// `/p2p/<peer id>`, which must then be `peer`'s own (the same key, see
    /// [`peer_id_from_node_id`](crate::peer_id_from_node_id)). A changed
    /// address clears the peer's backoff. Up to 16 addresses are kept per
    /// peer (the oldest goes).
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Other`] when the address names another peer
    /// than `peer`, or `peer` is this node.
    pub fn add_peer_address(&self, peer: NodeId, address: Multiaddr) -> Result<(), TransportError> {
        self.shared.add_peer_address(peer, &address).map(|_| ())
    }

    /// The address book: node id, peer id and given addresses, sorted by node id.
    #[must_use]
    pub fn peer_addresses(&self) -> Vec<(NodeId, PeerId, Vec<Multiaddr>)> {
        self.shared.peer_addresses()
    }

    /// The peer id of a node: the same key
    /// ([`peer_id_from_node_id`](crate::peer_id_from_node_id)).
    #[must_use]
    pub fn peer_id_of(&self, node: &NodeId) -> PeerId {
        crate::peer_id_from_node_id(node)
    }

    /// The addresses the swarm listens on now, as it reported them (with the
    /// port chosen for port 0). Add `/p2p/<peer id>` (see
    /// [`peer_id`](Self::peer_id)) to give them to peers.
    #[must_use]
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.shared.listen_addrs()
    }

    /// Counters since the transport was created.
    #[must_use]
    pub fn stats(&self) -> Libp2pStats {
        self.shared.stats()
    }

    /// Whether [`close`](Transport::close) was called (or the transport dropped).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    async fn command(&self, command: Command) -> Result<(), TransportError> {
        if self.is_closed() {
            return Err(TransportError::closed(BACKEND));
        }
        self.commands
            .send(command)
            .await
            .map_err(|_| TransportError::closed(BACKEND))
    }

    /// Finishes a `send`: starts the writer of a new queue, or says the
    /// queue is full.
    fn enqueued(&self, to: &NodeId, peer: PeerId, enqueued: Enqueued) -> TransportResult<()> {
        match enqueued {
            Enqueued::Queued => Ok(()),
            Enqueued::Full => Err(self.queue_full(to)),
            Enqueued::Start(id, queue) => {
                let writer = Writer {
                    shared: self.shared.clone(),
                    commands: self.commands.clone(),
                    peer,
                    id,
                    queue,
                };
                self.runtime.spawn(writer.run());
                Ok(())
            }
        }
    }

    fn queue_full(&self, to: &NodeId) -> TransportError {
        TransportError::queue_full(
            BACKEND,
            format_args!("the frames queued for {to}"),
            self.shared.config.limits.send_queue_capacity,
        )
    }

    fn shut(&self) -> bool {
        let first = !self.shared.closed.swap(true, Ordering::AcqRel);
        if first {
            self.shared.shutdown.send_replace(true);
            self.inbound.close();
        }
        first
    }
}

impl Drop for Libp2pTransport {
    fn drop(&mut self) {
        self.shut();
    }
}

#[async_trait]
impl Transport for Libp2pTransport {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn local_id(&self) -> &NodeId {
        &self.shared.local
    }

    fn max_frame_len(&self) -> usize {
        self.shared.config.limits.max_frame_len
    }

    /// Ordered, reliable, no duplicates: see the type's docs.
    fn capabilities(&self) -> TransportCapabilities {
        TransportCapabilities::stream_like()
    }

    /// Puts the frame on the peer's bounded send queue and returns; the
    /// peer's writer task (started by the first frame, dialing first if
    /// needed) writes it on the peer's substream. Never waits for the
    /// network.
    ///
    /// # Errors
    ///
    /// - `FrameTooLarge`: over [`max_frame_len`](Transport::max_frame_len);
    /// - `UnknownPeer`: `to` is neither bound to a peer id nor one itself,
    ///   or it is not connected and no address is known for it (given or
    ///   learnt by identify or mDNS), or it is this node;
    /// - `Unreachable`: not connected, and the last dial failed less than
    ///   the backoff delay ago (the dial failure is the error's source);
    /// - `QueueFull`: [`send_queue_capacity`](Libp2pConfig::send_queue_capacity)
    ///   frames to `to` are queued already (the peer reads slower than we
    ///   send, or the dial is still running): retry later, nothing was
    ///   queued;
    /// - `Closed`: after [`close`](Transport::close).
    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        if self.is_closed() {
            return Err(TransportError::closed(BACKEND));
        }
        let max = self.shared.config.limits.max_frame_len;
        if frame.len() > max {
            return Err(TransportError::frame_too_large(BACKEND, frame.len(), max));
        }
        if to == &self.shared.local {
            return Err(TransportError::send_to_self(BACKEND));
        }
        let peer = self.shared.admit(to)?;
        let capacity = self.shared.config.limits.send_queue_capacity;
        let enqueued = self.shared.links.enqueue(peer, frame, capacity);
        self.enqueued(to, peer, enqueued)
    }

    /// Queues the batch under one lock and one queue reservation, and wakes
    /// the peer's writer once; the same checks and errors as
    /// [`send`](Transport::send), for the first frame not queued.
    async fn send_many(&self, to: &NodeId, frames: &mut VecDeque<Bytes>) -> TransportResult<()> {
        if frames.is_empty() {
            return Ok(());
        }
        if self.is_closed() {
            return Err(TransportError::closed(BACKEND));
        }
        let max = self.shared.config.limits.max_frame_len;
        let fitting = frames.iter().take_while(|frame| frame.len() <= max).count();
        if fitting > 0 {
            if to == &self.shared.local {
                return Err(TransportError::send_to_self(BACKEND));
            }
            let peer = self.shared.admit(to)?;
            let capacity = self.shared.config.limits.send_queue_capacity;
            let enqueued = self
                .shared
                .links
                .enqueue_many(peer, frames, fitting, capacity);
            self.enqueued(to, peer, enqueued)?;
        }
        match frames.front() {
            None => Ok(()),
            Some(frame) if frame.len() > max => {
                Err(TransportError::frame_too_large(BACKEND, frame.len(), max))
            }
            Some(_) => Err(self.queue_full(to)),
        }
    }

    /// Waits for the next frame or peer event from any peer.
    ///
    /// # Errors
    ///
    /// `Closed` once the transport is closed. Bad input from a peer is
    /// returned as an error too, and the transport keeps serving: a failed
    /// or silent inbound handshake, or a peer speaking another protocol
    /// version (`Handshake`); a frame over the maximum (`FrameTooLarge`); a
    /// frame cut short (`Rejected`); a refused inbound connection over the
    /// limits (`Other`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: events wait in the transport's bounded
    /// [`InboundQueue`], whose `recv` loses nothing when dropped.
    async fn recv(&self) -> TransportResult<TransportEvent> {
        self.inbound.recv().await
    }

    /// Every event already queued, up to `limit`, in one wake-up.
    async fn recv_many(
        &self,
        events: &mut Vec<TransportResult<TransportEvent>>,
        limit: usize,
    ) -> usize {
        self.inbound.recv_many(events, limit).await
    }

    /// Stops the swarm task and the link tasks: listeners and connections
    /// close, frames not yet written are dropped, pending `recv` calls wake with
    /// `Closed`. Idempotent; returns once the task has stopped and the
    /// listening sockets are released.
    async fn close(&self) -> TransportResult<()> {
        if self.shut() {
            tracing::debug!(local = %self.shared.local, "closing");
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            // The task ends on the shutdown signal; it never panics.
            let _ = task.await;
        }
        Ok(())
    }

    /// The listening addresses, each with `/p2p/<peer id>`, except
    /// wildcard ones no other node could dial.
    fn advertised_addresses(&self) -> Vec<String> {
        let me = self.peer_id();
        self.listen_addrs()
            .into_iter()
            .filter(|a| {
                !a.iter().any(|p| match p {
                    libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
                    libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
                    _ => false,
                })
            })
            .filter_map(|a| a.with_p2p(me).ok())
            .map(|a| a.to_string())
            .collect()
    }

    /// [`Libp2pStats`] by name, plus `queued_frames` (frames in the send
    /// queues now).
    fn counters(&self) -> Vec<gossip_core::TransportCounter> {
        use gossip_core::TransportCounter as C;
        let Libp2pStats {
            connected_peers,
            connections_opened,
            dial_failures,
            oversized_frames,
            refused_streams,
            streams_opened,
            failed_frames,
            inbound_failures,
            handshake_failures,
            dropped_events,
        } = self.stats();
        vec![
            C::new("connected_peers", connected_peers as u64),
            C::new("connections_opened", connections_opened),
            C::new("dial_failures", dial_failures),
            C::new("oversized_frames", oversized_frames),
            C::new("refused_streams", refused_streams),
            C::new("streams_opened", streams_opened),
            C::new("failed_frames", failed_frames),
            C::new("inbound_failures", inbound_failures),
            C::new("handshake_failures", handshake_failures),
            C::new("dropped_events", dropped_events),
            C::new("queued_frames", self.shared.links.queued() as u64),
        ]
    }

    /// Reads `address` as a multiaddr and adds it to `peer`'s (see
    /// [`add_peer_address`](Libp2pTransport::add_peer_address)).
    fn learn_address(&self, peer: &NodeId, address: &str) -> TransportResult<bool> {
        let parsed: Multiaddr = address.parse().map_err(|_| {
            TransportError::new(
                crate::BACKEND,
                TransportErrorKind::Rejected,
                format!("{address:?} is not a multiaddr"),
            )
        })?;
        if *peer == self.shared.local {
            return Ok(false);
        }
        self.add_peer_address(peer.clone(), parsed)?;
        Ok(true)
    }
}
