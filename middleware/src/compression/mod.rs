//! Compression: lz4 (pure Rust), and zstd with the `compression-zstd`
//! feature, behind a flag byte, with a size threshold, never inflating, and
//! bounded decompression.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use gossip_core::{Identity, NodeId, Transport, TransportEvent};
//! use gossip_middleware::CompressionLayer;
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//! use tower::Layer;
//!
//! let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//! let a = CompressionLayer::lz4().layer(network.join(&Identity::from_seed("a"))?);
//! let b = CompressionLayer::lz4().layer(network.join(&Identity::from_seed("b"))?);
//! let frame = bytes::Bytes::from("gossip ".repeat(100));
//! a.send(b.local_id(), frame.clone()).await?;
//! match b.recv().await? {
//!     TransportEvent::Frame { frame: got, .. } => assert_eq!(got, frame),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Frame format
//!
//! `[flag: u8][body]`: flag 0 = stored (body is the frame), 1 = lz4 (an
//! lz4 block with its decompressed size prepended, 4 bytes little-endian),
//! 2 = zstd (a zstd frame declaring its content size). Frames shorter than
//! the threshold (256 bytes by default) are stored without trying; a frame
//! whose compressed form is not smaller is stored too, so a frame is never
//! more than one byte longer than it came.
//! [`max_frame_len`](gossip_core::Transport::max_frame_len) is the inner
//! maximum minus that byte.
//!
//! # Compression bombs
//!
//! The size a compressed frame declares is checked against this layer's
//! maximum frame length *before* anything is allocated; a frame declaring
//! more, or producing more than it declared, is rejected with a
//! [`TransportErrorKind::Rejected`](gossip_core::TransportErrorKind::Rejected)
//! error whose source is
//! [`Error::DecompressedTooLarge`](crate::Error::DecompressedTooLarge) (or
//! [`Corrupt`](crate::Error::Corrupt)), and the next `recv` serves the next
//! frame.
//!
//! # Where it belongs in a stack
//!
//! Above (outside) encryption, so frames are compressed before they are
//! sealed; see the [crate docs](crate#ordering) for the right and the wrong
//! `ServiceBuilder` order and why.

mod codec;
mod layer;
mod service;

pub use layer::{CompressionLayer, DEFAULT_THRESHOLD};
pub use service::{Compression, CompressionTransform};
