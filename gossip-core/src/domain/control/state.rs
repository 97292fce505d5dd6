//! [`ControlState`]: membership and settings, the fold of a control log.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{
    op::{ControlOp, Cutoff, MAX_CONTROL_OP_BYTES},
    role::Role,
};
use crate::domain::{channel::StreamConfig, entry::LogEntry, ids::StreamId, node_id::NodeId};

/// A member of a channel: its role and a human label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Member {
    /// What it may do.
    pub role: Role,
    /// A human name for it, chosen by the admin who added it.
    pub label: String,
}

/// Whether an author's entry may be kept, by the control log as folded so
/// far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// A member that may write it, or an entry within its author's cut-off.
    Allowed,
    /// The control log has not (yet) heard of the author: the entry may be
    /// explained by control operations still on their way.
    Unknown,
    /// The author is a member that may not write the stream (a reader), or
    /// the entry lies after its author's cut-off.
    Denied,
}

/// A channel's membership and settings: the deterministic fold of its
/// control log.
///
/// The fold starts from the owner alone (the identity the channel id is
/// derived from) and applies the control entries in **read order**
/// (timestamp, author, sequence); an operation counts only if its author
/// held the needed role at that point (see [`apply`](Self::apply)). Because
/// the fold is a function of the *set* of entries, two replicas holding the
/// same control entries agree on membership and settings whatever order the
/// entries arrived in.
///
/// How concurrent operations resolve (by read order, the later one seeing
/// the earlier one's effect):
/// - **Two admins removing (or demoting) each other**: the removal that
///   sorts first counts; the other's author is no longer an admin at its
///   place and it is ignored. Exactly one of them stays.
/// - **An add and a remove of the same key**: the later one in read order
///   wins.
/// - **An operation by a removed member**: entries after a member's
///   cut-off never count (see [`fold`](Self::fold)), wherever they sort, so
///   a removed admin cannot act by back-dating its operations.
/// - **A cut-off that undoes its own remover** (a removal naming a cut-off
///   below the entry that made its author an admin): the fold leaves out
///   entries once and for all, so the result is still one deterministic
///   function of the set of entries.
///
/// ```
/// use gossip_core::{ControlOp, ControlState, NodeId, Permission, Role, StreamId};
///
/// let owner = NodeId::from_seed("laptop");
/// let phone = NodeId::from_seed("phone");
/// let mut state = ControlState::genesis(owner.clone());
/// let add = ControlOp::AddMember { member: phone.clone(), role: Role::Writer, label: "phone".into() };
/// assert!(state.apply(&owner, &add));
/// assert_eq!(state.role(&phone), Some(Role::Writer));
/// let notes = StreamId::new("notes")?;
/// assert_eq!(state.permission(&notes, &phone, 1), Permission::Allowed);
/// // A writer cannot manage members: the operation does not count.
/// let stranger = NodeId::from_seed("stranger");
/// let sneaky = ControlOp::AddMember { member: stranger.clone(), role: Role::Admin, label: String::new() };
/// assert!(!state.apply(&phone, &sneaky));
/// assert_eq!(state.permission(&notes, &stranger, 1), Permission::Unknown);
/// # Ok::<(), gossip_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlState {
    owner: NodeId,
    members: BTreeMap<NodeId, Member>,
    cutoffs: BTreeMap<NodeId, Cutoff>,
    /// Every key an `AddMember` of the log names (counted or not), and the
    /// owner: whose control entries are kept.
    known: BTreeSet<NodeId>,
    /// Where members said they can be reached.
    addresses: BTreeMap<NodeId, Vec<String>>,
    default_stream: StreamConfig,
    streams: BTreeMap<StreamId, StreamConfig>,
}

impl ControlState {
    /// The state before any operation: `owner` alone, default settings.
    #[must_use]
    pub fn genesis(owner: NodeId) -> Self {
        let members = BTreeMap::from([(
            owner.clone(),
            Member {
                role: Role::Owner,
                label: String::new(),
            },
        )]);
        Self {
            known: BTreeSet::from([owner.clone()]),
            owner,
            members,
            cutoffs: BTreeMap::new(),
            addresses: BTreeMap::new(),
            default_stream: StreamConfig::default(),
            streams: BTreeMap::new(),
        }
    }

    /// Folds a control log: the entries (in any order) of the channel's
    /// control stream, from `genesis(owner)`.
    ///
    /// Entries by an author that may not act (after its cut-off, or not a
    /// member) are left out and the log folded again, until nothing changes:
    /// what a removed member wrote after its cut-off never counts, wherever
    /// it sorts. Left-out sets only grow, so this ends after at most one
    /// pass per entry, and the result is a function of the set of entries.
    /// Payloads that do not decode are skipped.
    #[must_use]
    pub fn fold<'a>(owner: NodeId, entries: impl IntoIterator<Item = &'a LogEntry>) -> Self {
        let mut sorted: Vec<&LogEntry> = entries.into_iter().collect();
        sorted.sort_by(|a, b| {
            (a.timestamp, &a.author, a.sequence).cmp(&(b.timestamp, &b.author, b.sequence))
        });
        let ops: Vec<Option<ControlOp>> = sorted
            .iter()
            .map(|e| ControlOp::decode(&e.payload).ok())
            .collect();
        let mut known = BTreeSet::from([owner.clone()]);
        known.extend(ops.iter().flatten().filter_map(|op| match op {
            ControlOp::AddMember { member, .. } => Some(member.clone()),
            _ => None,
        }));
        // Per author: the first control sequence left out.
        let mut excluded: BTreeMap<NodeId, u64> = BTreeMap::new();
        loop {
            let mut state = Self::genesis(owner.clone());
            for (entry, op) in sorted.iter().zip(&ops) {
                let left_out = excluded
                    .get(&entry.author)
                    .is_some_and(|first| entry.sequence >= *first);
                if let (false, Some(op)) = (left_out, op) {
                    state.apply(&entry.author, op);
                }
            }
            let mut changed = false;
            for entry in &sorted {
                let first = excluded.get(&entry.author).copied().unwrap_or(u64::MAX);
                if !state.may_act(&entry.author, entry.sequence) && entry.sequence < first {
                    excluded.insert(entry.author.clone(), entry.sequence);
                    changed = true;
                }
            }
            if !changed {
                state.known = known;
                return state;
            }
        }
    }

    /// Whether `author`'s control entry `sequence` may count: a member, or
    /// within its cut-off.
    fn may_act(&self, author: &NodeId, sequence: u64) -> bool {
        self.members.contains_key(author)
            || self
                .cutoffs
                .get(author)
                .and_then(|c| c.get(&StreamId::control()))
                .is_some_and(|last| sequence <= *last)
    }

    /// Applies one operation by `author`, if its role allows it at this
    /// point; returns whether it counted.
    ///
    /// - Adding a member needs an admin and a key that is not a member (a
    ///   member's role changes with [`ControlOp::ChangeRole`]); changing a
    ///   role needs an admin; neither makes or touches the owner.
    /// - Removing needs an admin, or is the member leaving; never the owner.
    /// - Settings need an admin; the control stream's own settings are fixed.
    /// - Addresses count for a member, about itself.
    pub fn apply(&mut self, author: &NodeId, op: &ControlOp) -> bool {
        let manager = self.role(author).is_some_and(Role::may_manage);
        match op {
            ControlOp::AddMember {
                member,
                role,
                label,
            } => {
                self.known.insert(member.clone());
                if !manager || *role == Role::Owner || self.members.contains_key(member) {
                    return false;
                }
                self.set_role(member, *role, None);
                if let Some(m) = self.members.get_mut(member) {
                    m.label.clone_from(label);
                }
                true
            }
            ControlOp::RemoveMember { member, cutoff } => {
                let leaving = author == member;
                if !(manager || leaving) || *member == self.owner {
                    return false;
                }
                let Some(removed) = self.members.remove(member) else {
                    return false;
                };
                let mut cutoff = cutoff.clone();
                if let Some(held) = self
                    .cutoffs
                    .get(member)
                    .filter(|_| !removed.role.may_write())
                {
                    // A reader's data writing already stopped at its earlier cut-off.
                    let control = StreamId::control();
                    cutoff.retain(|s, _| *s == control || held.contains_key(s));
                    for (stream, seq) in cutoff.iter_mut().filter(|(s, _)| **s != control) {
                        *seq = (*seq).min(held.get(stream).copied().unwrap_or(0));
                    }
                }
                self.cutoffs.insert(member.clone(), cutoff);
                true
            }
            ControlOp::ChangeRole {
                member,
                role,
                cutoff,
            } => {
                let target = self.role(member);
                if !manager || *role == Role::Owner || target.is_none_or(|r| r == Role::Owner) {
                    return false;
                }
                self.set_role(member, *role, Some(cutoff));
                true
            }
            ControlOp::SetStreamConfig { stream, config } => {
                if !manager || *stream == StreamId::control() {
                    return false;
                }
                self.streams.insert(stream.clone(), config.clone());
                true
            }
            ControlOp::SetDefaultStreamConfig { config } => {
                if !manager {
                    return false;
                }
                self.default_stream = config.clone();
                true
            }
            ControlOp::SetAddresses { addresses } => {
                if self.role(author).is_none() {
                    return false;
                }
                self.addresses.insert(author.clone(), addresses.clone());
                true
            }
        }
    }

    /// Gives `member` `role`; a member that stops writing stops at `cutoff`
    /// (none: nothing it wrote while not a writer counts), one that starts
    /// writing has no cut-off any more.
    fn set_role(&mut self, member: &NodeId, role: Role, cutoff: Option<&Cutoff>) {
        let was_writer = self.role(member).is_some_and(Role::may_write);
        if role.may_write() {
            self.cutoffs.remove(member);
        } else if was_writer {
            let mut cutoff = cutoff.cloned().unwrap_or_default();
            cutoff.remove(&StreamId::control());
            self.cutoffs.insert(member.clone(), cutoff);
        }
        let label = self
            .members
            .get(member)
            .map(|m| m.label.clone())
            .unwrap_or_default();
        self.members.insert(member.clone(), Member { role, label });
    }

    /// The owner: the identity the channel id is derived from.
    #[must_use]
    pub fn owner(&self) -> &NodeId {
        &self.owner
    }

    /// `node`'s role, if it is a member.
    #[must_use]
    pub fn role(&self, node: &NodeId) -> Option<Role> {
        self.members.get(node).map(|m| m.role)
    }

    /// The members and their roles, in key order.
    pub fn members(&self) -> impl ExactSizeIterator<Item = (&NodeId, &Member)> + '_ {
        self.members.iter()
    }

    /// Where `member` said it can be reached (empty if it did not say).
    #[must_use]
    pub fn addresses(&self, member: &NodeId) -> &[String] {
        self.addresses.get(member).map_or(&[], Vec::as_slice)
    }

    /// Where `node`'s writing stops, if it was removed or demoted to reader.
    #[must_use]
    pub fn cutoff(&self, node: &NodeId) -> Option<&Cutoff> {
        self.cutoffs.get(node)
    }

    /// Whether `author`'s entry `sequence` of `stream` may be kept.
    ///
    /// Data streams: writers and above; past a member's role, its entries
    /// up to its cut-off. The control stream keeps every entry of a key the
    /// log has ever named (an operation counts only if [`fold`](Self::fold)
    /// says so), so that what a replica keeps only grows and every replica
    /// ends up folding the same set.
    #[must_use]
    pub fn permission(&self, stream: &StreamId, author: &NodeId, sequence: u64) -> Permission {
        if stream.is_control() {
            return if self.known.contains(author) {
                Permission::Allowed
            } else {
                Permission::Unknown
            };
        }
        if self.role(author).is_some_and(Role::may_write) {
            return Permission::Allowed;
        }
        match self.cutoffs.get(author) {
            Some(cutoff) if cutoff.get(stream).is_some_and(|last| sequence <= *last) => {
                Permission::Allowed
            }
            None if self.role(author).is_none() => Permission::Unknown,
            _ => Permission::Denied,
        }
    }

    /// The settings of `stream`: the channel default unless set explicitly;
    /// the control stream's are fixed (keep all, [`MAX_CONTROL_OP_BYTES`]).
    #[must_use]
    pub fn stream_config(&self, stream: &StreamId) -> &StreamConfig {
        if *stream == StreamId::control() {
            return &CONTROL_STREAM_CONFIG;
        }
        self.streams.get(stream).unwrap_or(&self.default_stream)
    }

    /// The settings of streams not configured explicitly.
    #[must_use]
    pub fn default_stream_config(&self) -> &StreamConfig {
        &self.default_stream
    }

    /// Streams configured explicitly, in order.
    pub fn configured_streams(&self) -> impl Iterator<Item = (&StreamId, &StreamConfig)> + '_ {
        self.streams.iter()
    }
}

static CONTROL_STREAM_CONFIG: std::sync::LazyLock<StreamConfig> =
    std::sync::LazyLock::new(|| StreamConfig::default().max_payload_bytes(MAX_CONTROL_OP_BYTES));
