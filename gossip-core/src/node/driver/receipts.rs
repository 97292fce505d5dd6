//! Durability receipts: durable appends waiting until enough members hold
//! their entry, counted from what [`PeerSync`](super::peer_sync::PeerSync)
//! learns.

use bytes::Bytes;
use tokio::sync::watch;

use super::Driver;
use crate::{
    domain::{ChannelId, LogEntry, StreamId},
    error::Error,
    node::durability::HoldersSender,
};

/// Most durable appends waited on at once; the oldest gives way (its
/// caller gets [`Error::NotDurable`] at once).
const MAX_RECEIPTS: usize = 1_024;

/// One durable append waiting for holders.
#[derive(Debug)]
struct Receipt {
    channel: ChannelId,
    stream: StreamId,
    sequence: u64,
    wanted: usize,
    holders: HoldersSender,
}

/// The durable appends waiting for holders (bounded).
#[derive(Debug, Default)]
pub(super) struct Receipts {
    pending: Vec<Receipt>,
}

impl Driver {
    /// Appends `payload` and, when more than one copy is wanted, tracks
    /// its holders and asks the channel's reachable members at once (a
    /// digest exchange right behind the push tells whether they hold it).
    pub(super) async fn append_durable(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        payload: Bytes,
        wanted: usize,
    ) -> Result<(LogEntry, watch::Receiver<usize>), Error> {
        let mut entries = self.append(channel, stream, vec![payload]).await?;
        let entry = entries.pop().ok_or(Error::NodeStopped)?;
        let (holders, receiver) = watch::channel(1);
        if wanted <= 1 {
            return Ok((entry, receiver));
        }
        let pending = &mut self.receipts.pending;
        if pending.len() >= MAX_RECEIPTS {
            pending.remove(0);
        }
        pending.push(Receipt {
            channel: channel.clone(),
            stream: stream.clone(),
            sequence: entry.sequence,
            wanted,
            holders,
        });
        if self.running() {
            let members: Vec<_> = self
                .peers
                .ids()
                .into_iter()
                .filter(|p| self.engines.reachable(p))
                .filter(|p| {
                    let channels = &self.replica.channels;
                    channels.get(channel).is_some_and(|c| c.syncs_with(p))
                })
                .collect();
            for peer in members {
                self.gossip_round(Some(peer)).await;
            }
        }
        self.count_holders(channel);
        Ok((entry, receiver))
    }

    /// Counts the holders of every durable append of `channel` waiting;
    /// those with enough holders, or whose caller gave up, are done.
    pub(super) fn count_holders(&mut self, channel: &ChannelId) {
        let Some(known) = self.replica.channels.get(channel) else {
            return;
        };
        let (sync, local) = (&self.peer_sync, &self.local);
        self.receipts.pending.retain(|receipt| {
            if receipt.holders.is_closed() {
                return false;
            }
            if receipt.channel != *channel {
                return true;
            }
            let peers = sync.holders(&receipt.channel, &receipt.stream, local, receipt.sequence);
            let count = 1 + peers.filter(|p| known.syncs_with(p)).count();
            receipt.holders.send_if_modified(|held| {
                let changed = *held != count;
                *held = count;
                changed
            });
            count < receipt.wanted
        });
    }
}
