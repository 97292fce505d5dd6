//! Merge rules: bad input, equivocation, the buffer, and order-independence.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::{
    domain::{
        BaseRefusal, BufferLimits, ChannelId, DomainEvent, EntryKey, Fold, Hlc, Materialized,
        StateMaterializer,
    },
    Identity,
};

fn node(name: &str) -> NodeId {
    NodeId::from_seed(name)
}

fn ids() -> (ChannelId, StreamId) {
    (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap())
}

/// `name`'s log of `n` entries, linked and each signed: timestamps
/// `seq * 10 + skew`, payloads `"{name}{seq}{variant}"` (another variant
/// is another history the author signed: an equivocation).
fn log_with(name: &str, n: u64, skew: u64, variant: &str) -> Vec<LogEntry> {
    let (c, s) = ids();
    let author = Identity::from_seed(name);
    let mut previous = EntryHash::GENESIS;
    (1..=n)
        .map(|seq| {
            let e = LogEntry::new(
                node(name),
                seq,
                Hlc::new(seq * 10 + skew, 0).unwrap(),
                format!("{name}{seq}{variant}").into_bytes(),
            )
            .linked_to(previous);
            previous = e.hash(&c, &s);
            e.sign_hashed(&author, &previous)
        })
        .collect()
}

fn log(name: &str, n: u64) -> Vec<LogEntry> {
    log_with(name, n, 0, "")
}

/// One entry of `name`'s log of `n`.
fn at(name: &str, seq: u64) -> LogEntry {
    log(name, seq).pop().unwrap()
}

/// A lone entry signed by `author`, linked to nothing before it.
fn signed(author: &str, seq: u64, ts: u64, payload: &[u8]) -> LogEntry {
    let (c, s) = ids();
    LogEntry::new(
        node(author),
        seq,
        Hlc::new(ts, 0).unwrap(),
        payload.to_vec(),
    )
    .sign(&Identity::from_seed(author), &c, &s)
}

fn channel(members: &[&str]) -> Channel {
    let mut c = Channel::new(ChannelId::new("c").unwrap(), node(members[0]));
    for m in &members[1..] {
        c.add_member(node(m), crate::domain::Role::Writer);
    }
    c
}

/// A replica: the merge rules over an in-memory "store".
struct Replica {
    channel: Channel,
    stream: StreamId,
    buffer: OutOfOrderBuffer,
    stored: BTreeMap<(NodeId, u64), LogEntry>,
    version: VersionVector,
    view: Materialized<Vec<Vec<u8>>, Payloads>,
    errors: Vec<Error>,
    proofs: Vec<EquivocationProof>,
}

/// Folds payloads in read order.
struct Payloads;

impl StateMaterializer<Vec<Vec<u8>>> for Payloads {
    fn initial(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn fold(&self, mut state: Vec<Vec<u8>>, entry: &LogEntry) -> Vec<Vec<u8>> {
        state.push(entry.payload.to_vec());
        state
    }
}

impl Replica {
    fn new(channel: Channel, limits: BufferLimits) -> Self {
        Self {
            channel,
            stream: StreamId::new("s").unwrap(),
            buffer: OutOfOrderBuffer::new(limits),
            stored: BTreeMap::new(),
            version: VersionVector::new(),
            view: Materialized::new(Payloads),
            errors: Vec::new(),
            proofs: Vec::new(),
        }
    }

    fn deliver(&mut self, batch: Vec<LogEntry>) -> MergeOutcome {
        let held: HeldEntries = duplicate_ranges(&self.version, &batch)
            .iter()
            .flat_map(|r| (r.after + 1..=r.up_to).map(move |s| (r.author.clone(), s)))
            .filter_map(|k| self.stored.get(&k).cloned())
            .collect();
        let input = MergeInput::new(&self.channel, &self.stream, &self.version);
        let outcome = merge_entries(&mut self.buffer, &input, &held, batch);
        // The store's contract: contiguous per author after the held version.
        let mut check = self.version.clone();
        for e in &outcome.accepted {
            assert_eq!(e.sequence, check.get(&e.author) + 1, "non-contiguous batch");
            check.raise(&e.author, e.sequence);
            assert!(self
                .stored
                .insert((e.author.clone(), e.sequence), e.clone())
                .is_none());
        }
        self.version = outcome.version.clone();
        if self.view.apply(&outcome.accepted) == Fold::NeedsRefold {
            self.view.reset();
            let _ = self.view.apply(&self.listing());
        }
        self.errors.extend(outcome.rejections().cloned());
        self.proofs.extend(outcome.equivocations().cloned());
        outcome
    }

    fn listing(&self) -> Vec<LogEntry> {
        let mut all: Vec<LogEntry> = self.stored.values().cloned().collect();
        all.sort_by_key(LogEntry::key);
        all
    }
}

#[test]
fn sequence_zero_oversized_and_non_writers_are_rejected_with_typed_errors() {
    let mut c = channel(&["a", "b"]);
    let config = crate::domain::StreamConfig::default().max_payload_bytes(4);
    c.apply(
        &node("a"),
        &crate::domain::ControlOp::SetDefaultStreamConfig { config },
    );
    // "r" may read only; "z" was removed after writing one entry.
    c.add_member(node("r"), crate::domain::Role::Reader);
    c.add_member(node("z"), crate::domain::Role::Writer);
    let cutoff = crate::domain::Cutoff::from([(StreamId::new("s").unwrap(), 1)]);
    c.apply(
        &node("a"),
        &crate::domain::ControlOp::RemoveMember {
            member: node("z"),
            cutoff,
        },
    );
    let mut r = Replica::new(c, BufferLimits::default());
    let outcome = r.deliver(vec![
        signed("a", 0, 1, b"x"),
        signed("a", 1, 1, b"too long"),
        signed("r", 1, 1, b"x"),
        signed("z", 1, 1, b"x"),
        signed("z", 2, 2, b"x"),
        signed("z", 3, 3, b"x"),
    ]);
    assert_eq!(r.stored.len(), 1, "z's entry within its cut-off stays");
    let rejected: Vec<&Error> = outcome.rejections().collect();
    assert!(matches!(
        rejected[0],
        Error::InvalidSequence { sequence: 0, .. }
    ));
    assert!(matches!(
        rejected[1],
        Error::PayloadTooLarge { size: 8, limit: 4 }
    ));
    assert!(matches!(
        rejected[2],
        Error::NonMember { author, count: 1, .. } if author == &node("r")
    ));
    assert!(matches!(
        rejected[3],
        Error::NonMember { author, count: 2, .. } if author == &node("z")
    ));
    // The rejection of a non-writer's entries is also an event, typed as one.
    let events: Vec<&DomainEvent> = outcome.events().collect();
    assert!(matches!(
        &events[..],
        [DomainEvent::NonMemberEntriesRejected { author, count: 1, .. }, DomainEvent::NonMemberEntriesRejected { count: 2, .. }]
            if author == &node("r")
    ));
}

#[test]
fn entries_of_authors_the_control_log_has_not_named_wait_pending() {
    let mut r = Replica::new(channel(&["a"]), BufferLimits::default());
    let outcome = r.deliver(log("n", 2));
    assert!(r.stored.is_empty() && outcome.rejections().next().is_none());
    assert_eq!(outcome.pending.len(), 2);
    // Once the log names it a writer, the same entries are accepted.
    r.channel.add_member(node("n"), crate::domain::Role::Writer);
    let outcome = r.deliver(outcome.pending);
    assert_eq!(outcome.accepted.len(), 2);
}

#[test]
fn duplicates_are_ignored_and_equivocation_is_reported_with_proof_not_stored() {
    let mut r = Replica::new(channel(&["a"]), BufferLimits::default());
    let (genuine, fork) = (log("a", 3), log_with("a", 3, 0, "'"));
    r.deliver(vec![genuine[0].clone()]);
    let outcome = r.deliver(vec![genuine[0].clone(), fork[0].clone()]);
    assert_eq!(outcome.duplicates, 1);
    assert!(matches!(
        &outcome.rejections().collect::<Vec<_>>()[..],
        [Error::Equivocation { author, sequence: 1, .. }] if author == &node("a")
    ));
    let proof = outcome.equivocations().next().unwrap();
    assert_eq!((&proof.held, &proof.conflicting), (&genuine[0], &fork[0]));
    assert_eq!(r.stored[&(node("a"), 1)].payload.as_ref(), b"a1");
    // Within one batch too, and in the buffer; the fork's entries link to
    // the fork's first entry, not to the one held: each is an equivocation.
    let outcome = r.deliver(vec![
        genuine[2].clone(),
        fork[2].clone(),
        genuine[1].clone(),
        fork[1].clone(),
    ]);
    assert_eq!(outcome.accepted.len(), 2);
    assert_eq!(outcome.rejections().count(), 2);
    assert_eq!(outcome.equivocations().count(), 2);
    assert_eq!(outcome.events().count(), 0);
    assert_eq!(r.stored[&(node("a"), 3)].payload.as_ref(), b"a3");
}

#[test]
fn an_entry_linking_to_another_predecessor_is_an_equivocation() {
    let mut r = Replica::new(channel(&["a"]), BufferLimits::default());
    let (genuine, fork) = (log("a", 2), log_with("a", 2, 0, "'"));
    r.deliver(vec![genuine[0].clone()]);
    // The fork's second entry is validly signed, but links to the fork's
    // first: applying it would splice two histories.
    let outcome = r.deliver(vec![fork[1].clone()]);
    assert!(outcome.accepted.is_empty());
    let proof = outcome.equivocations().next().unwrap();
    assert_eq!((&proof.held, &proof.conflicting), (&genuine[0], &fork[1]));
    // The genuine successor is still accepted.
    let outcome = r.deliver(vec![genuine[1].clone()]);
    assert_eq!(outcome.accepted, vec![genuine[1].clone()]);
}

#[test]
fn forged_and_unproven_entries_are_rejected_before_anything_else() {
    let (c, s) = ids();
    let mut r = Replica::new(channel(&["a", "m"]), BufferLimits::default());
    let mallory = Identity::from_seed("m");
    // A member signs an entry in a's name, and sends an unsigned one too.
    let forged = LogEntry::new(node("a"), 1, Hlc::new(1, 0).unwrap(), b"evil".to_vec())
        .sign(&mallory, &c, &s);
    let mut unsigned = at("a", 2);
    unsigned.signature = None;
    let outcome = r.deliver(vec![forged, unsigned]);
    assert!(outcome.accepted.is_empty() && outcome.buffered == 0);
    assert!(r.buffer.is_empty(), "nothing unproven is buffered");
    assert!(matches!(
        &outcome.rejections().collect::<Vec<_>>()[..],
        [Error::ForgedEntries { author, forged: 1, unproven: 1, .. }] if author == &node("a")
    ));
    // The real entries are accepted afterwards: the forgery took no place.
    let outcome = r.deliver(log("a", 2));
    assert_eq!(outcome.accepted.len(), 2);
    assert!(outcome.rejections().next().is_none());
}

#[test]
fn a_run_needs_only_its_last_signature() {
    let mut r = Replica::new(channel(&["a"]), BufferLimits::default());
    let mut run = log("a", 4);
    for e in &mut run[..3] {
        e.signature = None;
    }
    let outcome = r.deliver(run);
    assert_eq!(outcome.accepted.len(), 4);
    assert!(outcome.rejections().next().is_none());
}

#[test]
fn buffer_overflow_drops_reports_and_stores_nothing() {
    let limits = BufferLimits::default().per_author(3).total(3);
    let mut r = Replica::new(channel(&["a", "b"]), limits);
    // 4 and 50 are too far past the held sequence (0) to ever fit.
    let a = log("a", 50);
    let b = log("b", 3);
    let outcome = r.deliver(vec![
        a[1].clone(),
        a[2].clone(),
        a[3].clone(),
        a[49].clone(),
    ]);
    assert!(r.stored.is_empty());
    assert_eq!(outcome.buffered, 2);
    assert!(matches!(
        &outcome.rejections().collect::<Vec<_>>()[..],
        [Error::BufferOverflow { author, dropped: 2, .. }] if author == &node("a")
    ));
    // The total bound: one more fits, the next is dropped.
    let outcome = r.deliver(vec![b[1].clone(), b[2].clone()]);
    assert_eq!(outcome.buffered, 1);
    assert!(matches!(
        &outcome.rejections().collect::<Vec<_>>()[..],
        [Error::BufferOverflow { author, dropped: 1, .. }] if author == &node("b")
    ));
    assert_eq!(r.buffer.len(), 3);
    // Once the gap fills, the buffered run is released in one go.
    let outcome = r.deliver(vec![a[0].clone()]);
    assert_eq!(outcome.accepted.len(), 3);
    assert_eq!(r.version.get(&node("a")), 3);
    assert_eq!(r.buffer.len(), 1);
}

/// A proof that `a`'s log of 7 was compacted through `base`.
fn proof(log: &[LogEntry], base: usize) -> BaseProof {
    BaseProof::new(
        log[base - 1].signed_header(),
        log.last().unwrap().signed_header(),
    )
    .unwrap()
}

fn keeping(members: &[&str], policy: crate::domain::RetentionPolicy) -> Channel {
    let mut c = channel(members);
    let config = crate::domain::StreamConfig::default().retention(policy);
    c.apply(
        &node(members[0]),
        &crate::domain::ControlOp::SetDefaultStreamConfig { config },
    );
    c
}

#[test]
fn a_proven_base_skips_the_compacted_gap() {
    let policy = crate::domain::RetentionPolicy::CountBased { max_per_author: 2 };
    let mut r = Replica::new(keeping(&["a", "b"], policy), BufferLimits::default());
    let a = log("a", 7);
    r.deliver(vec![a[0].clone(), a[2].clone()]);
    let (proofs, b) = ([proof(&a, 5)], node("b"));
    let input = MergeInput::new(&r.channel, &r.stream, &r.version)
        .sender_base(&proofs)
        .at(&b, 0);
    let outcome = merge_entries(
        &mut r.buffer,
        &input,
        &HeldEntries::none(),
        vec![a[5].clone(), a[6].clone()],
    );
    assert_eq!(outcome.raised_base.get(&node("a")), 5);
    assert_eq!(outcome.checkpoints, vec![a[4].signed_header().unwrap()]);
    assert_eq!(outcome.version.get(&node("a")), 7);
    assert_eq!(outcome.accepted.len(), 2);
    assert!(
        r.buffer.is_empty(),
        "buffered entries under the base are dropped"
    );
}

#[test]
fn a_base_is_refused_when_forged_kept_by_policy_or_the_mergers_own() {
    let (c, s) = ids();
    let a = log("a", 7);
    let count = crate::domain::RetentionPolicy::CountBased { max_per_author: 2 };
    let refused = |channel: Channel, proofs: Vec<BaseProof>, local: &str| {
        let version = VersionVector::new();
        let stream = StreamId::new("s").unwrap();
        let local = node(local);
        let input = MergeInput::new(&channel, &stream, &version)
            .sender_base(&proofs)
            .at(&local, 0);
        let mut buffer = OutOfOrderBuffer::new(BufferLimits::default());
        let outcome = merge_entries(&mut buffer, &input, &HeldEntries::none(), Vec::new());
        assert!(outcome.raised_base.is_empty() && outcome.checkpoints.is_empty());
        match outcome.rejections().collect::<Vec<_>>()[..] {
            [Error::BaseRefused { reason, .. }] => *reason,
            ref other => panic!("{other:?}"),
        }
    };
    // A member claims a's log was compacted through 2^62, signing it itself.
    let mallory = Identity::from_seed("m");
    let claim = |seq| {
        LogEntry::new(node("a"), seq, Hlc::new(1, 0).unwrap(), vec![])
            .sign(&mallory, &c, &s)
            .signed_header()
    };
    let forged = BaseProof::new(claim(1 << 61), claim(1 << 62)).unwrap();
    assert_eq!(
        refused(keeping(&["a", "b", "m"], count.clone()), vec![forged], "b"),
        BaseRefusal::BadSignature
    );
    assert_eq!(
        refused(channel(&["a", "b"]), vec![proof(&a, 5)], "b"),
        BaseRefusal::RetentionKeepsIt
    );
    assert_eq!(
        refused(keeping(&["a", "b"], count), vec![proof(&a, 5)], "a"),
        BaseRefusal::LocalAuthor
    );
}

/// Entries of 3 authors, up to 12 each, with interleaved timestamps.
fn entry_set() -> impl Strategy<Value = Vec<LogEntry>> {
    proptest::collection::vec((1u64..12, 0u64..5), 3).prop_map(|specs| {
        let mut all = Vec::new();
        for (i, (count, skew)) in specs.into_iter().enumerate() {
            all.extend(log_with(["a", "b", "c"][i], count, skew, ""));
        }
        all
    })
}

/// Some deliveries of `entries`: shuffled, some duplicated, split into batches.
fn deliveries(entries: Vec<LogEntry>) -> impl Strategy<Value = Vec<Vec<LogEntry>>> {
    let n = entries.len();
    (
        Just(entries),
        proptest::collection::vec(any::<u64>(), n),
        proptest::collection::vec(0usize..n.max(1), 0..n.max(1)),
        proptest::collection::vec(1usize..6, 1..20),
    )
        .prop_map(|(entries, keys, dups, sizes)| {
            let mut all: Vec<(u64, LogEntry)> =
                keys.into_iter().zip(entries.iter().cloned()).collect();
            for (k, d) in dups.into_iter().enumerate() {
                all.push((k as u64 * 7919, entries[d % entries.len()].clone()));
            }
            all.sort_by_key(|(k, e)| (*k, e.key()));
            let mut flat: Vec<LogEntry> = all.into_iter().map(|(_, e)| e).collect();
            let mut batches = Vec::new();
            let mut i = 0;
            while !flat.is_empty() {
                let size = sizes[i % sizes.len()].min(flat.len());
                batches.push(flat.drain(..size).collect());
                i += 1;
            }
            batches
        })
}

fn two_deliveries() -> impl Strategy<Value = (Vec<LogEntry>, Vec<Vec<LogEntry>>, Vec<Vec<LogEntry>>)>
{
    entry_set().prop_flat_map(|set| (Just(set.clone()), deliveries(set.clone()), deliveries(set)))
}

proptest! {
    /// Any permutation, duplication or splitting of the same set of entries
    /// ends in the same version vector, stored entries, read order and
    /// materialized state.
    #[test]
    fn merge_is_order_independent((set, first, second) in two_deliveries()) {
        let members = channel(&["a", "b", "c"]);
        let mut x = Replica::new(members.clone(), BufferLimits::default());
        let mut y = Replica::new(members, BufferLimits::default());
        for batch in first {
            x.deliver(batch);
        }
        for batch in second {
            y.deliver(batch);
        }
        let expected: VersionVector = set.iter().map(|e| (e.author.clone(), e.sequence)).collect();
        prop_assert_eq!(&x.version, &expected);
        prop_assert_eq!(&y.version, &expected);
        prop_assert_eq!(x.stored.len(), set.len());
        prop_assert_eq!(&x.stored, &y.stored);
        let keys = |r: &Replica| r.listing().iter().map(LogEntry::key).collect::<Vec<EntryKey>>();
        prop_assert_eq!(keys(&x), keys(&y));
        prop_assert_eq!(x.view.state(), y.view.state());
        prop_assert!(x.errors.is_empty() && y.errors.is_empty());
        prop_assert!(x.buffer.is_empty() && y.buffer.is_empty());
    }
}

/// A byzantine mix: the honest logs of `a` and `b`, entries a member `m`
/// forged in their names (signed with its own key, or unsigned), and both
/// histories of an equivocating member `e`.
fn byzantine_set() -> impl Strategy<Value = (Vec<LogEntry>, Vec<LogEntry>, u64, u64)> {
    (
        1u64..10,
        1u64..10,
        proptest::collection::vec((0usize..2, 1u64..12, any::<bool>(), any::<u8>()), 0..8),
        1u64..6,
        1u64..6,
    )
        .prop_map(|(na, nb, forgeries, ne1, ne2)| {
            let (c, s) = ids();
            let mut honest = log("a", na);
            honest.extend(log("b", nb));
            let mallory = Identity::from_seed("m");
            let mut others: Vec<LogEntry> = forgeries
                .into_iter()
                .map(|(who, seq, signed, byte)| {
                    let victim = ["a", "b"][who];
                    let mut forged = LogEntry::new(
                        node(victim),
                        seq,
                        Hlc::new(seq * 10, 0).unwrap(),
                        vec![byte; 3],
                    )
                    .linked_to(EntryHash::from_bytes([byte; 32]));
                    if signed {
                        forged = forged.sign(&mallory, &c, &s);
                    }
                    forged
                })
                .collect();
            others.extend(log_with("e", ne1, 1, ""));
            others.extend(log_with("e", ne2, 2, "'"));
            (honest, others, na, nb)
        })
}

/// The honest entries, the honest authors' log lengths, and two delivery
/// orders of everything (honest, forged and equivocating entries).
type ByzantineCase = (
    Vec<LogEntry>,
    u64,
    u64,
    Vec<Vec<LogEntry>>,
    Vec<Vec<LogEntry>>,
);

fn byzantine_deliveries() -> impl Strategy<Value = ByzantineCase> {
    byzantine_set().prop_flat_map(|(honest, others, na, nb)| {
        let mut all = honest.clone();
        all.extend(others);
        (
            Just(honest),
            Just(na),
            Just(nb),
            deliveries(all.clone()),
            deliveries(all),
        )
    })
}

/// Each stored entry of `author` links to the one stored before it.
fn is_one_chain(r: &Replica, author: &str) -> bool {
    let (c, s) = ids();
    let chain: Vec<&LogEntry> = r
        .stored
        .iter()
        .filter(|((a, _), _)| *a == node(author))
        .map(|(_, e)| e)
        .collect();
    chain.windows(2).all(|w| w[1].previous == w[0].hash(&c, &s))
}

proptest! {
    /// With forgeries and an equivocating member mixed in, in any order:
    /// every honest entry is stored, no forgery is, both replicas agree on
    /// the honest history, and the equivocator's stored entries are one
    /// consistent chain (never a splice of its two histories).
    #[test]
    fn forgeries_never_stored_honest_entries_always(
        (honest, na, nb, first, second) in byzantine_deliveries()
    ) {
        let members = channel(&["a", "b", "m", "e"]);
        let mut x = Replica::new(members.clone(), BufferLimits::default());
        let mut y = Replica::new(members, BufferLimits::default());
        for batch in first {
            x.deliver(batch);
        }
        for batch in second {
            y.deliver(batch);
        }
        for r in [&x, &y] {
            prop_assert_eq!(r.version.get(&node("a")), na);
            prop_assert_eq!(r.version.get(&node("b")), nb);
            for e in &honest {
                prop_assert_eq!(r.stored.get(&(e.author.clone(), e.sequence)), Some(e));
            }
            prop_assert!(r.stored.keys().all(|(author, _)| *author != node("m")));
            prop_assert!(is_one_chain(r, "e"));
        }
        let honest_keys = |r: &Replica| {
            r.listing()
                .iter()
                .filter(|e| e.author != node("e"))
                .map(LogEntry::key)
                .collect::<Vec<EntryKey>>()
        };
        prop_assert_eq!(honest_keys(&x), honest_keys(&y));
    }
}
