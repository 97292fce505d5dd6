//! Acknowledgements: shortly after entries arrive ([`Config::ack_delay`]),
//! a node tells the peer that pushed them, and their author, how far it now
//! holds that author's entries (an `IHave` per channel, the same message
//! lazy push announces with). The writer so hears from every member that
//! got its entries, directly, whichever way they travelled (its own push,
//! a forward along the push tree, an anti-entropy delta): the lag
//! `health()` reports and durability receipts follow within about one
//! `ack_delay`, not only anti-entropy rounds. Nothing is sent while no
//! entry arrives.
//!
//! [`Config::ack_delay`]: crate::Config::ack_delay

use std::{collections::BTreeMap, time::Duration};

use tokio::time::Instant;

use super::Driver;
use crate::{
    domain::{ChannelId, LogEntry, NodeId, StreamId},
    protocol::{Announced, IHave, Message, MAX_IHAVE_RANGES},
};

/// Most (peer, channel, stream, author) acknowledgements waiting to be
/// sent; more are dropped (anti-entropy still tells).
const MAX_PENDING_ACKS: usize = 4_096;

/// What to acknowledge once the delay is up: per peer, the (channel,
/// stream, author) ranges to tell it about.
#[derive(Debug, Default)]
pub(super) struct Acks {
    pending: BTreeMap<NodeId, BTreeMap<(ChannelId, StreamId, NodeId), ()>>,
    len: usize,
    due: Option<Instant>,
}

impl Acks {
    /// `to` is to hear how far this node holds `author`'s entries in a
    /// stream, at the latest `delay` after `now`.
    pub(super) fn note(
        &mut self,
        to: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        now: Instant,
        delay: Duration,
    ) {
        if self.len >= MAX_PENDING_ACKS {
            return;
        }
        let key = (channel.clone(), stream.clone(), author.clone());
        if self
            .pending
            .entry(to.clone())
            .or_default()
            .insert(key, ())
            .is_none()
        {
            self.len += 1;
            self.due.get_or_insert(now + delay);
        }
    }

    /// When the waiting acknowledgements are to be sent, if any wait.
    pub(super) fn due(&self) -> Option<Instant> {
        self.due
    }

    fn take(&mut self) -> BTreeMap<NodeId, BTreeMap<(ChannelId, StreamId, NodeId), ()>> {
        self.len = 0;
        self.due = None;
        std::mem::take(&mut self.pending)
    }
}

impl Driver {
    /// `from` pushed `authors`' entries in a stream: the pusher hears how
    /// far this node holds them (the authors hear once they are stored,
    /// [`Driver::ack_authors`]).
    pub(super) fn ack_pusher<'a>(
        &mut self,
        from: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        authors: impl IntoIterator<Item = &'a NodeId>,
    ) {
        let (now, delay) = (Instant::now(), self.config.ack_delay);
        for author in authors {
            self.acks.note(from, channel, stream, author, now, delay);
        }
    }

    /// `entries` from a peer were stored: each author other than this node
    /// that is a member of the channel hears how far this node now holds
    /// its entries.
    pub(super) fn ack_authors(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &[LogEntry],
    ) {
        let Some(shared) = self.replica.channels.get(channel) else {
            return;
        };
        let (now, delay) = (Instant::now(), self.config.ack_delay);
        let mut last: Option<&NodeId> = None;
        for entry in entries {
            let author = &entry.author;
            if last == Some(author) || *author == self.local || !shared.syncs_with(author) {
                continue;
            }
            last = Some(author);
            self.acks.note(author, channel, stream, author, now, delay);
        }
    }

    /// Sends each peer due an acknowledgement how far this node holds the
    /// entries it is told about.
    pub(super) async fn send_acks(&mut self) {
        for (to, keys) in self.acks.take() {
            if !self.engines.reachable(&to) {
                continue;
            }
            let mut by_channel: BTreeMap<ChannelId, Vec<Announced>> = BTreeMap::new();
            for (channel, stream, author) in keys.into_keys() {
                let up_to = self.replica.index.version(&channel, &stream).get(&author);
                if up_to > 0 {
                    by_channel.entry(channel).or_default().push(Announced {
                        stream,
                        author,
                        up_to,
                    });
                }
            }
            for (channel, ranges) in by_channel {
                for chunk in ranges.chunks(MAX_IHAVE_RANGES) {
                    let message = Message::IHave(IHave {
                        channel: channel.clone(),
                        ranges: chunk.to_vec(),
                    });
                    self.send_lazy(&to, &message).await;
                }
            }
        }
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
        protocol::{codec, Push},
    };

    /// The `IHave` acknowledgements among `sent`, with their addressees.
    fn acks(sent: &[(NodeId, bytes::Bytes)]) -> Vec<(NodeId, IHave)> {
        sent.iter()
            .filter_map(|(to, frame)| match codec::decode(frame, 1 << 20) {
                Ok(Message::IHave(ihave)) => Some((to.clone(), ihave)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_pusher_hears_after_the_delay_how_far_this_node_holds_what_it_pushed() {
        let (mut f, transport) = Fixture::with_transport(&["b", "c"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let entries = f.entries("b", 1..=3, 10);
        let push = Push {
            channel: c.clone(),
            stream: s.clone(),
            entries,
        };
        let before = Instant::now();
        f.driver.receive_push(node("b"), push).await;
        let due = f.driver.acks.due().expect("an acknowledgement is due");
        assert!(due >= before + f.driver.config.ack_delay);
        assert!(due <= Instant::now() + f.driver.config.ack_delay);
        transport.take_sent();
        f.driver.send_acks().await;
        let sent = transport.take_sent();
        let acks = acks(&sent);
        assert_eq!(acks.len(), 1, "{sent:?}");
        let (to, ihave) = &acks[0];
        assert_eq!(*to, node("b"));
        assert_eq!(ihave.channel, c);
        assert_eq!(
            ihave.ranges,
            [Announced {
                stream: s,
                author: node("b"),
                up_to: 3
            }]
        );
        // Acknowledged once: nothing more, and nothing due, until entries arrive.
        assert_eq!(f.driver.acks.due(), None);
        f.driver.send_acks().await;
        assert!(transport.take_sent().is_empty());
    }

    #[tokio::test]
    async fn the_author_of_forwarded_entries_hears_too_not_only_the_forwarder() {
        let (mut f, transport) = Fixture::with_transport(&["b", "c"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let (c, s) = (f.channel.clone(), f.stream.clone());
        // c forwards b's entries along the push tree.
        let push = Push {
            channel: c.clone(),
            stream: s.clone(),
            entries: f.entries("b", 1..=2, 10),
        };
        f.driver.receive_push(node("c"), push).await;
        transport.take_sent();
        f.driver.send_acks().await;
        let mut acks = acks(&transport.take_sent());
        acks.sort_by(|a, b| a.0.cmp(&b.0));
        let told: Vec<_> = acks.iter().map(|(to, _)| to.clone()).collect();
        assert_eq!(told, [node("b"), node("c")]);
        for (_, ihave) in &acks {
            assert_eq!(
                ihave.ranges,
                [Announced {
                    stream: s.clone(),
                    author: node("b"),
                    up_to: 2
                }]
            );
        }
    }
}
