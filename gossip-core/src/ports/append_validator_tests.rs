//! Unit and property tests of [`AppendValidator`](super::AppendValidator).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::domain::Hlc;

fn node(name: &str) -> NodeId {
    NodeId::from_seed(name)
}

fn entry(author: &NodeId, sequence: u64) -> LogEntry {
    LogEntry::new(
        author.clone(),
        sequence,
        Hlc::new(1, 0).unwrap(),
        vec![0u8; (sequence % 7) as usize],
    )
}

type Positions = BTreeMap<NodeId, AuthorPosition>;

fn validate<'a>(
    positions: &Positions,
    batch: &'a [LogEntry],
) -> Result<AppendPlan<'a>, AppendRejection> {
    AppendValidator::new(batch).validate(|a| positions.get(a).copied().unwrap_or_default())
}

fn positions(list: &[(&NodeId, u64, u64)]) -> Positions {
    list.iter()
        .map(|(a, base, head)| ((*a).clone(), AuthorPosition::new(*base, *head)))
        .collect()
}

#[test]
fn position_holds_only_between_base_and_head() {
    let p = AuthorPosition::new(2, 5);
    assert_eq!(p.version(), 5);
    assert!(!p.holds(2) && p.holds(3) && p.holds(5) && !p.holds(6));
    // Compacted beyond the head: nothing held, version at the base.
    let p = AuthorPosition::new(9, 5);
    assert_eq!(p.version(), 9);
    assert!((0..=10).all(|q| !p.holds(q)));
    assert_eq!(AuthorPosition::default().version(), 0);
}

#[test]
fn empty_batch_is_valid_and_asks_for_nothing() {
    let mut asked = 0;
    let plan = AppendValidator::new(&[])
        .validate(|_| {
            asked += 1;
            AuthorPosition::default()
        })
        .unwrap();
    assert!(plan.is_empty());
    assert_eq!(asked, 0);
}

#[test]
fn interleaved_authors_are_summarised_each() {
    let (a, b) = (node("a"), node("b"));
    let batch = [entry(&b, 1), entry(&a, 4), entry(&b, 2), entry(&a, 5)];
    let stored = positions(&[(&a, 1, 3)]);
    let validator = AppendValidator::new(&batch);
    assert_eq!(
        validator.authors().into_iter().collect::<Vec<_>>(),
        [&a, &b]
    );
    let plan = validate(&stored, &batch).unwrap();
    assert_eq!(plan.authors().len(), 2);
    let pa = plan.author(&a).unwrap();
    assert_eq!((pa.first(), pa.last(), pa.entries()), (4, 5, 2));
    assert_eq!(pa.bytes(), 4 + 5);
    assert_eq!(pa.before(), AuthorPosition::new(1, 3));
    assert_eq!(pa.after(), AuthorPosition::new(1, 5));
    let pb = plan.author(&b).unwrap();
    assert_eq!((pb.first(), pb.last(), pb.entries()), (1, 2, 2));
    assert!(plan.author(&node("c")).is_none());
}

#[test]
fn position_is_asked_once_per_author() {
    let (a, b) = (node("a"), node("b"));
    let batch = [entry(&a, 1), entry(&b, 1), entry(&a, 2), entry(&b, 2)];
    let mut asked = Vec::new();
    AppendValidator::new(&batch)
        .validate(|author| {
            asked.push(author.clone());
            AuthorPosition::default()
        })
        .unwrap();
    assert_eq!(asked, [a, b]);
}

#[test]
fn held_entry_already_exists_anything_else_is_non_contiguous() {
    let a = node("a");
    let stored = positions(&[(&a, 2, 5)]);
    let kind = |batch: &[LogEntry]| validate(&stored, batch).unwrap_err().kind();
    assert_eq!(kind(&[entry(&a, 5)]), StoreErrorKind::AlreadyExists);
    assert_eq!(kind(&[entry(&a, 3)]), StoreErrorKind::AlreadyExists);
    // Compacted, sequence 0, a gap.
    assert_eq!(kind(&[entry(&a, 2)]), StoreErrorKind::NonContiguous);
    assert_eq!(kind(&[entry(&a, 0)]), StoreErrorKind::NonContiguous);
    assert_eq!(kind(&[entry(&a, 7)]), StoreErrorKind::NonContiguous);
    // Valid entries first, then a held one: the held one is reported.
    let err = validate(&stored, &[entry(&a, 6), entry(&a, 4)]).unwrap_err();
    assert_eq!(
        (err.kind(), err.sequence()),
        (StoreErrorKind::AlreadyExists, 4)
    );
    assert_eq!(err.author(), &a);
}

#[test]
fn repeats_inside_the_batch_do_not_follow() {
    let a = node("a");
    let stored = positions(&[(&a, 0, 2)]);
    // 3 is not held yet: repeating it within the batch is not `AlreadyExists`.
    let err = validate(&stored, &[entry(&a, 3), entry(&a, 3)]).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NonContiguous);
    assert_eq!((err.sequence(), err.expected()), (3, Some(4)));
    let err = validate(&stored, &[entry(&a, 3), entry(&a, 4), entry(&a, 3)]).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NonContiguous);
    assert_eq!(err.expected(), Some(5));
}

#[test]
fn compaction_beyond_head_moves_the_next_sequence() {
    let a = node("a");
    let stored = positions(&[(&a, 10, 4)]);
    let err = validate(&stored, &[entry(&a, 5)]).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NonContiguous);
    assert_eq!(err.expected(), Some(11));
    let batch = [entry(&a, 11)];
    let plan = validate(&stored, &batch).unwrap();
    assert_eq!(
        plan.author(&a).unwrap().after(),
        AuthorPosition::new(10, 11)
    );
}

#[test]
fn a_full_log_accepts_nothing_and_nothing_wraps() {
    let a = node("a");
    let full = positions(&[(&a, 0, u64::MAX)]);
    let err = validate(&full, &[entry(&a, 0)]).unwrap_err();
    assert_eq!(
        (err.kind(), err.expected()),
        (StoreErrorKind::NonContiguous, None)
    );
    assert_eq!(
        validate(&full, &[entry(&a, u64::MAX)]).unwrap_err().kind(),
        StoreErrorKind::AlreadyExists
    );
    let compacted = positions(&[(&a, u64::MAX, 0)]);
    let err = validate(&compacted, &[entry(&a, 1)]).unwrap_err();
    assert_eq!(
        (err.kind(), err.expected()),
        (StoreErrorKind::NonContiguous, None)
    );
    // The last sequence is accepted; nothing may follow it in the same batch.
    let almost = positions(&[(&a, 0, u64::MAX - 1)]);
    let batch = [entry(&a, u64::MAX)];
    let plan = validate(&almost, &batch).unwrap();
    assert_eq!(plan.author(&a).unwrap().last(), u64::MAX);
    let err = validate(&almost, &[entry(&a, u64::MAX), entry(&a, 0)]).unwrap_err();
    assert_eq!((err.sequence(), err.expected()), (0, None));
}

#[test]
fn rejection_messages_name_the_entry_and_the_stream() {
    let a = node("a");
    let stored = positions(&[(&a, 0, 2)]);
    let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
    let err = validate(&stored, &[entry(&a, 5)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("entry {a}#5 does not follow: expected sequence 3")
    );
    let store_err = err.into_store_error("test", &c, &s);
    assert_eq!(store_err.kind(), StoreErrorKind::NonContiguous);
    assert_eq!(store_err.backend(), "test");
    assert_eq!(
        store_err.to_string(),
        format!(
            "test store: non-contiguous sequence: append to c/s: entry {a}#5 does not follow: \
             expected sequence 3; nothing was written"
        )
    );
    let err = validate(&stored, &[entry(&a, 1)]).unwrap_err();
    assert_eq!(err.to_string(), format!("entry {a}#1 is already held"));
    let full = positions(&[(&a, u64::MAX, 0)]);
    let err = validate(&full, &[entry(&a, 1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("entry {a}#1 does not follow: the author's log is full")
    );
}

/// The contract restated with `u128` arithmetic (nothing can overflow): the
/// index of the first refused entry and its kind, or `None` when valid.
fn oracle(stored: &[(u64, u64)], batch: &[(usize, u64)]) -> Option<(usize, StoreErrorKind)> {
    let mut next: BTreeMap<usize, u128> = BTreeMap::new();
    for (i, &(author, seq)) in batch.iter().enumerate() {
        let (base, head) = stored[author];
        let expected = next
            .entry(author)
            .or_insert_with(|| u128::from(base.max(head)) + 1);
        if u128::from(seq) != *expected {
            let held = seq > base && seq <= head;
            let kind = if held {
                StoreErrorKind::AlreadyExists
            } else {
                StoreErrorKind::NonContiguous
            };
            return Some((i, kind));
        }
        *expected += 1;
    }
    None
}

/// Sequences near 0, near the stored positions and near `u64::MAX`.
fn sequence() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..12, (u64::MAX - 6)..=u64::MAX]
}

proptest! {
    #[test]
    fn agrees_with_the_u128_oracle(
        stored in proptest::collection::vec((sequence(), sequence()), 3),
        starts in proptest::collection::vec(any::<bool>(), 3),
        batch in proptest::collection::vec((0usize..3, sequence(), any::<bool>()), 0..12),
    ) {
        let authors = [node("a"), node("b"), node("c")];
        let table: Positions = authors
            .iter()
            .zip(&stored)
            .map(|(a, (base, head))| (a.clone(), AuthorPosition::new(*base, *head)))
            .collect();
        // For the authors drawn in `starts`, entries drawn with `follow` carry
        // the author's next sequence, so valid batches are common.
        let mut next: Vec<u64> = stored
            .iter()
            .map(|(base, head)| (*base).max(*head).wrapping_add(1))
            .collect();
        let batch: Vec<(usize, u64)> = batch
            .into_iter()
            .map(|(author, seq, follow)| {
                let seq = if follow && starts[author] { next[author] } else { seq };
                next[author] = seq.wrapping_add(1);
                (author, seq)
            })
            .collect();
        let entries: Vec<LogEntry> =
            batch.iter().map(|&(a, seq)| entry(&authors[a], seq)).collect();

        match (validate(&table, &entries), oracle(&stored, &batch)) {
            (Ok(plan), None) => {
                for (i, author) in authors.iter().enumerate() {
                    let mine: Vec<&LogEntry> =
                        entries.iter().filter(|e| &e.author == author).collect();
                    let Some(append) = plan.author(author) else {
                        prop_assert!(mine.is_empty());
                        continue;
                    };
                    let version = stored[i].0.max(stored[i].1);
                    prop_assert_eq!(append.first(), version + 1);
                    prop_assert_eq!(append.entries(), mine.len() as u64);
                    prop_assert_eq!(append.last(), mine.last().unwrap().sequence);
                    prop_assert_eq!(
                        append.bytes(),
                        mine.iter().map(|e| e.size_bytes()).sum::<u64>()
                    );
                }
            }
            (Err(err), Some((index, kind))) => {
                prop_assert_eq!(err.kind(), kind);
                prop_assert_eq!(err.author(), &entries[index].author);
                prop_assert_eq!(err.sequence(), entries[index].sequence);
            }
            (got, want) => prop_assert!(false, "validator {:?}, oracle {:?}", got, want),
        }
    }
}
