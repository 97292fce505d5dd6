//! [`MemoryTransport`]: one node's end of a [`MemoryNetwork`].

use std::{collections::VecDeque, fmt, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    NodeId, Transport, TransportCapabilities, TransportError, TransportEvent, TransportResult,
};

use crate::{
    inbox::{Node, Take},
    MemoryNetwork, BACKEND,
};

/// One node attached to a [`MemoryNetwork`], created by
/// [`MemoryNetwork::join`].
///
/// Dropping it detaches the node, like [`close`](Transport::close).
///
/// # Capabilities
///
/// [`capabilities`](Transport::capabilities) describes the faults configured
/// *at the time of the call* on the network's default and on the links from
/// or to this node: `reliable` unless a `drop` fault is set, `ordered` unless
/// a `reorder` fault is set (delay alone keeps each link in order),
/// `may_duplicate` when a `duplicate` fault is set. With no faults it is
/// [`TransportCapabilities::stream_like`]. A partition is a link failure, not
/// unreliability: frames sent across it are lost while it lasts.
///
/// # Delivery
///
/// With no faults a frame is in the receiver's inbox when `send` returns, and
/// the frames of a link arrive in the order sent. Delays run on
/// `tokio::time`, so paused time (`#[tokio::test(start_paused = true)]`)
/// skips them; `recv` must run inside a tokio runtime with time enabled.
pub struct MemoryTransport {
    network: MemoryNetwork,
    node: Arc<Node>,
}

impl MemoryTransport {
    pub(crate) fn new(network: MemoryNetwork, node: Arc<Node>) -> Self {
        Self { network, node }
    }

    /// The network this node is attached to (or was, once closed).
    #[must_use]
    pub fn network(&self) -> &MemoryNetwork {
        &self.network
    }

    /// Whether this transport was closed, or its node left the network.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.node.is_shut()
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn local_id(&self) -> &NodeId {
        self.node.id()
    }

    fn max_frame_len(&self) -> usize {
        self.network.max_frame_len()
    }

    fn capabilities(&self) -> TransportCapabilities {
        self.network.capabilities_of(self.node.id())
    }

    /// Routes the frame at once (it never waits).
    ///
    /// # Errors
    ///
    /// `FrameTooLarge` over the network's maximum; `UnknownPeer` for an id
    /// that never joined, `Unreachable` for one that left or closed;
    /// `QueueFull` when the receiver's inbox is full; `Closed` after
    /// [`close`](Transport::close). A frame lost to a fault or a partition is
    /// not an error.
    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        self.network.send(&self.node, to, frame)
    }

    /// Routes the frames under one lock of the network and wakes the
    /// receiver once; the same errors as `send`, for the first frame not
    /// taken.
    async fn send_many(&self, to: &NodeId, frames: &mut VecDeque<Bytes>) -> TransportResult<()> {
        self.network.send_many(&self.node, to, frames)
    }

    /// # Cancel safety
    ///
    /// Cancel-safe. Frames wait in the node's inbox until a `recv` poll takes
    /// one and returns it in the same poll; a pending `recv` only waits on a
    /// wake-up and a timer, so dropping it loses nothing.
    async fn recv(&self) -> TransportResult<TransportEvent> {
        match self.node.take().await {
            Take::Frame(from, frame) => {
                self.network.count_delivered();
                Ok(TransportEvent::Frame { from, frame })
            }
            Take::Shut => Err(TransportError::closed(BACKEND)),
        }
    }

    /// The next frame, then every frame already due, up to `limit`.
    async fn recv_many(
        &self,
        events: &mut Vec<TransportResult<TransportEvent>>,
        limit: usize,
    ) -> usize {
        events.push(self.recv().await);
        let due = self.node.take_due(limit.saturating_sub(1));
        let taken = 1 + due.len();
        for (from, frame) in due {
            self.network.count_delivered();
            events.push(Ok(TransportEvent::Frame { from, frame }));
        }
        taken
    }

    /// Detaches the node: frames waiting for it are discarded, pending `recv`
    /// calls return `Closed`, and its id may [`join`](MemoryNetwork::join)
    /// again. Idempotent.
    async fn close(&self) -> TransportResult<()> {
        self.network.detach(&self.node);
        Ok(())
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        self.network.detach(&self.node);
    }
}

impl fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("id", self.node.id())
            .field("closed", &self.is_closed())
            .field("queued", &self.node.queued())
            .finish()
    }
}
