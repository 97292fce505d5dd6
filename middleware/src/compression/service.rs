//! [`Compression`]: a transport that compresses frames it sends and
//! decompresses frames it receives.

use async_trait::async_trait;
use bytes::Bytes;
use gossip_core::{
    NodeId, Transport, TransportCapabilities, TransportError, TransportErrorKind, TransportEvent,
    TransportResult,
};

use super::{
    codec::{self, Decoded},
    CompressionLayer,
};

const BACKEND: &str = "compression";

/// A transport whose frames are compressed when that makes them smaller.
/// Built by [`CompressionLayer`]; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct Compression<T> {
    inner: T,
    config: CompressionLayer,
}

impl<T> Compression<T> {
    /// Wraps `inner`, compressing with lz4 above the default threshold.
    pub fn new(inner: T) -> Self {
        Self::with_layer(inner, CompressionLayer::lz4())
    }

    pub(crate) fn with_layer(inner: T, config: CompressionLayer) -> Self {
        Self { inner, config }
    }

    /// The algorithm frames are sent with: `"lz4"` or `"zstd"`.
    pub fn algorithm(&self) -> &'static str {
        self.config.algorithm.name()
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

#[async_trait]
impl<T: Transport> Transport for Compression<T> {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn local_id(&self) -> &NodeId {
        self.inner.local_id()
    }

    /// The inner maximum minus the flag byte. (A frame is never sent larger
    /// than it came plus the flag, so every frame up to this length fits.)
    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len().saturating_sub(1)
    }

    fn capabilities(&self) -> TransportCapabilities {
        self.inner.capabilities()
    }

    async fn send(&self, to: &NodeId, frame: Bytes) -> TransportResult<()> {
        let max = self.max_frame_len();
        if frame.len() > max {
            return Err(TransportError::new(
                BACKEND,
                TransportErrorKind::FrameTooLarge,
                format!(
                    "frame of {} bytes exceeds the maximum of {max}",
                    frame.len()
                ),
            ));
        }
        let encoded = codec::encode(self.config.algorithm, self.config.threshold, &frame);
        self.inner.send(to, Bytes::from(encoded)).await
    }

    async fn recv(&self) -> TransportResult<TransportEvent> {
        // Cancel-safe: nothing awaits after the inner `recv` returned.
        match self.inner.recv().await? {
            TransportEvent::Frame { from, frame } => {
                match codec::decode(&frame, self.max_frame_len()) {
                    Ok(Decoded::Stored(body)) => {
                        let body = frame.slice_ref(body);
                        Ok(TransportEvent::Frame { from, frame: body })
                    }
                    Ok(Decoded::Decompressed(body)) => Ok(TransportEvent::Frame {
                        from,
                        frame: Bytes::from(body),
                    }),
                    Err(error) => {
                        tracing::debug!(peer = %from, %error, "compressed frame rejected");
                        Err(TransportError::new(
                            BACKEND,
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

    async fn close(&self) -> TransportResult<()> {
        self.inner.close().await
    }
}
