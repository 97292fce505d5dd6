//! [`Compression`]: a transport that compresses frames it sends and
//! decompresses frames it receives, as a [`FrameTransform`].

use bytes::Bytes;

use super::{
    codec::{self, Decoded},
    CompressionLayer,
};
use crate::{
    frame::{FrameContext, FrameTransform, Framed},
    Error,
};

/// A transport whose frames are compressed when that makes them smaller:
/// [`Framed`] with a [`CompressionTransform`]. Built by [`CompressionLayer`];
/// see the [module docs](super).
///
/// Its [`max_frame_len`](gossip_core::Transport::max_frame_len) is the inner
/// maximum minus the flag byte: a frame is never sent larger than it came
/// plus the flag, so every frame up to that length fits.
pub type Compression<T> = Framed<CompressionTransform, T>;

/// The [`FrameTransform`] of [`Compression`]: the flag byte, the threshold,
/// and decompression bounded by the layer's maximum frame length.
#[derive(Debug, Clone, Copy)]
pub struct CompressionTransform {
    config: CompressionLayer,
}

impl CompressionTransform {
    pub(crate) fn new(config: CompressionLayer) -> Self {
        Self { config }
    }
}

impl<T> Compression<T> {
    /// Wraps `inner`, compressing with lz4 above the default threshold.
    pub fn new(inner: T) -> Self {
        Framed::with_transform(inner, CompressionTransform::new(CompressionLayer::lz4()))
    }

    /// The algorithm frames are sent with: `"lz4"` or `"zstd"`.
    pub fn algorithm(&self) -> &'static str {
        self.transform().config.algorithm.name()
    }
}

impl FrameTransform for CompressionTransform {
    type Error = Error;

    fn name(&self) -> &'static str {
        "compression"
    }

    fn overhead(&self) -> usize {
        1
    }

    fn seal(&self, _cx: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, Error> {
        Ok(Bytes::from(codec::encode(
            self.config.algorithm,
            self.config.threshold,
            &frame,
        )))
    }

    fn open(&self, cx: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, Error> {
        Ok(match codec::decode(&frame, cx.max_frame_len)? {
            Decoded::Stored(body) => frame.slice_ref(body),
            Decoded::Decompressed(body) => Bytes::from(body),
        })
    }
}
