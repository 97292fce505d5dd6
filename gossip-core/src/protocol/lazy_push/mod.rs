//! Lazy push for large channels, in the spirit of PlumTree (Leitão et al.
//! 2007): new entries travel eagerly along a push tree carved out of the
//! channel's members, and lazily, as announcements (`IHave`: stream, author,
//! highest sequence), to the other members; an announced entry still
//! missing after [`graft_timeout`](LazyPushConfig::graft_timeout) is asked
//! for (`Graft`), which also makes that link eager again; an announced
//! entry that anti-entropy delivered before any push did grafts its
//! announcer too (with nothing to ask for), so that a node the tree lost is
//! taken in again rather than fed by anti-entropy for good. A run of
//! [`prune_after`](LazyPushConfig::prune_after) duplicate pushes asks their
//! sender to stop (`Prune`). A link is pruned one way, by the node it
//! delivers to: the pruning node keeps pushing to the sender, which may
//! have no faster parent than it (PlumTree prunes both ways; with jitter
//! between links, two nodes racing each other's parents then pruned each
//! other off the tree, and the node left without a parent waited for an
//! announcement or anti-entropy). An entry then costs about one push per
//! member plus a few announcements, not members × fanout pushes.
//!
//! Channels whose other members number at most the fanout do not use it:
//! the originator pushes to all of them itself (see
//! [`EagerPush`](super::push::EagerPush)).
//!
//! The engine is sans-IO: it never reads a clock (times come in as
//! milliseconds) and never sends; it returns the messages to send. Every
//! piece of state it keeps is bounded: the tree by the channel's members,
//! announcements by [`max_announcements`](LazyPushConfig::max_announcements),
//! missing entries by [`max_missing`](LazyPushConfig::max_missing) (a
//! quarter per announcer) and [`missing_ttl`](LazyPushConfig::missing_ttl).
//!
//! ```
//! use gossip_core::protocol::lazy_push::{LazyPush, LazyPushConfig};
//! use gossip_core::{raw::SeededRng, Channel, ChannelId, NodeId, Role};
//!
//! let me = NodeId::from_seed("n0");
//! let mut channel = Channel::new(ChannelId::derive(&me, "c")?, me.clone());
//! for i in 1..20 {
//!     channel.add_member(NodeId::from_seed(format!("n{i}")), Role::Writer);
//! }
//! let mut lazy = LazyPush::new(4, LazyPushConfig::default(), SeededRng::new(7));
//! assert!(lazy.uses_tree(&channel));
//! // The tree starts with `fanout` random eager links.
//! assert_eq!(lazy.eager_targets(&channel, &me, None, |_| true).len(), 4);
//! # Ok::<(), gossip_core::Error>(())
//! ```

mod announcements;
mod config;
mod delivered;
mod missing;
mod tree;

use std::collections::BTreeMap;

pub use self::config::LazyPushConfig;
use self::{
    announcements::Announcements,
    delivered::Delivered,
    missing::{MissingEntries, MissingKey},
    tree::PushTree,
};
use crate::{
    domain::{Channel, ChannelId, NodeId, SeededRng, StreamId, MAX_SEQUENCE},
    protocol::messages::{
        Announced, Graft, GraftWant, IHave, Message, Prune, MAX_GRAFT_WANTS, MAX_IHAVE_RANGES,
    },
};

/// What a gossip tick of the engine produced.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LazyTick {
    /// Messages to send (`IHave` announcements and `Graft`s), with their
    /// recipient.
    pub sends: Vec<(NodeId, Message)>,
    /// Missing entries given up (too old, or grafted too often):
    /// anti-entropy fetches them.
    pub expired: usize,
}

/// What to do about a push: see [`LazyPush::on_push`].
#[derive(Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushReply {
    /// The message to send back to the pusher (`Prune` or empty `Graft`).
    pub message: Option<Message>,
    /// Whether the caller forwards the (duplicate) entries along the tree
    /// itself: anti-entropy delivered them before the tree did.
    pub forward: bool,
}

/// The lazy push engine of one node: push trees, announcements, missing
/// entries.
#[derive(Debug)]
pub struct LazyPush {
    config: LazyPushConfig,
    fanout: usize,
    rng: SeededRng,
    trees: BTreeMap<ChannelId, PushTree>,
    announcements: Announcements,
    missing: MissingEntries,
    pushed: Delivered,
}

impl LazyPush {
    /// An engine whose trees start with `fanout` eager links per channel,
    /// used by channels of more than `fanout` other members.
    #[must_use]
    pub fn new(fanout: usize, config: LazyPushConfig, rng: SeededRng) -> Self {
        let config_capacity = config.max_announcements;
        Self {
            config,
            fanout,
            rng,
            trees: BTreeMap::new(),
            announcements: Announcements::default(),
            missing: MissingEntries::default(),
            pushed: Delivered::new(config_capacity),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LazyPushConfig {
        &self.config
    }

    /// Whether `channel` is large enough for a push tree: more other
    /// members than the fanout. Smaller channels are pushed to whole by the
    /// originator and nothing is forwarded.
    #[must_use]
    pub fn uses_tree(&self, channel: &Channel) -> bool {
        channel.members().len().saturating_sub(1) > self.fanout
    }

    /// Missing entries tracked (bounded by
    /// [`max_missing`](LazyPushConfig::max_missing)).
    #[must_use]
    pub fn missing(&self) -> usize {
        self.missing.len()
    }

    /// Announcements waiting for the next tick (bounded by
    /// [`max_announcements`](LazyPushConfig::max_announcements)).
    #[must_use]
    pub fn announcements(&self) -> usize {
        self.announcements.len()
    }

    /// The eager links of `channel` (forming its tree on first use).
    pub fn eager(&mut self, channel: &Channel, local: &NodeId) -> Vec<NodeId> {
        self.tree(channel, local).eager().iter().cloned().collect()
    }

    fn tree(&mut self, channel: &Channel, local: &NodeId) -> &mut PushTree {
        let tree = self.trees.entry(channel.id().clone()).or_default();
        tree.refresh(channel, local, self.fanout, &mut self.rng);
        tree
    }

    /// The members to push new entries of `channel` to now: its eager
    /// links other than `exclude` (the node they came from) for which
    /// `reachable` holds. When no eager link is reachable at all, a random
    /// reachable lazy link is promoted first, so that a node whose tree
    /// links all failed still pushes.
    pub fn eager_targets(
        &mut self,
        channel: &Channel,
        local: &NodeId,
        exclude: Option<&NodeId>,
        reachable: impl Fn(&NodeId) -> bool,
    ) -> Vec<NodeId> {
        let fanout = self.fanout;
        let tree = self.trees.entry(channel.id().clone()).or_default();
        tree.refresh(channel, local, fanout, &mut self.rng);
        if !tree.eager().iter().any(&reachable) {
            let mut lazy: Vec<NodeId> = tree
                .lazy(channel, local)
                .into_iter()
                .filter(|m| reachable(m))
                .collect();
            if !lazy.is_empty() {
                let pick = self.rng.below(lazy.len() as u64);
                let peer = lazy.swap_remove(usize::try_from(pick).unwrap_or(0));
                tree.promote(&peer);
            }
        }
        tree.eager()
            .iter()
            .filter(|m| Some(*m) != exclude && reachable(m))
            .cloned()
            .collect()
    }

    /// Queues an announcement to `channel`'s lazy links at the next tick:
    /// this node holds `author`'s entries of `stream` up to `up_to`.
    /// Whether it fits (false: the queue is full; counted by the caller).
    pub fn announce(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        up_to: u64,
    ) -> bool {
        // What this node appended or was pushed: a push of it again is a
        // duplicate worth pruning.
        self.pushed
            .note((channel.clone(), stream.clone(), author.clone()), up_to);
        let capacity = self.config.max_announcements;
        self.announcements
            .add(channel, stream, author, up_to, capacity)
    }

    /// A push of `channel`'s entries arrived from `from`, holding each of
    /// `highest`'s authors' entries of `stream` up to the sequence given
    /// (`have`: the highest this node held before).
    ///
    /// - A first delivery makes the link eager; by a lazy link, the reply
    ///   is an empty `Graft`, so the sender keeps pushing even if it took a
    ///   prune from this node meanwhile (two parents racing must not leave
    ///   this node with none).
    /// - A duplicate of what a push delivered (or this node appended: see
    ///   [`announce`](Self::announce)) counts against the link; at the
    ///   [`prune_after`](LazyPushConfig::prune_after)-th in a row the reply
    ///   is a `Prune`, which makes the link lazy from the sender's side
    ///   only: this node keeps pushing to the sender.
    /// - A duplicate of what anti-entropy delivered first keeps the link,
    ///   and asks the caller to forward the entries along the tree now
    ///   (they reach this node's subtree at tree speed, not at the next
    ///   anti-entropy round's).
    pub fn on_push(
        &mut self,
        channel: &Channel,
        local: &NodeId,
        from: &NodeId,
        stream: &StreamId,
        highest: &[(NodeId, u64)],
        have: impl Fn(&NodeId) -> u64,
    ) -> PushReply {
        let mut reply = PushReply::default();
        if !channel.syncs_with(from) || highest.is_empty() {
            return reply;
        }
        let key = |author: &NodeId| (channel.id().clone(), stream.clone(), author.clone());
        let duplicate = highest.iter().all(|(author, seq)| *seq <= have(author));
        let pushed_before = highest
            .iter()
            .all(|(author, seq)| *seq <= self.pushed.get(&key(author)));
        if duplicate && pushed_before {
            let prune_after = self.config.prune_after;
            let tree = self.tree(channel, local);
            // Only the sender stops (see `on_push`): this node keeps
            // pushing to it.
            if tree.strike(from, prune_after) {
                reply.message = Some(Message::Prune(Prune {
                    channel: channel.id().clone(),
                }));
            }
            return reply;
        }
        for (author, seq) in highest {
            self.pushed.note(key(author), *seq);
        }
        reply.forward = duplicate;
        let tree = self.tree(channel, local);
        tree.clear_strikes(from);
        if !tree.eager().contains(from) {
            tree.promote(from);
            reply.message = Some(Message::Graft(Graft {
                channel: channel.id().clone(),
                wants: Vec::new(),
            }));
        }
        reply
    }

    /// `from` asked not to be pushed `channel`'s entries: the link is lazy
    /// this way (`from` may still push to this node).
    pub fn on_prune(&mut self, channel: &Channel, local: &NodeId, from: &NodeId) {
        self.tree(channel, local).demote(from);
    }

    /// `from` grafted: the link is eager (the caller serves what it asked).
    pub fn on_graft(&mut self, channel: &Channel, local: &NodeId, from: &NodeId) {
        if channel.syncs_with(from) {
            self.tree(channel, local).promote(from);
        }
    }

    /// `from` announced what it holds of `channel`: the ranges this node
    /// lacks (`have`: the highest sequence held of a stream and author) are
    /// tracked, to be grafted after the timeout. Announcements of authors
    /// that are not members, or beyond the largest sequence, are ignored.
    /// Returns how many ranges were refused (tracking full, or `from`'s
    /// share of it).
    pub fn on_ihave(
        &mut self,
        channel: &Channel,
        from: &NodeId,
        ihave: &IHave,
        now_ms: u64,
        have: impl Fn(&StreamId, &NodeId) -> u64,
    ) -> usize {
        if !channel.syncs_with(from) {
            return ihave.ranges.len();
        }
        let (timeout, ttl) = (self.config.graft_timeout_ms(), self.config.missing_ttl_ms());
        let capacity = self.config.max_missing;
        let mut refused = 0;
        for range in &ihave.ranges {
            let known = channel.role(&range.author).is_some();
            if !known
                || range.up_to > MAX_SEQUENCE
                || have(&range.stream, &range.author) >= range.up_to
            {
                continue;
            }
            let key = (
                channel.id().clone(),
                range.stream.clone(),
                range.author.clone(),
            );
            if !self
                .missing
                .note(key, from, range.up_to, now_ms, timeout, ttl, capacity)
            {
                refused += 1;
            }
        }
        refused
    }

    /// The gossip tick at `now_ms`: grafts for missing entries past their
    /// timeout (making those links eager), then the announcements queued
    /// since the last tick, to [`lazy_fanout`](LazyPushConfig::lazy_fanout)
    /// random reachable lazy links of each channel. `channels` are the
    /// channels held (trees of others are forgotten); `have` is the highest
    /// sequence held of a channel's stream and author.
    pub fn tick(
        &mut self,
        now_ms: u64,
        channels: &BTreeMap<ChannelId, Channel>,
        local: &NodeId,
        reachable: impl Fn(&NodeId) -> bool,
        have: impl Fn(&ChannelId, &StreamId, &NodeId) -> u64,
    ) -> LazyTick {
        self.trees.retain(|id, _| channels.contains_key(id));
        let timeout = self.config.graft_timeout_ms();
        let pushed = &self.pushed;
        let due = self.missing.due(
            now_ms,
            timeout,
            |(c, s, a): &MissingKey| have(c, s, a),
            |key: &MissingKey| pushed.get(key),
        );
        let mut tick = LazyTick {
            expired: due.expired,
            ..LazyTick::default()
        };
        let mut grafts: BTreeMap<(NodeId, ChannelId), Vec<GraftWant>> = BTreeMap::new();
        for graft in due.grafts {
            let (channel, stream, author) = graft.key;
            let after = have(&channel, &stream, &author);
            grafts
                .entry((graft.to, channel))
                .or_default()
                .push(GraftWant {
                    stream,
                    author,
                    after,
                    up_to: graft.up_to,
                });
        }
        // Announced entries that anti-entropy delivered before any push
        // did: the tree lost this node (its parents pruned it, racing).
        // Grafting the announcer takes it in again; waiting for a missing
        // entry would not, since anti-entropy keeps winning that race.
        for (to, channel) in due.rejoin {
            grafts.entry((to, channel)).or_default();
        }
        for ((to, channel_id), wants) in grafts {
            let Some(channel) = channels.get(&channel_id) else {
                continue;
            };
            self.tree(channel, local).promote(&to);
            if wants.is_empty() {
                tick.sends.push((
                    to.clone(),
                    Message::Graft(Graft {
                        channel: channel_id.clone(),
                        wants,
                    }),
                ));
                continue;
            }
            for chunk in wants.chunks(MAX_GRAFT_WANTS) {
                let message = Message::Graft(Graft {
                    channel: channel_id.clone(),
                    wants: chunk.to_vec(),
                });
                tick.sends.push((to.clone(), message));
            }
        }
        for (channel_id, pending) in self.announcements.take() {
            let Some(channel) = channels.get(&channel_id) else {
                continue;
            };
            let ranges: Vec<Announced> = pending
                .into_iter()
                .map(|((stream, author), up_to)| Announced {
                    stream,
                    author,
                    up_to,
                })
                .collect();
            let mut lazy: Vec<NodeId> = self
                .tree(channel, local)
                .lazy(channel, local)
                .into_iter()
                .filter(|m| reachable(m))
                .collect();
            self.rng.shuffle(&mut lazy);
            for to in lazy.into_iter().take(self.config.lazy_fanout) {
                for chunk in ranges.chunks(MAX_IHAVE_RANGES) {
                    let message = Message::IHave(IHave {
                        channel: channel_id.clone(),
                        ranges: chunk.to_vec(),
                    });
                    tick.sends.push((to.clone(), message));
                }
            }
        }
        tick
    }
}

#[cfg(test)]
mod tests;
