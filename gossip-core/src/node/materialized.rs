//! [`MaterializedView`]: a stream folded into application state, kept current.

use futures_util::{FutureExt, StreamExt};

use super::{stream_handle::StreamHandle, subscription::Subscription};
use crate::{
    domain::{EntryKey, Fold, LogEntry, Materialized, StateMaterializer, VersionVector},
    error::Error,
};

/// A [`StateMaterializer`] attached to a stream.
///
/// [`state`](Self::state) folds what arrived since the last call
/// (incrementally when it sorts after what was folded, by refolding the
/// stream from its start otherwise), so two converged replicas report the
/// same state.
pub struct MaterializedView<T, M> {
    stream: StreamHandle,
    view: Materialized<T, M>,
    folded: VersionVector,
    live: Subscription<LogEntry>,
}

impl<T, M> std::fmt::Debug for MaterializedView<T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterializedView")
            .field("stream", self.stream.id())
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Send + 'static, M: StateMaterializer<T>> MaterializedView<T, M> {
    pub(crate) async fn new(stream: StreamHandle, materializer: M) -> Result<Self, Error> {
        let live = stream.subscribe();
        let mut this = Self {
            stream,
            view: Materialized::new(materializer),
            folded: VersionVector::new(),
            live,
        };
        this.refold().await?;
        Ok(this)
    }

    async fn refold(&mut self) -> Result<(), Error> {
        self.view.reset();
        self.folded = VersionVector::new();
        let mut after: Option<EntryKey> = None;
        loop {
            let page = self.stream.entries_page(after.as_ref(), 1_024).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.key());
            for e in &page {
                self.folded.raise(&e.author, e.sequence);
            }
            // Pages come in read order, so folding is always incremental here.
            let _ = self.view.apply(&page);
        }
        Ok(())
    }

    /// The state after every entry held now.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when a refold has to read the stream.
    pub async fn state(&mut self) -> Result<T, Error> {
        let mut fresh = Vec::new();
        let mut lagged = false;
        while let Some(Some(item)) = self.live.next().now_or_never() {
            match item {
                Ok(entry) if entry.sequence > self.folded.get(&entry.author) => fresh.push(entry),
                Ok(_) => {}
                Err(_) => lagged = true,
            }
        }
        if lagged {
            self.refold().await?;
        } else if !fresh.is_empty() {
            for e in &fresh {
                self.folded.raise(&e.author, e.sequence);
            }
            if self.view.apply(&fresh) == Fold::NeedsRefold {
                self.refold().await?;
            }
        }
        Ok(self.view.state().clone())
    }

    /// Entries folded into the current state.
    #[must_use]
    pub fn folded(&self) -> u64 {
        self.view.folded()
    }
}
