//! Encryption: AEAD over whole frames with a shared [`NetworkKey`], and over
//! entry payloads at rest ([`StoreEncryption`]).
//!
//! # When it is needed
//!
//! The TCP and libp2p transports already authenticate every connection
//! (each side proves its node id with its identity key) and encrypt every
//! frame under keys fresh to the connection (Noise), and the TCP transport
//! can admit only holders of a network key (`TcpConfig::network_key`). Over
//! them this layer is defence in depth: a second, long-lived key that a
//! compromise of the transport alone does not reveal. It is *needed* over
//! transports without security of their own (the in-memory transport, a
//! BLE or serial link you write): there it is the only confidentiality, and
//! it binds the claimed sender and receiver ids into every frame, though it
//! cannot prove who holds the shared key.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use gossip_core::{Identity, NodeId, Transport, TransportEvent};
//! use gossip_middleware::{EncryptionLayer, NetworkKey};
//! use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
//! use tower::Layer;
//!
//! let layer = EncryptionLayer::new(NetworkKey::new(1, [42; 32])); // share the key out of band
//! let network = MemoryNetwork::new(MemoryNetworkConfig::default());
//! let a = layer.layer(network.join(&Identity::from_seed("a"))?);
//! let b = layer.layer(network.join(&Identity::from_seed("b"))?);
//! a.send(b.local_id(), "secret".into()).await?;
//! match b.recv().await? {
//!     TransportEvent::Frame { frame, .. } => assert_eq!(&frame[..], b"secret"),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(a.max_frame_len(), network.max_frame_len() - 29);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Frame format
//!
//! `[key id: u8][nonce: 12 bytes][ciphertext][tag: 16 bytes]`, 29 bytes of
//! overhead ([`OVERHEAD`]): [`max_frame_len`](gossip_core::Transport::max_frame_len)
//! is the inner maximum minus 29. The additional authenticated data binds the
//! key id, the sender's and the receiver's [`NodeId`](gossip_core::NodeId):
//! a frame cannot be re-addressed to another node or attributed to another
//! sender without failing authentication.
//!
//! # Nonces
//!
//! A nonce is a 4-byte prefix drawn at random when the transport is built
//! (one per [`Encryption`] value, so per process run) followed by a 64-bit
//! counter that starts at a random point below 2⁶³ and only increases; a
//! transport never uses a nonce twice, and refuses to send
//! ([`Error::NonceExhausted`](crate::Error::NonceExhausted)) rather than wrap.
//! Two transports sharing a key collide only if they draw the same prefix
//! *and* their counter ranges overlap, which the random start makes
//! negligible (roughly 96 random bits per session). Rotate keys periodically
//! all the same.
//!
//! # Replay protection
//!
//! Per sender session (the `from` node and its nonce prefix) a sliding window
//! (1024 frames by default, [`EncryptionLayer::replay_window`]) remembers
//! which counters were accepted: a repeated frame is rejected as
//! [`Replayed`](crate::Error::Replayed), one older than the window (replayed
//! late or reordered too far) as [`TooOld`](crate::Error::TooOld).
//! Authentication is verified before the window moves, so forged frames
//! cannot disturb it. The guard remembers 8 sessions per peer and 4096 peers
//! (least recently used evicted); frames of an evicted session could be
//! replayed, until a [key rotation](EncryptionHandle::rotate) and its grace
//! period retire the key they were sealed with.
//!
//! # Failures keep the stream alive
//!
//! A frame that fails (truncated, unknown or expired key id, failed
//! authentication, replayed, too old) makes `recv` return a
//! [`TransportError`](gossip_core::TransportError) of kind
//! [`Rejected`](gossip_core::TransportErrorKind::Rejected) with a
//! [`crate::Error`] as its source; the next `recv` serves the next frame. The
//! node reports such errors on its error stream and carries on.
//!
//! # Where it belongs in a stack
//!
//! Innermost of the frame-transforming layers, right above the transport (or
//! above [`Faults`](crate::Faults), which then tampers with sealed frames):
//! compression must run *before* encryption (ciphertext does not compress),
//! and metrics above both to see message kinds. See the
//! [crate docs](crate#ordering) for the right and the wrong order.

mod frame;
mod key;
mod layer;
mod replay;
mod service;
mod store;

pub use frame::OVERHEAD;
pub use key::{Cipher, NetworkKey, KEY_LEN};
pub use layer::{EncryptionHandle, EncryptionLayer, DEFAULT_GRACE_PERIOD};
pub use service::{Encryption, EncryptionTransform};
pub use store::{StoreEncryption, StoreEncryptionLayer, STORE_OVERHEAD};
