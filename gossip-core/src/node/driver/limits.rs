//! The per-channel limits: streams per channel and authors per stream
//! ([`Config::max_streams_per_channel`](crate::Config::max_streams_per_channel),
//! [`Config::max_authors_per_stream`](crate::Config::max_authors_per_stream)),
//! checked before anything that would exceed them is written. The control
//! stream is exempt: membership must always be able to change.

use std::collections::BTreeSet;

use super::Driver;
use crate::{
    domain::{ChannelId, EntryHash, LogEntry, NodeId, StreamId},
    error::Error,
};

impl Driver {
    fn limit_reached(channel: &ChannelId, what: &'static str, limit: usize) -> Error {
        Error::LimitReached {
            channel: channel.clone(),
            what,
            limit,
        }
    }

    /// The error when `stream` is new and `channel` holds all the streams
    /// it may.
    fn stream_limit(&self, channel: &ChannelId, stream: &StreamId) -> Option<Error> {
        let index = &self.replica.index;
        let limit = self.config.max_streams_per_channel;
        let full = !stream.is_control()
            && index.stream(channel, stream).is_none()
            && index.streams(channel).count() >= limit;
        full.then(|| Self::limit_reached(channel, "streams", limit))
    }

    /// How many more authors `stream` may take.
    fn author_room(&self, channel: &ChannelId, stream: &StreamId) -> usize {
        if stream.is_control() {
            return usize::MAX;
        }
        let held = self.replica.index.version(channel, stream).len();
        self.config.max_authors_per_stream.saturating_sub(held)
    }

    /// Whether this node may append to `stream`.
    ///
    /// # Errors
    ///
    /// [`Error::LimitReached`] when the stream would be one too many, or
    /// this node one author too many.
    pub(super) fn check_append_limits(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
    ) -> Result<(), Error> {
        if let Some(error) = self.stream_limit(channel, stream) {
            return Err(error);
        }
        let new_author = self.replica.index.version(channel, stream).get(&self.local) == 0;
        if new_author && self.author_room(channel, stream) == 0 {
            let limit = self.config.max_authors_per_stream;
            return Err(Self::limit_reached(channel, "authors per stream", limit));
        }
        Ok(())
    }

    /// Keeps the incoming entries this node may hold within its limits: none
    /// of a stream it cannot open, and of the authors new to the stream only
    /// as many as fit (in id order, so every replica keeps the same ones).
    /// What is refused is counted and reported naming the sender.
    pub(super) fn keep_within_limits(
        &mut self,
        channel: &ChannelId,
        stream: &StreamId,
        entries: &mut Vec<LogEntry>,
        hashes: &mut Vec<EntryHash>,
        from: Option<&NodeId>,
    ) {
        let (error, admitted) = if let Some(error) = self.stream_limit(channel, stream) {
            (error, BTreeSet::new())
        } else {
            let version = self.replica.index.version(channel, stream);
            let newcomers: BTreeSet<&NodeId> = entries
                .iter()
                .map(|e| &e.author)
                .filter(|a| version.get(a) == 0)
                .collect();
            let room = self.author_room(channel, stream);
            if newcomers.len() <= room {
                return;
            }
            let limit = self.config.max_authors_per_stream;
            let admitted: BTreeSet<NodeId> = newcomers.into_iter().take(room).cloned().collect();
            let error = Self::limit_reached(channel, "authors per stream", limit);
            let admitted = entries
                .iter()
                .map(|e| &e.author)
                .filter(|a| version.get(a) > 0 || admitted.contains(*a))
                .cloned()
                .collect();
            (error, admitted)
        };
        let before = entries.len();
        if hashes.len() == entries.len() {
            (*entries, *hashes) = std::mem::take(entries)
                .into_iter()
                .zip(std::mem::take(hashes))
                .filter(|(e, _)| admitted.contains(&e.author))
                .unzip();
        } else {
            entries.retain(|e| admitted.contains(&e.author));
        }
        let refused = before - entries.len();
        if refused > 0 {
            self.stats.limit_refused += refused as u64;
            if from.is_none_or(|peer| self.peers.worth_reporting(peer, "limit reached")) {
                self.report(error, from);
            }
        }
    }
}
