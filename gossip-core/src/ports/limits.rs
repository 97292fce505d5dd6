//! [`ConnectionLimits`]: the frame-length limit and queue capacities every
//! network transport has, checked the same way. Embedded in the TCP and
//! libp2p transports' configurations; third-party transports embed it too.
//!
//! ```
//! use gossip_core::ConnectionLimits;
//!
//! let limits = ConnectionLimits::default()
//!     .max_frame_len(64 * 1024)
//!     .send_queue_capacity(32);
//! assert_eq!(limits.inbound_queue_capacity, 1024);
//! assert_eq!(limits.validate(), Ok(()));
//! assert!(ConnectionLimits::default().max_frame_len(0).validate().is_err());
//! ```

/// How large frames and queues of a network transport may grow.
///
/// Set with the builder methods of the same names; a transport checks the
/// values with [`validate`](Self::validate) when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// The largest frame sent or accepted, in bytes, without the transport's
    /// own framing (1..=[`MAX_FRAME_LEN_LIMIT`](Self::MAX_FRAME_LEN_LIMIT)). Default
    /// [`DEFAULT_MAX_FRAME_LEN`](Self::DEFAULT_MAX_FRAME_LEN).
    pub max_frame_len: usize,
    /// Frames that may wait for one peer (at least 1). A `send` beyond it
    /// fails with `QueueFull`. Default [`DEFAULT_SEND_QUEUE_CAPACITY`](Self::DEFAULT_SEND_QUEUE_CAPACITY).
    pub send_queue_capacity: usize,
    /// Frames and peer events that may wait for `recv`, all peers together
    /// (at least 1); the capacity of the transport's
    /// [`InboundQueue`](crate::InboundQueue). Default
    /// [`DEFAULT_INBOUND_QUEUE_CAPACITY`](Self::DEFAULT_INBOUND_QUEUE_CAPACITY).
    pub inbound_queue_capacity: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_frame_len: Self::DEFAULT_MAX_FRAME_LEN,
            send_queue_capacity: Self::DEFAULT_SEND_QUEUE_CAPACITY,
            inbound_queue_capacity: Self::DEFAULT_INBOUND_QUEUE_CAPACITY,
        }
    }
}

impl ConnectionLimits {
    /// Default [`max_frame_len`](Self::max_frame_len): 1 MiB.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

    /// The largest [`max_frame_len`](Self::max_frame_len) accepted: 1 GiB (a
    /// 4-byte length prefix could say more, but bounded everything rules it
    /// out).
    pub const MAX_FRAME_LEN_LIMIT: usize = 1 << 30;

    /// Default [`send_queue_capacity`](Self::send_queue_capacity), in frames
    /// per peer.
    pub const DEFAULT_SEND_QUEUE_CAPACITY: usize = 1024;

    /// Default [`inbound_queue_capacity`](Self::inbound_queue_capacity), in
    /// events.
    pub const DEFAULT_INBOUND_QUEUE_CAPACITY: usize = 1024;

    /// Sets [`max_frame_len`](Self::max_frame_len).
    #[must_use]
    pub fn max_frame_len(mut self, bytes: usize) -> Self {
        self.max_frame_len = bytes;
        self
    }

    /// Sets [`send_queue_capacity`](Self::send_queue_capacity).
    #[must_use]
    pub fn send_queue_capacity(mut self, frames: usize) -> Self {
        self.send_queue_capacity = frames;
        self
    }

    /// Sets [`inbound_queue_capacity`](Self::inbound_queue_capacity).
    #[must_use]
    pub fn inbound_queue_capacity(mut self, events: usize) -> Self {
        self.inbound_queue_capacity = events;
        self
    }

    /// Checks every value.
    ///
    /// # Errors
    ///
    /// A message naming the first value out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=Self::MAX_FRAME_LEN_LIMIT).contains(&self.max_frame_len) {
            return Err(format!(
                "max_frame_len {} is outside 1..={}",
                self.max_frame_len,
                Self::MAX_FRAME_LEN_LIMIT
            ));
        }
        for (name, value) in [
            ("send_queue_capacity", self.send_queue_capacity),
            ("inbound_queue_capacity", self.inbound_queue_capacity),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_setters_set() {
        let limits = ConnectionLimits::default();
        assert_eq!(limits.validate(), Ok(()));
        let set = limits
            .max_frame_len(10)
            .send_queue_capacity(2)
            .inbound_queue_capacity(3);
        assert_eq!(
            (
                set.max_frame_len,
                set.send_queue_capacity,
                set.inbound_queue_capacity
            ),
            (10, 2, 3)
        );
    }

    #[test]
    fn out_of_range_values_are_named() {
        let cases = [
            (
                ConnectionLimits::default().max_frame_len(0),
                "max_frame_len",
            ),
            (
                ConnectionLimits::default()
                    .max_frame_len(ConnectionLimits::MAX_FRAME_LEN_LIMIT + 1),
                "max_frame_len",
            ),
            (
                ConnectionLimits::default().send_queue_capacity(0),
                "send_queue_capacity",
            ),
            (
                ConnectionLimits::default().inbound_queue_capacity(0),
                "inbound_queue_capacity",
            ),
        ];
        for (limits, name) in cases {
            let reason = limits.validate().err().unwrap_or_default();
            assert!(reason.starts_with(name), "{limits:?}: {reason:?}");
        }
        assert_eq!(
            ConnectionLimits::default()
                .max_frame_len(ConnectionLimits::MAX_FRAME_LEN_LIMIT)
                .validate(),
            Ok(())
        );
    }
}
