#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    Identity, InboundQueue, InboundSender, NodeId, PushError, Transport, TransportCapabilities,
    TransportError, TransportErrorKind, TransportEvent, TransportResult,
};

/// The name this transport reports in [`Transport::backend`] and in its errors.
pub const BACKEND: &str = "channel";

/// The default largest frame, in bytes (1 MiB).
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// The default number of events waiting for one node before senders get `QueueFull`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1_024;

/// Each attached node's inbox, with the attachment's number.
#[derive(Debug, Default)]
struct Inboxes {
    next: u64,
    open: HashMap<NodeId, (u64, InboundSender)>,
}

/// The registry of attached nodes: one bounded inbox per node.
///
/// ```
/// use custom_transport::ChannelHub;
/// use gossip_core::{Identity, Transport};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let hub = ChannelHub::new();
/// let a = hub.attach(&Identity::from_seed("a"))?;
/// let b = hub.attach(&Identity::from_seed("b"))?;
/// a.send(b.local_id(), "hi".into()).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChannelHub {
    inboxes: Arc<Mutex<Inboxes>>,
    max_frame_len: usize,
    queue_capacity: usize,
}

impl Default for ChannelHub {
    fn default() -> Self {
        Self::new()
    }
}

impl ChannelHub {
    /// A hub with the default frame limit and queue capacity.
    #[must_use]
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_FRAME_LEN, DEFAULT_QUEUE_CAPACITY)
    }

    /// A hub whose frames are at most `max_frame_len` bytes (at least 1) and
    /// whose inboxes hold `queue_capacity` events (at least 1).
    #[must_use]
    pub fn with_limits(max_frame_len: usize, queue_capacity: usize) -> Self {
        Self {
            inboxes: Arc::new(Mutex::new(Inboxes::default())),
            max_frame_len: max_frame_len.max(1),
            queue_capacity: queue_capacity.max(1),
        }
    }

    /// Attaches the node whose identity is `identity` and returns its
    /// transport. Taking the identity (not just an id) is how a transport
    /// keeps its promise that a frame's `from` is proven: only a holder of
    /// the node's secret key can speak as it. (Over a real network, prove it
    /// to the peer, as the TCP transport's handshake does.)
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Other`] when a node of that id is attached already.
    pub fn attach(&self, identity: &Identity) -> TransportResult<ChannelTransport> {
        let id = identity.node_id().clone();
        let inbox = InboundQueue::new(BACKEND, self.queue_capacity);
        let attachment = {
            let mut inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
            if inboxes.open.contains_key(&id) {
                return Err(TransportError::new(
                    BACKEND,
                    TransportErrorKind::Other,
                    format!("{id} is attached already"),
                ));
            }
            inboxes.next += 1;
            let attachment = inboxes.next;
            inboxes
                .open
                .insert(id.clone(), (attachment, inbox.sender()));
            attachment
        };
        Ok(ChannelTransport {
            id,
            attachment,
            hub: self.clone(),
            inbox,
        })
    }

    fn inbox(&self, id: &NodeId) -> Option<InboundSender> {
        self.inboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .get(id)
            .map(|(_, inbox)| inbox.clone())
    }

    /// Detaches `id` if it is still the attachment numbered `attachment`.
    fn detach(&self, id: &NodeId, attachment: u64) {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        if inboxes.open.get(id).is_some_and(|(n, _)| *n == attachment) {
            inboxes.open.remove(id);
        }
    }
}

/// One node's end of a [`ChannelHub`].
#[derive(Debug)]
pub struct ChannelTransport {
    id: NodeId,
    attachment: u64,
    hub: ChannelHub,
    /// Where other nodes' frames wait for `recv`: gossip-core's bounded,
    /// cancel-safe queue.
    inbox: InboundQueue,
}

impl ChannelTransport {
    /// The hub this transport is attached to.
    #[must_use]
    pub fn hub(&self) -> &ChannelHub {
        &self.hub
    }

    /// Whether [`close`](Transport::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inbox.is_closed()
    }
}

#[async_trait]
impl Transport for ChannelTransport {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn local_id(&self) -> &NodeId {
        &self.id
    }

    fn max_frame_len(&self) -> usize {
        self.hub.max_frame_len
    }

    fn capabilities(&self) -> TransportCapabilities {
        // One FIFO inbox per receiver, and a full inbox is an error, never a
        // silent drop.
        TransportCapabilities::stream_like()
    }

    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        if self.is_closed() {
            return Err(TransportError::closed(BACKEND));
        }
        if frame.len() > self.hub.max_frame_len {
            return Err(TransportError::frame_too_large(
                BACKEND,
                frame.len(),
                self.hub.max_frame_len,
            ));
        }
        let inbox = self
            .hub
            .inbox(to)
            .ok_or_else(|| TransportError::unknown_peer(BACKEND, to))?;
        let event = TransportEvent::Frame {
            from: self.id.clone(),
            frame,
        };
        inbox.try_push(Ok(event)).map_err(|e| match e {
            PushError::Closed(_) => TransportError::unreachable(BACKEND, to, "it has closed"),
            _ => TransportError::queue_full(
                BACKEND,
                format_args!("{to}'s inbox"),
                self.hub.queue_capacity,
            ),
        })
    }

    async fn recv(&self) -> TransportResult<TransportEvent> {
        // Cancel-safe, and woken by `close`: both come with the shared queue.
        self.inbox.recv().await
    }

    async fn close(&self) -> TransportResult<()> {
        self.inbox.close();
        // Only our own attachment: a new node may have taken the id since.
        self.hub.detach(&self.id, self.attachment);
        Ok(())
    }
}
