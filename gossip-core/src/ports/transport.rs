//! The transport port (the original design's `MessagePort`): frames of bytes
//! to and from peers named by [`NodeId`].
//!
//! Addresses are the transport's own concern (TCP maps a `NodeId` to a socket
//! address, libp2p to a `PeerId`); the core only knows `NodeId`s. Layers
//! (encryption, compression, metrics, faults) wrap a transport and are
//! transports themselves. Implementations are proven by the conformance suite
//! in [`testkit::transport`](crate::testkit) (feature `testkit`).

use std::{collections::VecDeque, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{domain::NodeId, error::TransportError};

/// `Result` of transport operations.
pub type TransportResult<T> = Result<T, TransportError>;

/// The transport erased to a trait object, as held by a built node.
pub type DynTransport = Arc<dyn Transport>;

/// What a transport promises beyond the common contract. The conformance
/// suite and the test matrix read these flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportCapabilities {
    /// Frames sent on one link (sender → receiver) arrive in the order sent.
    pub ordered: bool,
    /// A frame accepted by `send` on a healthy link is delivered (no silent loss).
    pub reliable: bool,
    /// A frame may be delivered more than once.
    pub may_duplicate: bool,
}

impl TransportCapabilities {
    /// Ordered, reliable, no duplicates (e.g. TCP, an in-process bus without faults).
    #[must_use]
    pub fn stream_like() -> Self {
        Self {
            ordered: true,
            reliable: true,
            may_duplicate: false,
        }
    }

    /// No ordering, no reliability, duplicates possible (e.g. a faulty link).
    #[must_use]
    pub fn lossy() -> Self {
        Self {
            ordered: false,
            reliable: false,
            may_duplicate: true,
        }
    }
}

/// Something a transport delivers: a frame, or news about peers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportEvent {
    /// A frame from a peer.
    Frame {
        /// The sending node, **authenticated** by the transport: only the
        /// holder of this node's secret key can get a frame delivered under
        /// its id (the TCP and libp2p transports prove the key in their
        /// handshake; in-process transports are joined with the
        /// [`Identity`](crate::Identity)). A transport that cannot promise
        /// this must not be used with untrusted peers; the conformance
        /// suite's `impostor = …` check holds every transport to it.
        from: NodeId,
        /// The frame.
        frame: Bytes,
    },
    /// A node not known before reached us or was discovered (mDNS, inbound
    /// connection). A suggestion: the node syncs with it at once when it is
    /// a member of a channel held there; adding a stranger is the
    /// application's choice.
    PeerDiscovered {
        /// The node.
        peer: NodeId,
        /// A transport address for it, if the transport has one.
        address: Option<String>,
    },
    /// A connection to a peer came up.
    Connected {
        /// The peer.
        peer: NodeId,
    },
    /// A connection to a peer went down.
    Disconnected {
        /// The peer.
        peer: NodeId,
    },
}

/// Moves frames between this node and its peers.
///
/// All methods take `&self`; `send` may be called concurrently with itself and
/// with `recv`. The node calls `recv` from one task.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// A short name of the backend or layer, e.g. `"memory"`, `"tcp"`.
    fn backend(&self) -> &'static str;

    /// The node this transport speaks for.
    fn local_id(&self) -> &NodeId;

    /// The largest frame `send` accepts and `recv` can deliver, in bytes. A
    /// layer that adds bytes reports its inner maximum minus its overhead.
    fn max_frame_len(&self) -> usize;

    /// What this transport promises about delivery.
    fn capabilities(&self) -> TransportCapabilities;

    /// Sends one frame to `to`.
    ///
    /// # Behavior
    ///
    /// - A frame of exactly [`max_frame_len`](Transport::max_frame_len) bytes
    ///   is accepted; a longer one fails with
    ///   [`TransportErrorKind::FrameTooLarge`](crate::TransportErrorKind::FrameTooLarge)
    ///   and nothing is sent.
    /// - A node the transport has no way to reach fails with
    ///   [`UnknownPeer`](crate::TransportErrorKind::UnknownPeer) or
    ///   [`Unreachable`](crate::TransportErrorKind::Unreachable) promptly,
    ///   never hangs.
    /// - `Ok` means accepted for delivery, not delivered: delivery is only as
    ///   reliable as [`capabilities`](Transport::capabilities) says.
    /// - When the peer's bounded queue is full, fails with
    ///   [`QueueFull`](crate::TransportErrorKind::QueueFull) instead of waiting.
    /// - After [`close`](Transport::close), fails with
    ///   [`Closed`](crate::TransportErrorKind::Closed).
    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()>;

    /// Sends the frames of `frames` to `to`, front first, as consecutive
    /// [`send`](Transport::send) calls would, taking each accepted frame out
    /// of `frames`. One call carries a whole batch: a transport with a queue
    /// per peer takes its lock and wakes its writer once.
    ///
    /// # Behavior
    ///
    /// - `Ok` when every frame was accepted (`frames` is then empty).
    /// - At the first frame not accepted, returns the error `send` would
    ///   have returned for it and stops: that frame and those after it stay
    ///   in `frames`, in order, and nothing after it was sent. After
    ///   [`QueueFull`](crate::TransportErrorKind::QueueFull) the caller may
    ///   call again with what is left (back-pressure is explicit, never a
    ///   silent drop).
    ///
    /// The default calls `send` once per frame; transports and layers that
    /// can take a batch at once override it.
    ///
    /// # Cancel safety
    ///
    /// Frames leave `frames` only once accepted: dropping the future loses
    /// none. The front frame may have been accepted by a `send` that was
    /// in flight when the future was dropped (as with a dropped `send`).
    async fn send_many(&self, to: &NodeId, frames: &mut VecDeque<Bytes>) -> TransportResult<()> {
        while let Some(frame) = frames.front() {
            self.send(to, frame.clone()).await?;
            frames.pop_front();
        }
        Ok(())
    }

    /// Waits for the next frame or peer event.
    ///
    /// # Behavior
    ///
    /// - Frames arrive with the sender's id, byte for byte as sent.
    /// - When [`ordered`](TransportCapabilities::ordered), frames of one link
    ///   arrive in the order sent.
    /// - After [`close`](Transport::close), returns
    ///   [`Closed`](crate::TransportErrorKind::Closed) (pending calls wake up).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped before completing, no frame is
    /// lost; the next call returns it.
    async fn recv(&self) -> TransportResult<TransportEvent>;

    /// Waits for the next event, then takes every event already waiting, up
    /// to `limit` in all (at least one), appending them to `events` in the
    /// order [`recv`](Transport::recv) would return them; returns how many.
    /// One wake-up of the node carries a whole burst.
    ///
    /// The same contract as `recv` holds for every event (an `Err` item is
    /// what `recv` would have returned; after `close`, one `Closed` error).
    /// The default calls `recv` once; a transport that queues what it
    /// receives in an [`InboundQueue`](crate::InboundQueue) forwards to
    /// [`InboundQueue::recv_many`](crate::InboundQueue::recv_many), and a
    /// layer forwards to the transport below.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as `recv`: dropping the future loses no event.
    async fn recv_many(
        &self,
        events: &mut Vec<TransportResult<TransportEvent>>,
        limit: usize,
    ) -> usize {
        let _ = limit;
        events.push(self.recv().await);
        1
    }

    /// Stops sending and receiving, and releases resources. Idempotent.
    async fn close(&self) -> TransportResult<()>;

    /// Where other nodes can reach this one, in this transport's text form
    /// of addresses (`ip:port` for TCP, a multiaddr for libp2p): what the
    /// node puts in invitations and announces to its channels' members.
    /// Default: none (a transport without addresses, or one listening on a
    /// wildcard address it cannot name).
    fn advertised_addresses(&self) -> Vec<String> {
        Vec::new()
    }

    /// Learns that `peer` can be reached at `address` (in the text form of
    /// [`advertised_addresses`](Transport::advertised_addresses)), from an
    /// invitation or a member's announcement. Returns whether the address
    /// was taken; the default takes none (a transport that needs no
    /// addresses). A layer forwards it to the transport below.
    ///
    /// # Errors
    ///
    /// [`Rejected`](crate::TransportErrorKind::Rejected) for an address
    /// this transport cannot read.
    fn learn_address(&self, peer: &NodeId, address: &str) -> TransportResult<bool> {
        let _ = (peer, address);
        Ok(false)
    }

    /// The transport's own counters, by name: above all what it refused or
    /// dropped to protect itself (connections over its caps, oversized
    /// frames). The node shows them in
    /// [`Health::transport`](crate::Health::transport). Default: none. A
    /// layer forwards the counters of the transport below (and may add its
    /// own).
    fn counters(&self) -> Vec<TransportCounter> {
        Vec::new()
    }
}

/// One named counter of a transport ([`Transport::counters`]).
///
/// ```
/// use gossip_core::TransportCounter;
///
/// let refused = TransportCounter::new("connections_refused_per_ip_cap", 3);
/// assert_eq!((refused.name, refused.value), ("connections_refused_per_ip_cap", 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCounter {
    /// A `snake_case` name, stable across releases of the transport.
    pub name: &'static str,
    /// The value: a count since the transport started, or a current level.
    pub value: u64,
}

impl TransportCounter {
    /// The counter `name` at `value`.
    #[must_use]
    pub const fn new(name: &'static str, value: u64) -> Self {
        Self { name, value }
    }
}

macro_rules! forward_transport {
    ($($ptr:tt)*) => {
        #[async_trait]
        impl<T: Transport + ?Sized> Transport for $($ptr)*<T> {
            fn backend(&self) -> &'static str {
                (**self).backend()
            }
            fn local_id(&self) -> &NodeId {
                (**self).local_id()
            }
            fn max_frame_len(&self) -> usize {
                (**self).max_frame_len()
            }
            fn capabilities(&self) -> TransportCapabilities {
                (**self).capabilities()
            }
            async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
                (**self).send(to, frame).await
            }
            async fn send_many(
                &self,
                to: &NodeId,
                frames: &mut VecDeque<Bytes>,
            ) -> TransportResult<()> {
                (**self).send_many(to, frames).await
            }
            async fn recv(&self) -> TransportResult<TransportEvent> {
                (**self).recv().await
            }
            async fn recv_many(
                &self,
                events: &mut Vec<TransportResult<TransportEvent>>,
                limit: usize,
            ) -> usize {
                (**self).recv_many(events, limit).await
            }
            async fn close(&self) -> TransportResult<()> {
                (**self).close().await
            }
            fn advertised_addresses(&self) -> Vec<String> {
                (**self).advertised_addresses()
            }
            fn learn_address(&self, peer: &NodeId, address: &str) -> TransportResult<bool> {
                (**self).learn_address(peer, address)
            }
            fn counters(&self) -> Vec<TransportCounter> {
                (**self).counters()
            }
        }
    };
}

forward_transport!(Arc);
forward_transport!(Box);
