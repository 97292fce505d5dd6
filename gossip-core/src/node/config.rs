//! [`Config`]: every timing, limit and seed of a node, with defaults.
//!
//! One way to set things: builder-style setters named after the field
//! (`Config::default().gossip_interval(..)`), each taking and returning the
//! config. Failure detection has its own struct, [`SwimConfig`], nested as
//! [`Config::swim`] and set the same way; each setting has one default, the
//! one [`SwimConfig::default`] gives.
//!
//! ```
//! use gossip_core::{Config, SwimConfig};
//! use std::time::Duration;
//!
//! let config = Config::default()
//!     .gossip_interval(Duration::from_millis(100))
//!     .swim(SwimConfig::default().probe_interval(Duration::from_secs(2)))
//!     .seed(42);
//! assert_eq!(config.gossip_interval, Duration::from_millis(100));
//! assert_eq!(config.swim.probe_interval, Duration::from_secs(2));
//! assert!(config.validate().is_ok());
//! ```

use std::time::Duration;

use super::{budget::InboundBudget, serve_budget::ServeBudget};
use crate::{
    domain::{BufferLimits, DEFAULT_MAX_PAYLOAD_BYTES},
    error::Error,
    protocol::{lazy_push::LazyPushConfig, swim::SwimConfig},
};

/// A node's configuration. Every field has a default (DESIGN §7).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// How often anti-entropy runs with a random reachable peer. Default 200 ms.
    pub gossip_interval: Duration,
    /// Failure detection (SWIM): probe interval, ping timeout, suspicion
    /// threshold and timeout, fan-out, piggybacking. Default
    /// [`SwimConfig::default`].
    pub swim: SwimConfig,
    /// Whether appends are pushed to peers at once (anti-entropy still runs). Default true.
    pub eager_push: bool,
    /// Members an append is pushed to. Default 8. A channel with at most
    /// this many other members is pushed to whole by the writer; a larger
    /// one pushes along a tree (each node starting with this many eager
    /// links) and announces to the rest ([`Config::lazy_push`]).
    pub push_fanout: usize,
    /// Lazy push in channels of more than `push_fanout` other members:
    /// announcements per tick, graft timeout, bounds of the tracking.
    /// Default [`LazyPushConfig::default`].
    pub lazy_push: LazyPushConfig,
    /// How long after entries arrive a node tells their pusher and their
    /// author how far it holds them (an `IHave` acknowledgement), so that
    /// the writer's [`health`](crate::Coordinator::health) lag and
    /// durability receipts follow within about this delay; entries arriving
    /// meanwhile share the frame. Default 100 ms (half the default gossip
    /// interval).
    pub ack_delay: Duration,
    /// Default largest payload of new channels' streams. Default 32 KiB.
    pub max_payload_bytes: usize,
    /// Out-of-order buffer limits. Defaults: 100 per author, 10 000 in total,
    /// 16 MiB, 2 500 per sending peer, kept at most 2 minutes.
    pub buffer: BufferLimits,
    /// How far ahead of this node's clock a remote timestamp may be. Entries
    /// further ahead are held in quarantine, not stored, until the clock
    /// catches up. Default 60 s.
    pub max_clock_drift: Duration,
    /// Most entries held in quarantine (timestamps beyond
    /// `max_clock_drift`), a quarter of them at most from one sending peer;
    /// more are dropped and reported. Default 1 000.
    pub quarantine_capacity: usize,
    /// Most entries held pending: by authors a channel's control log has
    /// not explained yet (its operations still on their way), a quarter of
    /// them at most from one sending peer; more are dropped and reported,
    /// and fetched again later. Default 10 000.
    pub pending_capacity: usize,
    /// Seed of every random choice the node makes. Default 0.
    pub seed: u64,
    /// Most entries sent in answer to one delta request (the rest follow on
    /// the next request). Default 4 096.
    pub max_delta_entries: usize,
    /// Most payload bytes sent in answer to one delta request. Default 4 MiB.
    /// An answer to a request is also cut at seven eighths of the
    /// transport's frame limit, so that it travels as one frame and the
    /// requester asks for the next part as soon as it has decoded it.
    pub max_delta_bytes: u64,
    /// How often retention policies are applied. Default 30 s.
    pub retention_interval: Duration,
    /// Capacity of the event, error and subscription streams (slow readers
    /// are told how much they missed). Default 1 024.
    pub stream_capacity: usize,
    /// Capacity of the command queue between handles and the node task. Default 256.
    pub command_capacity: usize,
    /// What each peer may send this node per second (DESIGN §11). The
    /// default is far above what the protocol sends on its own.
    pub inbound_budget: InboundBudget,
    /// What this node serves each peer per second in answer to its sync
    /// requests (DESIGN §11): bounds what a peer can make this node read
    /// and send. Default [`ServeBudget::default`].
    pub serve_budget: ServeBudget,
    /// Anti-entropy sessions open with one peer at once, each direction (at
    /// least 1): a digest response is acted on only if it answers one this
    /// node asked, a delta request only if it follows a digest this node
    /// answered. The oldest gives way. Default 16.
    pub max_sync_sessions: usize,
    /// How long an anti-entropy session stays open. Default 30 s.
    pub sync_session_timeout: Duration,
    /// Most streams one channel may hold (at least 1): an entry, local or
    /// remote, that would open one more is refused
    /// ([`Error::LimitReached`]). Default 4 096.
    pub max_streams_per_channel: usize,
    /// Most authors one stream may hold (at least 1): an entry by one more
    /// author is refused ([`Error::LimitReached`]). Default 1 024.
    pub max_authors_per_stream: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            gossip_interval: Duration::from_millis(200),
            swim: SwimConfig::default(),
            eager_push: true,
            push_fanout: 8,
            lazy_push: LazyPushConfig::default(),
            ack_delay: Duration::from_millis(100),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            buffer: BufferLimits::default(),
            max_clock_drift: Duration::from_secs(60),
            quarantine_capacity: 1_000,
            pending_capacity: 10_000,
            seed: 0,
            max_delta_entries: 4_096,
            max_delta_bytes: 4 * 1024 * 1024,
            retention_interval: Duration::from_secs(30),
            stream_capacity: 1_024,
            command_capacity: 256,
            inbound_budget: InboundBudget::default(),
            serve_budget: ServeBudget::default(),
            max_sync_sessions: 16,
            sync_session_timeout: Duration::from_secs(30),
            max_streams_per_channel: 4_096,
            max_authors_per_stream: 1_024,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl Config {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`Config::gossip_interval`].
    gossip_interval: Duration,
    /// Sets [`Config::swim`].
    swim: SwimConfig,
    /// Sets [`Config::eager_push`].
    eager_push: bool,
    /// Sets [`Config::push_fanout`].
    push_fanout: usize,
    /// Sets [`Config::lazy_push`].
    lazy_push: LazyPushConfig,
    /// Sets [`Config::ack_delay`].
    ack_delay: Duration,
    /// Sets [`Config::max_payload_bytes`].
    max_payload_bytes: usize,
    /// Sets [`Config::buffer`].
    buffer: BufferLimits,
    /// Sets [`Config::max_clock_drift`].
    max_clock_drift: Duration,
    /// Sets [`Config::quarantine_capacity`].
    quarantine_capacity: usize,
    /// Sets [`Config::pending_capacity`].
    pending_capacity: usize,
    /// Sets [`Config::seed`].
    seed: u64,
    /// Sets [`Config::max_delta_entries`].
    max_delta_entries: usize,
    /// Sets [`Config::max_delta_bytes`].
    max_delta_bytes: u64,
    /// Sets [`Config::retention_interval`].
    retention_interval: Duration,
    /// Sets [`Config::stream_capacity`].
    stream_capacity: usize,
    /// Sets [`Config::command_capacity`].
    command_capacity: usize,
    /// Sets [`Config::inbound_budget`].
    inbound_budget: InboundBudget,
    /// Sets [`Config::serve_budget`].
    serve_budget: ServeBudget,
    /// Sets [`Config::max_sync_sessions`].
    max_sync_sessions: usize,
    /// Sets [`Config::sync_session_timeout`].
    sync_session_timeout: Duration,
    /// Sets [`Config::max_streams_per_channel`].
    max_streams_per_channel: usize,
    /// Sets [`Config::max_authors_per_stream`].
    max_authors_per_stream: usize,
}

impl Config {
    /// Checks that every value is usable.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first offending field.
    pub fn validate(&self) -> Result<(), Error> {
        let positive = [
            ("gossip_interval", self.gossip_interval),
            ("ack_delay", self.ack_delay),
            ("swim.probe_interval", self.swim.probe_interval),
            ("swim.ping_timeout", self.swim.ping_timeout),
            ("retention_interval", self.retention_interval),
            ("sync_session_timeout", self.sync_session_timeout),
            ("buffer.max_age", self.buffer.max_age),
            ("lazy_push.graft_timeout", self.lazy_push.graft_timeout),
            ("lazy_push.missing_ttl", self.lazy_push.missing_ttl),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return Err(Error::InvalidConfig(format!("{name} must be positive")));
            }
        }
        if self.swim.ping_timeout >= self.swim.probe_interval {
            return Err(Error::InvalidConfig(
                "swim.ping_timeout must be shorter than swim.probe_interval".into(),
            ));
        }
        let counts = [
            (
                "swim.suspicion_threshold",
                self.swim.suspicion_threshold as usize,
            ),
            ("max_delta_entries", self.max_delta_entries),
            ("stream_capacity", self.stream_capacity),
            ("command_capacity", self.command_capacity),
            ("buffer.per_author", self.buffer.per_author),
            ("buffer.total", self.buffer.total),
            ("buffer.per_peer", self.buffer.per_peer),
            ("max_sync_sessions", self.max_sync_sessions),
            ("max_streams_per_channel", self.max_streams_per_channel),
            ("max_authors_per_stream", self.max_authors_per_stream),
            ("quarantine_capacity", self.quarantine_capacity),
            ("pending_capacity", self.pending_capacity),
            ("lazy_push.max_missing", self.lazy_push.max_missing),
            (
                "lazy_push.max_announcements",
                self.lazy_push.max_announcements,
            ),
            (
                "lazy_push.max_graft_entries",
                self.lazy_push.max_graft_entries,
            ),
            (
                "inbound_budget.bytes_per_second",
                usize::try_from(self.inbound_budget.bytes_per_second).unwrap_or(usize::MAX),
            ),
            (
                "inbound_budget.frames_per_second",
                usize::try_from(self.inbound_budget.frames_per_second).unwrap_or(usize::MAX),
            ),
            (
                "serve_budget.entries_per_second",
                usize::try_from(self.serve_budget.entries_per_second).unwrap_or(usize::MAX),
            ),
            (
                "serve_budget.bytes_per_second",
                usize::try_from(self.serve_budget.bytes_per_second).unwrap_or(usize::MAX),
            ),
        ];
        for (name, value) in counts {
            if value == 0 {
                return Err(Error::InvalidConfig(format!("{name} must be at least 1")));
            }
        }
        if self.max_delta_bytes < self.max_payload_bytes as u64 {
            return Err(Error::InvalidConfig(
                "max_delta_bytes must be at least max_payload_bytes".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design_and_validate() {
        let c = Config::default();
        assert_eq!(c.gossip_interval, Duration::from_millis(200));
        assert_eq!(c.ack_delay, Duration::from_millis(100));
        assert_eq!(c.swim, SwimConfig::default());
        assert_eq!(c.swim.probe_interval, Duration::from_secs(1));
        assert_eq!(c.swim.ping_timeout, Duration::from_millis(500));
        assert_eq!(c.swim.suspicion_threshold, 3);
        assert_eq!(c.swim.suspicion_timeout, Duration::from_secs(8));
        assert_eq!(c.swim.ping_req_fanout, 3);
        assert!(c.swim.lifeguard);
        assert_eq!(c.max_payload_bytes, 32 * 1024);
        assert_eq!((c.buffer.per_author, c.buffer.total), (100, 10_000));
        c.validate().unwrap();
    }

    #[test]
    fn invalid_values_are_named() {
        let err = Config::default()
            .gossip_interval(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("gossip_interval"));
        let err = Config::default()
            .swim(SwimConfig::default().ping_timeout(Duration::from_secs(2)))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("swim.ping_timeout"));
        let err = Config::default()
            .swim(SwimConfig::default().suspicion_threshold(0))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("swim.suspicion_threshold"));
    }
}
