//! Key encodings: big-endian, prefix-free, so that RocksDB's byte order is
//! the order the store needs.
//!
//! RocksDB sorts keys as byte strings. Every key of a stream starts with the
//! **stream prefix** `len(channel) channel len(stream) stream` (one length
//! byte before each id: ids are 1 to [`MAX_ID_LEN`] = 128 bytes). The length
//! bytes make the prefix of one stream never a prefix of another's: channel
//! `"a"` stream `"bc"` is `01 61 02 62 63`, channel `"ab"` stream `"c"` is
//! `02 61 62 01 63`.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `entries` | stream prefix, `len(author) author`, `seq` (u64 BE) | `hlc` (u64 BE), `previous` (32 bytes), tag (u8: 0 unsigned, 1 signed), [signature (64 bytes)], payload ([`codec::encode_entry`](crate::codec::encode_entry)) |
//! | `read_order` | stream prefix, `hlc` (u64 BE), author (order-preserving), `seq` (u64 BE) | empty |
//! | `authors` | stream prefix, `len(author) author` | head, base, entries, bytes (4 × u64 BE) |
//! | `channels` | channel id | postcard `Channel` |
//! | `peers` | node id | postcard `PeerRecord` |
//! | `meta` | `schema-version`, `clock` | u32 BE, u64 BE |
//!
//! In `entries` a scan of `stream prefix + author` yields one author's log in
//! sequence order. In `read_order`, the author sits *between* two fixed-width
//! fields and must sort like the string it is (`"ab" < "b"`), which a length
//! prefix would break (`02 61 62 > 01 62`); it is written with an
//! order-preserving terminator instead: each `00` byte as `00 ff`, then
//! `00 01`. A scan of the stream prefix then yields read order
//! `(timestamp, author, sequence)`.
//!
//! No key of `entries`, `read_order` or `authors` starts with `00` or `ff`
//! (the first byte is a length in 1..=128), and no id starts with `ff` (UTF-8),
//! which [`ALL`] relies on to cover every key of a column family.

use gossip_core::{ChannelId, Hlc, NodeId, StreamId, MAX_ID_LEN};

/// A range covering every key of a column family: `[ALL.0, ALL.1)`.
pub(crate) const ALL: (&[u8], &[u8]) = (&[], &[0xff]);

/// Appends `len(id) id`; ids are validated to 1..=128 bytes.
fn push_id(key: &mut Vec<u8>, id: &str) {
    // MAX_ID_LEN (128) fits a byte; a longer id cannot be constructed.
    let len = u8::try_from(id.len().min(MAX_ID_LEN)).unwrap_or(u8::MAX);
    key.push(len);
    key.extend_from_slice(id.as_bytes());
}

/// Appends `id` with the order-preserving terminator (`00` → `00 ff`, then `00 01`).
fn push_ordered(key: &mut Vec<u8>, id: &str) {
    for &b in id.as_bytes() {
        key.push(b);
        if b == 0 {
            key.push(0xff);
        }
    }
    key.extend_from_slice(&[0, 1]);
}

/// Keys of one channel, in `entries`, `read_order` and `authors`.
pub(crate) fn channel_prefix(channel: &ChannelId) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + channel.as_str().len());
    push_id(&mut key, channel.as_str());
    key
}

/// Keys of one stream, in `entries`, `read_order` and `authors`.
pub(crate) fn stream_prefix(channel: &ChannelId, stream: &StreamId) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + channel.as_str().len() + stream.as_str().len() + 32);
    push_id(&mut key, channel.as_str());
    push_id(&mut key, stream.as_str());
    key
}

/// `authors` key of one author in a stream; also the prefix of its `entries`.
pub(crate) fn author_key(stream_prefix: &[u8], author: &NodeId) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream_prefix.len() + 1 + author.as_str().len() + 8);
    key.extend_from_slice(stream_prefix);
    push_id(&mut key, author.as_str());
    key
}

/// `entries` key: the author key followed by the sequence.
pub(crate) fn entry_key(author_key: &[u8], sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(author_key.len() + 8);
    key.extend_from_slice(author_key);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// `read_order` key of an entry.
pub(crate) fn read_order_key(
    stream_prefix: &[u8],
    timestamp: Hlc,
    author: &NodeId,
    sequence: u64,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream_prefix.len() + 8 + author.as_str().len() + 2 + 8);
    key.extend_from_slice(stream_prefix);
    key.extend_from_slice(&timestamp.as_u64().to_be_bytes());
    push_ordered(&mut key, author.as_str());
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// The smallest key strictly greater than `key` (for exclusive cursors).
pub(crate) fn after(mut key: Vec<u8>) -> Vec<u8> {
    key.push(0);
    key
}

/// The smallest key greater than every key starting with `prefix`: the
/// exclusive upper bound of a prefix scan. `None` when `prefix` is all `ff`,
/// which no prefix of this crate is (they start with a length byte).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Splits `len(id) id` off the front of `key`.
fn take_id(key: &[u8]) -> Option<(&str, &[u8])> {
    let (&len, rest) = key.split_first()?;
    let len = usize::from(len);
    if len == 0 || len > MAX_ID_LEN || rest.len() < len {
        return None;
    }
    let (id, rest) = rest.split_at(len);
    Some((std::str::from_utf8(id).ok()?, rest))
}

/// Splits an order-preserving id off the front of `key`.
fn take_ordered(key: &[u8]) -> Option<(String, &[u8])> {
    let mut id = Vec::new();
    let mut i = 0;
    loop {
        match (key.get(i)?, key.get(i + 1)) {
            (0, Some(0xff)) => {
                id.push(0);
                i += 2;
            }
            (0, Some(1)) => break,
            (0, _) => return None,
            (&b, _) => {
                id.push(b);
                i += 1;
            }
        }
    }
    let rest = key.get(i + 2..)?;
    Some((String::from_utf8(id).ok()?, rest))
}

fn take_u64(key: &[u8]) -> Option<(u64, &[u8])> {
    let (bytes, rest) = key.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*bytes), rest))
}

/// The stream id of an `authors` key, given its channel prefix; `None` if
/// the key is not well formed.
pub(crate) fn stream_of(channel_prefix: &[u8], key: &[u8]) -> Option<String> {
    let rest = key.strip_prefix(channel_prefix)?;
    let (stream, _) = take_id(rest)?;
    Some(stream.to_owned())
}

/// The author id of an `authors` key, given its stream prefix.
pub(crate) fn author_of(stream_prefix: &[u8], key: &[u8]) -> Option<String> {
    let rest = key.strip_prefix(stream_prefix)?;
    let (author, rest) = take_id(rest)?;
    rest.is_empty().then(|| author.to_owned())
}

/// The sequence of an `entries` key, given its author key.
pub(crate) fn sequence_of(author_key: &[u8], key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(author_key)?;
    let (sequence, rest) = take_u64(rest)?;
    rest.is_empty().then_some(sequence)
}

/// `(timestamp, author, sequence)` of a `read_order` key, given its stream prefix.
pub(crate) fn read_order_parts(stream_prefix: &[u8], key: &[u8]) -> Option<(Hlc, String, u64)> {
    let rest = key.strip_prefix(stream_prefix)?;
    let (hlc, rest) = take_u64(rest)?;
    let (author, rest) = take_ordered(rest)?;
    let (sequence, rest) = take_u64(rest)?;
    rest.is_empty()
        .then_some((Hlc::from_u64(hlc), author, sequence))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn ch(s: &str) -> ChannelId {
        ChannelId::new(s).unwrap()
    }
    fn st(s: &str) -> StreamId {
        StreamId::new(s).unwrap()
    }
    fn node(s: &str) -> NodeId {
        NodeId::from_seed(s)
    }

    #[test]
    fn stream_prefixes_never_collide() {
        let pairs = [
            ("a", "bc"),
            ("ab", "c"),
            ("abc", "d"),
            ("a", "b"),
            ("b", "c"),
        ];
        for (i, (c1, s1)) in pairs.iter().enumerate() {
            for (j, (c2, s2)) in pairs.iter().enumerate() {
                if i == j {
                    continue;
                }
                let p1 = stream_prefix(&ch(c1), &st(s1));
                let p2 = stream_prefix(&ch(c2), &st(s2));
                assert!(!p2.starts_with(&p1), "{c1}/{s1} is a prefix of {c2}/{s2}");
                // Neither do the channel prefixes of different channels.
                if c1 != c2 {
                    assert!(!p2.starts_with(&channel_prefix(&ch(c1))));
                }
            }
        }
        assert_eq!(stream_prefix(&ch("a"), &st("bc")), b"\x01a\x02bc");
        assert_eq!(stream_prefix(&ch("ab"), &st("c")), b"\x02ab\x01c");
    }

    #[test]
    fn author_keys_never_collide() {
        let p = stream_prefix(&ch("c"), &st("s"));
        let a = author_key(&p, &node("a"));
        let ab = author_key(&p, &node("ab"));
        // Entries of "a" are not a prefix scan match for "ab" and vice versa.
        assert!(!entry_key(&ab, 1).starts_with(&a));
        assert!(!entry_key(&a, 1).starts_with(&ab));
        assert_eq!(sequence_of(&a, &entry_key(&a, 42)), Some(42));
        assert_eq!(sequence_of(&a, &entry_key(&ab, 42)), None);
        assert_eq!(author_of(&p, &ab).as_deref(), Some(node("ab").as_str()));
        assert_eq!(
            stream_of(&channel_prefix(&ch("c")), &ab).as_deref(),
            Some("s")
        );
    }

    #[test]
    fn entry_keys_sort_by_sequence() {
        let a = author_key(&stream_prefix(&ch("c"), &st("s")), &node("a"));
        let seqs = [0, 1, 2, 255, 256, 1 << 32, u64::MAX - 1, u64::MAX];
        for w in seqs.windows(2) {
            assert!(entry_key(&a, w[0]) < entry_key(&a, w[1]), "{w:?}");
        }
    }

    /// Byte order of `read_order` keys is `(timestamp, author, sequence)`
    /// order: an author's text form sorts as its key bytes.
    #[test]
    fn read_order_keys_sort_in_read_order() {
        let p = stream_prefix(&ch("c"), &st("s"));
        let authors = ["a", "a ", "ab", "abc", "b", "ba", "z", "é", "日本"];
        let times = [0u64, 1, 1 << 16, (1 << 48) - 1, u64::MAX];
        let seqs = [1u64, 2, 256, u64::MAX];
        let mut keys = Vec::new();
        for &t in &times {
            for a in authors {
                for &q in &seqs {
                    keys.push((Hlc::from_u64(t), node(a), q));
                }
            }
        }
        let mut by_bytes = keys.clone();
        by_bytes.sort_by_key(|(t, a, q)| read_order_key(&p, *t, a, *q));
        keys.sort();
        assert_eq!(by_bytes, keys);
        for (t, a, q) in &keys {
            let key = read_order_key(&p, *t, a, *q);
            assert_eq!(
                read_order_parts(&p, &key),
                Some((*t, a.as_str().to_owned(), *q))
            );
            assert!(after(key.clone()) > key);
        }
    }

    #[test]
    fn ordered_encoding_escapes_zero_bytes() {
        // Ids never hold NUL (a control character), but the encoding does not
        // depend on it.
        let mut key = Vec::new();
        push_ordered(&mut key, "a\0b");
        assert_eq!(key, b"a\x00\xffb\x00\x01");
        let (id, rest) = take_ordered(&key).unwrap();
        assert_eq!((id.as_str(), rest), ("a\0b", &[][..]));
        let mut shorter = Vec::new();
        push_ordered(&mut shorter, "a");
        assert!(shorter < key);
        assert_eq!(take_ordered(b"a\x00"), None);
        assert_eq!(take_ordered(b"a\x00\x07"), None);
    }

    #[test]
    fn prefix_ends_bound_prefix_scans() {
        assert_eq!(prefix_end(b"\x01a"), Some(b"\x01b".to_vec()));
        assert_eq!(prefix_end(b"\x01\xff"), Some(b"\x02".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        let p = stream_prefix(&ch("c"), &st("s"));
        let end = prefix_end(&p).unwrap();
        let k = read_order_key(&p, Hlc::from_u64(u64::MAX), &node("zz"), u64::MAX);
        assert!(p <= k && k < end);
        assert!(ALL.0 <= p.as_slice() && p.as_slice() < ALL.1);
    }

    #[test]
    fn malformed_keys_decode_to_none() {
        let p = stream_prefix(&ch("c"), &st("s"));
        assert_eq!(author_of(&p, b"\x01c\x01s\x05ab"), None);
        assert_eq!(author_of(&p, b"\x01c\x01s\x00"), None);
        assert_eq!(author_of(&p, b"\x01c\x01s\x01\xff"), None);
        assert_eq!(read_order_parts(&p, b"\x01c\x01s\x00\x00"), None);
        assert_eq!(stream_of(b"\x01c", b"\x01d\x01s"), None);
    }
}
