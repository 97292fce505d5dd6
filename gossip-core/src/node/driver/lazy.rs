//! Lazy push in large channels (see [`LazyPush`](crate::protocol::lazy_push)):
//! pushes along the tree, duplicate pushes pruned, announcements each
//! gossip tick, grafts of missing entries and their answers.

use std::collections::BTreeMap;

use super::{engines::worth_sending, ingest::Origin, sync_state::PushSummary, Driver};
use crate::{
    domain::{ChannelId, LogEntry, NodeId, StreamId},
    protocol::{anti_entropy::ReplicaIndex, codec, Graft, Message, MessageKind, Push},
};

/// The highest sequence of `author` held in a stream (contiguous).
pub(super) fn held(
    index: &ReplicaIndex,
    channel: &ChannelId,
    stream: &StreamId,
    author: &NodeId,
) -> u64 {
    index
        .stream(channel, stream)
        .map_or(0, |digest| digest.version.get(author))
}

impl Driver {
    /// Whether `channel` pushes along a tree (more other members than the
    /// fanout).
    pub(super) fn uses_tree(&self, channel: &ChannelId) -> bool {
        self.replica
            .channels
            .get(channel)
            .is_some_and(|c| self.engines.lazy.uses_tree(c))
    }

    /// A push arrived: in a tree channel, the engine says what it means for
    /// the link ([`LazyPush::on_push`](crate::protocol::lazy_push::LazyPush::on_push));
    /// then its entries are merged (and forwarded along the tree),
    /// duplicates included, so that an author's second history is still
    /// noticed.
    pub(super) async fn receive_push(&mut self, from: NodeId, push: Push) {
        self.receive_push_hashed(from, push, Vec::new()).await;
    }

    /// As [`receive_push`](Self::receive_push), given the entries' hashes
    /// when this node computed them already (an author push's); returns
    /// the entries accepted.
    pub(super) async fn receive_push_hashed(
        &mut self,
        from: NodeId,
        push: Push,
        hashes: Vec<crate::domain::EntryHash>,
    ) -> Vec<LogEntry> {
        let channel = self
            .replica
            .channels
            .get(&push.channel)
            .filter(|c| self.engines.lazy.uses_tree(c));
        let mut forward_again = false;
        if let Some(channel) = channel {
            let mut highest: BTreeMap<&NodeId, u64> = BTreeMap::new();
            for entry in &push.entries {
                let up_to = highest.entry(&entry.author).or_default();
                *up_to = (*up_to).max(entry.sequence);
            }
            let highest: Vec<(NodeId, u64)> =
                highest.into_iter().map(|(a, s)| (a.clone(), s)).collect();
            let index = &self.replica.index;
            let reply = self.engines.lazy.on_push(
                channel,
                &self.local,
                &from,
                &push.stream,
                &highest,
                |author| held(index, &push.channel, &push.stream, author),
            );
            if let Some(message) = reply.message {
                self.send_lazy(&from, &message).await;
            }
            forward_again = reply.forward && self.config.eager_push && self.running();
        }
        if forward_again {
            self.push_along_tree(&push.channel, &push.stream, &push.entries, Some(&from))
                .await;
        }
        let origin = Origin::Peer {
            from: &from,
            forward: true,
        };
        let Push {
            channel,
            stream,
            entries,
        } = push;
        let pushed = PushSummary::of(&from, &entries);
        self.ack_pusher(&from, &channel, &stream, pushed.authors());
        let accepted = self
            .merge(origin, &channel, &stream, entries, hashes, Vec::new())
            .await;
        self.learn_from_push(&from, &channel, &stream, pushed);
        accepted
    }

    /// Pushes `entries` along `channel`'s tree (its eager links other than
    /// `exclude`) and queues their announcement to the lazy links.
    pub(super) async fn push_along_tree(
        &mut self,
        channel_id: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
        exclude: Option<&NodeId>,
    ) {
        let Some(channel) = self.replica.channels.get(channel_id) else {
            return;
        };
        let (swim, peers) = (&self.engines.swim, &self.peers);
        let targets = self
            .engines
            .lazy
            .eager_targets(channel, &self.local, exclude, |n| {
                peers.contains(n) && worth_sending(swim.status(n))
            });
        let mut highest: BTreeMap<&NodeId, u64> = BTreeMap::new();
        for entry in entries {
            let up_to = highest.entry(&entry.author).or_default();
            *up_to = (*up_to).max(entry.sequence);
        }
        for (author, up_to) in highest {
            if !self
                .engines
                .lazy
                .announce(channel_id, stream, author, up_to)
            {
                self.stats.lazy_refused += 1;
            }
        }
        self.push_to(channel_id, stream, entries, targets).await;
    }

    /// The lazy push tick (with each gossip tick): grafts of entries still
    /// missing, then the announcements queued since the last tick.
    pub(super) async fn lazy_tick(&mut self) {
        let now = self.timers.now_ms();
        let (swim, peers, index) = (&self.engines.swim, &self.peers, &self.replica.index);
        let tick = self.engines.lazy.tick(
            now,
            &self.replica.channels,
            &self.local,
            |n| peers.contains(n) && worth_sending(swim.status(n)),
            |c, s, a| held(index, c, s, a),
        );
        self.stats.lazy_expired += tick.expired as u64;
        for (to, message) in tick.sends {
            self.send_lazy(&to, &message).await;
        }
    }

    /// Handles an `IHave`, `Graft` or `Prune` from a known peer. Messages
    /// about channels this node does not hold are ignored.
    pub(super) async fn handle_lazy_message(&mut self, from: NodeId, message: Message) {
        let now = self.timers.now_ms();
        match message {
            Message::IHave(ihave) => {
                self.learn_from_lazy(&from, &ihave.channel, Self::ihave_ranges(&ihave));
                let Some(channel) = self.replica.channels.get(&ihave.channel) else {
                    return;
                };
                let index = &self.replica.index;
                let refused = self
                    .engines
                    .lazy
                    .on_ihave(channel, &from, &ihave, now, |s, a| {
                        held(index, &ihave.channel, s, a)
                    });
                self.stats.lazy_refused += refused as u64;
            }
            Message::Prune(prune) => {
                if let Some(channel) = self.replica.channels.get(&prune.channel) {
                    self.engines.lazy.on_prune(channel, &self.local, &from);
                }
            }
            Message::Graft(graft) => {
                let held = Self::graft_ranges(&graft.wants);
                self.learn_from_lazy(&from, &graft.channel, held);
                self.serve_graft(from, graft, now).await;
            }
            _ => {}
        }
    }

    /// Answers a graft from a member with pushes of what it asked for
    /// (what this node holds of it), at most
    /// [`max_graft_entries`](crate::protocol::lazy_push::LazyPushConfig::max_graft_entries)
    /// entries and within its serve budget; the link becomes eager.
    async fn serve_graft(&mut self, from: NodeId, graft: Graft, now_ms: u64) {
        let Some(channel) = self.replica.channels.get(&graft.channel) else {
            return;
        };
        if !channel.syncs_with(&from) {
            self.stats.lazy_refused += 1;
            return;
        }
        self.engines.lazy.on_graft(channel, &self.local, &from);
        if graft.wants.is_empty() {
            return;
        }
        let Some((entries_allowed, bytes_allowed)) = self.allowance(&from, now_ms) else {
            return;
        };
        let mut entries_left = self
            .engines
            .lazy
            .config()
            .max_graft_entries
            .min(usize::try_from(entries_allowed).unwrap_or(usize::MAX));
        let mut bytes_left = bytes_allowed;
        let (mut served, mut served_bytes) = (0u64, 0u64);
        for want in graft.wants {
            if entries_left == 0 || bytes_left == 0 {
                self.stats.serve_throttled += 1;
                break;
            }
            let up_to = want.up_to.min(held(
                &self.replica.index,
                &graft.channel,
                &want.stream,
                &want.author,
            ));
            if up_to <= want.after {
                continue;
            }
            let limit = usize::try_from(up_to - want.after)
                .unwrap_or(usize::MAX)
                .min(entries_left);
            let page = match self
                .store
                .read_author(
                    &graft.channel,
                    &want.stream,
                    &want.author,
                    want.after,
                    limit,
                )
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    self.report(crate::Error::Store(error), Some(&from));
                    return;
                }
            };
            let mut entries = Vec::with_capacity(page.len());
            for entry in page {
                if entry.sequence > up_to || bytes_left == 0 {
                    break;
                }
                bytes_left = bytes_left.saturating_sub(entry.size_bytes());
                served_bytes = served_bytes.saturating_add(entry.size_bytes());
                entries.push(entry);
            }
            entries_left = entries_left.saturating_sub(entries.len());
            served += entries.len() as u64;
            // Self-contained, links stated: a graft may come from a node
            // that could not supply a link this node left out.
            self.push_self_contained(&graft.channel, &want.stream, entries, vec![from.clone()])
                .await;
        }
        self.peers
            .charge_served(&from, served, served_bytes, now_ms);
    }

    /// Sends one lazy push message, counting it by kind.
    pub(super) async fn send_lazy(&mut self, to: &NodeId, message: &Message) {
        if !self.send(to, codec::encode(message)).await {
            return;
        }
        match message.kind() {
            MessageKind::IHave => self.stats.ihave_frames_out += 1,
            MessageKind::Graft => self.stats.graft_frames_out += 1,
            MessageKind::Prune => self.stats.prune_frames_out += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        node::driver::fixture::{node, Fixture},
        protocol::{Announced, IHave},
    };

    const OTHERS: [&str; 10] = ["b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];

    #[tokio::test]
    async fn a_first_push_makes_its_link_eager_and_a_run_of_duplicates_prunes_it() {
        let (mut f, transport) = Fixture::with_transport(&OTHERS).await;
        f.driver
            .lifecycle(crate::node::command::Lifecycle::Start)
            .await
            .unwrap();
        let (c, s) = (f.channel.clone(), f.stream.clone());
        assert!(f.driver.uses_tree(&c));
        let entries = f.entries("b", 1..=2, 10);
        let push = || Push {
            channel: c.clone(),
            stream: s.clone(),
            entries: entries.clone(),
        };
        let eager = |f: &mut Fixture| {
            let channel = f.driver.replica.channels.get(&c).cloned().unwrap();
            f.driver.engines.lazy.eager(&channel, &node("a"))
        };
        f.driver.receive_push(node("k"), push()).await;
        assert_eq!(f.driver.stats.entries_merged, 2);
        assert!(eager(&mut f).contains(&node("k")));
        // Duplicates prune the link at the `prune_after`-th in a row: `k`
        // is told to stop, and this node still pushes to `k`.
        let prunes_to_k = |transport: &crate::node::driver::fixture::RecordingTransport| {
            transport
                .take_sent()
                .into_iter()
                .filter(|(to, frame)| {
                    *to == node("k")
                        && matches!(
                            crate::protocol::codec::decode(frame, usize::MAX),
                            Ok(Message::Prune(_))
                        )
                })
                .count()
        };
        let prune_after = f.driver.config.lazy_push.prune_after;
        for _ in 1..prune_after {
            f.driver.receive_push(node("k"), push()).await;
        }
        assert_eq!(prunes_to_k(&transport), 0);
        f.driver.receive_push(node("k"), push()).await;
        assert_eq!(prunes_to_k(&transport), 1);
        assert!(eager(&mut f).contains(&node("k")));
        assert_eq!(f.driver.stats.entries_merged, 2);
    }

    #[tokio::test]
    async fn announcements_of_missing_entries_are_tracked_only_from_members() {
        let mut f = Fixture::new(&OTHERS).await;
        let ihave = Message::IHave(IHave {
            channel: f.channel.clone(),
            ranges: vec![Announced {
                stream: f.stream.clone(),
                author: node("b"),
                up_to: 3,
            }],
        });
        f.driver
            .handle_lazy_message(node("stranger"), ihave.clone())
            .await;
        assert_eq!(f.driver.health().await.lazy_missing, 0);
        assert_eq!(f.driver.stats.lazy_refused, 1);
        f.driver.handle_lazy_message(node("c"), ihave).await;
        assert_eq!(f.driver.health().await.lazy_missing, 1);
    }
}
