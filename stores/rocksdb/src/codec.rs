//! How values are stored: entries, per-author state, the clock and the
//! schema version. Everything read back is checked; anything that does not
//! decode is [`Corrupt`](gossip_core::StoreErrorKind::Corrupt).
//!
//! An entry value is `hlc (u64 BE) ‖ tag (u8) ‖ [signature length (u32 BE)
//! ‖ signature] ‖ payload`, tag 0 for no signature and 1 for one; the
//! author and sequence are in the key.

use bytes::Bytes;
use gossip_core::{Hlc, LogEntry, NodeId, StoreErrorKind, StoreResult};

use crate::error::{corrupt, store_error};

const NO_SIGNATURE: u8 = 0;
const SIGNATURE: u8 = 1;

/// The value of an entry in the `entries` column family.
pub(crate) fn encode_entry(entry: &LogEntry) -> StoreResult<Vec<u8>> {
    let sig = entry.signature.as_deref();
    let mut value =
        Vec::with_capacity(8 + 1 + sig.map_or(0, |s| 4 + s.len()) + entry.payload.len());
    value.extend_from_slice(&entry.timestamp.as_u64().to_be_bytes());
    match sig {
        None => value.push(NO_SIGNATURE),
        Some(sig) => {
            let len = u32::try_from(sig.len()).map_err(|_| {
                store_error(
                    StoreErrorKind::Other,
                    format!(
                        "entry {}#{}: signature of {} bytes is too large",
                        entry.author,
                        entry.sequence,
                        sig.len()
                    ),
                )
            })?;
            value.push(SIGNATURE);
            value.extend_from_slice(&len.to_be_bytes());
            value.extend_from_slice(sig);
        }
    }
    value.extend_from_slice(&entry.payload);
    Ok(value)
}

/// The timestamp and the accounted size (payload + signature) of a stored
/// entry value, without copying it.
pub(crate) fn entry_summary(value: &[u8]) -> Option<(Hlc, u64)> {
    let (hlc, rest) = value.split_first_chunk::<8>()?;
    let (&tag, rest) = rest.split_first()?;
    let size = match tag {
        NO_SIGNATURE => rest.len(),
        SIGNATURE => rest.len().checked_sub(4)?,
        _ => return None,
    };
    Some((Hlc::from_u64(u64::from_be_bytes(*hlc)), size as u64))
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
    let Some((hlc, rest)) = value.split_first_chunk::<8>() else {
        return Err(bad("truncated timestamp"));
    };
    let timestamp = Hlc::from_u64(u64::from_be_bytes(*hlc));
    let (signature, payload_at) = match rest.first() {
        Some(&NO_SIGNATURE) => (None, 9),
        Some(&SIGNATURE) => {
            let len = rest
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| bad("truncated signature length"))?;
            let end = 13usize
                .checked_add(len as usize)
                .filter(|&end| end <= value.len())
                .ok_or_else(|| bad("truncated signature"))?;
            (Some(value.slice(13..end)), end)
        }
        Some(_) => return Err(bad("unknown signature tag")),
        None => return Err(bad("truncated")),
    };
    let mut entry = LogEntry::new(author, sequence, timestamp, value.slice(payload_at..));
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
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(sig: Option<&'static [u8]>, payload: &'static [u8]) -> LogEntry {
        let mut e = LogEntry::new(
            NodeId::from_seed("a"),
            7,
            Hlc::new(123, 4).unwrap(),
            payload,
        );
        e.signature = sig.map(Bytes::from_static);
        e
    }

    #[test]
    fn entries_round_trip() {
        for e in [
            entry(None, b"payload"),
            entry(None, b""),
            entry(Some(b""), b"x"),
            entry(Some(b"sig"), b""),
            entry(Some(b"signature"), b"payload"),
        ] {
            let value = encode_entry(&e).unwrap();
            assert_eq!(
                entry_summary(&value),
                Some((e.timestamp, e.size_bytes())),
                "{e:?}"
            );
            let back = decode_entry(e.author.clone(), 7, value, String::new).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn damaged_entries_are_corrupt() {
        let value = encode_entry(&entry(Some(b"signature"), b"payload")).unwrap();
        let a = NodeId::from_seed("a");
        for bad in [
            &value[..5],
            &value[..8],
            &value[..11],
            &value[..15],
            &[0, 0, 0, 0, 0, 0, 0, 0, 9][..],
        ] {
            let err = decode_entry(a.clone(), 7, bad.to_vec(), || "c/s a#7".into()).unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Corrupt);
            assert!(err.to_string().contains("c/s a#7"), "{err}");
        }
        assert_eq!(entry_summary(&value[..8]), None);
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
