//! [`TcpConfig`]: limits, timeouts, queue sizes and reconnect policy of a
//! [`TcpTransport`](crate::TcpTransport).

use std::time::Duration;

/// Default [`TcpConfig::max_frame_len`]: 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// The largest [`TcpConfig::max_frame_len`] accepted: 1 GiB (the length
/// prefix is a `u32`, and bounded everything rules out more).
pub const MAX_FRAME_LEN_LIMIT: usize = 1 << 30;

/// Default [`TcpConfig::send_queue_capacity`], in frames per peer.
pub const DEFAULT_SEND_QUEUE_CAPACITY: usize = 1024;

/// Default [`TcpConfig::inbound_queue_capacity`], in events.
pub const DEFAULT_INBOUND_QUEUE_CAPACITY: usize = 1024;

/// How a [`TcpTransport`](crate::TcpTransport) is sized and timed.
///
/// Every field has a default; set the ones you need with the `with_*`
/// methods. [`TcpTransport::bind`](crate::TcpTransport::bind) checks the
/// values and refuses out-of-range ones.
///
/// ```
/// use std::time::Duration;
/// use gossip_transport_tcp::TcpConfig;
///
/// let config = TcpConfig::default()
///     .with_max_frame_len(256 * 1024)
///     .with_send_queue_capacity(256)
///     .with_backoff(Duration::from_millis(50), Duration::from_secs(10))
///     .with_seed(7);
/// assert_eq!(config.max_frame_len, 256 * 1024);
/// assert_eq!(config.handshake_timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpConfig {
    /// The largest frame sent or accepted, in bytes, without the 4-byte length
    /// prefix (1..=[`MAX_FRAME_LEN_LIMIT`]). Announced in the handshake: a
    /// frame is only sent if the peer accepts it too. Default
    /// [`DEFAULT_MAX_FRAME_LEN`].
    pub max_frame_len: usize,
    /// How long a new connection may take to complete the handshake, either
    /// direction. Default 5 s.
    pub handshake_timeout: Duration,
    /// How long an outgoing TCP connect may take. Default 5 s.
    pub connect_timeout: Duration,
    /// Frames that may wait in one peer's send queue (at least 1). A `send`
    /// to a full queue fails with `QueueFull`. Default
    /// [`DEFAULT_SEND_QUEUE_CAPACITY`].
    pub send_queue_capacity: usize,
    /// Frames and peer events that may wait for `recv`, all peers together
    /// (at least 1). Default [`DEFAULT_INBOUND_QUEUE_CAPACITY`].
    pub inbound_queue_capacity: usize,
    /// The first reconnect delay after a failed connection attempt. Default 100 ms.
    pub backoff_min: Duration,
    /// The longest reconnect delay (at least `backoff_min`). Default 30 s.
    pub backoff_max: Duration,
    /// Seed of the reconnect jitter, mixed with the local node id so that
    /// nodes sharing a configuration do not retry in lockstep. Default 0.
    pub seed: u64,
    /// A connection with no frame in either direction for this long is
    /// closed (it reopens on the next `send`). `None` keeps idle connections
    /// open. Default 2 minutes.
    pub idle_timeout: Option<Duration>,
    /// Incoming connections that may be in their handshake at once (at
    /// least 1); further ones are closed at once. Default 64.
    pub max_pending_handshakes: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            handshake_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            send_queue_capacity: DEFAULT_SEND_QUEUE_CAPACITY,
            inbound_queue_capacity: DEFAULT_INBOUND_QUEUE_CAPACITY,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            seed: 0,
            idle_timeout: Some(Duration::from_secs(120)),
            max_pending_handshakes: 64,
        }
    }
}

impl TcpConfig {
    /// Sets [`max_frame_len`](Self::max_frame_len).
    #[must_use]
    pub fn with_max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
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

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`max_pending_handshakes`](Self::max_pending_handshakes).
    #[must_use]
    pub fn with_max_pending_handshakes(mut self, connections: usize) -> Self {
        self.max_pending_handshakes = connections;
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
            ("max_pending_handshakes", self.max_pending_handshakes),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for (name, value) in [
            ("handshake_timeout", self.handshake_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.idle_timeout.is_some_and(|idle| idle.is_zero()) {
            return Err("idle_timeout must be positive (or None)".to_owned());
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
        assert_eq!(TcpConfig::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let bad = [
            TcpConfig::default().with_max_frame_len(0),
            TcpConfig::default().with_max_frame_len(MAX_FRAME_LEN_LIMIT + 1),
            TcpConfig::default().with_send_queue_capacity(0),
            TcpConfig::default().with_inbound_queue_capacity(0),
            TcpConfig::default().with_max_pending_handshakes(0),
            TcpConfig::default().with_handshake_timeout(Duration::ZERO),
            TcpConfig::default().with_connect_timeout(Duration::ZERO),
            TcpConfig::default().with_idle_timeout(Some(Duration::ZERO)),
            TcpConfig::default().with_backoff(Duration::from_secs(2), Duration::from_secs(1)),
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?} was accepted");
        }
    }
}
