//! [`Libp2pConfig`]: limits, timeouts, queue sizes and reconnect policy of a
//! [`Libp2pTransport`](crate::Libp2pTransport).

use std::time::Duration;

/// Default [`Libp2pConfig::max_frame_len`]: 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// The largest [`Libp2pConfig::max_frame_len`] accepted: 1 GiB (the length
/// prefix is a `u32`, and bounded everything rules out more).
pub const MAX_FRAME_LEN_LIMIT: usize = 1 << 30;

/// Default [`Libp2pConfig::send_queue_capacity`], in frames per peer.
pub const DEFAULT_SEND_QUEUE_CAPACITY: usize = 64;

/// Default [`Libp2pConfig::inbound_queue_capacity`], in events.
pub const DEFAULT_INBOUND_QUEUE_CAPACITY: usize = 1024;

/// Default [`Libp2pConfig::max_concurrent_streams`], per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: usize = 256;

/// How a [`Libp2pTransport`](crate::Libp2pTransport) is sized and timed.
///
/// Every field has a default; set the ones you need with the `with_*`
/// methods. [`Libp2pTransport::new`](crate::Libp2pTransport::new) checks the
/// values and refuses out-of-range ones.
///
/// ```
/// use std::time::Duration;
/// use gossip_transport_libp2p::Libp2pConfig;
///
/// let config = Libp2pConfig::default()
///     .with_max_frame_len(256 * 1024)
///     .with_send_queue_capacity(32)
///     .with_backoff(Duration::from_millis(50), Duration::from_secs(10))
///     .with_seed(7);
/// assert_eq!(config.max_frame_len, 256 * 1024);
/// assert_eq!(config.idle_timeout, Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Libp2pConfig {
    /// The largest frame sent or accepted, in bytes, without the 4-byte
    /// length prefix (1..=[`MAX_FRAME_LEN_LIMIT`]). A request announcing more
    /// is refused before anything is allocated for it. Default
    /// [`DEFAULT_MAX_FRAME_LEN`].
    pub max_frame_len: usize,
    /// Frames sent to one peer and not yet acknowledged (queued while
    /// dialing, or in flight), at least 1. A `send` beyond it fails with
    /// `QueueFull`. Keep it at most half of the peers'
    /// [`max_concurrent_streams`](Self::max_concurrent_streams). Default
    /// [`DEFAULT_SEND_QUEUE_CAPACITY`].
    pub send_queue_capacity: usize,
    /// Frames and peer events that may wait for `recv`, all peers together
    /// (at least 1). Default [`DEFAULT_INBOUND_QUEUE_CAPACITY`].
    pub inbound_queue_capacity: usize,
    /// Frames received but not yet acknowledged because the inbound queue
    /// is full (at least 1). A frame arriving beyond it is refused without
    /// an acknowledgement (the sender's request fails) and counted in
    /// [`Libp2pStats::refused_frames`](crate::Libp2pStats). Default 4096.
    pub max_pending_inbound: usize,
    /// Commands (frames to send, dial and listen requests) waiting for the
    /// swarm task (at least 1). A `send` to a full command queue fails with
    /// `QueueFull`. Default 1024.
    pub command_queue_capacity: usize,
    /// Concurrent request-response substreams per connection, inbound and
    /// outbound together (at least 2). Default
    /// [`DEFAULT_MAX_CONCURRENT_STREAMS`].
    pub max_concurrent_streams: usize,
    /// How long a frame may wait for its acknowledgement (and an inbound
    /// frame for room in the inbound queue) before the request fails.
    /// Default 30 s.
    pub request_timeout: Duration,
    /// A connection with no open substream for this long is closed (it
    /// reopens on the next `send`). Default 2 minutes.
    pub idle_timeout: Duration,
    /// How long a new connection may take to agree on Noise and Yamux, either
    /// direction; an inbound one that takes longer is closed and reported
    /// from `recv` as a `Handshake` error. Default 10 s.
    pub handshake_timeout: Duration,
    /// Established connections, all peers together (at least 1). Default 256.
    pub max_connections: u32,
    /// Established connections to one peer (at least 1; 2 lets simultaneous
    /// dials from both sides complete). Default 2.
    pub max_connections_per_peer: u32,
    /// Incoming connections still in their handshake (at least 1). Default 64.
    pub max_pending_incoming: u32,
    /// The first reconnect delay after a failed dial. Default 100 ms.
    pub backoff_min: Duration,
    /// The longest reconnect delay (at least `backoff_min`). Default 30 s.
    pub backoff_max: Duration,
    /// Seed of the reconnect jitter, mixed with the local peer id so that
    /// nodes sharing a configuration do not retry in lockstep. Default 0.
    pub seed: u64,
    /// Whether mDNS discovery runs (only with the crate feature `mdns`;
    /// ignored otherwise). Default `true` when the feature is on.
    pub mdns: bool,
}

impl Default for Libp2pConfig {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            send_queue_capacity: DEFAULT_SEND_QUEUE_CAPACITY,
            inbound_queue_capacity: DEFAULT_INBOUND_QUEUE_CAPACITY,
            max_pending_inbound: 4096,
            command_queue_capacity: 1024,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_connections_per_peer: 2,
            max_pending_incoming: 64,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            seed: 0,
            mdns: true,
        }
    }
}

impl Libp2pConfig {
    /// Sets [`max_frame_len`](Self::max_frame_len).
    #[must_use]
    pub fn with_max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// Sets [`send_queue_capacity`](Self::send_queue_capacity).
    #[must_use]
    pub fn with_send_queue_capacity(mut self, frames: usize) -> Self {
        self.send_queue_capacity = frames;
        self
    }

    /// Sets [`inbound_queue_capacity`](Self::inbound_queue_capacity).
    #[must_use]
    pub fn with_inbound_queue_capacity(mut self, events: usize) -> Self {
        self.inbound_queue_capacity = events;
        self
    }

    /// Sets [`max_pending_inbound`](Self::max_pending_inbound).
    #[must_use]
    pub fn with_max_pending_inbound(mut self, frames: usize) -> Self {
        self.max_pending_inbound = frames;
        self
    }

    /// Sets [`command_queue_capacity`](Self::command_queue_capacity).
    #[must_use]
    pub fn with_command_queue_capacity(mut self, commands: usize) -> Self {
        self.command_queue_capacity = commands;
        self
    }

    /// Sets [`max_concurrent_streams`](Self::max_concurrent_streams).
    #[must_use]
    pub fn with_max_concurrent_streams(mut self, streams: usize) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections) and
    /// [`max_connections_per_peer`](Self::max_connections_per_peer).
    #[must_use]
    pub fn with_connection_limits(mut self, total: u32, per_peer: u32) -> Self {
        self.max_connections = total;
        self.max_connections_per_peer = per_peer;
        self
    }

    /// Sets [`max_pending_incoming`](Self::max_pending_incoming).
    #[must_use]
    pub fn with_max_pending_incoming(mut self, connections: u32) -> Self {
        self.max_pending_incoming = connections;
        self
    }

    /// Sets [`backoff_min`](Self::backoff_min) and [`backoff_max`](Self::backoff_max).
    #[must_use]
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// Sets [`seed`](Self::seed).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`mdns`](Self::mdns).
    #[must_use]
    pub fn with_mdns(mut self, enabled: bool) -> Self {
        self.mdns = enabled;
        self
    }

    /// Checks every value; the message names the first one out of range.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_FRAME_LEN_LIMIT).contains(&self.max_frame_len) {
            return Err(format!(
                "max_frame_len {} is outside 1..={MAX_FRAME_LEN_LIMIT}",
                self.max_frame_len
            ));
        }
        for (name, value) in [
            ("send_queue_capacity", self.send_queue_capacity),
            ("inbound_queue_capacity", self.inbound_queue_capacity),
            ("max_pending_inbound", self.max_pending_inbound),
            ("command_queue_capacity", self.command_queue_capacity),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.max_concurrent_streams < 2 {
            return Err("max_concurrent_streams must be at least 2".to_owned());
        }
        for (name, value) in [
            ("max_connections", self.max_connections),
            ("max_connections_per_peer", self.max_connections_per_peer),
            ("max_pending_incoming", self.max_pending_incoming),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for (name, value) in [
            ("request_timeout", self.request_timeout),
            ("idle_timeout", self.idle_timeout),
            ("handshake_timeout", self.handshake_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.backoff_min > self.backoff_max {
            return Err(format!(
                "backoff_min {:?} exceeds backoff_max {:?}",
                self.backoff_min, self.backoff_max
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(Libp2pConfig::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let bad = [
            Libp2pConfig::default().with_max_frame_len(0),
            Libp2pConfig::default().with_max_frame_len(MAX_FRAME_LEN_LIMIT + 1),
            Libp2pConfig::default().with_send_queue_capacity(0),
            Libp2pConfig::default().with_inbound_queue_capacity(0),
            Libp2pConfig::default().with_max_pending_inbound(0),
            Libp2pConfig::default().with_command_queue_capacity(0),
            Libp2pConfig::default().with_max_concurrent_streams(1),
            Libp2pConfig::default().with_connection_limits(0, 1),
            Libp2pConfig::default().with_connection_limits(1, 0),
            Libp2pConfig::default().with_max_pending_incoming(0),
            Libp2pConfig::default().with_request_timeout(Duration::ZERO),
            Libp2pConfig::default().with_idle_timeout(Duration::ZERO),
            Libp2pConfig::default().with_handshake_timeout(Duration::ZERO),
            Libp2pConfig::default().with_backoff(Duration::from_secs(2), Duration::from_secs(1)),
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?} was accepted");
        }
    }
}
