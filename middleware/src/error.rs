//! The crate's error type, [`Error`]: why a layer refused a frame or an entry.
//!
//! Layers report failures through the ports' own error types
//! ([`TransportError`](gossip_core::TransportError),
//! [`StoreError`](gossip_core::StoreError)) so a stack stays a transport (or a
//! store); the [`Error`] is attached as their
//! [`source`](std::error::Error::source), where a caller can downcast it:
//!
//! ```
//! use gossip_core::{TransportError, TransportErrorKind};
//! use gossip_middleware::Error;
//!
//! let error = TransportError::new("encryption", TransportErrorKind::Rejected, "frame from b")
//!     .with_source(Error::Replayed { counter: 7 });
//! assert_eq!(Error::find_in(&error), Some(&Error::Replayed { counter: 7 }));
//! ```

use std::{error::Error as StdError, sync::Arc};

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a layer refused a frame, an entry or a configuration. Every variant
/// says what state was affected: none, unless stated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame is shorter than the layer's header (and tag). Dropped.
    #[error("frame of {len} bytes is shorter than the {needed}-byte {layer} header")]
    Truncated {
        /// The layer that read it.
        layer: &'static str,
        /// The frame's length.
        len: usize,
        /// The smallest valid length.
        needed: usize,
    },
    /// A frame names a key id that is neither current nor within its grace
    /// period. Dropped; the replay window did not move.
    #[error("unknown or expired key id {0}")]
    UnknownKey(u8),
    /// Authentication failed: wrong key, tampered bytes, or a frame addressed
    /// to another node or claiming another sender. Dropped; the replay window
    /// did not move.
    #[error("authentication failed (wrong key, tampered, or misaddressed frame)")]
    Authentication,
    /// A frame whose nonce counter was already accepted from that sender.
    /// Dropped.
    #[error("replayed frame (nonce counter {counter} already seen)")]
    Replayed {
        /// The repeated counter.
        counter: u64,
    },
    /// A frame older than the replay window (reordered too far, or replayed
    /// late). Dropped.
    #[error("frame with nonce counter {counter} is older than the replay window")]
    TooOld {
        /// The frame's counter.
        counter: u64,
    },
    /// This sender used up its nonce space (2⁶³ frames at least): rotate the
    /// key. Nothing was sent.
    #[error("nonce space exhausted: rotate the key")]
    NonceExhausted,
    /// A key rotation reused the current key id. Nothing changed.
    #[error("the new key reuses the current key id {0}")]
    KeyIdInUse(u8),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A frame carries a compression flag this build does not know (or whose
    /// feature is off). Dropped.
    #[error("unknown compression flag {0}")]
    UnknownCompression(u8),
    /// A compressed frame declares (or would produce) more bytes than the
    /// largest frame. Dropped before any allocation of that size.
    #[error("compressed frame would decompress to {declared} bytes, more than the maximum {max}")]
    DecompressedTooLarge {
        /// The declared (or reached) size.
        declared: usize,
        /// The maximum frame length.
        max: usize,
    },
    /// Compressed data is corrupt. Dropped.
    #[error("corrupt compressed frame: {0}")]
    Corrupt(String),
}

impl Error {
    /// The first [`Error`] in `error`'s chain of sources (`error` included),
    /// e.g. why a layer rejected a frame, from the
    /// [`TransportError`](gossip_core::TransportError) that `recv` returned.
    ///
    /// Also looks through the `Arc` that the port errors keep their source in.
    #[must_use]
    pub fn find_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Error> {
        let mut link: Option<&'a (dyn StdError + 'static)> = Some(error);
        while let Some(current) = link {
            if let Some(found) = current.downcast_ref::<Error>() {
                return Some(found);
            }
            if let Some(shared) = current.downcast_ref::<Arc<dyn StdError + Send + Sync>>() {
                if let Some(found) = (**shared).downcast_ref::<Error>() {
                    return Some(found);
                }
            }
            link = current.source();
        }
        None
    }
}
