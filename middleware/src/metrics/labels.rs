//! Label values: message kinds and error kinds as short static strings.

use gossip_core::{
    protocol::{MessageKind, PROTOCOL_VERSION},
    StoreErrorKind, TransportErrorKind,
};

/// How many kind labels there are: every [`MessageKind`] and `"unknown"`.
pub(crate) const KINDS: usize = MessageKind::ALL.len() + 1;

/// The kind label of slot `index` (see [`kind_index`]).
pub(crate) fn kind_name(index: usize) -> &'static str {
    index
        .checked_sub(1)
        .and_then(|i| MessageKind::ALL.get(i))
        .map_or("unknown", |kind| kind.name())
}

/// The slot of a frame's kind label: 1 + the position of its
/// [`MessageKind`] in [`MessageKind::ALL`] for a plain gossip frame, 0
/// (`"unknown"`) otherwise.
pub(crate) fn kind_index(frame: &[u8]) -> usize {
    match frame {
        [version, kind, ..] if *version == PROTOCOL_VERSION => MessageKind::ALL
            .iter()
            .position(|k| *k as u8 == *kind)
            .map_or(0, |i| i + 1),
        _ => 0,
    }
}

/// The message kind of a plain gossip frame, or `"unknown"`.
#[cfg(test)]
pub(crate) fn message_kind(frame: &[u8]) -> &'static str {
    kind_name(kind_index(frame))
}

pub(crate) fn transport_error(kind: TransportErrorKind) -> &'static str {
    match kind {
        TransportErrorKind::FrameTooLarge => "frame_too_large",
        TransportErrorKind::UnknownPeer => "unknown_peer",
        TransportErrorKind::Unreachable => "unreachable",
        TransportErrorKind::QueueFull => "queue_full",
        TransportErrorKind::Handshake => "handshake",
        TransportErrorKind::Closed => "closed",
        TransportErrorKind::Rejected => "rejected",
        TransportErrorKind::Io => "io",
        _ => "other",
    }
}

pub(crate) fn store_error(kind: StoreErrorKind) -> &'static str {
    match kind {
        StoreErrorKind::AlreadyExists => "already_exists",
        StoreErrorKind::NonContiguous => "non_contiguous",
        StoreErrorKind::Corrupt => "corrupt",
        StoreErrorKind::IncompatibleSchema => "incompatible_schema",
        StoreErrorKind::Unavailable => "unavailable",
        StoreErrorKind::Closed => "closed",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_gossip_frames() {
        assert_eq!(
            message_kind(&[PROTOCOL_VERSION, MessageKind::Push as u8, 0]),
            "push"
        );
        assert_eq!(message_kind(&[PROTOCOL_VERSION, 200]), "unknown");
        assert_eq!(
            message_kind(&[PROTOCOL_VERSION.wrapping_add(1), 1]),
            "unknown"
        );
        assert_eq!(message_kind(&[]), "unknown");
    }
}
