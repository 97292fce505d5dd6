//! [`InboundQueue`]: the bounded queue between a transport's I/O tasks and
//! [`Transport::recv`](crate::Transport::recv), with a cancel-safe `recv`
//! and a `close` that wakes pending calls.
//!
//! Every transport needs one; this is it, so that each backend (and each
//! third-party one) gets the cancel-safety and close semantics of the
//! [`Transport`](crate::Transport) contract without writing them again.
//!
//! ```
//! use gossip_core::{InboundQueue, NodeId, TransportErrorKind, TransportEvent};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let queue = InboundQueue::new("my-transport", 16);
//! let sender = queue.sender(); // held by the I/O tasks
//! let from = NodeId::from_seed("a");
//! sender.try_push(Ok(TransportEvent::Frame { from, frame: "hi".into() }))?;
//! assert!(matches!(queue.recv().await?, TransportEvent::Frame { .. }));
//!
//! queue.close();
//! assert_eq!(queue.recv().await.unwrap_err().kind(), TransportErrorKind::Closed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use tokio::sync::{mpsc, watch, Mutex};

use crate::{
    error::TransportError,
    ports::transport::{TransportEvent, TransportResult},
};

/// What waits in an [`InboundQueue`]: an event, or bad input from a peer
/// that `recv` reports as an error (the transport keeps serving).
pub type InboundItem = TransportResult<TransportEvent>;

/// A bounded queue of [`InboundItem`]s for one transport, drained by its
/// [`recv`](crate::Transport::recv).
///
/// The transport's tasks fill it through [`InboundSender`]s
/// ([`sender`](Self::sender)); the transport's `recv` is
/// [`InboundQueue::recv`] and its `close` calls [`InboundQueue::close`].
pub struct InboundQueue {
    backend: &'static str,
    capacity: usize,
    tx: mpsc::Sender<InboundItem>,
    rx: Mutex<mpsc::Receiver<InboundItem>>,
    closed: watch::Sender<bool>,
}

impl fmt::Debug for InboundQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundQueue")
            .field("backend", &self.backend)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl InboundQueue {
    /// A queue of `backend` (the name its `Closed` errors carry) holding at
    /// most `capacity` items (0 is raised to 1).
    #[must_use]
    pub fn new(backend: &'static str, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        Self {
            backend,
            capacity,
            tx,
            rx: Mutex::new(rx),
            closed: watch::Sender::new(false),
        }
    }

    /// A new handle for the tasks that fill the queue.
    #[must_use]
    pub fn sender(&self) -> InboundSender {
        InboundSender {
            tx: self.tx.clone(),
            closed: self.closed.subscribe(),
        }
    }

    /// The most items the queue holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items waiting now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Whether no item is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Waits for the next item and returns it (an `Err` item is returned as
    /// the error).
    ///
    /// # Behavior
    ///
    /// Items come out in the order they went in. Callers from several tasks
    /// take turns (a fair lock); each item goes to one caller.
    ///
    /// # Errors
    ///
    /// A queued `Err` item; [`TransportError::closed`] once the queue is
    /// closed: pending calls wake up, items still queued are not returned.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the call only awaits the receiver's lock, the channel's
    /// `recv` and the close signal, each cancel-safe; an item leaves the
    /// queue only in the poll that returns it, so dropping the future loses
    /// nothing.
    pub async fn recv(&self) -> TransportResult<TransportEvent> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow_and_update() {
            return Err(TransportError::closed(self.backend));
        }
        let mut rx = tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => {
                return Err(TransportError::closed(self.backend));
            }
            rx = self.rx.lock() => rx,
        };
        tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => Err(TransportError::closed(self.backend)),
            // `None` cannot happen while `self.tx` lives; treated as closed.
            item = rx.recv() => item.unwrap_or_else(|| Err(TransportError::closed(self.backend))),
        }
    }

    /// Waits for the next item, then takes every item already queued, up to
    /// `limit` in all (at least one), appending them to `items` in order;
    /// returns how many it appended. One wake-up of the caller carries a
    /// whole burst (what [`Transport::recv_many`](crate::Transport::recv_many)
    /// is for).
    ///
    /// Once the queue is closed it appends one
    /// [`TransportError::closed`] item (and pending calls wake up, as
    /// [`recv`](Self::recv)'s do).
    ///
    /// ```
    /// use gossip_core::{InboundQueue, NodeId, TransportEvent};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let queue = InboundQueue::new("doc", 8);
    /// let sender = queue.sender();
    /// for frame in ["a", "b", "c"] {
    ///     let from = NodeId::from_seed("peer");
    ///     sender.try_push(Ok(TransportEvent::Frame { from, frame: frame.into() }))?;
    /// }
    /// let mut items = Vec::new();
    /// assert_eq!(queue.recv_many(&mut items, 2).await, 2);
    /// assert_eq!(queue.recv_many(&mut items, 64).await, 1);
    /// assert_eq!(items.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv`](Self::recv): items leave the queue only in
    /// the poll that returns them.
    pub async fn recv_many(&self, items: &mut Vec<InboundItem>, limit: usize) -> usize {
        let limit = limit.max(1);
        let mut closed = self.closed.subscribe();
        if *closed.borrow_and_update() {
            items.push(Err(TransportError::closed(self.backend)));
            return 1;
        }
        let mut rx = tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => {
                items.push(Err(TransportError::closed(self.backend)));
                return 1;
            }
            rx = self.rx.lock() => rx,
        };
        tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => {
                items.push(Err(TransportError::closed(self.backend)));
                1
            }
            taken = rx.recv_many(items, limit) => {
                if taken == 0 {
                    items.push(Err(TransportError::closed(self.backend)));
                    1
                } else {
                    taken
                }
            }
        }
    }

    /// Closes the queue: pending and later [`recv`](Self::recv) calls return
    /// `Closed`, and senders stop adding items. Returns whether this call
    /// closed it (`false` when it was closed already). Idempotent.
    pub fn close(&self) -> bool {
        !self.closed.send_replace(true)
    }
}

/// The filling end of an [`InboundQueue`], cheap to clone (one per task).
#[derive(Debug, Clone)]
pub struct InboundSender {
    tx: mpsc::Sender<InboundItem>,
    closed: watch::Receiver<bool>,
}

/// Why [`InboundSender::try_push`] did not queue an item; holds the item.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The queue is at capacity.
    Full(InboundItem),
    /// The queue was closed.
    Closed(InboundItem),
}

impl PushError {
    /// The item that was not queued.
    pub fn into_inner(self) -> InboundItem {
        match self {
            PushError::Full(item) | PushError::Closed(item) => item,
        }
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PushError::Full(_) => "inbound queue full",
            PushError::Closed(_) => "inbound queue closed",
        })
    }
}

impl std::error::Error for PushError {}

/// Room for one item in an [`InboundQueue`], from
/// [`InboundSender::reserve`].
#[derive(Debug)]
pub struct InboundPermit<'a>(mpsc::Permit<'a, InboundItem>);

impl InboundPermit<'_> {
    /// Queues `item` in the reserved room.
    pub fn push(self, item: InboundItem) {
        self.0.send(item);
    }
}

impl InboundSender {
    /// Queues `item` without waiting.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] when the queue is at capacity (the caller decides:
    /// drop and count a peer event, refuse a frame, or keep it for later),
    /// [`PushError::Closed`] once the queue is closed.
    pub fn try_push(&self, item: InboundItem) -> Result<(), PushError> {
        if self.is_closed() {
            return Err(PushError::Closed(item));
        }
        self.tx.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(item) => PushError::Full(item),
            mpsc::error::TrySendError::Closed(item) => PushError::Closed(item),
        })
    }

    /// Queues `item`, waiting for room (back-pressure: a reader that waits
    /// here stops reading its socket).
    ///
    /// # Errors
    ///
    /// Gives `item` back once the queue is closed, also while waiting.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `item` (it was not queued).
    pub async fn push(&self, item: InboundItem) -> Result<(), InboundItem> {
        match self.reserve().await {
            Some(permit) => {
                permit.push(item);
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Queues the items of `items` in order, taking them from the front,
    /// as many at once as there is room for, and waiting for room when
    /// there is none (back-pressure, as [`push`](Self::push)). A reader
    /// that took a burst off its socket hands it over in one call.
    ///
    /// ```
    /// use gossip_core::{InboundQueue, NodeId, TransportEvent};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let queue = InboundQueue::new("doc", 8);
    /// let from = NodeId::from_seed("peer");
    /// let mut burst: Vec<_> = ["a", "b", "c"]
    ///     .into_iter()
    ///     .map(|frame| Ok(TransportEvent::Frame { from: from.clone(), frame: frame.into() }))
    ///     .collect();
    /// queue.sender().push_many(&mut burst).await?;
    /// assert!(burst.is_empty());
    /// assert_eq!(queue.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PushError::Closed`] once the queue is closed (holding the first
    /// item not queued; the others stay in `items`).
    ///
    /// # Cancel safety
    ///
    /// Items leave `items` only once queued: dropping the future loses none.
    pub async fn push_many(&self, items: &mut Vec<InboundItem>) -> Result<(), PushError> {
        while !items.is_empty() {
            if self.is_closed() {
                return Err(PushError::Closed(items.remove(0)));
            }
            let room = self.tx.capacity().min(items.len());
            if room > 0 {
                if let Ok(permits) = self.tx.try_reserve_many(room) {
                    for (permit, item) in permits.zip(items.drain(..room)) {
                        permit.send(item);
                    }
                    continue;
                }
            }
            let Some(permit) = self.reserve().await else {
                return Err(PushError::Closed(items.remove(0)));
            };
            permit.push(items.remove(0));
        }
        Ok(())
    }

    /// Waits for room for one item; `None` once the queue is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is reserved until the call returns (the waiter
    /// loses its place in line).
    pub async fn reserve(&self) -> Option<InboundPermit<'_>> {
        let mut closed = self.closed.clone();
        if *closed.borrow_and_update() {
            return None;
        }
        tokio::select! {
            biased;
            _ = closed.wait_for(|closed| *closed) => None,
            permit = self.tx.reserve() => permit.ok().map(InboundPermit),
        }
    }

    /// Whether the queue was closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }
}

#[cfg(test)]
mod tests {
    use std::{pin::pin, time::Duration};

    use futures_util::FutureExt;

    use super::*;
    use crate::{domain::NodeId, error::TransportErrorKind};

    fn frame(n: u8) -> InboundItem {
        Ok(TransportEvent::Frame {
            from: NodeId::from_seed("a"),
            frame: vec![n].into(),
        })
    }

    fn byte(event: TransportResult<TransportEvent>) -> u8 {
        match event {
            Ok(TransportEvent::Frame { frame, .. }) => frame[0],
            other => panic!("not a frame: {other:?}"),
        }
    }

    #[tokio::test]
    async fn items_come_out_in_order_and_errors_as_errors() {
        let queue = InboundQueue::new("t", 4);
        let sender = queue.sender();
        sender.try_push(frame(1)).unwrap_or_else(|e| panic!("{e}"));
        sender
            .try_push(Err(TransportError::new(
                "t",
                TransportErrorKind::Rejected,
                "bad",
            )))
            .unwrap_or_else(|e| panic!("{e}"));
        sender.try_push(frame(2)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queue.len(), 3);
        assert_eq!(byte(queue.recv().await), 1);
        let rejected = queue.recv().await.err().map(|e| e.kind());
        assert_eq!(rejected, Some(TransportErrorKind::Rejected));
        assert_eq!(byte(queue.recv().await), 2);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_gives_the_item_back() {
        let queue = InboundQueue::new("t", 0);
        assert_eq!(queue.capacity(), 1);
        let sender = queue.sender();
        sender.try_push(frame(1)).unwrap_or_else(|e| panic!("{e}"));
        match sender.try_push(frame(2)) {
            Err(full @ PushError::Full(_)) => assert_eq!(byte(full.into_inner()), 2),
            other => panic!("expected Full, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_dropped_recv_loses_nothing() {
        let queue = InboundQueue::new("t", 4);
        let sender = queue.sender();
        {
            let mut pending = pin!(queue.recv());
            assert!(pending.as_mut().now_or_never().is_none());
            sender.try_push(frame(7)).unwrap_or_else(|e| panic!("{e}"));
            // Dropped without being polled again.
        }
        assert_eq!(byte(queue.recv().await), 7);
    }

    #[tokio::test]
    async fn close_wakes_pending_recv_and_refuses_new_items() {
        let queue = std::sync::Arc::new(InboundQueue::new("t", 4));
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.recv().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(queue.close());
        assert!(!queue.close(), "second close reports it was closed already");
        let woken = waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            woken.err().map(|e| e.kind()),
            Some(TransportErrorKind::Closed)
        );
        let sender = queue.sender();
        assert!(matches!(
            sender.try_push(frame(1)),
            Err(PushError::Closed(_))
        ));
        assert!(sender.push(frame(1)).await.is_err());
        assert!(queue.recv().await.is_err());
    }

    #[tokio::test]
    async fn push_many_fills_the_room_there_is_then_waits_in_order() {
        let queue = InboundQueue::new("t", 2);
        let sender = queue.sender();
        let mut items: Vec<_> = (1..=5).map(frame).collect();
        {
            let mut pushing = pin!(sender.push_many(&mut items));
            assert!(pushing.as_mut().now_or_never().is_none(), "room for two");
        }
        assert_eq!(items.len(), 3, "the two queued left the batch");
        let mut pushing = pin!(sender.push_many(&mut items));
        let mut got = Vec::new();
        let mut pushed = None;
        while got.len() < 5 {
            if pushed.is_none() {
                pushed = pushing.as_mut().now_or_never();
            }
            got.push(byte(queue.recv().await));
        }
        assert!(matches!(pushed, Some(Ok(()))));
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
        let mut late = vec![frame(6), frame(7)];
        queue.close();
        assert!(matches!(
            sender.push_many(&mut late).await,
            Err(PushError::Closed(_))
        ));
        assert_eq!(
            late.len(),
            1,
            "the first item is in the error, the rest stay"
        );
    }

    #[tokio::test]
    async fn push_waits_for_room_and_wakes_on_close() {
        let queue = InboundQueue::new("t", 1);
        let sender = queue.sender();
        sender
            .push(frame(1))
            .await
            .unwrap_or_else(|_| panic!("closed"));
        let mut blocked = pin!(sender.push(frame(2)));
        assert!(blocked.as_mut().now_or_never().is_none());
        assert_eq!(byte(queue.recv().await), 1);
        assert!(matches!(blocked.as_mut().now_or_never(), Some(Ok(()))));
        let mut blocked = pin!(sender.push(frame(3)));
        assert!(blocked.as_mut().now_or_never().is_none());
        queue.close();
        assert!(matches!(blocked.as_mut().now_or_never(), Some(Err(_))));
    }
}
