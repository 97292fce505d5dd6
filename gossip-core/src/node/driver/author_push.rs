//! Author pushes ([`AuthorPush`]): this node's own new entries pushed
//! without their author and, to a peer known to hold the entry before,
//! without its link; and the receiving side, which supplies both.
//!
//! The sender knows a peer holds its entry before a run when it pushed that
//! entry to the peer itself (frames on one connection arrive in order and
//! are handled in order) or when the peer said so (digests,
//! acknowledgements); it then names the stream by its tag too. The receiver
//! finds the stream among its own by the tag and supplies the link from the
//! last entry it accepted from the author's pushes, or else reads it from
//! the store; a receiver that does not hold it grafts the run from its
//! author, who answers with a self-contained `Push`.

use std::collections::HashMap;

use bytes::Bytes;

use super::{lazy::held, Driver};
use crate::{
    domain::{ChannelId, EntryHash, LogEntry, NodeId, StreamId},
    error::Error,
    protocol::{
        anti_entropy::ReplicaIndex, codec, AuthorPush, Graft, GraftWant, Message, StreamRef,
        StreamTag,
    },
};

type Key = (NodeId, ChannelId, StreamId);

/// What this node remembers to leave links out of its pushes and to supply
/// the links others left out. Bounded by peers × streams; forgotten with
/// the peer or the channel.
#[derive(Debug, Default)]
pub(super) struct AuthorPushes {
    /// Per peer and stream: the last of our sequences pushed to the peer.
    pushed: HashMap<Key, u64>,
    /// Per author and stream: the sequence and hash of the author's last
    /// entry accepted from one of its pushes.
    heads: HashMap<Key, (u64, EntryHash)>,
    /// The streams held, by tag (`None`: two streams share the tag), and
    /// how many streams the index held when this was built.
    tags: HashMap<StreamTag, Option<(ChannelId, StreamId)>>,
    tagged_streams: Option<usize>,
}

impl AuthorPushes {
    /// The stream held under `tag`, if exactly one is. Tags are computed
    /// again when the index holds another number of streams than when they
    /// were last computed: at most once per stream created, whatever tags
    /// peers send.
    fn stream_of(
        &mut self,
        tag: StreamTag,
        index: &ReplicaIndex,
        channels: impl Iterator<Item = ChannelId>,
    ) -> Option<(ChannelId, StreamId)> {
        if let Some(found) = self.tags.get(&tag) {
            return found.clone();
        }
        let count = index.stream_count();
        if self.tagged_streams == Some(count) {
            return None;
        }
        self.tags.clear();
        for channel in channels {
            for stream in index.streams(&channel) {
                let held = Some((channel.clone(), stream.clone()));
                self.tags
                    .entry(StreamTag::of(&channel, stream))
                    .and_modify(|found| *found = None)
                    .or_insert(held);
            }
        }
        self.tagged_streams = Some(count);
        self.tags.get(&tag).cloned().flatten()
    }

    /// Forgets `peer`.
    pub(super) fn forget_peer(&mut self, peer: &NodeId) {
        self.pushed.retain(|(p, _, _), _| p != peer);
        self.heads.retain(|(p, _, _), _| p != peer);
    }

    /// Forgets what is known of `channel`.
    pub(super) fn forget_channel(&mut self, channel: &ChannelId) {
        self.pushed.retain(|(_, c, _), _| c != channel);
        self.heads.retain(|(_, c, _), _| c != channel);
        self.tags.clear();
        self.tagged_streams = None;
    }
}

/// One run of this node's entries, encoded for a peer that holds the entry
/// before it and for one that may not.
pub(super) struct OwnRun {
    first: u64,
    last: u64,
    stated: Bytes,
    left_out: Bytes,
}

impl Driver {
    /// `entries` as an author push, when they are one run of this node's
    /// own that fits in one frame.
    pub(super) fn own_run(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) -> Option<OwnRun> {
        if entries.iter().any(|e| e.author != self.local) {
            return None;
        }
        let push = AuthorPush::of_run(channel.clone(), stream.clone(), entries, true)?;
        let (first, last) = (push.first, push.last());
        let stated = codec::encode(&Message::AuthorPush(push));
        if stated.len() > self.link.max_frame_len() {
            return None;
        }
        let push = AuthorPush::of_run(channel.clone(), stream.clone(), entries, false)?;
        Some(OwnRun {
            first,
            last,
            stated,
            left_out: codec::encode(&Message::AuthorPush(push)),
        })
    }

    /// Pushes `run` to `targets`, without its link to those that hold the
    /// entry before it.
    pub(super) async fn push_own(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        run: &OwnRun,
        targets: Vec<NodeId>,
    ) {
        for target in targets {
            let key = (target, channel.clone(), stream.clone());
            let before = run.first - 1;
            let holds_before = before == 0
                || self.author_pushes.pushed.get(&key) == Some(&before)
                || self.peer_sync.view(&key.0).is_some_and(|view| {
                    view.versions
                        .get(&(key.1.clone(), key.2.clone()))
                        .is_some_and(|v| v.get(&self.local) >= before)
                });
            let frame = if holds_before {
                run.left_out.clone()
            } else {
                run.stated.clone()
            };
            if self.send(&key.0, frame).await {
                self.stats.push_frames_out += 1;
                self.author_pushes.pushed.insert(key, run.last);
            } else {
                self.stats.push_dropped += 1;
            }
        }
    }

    /// Handles an author push: supplies its author (the sender) and, when
    /// left out, its link, then handles it as a [`Push`](crate::protocol::Push).
    /// A run whose entry before this node does not hold is grafted from its
    /// author instead.
    pub(super) async fn receive_author_push(&mut self, from: NodeId, push: AuthorPush) {
        let (channel_id, stream) = match &push.to {
            StreamRef::Named(channel, stream) => (channel.clone(), stream.clone()),
            StreamRef::Tagged(tag) => {
                let channels = self.replica.channels.keys().cloned();
                let index = &self.replica.index;
                let Some(held) = self.author_pushes.stream_of(*tag, index, channels) else {
                    // Told we hold a stream we do not (any more): anti-entropy
                    // brings the entries if we hold it again.
                    self.stats.author_pushes_unlinked += 1;
                    return;
                };
                held
            }
        };
        let Some(channel) = self.replica.channels.get(&channel_id) else {
            return;
        };
        if !channel.syncs_with(&from) {
            let error = Error::NonMember {
                channel: channel_id,
                author: from.clone(),
                count: push.entries.len(),
            };
            self.report(error, Some(&from));
            return;
        }
        let last = push.last();
        let link = match push.previous {
            Some(stated) => Some(stated),
            None => {
                self.held_link(&from, &channel_id, &stream, push.first)
                    .await
            }
        };
        let Some(link) = link else {
            self.graft_run(&from, channel_id, stream, last).await;
            return;
        };
        let key = (from.clone(), channel_id.clone(), stream.clone());
        let (push, hashes) = push.into_push(&from, (channel_id, stream), link);
        let last_hash = hashes.last().copied();
        let accepted = self.receive_push_hashed(from.clone(), push, hashes).await;
        if let Some(hash) = last_hash {
            if accepted
                .iter()
                .any(|e| e.author == from && e.sequence == last)
            {
                self.author_pushes.heads.insert(key, (last, hash));
            }
        }
    }

    /// The hash of `author`'s entry at `first - 1` in a stream, when this
    /// node holds it.
    async fn held_link(
        &mut self,
        author: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        first: u64,
    ) -> Option<EntryHash> {
        let before = first.checked_sub(1)?;
        if before == 0 {
            return Some(EntryHash::GENESIS);
        }
        let key = (author.clone(), channel.clone(), stream.clone());
        if let Some(&(seq, hash)) = self.author_pushes.heads.get(&key) {
            if seq == before {
                return Some(hash);
            }
        }
        if held(&self.replica.index, channel, stream, author) < before {
            return None;
        }
        match self
            .store
            .read_author(channel, stream, author, before - 1, 1)
            .await
        {
            Ok(page) => page
                .first()
                .filter(|e| e.sequence == before)
                .map(|e| e.hash(channel, stream)),
            Err(error) => {
                self.report(Error::Store(error), Some(author));
                None
            }
        }
    }

    /// Asks `author` for its entries of a stream after what this node holds,
    /// up to `last` (nothing when it holds them all).
    async fn graft_run(
        &mut self,
        author: &NodeId,
        channel: ChannelId,
        stream: StreamId,
        last: u64,
    ) {
        let after = held(&self.replica.index, &channel, &stream, author);
        if after >= last {
            return;
        }
        self.stats.author_pushes_unlinked += 1;
        let graft = Message::Graft(Graft {
            channel,
            wants: vec![GraftWant {
                stream,
                author: author.clone(),
                after,
                up_to: last,
            }],
        });
        self.send_lazy(author, &graft).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        node::{
            command::Lifecycle,
            driver::fixture::{node, Fixture},
        },
        ports::{PeerRecord, Store},
        protocol::Push,
    };

    /// The messages among `sent` to `to`.
    fn sent_to(sent: &[(NodeId, Bytes)], to: &str) -> Vec<Message> {
        sent.iter()
            .filter(|(peer, _)| *peer == node(to))
            .filter_map(|(_, frame)| codec::decode(frame, 1 << 20).ok())
            .collect()
    }

    fn author_pushes(messages: &[Message]) -> Vec<&AuthorPush> {
        messages
            .iter()
            .filter_map(|m| match m {
                Message::AuthorPush(push) => Some(push),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn own_appends_go_without_author_and_without_the_link_the_peer_was_sent() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        f.driver.peers.insert(PeerRecord::new(node("b")));
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let mut written = Vec::new();
        for i in 0..3 {
            let payload = Bytes::from(vec![i; 256]);
            written.extend(f.driver.append(&c, &s, vec![payload]).await.unwrap());
        }
        let messages = sent_to(&transport.take_sent(), "b");
        let pushes = author_pushes(&messages);
        assert_eq!(pushes.len(), 3, "{messages:?}");
        for (push, entry) in pushes.iter().zip(&written) {
            assert_eq!(push.first, entry.sequence);
            // Sequence 1 links to genesis; 2 and 3 to entries b was sent,
            // in a stream b holds by then: named by its tag.
            assert_eq!(push.previous, None);
            let tagged = StreamRef::Tagged(StreamTag::of(&c, &s));
            assert_eq!(push.to == tagged, entry.sequence > 1);
        }
        let frame = codec::encode(&Message::AuthorPush(pushes[2].clone()));
        assert!(
            frame.len() - 256 < 112,
            "{} B of overhead",
            frame.len() - 256
        );
        // A peer that was not sent the entry before gets the link stated.
        f.driver.author_pushes.forget_peer(&node("b"));
        let more = f
            .driver
            .append(&c, &s, vec![Bytes::from_static(b"4")])
            .await
            .unwrap();
        let messages = sent_to(&transport.take_sent(), "b");
        let pushes = author_pushes(&messages);
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].previous, Some(more[0].previous));
    }

    #[tokio::test]
    async fn a_receiver_supplies_the_author_and_the_link_it_holds() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let entries = f.entries("b", 1..=3, 10);
        for entry in &entries {
            let push = AuthorPush::of_run(c.clone(), s.clone(), std::slice::from_ref(entry), false)
                .unwrap();
            f.driver.receive_author_push(node("b"), push).await;
        }
        assert_eq!(f.driver.stats.entries_merged, 3);
        assert_eq!(f.driver.stats.author_pushes_unlinked, 0);
        let held = f
            .store
            .read_author(&c, &s, &node("b"), 0, 10)
            .await
            .unwrap();
        assert_eq!(held, entries);
        assert!(f.errors().is_empty());
        // After a restart-like loss of the cache, the link comes from the store.
        f.driver.author_pushes.forget_peer(&node("b"));
        let next = f.entries("b", 4..=4, 10);
        let push = AuthorPush::of_run(c.clone(), s.clone(), &next, false).unwrap();
        f.driver.receive_author_push(node("b"), push).await;
        assert_eq!(f.driver.stats.entries_merged, 4);
        assert!(transport
            .take_sent()
            .iter()
            .all(|(_, frame)| !matches!(codec::decode(frame, 1 << 20), Ok(Message::Graft(_)))));
    }

    #[tokio::test]
    async fn a_run_whose_entry_before_is_missing_is_grafted_from_its_author() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let (c, s) = (f.channel.clone(), f.stream.clone());
        f.driver
            .receive_push(
                node("b"),
                Push {
                    channel: c.clone(),
                    stream: s.clone(),
                    entries: f.entries("b", 1..=1, 10),
                },
            )
            .await;
        transport.take_sent();
        // Entry 2's push was lost: entry 3 arrives without its link.
        let third = f.entries("b", 3..=3, 10);
        let push = AuthorPush::of_run(c.clone(), s.clone(), &third, false).unwrap();
        f.driver.receive_author_push(node("b"), push).await;
        assert_eq!(f.driver.stats.entries_merged, 1);
        assert_eq!(f.driver.stats.author_pushes_unlinked, 1);
        assert!(f.errors().is_empty(), "an honest loss is not an attack");
        let grafts: Vec<Graft> = sent_to(&transport.take_sent(), "b")
            .into_iter()
            .filter_map(|m| match m {
                Message::Graft(graft) => Some(graft),
                _ => None,
            })
            .collect();
        assert_eq!(
            grafts,
            [Graft {
                channel: c.clone(),
                wants: vec![GraftWant {
                    stream: s.clone(),
                    author: node("b"),
                    after: 1,
                    up_to: 3
                }]
            }]
        );
        // A stated link needs nothing held: the run is buffered until 2 comes.
        let push = AuthorPush::of_run(c.clone(), s.clone(), &third, true).unwrap();
        f.driver.receive_author_push(node("b"), push).await;
        assert_eq!(f.driver.replica.buffer.len(), 1);
    }

    #[tokio::test]
    async fn a_tag_of_a_stream_not_held_is_dropped_quietly() {
        let (mut f, transport) = Fixture::with_transport(&["b"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let c = f.channel.clone();
        let other = StreamId::new("other").unwrap();
        let entries = f.entries("b", 1..=2, 10);
        let mut push = AuthorPush::of_run(c.clone(), other.clone(), &entries[1..], false).unwrap();
        assert_eq!(push.to, StreamRef::Tagged(StreamTag::of(&c, &other)));
        f.driver.receive_author_push(node("b"), push.clone()).await;
        assert_eq!(f.driver.stats.author_pushes_unlinked, 1);
        push.to = StreamRef::Tagged(StreamTag([9; 8]));
        f.driver.receive_author_push(node("b"), push).await;
        assert_eq!(f.driver.stats.author_pushes_unlinked, 2);
        assert_eq!(f.driver.stats.entries_merged, 0);
        assert!(f.errors().is_empty());
        assert!(transport.take_sent().is_empty());
    }

    #[tokio::test]
    async fn an_author_push_proves_nothing_for_anyone_else() {
        let (mut f, _transport) = Fixture::with_transport(&["b", "m"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let (c, s) = (f.channel.clone(), f.stream.clone());
        // m relays b's entries as its own author push: they are read as
        // m's, and b's signature does not prove them.
        let entries = f.entries("b", 1..=2, 10);
        let push = AuthorPush::of_run(c.clone(), s.clone(), &entries, false).unwrap();
        f.driver.receive_author_push(node("m"), push).await;
        assert_eq!(f.driver.stats.entries_merged, 0);
        assert!(f
            .errors()
            .iter()
            .any(|e| matches!(e, Error::ForgedEntries { author, .. } if *author == node("m"))));
        // A stranger's push is refused, and nothing is asked of it.
        let push = AuthorPush::of_run(c, s, &entries, false).unwrap();
        f.driver.receive_author_push(node("x"), push).await;
        assert!(f
            .errors()
            .iter()
            .any(|e| matches!(e, Error::NonMember { .. })));
        assert_eq!(f.driver.stats.author_pushes_unlinked, 0);
    }
}
