//! Crash safety of the persistent stores, with real processes: `crash-writer`
//! appends batches and prints each acknowledged one; we SIGKILL it at seeded
//! random moments, reopen the store, and check that every acknowledged entry
//! is there with its content, the log is contiguous from 1, no batch is torn,
//! and the version and stats agree with what is read. The next run resumes
//! on the same store, so later kills also exercise recovery.
//!
//! `GOSSIP_CRASH_KILLS` raises the number of kills per store (default 20);
//! `GOSSIP_CRASH_SEED` replays a schedule printed by a failure.

// Killing a child process with SIGKILL, and checking it died of it, is Unix.
#![cfg(unix)]
// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

// The writer's own definitions; each test crate uses a part of them.
#[allow(dead_code)]
#[path = "../src/bin/crash_writer/workload.rs"]
mod workload;

#[allow(dead_code)]
#[path = "../src/bin/crash_writer/harness.rs"]
mod harness;

use harness::{kills_from_env, seed_from_env, CrashSession};
use workload::StoreKind;

/// Kills per store unless `GOSSIP_CRASH_KILLS` says otherwise.
const DEFAULT_KILLS: u64 = 20;

/// Entries per batch: more than one, so that a torn batch would show.
const BATCH: u64 = 5;

/// At most this many acknowledgements per run (keeps each run short).
const MAX_ACKS: u64 = 12;

/// Kills the writer on `kind` again and again, checking the store each time.
async fn acknowledged_batches_survive_kills(kind: StoreKind) {
    let kills = kills_from_env(DEFAULT_KILLS);
    let mut session = CrashSession::new(kind, BATCH, seed_from_env(0x00C0_FFEE));
    for _ in 0..kills {
        let plan = session.random_plan(MAX_ACKS);
        session.kill_once(plan).await;
    }
    assert_eq!(session.runs(), kills);
    assert!(session.held() > 0, "{kind}: nothing was ever acknowledged");
}

#[tokio::test]
async fn sqlite_keeps_every_acknowledged_batch_across_kills() {
    acknowledged_batches_survive_kills(StoreKind::Sqlite).await;
}

#[cfg(feature = "rocksdb")]
#[tokio::test]
async fn rocksdb_keeps_every_acknowledged_batch_across_kills() {
    acknowledged_batches_survive_kills(StoreKind::RocksDb).await;
}
