//! [`LazyPushConfig`]: the timings and bounds of the [`LazyPush`](super::LazyPush) engine.

use std::time::Duration;

/// Timings and bounds of lazy push in channels too large for the
/// originator to push to every member itself. A node takes them as
/// [`Config::lazy_push`](crate::Config::lazy_push); these are its defaults
/// too.
///
/// ```
/// use gossip_core::protocol::lazy_push::LazyPushConfig;
/// use std::time::Duration;
///
/// let config = LazyPushConfig::default().graft_timeout(Duration::from_millis(100));
/// assert_eq!(config.lazy_fanout, 1);
/// assert_eq!(config.graft_timeout, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LazyPushConfig {
    /// Lazy members told, per channel and per gossip tick, what this node
    /// received since the last tick (one `IHave` frame each). Default 1: an
    /// entry then costs about one announcement per node, so that eager
    /// pushes along the tree plus announcements stay below 2 × N frames.
    pub lazy_fanout: usize,
    /// How long an announced entry may stay missing before this node asks
    /// the announcer for it (a `Graft`, which also makes the link eager),
    /// and then the next announcer. Default 300 ms.
    pub graft_timeout: Duration,
    /// Most missing entries tracked at once, one per channel, stream and
    /// author, a quarter of them at most first announced by one peer;
    /// further announcements are ignored (anti-entropy still repairs).
    /// Default 1 024.
    pub max_missing: usize,
    /// How long a missing entry is tracked at most (it is also dropped
    /// after three grafts). Default 10 s.
    pub missing_ttl: Duration,
    /// Most announcements (channel, stream, author) waiting for the next
    /// tick; more are dropped and counted. Also the most (channel, stream,
    /// author) for which the node remembers how far pushes delivered them
    /// (so that only a duplicate push, not one after an anti-entropy
    /// repair, prunes a link). Default 4 096.
    pub max_announcements: usize,
    /// Most entries sent in answer to one `Graft`, within the peer's serve
    /// budget. Default 1 024.
    pub max_graft_entries: usize,
    /// Consecutive duplicate pushes from one link before it is pruned
    /// (made lazy); a first delivery by the link starts the count again.
    /// Default 3. PlumTree prunes on the first duplicate (1), which keeps
    /// the fewest eager links when links keep their order; when the
    /// first copy of successive entries comes by different parents (timing
    /// jitter between connections, several entries in flight), pruning at
    /// once swaps the parents on every entry, a prune and a re-promotion
    /// each time, and the tree never settles. Values below 1 count as 1.
    pub prune_after: u32,
}

impl Default for LazyPushConfig {
    fn default() -> Self {
        Self {
            lazy_fanout: 1,
            graft_timeout: Duration::from_millis(300),
            max_missing: 1_024,
            missing_ttl: Duration::from_secs(10),
            max_announcements: 4_096,
            max_graft_entries: 1_024,
            prune_after: 3,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl LazyPushConfig {
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
    /// Sets [`LazyPushConfig::lazy_fanout`].
    lazy_fanout: usize,
    /// Sets [`LazyPushConfig::graft_timeout`].
    graft_timeout: Duration,
    /// Sets [`LazyPushConfig::max_missing`].
    max_missing: usize,
    /// Sets [`LazyPushConfig::missing_ttl`].
    missing_ttl: Duration,
    /// Sets [`LazyPushConfig::max_announcements`].
    max_announcements: usize,
    /// Sets [`LazyPushConfig::max_graft_entries`].
    max_graft_entries: usize,
    /// Sets [`LazyPushConfig::prune_after`].
    prune_after: u32,
}

impl LazyPushConfig {
    /// [`graft_timeout`](Self::graft_timeout) in milliseconds.
    pub(crate) fn graft_timeout_ms(&self) -> u64 {
        u64::try_from(self.graft_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// [`missing_ttl`](Self::missing_ttl) in milliseconds.
    pub(crate) fn missing_ttl_ms(&self) -> u64 {
        u64::try_from(self.missing_ttl.as_millis()).unwrap_or(u64::MAX)
    }
}
