//! Simulation helpers: a clock that follows tokio's (pausable) time.
//!
//! ```
//! use gossip_core::{testkit::sim::SimClock, Clock};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let clock = SimClock::new(1_000_000).with_skew_ms(-250);
//! let before = clock.now_ms();
//! tokio::time::sleep(std::time::Duration::from_secs(1)).await; // instant under paused time
//! assert_eq!(clock.now_ms() - before, 1_000);
//! # }
//! ```

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use tokio::time::Instant;

use crate::ports::Clock;

/// Physical time that advances with `tokio::time` (so paused-time tests move
/// it), from a fixed epoch, plus an adjustable skew to simulate a node whose
/// clock is off or jumps.
#[derive(Debug, Clone)]
pub struct SimClock {
    epoch_ms: u64,
    start: Instant,
    skew_ms: Arc<AtomicI64>,
}

impl SimClock {
    /// A clock showing `epoch_ms` now.
    #[must_use]
    pub fn new(epoch_ms: u64) -> Self {
        Self {
            epoch_ms,
            start: Instant::now(),
            skew_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Sets an initial skew.
    #[must_use]
    pub fn with_skew_ms(self, skew_ms: i64) -> Self {
        self.set_skew_ms(skew_ms);
        self
    }

    /// Changes the skew (a clock jump, forwards or backwards). Clones share it.
    pub fn set_skew_ms(&self, skew_ms: i64) {
        self.skew_ms.store(skew_ms, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let now = self.epoch_ms.saturating_add(elapsed);
        let skew = self.skew_ms.load(Ordering::SeqCst);
        if skew >= 0 {
            now.saturating_add(skew.unsigned_abs())
        } else {
            now.saturating_sub(skew.unsigned_abs())
        }
    }
}
