//! Frame layers as data: a [`FrameTransform`] says what happens to each frame
//! (seal on send, open on receive, how many bytes it adds), and [`Framed`]
//! is the one [`Transport`](gossip_core::Transport) implementation around
//! it. [`Compression`](crate::Compression) and
//! [`Encryption`](crate::Encryption) are `Framed` with their transforms;
//! a layer of your own is a transform and a [`FramedLayer`]:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use bytes::{BufMut, Bytes, BytesMut};
//! use gossip_core::{Identity, NodeId, Transport, TransportEvent};
//! use gossip_middleware::frame::{FrameContext, FrameTransform, FramedLayer};
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//! use tower::Layer;
//!
//! /// Prefixes every frame with a protocol version and refuses others.
//! #[derive(Debug, Clone)]
//! struct Versioned(u8);
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("frame of version {0:?}, expected another")]
//! struct WrongVersion(Option<u8>);
//!
//! impl FrameTransform for Versioned {
//!     type Error = WrongVersion;
//!     fn name(&self) -> &'static str { "versioned" }
//!     fn overhead(&self) -> usize { 1 }
//!     fn seal(&self, _: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, WrongVersion> {
//!         let mut out = BytesMut::with_capacity(frame.len() + 1);
//!         out.put_u8(self.0);
//!         out.put(frame);
//!         Ok(out.freeze())
//!     }
//!     fn open(&self, _: &FrameContext<'_>, frame: Bytes) -> Result<Bytes, WrongVersion> {
//!         match frame.first() {
//!             Some(&v) if v == self.0 => Ok(frame.slice(1..)),
//!             other => Err(WrongVersion(other.copied())),
//!         }
//!     }
//! }
//!
//! let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//! let layer = FramedLayer::new(Versioned(2));
//! let a = layer.layer(network.join(&Identity::from_seed("a"))?);
//! let b = layer.layer(network.join(&Identity::from_seed("b"))?);
//! assert_eq!(a.max_frame_len(), network.max_frame_len() - 1);
//! a.send(b.local_id(), "hello".into()).await?;
//! match b.recv().await? {
//!     TransportEvent::Frame { frame, .. } => assert_eq!(&frame[..], b"hello"),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Layers that do more than transform frames (metrics observe results and
//! events, faults drop, delay and duplicate) implement `Transport` directly.

mod framed;
mod layer;
mod transform;

#[cfg(any(feature = "faults", feature = "tower"))]
pub(crate) use framed::check_frame_len;
pub use framed::Framed;
pub use layer::FramedLayer;
pub use transform::{FrameContext, FrameTransform};

#[cfg(test)]
mod tests;
