//! tower on the send path: a timeout fails a slow send with a typed error, a
//! rate limit spaces sends under paused time, a concurrency limit caps sends
//! in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg(feature = "tower")]

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    Identity, NodeId, Transport, TransportCapabilities, TransportErrorKind, TransportEvent,
    TransportResult,
};
use gossip_middleware::{SendLayer, SendService, ServiceTransport};
use tokio::time::Instant;
use tower::{
    limit::{ConcurrencyLimitLayer, RateLimitLayer},
    timeout::TimeoutLayer,
    Layer, ServiceBuilder, ServiceExt,
};

/// A transport whose sends take `delay` and that tracks sends in flight.
struct Slow {
    id: NodeId,
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    sent: AtomicUsize,
}

impl Slow {
    fn new(delay: Duration) -> Self {
        Self {
            id: NodeId::from_seed("slow"),
            delay,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Transport for Slow {
    fn backend(&self) -> &'static str {
        "slow"
    }
    fn local_id(&self) -> &NodeId {
        &self.id
    }
    fn max_frame_len(&self) -> usize {
        100
    }
    fn capabilities(&self) -> TransportCapabilities {
        TransportCapabilities::stream_like()
    }
    async fn send(&self, _to: &NodeId, _frame: Bytes) -> TransportResult<()> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn recv(&self) -> TransportResult<TransportEvent> {
        std::future::pending().await
    }
    async fn close(&self) -> TransportResult<()> {
        Ok(())
    }
}

fn peer() -> NodeId {
    NodeId::from_seed("peer")
}

#[tokio::test(start_paused = true)]
async fn timeout_fails_a_slow_send_with_a_typed_error() {
    let transport = SendLayer::new(TimeoutLayer::new(Duration::from_millis(100)))
        .layer(Slow::new(Duration::from_secs(5)));
    let start = Instant::now();
    let error = transport
        .send(&peer(), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Unreachable);
    assert!(error.is_transient());
    assert_eq!(error.backend(), "tower");
    let source = std::error::Error::source(&error).unwrap();
    // The port error keeps its source in an `Arc`.
    let source = source
        .downcast_ref::<Arc<dyn std::error::Error + Send + Sync>>()
        .map_or(source, |shared| {
            &**shared as &(dyn std::error::Error + 'static)
        });
    assert!(source.is::<tower::timeout::error::Elapsed>(), "{source:?}");
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // Frame limits and the inner transport's own errors pass through unchanged.
    let too_large = transport
        .send(&peer(), Bytes::from(vec![0; 101]))
        .await
        .unwrap_err();
    assert_eq!(too_large.kind(), TransportErrorKind::FrameTooLarge);
    assert_eq!(transport.max_frame_len(), 100);
    assert_eq!(
        transport.local_id().as_str(),
        gossip_core::NodeId::from_seed("slow").as_str()
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limit_spaces_sends() {
    let transport = SendLayer::new(RateLimitLayer::new(2, Duration::from_secs(1)))
        .layer(Slow::new(Duration::ZERO));
    let start = Instant::now();
    for _ in 0..6 {
        transport
            .send(&peer(), Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    // 2 per second: the 6th send waits for the third period.
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(transport.get_ref().sent.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_caps_sends_in_flight() {
    let transport = Arc::new(
        SendLayer::new(ConcurrencyLimitLayer::new(3)).layer(Slow::new(Duration::from_millis(50))),
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let transport = transport.clone();
            tokio::spawn(async move { transport.send(&peer(), Bytes::from_static(b"x")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let slow = transport.get_ref();
    assert_eq!(slow.max_in_flight.load(Ordering::SeqCst), 3);
    assert_eq!(slow.sent.load(Ordering::SeqCst), 10);
    // ceil(10 / 3) rounds of 50 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn without_a_limit_sends_run_concurrently() {
    // Control for the test above: the adapter itself does not serialize sends.
    let transport = Arc::new(
        SendLayer::new(tower::layer::util::Identity::new())
            .layer(Slow::new(Duration::from_millis(50))),
    );
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let transport = transport.clone();
            tokio::spawn(async move { transport.send(&peer(), Bytes::from_static(b"x")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(transport.get_ref().max_in_flight.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn send_service_and_service_transport_by_hand() {
    let shared = Arc::new(Slow::new(Duration::ZERO));
    let service = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(SendService::from_arc(shared.clone()));
    service
        .clone()
        .oneshot((peer(), Bytes::from_static(b"x")))
        .await
        .unwrap();
    let transport = ServiceTransport::new(service, shared.clone());
    transport
        .send(&peer(), Bytes::from_static(b"y"))
        .await
        .unwrap();
    assert_eq!(shared.sent.load(Ordering::SeqCst), 2);
    assert_eq!(transport.backend(), "tower");
    // A TransportError from the inner transport keeps its kind.
    let network = gossip_transport_memory::MemoryNetwork::new(Default::default());
    let memory = SendService::new(network.join(&Identity::from_seed("m")).unwrap());
    let error = memory
        .oneshot((NodeId::from_seed("nobody"), Bytes::new()))
        .await
        .unwrap_err();
    assert!(matches!(
        error.kind(),
        TransportErrorKind::UnknownPeer | TransportErrorKind::Unreachable
    ));
}
