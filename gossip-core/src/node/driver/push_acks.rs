//! Push acknowledgements: at each gossip tick, a node tells each peer that
//! pushed to it since the last tick how far it now holds what was pushed
//! (an `IHave` per channel, the same message lazy push announces with), so
//! the pusher knows within a tick where its peers stand: the lag
//! `health()` reports and durability receipts follow pushes, not only
//! anti-entropy rounds. Nothing is sent while no push arrives.

use std::collections::BTreeMap;

use super::Driver;
use crate::{
    domain::{ChannelId, NodeId, StreamId},
    protocol::{Announced, IHave, Message, MAX_IHAVE_RANGES},
};

/// Most (pusher, channel, stream, author) acknowledgements waiting for the
/// tick; more are dropped (anti-entropy still tells).
const MAX_PENDING_ACKS: usize = 4_096;

/// What to acknowledge at the next tick: per pusher, the (channel, stream,
/// author) ranges it pushed.
#[derive(Debug, Default)]
pub(super) struct PushAcks {
    pending: BTreeMap<NodeId, BTreeMap<(ChannelId, StreamId, NodeId), ()>>,
    len: usize,
}

impl PushAcks {
    /// `from` pushed entries of `author` in a stream.
    pub(super) fn note(
        &mut self,
        from: &NodeId,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
    ) {
        if self.len >= MAX_PENDING_ACKS {
            return;
        }
        let key = (channel.clone(), stream.clone(), author.clone());
        if self
            .pending
            .entry(from.clone())
            .or_default()
            .insert(key, ())
            .is_none()
        {
            self.len += 1;
        }
    }

    fn take(&mut self) -> BTreeMap<NodeId, BTreeMap<(ChannelId, StreamId, NodeId), ()>> {
        self.len = 0;
        std::mem::take(&mut self.pending)
    }
}

impl Driver {
    /// Sends each pusher since the last tick how far this node holds what
    /// it pushed.
    pub(super) async fn send_push_acks(&mut self) {
        for (to, keys) in self.push_acks.take() {
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

    #[tokio::test]
    async fn a_pusher_hears_at_the_next_tick_how_far_this_node_holds_what_it_pushed() {
        let (mut f, transport) = Fixture::with_transport(&["b", "c"]).await;
        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let entries = f.entries("b", 1..=3, 10);
        let push = Push {
            channel: c.clone(),
            stream: s.clone(),
            entries,
        };
        f.driver.receive_push(node("b"), push).await;
        transport.take_sent();
        f.driver.send_push_acks().await;
        let sent = transport.take_sent();
        let acks: Vec<_> = sent
            .iter()
            .filter_map(|(to, frame)| match codec::decode(frame, 1 << 20) {
                Ok(Message::IHave(ihave)) => Some((to.clone(), ihave)),
                _ => None,
            })
            .collect();
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
        // Acknowledged once: nothing more until the next push.
        f.driver.send_push_acks().await;
        assert!(transport.take_sent().is_empty());
    }
}
