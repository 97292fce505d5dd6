//! The control log's rules, and its convergence whatever order entries
//! arrive in.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{ControlOp, ControlState, Cutoff, Permission, Role};
use crate::domain::{ids::StreamId, Hlc, LogEntry, NodeId};

fn node(name: &str) -> NodeId {
    NodeId::from_seed(name)
}

fn notes() -> StreamId {
    StreamId::new("notes").unwrap()
}

/// A control log being written: each author's sequences count up.
#[derive(Default)]
struct Log {
    entries: Vec<LogEntry>,
    next: BTreeMap<NodeId, u64>,
}

impl Log {
    fn op(&mut self, author: &NodeId, at_ms: u64, op: &ControlOp) -> &mut Self {
        let seq = self.next.entry(author.clone()).or_insert(0);
        *seq += 1;
        self.entries.push(LogEntry::new(
            author.clone(),
            *seq,
            Hlc::new(at_ms, 0).unwrap(),
            op.encode(),
        ));
        self
    }

    fn fold(&self, owner: &NodeId) -> ControlState {
        ControlState::fold(owner.clone(), &self.entries)
    }
}

fn add(member: &NodeId, role: Role) -> ControlOp {
    ControlOp::AddMember {
        member: member.clone(),
        role,
        label: String::new(),
    }
}

fn remove(member: &NodeId, cutoff: Cutoff) -> ControlOp {
    ControlOp::RemoveMember {
        member: member.clone(),
        cutoff,
    }
}

fn change(member: &NodeId, role: Role, cutoff: Cutoff) -> ControlOp {
    ControlOp::ChangeRole {
        member: member.clone(),
        role,
        cutoff,
    }
}

#[test]
fn two_admins_removing_each_other_leave_exactly_the_first_remover() {
    let (owner, a, b) = (node("owner"), node("a"), node("b"));
    let mut log = Log::default();
    log.op(&owner, 1, &add(&a, Role::Admin))
        .op(&owner, 2, &add(&b, Role::Admin))
        .op(&b, 20, &remove(&a, Cutoff::new()))
        .op(&a, 10, &remove(&b, Cutoff::new()));
    let state = log.fold(&owner);
    assert_eq!(state.role(&a), Some(Role::Admin), "a's removal sorts first");
    assert_eq!(state.role(&b), None);
}

#[test]
fn an_add_and_a_remove_of_one_key_resolve_by_read_order() {
    let (owner, a, x) = (node("owner"), node("a"), node("x"));
    let mut later_add = Log::default();
    later_add
        .op(&owner, 1, &add(&a, Role::Admin))
        .op(&owner, 2, &add(&x, Role::Writer))
        .op(&owner, 10, &remove(&x, Cutoff::new()))
        .op(&a, 11, &add(&x, Role::Reader));
    assert_eq!(later_add.fold(&owner).role(&x), Some(Role::Reader));
    let mut later_remove = Log::default();
    later_remove
        .op(&owner, 1, &add(&a, Role::Admin))
        .op(&a, 10, &add(&x, Role::Reader))
        .op(&owner, 11, &remove(&x, Cutoff::new()));
    assert_eq!(later_remove.fold(&owner).role(&x), None);
}

#[test]
fn removal_keeps_entries_up_to_the_cutoff_and_denies_later_ones() {
    let (owner, w) = (node("owner"), node("w"));
    let mut log = Log::default();
    log.op(&owner, 1, &add(&w, Role::Writer)).op(
        &owner,
        5,
        &remove(&w, Cutoff::from([(notes(), 3), (StreamId::control(), 0)])),
    );
    let state = log.fold(&owner);
    assert_eq!(state.permission(&notes(), &w, 3), Permission::Allowed);
    assert_eq!(state.permission(&notes(), &w, 4), Permission::Denied);
    let other = StreamId::new("other").unwrap();
    assert_eq!(state.permission(&other, &w, 1), Permission::Denied);
    // Its later control entries are kept (what replicas keep only grows)
    // but never count.
    assert_eq!(
        state.permission(&StreamId::control(), &w, 1),
        Permission::Allowed
    );
    log.op(&w, 9, &add(&node("friend"), Role::Writer));
    assert_eq!(log.fold(&owner).role(&node("friend")), None);
    assert_eq!(
        state.permission(&notes(), &node("stranger"), 1),
        Permission::Unknown
    );
}

#[test]
fn a_writer_added_again_writes_again() {
    let (owner, w) = (node("owner"), node("w"));
    let mut log = Log::default();
    log.op(&owner, 1, &add(&w, Role::Writer))
        .op(&owner, 2, &remove(&w, Cutoff::from([(notes(), 3)])))
        .op(&owner, 3, &add(&w, Role::Writer));
    let state = log.fold(&owner);
    assert_eq!(state.permission(&notes(), &w, 100), Permission::Allowed);
    assert_eq!(state.cutoff(&w), None);
}

#[test]
fn a_demoted_reader_keeps_its_history_and_may_still_leave() {
    let (owner, w) = (node("owner"), node("w"));
    let mut log = Log::default();
    log.op(&owner, 1, &add(&w, Role::Writer)).op(
        &owner,
        2,
        &change(&w, Role::Reader, Cutoff::from([(notes(), 2)])),
    );
    let state = log.fold(&owner);
    assert_eq!(state.role(&w), Some(Role::Reader));
    assert_eq!(state.permission(&notes(), &w, 2), Permission::Allowed);
    assert_eq!(state.permission(&notes(), &w, 3), Permission::Denied);
    assert_eq!(
        state.permission(&StreamId::control(), &w, 9),
        Permission::Allowed
    );
    // The reader leaves: its data cut-off stays where the demotion put it.
    log.op(
        &w,
        3,
        &remove(&w, Cutoff::from([(notes(), 7), (StreamId::control(), 1)])),
    );
    let state = log.fold(&owner);
    assert_eq!(state.role(&w), None);
    assert_eq!(state.permission(&notes(), &w, 3), Permission::Denied);
    assert_eq!(
        state.permission(&StreamId::control(), &w, 1),
        Permission::Allowed
    );
}

#[test]
fn only_admins_manage_and_nobody_touches_the_owner() {
    let (owner, admin, writer, reader) =
        (node("owner"), node("admin"), node("writer"), node("reader"));
    let mut state = ControlState::genesis(owner.clone());
    assert!(state.apply(&owner, &add(&admin, Role::Admin)));
    assert!(state.apply(&admin, &add(&writer, Role::Writer)));
    assert!(state.apply(&admin, &add(&reader, Role::Reader)));
    let x = node("x");
    for member in [&writer, &reader, &x] {
        assert!(!state.apply(member, &add(&x, Role::Reader)), "{member:?}");
        assert!(!state.apply(
            member,
            &ControlOp::SetDefaultStreamConfig {
                config: crate::StreamConfig::default().max_payload_bytes(1)
            }
        ));
    }
    assert!(!state.apply(&admin, &remove(&owner, Cutoff::new())));
    assert!(!state.apply(&admin, &change(&owner, Role::Reader, Cutoff::new())));
    assert!(!state.apply(&admin, &add(&x, Role::Owner)));
    assert!(!state.apply(&admin, &change(&writer, Role::Owner, Cutoff::new())));
    assert!(
        !state.apply(&admin, &add(&writer, Role::Admin)),
        "already a member"
    );
    assert!(!state.apply(
        &admin,
        &ControlOp::SetStreamConfig {
            stream: StreamId::control(),
            config: crate::StreamConfig::default()
        }
    ));
    assert_eq!(state.role(&owner), Some(Role::Owner));
    // Any member may leave.
    assert!(state.apply(&reader, &remove(&reader, Cutoff::new())));
    assert_eq!(state.role(&reader), None);
}

#[test]
fn a_removed_admin_cannot_act_by_back_dating() {
    let (owner, a, victim) = (node("owner"), node("a"), node("victim"));
    let mut log = Log::default();
    log.op(&owner, 10, &add(&a, Role::Admin))
        .op(&owner, 11, &add(&victim, Role::Writer))
        .op(
            &owner,
            20,
            &remove(&a, Cutoff::from([(StreamId::control(), 0)])),
        )
        // Written after its removal, dated before it.
        .op(&a, 15, &remove(&victim, Cutoff::new()));
    let state = log.fold(&owner);
    assert_eq!(state.role(&victim), Some(Role::Writer));
    assert_eq!(state.role(&a), None);
}

#[test]
fn stream_settings_fold_and_the_control_stream_keeps_its_own() {
    let (owner, admin) = (node("owner"), node("admin"));
    let mut log = Log::default();
    log.op(&owner, 1, &add(&admin, Role::Admin)).op(
        &admin,
        2,
        &ControlOp::SetStreamConfig {
            stream: notes(),
            config: crate::StreamConfig::default().max_payload_bytes(10),
        },
    );
    let state = log.fold(&owner);
    assert_eq!(state.stream_config(&notes()).max_payload_bytes, 10);
    assert_eq!(
        state.stream_config(&StreamId::control()).max_payload_bytes,
        super::MAX_CONTROL_OP_BYTES
    );
}

#[test]
fn decoding_refuses_what_is_not_an_operation() {
    let op = add(&node("x"), Role::Writer);
    let bytes = op.encode();
    assert_eq!(ControlOp::decode(&bytes).unwrap(), op);
    assert!(ControlOp::decode(&[]).is_err());
    let mut wrong_version = bytes.to_vec();
    wrong_version[0] = 9;
    assert!(ControlOp::decode(&wrong_version).is_err());
    let mut trailing = bytes.to_vec();
    trailing.push(0);
    assert!(ControlOp::decode(&trailing).is_err());
    assert!(ControlOp::decode(&bytes[..bytes.len() - 1]).is_err());
    let long = ControlOp::AddMember {
        member: node("x"),
        role: Role::Writer,
        label: "x".repeat(super::MAX_LABEL_LEN + 1),
    };
    assert!(matches!(
        ControlOp::decode(&long.encode()),
        Err(crate::Error::InvalidControlOp { .. })
    ));
    // Garbage in a log is skipped by the fold.
    let mut entry = LogEntry::new(node("owner"), 1, Hlc::new(1, 0).unwrap(), vec![1, 0xff]);
    entry.payload = bytes::Bytes::from_static(&[1, 0xff, 0xff]);
    let state = ControlState::fold(node("owner"), [&entry]);
    assert_eq!(state, ControlState::genesis(node("owner")));
}

const PEOPLE: [&str; 5] = ["owner", "a", "b", "c", "d"];

fn person(i: usize) -> NodeId {
    node(PEOPLE[i % PEOPLE.len()])
}

/// One generated operation: (author, timestamp, kind, target, role, cutoff).
type Step = (usize, u64, u8, usize, u8, u64);

fn role_of(i: u8) -> Role {
    [Role::Reader, Role::Writer, Role::Admin][usize::from(i % 3)]
}

fn op_of(&(_, _, kind, target, role, cutoff): &Step) -> ControlOp {
    let target = person(target);
    let cutoff = Cutoff::from([(notes(), cutoff), (StreamId::control(), cutoff)]);
    match kind % 4 {
        0 | 1 => add(&target, role_of(role)),
        2 => remove(&target, cutoff),
        _ => change(&target, role_of(role), cutoff),
    }
}

/// A replica receiving `entries` in `order`: it keeps an entry once its
/// author's previous one is kept and the fold of what it keeps allows it,
/// and retries the others as anti-entropy would.
fn replicate(owner: &NodeId, entries: &[LogEntry], order: &[usize]) -> Vec<LogEntry> {
    let control = StreamId::control();
    let mut held: Vec<LogEntry> = Vec::new();
    let mut waiting: Vec<LogEntry> = Vec::new();
    for &i in order {
        waiting.push(entries[i].clone());
        loop {
            let state = ControlState::fold(owner.clone(), held.iter());
            let next = waiting.iter().position(|e| {
                let last = held
                    .iter()
                    .filter(|h| h.author == e.author)
                    .map(|h| h.sequence)
                    .max()
                    .unwrap_or(0);
                e.sequence == last + 1
                    && state.permission(&control, &e.author, e.sequence) == Permission::Allowed
            });
            match next {
                Some(i) => held.push(waiting.remove(i)),
                None => break,
            }
        }
    }
    held
}

/// `entries` in (author, sequence) order, to compare as sets.
fn as_set(entries: &[LogEntry]) -> Vec<LogEntry> {
    let mut set = entries.to_vec();
    set.sort_by_key(|e| (e.author.clone(), e.sequence));
    set
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Replicas that receive the same control entries in different orders
    /// keep the same entries and fold to the same membership.
    #[test]
    fn the_control_log_converges_whatever_the_delivery_order(
        steps in prop::collection::vec(
            (0usize..5, 1u64..40, any::<u8>(), 1usize..5, any::<u8>(), 0u64..3),
            1..14,
        ),
        seed in any::<u64>(),
    ) {
        let owner = person(0);
        let mut log = Log::default();
        // The owner starts by adding everyone with some role, so that the
        // others' operations have a chance to count.
        for (i, role) in [(1, Role::Admin), (2, Role::Admin), (3, Role::Writer)] {
            log.op(&owner, i as u64, &add(&person(i), role));
        }
        for step in &steps {
            log.op(&person(step.0), step.1, &op_of(step));
        }
        let n = log.entries.len();
        let forward: Vec<usize> = (0..n).collect();
        let backward: Vec<usize> = (0..n).rev().collect();
        let mut shuffled = forward.clone();
        crate::domain::SeededRng::new(seed).shuffle(&mut shuffled);
        let a = replicate(&owner, &log.entries, &forward);
        let b = replicate(&owner, &log.entries, &backward);
        let c = replicate(&owner, &log.entries, &shuffled);
        prop_assert_eq!(as_set(&a), as_set(&b));
        prop_assert_eq!(as_set(&a), as_set(&c));
        // Each replica folds what it holds in the order it arrived.
        let state = ControlState::fold(owner.clone(), &a);
        prop_assert_eq!(&state, &ControlState::fold(owner.clone(), &c));
        // Every data entry is judged alike everywhere.
        for author in PEOPLE.iter().map(|p| node(p)) {
            for seq in 0..4 {
                prop_assert_eq!(
                    state.permission(&notes(), &author, seq),
                    ControlState::fold(owner.clone(), &b).permission(&notes(), &author, seq)
                );
            }
        }
    }
}

#[test]
fn members_announce_their_own_addresses_and_strangers_cannot() {
    let (owner, phone, stranger) = (node("owner"), node("phone"), node("stranger"));
    let mut log = Log::default();
    let announce = |a: &str| ControlOp::SetAddresses {
        addresses: vec![a.to_owned()],
    };
    log.op(&owner, 1, &add(&phone, Role::Reader))
        .op(&phone, 2, &announce("10.0.0.2:7000"))
        .op(&phone, 3, &announce("10.0.0.2:7001"))
        .op(&stranger, 4, &announce("6.6.6.6:1"));
    let state = log.fold(&owner);
    assert_eq!(
        state.addresses(&phone),
        ["10.0.0.2:7001"],
        "the latest counts"
    );
    assert!(state.addresses(&stranger).is_empty());
    let too_many = ControlOp::SetAddresses {
        addresses: vec!["a".into(); super::MAX_MEMBER_ADDRESSES + 1],
    };
    assert!(ControlOp::decode(&too_many.encode()).is_err());
}
