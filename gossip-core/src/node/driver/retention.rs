//! Retention: applying each stream's policy by compacting the store.

use std::collections::BTreeMap;

use super::Driver;
use crate::{
    domain::{
        ChannelId, DomainEvent, LogEntry, RetentionPolicy, SignedHeader, StreamId, VersionVector,
    },
    error::Error,
};

/// Most entries of one author read to find its compaction point.
const READ_LIMIT: usize = 4_096;

impl Driver {
    /// Applies every stream's retention policy; returns the entries removed.
    pub(super) async fn apply_retention(&mut self) -> u64 {
        let now = self.clock.now_ms();
        let mut removed_total = 0;
        for (channel, stream, policy) in self.retention_work() {
            let Some((bases, checkpoints)) =
                self.compaction_bases(&channel, &stream, &policy, now).await
            else {
                continue;
            };
            if let Err(error) = self.keep_checkpoints(&channel, &stream, checkpoints).await {
                self.report(error, None);
                continue;
            }
            match self.store.compact(&channel, &stream, &bases).await {
                Ok(removed) => {
                    removed_total += removed;
                    self.reload_stream(&channel, &stream).await;
                    self.feeds.event(DomainEvent::StreamCompacted {
                        channel,
                        stream,
                        removed,
                    });
                }
                Err(error) => self.report(Error::Store(error), None),
            }
        }
        removed_total
    }

    /// Every stream whose policy does not keep everything.
    fn retention_work(&self) -> Vec<(ChannelId, StreamId, RetentionPolicy)> {
        self.replica
            .channels
            .iter()
            .flat_map(|(id, channel)| {
                self.replica.index.streams(id).map(move |s| {
                    (
                        id.clone(),
                        s.clone(),
                        channel.stream_config(s).retention.clone(),
                    )
                })
            })
            .filter(|(_, _, policy)| !policy.keeps_all())
            .collect()
    }

    /// The bases `policy` raises the stream to, if it raises any, with the
    /// signed headers at them (the checkpoints that prove them to peers).
    async fn compaction_bases(
        &self,
        channel: &ChannelId,
        stream: &StreamId,
        policy: &RetentionPolicy,
        now: u64,
    ) -> Option<(VersionVector, Vec<SignedHeader>)> {
        let version = self.replica.index.version(channel, stream);
        let base = self.replica.index.base(channel, stream);
        let mut new_base = BTreeMap::new();
        let mut checkpoints = Vec::new();
        for (author, high) in version.iter() {
            let from = base.get(author);
            let log = match self
                .store
                .read_author(channel, stream, author, from, READ_LIMIT)
                .await
            {
                Ok(log) => log,
                Err(error) => {
                    self.report(Error::Store(error), None);
                    continue;
                }
            };
            // The base must be provable to peers: lower it to the last signed
            // entry the policy lets go (at most one run more is kept).
            let allowed = policy.compaction_point(from, high, &log, now);
            let point = log
                .iter()
                .rev()
                .find(|e| e.sequence <= allowed && e.signature.is_some())
                .map_or(from, |e| e.sequence);
            if point > from {
                new_base.insert(author.clone(), point);
                checkpoints.extend(
                    log.iter()
                        .find(|e| e.sequence == point)
                        .and_then(LogEntry::signed_header),
                );
            }
        }
        (!new_base.is_empty()).then(|| (new_base.into_iter().collect(), checkpoints))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{
        domain::StreamConfig,
        node::{
            command::ChannelChange,
            driver::fixture::{node, Fixture},
        },
        ports::Store,
    };

    /// A fixture whose stream keeps one entry per author.
    async fn keeping_one() -> Fixture {
        let mut f = Fixture::new(&[]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        let config =
            StreamConfig::default().retention(RetentionPolicy::CountBased { max_per_author: 1 });
        f.driver
            .change_channel(&c, ChannelChange::StreamConfig(s, config))
            .await
            .unwrap();
        f
    }

    #[tokio::test]
    async fn a_count_policy_compacts_and_reports_the_removal() {
        let mut f = keeping_one().await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        for _ in 0..3 {
            let payload = vec![Bytes::from_static(b"1")];
            f.driver.append(&c, &s, payload).await.unwrap();
        }
        let _ = f.events();

        assert_eq!(f.driver.apply_retention().await, 2);
        assert_eq!(f.store.base(&c, &s).await.unwrap().get(&node("a")), 2);
        assert_eq!(f.driver.replica.index.base(&c, &s).get(&node("a")), 2);
        assert_eq!(
            f.events(),
            [DomainEvent::StreamCompacted {
                channel: c,
                stream: s,
                removed: 2
            }]
        );
        // Nothing more to do: no event, nothing removed.
        assert_eq!(f.driver.apply_retention().await, 0);
        assert!(f.events().is_empty());
    }

    #[tokio::test]
    async fn compaction_stops_at_a_signed_entry_so_peers_can_be_shown_the_base() {
        let mut f = keeping_one().await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        // One append of three: one signed run, signed at 3. The policy would
        // remove 1 and 2, but no signed header could prove that base.
        let run = vec![Bytes::from_static(b"1"); 3];
        f.driver.append(&c, &s, run).await.unwrap();
        assert_eq!(f.driver.apply_retention().await, 0);
        // The next append closes a run at 4: the run 1..=3 goes, base 3.
        f.driver
            .append(&c, &s, vec![Bytes::from_static(b"4")])
            .await
            .unwrap();
        assert_eq!(f.driver.apply_retention().await, 3);
        assert_eq!(f.store.base(&c, &s).await.unwrap().get(&node("a")), 3);
        let checkpoint = f.driver.replica.channels[&c].checkpoint(&s, &node("a"));
        assert_eq!(checkpoint.map(|h| h.sequence), Some(3));
    }

    #[tokio::test]
    async fn streams_that_keep_everything_are_left_alone() {
        let mut f = Fixture::new(&[]).await;
        let (c, s) = (f.channel.clone(), f.stream.clone());
        f.driver
            .append(&c, &s, vec![Bytes::from_static(b"1"); 2])
            .await
            .unwrap();
        assert!(f.driver.retention_work().is_empty());
        assert_eq!(f.driver.apply_retention().await, 0);
    }
}
