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
        // The authors whose entries are refused (`None`: every author).
        let (error, refused_authors) = if let Some(error) = self.stream_limit(channel, stream) {
            (error, None)
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
            let beyond: BTreeSet<NodeId> = newcomers.into_iter().skip(room).cloned().collect();
            (
                Self::limit_reached(channel, "authors per stream", limit),
                Some(beyond),
            )
        };
        let keep = |e: &LogEntry| {
            refused_authors
                .as_ref()
                .is_some_and(|r| !r.contains(&e.author))
        };
        let before = entries.len();
        if hashes.len() == entries.len() {
            (*entries, *hashes) = std::mem::take(entries)
                .into_iter()
                .zip(std::mem::take(hashes))
                .filter(|(e, _)| keep(e))
                .unzip();
        } else {
            entries.retain(keep);
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::{
        fixture::{node, Fixture},
        ingest::Origin,
    };
    use crate::{domain::StreamId, error::Error, node::config::Config, ports::Clock};

    #[tokio::test]
    async fn authors_beyond_a_streams_limit_are_refused_the_first_ones_in_id_order_kept() {
        let config = Config::default().max_authors_per_stream(2);
        let mut f = Fixture::with_config(&["b", "c", "d"], config).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let now = f.clock.now_ms();
        // The local node takes the first place; then three authors at once.
        f.driver
            .append(&c, &s, vec![Bytes::from_static(b"mine")])
            .await
            .unwrap();
        let mut incoming = Vec::new();
        for author in ["b", "c", "d"] {
            incoming.extend(f.entries(author, 1..=2, now));
        }
        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        f.driver
            .merge(origin, &c, &s, incoming, Vec::new(), Vec::new())
            .await;
        let version = f.driver.replica.index.version(&c, &s);
        assert_eq!(version.len(), 2, "{version:?}");
        let first = ["b", "c", "d"].map(node).into_iter().min().unwrap();
        assert_eq!(version.get(&first), 2, "the lowest id is the one kept");
        assert_eq!(f.driver.stats.limit_refused, 4);
        assert!(f.errors().iter().any(|e| matches!(
            e,
            Error::LimitReached {
                what: "authors per stream",
                limit: 2,
                ..
            }
        )));
    }

    #[tokio::test]
    async fn a_stream_beyond_the_channels_limit_is_refused_to_peers_and_to_local_appends() {
        // The control stream and one more.
        let config = Config::default().max_streams_per_channel(2);
        let mut f = Fixture::with_config(&["b"], config).await;
        let c = f.channel.clone();
        let (first, second) = (
            StreamId::new("first").unwrap(),
            StreamId::new("second").unwrap(),
        );
        f.driver
            .append(&c, &first, vec![Bytes::from_static(b"x")])
            .await
            .unwrap();
        let error = f
            .driver
            .append(&c, &second, vec![Bytes::from_static(b"y")])
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::LimitReached {
                    what: "streams",
                    limit: 2,
                    ..
                }
            ),
            "{error}"
        );
        // An existing stream still takes entries; so does the control stream.
        f.driver
            .append(&c, &first, vec![Bytes::from_static(b"z")])
            .await
            .unwrap();
        f.driver
            .change_channel(
                &c,
                crate::node::command::ChannelChange::AddMember(
                    node("e"),
                    crate::domain::Role::Writer,
                    String::new(),
                ),
            )
            .await
            .unwrap();
        let from = node("b");
        let origin = Origin::Peer {
            from: &from,
            forward: false,
        };
        let now = f.clock.now_ms();
        let incoming = f.entries("b", 1..=3, now);
        let stream = f.stream.clone();
        f.driver
            .merge(origin, &c, &stream, incoming, Vec::new(), Vec::new())
            .await;
        assert!(f.driver.replica.index.stream(&c, &stream).is_none());
        assert_eq!(f.driver.stats.limit_refused, 3);
    }
}
