//! [`Framed`]: the one [`Transport`] implementation of every frame layer.

use std::collections::VecDeque;

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    NodeId, Transport, TransportCapabilities, TransportError, TransportErrorKind, TransportEvent,
    TransportResult,
};

use super::{FrameContext, FrameTransform};

/// A transport that applies a [`FrameTransform`] to every frame it sends
/// and receives over an inner transport; see the [module docs](super).
///
/// [`Compression`](crate::Compression) and [`Encryption`](crate::Encryption)
/// are this type with their transforms.
#[derive(Debug, Clone)]
pub struct Framed<F, T> {
    inner: T,
    transform: F,
}

impl<F, T> Framed<F, T> {
    /// Wraps `inner`, transforming its frames with `transform`.
    pub fn with_transform(inner: T, transform: F) -> Self {
        Self { inner, transform }
    }

    /// The transform.
    pub fn transform(&self) -> &F {
        &self.transform
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
}

/// Refuses a frame longer than `max` before anything is done with it: the
/// check every layer that changes or gates frames makes on `send`.
pub(crate) fn check_frame_len(
    backend: &'static str,
    len: usize,
    max: usize,
) -> TransportResult<()> {
    if len > max {
        return Err(TransportError::new(
            backend,
            TransportErrorKind::FrameTooLarge,
            format!("frame of {len} bytes exceeds the maximum of {max}"),
        ));
    }
    Ok(())
}

impl<F: FrameTransform, T: Transport> Framed<F, T> {
    /// Opens a received frame with the transform (other events and errors
    /// pass as they are); a frame that does not open is a `Rejected` error.
    fn open_event(
        &self,
        event: TransportResult<TransportEvent>,
    ) -> TransportResult<TransportEvent> {
        match event? {
            TransportEvent::Frame { from, frame } => {
                let cx = FrameContext::new(self.inner.local_id(), &from, self.max_frame_len());
                match self.transform.open(&cx, frame) {
                    Ok(frame) => Ok(TransportEvent::Frame { from, frame }),
                    Err(error) => {
                        let layer = self.transform.name();
                        tracing::debug!(peer = %from, layer, %error, "frame rejected");
                        Err(TransportError::new(
                            layer,
                            TransportErrorKind::Rejected,
                            format!("frame from {from} rejected: {error}"),
                        )
                        .with_source(error))
                    }
                }
            }
            other => Ok(other),
        }
    }
}

// Every `Transport` method is written out, so a defaulted method added to
// the trait later cannot silently bypass the transform.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<F: FrameTransform, T: Transport> Transport for Framed<F, T> {
    fn backend(&self) -> &'static str {
        self.transform.name()
    }

    fn local_id(&self) -> &NodeId {
        self.inner.local_id()
    }

    /// The inner maximum minus the transform's overhead: every frame up to
    /// this length fits once sealed.
    fn max_frame_len(&self) -> usize {
        self.inner
            .max_frame_len()
            .saturating_sub(self.transform.overhead())
    }

    fn capabilities(&self) -> TransportCapabilities {
        self.inner.capabilities()
    }

    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        let name = self.transform.name();
        let max = self.max_frame_len();
        check_frame_len(name, frame.len(), max)?;
        let cx = FrameContext::new(self.inner.local_id(), to, max);
        let sealed = self.transform.seal(&cx, frame).map_err(|error| {
            TransportError::new(name, TransportErrorKind::Other, error.to_string())
                .with_source(error)
        })?;
        self.inner.send(to, sealed).await
    }

    /// Seals every frame, then hands the batch to the inner transport's
    /// `send_many`; a frame that cannot be sealed stops the batch there.
    async fn send_many(&self, to: &NodeId, frames: &mut VecDeque<Bytes>) -> TransportResult<()> {
        let name = self.transform.name();
        let max = self.max_frame_len();
        let cx = FrameContext::new(self.inner.local_id(), to, max);
        let mut sealed = VecDeque::with_capacity(frames.len());
        let mut refused = None;
        for frame in frames.iter() {
            let result = check_frame_len(name, frame.len(), max).and_then(|()| {
                self.transform.seal(&cx, frame.clone()).map_err(|error| {
                    TransportError::new(name, TransportErrorKind::Other, error.to_string())
                        .with_source(error)
                })
            });
            match result {
                Ok(frame) => sealed.push_back(frame),
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
        }
        let offered = sealed.len();
        let result = self.inner.send_many(to, &mut sealed).await;
        frames.drain(..offered - sealed.len());
        result?;
        refused.map_or(Ok(()), Err)
    }

    async fn recv(&self) -> TransportResult<TransportEvent> {
        // Cancel-safe: nothing awaits after the inner `recv` returned.
        let event = self.inner.recv().await;
        self.open_event(event)
    }

    async fn recv_many(
        &self,
        events: &mut Vec<TransportResult<TransportEvent>>,
        limit: usize,
    ) -> usize {
        let start = events.len();
        let taken = self.inner.recv_many(events, limit).await;
        let received: Vec<_> = events.drain(start..).collect();
        events.extend(received.into_iter().map(|event| self.open_event(event)));
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
