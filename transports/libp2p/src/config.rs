//! [`Libp2pConfig`]: limits, timeouts, queue sizes and reconnect policy of a
//! [`Libp2pTransport`](crate::Libp2pTransport).

use std::time::Duration;

use gossip_core::{ConnectionLimits, ReconnectPolicy};

/// Default [`Libp2pConfig`] `max_frame_len` (in [`ConnectionLimits`]): 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = ConnectionLimits::DEFAULT_MAX_FRAME_LEN;

/// The largest `max_frame_len` accepted: 1 GiB (the length prefix is a
/// `u32`, and bounded everything rules out more).
pub const MAX_FRAME_LEN_LIMIT: usize = ConnectionLimits::MAX_FRAME_LEN_LIMIT;

/// Default [`Libp2pConfig`] `send_queue_capacity`, in frames per peer.
pub const DEFAULT_SEND_QUEUE_CAPACITY: usize = 1024;

/// Default [`Libp2pConfig`] `inbound_queue_capacity`, in events.
pub const DEFAULT_INBOUND_QUEUE_CAPACITY: usize = 1024;

/// Default [`Libp2pConfig::max_concurrent_streams`], per peer.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: usize = 8;

/// How a [`Libp2pTransport`](crate::Libp2pTransport) is sized and timed.
///
/// Every field has a default; set the ones you need with the builder
/// methods of the same names. The frame limit and queue capacities
/// ([`limits`](Self::limits)) and the reconnect backoff
/// ([`reconnect`](Self::reconnect)) are the settings every network transport
/// shares, from `gossip-core`.
/// [`Libp2pTransport::new`](crate::Libp2pTransport::new) checks the values
/// and refuses out-of-range ones.
///
/// ```
/// use std::time::Duration;
/// use gossip_transport_libp2p::Libp2pConfig;
///
/// let config = Libp2pConfig::default()
///     .max_frame_len(256 * 1024)
///     .send_queue_capacity(32)
///     .backoff(Duration::from_millis(50), Duration::from_secs(10))
///     .seed(7);
/// assert_eq!(config.limits.max_frame_len, 256 * 1024);
/// assert_eq!(config.idle_timeout, Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Libp2pConfig {
    /// The frame limit and queue capacities. `max_frame_len` is counted
    /// without the 4-byte length prefix; a frame announcing more is refused
    /// before anything is allocated for it. `send_queue_capacity` counts the
    /// frames accepted by `send` for one peer and not yet taken by its
    /// writer (queued while dialing, or while the peer's flow-control window
    /// is full; default [`DEFAULT_SEND_QUEUE_CAPACITY`]); a `send` beyond it
    /// fails with `QueueFull`. `inbound_queue_capacity` bounds the frames
    /// and events waiting for `recv`; when it is full, the readers wait and
    /// stop reading their substreams (back-pressure, nothing is refused).
    pub limits: ConnectionLimits,
    /// The backoff after a failed dial (default 100 ms to 30 s, seed 0; the
    /// seed is mixed with the local peer id).
    pub reconnect: ReconnectPolicy,
    /// Commands (frames to send, dial and listen requests) waiting for the
    /// swarm task (at least 1). A `send` to a full command queue fails with
    /// `QueueFull`. Default 1024.
    pub command_queue_capacity: usize,
    /// Inbound frame substreams one peer may have open at once (at least
    /// 1). An honest peer opens one at a time (a new one after its previous
    /// one closed); one beyond this is reset at once and counted in
    /// [`Libp2pStats::refused_streams`](crate::Libp2pStats). Default
    /// [`DEFAULT_MAX_CONCURRENT_STREAMS`].
    pub max_concurrent_streams: usize,
    /// A peer's outbound substream carrying no frame for this long is
    /// closed, and a connection with no open substream for this long is
    /// closed too (both reopen on the next `send`). Default 2 minutes.
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
    /// Whether mDNS discovery runs (only with the crate feature `mdns`;
    /// ignored otherwise). Default `true` when the feature is on.
    pub mdns: bool,
}

impl Default for Libp2pConfig {
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default()
                .send_queue_capacity(DEFAULT_SEND_QUEUE_CAPACITY)
                .inbound_queue_capacity(DEFAULT_INBOUND_QUEUE_CAPACITY),
            reconnect: ReconnectPolicy::default(),
            command_queue_capacity: 1024,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            idle_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_connections_per_peer: 2,
            max_pending_incoming: 64,
            mdns: true,
        }
    }
}

impl Libp2pConfig {
    /// Sets [`limits`](Self::limits).
    #[must_use]
    pub fn limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`reconnect`](Self::reconnect).
    #[must_use]
    pub fn reconnect(mut self, reconnect: ReconnectPolicy) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets the `max_frame_len` of [`limits`](Self::limits).
    #[must_use]
    pub fn max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.limits = self.limits.max_frame_len(max_frame_len);
        self
    }

    /// Sets the `send_queue_capacity` of [`limits`](Self::limits).
    #[must_use]
    pub fn send_queue_capacity(mut self, frames: usize) -> Self {
        self.limits = self.limits.send_queue_capacity(frames);
        self
    }

    /// Sets the `inbound_queue_capacity` of [`limits`](Self::limits).
    #[must_use]
    pub fn inbound_queue_capacity(mut self, events: usize) -> Self {
        self.limits = self.limits.inbound_queue_capacity(events);
        self
    }

    /// Sets [`command_queue_capacity`](Self::command_queue_capacity).
    #[must_use]
    pub fn command_queue_capacity(mut self, commands: usize) -> Self {
        self.command_queue_capacity = commands;
        self
    }

    /// Sets [`max_concurrent_streams`](Self::max_concurrent_streams).
    #[must_use]
    pub fn max_concurrent_streams(mut self, streams: usize) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    #[must_use]
    pub fn max_connections(mut self, total: u32) -> Self {
        self.max_connections = total;
        self
    }

    /// Sets [`max_connections_per_peer`](Self::max_connections_per_peer).
    #[must_use]
    pub fn max_connections_per_peer(mut self, per_peer: u32) -> Self {
        self.max_connections_per_peer = per_peer;
        self
    }

    /// Sets [`max_pending_incoming`](Self::max_pending_incoming).
    #[must_use]
    pub fn max_pending_incoming(mut self, connections: u32) -> Self {
        self.max_pending_incoming = connections;
        self
    }

    /// Sets the backoff bounds of [`reconnect`](Self::reconnect).
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect = self.reconnect.backoff(min, max);
        self
    }

    /// Sets the jitter seed of [`reconnect`](Self::reconnect).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.reconnect = self.reconnect.seed(seed);
        self
    }

    /// Sets [`mdns`](Self::mdns).
    #[must_use]
    pub fn mdns(mut self, enabled: bool) -> Self {
        self.mdns = enabled;
        self
    }

    /// Checks every value; the message names the first one out of range.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.limits.validate()?;
        self.reconnect.validate()?;
        for (name, value) in [
            ("command_queue_capacity", self.command_queue_capacity),
            ("max_concurrent_streams", self.max_concurrent_streams),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
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
            ("idle_timeout", self.idle_timeout),
            ("handshake_timeout", self.handshake_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{name} must be positive"));
            }
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
            Libp2pConfig::default().max_frame_len(0),
            Libp2pConfig::default().max_frame_len(MAX_FRAME_LEN_LIMIT + 1),
            Libp2pConfig::default().send_queue_capacity(0),
            Libp2pConfig::default().inbound_queue_capacity(0),
            Libp2pConfig::default().command_queue_capacity(0),
            Libp2pConfig::default().max_concurrent_streams(0),
            Libp2pConfig::default().max_connections(0),
            Libp2pConfig::default().max_connections_per_peer(0),
            Libp2pConfig::default().max_pending_incoming(0),
            Libp2pConfig::default().idle_timeout(Duration::ZERO),
            Libp2pConfig::default().handshake_timeout(Duration::ZERO),
            Libp2pConfig::default().backoff(Duration::from_secs(2), Duration::from_secs(1)),
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?} was accepted");
        }
    }
}
