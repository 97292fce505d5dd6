//! [`MissingEntries`]: entries announced to this node that it does not hold
//! yet, each with a deadline after which it grafts.

use std::collections::BTreeMap;

use crate::domain::{ChannelId, NodeId, StreamId};

/// Announcers remembered per missing entry: the first is grafted first,
/// then the next.
const MAX_ANNOUNCERS: usize = 3;

/// Grafts sent for one missing entry before it is given up (anti-entropy
/// repairs what lazy push could not).
const MAX_GRAFTS: u32 = 3;

/// Where a missing entry is: one author's entries of one stream.
pub(crate) type MissingKey = (ChannelId, StreamId, NodeId);

/// One announced, missing range.
#[derive(Debug, Clone)]
struct Missing {
    /// The highest sequence announced.
    up_to: u64,
    /// Who announced it, first first (at most [`MAX_ANNOUNCERS`]).
    announcers: Vec<NodeId>,
    /// When to graft next (ms).
    deadline_ms: u64,
    /// When to give up (ms).
    expires_ms: u64,
    /// Grafts sent so far.
    grafts: u32,
}

/// A graft due: ask `to` for `key`'s entries after what this node holds, up
/// to `up_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DueGraft {
    pub(crate) to: NodeId,
    pub(crate) key: MissingKey,
    pub(crate) up_to: u64,
}

/// What [`MissingEntries::due`] found.
#[derive(Debug, Default)]
pub(crate) struct Due {
    /// Grafts to send.
    pub(crate) grafts: Vec<DueGraft>,
    /// Announced entries that arrived, but not by a push: the push tree
    /// left this node out, and anti-entropy filled in. The first announcer
    /// of each, to graft (with no wants) so that the tree takes this node
    /// in again.
    pub(crate) rejoin: Vec<(NodeId, ChannelId)>,
    /// Missing entries given up (too old, or grafted too often).
    pub(crate) expired: usize,
}

/// Announced entries not held yet, bounded in total and per first announcer.
#[derive(Debug, Default)]
pub(crate) struct MissingEntries {
    items: BTreeMap<MissingKey, Missing>,
    /// Items per first announcer (the peer charged for them).
    charged: BTreeMap<NodeId, usize>,
}

impl MissingEntries {
    /// Entries tracked.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Notes that `from` announced `key` up to `up_to`, which this node does
    /// not hold; grafts after `timeout_ms`, gives up after `ttl_ms`.
    /// Whether it was tracked (false: `capacity`, or `from`'s quarter of
    /// it, is full).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; times come in as arguments"
    )]
    pub(crate) fn note(
        &mut self,
        key: MissingKey,
        from: &NodeId,
        up_to: u64,
        now_ms: u64,
        timeout_ms: u64,
        ttl_ms: u64,
        capacity: usize,
    ) -> bool {
        if let Some(item) = self.items.get_mut(&key) {
            item.up_to = item.up_to.max(up_to);
            if item.announcers.len() < MAX_ANNOUNCERS && !item.announcers.contains(from) {
                item.announcers.push(from.clone());
            }
            return true;
        }
        let share = (capacity / 4).max(1);
        let charged = self.charged.get(from).copied().unwrap_or(0);
        if self.items.len() >= capacity || charged >= share {
            return false;
        }
        *self.charged.entry(from.clone()).or_default() += 1;
        self.items.insert(
            key,
            Missing {
                up_to,
                announcers: vec![from.clone()],
                deadline_ms: now_ms.saturating_add(timeout_ms),
                expires_ms: now_ms.saturating_add(ttl_ms),
                grafts: 0,
            },
        );
        true
    }

    /// The grafts due at `now_ms`, given what this node holds (`have`:
    /// the highest sequence held of a key) and what pushes delivered
    /// (`pushed`). Entries now held are forgotten (those that no push
    /// delivered name their announcer in [`Due::rejoin`]); so are those
    /// too old or grafted [`MAX_GRAFTS`] times.
    pub(crate) fn due(
        &mut self,
        now_ms: u64,
        timeout_ms: u64,
        have: impl Fn(&MissingKey) -> u64,
        pushed: impl Fn(&MissingKey) -> u64,
    ) -> Due {
        let mut due = Due::default();
        let mut done = Vec::new();
        for (key, item) in &mut self.items {
            if have(key) >= item.up_to {
                if pushed(key) < item.up_to {
                    if let Some(first) = item.announcers.first() {
                        let rejoin = (first.clone(), key.0.clone());
                        if !due.rejoin.contains(&rejoin) {
                            due.rejoin.push(rejoin);
                        }
                    }
                }
                done.push(key.clone());
                continue;
            }
            if now_ms < item.deadline_ms {
                continue;
            }
            if item.grafts >= MAX_GRAFTS || now_ms >= item.expires_ms {
                due.expired += 1;
                done.push(key.clone());
                continue;
            }
            let index = usize::try_from(item.grafts).unwrap_or(0) % item.announcers.len().max(1);
            if let Some(to) = item.announcers.get(index) {
                due.grafts.push(DueGraft {
                    to: to.clone(),
                    key: key.clone(),
                    up_to: item.up_to,
                });
            }
            item.grafts += 1;
            item.deadline_ms = now_ms.saturating_add(timeout_ms);
        }
        for key in done {
            self.remove(&key);
        }
        due
    }

    fn remove(&mut self, key: &MissingKey) {
        let Some(item) = self.items.remove(key) else {
            return;
        };
        if let Some(first) = item.announcers.first() {
            if let Some(count) = self.charged.get_mut(first) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.charged.remove(first);
                }
            }
        }
    }
}
