//! Durability receipts: an append that returns once at least `copies`
//! members of the channel hold the entry — the answer to "is my write safe
//! if this device is lost now?".

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::{command::Command, coordinator::Coordinator};
use crate::{
    domain::{ChannelId, LogEntry, StreamId},
    error::Error,
};

/// How many copies an append waits for, and for how long: see
/// [`StreamHandle::append_durable`](crate::StreamHandle::append_durable).
///
/// ```
/// use gossip_core::Durability;
/// use std::time::Duration;
///
/// let durability = Durability::copies(2).timeout(Duration::from_secs(5));
/// assert_eq!(durability.copies, 2);
/// assert_eq!(durability.timeout, Duration::from_secs(5));
/// assert_eq!(Durability::copies(3).timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Durability {
    /// Members that must hold the entry, this node included: 1 is a plain
    /// append, 2 is this node and one peer.
    pub copies: usize,
    /// How long to wait for them. Default 10 s.
    pub timeout: Duration,
}

impl Durability {
    /// Wait until `copies` members hold the entry (this node counts as one).
    #[must_use]
    pub fn copies(copies: usize) -> Self {
        Self {
            copies,
            timeout: Duration::from_secs(10),
        }
    }

    /// Wait at most `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Appends `payload` and waits until `durability.copies` members hold it.
pub(super) async fn append_durable(
    node: &Coordinator,
    channel: ChannelId,
    stream: StreamId,
    payload: Bytes,
    durability: Durability,
) -> Result<LogEntry, Error> {
    let copies = durability.copies;
    let (entry, mut held) = node
        .request(|reply| Command::AppendDurable {
            channel,
            stream,
            payload,
            copies,
            reply,
        })
        .await?;
    let wait = held.wait_for(|holders| *holders >= copies);
    if let Ok(Ok(_)) = tokio::time::timeout(durability.timeout, wait).await {
        return Ok(entry);
    }
    let held_by = *held.borrow();
    Err(Error::NotDurable {
        entry: Box::new(entry),
        held_by,
        wanted: copies,
    })
}

/// The receiving end the node task keeps for one durable append: how many
/// members are known to hold the entry.
pub(crate) type HoldersSender = watch::Sender<usize>;
