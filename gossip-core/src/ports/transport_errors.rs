//! Constructors of [`TransportError`] for the failures every transport
//! reports the same way, so that kinds and messages agree across backends.
//!
//! ```
//! use gossip_core::{NodeId, TransportError, TransportErrorKind};
//!
//! let error = TransportError::frame_too_large("my-transport", 2_000, 1_024);
//! assert_eq!(error.kind(), TransportErrorKind::FrameTooLarge);
//! assert_eq!(
//!     error.to_string(),
//!     "my-transport transport: frame too large: frame of 2000 bytes exceeds the maximum of 1024 bytes"
//! );
//! let peer = NodeId::from_seed("b");
//! assert_eq!(
//!     TransportError::unknown_peer("my-transport", &peer).kind(),
//!     TransportErrorKind::UnknownPeer
//! );
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::fmt;

use crate::{
    domain::NodeId,
    error::{TransportError, TransportErrorKind},
};

impl TransportError {
    /// `frame_len` bytes is over the maximum of `max` bytes: nothing was sent
    /// ([`FrameTooLarge`](TransportErrorKind::FrameTooLarge)).
    #[must_use]
    pub fn frame_too_large(backend: &'static str, frame_len: usize, max: usize) -> Self {
        Self::new(
            backend,
            TransportErrorKind::FrameTooLarge,
            format!("frame of {frame_len} bytes exceeds the maximum of {max} bytes"),
        )
    }

    /// The transport knows no way to reach `peer`: no address and no
    /// connection ([`UnknownPeer`](TransportErrorKind::UnknownPeer)).
    #[must_use]
    pub fn unknown_peer(backend: &'static str, peer: &NodeId) -> Self {
        Self::new(
            backend,
            TransportErrorKind::UnknownPeer,
            format!("no address and no connection for {peer}"),
        )
    }

    /// A node tried to send a frame to itself
    /// ([`UnknownPeer`](TransportErrorKind::UnknownPeer): a transport has no
    /// link to its own node).
    #[must_use]
    pub fn send_to_self(backend: &'static str) -> Self {
        Self::new(
            backend,
            TransportErrorKind::UnknownPeer,
            "a node does not send frames to itself",
        )
    }

    /// The queue named by `queue` (e.g. "send queue to b") holds `capacity`
    /// items already: the item was not queued
    /// ([`QueueFull`](TransportErrorKind::QueueFull)).
    #[must_use]
    pub fn queue_full(backend: &'static str, queue: impl fmt::Display, capacity: usize) -> Self {
        Self::new(
            backend,
            TransportErrorKind::QueueFull,
            format!("{queue} is full ({capacity} items)"),
        )
    }

    /// The transport was closed ([`Closed`](TransportErrorKind::Closed)).
    #[must_use]
    pub fn closed(backend: &'static str) -> Self {
        Self::new(
            backend,
            TransportErrorKind::Closed,
            "the transport is closed",
        )
    }

    /// `peer` is known but cannot be reached now; `why` says more
    /// ([`Unreachable`](TransportErrorKind::Unreachable)).
    #[must_use]
    pub fn unreachable(backend: &'static str, peer: &NodeId, why: impl fmt::Display) -> Self {
        Self::new(
            backend,
            TransportErrorKind::Unreachable,
            format!("{peer} is unreachable: {why}"),
        )
    }

    /// A configuration value is out of range; `reason` names it
    /// ([`Other`](TransportErrorKind::Other)). Nothing was started.
    #[must_use]
    pub fn invalid_config(backend: &'static str, reason: impl fmt::Display) -> Self {
        Self::new(
            backend,
            TransportErrorKind::Other,
            format!("invalid configuration: {reason}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeId {
        NodeId::from_seed(name)
    }

    #[test]
    fn each_constructor_has_its_kind_and_names_the_backend() {
        let b = node("b");
        let cases = [
            (
                TransportError::frame_too_large("x", 11, 10),
                TransportErrorKind::FrameTooLarge,
            ),
            (
                TransportError::unknown_peer("x", &b),
                TransportErrorKind::UnknownPeer,
            ),
            (
                TransportError::send_to_self("x"),
                TransportErrorKind::UnknownPeer,
            ),
            (
                TransportError::queue_full("x", "inbox of b", 4),
                TransportErrorKind::QueueFull,
            ),
            (TransportError::closed("x"), TransportErrorKind::Closed),
            (
                TransportError::unreachable("x", &b, "backing off"),
                TransportErrorKind::Unreachable,
            ),
            (
                TransportError::invalid_config("x", "capacity must be at least 1"),
                TransportErrorKind::Other,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.backend(), "x");
            assert!(error.to_string().starts_with("x transport: "), "{error}");
        }
    }

    #[test]
    fn messages_carry_the_numbers_and_names() {
        let b = node("b");
        let too_large = TransportError::frame_too_large("x", 11, 10).to_string();
        assert!(too_large.contains("11 bytes") && too_large.contains("10 bytes"));
        assert!(TransportError::unknown_peer("x", &b)
            .to_string()
            .ends_with(&format!("for {b}")));
        assert!(TransportError::queue_full("x", "inbox of b", 4)
            .to_string()
            .ends_with("inbox of b is full (4 items)"));
        assert!(TransportError::unreachable("x", &b, "down")
            .to_string()
            .ends_with(&format!("{b} is unreachable: down")));
    }

    #[test]
    fn only_unreachable_and_queue_full_are_transient() {
        let b = node("b");
        assert!(TransportError::queue_full("x", "q", 1).is_transient());
        assert!(TransportError::unreachable("x", &b, "down").is_transient());
        assert!(!TransportError::closed("x").is_transient());
        assert!(!TransportError::frame_too_large("x", 2, 1).is_transient());
        assert!(!TransportError::unknown_peer("x", &b).is_transient());
    }
}
