//! [`Metrics`]: a transport that records what passes through it.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, OnceLock, PoisonError, RwLock},
    time::Instant,
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    NodeId, Transport, TransportCapabilities, TransportErrorKind, TransportEvent, TransportResult,
};
use metrics::{counter, histogram, Counter, Histogram};

use super::{
    labels::{self, KINDS},
    BYTES_RECEIVED, BYTES_SENT, FRAMES_RECEIVED, FRAMES_SENT, PEER_EVENTS, QUEUE_DROPS,
    SEND_DURATION, TRANSPORT_ERRORS,
};

/// Peers with their own label; frames of further peers count under
/// `peer="other"`, which bounds the number of series (and the memory a flood
/// of unknown senders can take).
pub const MAX_PEER_LABELS: usize = 1024;

/// The label of peers beyond [`MAX_PEER_LABELS`].
const OTHER_PEER: &str = "other";

/// Counters of one metric and peer, one per kind, registered on first use
/// (so kinds never seen export no series).
struct PerKind {
    name: &'static str,
    peer: Arc<str>,
    counters: [OnceLock<Counter>; KINDS],
}

impl PerKind {
    fn new(name: &'static str, peer: &Arc<str>) -> Self {
        Self {
            name,
            peer: peer.clone(),
            counters: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    fn increment(&self, kind: usize, by: u64) {
        if let Some(slot) = self.counters.get(kind) {
            slot.get_or_init(|| {
                counter!(self.name, "peer" => self.peer.to_string(), "kind" => labels::kind_name(kind))
            })
            .increment(by);
        }
    }
}

/// The metric handles of one peer, registered on first sight.
struct PeerHandles {
    frames_sent: PerKind,
    bytes_sent: PerKind,
    frames_received: PerKind,
    bytes_received: PerKind,
    queue_drops: Counter,
    send_duration: Histogram,
}

impl PeerHandles {
    fn register(peer: &str) -> Self {
        let label: Arc<str> = Arc::from(peer);
        Self {
            frames_sent: PerKind::new(FRAMES_SENT, &label),
            bytes_sent: PerKind::new(BYTES_SENT, &label),
            frames_received: PerKind::new(FRAMES_RECEIVED, &label),
            bytes_received: PerKind::new(BYTES_RECEIVED, &label),
            queue_drops: counter!(QUEUE_DROPS, "peer" => peer.to_owned()),
            send_duration: histogram!(SEND_DURATION, "peer" => peer.to_owned()),
        }
    }
}

/// A transport that counts frames, bytes, errors and queue drops and times
/// sends. Built by [`MetricsLayer`](super::MetricsLayer); the metric names
/// and labels are listed in the [module docs](super). Frames pass unchanged.
///
/// Metric handles are registered, per peer, with the recorder installed when
/// the peer is first seen: install the recorder before traffic starts.
pub struct Metrics<T> {
    inner: T,
    peers: RwLock<HashMap<NodeId, Arc<PeerHandles>>>,
    other: OnceLock<Arc<PeerHandles>>,
    /// Whether sends are timed into [`SEND_DURATION`] (two clock reads per send).
    time_sends: bool,
}

impl<T: fmt::Debug> fmt::Debug for Metrics<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<T> Metrics<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self::with_layer(inner, &super::MetricsLayer::new())
    }

    pub(crate) fn with_layer(inner: T, layer: &super::MetricsLayer) -> Self {
        super::describe();
        Self {
            time_sends: layer.time_sends,
            inner,
            peers: RwLock::new(HashMap::new()),
            other: OnceLock::new(),
        }
    }

    /// The wrapped transport.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped transport, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the inner transport.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Runs `record` with the handles of `peer`, registering them on first
    /// sight. The common case is one read lock and one hash of the id.
    /// Counts one received event (a frame by kind and peer, a peer event, an error).
    fn record_received(&self, result: &TransportResult<TransportEvent>) {
        match result {
            Ok(TransportEvent::Frame { from, frame }) => {
                let kind = labels::kind_index(frame);
                self.with_peer(from, |peer| {
                    peer.frames_received.increment(kind, 1);
                    peer.bytes_received.increment(kind, frame.len() as u64);
                });
            }
            Ok(TransportEvent::PeerDiscovered { .. }) => {
                counter!(PEER_EVENTS, "event" => "discovered").increment(1);
            }
            Ok(TransportEvent::Connected { .. }) => {
                counter!(PEER_EVENTS, "event" => "connected").increment(1);
            }
            Ok(TransportEvent::Disconnected { .. }) => {
                counter!(PEER_EVENTS, "event" => "disconnected").increment(1);
            }
            Ok(_) => counter!(PEER_EVENTS, "event" => "other").increment(1),
            Err(error) => {
                let label = labels::transport_error(error.kind());
                counter!(TRANSPORT_ERRORS, "op" => "recv", "error" => label).increment(1);
            }
        }
    }

    fn with_peer(&self, peer: &NodeId, record: impl FnOnce(&PeerHandles)) {
        if let Some(handles) = self
            .peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(peer)
        {
            return record(handles);
        }
        let handles = {
            let mut peers = self.peers.write().unwrap_or_else(PoisonError::into_inner);
            if peers.len() >= MAX_PEER_LABELS && !peers.contains_key(peer) {
                self.other
                    .get_or_init(|| Arc::new(PeerHandles::register(OTHER_PEER)))
                    .clone()
            } else {
                peers
                    .entry(peer.clone())
                    .or_insert_with(|| Arc::new(PeerHandles::register(peer.as_str())))
                    .clone()
            }
        };
        record(&handles);
    }
}

#[async_trait]
impl<T: Transport> Transport for Metrics<T> {
    fn backend(&self) -> &'static str {
        "metrics"
    }

    fn local_id(&self) -> &NodeId {
        self.inner.local_id()
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }

    fn capabilities(&self) -> TransportCapabilities {
        self.inner.capabilities()
    }

    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        let kind = labels::kind_index(&frame);
        let len = frame.len() as u64;
        let start = self.time_sends.then(Instant::now);
        let result = self.inner.send(to, frame).await;
        let elapsed = start.map(|start| start.elapsed().as_secs_f64());
        self.with_peer(to, |peer| {
            if let Some(elapsed) = elapsed {
                peer.send_duration.record(elapsed);
            }
            match &result {
                Ok(()) => {
                    peer.frames_sent.increment(kind, 1);
                    peer.bytes_sent.increment(kind, len);
                }
                Err(error) if error.kind() == TransportErrorKind::QueueFull => {
                    peer.queue_drops.increment(1);
                }
                Err(_) => {}
            }
        });
        if let Err(error) = &result {
            let label = labels::transport_error(error.kind());
            counter!(TRANSPORT_ERRORS, "op" => "send", "error" => label).increment(1);
        }
        result
    }

    /// Forwards the batch; records the frames taken, and the refusal of the
    /// first one not taken, as `send` records each.
    async fn send_many(&self, to: &NodeId, frames: &mut VecDeque<Bytes>) -> TransportResult<()> {
        let offered: Vec<(usize, u64)> = frames
            .iter()
            .map(|frame| (labels::kind_index(frame), frame.len() as u64))
            .collect();
        let start = self.time_sends.then(Instant::now);
        let result = self.inner.send_many(to, frames).await;
        let elapsed = start.map(|start| start.elapsed().as_secs_f64());
        let sent = offered.len() - frames.len();
        self.with_peer(to, |peer| {
            if let Some(elapsed) = elapsed {
                peer.send_duration.record(elapsed);
            }
            for &(kind, len) in offered.iter().take(sent) {
                peer.frames_sent.increment(kind, 1);
                peer.bytes_sent.increment(kind, len);
            }
            if matches!(&result, Err(error) if error.kind() == TransportErrorKind::QueueFull) {
                peer.queue_drops.increment(1);
            }
        });
        if let Err(error) = &result {
            let label = labels::transport_error(error.kind());
            counter!(TRANSPORT_ERRORS, "op" => "send", "error" => label).increment(1);
        }
        result
    }

    async fn recv(&self) -> TransportResult<TransportEvent> {
        // Cancel-safe: recording is synchronous, after the inner `recv` returned.
        let result = self.inner.recv().await;
        self.record_received(&result);
        result
    }

    async fn recv_many(
        &self,
        events: &mut Vec<TransportResult<TransportEvent>>,
        limit: usize,
    ) -> usize {
        let start = events.len();
        let taken = self.inner.recv_many(events, limit).await;
        for event in events.iter().skip(start) {
            self.record_received(event);
        }
        taken
    }

    async fn close(&self) -> TransportResult<()> {
        self.inner.close().await
    }

    fn advertised_addresses(&self) -> Vec<String> {
        self.inner.advertised_addresses()
    }

    fn learn_address(&self, peer: &NodeId, address: &str) -> TransportResult<bool> {
        self.inner.learn_address(peer, address)
    }

    fn counters(&self) -> Vec<gossip_core::TransportCounter> {
        self.inner.counters()
    }
}
