//! Allocation-bounded deserialization of the `Vec`s carried by wire messages.
//!
//! serde's own `Vec<T>` deserializer preallocates from the length the input
//! *declares* (up to 1 MiB per `Vec`, `size_hint::cautious`), so a few bytes
//! claiming a huge count cost a large allocation before a single element is
//! decoded. [`deserialize_vec`] trusts the declared length only up to
//! [`PREALLOC_LIMIT_BYTES`] and otherwise grows as elements actually decode,
//! so the memory a decode uses stays proportional to the bytes it was given.
//!
//! Every `Vec` reachable from a [`Message`](crate::protocol::Message) uses it, through
//! `#[serde(deserialize_with = "crate::serde_bounded::deserialize_vec")]`.
//! Every element type on the wire encodes to at least one byte, so the number
//! of elements is also bounded by the input's length.

use std::{fmt, marker::PhantomData, mem};

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// The most a `Vec` preallocates from a declared length, in bytes of elements.
///
/// Beyond it, capacity only grows as elements actually decode (amortized
/// doubling, so at most twice what the decoded elements occupy).
pub(crate) const PREALLOC_LIMIT_BYTES: usize = 4096;

/// The capacity to preallocate for a sequence declaring `hint` elements of `T`.
pub(crate) fn bounded_capacity<T>(hint: Option<usize>) -> usize {
    let per_element = mem::size_of::<T>().max(1);
    hint.unwrap_or(0).min(PREALLOC_LIMIT_BYTES / per_element)
}

/// Deserializes a `Vec<T>` without trusting the declared length for more than
/// [`PREALLOC_LIMIT_BYTES`] of preallocation.
///
/// # Errors
///
/// Whatever the deserializer or an element reports.
pub(crate) fn deserialize_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_seq(BoundedVecVisitor(PhantomData))
}

/// Deserializes a `Vec<T>` of at most `MAX` elements (refused past it,
/// before decoding more), allocation-bounded like [`deserialize_vec`].
///
/// # Errors
///
/// Whatever the deserializer or an element reports; "more than `MAX`
/// elements" past the limit.
pub(crate) fn deserialize_vec_at_most<'de, D, T, const MAX: usize>(
    deserializer: D,
) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_seq(AtMostVisitor::<T, MAX>(PhantomData))
}

/// The ranges of an [`IHave`](crate::protocol::IHave), at most
/// [`MAX_IHAVE_RANGES`](crate::protocol::MAX_IHAVE_RANGES).
pub(crate) fn deserialize_ihave_ranges<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserialize_vec_at_most::<D, T, { crate::protocol::MAX_IHAVE_RANGES }>(deserializer)
}

/// The wants of a [`Graft`](crate::protocol::Graft), at most
/// [`MAX_GRAFT_WANTS`](crate::protocol::MAX_GRAFT_WANTS).
pub(crate) fn deserialize_graft_wants<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserialize_vec_at_most::<D, T, { crate::protocol::MAX_GRAFT_WANTS }>(deserializer)
}

struct AtMostVisitor<T, const MAX: usize>(PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for AtMostVisitor<T, MAX> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "a sequence of at most {MAX} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        if seq.size_hint().is_some_and(|n| n > MAX) {
            return Err(serde::de::Error::invalid_length(
                seq.size_hint().unwrap_or(0),
                &self,
            ));
        }
        let mut values = Vec::with_capacity(bounded_capacity::<T>(seq.size_hint()).min(MAX));
        while let Some(value) = seq.next_element()? {
            if values.len() == MAX {
                return Err(serde::de::Error::invalid_length(MAX + 1, &self));
            }
            values.push(value);
        }
        Ok(values)
    }
}

struct BoundedVecVisitor<T>(PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for BoundedVecVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut values = Vec::with_capacity(bounded_capacity::<T>(seq.size_hint()));
        while let Some(value) = seq.next_element()? {
            values.push(value);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, SeqDeserializer};

    /// An iterator that claims far more elements than it yields, like a
    /// hostile length prefix.
    struct Liar {
        left: u64,
    }

    impl Iterator for Liar {
        type Item = u64;

        fn next(&mut self) -> Option<u64> {
            self.left = self.left.checked_sub(1)?;
            Some(self.left)
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            (1 << 60, Some(1 << 60))
        }
    }

    #[test]
    fn declared_length_does_not_drive_allocation() {
        let de = SeqDeserializer::<_, ValueError>::new(Liar { left: 3 });
        let values: Vec<u64> = deserialize_vec(de).unwrap();
        assert_eq!(values, vec![2, 1, 0]);
        assert!(values.capacity() * mem::size_of::<u64>() <= PREALLOC_LIMIT_BYTES);
    }

    #[test]
    fn capacity_is_capped_and_follows_small_hints() {
        assert_eq!(bounded_capacity::<u64>(None), 0);
        assert_eq!(bounded_capacity::<u64>(Some(3)), 3);
        assert_eq!(
            bounded_capacity::<u64>(Some(1 << 60)),
            PREALLOC_LIMIT_BYTES / 8
        );
        assert_eq!(bounded_capacity::<()>(Some(1 << 60)), PREALLOC_LIMIT_BYTES);
    }
}
