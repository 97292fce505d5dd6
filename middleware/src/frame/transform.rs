//! [`FrameTransform`]: what a frame layer does to each frame, and the
//! [`FrameContext`] it is given.

use bytes::Bytes;
use gossip_core::NodeId;

/// Where a frame is going or coming from, as a [`FrameTransform`] sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FrameContext<'a> {
    /// This node: the sender of a frame being sealed, the receiver of a
    /// frame being opened.
    pub local: &'a NodeId,
    /// The other node: the receiver of a frame being sealed, the sender of a
    /// frame being opened.
    pub peer: &'a NodeId,
    /// The layer's [`max_frame_len`](gossip_core::Transport::max_frame_len):
    /// the inner maximum minus the transform's
    /// [`overhead`](FrameTransform::overhead). A sealed frame was no longer;
    /// an opened frame must not be longer (bound decompression with it).
    pub max_frame_len: usize,
}

impl<'a> FrameContext<'a> {
    /// A context for a frame between `local` and `peer` under a layer whose
    /// maximum frame length is `max_frame_len`.
    #[must_use]
    pub fn new(local: &'a NodeId, peer: &'a NodeId, max_frame_len: usize) -> Self {
        Self {
            local,
            peer,
            max_frame_len,
        }
    }
}

/// A reversible transformation of whole frames: what a frame layer
/// (encryption, compression, a checksum, a version tag) does, without the
/// [`Transport`](gossip_core::Transport) around it.
///
/// [`Framed`](super::Framed) turns a transform into a transport layer: it
/// forwards `local_id`, `capabilities` and `close` to the inner transport,
/// subtracts [`overhead`](Self::overhead) from the inner
/// [`max_frame_len`](gossip_core::Transport::max_frame_len), refuses
/// frames above it with `FrameTooLarge`, calls [`seal`](Self::seal) on every
/// sent frame and [`open`](Self::open) on every received one, and turns
/// errors into [`TransportError`](gossip_core::TransportError)s. Events other
/// than frames pass through unchanged.
///
/// # Behavior
///
/// - `open(seal(frame)) == frame` for every frame up to the context's
///   `max_frame_len`, between the same two nodes (with `local` and `peer`
///   swapped).
/// - `seal` adds at most [`overhead`](Self::overhead) bytes.
/// - Both take `&self` and may be called concurrently: keep mutable state
///   behind a lock or an atomic.
pub trait FrameTransform: Send + Sync + 'static {
    /// Why [`seal`](Self::seal) or [`open`](Self::open) refused a frame. Kept
    /// as the [`source`](std::error::Error::source) of the transport error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The layer's name, reported as the transport's
    /// [`backend`](gossip_core::Transport::backend) and in its errors.
    fn name(&self) -> &'static str;

    /// The most bytes [`seal`](Self::seal) adds to a frame.
    fn overhead(&self) -> usize;

    /// Transforms a frame about to be sent to `cx.peer`.
    ///
    /// # Errors
    ///
    /// When the frame cannot be sealed (e.g. nonces are exhausted); the send
    /// fails with [`Other`](gossip_core::TransportErrorKind::Other) and
    /// nothing is sent.
    fn seal(&self, cx: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, Self::Error>;

    /// Reverses [`seal`](Self::seal) on a frame received from `cx.peer`.
    ///
    /// # Errors
    ///
    /// When the frame is malformed, forged, replayed or too large once
    /// opened; `recv` returns a
    /// [`Rejected`](gossip_core::TransportErrorKind::Rejected) error and the
    /// next `recv` serves the next frame.
    fn open(&self, cx: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, Self::Error>;
}
