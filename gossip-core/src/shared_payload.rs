//! Zero-copy payloads: a frame decoded with
//! [`decode_shared`](crate::protocol::codec::decode_shared) hands out its
//! entries' payloads as slices of the frame's own buffer instead of copies.
//!
//! serde cannot pass a `Bytes` through a `Deserializer`, so the frame is
//! lent for the length of one decode through a thread-local ([`sharing`]),
//! and the payload fields of the wire types deserialize through
//! [`deserialize`], which slices the lent frame when the borrowed bytes lie
//! inside it and copies them otherwise (any other input, any other
//! deserializer).
//!
//! A slice keeps its whole frame alive. [`unshare_unless_mostly_kept`]
//! bounds what that costs: entries kept from a frame most of whose payload
//! bytes were dropped (duplicates, refusals) are copied out of it.

use std::{cell::RefCell, fmt};

use bytes::Bytes;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};

use crate::domain::LogEntry;

thread_local! {
    /// The frame being decoded on this thread, if it was lent.
    static FRAME: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Runs `decode` with `frame` lent to [`deserialize`] on this thread.
pub(crate) fn sharing<R>(frame: &Bytes, decode: impl FnOnce() -> R) -> R {
    /// Puts back the frame lent before (decodes do not nest today, but a
    /// guard keeps this right if they ever do, and on unwinding).
    struct Restore(Option<Bytes>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            FRAME.with(|lent| *lent.borrow_mut() = previous);
        }
    }
    let previous = FRAME.with(|lent| lent.borrow_mut().replace(frame.clone()));
    let _restore = Restore(previous);
    decode()
}

/// `bytes` as a slice of the lent frame when it lies inside it, else a copy.
fn share(bytes: &[u8]) -> Bytes {
    FRAME.with(|lent| match lent.borrow().as_ref() {
        Some(frame) if within(frame, bytes) => frame.slice_ref(bytes),
        _ => Bytes::copy_from_slice(bytes),
    })
}

/// Whether `part` lies inside `whole`'s memory (what `Bytes::slice_ref`
/// requires; it panics otherwise).
fn within(whole: &[u8], part: &[u8]) -> bool {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    at >= start && at.saturating_add(part.len()) <= start.saturating_add(whole.len())
}

/// Deserializes a payload, sharing the lent frame's buffer when it can
/// (`#[serde(deserialize_with = "crate::shared_payload::deserialize")]`).
///
/// # Errors
///
/// Whatever the deserializer reports.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    deserializer.deserialize_bytes(PayloadVisitor)
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a payload of bytes")
    }

    fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Bytes, E> {
        Ok(share(v))
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(v))
    }

    fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // Self-describing formats may write bytes as a list of numbers; the
        // list grows as bytes actually decode (never from a declared length).
        let mut out = Vec::new();
        while let Some(byte) = seq.next_element::<u8>()? {
            out.push(byte);
        }
        Ok(Bytes::from(out))
    }
}

/// Copies the payloads of `kept` out of the frame they came in when they
/// hold less than half of the `delivered` payload bytes, so that a frame
/// stays in memory only through entries that use most of it.
pub(crate) fn unshare_unless_mostly_kept(kept: &mut [LogEntry], delivered: usize) {
    let kept_bytes: usize = kept.iter().map(|e| e.payload.len()).sum();
    if kept_bytes.saturating_mul(2) < delivered {
        unshare(kept);
    }
}

/// Copies the payloads of `entries` into buffers of their own (entries held
/// for later, which should not keep their frame alive meanwhile).
pub(crate) fn unshare(entries: &mut [LogEntry]) {
    for entry in entries {
        entry.payload = Bytes::copy_from_slice(&entry.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Wire {
        #[serde(deserialize_with = "deserialize")]
        payload: Bytes,
    }

    fn encoded(payload: &[u8]) -> Bytes {
        Bytes::from(postcard::to_allocvec(&(Bytes::copy_from_slice(payload),)).unwrap())
    }

    #[test]
    fn a_lent_frame_is_sliced_not_copied() {
        let frame = encoded(b"hello payload");
        let wire: Wire = sharing(&frame, || postcard::from_bytes(&frame)).unwrap();
        assert_eq!(&wire.payload[..], b"hello payload");
        let inside = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        assert!(inside.contains(&(wire.payload.as_ptr() as usize)));
    }

    #[test]
    fn without_a_lent_frame_or_outside_it_the_payload_is_copied() {
        let frame = encoded(b"hello payload");
        let wire: Wire = postcard::from_bytes(&frame).unwrap();
        assert_eq!(&wire.payload[..], b"hello payload");
        let other = encoded(b"other");
        // Lent a different frame: the bytes decoded lie outside it.
        let wire: Wire = sharing(&other, || postcard::from_bytes(&frame)).unwrap();
        assert_eq!(&wire.payload[..], b"hello payload");
        assert!(!within(&other, &wire.payload));
        // The lending ends with the decode.
        FRAME.with(|lent| assert!(lent.borrow().is_none()));
    }

    #[test]
    fn entries_kept_from_a_mostly_dropped_frame_are_copied_out() {
        let frame = Bytes::from(vec![7u8; 1000]);
        let entry = |payload: Bytes| {
            LogEntry::new(
                crate::domain::NodeId::from_seed("a"),
                1,
                crate::domain::Hlc::new(1, 0).unwrap(),
                payload,
            )
        };
        let mut kept = vec![entry(frame.slice(0..100))];
        unshare_unless_mostly_kept(&mut kept, 150);
        let payload = |kept: &[LogEntry]| kept.first().unwrap().payload.clone();
        assert!(within(&frame, &payload(&kept)), "most kept: still shared");
        unshare_unless_mostly_kept(&mut kept, 1000);
        assert!(!within(&frame, &payload(&kept)), "most dropped: copied");
        assert_eq!(payload(&kept), frame.slice(0..100));
    }
}
