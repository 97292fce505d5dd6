//! [`CompressionLayer`], which builds [`Compression`] transports.

use tower::Layer;

use super::{codec::Algorithm, Compression, CompressionTransform};
use crate::frame::Framed;

/// Frames shorter than this are sent as is, by default.
pub const DEFAULT_THRESHOLD: usize = 256;

/// A [`tower::Layer`] that wraps a transport in [`Compression`].
///
/// ```
/// use gossip_middleware::CompressionLayer;
///
/// let lz4 = CompressionLayer::lz4().threshold(512);
/// # #[cfg(feature = "compression-zstd")]
/// let zstd = CompressionLayer::zstd(3);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CompressionLayer {
    pub(crate) algorithm: Algorithm,
    pub(crate) threshold: usize,
}

impl CompressionLayer {
    /// Compresses with lz4 (fast, modest ratio: the default choice).
    #[must_use]
    pub fn lz4() -> Self {
        Self {
            algorithm: Algorithm::Lz4,
            threshold: DEFAULT_THRESHOLD,
        }
    }

    /// Compresses with zstd at `level` (1–22; 3 is zstd's default; higher is
    /// smaller and slower). Receivers decode zstd frames whatever they send
    /// with, as long as the `compression-zstd` feature is on.
    #[cfg(feature = "compression-zstd")]
    #[must_use]
    pub fn zstd(level: i32) -> Self {
        Self {
            algorithm: Algorithm::Zstd(level),
            threshold: DEFAULT_THRESHOLD,
        }
    }

    /// Frames shorter than `bytes` are sent as is (flag 0), without trying
    /// to compress them.
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }
}

impl<T> Layer<T> for CompressionLayer {
    type Service = Compression<T>;

    fn layer(&self, inner: T) -> Self::Service {
        Framed::with_transform(inner, CompressionTransform::new(*self))
    }
}
