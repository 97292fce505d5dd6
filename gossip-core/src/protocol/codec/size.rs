//! Exact size accounting of postcard encodings, without allocating: what
//! [`encoded_len`](super::encoded_len) and the frame splitting add up.

use serde::Serialize;

/// Unwraps the result of serializing a protocol value with postcard, which
/// cannot fail: every sequence and map has a known length, the output is a
/// growable `Vec` or a byte counter, and no `Serialize` impl of the protocol
/// reports a custom error.
pub(super) fn infallible<T>(result: postcard::Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => unreachable!("serializing a protocol message cannot fail: {e}"),
    }
}

/// The postcard-encoded size of `value`, in bytes.
pub(super) fn body_len<T: Serialize + ?Sized>(value: &T) -> usize {
    infallible(postcard::experimental::serialized_size(value))
}

/// The encoded length of a postcard varint holding `n`.
pub(super) fn varint_len(n: u64) -> usize {
    let bits = u64::BITS - n.leading_zeros();
    bits.div_ceil(7).max(1) as usize
}

/// The encoded length of a sequence-length prefix.
pub(super) fn len_prefix(n: usize) -> usize {
    varint_len(n as u64)
}
