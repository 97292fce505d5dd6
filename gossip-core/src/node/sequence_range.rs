//! [`sequence_range`]: a caller's range of sequences (`1..=10`, `5..`, `..`)
//! as the [`SeqRange`] a store read takes, or a typed error.

use std::ops::{Bound, RangeBounds};

use crate::{
    domain::{NodeId, SeqRange},
    error::Error,
};

/// `author`'s sequences in `range`: `None` when the range holds no valid
/// sequence (empty, such as `5..5`, or only 0: sequences start at 1).
///
/// # Errors
///
/// [`Error::InvalidRange`] when the range starts after its end (`5..3`,
/// `5..=3`), as slicing would panic on.
pub(crate) fn sequence_range(
    author: &NodeId,
    range: &impl RangeBounds<u64>,
) -> Result<Option<SeqRange>, Error> {
    // Half-open `[start, end)` in u128: `..=u64::MAX` does not overflow.
    let start = match range.start_bound() {
        Bound::Included(&s) => u128::from(s),
        Bound::Excluded(&s) => u128::from(s) + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => u128::from(e) + 1,
        Bound::Excluded(&e) => u128::from(e),
        Bound::Unbounded => u128::from(u64::MAX) + 1,
    };
    let saturate = |n: u128| u64::try_from(n).unwrap_or(u64::MAX);
    if start > end {
        return Err(Error::InvalidRange {
            start: saturate(start),
            end: saturate(end),
        });
    }
    let first = start.max(1);
    if first >= end {
        return Ok(None);
    }
    Ok(Some(SeqRange {
        author: author.clone(),
        after: saturate(first - 1),
        up_to: saturate(end - 1),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    #![expect(
        clippy::reversed_empty_ranges,
        reason = "inverted ranges are what is tested"
    )]

    use super::*;

    fn bounds(range: impl RangeBounds<u64>) -> Result<Option<(u64, u64)>, Error> {
        let author = NodeId::from_seed("a");
        Ok(sequence_range(&author, &range)?.map(|r| (r.after, r.up_to)))
    }

    #[test]
    fn ranges_become_after_and_up_to() {
        assert_eq!(bounds(1..=10).unwrap(), Some((0, 10)));
        assert_eq!(bounds(3..7).unwrap(), Some((2, 6)));
        assert_eq!(bounds(5..).unwrap(), Some((4, u64::MAX)));
        assert_eq!(bounds(..).unwrap(), Some((0, u64::MAX)));
        assert_eq!(bounds(..=u64::MAX).unwrap(), Some((0, u64::MAX)));
        assert_eq!(bounds(0..=2).unwrap(), Some((0, 2)), "0 is no sequence");
        let excluded = (Bound::Excluded(3), Bound::Included(4));
        assert_eq!(bounds(excluded).unwrap(), Some((3, 4)));
    }

    #[test]
    fn empty_ranges_hold_nothing() {
        assert_eq!(bounds(5..5).unwrap(), None);
        assert_eq!(bounds(5..=4).unwrap(), None);
        assert_eq!(bounds(0..1).unwrap(), None, "only 0");
        assert_eq!(bounds(..1).unwrap(), None);
        assert_eq!(bounds(u64::MAX..u64::MAX).unwrap(), None);
        let beyond = (Bound::Excluded(u64::MAX), Bound::Unbounded);
        assert_eq!(bounds(beyond).unwrap(), None);
    }

    #[test]
    fn inverted_ranges_are_refused() {
        for (range, start, end) in [(5..3, 5, 3), (9..0, 9, 0)] {
            match bounds(range) {
                Err(Error::InvalidRange { start: s, end: e }) => assert_eq!((s, e), (start, end)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            bounds(5..=3),
            Err(Error::InvalidRange { start: 5, end: 4 })
        ));
    }
}
