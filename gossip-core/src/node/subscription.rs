//! [`Subscription`]: a bounded live feed (events, errors, new entries) as a `Stream`.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, PoisonError,
    },
    task::{Context, Poll},
};

use futures_core::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use crate::{
    domain::{ChannelId, DomainEvent, LogEntry, StreamId, SyncError},
    error::Error,
};

/// A live feed. Yields `Ok(item)` in order; a reader that falls more than
/// the configured capacity behind gets one `Err(Error::Lagged { missed })`
/// and continues with the newest items. Ends when the node is disposed.
///
/// A feed of entries opened with
/// [`StreamHandle::subscribe_from`](crate::StreamHandle::subscribe_from)
/// replays the history first and never lags: it reads what it missed from
/// the store instead.
///
/// # Cancel safety
///
/// Polling for the next item (`StreamExt::next` in `tokio::select!`) is
/// cancel safe: an item not yet returned, and a store read in progress,
/// stay with the subscription for the next poll.
pub struct Subscription<T> {
    inner: Inner<T>,
}

/// A boxed feed, in a `Mutex` only to be `Sync` (it is polled through
/// `get_mut`, never locked).
type BoxedFeed<T> = Mutex<Pin<Box<dyn Stream<Item = Result<T, Error>> + Send>>>;

enum Inner<T> {
    /// Straight from the node's broadcast channel.
    Live(BroadcastStream<T>),
    /// Anything else that yields items in order (a replay, then live).
    Boxed(BoxedFeed<T>),
}

impl<T: Clone + Send + 'static> Subscription<T> {
    pub(crate) fn new(receiver: broadcast::Receiver<T>) -> Self {
        Self {
            inner: Inner::Live(BroadcastStream::new(receiver)),
        }
    }

    pub(crate) fn boxed(feed: impl Stream<Item = Result<T, Error>> + Send + 'static) -> Self {
        Self {
            inner: Inner::Boxed(Mutex::new(Box::pin(feed))),
        }
    }
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + 'static> Stream for Subscription<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            Inner::Live(live) => Pin::new(live).poll_next(cx).map(|item| {
                item.map(|r| {
                    r.map_err(|BroadcastStreamRecvError::Lagged(missed)| Error::Lagged { missed })
                })
            }),
            Inner::Boxed(feed) => feed
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
                .poll_next(cx),
        }
    }
}

type StreamKey = (ChannelId, StreamId);

/// The feeds shared by the node task (which publishes) and the handles
/// (which subscribe).
///
/// A feed ends when every sender of its broadcast channel is gone; the
/// handles keep `Feeds` alive, so [`close`](Self::close) (on dispose) drops
/// the senders for them: open feeds end, and feeds opened later end at once.
#[derive(Debug)]
pub(crate) struct Feeds {
    capacity: usize,
    /// `None` once closed.
    events: Mutex<Option<broadcast::Sender<DomainEvent>>>,
    /// `None` once closed.
    errors: Mutex<Option<broadcast::Sender<SyncError>>>,
    /// `None` once closed.
    entries: Mutex<Option<HashMap<StreamKey, broadcast::Sender<LogEntry>>>>,
    /// Set when the node starts disposing, before its store closes: the
    /// reads handles serve from the store themselves then answer
    /// [`Error::NodeStopped`](crate::Error::NodeStopped), as every other call.
    disposing: AtomicBool,
}

/// A feed that has ended: its sender is gone.
fn ended<T: Clone + Send + 'static>() -> Subscription<T> {
    Subscription::new(broadcast::channel(1).0.subscribe())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Feeds {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            events: Mutex::new(Some(broadcast::channel(capacity).0)),
            errors: Mutex::new(Some(broadcast::channel(capacity).0)),
            entries: Mutex::new(Some(HashMap::new())),
            disposing: AtomicBool::new(false),
        }
    }

    /// The node is being disposed (its store is about to close).
    pub(crate) fn mark_disposing(&self) {
        self.disposing.store(true, Ordering::Release);
    }

    /// Whether the node is being, or has been, disposed.
    pub(crate) fn disposing(&self) -> bool {
        self.disposing.load(Ordering::Acquire)
    }

    pub(crate) fn events(&self) -> Subscription<DomainEvent> {
        lock(&self.events)
            .as_ref()
            .map_or_else(ended, |sender| Subscription::new(sender.subscribe()))
    }

    pub(crate) fn errors(&self) -> Subscription<SyncError> {
        lock(&self.errors)
            .as_ref()
            .map_or_else(ended, |sender| Subscription::new(sender.subscribe()))
    }

    pub(crate) fn entries(&self, channel: &ChannelId, stream: &StreamId) -> Subscription<LogEntry> {
        let mut map = lock(&self.entries);
        let Some(map) = map.as_mut() else {
            return ended();
        };
        let sender = map
            .entry((channel.clone(), stream.clone()))
            .or_insert_with(|| broadcast::channel(self.capacity).0);
        Subscription::new(sender.subscribe())
    }

    pub(crate) fn event(&self, event: DomainEvent) {
        // No receiver is not an error: nobody is listening.
        if let Some(sender) = lock(&self.events).as_ref() {
            let _ = sender.send(event);
        }
    }

    pub(crate) fn error(&self, error: SyncError) {
        tracing::debug!(%error, "sync error");
        if let Some(sender) = lock(&self.errors).as_ref() {
            let _ = sender.send(error);
        }
    }

    /// Ends every feed, open or opened later (the node is disposed).
    pub(crate) fn close(&self) {
        lock(&self.events).take();
        lock(&self.errors).take();
        lock(&self.entries).take();
    }

    pub(crate) fn publish(&self, channel: &ChannelId, stream: &StreamId, entries: &[LogEntry]) {
        let mut map = lock(&self.entries);
        let Some(map) = map.as_mut() else {
            return;
        };
        let key = (channel.clone(), stream.clone());
        let Some(sender) = map.get(&key) else {
            return;
        };
        if sender.receiver_count() == 0 {
            map.remove(&key);
            return;
        }
        let mut sorted: Vec<&LogEntry> = entries.iter().collect();
        sorted.sort_by_key(|e| e.key());
        for entry in sorted {
            let _ = sender.send(entry.clone());
        }
    }
}
