//! Helpers of the transport conformance suite: bounded sends and receives,
//! and the checker of labelled frames.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use tokio::time::{sleep, timeout, timeout_at, Instant};

use super::{QUIET_PERIOD, RECV_TIMEOUT, TEST_TIMEOUT};
use crate::{
    Identity, NodeId, Transport, TransportCapabilities, TransportErrorKind, TransportEvent,
};

pub(super) async fn bounded(name: &str, body: impl Future<Output = ()>) {
    if timeout(TEST_TIMEOUT, body).await.is_err() {
        panic!("transport conformance `{name}` did not finish within {TEST_TIMEOUT:?}");
    }
}

pub(super) fn node_id(name: String) -> NodeId {
    NodeId::from_seed(name)
}

/// Builds a network of `N` nodes through the factory and checks what it returned.
pub(super) async fn network<const N: usize, F, Fut, T>(factory: &F) -> [Arc<T>; N]
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    let identities: Vec<Identity> = (0..N)
        .map(|i| Identity::from_seed(format!("conformance-node-{i}")))
        .collect();
    let ids: Vec<NodeId> = identities.iter().map(|i| i.node_id().clone()).collect();
    let transports = factory(identities).await;
    assert_eq!(
        transports.len(),
        N,
        "the factory must return one transport per identity"
    );
    for (transport, id) in transports.iter().zip(&ids) {
        assert_eq!(
            transport.local_id(),
            id,
            "the factory must return the transports in the order of the identities, \
             each speaking for its identity's id"
        );
    }
    let transports: Vec<Arc<T>> = transports.into_iter().map(Arc::new).collect();
    match <[Arc<T>; N]>::try_from(transports) {
        Ok(array) => array,
        Err(_) => unreachable!("length checked above"),
    }
}

pub(super) async fn close_all<T: Transport + ?Sized>(transports: &[Arc<T>]) {
    for transport in transports {
        if let Err(error) = transport.close().await {
            panic!("{}: close failed: {error}", transport.local_id());
        }
    }
}

/// Sends, retrying while the peer's queue is full (a legal, transient answer).
pub(super) async fn send<T: Transport + ?Sized>(from: &T, to: &NodeId, frame: Bytes) {
    let deadline = Instant::now() + RECV_TIMEOUT;
    loop {
        match from.send(to, frame.clone()).await {
            Ok(()) => return,
            Err(error)
                if error.kind() == TransportErrorKind::QueueFull && Instant::now() < deadline =>
            {
                sleep(Duration::from_millis(1)).await;
            }
            Err(error) => panic!(
                "{} → {to}: send of a {}-byte frame failed: {error}",
                from.local_id(),
                frame.len()
            ),
        }
    }
}

/// The next frame, skipping peer events, or a panic after [`RECV_TIMEOUT`].
pub(super) async fn recv_frame<T: Transport + ?Sized>(transport: &T) -> (NodeId, Bytes) {
    let deadline = Instant::now() + RECV_TIMEOUT;
    loop {
        match timeout_at(deadline, transport.recv()).await {
            Err(_) => panic!(
                "{}: no frame arrived within {RECV_TIMEOUT:?}",
                transport.local_id()
            ),
            Ok(Err(error)) => panic!("{}: recv failed: {error}", transport.local_id()),
            Ok(Ok(TransportEvent::Frame { from, frame })) => return (from, frame),
            Ok(Ok(_peer_event)) => {}
        }
    }
}

/// Listens for [`QUIET_PERIOD`] and fails if a frame arrives.
pub(super) async fn expect_no_frame<T: Transport + ?Sized>(transport: &T, why: &str) {
    let deadline = Instant::now() + QUIET_PERIOD;
    loop {
        match timeout_at(deadline, transport.recv()).await {
            Err(_) => return,
            Ok(Err(error)) => panic!("{}: recv failed: {error}", transport.local_id()),
            Ok(Ok(TransportEvent::Frame { from, frame })) => panic!(
                "{}: {why}, but a frame of {} bytes arrived from {from}",
                transport.local_id(),
                frame.len()
            ),
            Ok(Ok(_peer_event)) => {}
        }
    }
}

/// Receives until every `(sender, frame)` in `expected` has arrived; fails on
/// anything else, and on a repeat unless the transport may duplicate.
pub(super) async fn expect_frames<T: Transport + ?Sized>(
    transport: &T,
    expected: &[(&NodeId, Bytes)],
) {
    let may_duplicate = transport.capabilities().may_duplicate;
    let mut missing: Vec<(NodeId, Bytes)> = expected
        .iter()
        .map(|(from, frame)| ((*from).clone(), frame.clone()))
        .collect();
    let mut arrived: Vec<(NodeId, Bytes)> = Vec::new();
    while !missing.is_empty() {
        let got = recv_frame(transport).await;
        if let Some(position) = missing.iter().position(|want| *want == got) {
            arrived.push(missing.swap_remove(position));
        } else if arrived.contains(&got) {
            assert!(
                may_duplicate,
                "{}: a frame from {} arrived twice, but the transport does not declare may_duplicate",
                transport.local_id(),
                got.0
            );
        } else {
            panic!(
                "{}: unexpected frame of {} bytes from {} (frames must arrive byte for byte, \
                 with the sender's id)",
                transport.local_id(),
                got.1.len(),
                got.0
            );
        }
    }
}

/// A frame labelled with its sender, a stream name and a sequence number.
/// A frame labelled with its sender (the short form of its id, so that
/// labelled frames fit transports with small frame limits), a stream name
/// and a sequence.
pub(super) fn labelled(from: &NodeId, stream: &str, seq: u32) -> Bytes {
    Bytes::from(format!("{}|{stream}|{seq}", from.short()))
}

/// Checks labelled frames as they arrive against the declared capabilities.
pub(super) struct Arrivals {
    pub(super) owner: NodeId,
    pub(super) caps: TransportCapabilities,
    /// (sender, stream) → (sequences seen, highest sequence seen).
    pub(super) streams: HashMap<(NodeId, String), (HashSet<u32>, u32)>,
    pub(super) distinct: usize,
}

impl Arrivals {
    pub(super) fn new<T: Transport + ?Sized>(transport: &T) -> Self {
        Self {
            owner: transport.local_id().clone(),
            caps: transport.capabilities(),
            streams: HashMap::new(),
            distinct: 0,
        }
    }

    pub(super) fn record(&mut self, from: &NodeId, frame: &Bytes) {
        let owner = &self.owner;
        let text = std::str::from_utf8(frame)
            .unwrap_or_else(|_| panic!("{owner}: a frame from {from} arrived altered"));
        let mut parts = text.rsplitn(3, '|');
        let (seq, stream, label) = match (parts.next(), parts.next(), parts.next()) {
            (Some(seq), Some(stream), Some(label)) => (seq, stream, label),
            _ => panic!("{owner}: a frame from {from} arrived altered: {text:?}"),
        };
        let seq: u32 = seq
            .parse()
            .unwrap_or_else(|_| panic!("{owner}: a frame from {from} arrived altered: {text:?}"));
        assert_eq!(
            label,
            from.short(),
            "{owner}: a frame sent by {label}… arrived with sender id {from}"
        );
        let (seen, highest) = self
            .streams
            .entry((from.clone(), stream.to_owned()))
            .or_insert_with(|| (HashSet::new(), 0));
        if seen.insert(seq) {
            if self.caps.ordered && seen.len() > 1 {
                assert!(
                    seq > *highest,
                    "{owner}: frame {seq} of {from}/{stream} arrived after frame {highest}, \
                     but the transport declares `ordered`"
                );
            }
            *highest = (*highest).max(seq);
            self.distinct += 1;
        } else {
            assert!(
                self.caps.may_duplicate,
                "{owner}: frame {seq} of {from}/{stream} arrived twice, but the transport does \
                 not declare `may_duplicate`"
            );
        }
    }

    /// Receives until `count` distinct labelled frames have arrived.
    pub(super) async fn collect<T: Transport + ?Sized>(&mut self, transport: &T, count: usize) {
        while self.distinct < count {
            let (from, frame) = recv_frame(transport).await;
            self.record(&from, &frame);
        }
    }
}

pub(super) fn assert_kind(context: &str, got: TransportErrorKind, allowed: &[TransportErrorKind]) {
    assert!(
        allowed.contains(&got),
        "{context}: expected an error of kind {allowed:?}, got {got:?}"
    );
}
