//! [`TcpConfig`]: limits, timeouts, queue sizes and reconnect policy of a
//! [`TcpTransport`](crate::TcpTransport).

use std::time::Duration;

use gossip_core::{ConnectionLimits, ReconnectPolicy};

/// Default [`TcpConfig`] `max_frame_len` (in [`ConnectionLimits`]): 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = ConnectionLimits::DEFAULT_MAX_FRAME_LEN;

/// The largest `max_frame_len` accepted: 1 GiB (the length prefix is a
/// `u32`, and bounded everything rules out more).
pub const MAX_FRAME_LEN_LIMIT: usize = ConnectionLimits::MAX_FRAME_LEN_LIMIT;

/// Default [`TcpConfig`] `send_queue_capacity`, in frames per peer.
pub const DEFAULT_SEND_QUEUE_CAPACITY: usize = 1024;

/// Default [`TcpConfig`] `inbound_queue_capacity`, in events.
pub const DEFAULT_INBOUND_QUEUE_CAPACITY: usize = 1024;

/// Default [`TcpConfig::max_inbound_connections`]: 512.
pub const DEFAULT_MAX_INBOUND_CONNECTIONS: usize = 512;

/// Default [`TcpConfig::max_inbound_connections_per_ip`]: 16.
pub const DEFAULT_MAX_INBOUND_CONNECTIONS_PER_IP: usize = 16;

/// Default [`TcpConfig::max_pending_handshakes`]: 64.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 64;

/// Default [`TcpConfig::max_pending_handshakes_per_ip`]: 8.
pub const DEFAULT_MAX_PENDING_HANDSHAKES_PER_IP: usize = 8;

/// How a [`TcpTransport`](crate::TcpTransport) is sized and timed.
///
/// Every field has a default; set the ones you need with the builder
/// methods of the same names. The frame limit and queue capacities
/// ([`limits`](Self::limits)) and the reconnect backoff
/// ([`reconnect`](Self::reconnect)) are the settings every network transport
/// shares, from `gossip-core`. [`TcpTransport::bind`](crate::TcpTransport::bind)
/// checks the values and refuses out-of-range ones.
///
/// ```
/// use std::time::Duration;
/// use gossip_transport_tcp::TcpConfig;
///
/// let config = TcpConfig::default()
///     .max_frame_len(256 * 1024)
///     .send_queue_capacity(256)
///     .backoff(Duration::from_millis(50), Duration::from_secs(10))
///     .seed(7);
/// assert_eq!(config.limits.max_frame_len, 256 * 1024);
/// assert_eq!(config.handshake_timeout, Duration::from_secs(5));
/// ```
///
/// # Inbound limits
///
/// What a remote can make this node hold open is capped, in total and per
/// remote address (an IPv4 address, or an IPv6 /64 network), and a
/// connection over a cap is closed at once, before its handshake, counted in
/// [`TcpStats`](crate::TcpStats) and reported by `recv` as a `Handshake`
/// error (at most one report per cap per second):
///
/// | setting | default | caps |
/// |---|---|---|
/// | [`max_inbound_connections`](Self::max_inbound_connections) | 512 | inbound connections open, in their handshake or established |
/// | [`max_inbound_connections_per_ip`](Self::max_inbound_connections_per_ip) | 16 | the same, from one address |
/// | [`max_pending_handshakes`](Self::max_pending_handshakes) | 64 | inbound connections in their handshake |
/// | [`max_pending_handshakes_per_ip`](Self::max_pending_handshakes_per_ip) | 8 | the same, from one address: its fair share |
/// | [`first_message_timeout`](Self::first_message_timeout) | 2 s | until the dialer's first handshake message has arrived |
///
/// Connections this node dials are never counted: when inbound connections
/// are at their cap, the peers in the address book can still be reached.
///
/// ```
/// use gossip_transport_tcp::TcpConfig;
///
/// // A node behind which many peers share one NAT address.
/// let config = TcpConfig::default()
///     .max_inbound_connections(1024)
///     .max_inbound_connections_per_ip(64)
///     .max_pending_handshakes_per_ip(16);
/// assert_eq!(config.max_pending_handshakes, 64);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpConfig {
    /// The frame limit and queue capacities. `max_frame_len` is counted
    /// without the 4-byte length prefix and announced in the handshake: a
    /// frame is only sent if the peer accepts it too. `send_queue_capacity`
    /// is per peer (default [`DEFAULT_SEND_QUEUE_CAPACITY`]); a `send` to a
    /// full queue fails with `QueueFull`.
    pub limits: ConnectionLimits,
    /// The backoff after a failed connection attempt (default 100 ms to
    /// 30 s, seed 0; the seed is mixed with the local node id).
    pub reconnect: ReconnectPolicy,
    /// How long a new connection may take to complete the handshake, either
    /// direction. Default 5 s.
    pub handshake_timeout: Duration,
    /// How long an inbound connection may take to send its first handshake
    /// message (magic, version and the first Noise message, which a dialer
    /// sends as soon as it is connected); the whole handshake still has
    /// [`handshake_timeout`](Self::handshake_timeout). Default 2 s: room for
    /// a lost segment's retransmission (an initial RTO of 1 s), while a
    /// silent socket gives its pending slot back well before the handshake
    /// timeout (memberlist and libp2p learnt the same: a short deadline on
    /// the first message is what keeps silent sockets cheap).
    pub first_message_timeout: Duration,
    /// How long an outgoing TCP connect may take. Default 5 s.
    pub connect_timeout: Duration,
    /// A connection with no frame in either direction for this long is
    /// closed (it reopens on the next `send`). `None` keeps idle connections
    /// open. Default 2 minutes.
    pub idle_timeout: Option<Duration>,
    /// Incoming connections that may be in their handshake at once (at
    /// least 1); further ones are closed at once. Default 64.
    pub max_pending_handshakes: usize,
    /// Incoming connections from one address (IPv4 address, IPv6 /64) that
    /// may be in their handshake at once: its share of
    /// [`max_pending_handshakes`](Self::max_pending_handshakes), so that
    /// silent sockets from one address cannot keep everyone else out (at
    /// least 1, at most `max_pending_handshakes`). When every pending slot
    /// is taken, a connection from an address holding fewer takes the
    /// oldest slot of the address holding the most (at least two more), so
    /// even attackers on several addresses leave room for the others; an
    /// address's only handshake is never taken. Default 8: an honest node
    /// has one handshake with us at a time, so eight nodes behind one NAT
    /// fit, and filling the 64 slots takes eight addresses.
    pub max_pending_handshakes_per_ip: usize,
    /// Incoming connections that may be open at once, in their handshake
    /// or established (at least 1). Connections this node dials are not
    /// counted, so dialing known peers keeps working when inbound is full.
    /// Default 512: there is one connection per pair of nodes, so 512 peers
    /// dialing us, far more than a group's members; each costs a descriptor
    /// and about 128 KiB of buffers, and with the common limit of 1024
    /// descriptors half remain for dialing, the listener and the store.
    pub max_inbound_connections: usize,
    /// Incoming connections from one address (IPv4 address, IPv6 /64) that
    /// may be open at once (at least 1, at most
    /// [`max_inbound_connections`](Self::max_inbound_connections)).
    /// Default 16: one connection per node, so sixteen nodes behind one NAT
    /// or on one host; raise it when more share an address.
    pub max_inbound_connections_per_ip: usize,
    /// A network pre-shared key: with one, the handshake mixes it in from
    /// its first message (Noise `psk0`), so a node without it learns
    /// nothing, not even who answers. Every node of a network must use the
    /// same (or none). Default none: any node may complete a handshake, and
    /// proves its id in it.
    pub network_key: Option<NetworkPsk>,
}

/// A 32-byte network pre-shared key ([`TcpConfig::network_key`]); `Debug`
/// never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkPsk([u8; 32]);

impl NetworkPsk {
    /// The key whose bytes are `bytes` (e.g. from `openssl rand -hex 32`,
    /// decoded).
    #[must_use]
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl std::fmt::Debug for NetworkPsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkPsk(..)")
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default()
                .send_queue_capacity(DEFAULT_SEND_QUEUE_CAPACITY)
                .inbound_queue_capacity(DEFAULT_INBOUND_QUEUE_CAPACITY),
            reconnect: ReconnectPolicy::default(),
            handshake_timeout: Duration::from_secs(5),
            first_message_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(120)),
            max_pending_handshakes: DEFAULT_MAX_PENDING_HANDSHAKES,
            max_pending_handshakes_per_ip: DEFAULT_MAX_PENDING_HANDSHAKES_PER_IP,
            max_inbound_connections: DEFAULT_MAX_INBOUND_CONNECTIONS,
            max_inbound_connections_per_ip: DEFAULT_MAX_INBOUND_CONNECTIONS_PER_IP,
            network_key: None,
        }
    }
}

impl TcpConfig {
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

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`network_key`](Self::network_key).
    #[must_use]
    pub fn network_key(mut self, key: NetworkPsk) -> Self {
        self.network_key = Some(key);
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

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`max_pending_handshakes`](Self::max_pending_handshakes).
    #[must_use]
    pub fn max_pending_handshakes(mut self, connections: usize) -> Self {
        self.max_pending_handshakes = connections;
        self
    }

    /// Sets [`max_pending_handshakes_per_ip`](Self::max_pending_handshakes_per_ip).
    #[must_use]
    pub fn max_pending_handshakes_per_ip(mut self, connections: usize) -> Self {
        self.max_pending_handshakes_per_ip = connections;
        self
    }

    /// Sets [`max_inbound_connections`](Self::max_inbound_connections).
    #[must_use]
    pub fn max_inbound_connections(mut self, connections: usize) -> Self {
        self.max_inbound_connections = connections;
        self
    }

    /// Sets [`max_inbound_connections_per_ip`](Self::max_inbound_connections_per_ip).
    #[must_use]
    pub fn max_inbound_connections_per_ip(mut self, connections: usize) -> Self {
        self.max_inbound_connections_per_ip = connections;
        self
    }

    /// Sets [`first_message_timeout`](Self::first_message_timeout).
    #[must_use]
    pub fn first_message_timeout(mut self, timeout: Duration) -> Self {
        self.first_message_timeout = timeout;
        self
    }

    /// Checks every value; the message names the first one out of range.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.limits.validate()?;
        self.reconnect.validate()?;
        for (name, value) in [
            ("max_pending_handshakes", self.max_pending_handshakes),
            (
                "max_pending_handshakes_per_ip",
                self.max_pending_handshakes_per_ip,
            ),
            ("max_inbound_connections", self.max_inbound_connections),
            (
                "max_inbound_connections_per_ip",
                self.max_inbound_connections_per_ip,
            ),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for (per_ip, total) in [
            (
                (
                    "max_pending_handshakes_per_ip",
                    self.max_pending_handshakes_per_ip,
                ),
                ("max_pending_handshakes", self.max_pending_handshakes),
            ),
            (
                (
                    "max_inbound_connections_per_ip",
                    self.max_inbound_connections_per_ip,
                ),
                ("max_inbound_connections", self.max_inbound_connections),
            ),
        ] {
            if per_ip.1 > total.1 {
                return Err(format!(
                    "{} ({}) must not exceed {} ({})",
                    per_ip.0, per_ip.1, total.0, total.1
                ));
            }
        }
        for (name, value) in [
            ("handshake_timeout", self.handshake_timeout),
            ("first_message_timeout", self.first_message_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{name} must be positive"));
            }
        }
        if self.idle_timeout.is_some_and(|idle| idle.is_zero()) {
            return Err("idle_timeout must be positive (or None)".to_owned());
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
    fn per_address_caps_may_equal_the_totals() {
        let config = TcpConfig::default()
            .max_pending_handshakes(4)
            .max_pending_handshakes_per_ip(4)
            .max_inbound_connections(8)
            .max_inbound_connections_per_ip(8);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let bad = [
            TcpConfig::default().max_frame_len(0),
            TcpConfig::default().max_frame_len(MAX_FRAME_LEN_LIMIT + 1),
            TcpConfig::default().send_queue_capacity(0),
            TcpConfig::default().inbound_queue_capacity(0),
            TcpConfig::default().max_pending_handshakes(0),
            TcpConfig::default().max_pending_handshakes_per_ip(0),
            TcpConfig::default().max_inbound_connections(0),
            TcpConfig::default().max_inbound_connections_per_ip(0),
            TcpConfig::default().max_pending_handshakes(4),
            TcpConfig::default().max_inbound_connections(8),
            TcpConfig::default().first_message_timeout(Duration::ZERO),
            TcpConfig::default().handshake_timeout(Duration::ZERO),
            TcpConfig::default().connect_timeout(Duration::ZERO),
            TcpConfig::default().idle_timeout(Some(Duration::ZERO)),
            TcpConfig::default().backoff(Duration::from_secs(2), Duration::from_secs(1)),
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?} was accepted");
        }
    }
}
