//! [`EntryFeed`]: a stream's entries after a version vector, replayed from
//! the store and then live, each exactly once — what
//! [`StreamHandle::subscribe_from`](crate::StreamHandle::subscribe_from)
//! returns.
//!
//! Why there is no gap and no duplicate: the live subscription is
//! registered *before* the store's version is read, and the node task
//! commits an entry to the store before it publishes it. So an entry is
//! either in the version that was read (the replay reads it from the store)
//! or published after the registration (the subscription receives it), or
//! both; the feed keeps, per author, the highest sequence it delivered and
//! skips whatever is at or below it. Each author's entries reach the store
//! and the subscription in sequence order, so a live entry past the next
//! expected sequence means the subscription lost some (it lagged): the
//! feed then reads everything it has not delivered from the store, up to
//! the store's version, before going on live.

use futures_util::StreamExt;

use super::{replay::Replay, subscription::Subscription};
use crate::{
    domain::{ChannelId, LogEntry, StreamId, VersionVector},
    error::{Error, StoreErrorKind},
    ports::DynStore,
};

/// Entries read from the store per author at a time by a replay.
const REPLAY_PAGE: usize = 256;

/// The state of a feed from a version: what was delivered, the replay in
/// progress if any, and the live subscription.
pub(crate) struct EntryFeed {
    store: DynStore,
    channel: ChannelId,
    stream: StreamId,
    live: Subscription<LogEntry>,
    /// Per author, the highest sequence delivered or covered by the
    /// starting version: nothing at or below it is delivered.
    sent: VersionVector,
    step: Step,
}

/// What the feed does next.
enum Step {
    /// Read the store's version and replay up to it.
    CatchUp,
    /// Replay from the store, then raise `sent` to `target`.
    Replay {
        replay: Replay,
        target: VersionVector,
    },
    /// Deliver what the live subscription brings.
    Live,
}

impl EntryFeed {
    /// A feed of what follows `from`. `live` must be registered before the
    /// first call of [`next`](Self::next) reads the store's version (pass a
    /// fresh subscription).
    pub(crate) fn new(
        store: DynStore,
        channel: ChannelId,
        stream: StreamId,
        live: Subscription<LogEntry>,
        from: VersionVector,
    ) -> Self {
        Self {
            store,
            channel,
            stream,
            live,
            sent: from,
            step: Step::CatchUp,
        }
    }

    /// The feed as a [`Subscription`] (fused: once ended, it stays ended).
    pub(crate) fn into_subscription(self) -> Subscription<LogEntry> {
        let feed = futures_util::stream::unfold(self, |mut feed| async move {
            feed.next().await.map(|item| (item, feed))
        });
        Subscription::boxed(feed.fuse())
    }

    /// The next entry; `None` once the node is gone (the live feed ended,
    /// or the store was closed by dispose).
    ///
    /// Any other store error is returned as an item; the feed then retries
    /// the same read on the next call.
    async fn next(&mut self) -> Option<Result<LogEntry, Error>> {
        loop {
            match &mut self.step {
                Step::CatchUp => {
                    let held = match self.store.version(&self.channel, &self.stream).await {
                        Ok(held) => held,
                        Err(error) => return ended_or(error.into()),
                    };
                    let replay = Replay::new(
                        self.store.clone(),
                        self.channel.clone(),
                        self.stream.clone(),
                        self.sent.diff(&held),
                        REPLAY_PAGE,
                    );
                    self.step = Step::Replay {
                        replay,
                        target: held,
                    };
                }
                Step::Replay { replay, target } => match replay.next().await {
                    Ok(Some(entry)) => {
                        self.sent.raise(&entry.author, entry.sequence);
                        return Some(Ok(entry));
                    }
                    Ok(None) => {
                        // What was not read is no longer held (compacted or
                        // truncated): it will not come live either.
                        self.sent.merge(target);
                        self.step = Step::Live;
                    }
                    Err(error) => return ended_or(error),
                },
                Step::Live => match self.live.next().await? {
                    Ok(entry) => {
                        let sent = self.sent.get(&entry.author);
                        if entry.sequence <= sent {
                            continue;
                        }
                        if entry.sequence > sent.saturating_add(1) {
                            // Some were lost on the way: this one is in the
                            // store too, so the catch-up delivers it.
                            tracing::debug!(
                                channel = %self.channel,
                                stream = %self.stream,
                                "entry feed behind; reading what it missed from the store"
                            );
                            self.step = Step::CatchUp;
                            continue;
                        }
                        self.sent.raise(&entry.author, entry.sequence);
                        return Some(Ok(entry));
                    }
                    Err(Error::Lagged { missed }) => {
                        tracing::debug!(
                            channel = %self.channel,
                            stream = %self.stream,
                            missed,
                            "entry feed lagged; reading what it missed from the store"
                        );
                        self.step = Step::CatchUp;
                    }
                    Err(error) => return Some(Err(error)),
                },
            }
        }
    }
}

/// `None` (the feed ends) for a closed store, the error as an item
/// otherwise.
fn ended_or(error: Error) -> Option<Result<LogEntry, Error>> {
    match &error {
        Error::Store(store) if store.kind() == StoreErrorKind::Closed => None,
        _ => Some(Err(error)),
    }
}
