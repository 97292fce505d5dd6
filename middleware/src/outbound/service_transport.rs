//! [`ServiceTransport`]: a transport whose sends go through a `tower::Service`.

use std::{fmt, future::poll_fn, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    NodeId, Transport, TransportCapabilities, TransportError, TransportErrorKind, TransportEvent,
    TransportResult,
};
use tokio::sync::Mutex;
use tower::{BoxError, Service};

use crate::frame::check_frame_len;

const BACKEND: &str = "tower";

/// A transport whose `send` calls a [`tower::Service<(NodeId, Bytes)>`]
/// (typically tower layers over a [`SendService`](super::SendService) of
/// the inner transport) and whose `recv`, `max_frame_len`, `capabilities`,
/// `local_id` and `close` are the inner transport's.
///
/// Concurrent sends take turns to wait for the service to be ready (a
/// fair async mutex), then run concurrently: a concurrency limit of N lets N
/// sends be in flight. The service's errors become [`TransportError`]s:
/// a `TransportError` passes through, tower's timeout (`Elapsed`) becomes
/// [`Unreachable`](TransportErrorKind::Unreachable) (transient), anything
/// else [`Other`](TransportErrorKind::Other) with the error as source.
pub struct ServiceTransport<S, T> {
    service: Mutex<S>,
    transport: Arc<T>,
}

impl<S, T: fmt::Debug> fmt::Debug for ServiceTransport<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceTransport")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl<S, T> ServiceTransport<S, T> {
    /// Sends through `service`, receives from `transport` (the same one the
    /// service ends in, shared through [`SendService::from_arc`](super::SendService::from_arc)).
    pub fn new(service: S, transport: Arc<T>) -> Self {
        Self {
            service: Mutex::new(service),
            transport,
        }
    }

    /// The inner transport.
    pub fn get_ref(&self) -> &T {
        &self.transport
    }

    /// The send service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.service.get_mut()
    }

    /// Unwraps the send service and the inner transport.
    pub fn into_inner(self) -> (S, Arc<T>) {
        (self.service.into_inner(), self.transport)
    }
}

/// A service error that is not a `TransportError`, kept as the source.
#[derive(Debug)]
struct ServiceFailure(BoxError);

impl fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for ServiceFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

pub(crate) fn into_transport_error(error: BoxError) -> TransportError {
    match error.downcast::<TransportError>() {
        Ok(error) => *error,
        Err(error) => match error.downcast::<tower::timeout::error::Elapsed>() {
            Ok(elapsed) => {
                TransportError::new(BACKEND, TransportErrorKind::Unreachable, "send timed out")
                    .with_source(*elapsed)
            }
            Err(error) => {
                TransportError::new(BACKEND, TransportErrorKind::Other, error.to_string())
                    .with_source(ServiceFailure(error))
            }
        },
    }
}

#[async_trait]
impl<S, T> Transport for ServiceTransport<S, T>
where
    T: Transport,
    S: Service<(NodeId, Bytes), Response = ()> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn local_id(&self) -> &NodeId {
        self.transport.local_id()
    }

    fn max_frame_len(&self) -> usize {
        self.transport.max_frame_len()
    }

    fn capabilities(&self) -> TransportCapabilities {
        self.transport.capabilities()
    }

    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        // Refused before it takes a rate-limit token or a concurrency slot.
        check_frame_len(BACKEND, frame.len(), self.max_frame_len())?;
        let call = {
            let mut service = self.service.lock().await;
            poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(|error| into_transport_error(error.into()))?;
            service.call((to.clone(), frame))
        };
        call.await
            .map_err(|error| into_transport_error(error.into()))
    }

    async fn recv(&self) -> TransportResult<TransportEvent> {
        self.transport.recv().await
    }

    async fn recv_many(
        &self,
        events: &mut Vec<TransportResult<TransportEvent>>,
        limit: usize,
    ) -> usize {
        self.transport.recv_many(events, limit).await
    }

    async fn close(&self) -> TransportResult<()> {
        self.transport.close().await
    }

    fn advertised_addresses(&self) -> Vec<String> {
        self.transport.advertised_addresses()
    }

    fn learn_address(&self, peer: &NodeId, address: &str) -> TransportResult<bool> {
        self.transport.learn_address(peer, address)
    }

    fn counters(&self) -> Vec<gossip_core::TransportCounter> {
        self.transport.counters()
    }
}
