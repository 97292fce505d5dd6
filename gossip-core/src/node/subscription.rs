//! [`Subscription`]: a bounded live feed (events, errors, new entries) as a `Stream`.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Mutex, PoisonError},
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
pub struct Subscription<T> {
    inner: BroadcastStream<T>,
}

impl<T: Clone + Send + 'static> Subscription<T> {
    pub(crate) fn new(receiver: broadcast::Receiver<T>) -> Self {
        Self {
            inner: BroadcastStream::new(receiver),
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
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|r| {
                r.map_err(|BroadcastStreamRecvError::Lagged(missed)| Error::Lagged { missed })
            })
        })
    }
}

type StreamKey = (ChannelId, StreamId);

/// The feeds shared by the node task (which publishes) and the handles
/// (which subscribe).
#[derive(Debug)]
pub(crate) struct Feeds {
    capacity: usize,
    events: broadcast::Sender<DomainEvent>,
    errors: broadcast::Sender<SyncError>,
    entries: Mutex<HashMap<StreamKey, broadcast::Sender<LogEntry>>>,
}

impl Feeds {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            events: broadcast::channel(capacity).0,
            errors: broadcast::channel(capacity).0,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn events(&self) -> Subscription<DomainEvent> {
        Subscription::new(self.events.subscribe())
    }

    pub(crate) fn errors(&self) -> Subscription<SyncError> {
        Subscription::new(self.errors.subscribe())
    }

    pub(crate) fn entries(&self, channel: &ChannelId, stream: &StreamId) -> Subscription<LogEntry> {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = map
            .entry((channel.clone(), stream.clone()))
            .or_insert_with(|| broadcast::channel(self.capacity).0);
        Subscription::new(sender.subscribe())
    }

    pub(crate) fn event(&self, event: DomainEvent) {
        // No receiver is not an error: nobody is listening.
        let _ = self.events.send(event);
    }

    pub(crate) fn error(&self, error: SyncError) {
        tracing::debug!(%error, "sync error");
        let _ = self.errors.send(error);
    }

    pub(crate) fn publish(&self, channel: &ChannelId, stream: &StreamId, entries: &[LogEntry]) {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
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
