//! Hybrid logical clock: [`Hlc`] timestamps and the [`HlcClock`] that issues them.
//!
//! The clock never reads the system time itself: the caller passes physical
//! milliseconds in (from the clock port), which keeps it deterministic.
//!
//! ```
//! use gossip_core::{raw::HlcClock, Hlc};
//! use std::time::Duration;
//!
//! let mut clock = HlcClock::new(Duration::from_secs(60));
//! let a = clock.now(1_000)?;
//! let b = clock.now(1_000)?; // same millisecond: the logical counter moves
//! assert!(b > a);
//! assert_eq!((b.physical_ms(), b.logical()), (1_000, 1));
//! // A remote timestamp is merged, so the next local one sorts after it.
//! let merged = clock.receive(Hlc::new(5_000, 7)?, 1_001)?;
//! assert!(merged > Hlc::new(5_000, 7)?);
//! # Ok::<(), gossip_core::Error>(())
//! ```

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The largest physical time an [`Hlc`] can carry: 2^48 - 1 milliseconds (year 10889).
pub const MAX_PHYSICAL_MS: u64 = (1 << 48) - 1;

/// A hybrid logical clock timestamp: 48 bits of physical milliseconds and a
/// 16-bit logical counter, packed into one `u64` that orders like the pair.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hlc(u64);

impl Hlc {
    /// The smallest timestamp.
    pub const ZERO: Hlc = Hlc(0);

    /// Builds a timestamp from its parts.
    ///
    /// # Errors
    ///
    /// [`Error::ClockExhausted`] when `physical_ms` exceeds [`MAX_PHYSICAL_MS`].
    pub fn new(physical_ms: u64, logical: u16) -> Result<Self, Error> {
        if physical_ms > MAX_PHYSICAL_MS {
            return Err(Error::ClockExhausted);
        }
        Ok(Hlc((physical_ms << 16) | u64::from(logical)))
    }

    /// Unpacks a timestamp from its `u64` form (every `u64` is a valid timestamp).
    #[must_use]
    pub const fn from_u64(packed: u64) -> Self {
        Hlc(packed)
    }

    /// The packed `u64` form, ordered like the timestamp.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Physical milliseconds since the Unix epoch.
    #[must_use]
    pub const fn physical_ms(self) -> u64 {
        self.0 >> 16
    }

    /// The logical counter within the physical millisecond.
    #[must_use]
    pub const fn logical(self) -> u16 {
        (self.0 & 0xFFFF) as u16
    }

    /// The timestamp right after this one: the counter plus one, or the next
    /// millisecond when the counter is full.
    fn successor(self) -> Result<Self, Error> {
        match self.logical().checked_add(1) {
            Some(logical) => Hlc::new(self.physical_ms(), logical),
            None => Hlc::new(self.physical_ms() + 1, 0),
        }
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({}.{})", self.physical_ms(), self.logical())
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.physical_ms(), self.logical())
    }
}

/// Issues strictly increasing [`Hlc`] timestamps and merges remote ones.
///
/// A remote timestamp more than `max_drift` ahead of local physical time is
/// refused with [`Error::ClockDrift`] and leaves the clock untouched, so one
/// peer with a broken clock cannot drag everyone into the future. When the
/// logical counter is full the clock moves to the next millisecond instead of
/// wrapping.
#[derive(Debug, Clone)]
pub struct HlcClock {
    last: Hlc,
    max_drift_ms: u64,
}

impl HlcClock {
    /// A clock that has issued nothing yet.
    #[must_use]
    pub fn new(max_drift: Duration) -> Self {
        Self::with_floor(max_drift, Hlc::ZERO)
    }

    /// A clock restored after a restart: every timestamp it issues is greater
    /// than `floor` (the last timestamp issued or seen before).
    #[must_use]
    pub fn with_floor(max_drift: Duration, floor: Hlc) -> Self {
        let max_drift_ms = u64::try_from(max_drift.as_millis()).unwrap_or(u64::MAX);
        Self {
            last: floor,
            max_drift_ms,
        }
    }

    /// The last timestamp issued or merged.
    #[must_use]
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// The largest distance a remote clock may be ahead of local physical time.
    #[must_use]
    pub fn max_drift(&self) -> Duration {
        Duration::from_millis(self.max_drift_ms)
    }

    /// Raises the clock so that later timestamps sort after `seen`, without
    /// the drift check (for timestamps this node issued itself, e.g. on restart).
    pub fn observe(&mut self, seen: Hlc) {
        self.last = self.last.max(seen);
    }

    /// Issues a timestamp strictly greater than every one issued or merged before.
    ///
    /// # Errors
    ///
    /// [`Error::ClockExhausted`] when the clock reached [`MAX_PHYSICAL_MS`].
    pub fn now(&mut self, physical_ms: u64) -> Result<Hlc, Error> {
        let next = if physical_ms > self.last.physical_ms() {
            Hlc::new(physical_ms, 0)?
        } else {
            self.last.successor()?
        };
        self.last = next;
        Ok(next)
    }

    /// Merges a remote timestamp and returns a local one greater than both it
    /// and everything issued before.
    ///
    /// # Errors
    ///
    /// - [`Error::ClockDrift`] when `remote` is more than `max_drift` ahead of
    ///   `physical_ms`; the clock is left unchanged.
    /// - [`Error::ClockExhausted`] when the clock reached [`MAX_PHYSICAL_MS`].
    pub fn receive(&mut self, remote: Hlc, physical_ms: u64) -> Result<Hlc, Error> {
        if remote.physical_ms() > physical_ms.saturating_add(self.max_drift_ms) {
            return Err(Error::ClockDrift {
                remote,
                local_ms: physical_ms,
                max_drift_ms: self.max_drift_ms,
            });
        }
        let floor = self.last.max(remote);
        let next = if physical_ms > floor.physical_ms() {
            Hlc::new(physical_ms, 0)?
        } else {
            floor.successor()?
        };
        self.last = next;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clock() -> HlcClock {
        HlcClock::new(Duration::from_secs(10))
    }

    #[test]
    fn packs_and_orders_like_the_pair() {
        let a = Hlc::new(5, u16::MAX).unwrap();
        let b = Hlc::new(6, 0).unwrap();
        assert!(a < b);
        assert_eq!(Hlc::from_u64(b.as_u64()), b);
        assert!(matches!(
            Hlc::new(MAX_PHYSICAL_MS + 1, 0),
            Err(Error::ClockExhausted)
        ));
    }

    #[test]
    fn logical_overflow_moves_to_next_millisecond() {
        let mut c = HlcClock::with_floor(Duration::ZERO, Hlc::new(100, u16::MAX).unwrap());
        let next = c.now(100).unwrap();
        assert_eq!((next.physical_ms(), next.logical()), (101, 0));
    }

    #[test]
    fn exhausted_clock_is_an_error_not_a_wrap() {
        let mut c =
            HlcClock::with_floor(Duration::ZERO, Hlc::new(MAX_PHYSICAL_MS, u16::MAX).unwrap());
        assert!(matches!(c.now(0), Err(Error::ClockExhausted)));
        assert_eq!(c.last(), Hlc::new(MAX_PHYSICAL_MS, u16::MAX).unwrap());
    }

    #[test]
    fn remote_far_ahead_is_refused_and_does_not_move_clock() {
        let mut c = clock();
        let before = c.now(1_000).unwrap();
        let remote = Hlc::new(1_000 + 10_001, 0).unwrap();
        assert!(matches!(
            c.receive(remote, 1_000),
            Err(Error::ClockDrift { .. })
        ));
        assert_eq!(c.last(), before);
        // Exactly at the bound is accepted.
        let ok = c.receive(Hlc::new(11_000, 3).unwrap(), 1_000).unwrap();
        assert_eq!(ok, Hlc::new(11_000, 4).unwrap());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Now(u64),
        Receive(u64, u16, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..1_000_000).prop_map(Op::Now),
            (0u64..2_000_000, any::<u16>(), 0u64..1_000_000)
                .prop_map(|(r, l, p)| Op::Receive(r, l, p)),
        ]
    }

    proptest! {
        /// Every issued timestamp is strictly greater than all before it, and a
        /// merged remote timestamp is always exceeded, whatever the physical
        /// clock does (jumps back, stalls) and however far remotes are.
        #[test]
        fn strictly_monotonic_under_any_interleaving(ops in proptest::collection::vec(op(), 1..200)) {
            let mut c = clock();
            let mut last = Hlc::ZERO;
            for op in ops {
                match op {
                    Op::Now(p) => {
                        let t = c.now(p).unwrap();
                        prop_assert!(t > last);
                        last = t;
                    }
                    Op::Receive(r, l, p) => {
                        let remote = Hlc::new(r, l).unwrap();
                        match c.receive(remote, p) {
                            Ok(t) => {
                                prop_assert!(t > last);
                                prop_assert!(t > remote);
                                last = t;
                            }
                            Err(Error::ClockDrift { .. }) => {
                                prop_assert!(r > p + 10_000);
                                prop_assert_eq!(c.last(), last);
                            }
                            Err(e) => prop_assert!(false, "unexpected {e}"),
                        }
                    }
                }
            }
        }
    }
}
