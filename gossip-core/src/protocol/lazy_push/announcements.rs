//! [`Announcements`]: what this node will announce to lazy links at the
//! next tick, bounded.

use std::collections::BTreeMap;

use crate::domain::{ChannelId, NodeId, StreamId};

/// Per channel, the highest sequence received of each stream and author
/// since the last tick (coalesced: a stream written a thousand times
/// between two ticks is one announcement).
#[derive(Debug, Default)]
pub(crate) struct Announcements {
    pending: BTreeMap<ChannelId, BTreeMap<(StreamId, NodeId), u64>>,
    len: usize,
}

impl Announcements {
    /// Announcements waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues "this node holds `author`'s entries of `stream` up to
    /// `up_to`"; whether it fits (a new one past `capacity` does not).
    pub(crate) fn add(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        author: &NodeId,
        up_to: u64,
        capacity: usize,
    ) -> bool {
        let key = (stream.clone(), author.clone());
        if let Some(held) = self.pending.get_mut(channel).and_then(|c| c.get_mut(&key)) {
            *held = (*held).max(up_to);
            return true;
        }
        if self.len >= capacity {
            return false;
        }
        self.len += 1;
        self.pending
            .entry(channel.clone())
            .or_default()
            .insert(key, up_to);
        true
    }

    /// Everything waiting, per channel; the queue is empty afterwards.
    pub(crate) fn take(&mut self) -> BTreeMap<ChannelId, BTreeMap<(StreamId, NodeId), u64>> {
        self.len = 0;
        std::mem::take(&mut self.pending)
    }
}
