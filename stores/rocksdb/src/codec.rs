//! How values are stored: entries, per-author state, the clock and the
//! schema version. Everything read back is checked; anything that does not
//! decode is [`Corrupt`](gossip_core::StoreErrorKind::Corrupt).
//!
//! An entry value is
//!
//! ```text
//! hlc (u64 BE) ‖ previous (32 bytes) ‖ tag (u8) ‖ [signature (64 bytes)] ‖ payload
//! ```
//!
//! `previous` is the hash of the author's previous entry in the stream (zeros
//! for sequence 1); the tag is 0 for no signature and 1 for a 64-byte Ed25519
//! signature, which follows it. The author and sequence are in the key. A
//! value too short for its tag, or with another tag, is corrupt.

use bytes::Bytes;
use gossip_core::{EntryHash, Hlc, LogEntry, NodeId, Signature, StoreResult};

use crate::error::corrupt;

const NO_SIGNATURE: u8 = 0;
const SIGNATURE: u8 = 1;

/// Bytes of the timestamp.
const HLC_LEN: usize = 8;
/// Bytes of the link to the previous entry.
const PREVIOUS_LEN: usize = 32;
/// Bytes of a signature.
const SIGNATURE_LEN: usize = 64;
/// Where the tag is: after the timestamp and the link.
const TAG_AT: usize = HLC_LEN + PREVIOUS_LEN;

/// The value of an entry in the `entries` column family.
pub(crate) fn encode_entry(entry: &LogEntry) -> Vec<u8> {
    let signature_len = entry.signature.map_or(0, |_| SIGNATURE_LEN);
    let mut value = Vec::with_capacity(TAG_AT + 1 + signature_len + entry.payload.len());
    value.extend_from_slice(&entry.timestamp.as_u64().to_be_bytes());
    value.extend_from_slice(entry.previous.as_bytes());
    match entry.signature {
        None => value.push(NO_SIGNATURE),
        Some(signature) => {
            value.push(SIGNATURE);
            value.extend_from_slice(&signature.to_bytes());
        }
    }
    value.extend_from_slice(&entry.payload);
    value
}

/// The timestamp and the accounted size (payload + signature, as
/// [`LogEntry::size_bytes`]) of a stored entry value, without copying it;
/// `None` if the value does not decode.
pub(crate) fn entry_summary(value: &[u8]) -> Option<(Hlc, u64)> {
    let (hlc, rest) = value.split_first_chunk::<HLC_LEN>()?;
    let (_previous, rest) = rest.split_first_chunk::<PREVIOUS_LEN>()?;
    // What follows the tag is the signature, if any, then the payload: all
    // of it is accounted.
    let (&tag, rest) = rest.split_first()?;
    match tag {
        NO_SIGNATURE => {}
        SIGNATURE if rest.len() >= SIGNATURE_LEN => {}
        _ => return None,
    }
    Some((Hlc::from_u64(u64::from_be_bytes(*hlc)), rest.len() as u64))
}

/// An entry back from its value; `what` names it in the error.
pub(crate) fn decode_entry(
    author: NodeId,
    sequence: u64,
    value: Vec<u8>,
    what: impl Fn() -> String,
) -> StoreResult<LogEntry> {
    let bad = |why: &str| corrupt(format!("{}: undecodable entry value ({why})", what()));
    let value = Bytes::from(value);
    let Some((hlc, rest)) = value.split_first_chunk::<HLC_LEN>() else {
        return Err(bad("truncated timestamp"));
    };
    let timestamp = Hlc::from_u64(u64::from_be_bytes(*hlc));
    let Some((previous, rest)) = rest.split_first_chunk::<PREVIOUS_LEN>() else {
        return Err(bad("truncated previous-entry hash"));
    };
    let previous = EntryHash::from_bytes(*previous);
    let (signature, payload_at) = match rest.split_first() {
        Some((&NO_SIGNATURE, _)) => (None, TAG_AT + 1),
        Some((&SIGNATURE, rest)) => {
            let Some((signature, _)) = rest.split_first_chunk::<SIGNATURE_LEN>() else {
                return Err(bad("truncated signature"));
            };
            (
                Some(Signature::from_bytes(*signature)),
                TAG_AT + 1 + SIGNATURE_LEN,
            )
        }
        Some((tag, _)) => return Err(bad(&format!("unknown signature tag {tag}"))),
        None => return Err(bad("truncated signature tag")),
    };
    let mut entry = LogEntry::new(author, sequence, timestamp, value.slice(payload_at..));
    entry.previous = previous;
    entry.signature = signature;
    Ok(entry)
}

/// What the `authors` column family keeps per (stream, author).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AuthorState {
    /// Highest sequence ever appended (0: none).
    pub(crate) head: u64,
    /// Compaction base: sequences `<= base` were removed.
    pub(crate) base: u64,
    /// Entries held.
    pub(crate) entries: u64,
    /// Bytes held (payload + signature).
    pub(crate) bytes: u64,
}

impl AuthorState {
    /// The author's version: highest held sequence, or the base when higher.
    pub(crate) fn version(&self) -> u64 {
        self.head.max(self.base)
    }

    pub(crate) fn encode(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, v) in
            out.chunks_exact_mut(8)
                .zip([self.head, self.base, self.entries, self.bytes])
        {
            chunk.copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    pub(crate) fn decode(value: &[u8]) -> Option<Self> {
        let value: &[u8; 32] = value.try_into().ok()?;
        let mut fields = value
            .chunks_exact(8)
            .filter_map(|c| <[u8; 8]>::try_from(c).ok())
            .map(u64::from_be_bytes);
        Some(Self {
            head: fields.next()?,
            base: fields.next()?,
            entries: fields.next()?,
            bytes: fields.next()?,
        })
    }
}

/// A big-endian `u64` value (the clock).
pub(crate) fn decode_u64(value: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(value).ok().map(u64::from_be_bytes)
}

/// A big-endian `u32` value (the schema version).
pub(crate) fn decode_u32(value: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(value).ok().map(u32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use gossip_core::StoreErrorKind;

    use super::*;

    fn entry(signature: Option<[u8; 64]>, previous: [u8; 32], payload: &'static [u8]) -> LogEntry {
        let mut e = LogEntry::new(
            NodeId::from_seed("a"),
            7,
            Hlc::new(123, 4).unwrap(),
            payload,
        );
        e.previous = EntryHash::from_bytes(previous);
        e.signature = signature.map(Signature::from_bytes);
        e
    }

    #[test]
    fn entries_round_trip() {
        let counting: [u8; 64] = std::array::from_fn(|i| i as u8);
        for e in [
            entry(None, [0; 32], b"payload"),
            entry(None, [0xff; 32], b""),
            entry(Some([0; 64]), [0; 32], b"x"),
            entry(Some(counting), [7; 32], b""),
            entry(Some([0xff; 64]), [1; 32], b"payload"),
        ] {
            let value = encode_entry(&e);
            let tag = usize::from(e.signature.is_some()) * 64;
            assert_eq!(value.len(), 8 + 32 + 1 + tag + e.payload.len());
            assert_eq!(
                entry_summary(&value),
                Some((e.timestamp, e.size_bytes())),
                "{e:?}"
            );
            let back = decode_entry(e.author.clone(), 7, value, String::new).unwrap();
            assert_eq!(back, e);
        }
    }

    /// The documented layout, byte for byte.
    #[test]
    fn entry_values_have_the_documented_layout() {
        let e = entry(Some([0xcc; 64]), [0xbb; 32], b"pay");
        let mut expected = Hlc::new(123, 4).unwrap().as_u64().to_be_bytes().to_vec();
        expected.extend_from_slice(&[0xbb; 32]);
        expected.push(1);
        expected.extend_from_slice(&[0xcc; 64]);
        expected.extend_from_slice(b"pay");
        assert_eq!(encode_entry(&e), expected);
        let unsigned = entry(None, [0xbb; 32], b"pay");
        let mut expected = Hlc::new(123, 4).unwrap().as_u64().to_be_bytes().to_vec();
        expected.extend_from_slice(&[0xbb; 32]);
        expected.push(0);
        expected.extend_from_slice(b"pay");
        assert_eq!(encode_entry(&unsigned), expected);
    }

    #[test]
    fn damaged_entries_are_corrupt() {
        let signed = encode_entry(&entry(Some([9; 64]), [3; 32], b"payload"));
        let unsigned = encode_entry(&entry(None, [3; 32], b""));
        let mut unknown_tag = unsigned.clone();
        unknown_tag[40] = 2;
        // A version-1 value (`hlc ‖ tag ‖ payload`) does not decode either.
        let mut version_1 = Hlc::new(123, 4).unwrap().as_u64().to_be_bytes().to_vec();
        version_1.extend_from_slice(&[0, b'x']);
        let a = NodeId::from_seed("a");
        for bad in [
            &signed[..5],
            &signed[..8],
            &signed[..39],
            &signed[..40],
            &signed[..41],
            &signed[..104],
            &unknown_tag[..],
            &version_1[..],
        ] {
            let err = decode_entry(a.clone(), 7, bad.to_vec(), || "c/s a#7".into()).unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Corrupt);
            assert!(err.to_string().contains("c/s a#7"), "{err}");
            assert_eq!(entry_summary(bad), None, "{}", bad.len());
        }
        // Exactly the signature and no payload is an entry with an empty payload.
        assert_eq!(entry_summary(&signed[..105]).unwrap().1, 64);
        assert!(decode_entry(a, 7, signed[..105].to_vec(), String::new)
            .unwrap()
            .payload
            .is_empty());
    }

    #[test]
    fn author_state_round_trips() {
        let s = AuthorState {
            head: 5,
            base: u64::MAX,
            entries: 3,
            bytes: 1 << 40,
        };
        assert_eq!(AuthorState::decode(&s.encode()), Some(s));
        assert_eq!(s.version(), u64::MAX);
        assert_eq!(AuthorState::decode(&[0; 31]), None);
        assert_eq!(decode_u64(&7u64.to_be_bytes()), Some(7));
        assert_eq!(decode_u32(&[0, 0, 1]), None);
    }
}
