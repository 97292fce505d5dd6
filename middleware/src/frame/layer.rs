//! [`FramedLayer`], which builds [`Framed`] transports from a cloneable
//! [`FrameTransform`].

use tower::Layer;

use super::Framed;

/// A [`tower::Layer`] that wraps a transport in [`Framed`] with a clone of
/// its transform: the layer of a third-party [`FrameTransform`](super::FrameTransform)
/// in one line. (The crate's own layers have their own layer types, which
/// give each transport its own state, such as a nonce prefix.)
#[derive(Debug, Clone)]
pub struct FramedLayer<F> {
    transform: F,
}

impl<F> FramedLayer<F> {
    /// A layer applying `transform` to every transport it wraps.
    #[must_use]
    pub fn new(transform: F) -> Self {
        Self { transform }
    }
}

impl<F: Clone, T> Layer<T> for FramedLayer<F> {
    type Service = Framed<F, T>;

    fn layer(&self, inner: T) -> Self::Service {
        Framed::with_transform(inner, self.transform.clone())
    }
}
