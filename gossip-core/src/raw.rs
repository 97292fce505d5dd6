//! Engine plumbing, for plug-in authors and code that drives the engines
//! itself: the merge rules and their out-of-order buffer, the hybrid logical
//! clock's generator, digests and deltas, the seeded RNG and the reconnect
//! backoff that transports share.
//!
//! Applications do not need this module: the [`Coordinator`](crate::Coordinator)
//! runs all of it. It is **less stable** than the crate root: its items follow
//! the engine's needs and may change in a minor release. (The same items stay
//! reachable where they are defined, under [`domain`](crate::domain) and
//! [`ports`](crate::ports); this module gathers them in one place.)
//!
//! ```
//! use gossip_core::raw::{reconnect_delay, SeededRng};
//! use std::time::Duration;
//!
//! // A third-party transport backing off the way the bundled ones do.
//! let mut rng = SeededRng::new(7);
//! let delay = reconnect_delay(1, Duration::from_millis(100), Duration::from_secs(30), &mut rng);
//! assert!(delay <= Duration::from_millis(100));
//! ```

pub use crate::domain::{
    drop_unprovable_tails, duplicate_ranges, merge_entries, provable_units, run_ends,
    verify_entries, BaseProof, BaseRefusal, ChannelDigest, Delta, DigestHash, DigestPart,
    EquivocationProof, HeldEntries, HlcClock, MergeInput, MergeOutcome, MergeOutput,
    OutOfOrderBuffer, ProvenEntry, SeededRng, SignedHeader, StreamDigest, Verification,
    SIGNED_RUN_BYTES,
};
pub use crate::ports::{jitter_seed, reconnect_delay};
