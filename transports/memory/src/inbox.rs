//! One node's inbox: a bounded queue of frames ordered by when they are due.

use std::{cmp::Ordering, collections::BinaryHeap, pin::pin, sync::Mutex};

use bytes::Bytes;
use gossip_core::NodeId;
use tokio::{
    sync::Notify,
    time::{timeout_at, Instant},
};

use crate::network::lock;

/// An attached node (one incarnation of an id: a node that leaves and joins
/// again gets a new one).
pub(crate) struct Node {
    id: NodeId,
    inbox: Mutex<Inbox>,
    /// Woken when a frame is pushed or the inbox shuts.
    changed: Notify,
}

struct Inbox {
    queue: BinaryHeap<Pending>,
    shut: bool,
}

/// A frame waiting for its receiver.
struct Pending {
    due: Instant,
    /// Network-wide send order: frames due at the same instant leave in it.
    seq: u64,
    from: NodeId,
    frame: Bytes,
}

impl Pending {
    fn key(&self) -> (Instant, u64) {
        (self.due, self.seq)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    /// Reversed: the heap's top is the frame due first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// What [`Node::take`] found.
pub(crate) enum Take {
    /// A frame that was due.
    Frame(NodeId, Bytes),
    /// The inbox is shut.
    Shut,
}

impl Node {
    pub(crate) fn new(id: NodeId) -> Self {
        Self {
            id,
            inbox: Mutex::new(Inbox {
                queue: BinaryHeap::new(),
                shut: false,
            }),
            changed: Notify::new(),
        }
    }

    pub(crate) fn id(&self) -> &NodeId {
        &self.id
    }

    pub(crate) fn is_shut(&self) -> bool {
        lock(&self.inbox).shut
    }

    pub(crate) fn queued(&self) -> usize {
        lock(&self.inbox).queue.len()
    }

    /// Queues `frame` (twice when `duplicate` and there is room for the
    /// copy), due at `due`, with sequence numbers from `seq`. Returns how
    /// many copies were queued, or `Err` when the inbox is full or shut.
    pub(crate) fn push(
        &self,
        from: &NodeId,
        frame: Bytes,
        due: Instant,
        seq: u64,
        duplicate: bool,
        capacity: usize,
    ) -> Result<u64, ()> {
        let mut inbox = lock(&self.inbox);
        if inbox.shut || inbox.queue.len() >= capacity {
            return Err(());
        }
        let mut copies = 1;
        if duplicate && inbox.queue.len() + 1 < capacity {
            inbox.queue.push(Pending {
                due,
                seq: seq + 1,
                from: from.clone(),
                frame: frame.clone(),
            });
            copies = 2;
        }
        inbox.queue.push(Pending {
            due,
            seq,
            from: from.clone(),
            frame,
        });
        Ok(copies)
    }

    /// Wakes the node's pending `recv`.
    pub(crate) fn wake(&self) {
        self.changed.notify_waiters();
    }

    /// Shuts the inbox, discarding what waits in it; returns how many frames
    /// were discarded. Idempotent.
    pub(crate) fn shut(&self) -> usize {
        let discarded = {
            let mut inbox = lock(&self.inbox);
            if inbox.shut {
                0
            } else {
                inbox.shut = true;
                let discarded = inbox.queue.len();
                inbox.queue = BinaryHeap::new();
                discarded
            }
        };
        self.changed.notify_waiters();
        discarded
    }
    /// Takes, without waiting, up to `limit` frames that are already due,
    /// in the order [`take`](Self::take) would return them.
    pub(crate) fn take_due(&self, limit: usize) -> Vec<(NodeId, Bytes)> {
        let mut inbox = lock(&self.inbox);
        let mut due = Vec::new();
        if inbox.shut {
            return due;
        }
        let now = Instant::now();
        while due.len() < limit && inbox.queue.peek().is_some_and(|p| p.due <= now) {
            if let Some(pending) = inbox.queue.pop() {
                due.push((pending.from, pending.frame));
            }
        }
        due
    }

    /// Waits for the next due frame, or for the inbox to shut.
    ///
    /// Cancel-safe: a frame leaves the queue only inside the poll that
    /// returns it; while waiting, the future holds nothing but a `Notify`
    /// registration and a timer.
    pub(crate) async fn take(&self) -> Take {
        loop {
            // Register for wake-ups before looking, so that a push between
            // the look and the wait is not missed.
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let next_due = {
                let mut inbox = lock(&self.inbox);
                if inbox.shut {
                    return Take::Shut;
                }
                match inbox.queue.peek().map(|pending| pending.due) {
                    Some(due) if due <= Instant::now() => {
                        if let Some(pending) = inbox.queue.pop() {
                            return Take::Frame(pending.from, pending.frame);
                        }
                        None
                    }
                    other => other,
                }
            };
            match next_due {
                // Either a wake-up or the due time: look again.
                Some(due) => {
                    let _ = timeout_at(due, changed).await;
                }
                None => changed.await,
            }
        }
    }
}
