//! The test side of `crash-writer`: spawn it on a store, kill it with SIGKILL
//! on a seeded schedule, collect what it acknowledged, reopen the store and
//! check that every acknowledged batch is there and nothing is half-written.
//!
//! ```text
//! let mut session = CrashSession::new(StoreKind::Sqlite, 5, seed);
//! for _ in 0..kills {
//!     let plan = session.random_plan(12);
//!     session.kill_once(plan).await; // spawn, kill, reap, reopen, check
//! }
//! ```
//!
//! Included with `#[path]` by `tests/crash_*.rs`, next to `workload.rs`.
//! Unix only: the kill is a SIGKILL, checked on the exit status.

use std::{
    io::{BufRead, BufReader},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, SystemTime},
};

use gossip_core::{raw::SeededRng, DynStore, Store, VersionVector};

use crate::workload::{self, StoreKind};

/// The longest wait for the writer's next acknowledgement (start-up included)
/// before the run is declared stuck.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// `SIGKILL`'s number on every Unix.
const SIGKILL: i32 = 9;

/// Page size when reading a store back.
const PAGE: usize = 256;

/// Kills per store: `GOSSIP_CRASH_KILLS`, else `default`.
pub(crate) fn kills_from_env(default: u64) -> u64 {
    std::env::var("GOSSIP_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The schedule's seed: `GOSSIP_CRASH_SEED`, else `default` (failures print
/// the seed; set the variable to replay one).
pub(crate) fn seed_from_env(default: u64) -> u64 {
    std::env::var("GOSSIP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// When to kill the writer: after it acknowledged `acks` batches, wait
/// `delay`, then SIGKILL. With `acks == 0` the kill lands during start-up,
/// opening (and recovering) the store or the first append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KillPlan {
    /// Acknowledgements to read before the delay starts.
    pub(crate) acks: u64,
    /// Pause between the last awaited acknowledgement and the kill.
    pub(crate) delay: Duration,
}

impl KillPlan {
    /// Kill after `acks` acknowledgements and `delay`.
    pub(crate) fn after(acks: u64, delay: Duration) -> Self {
        Self { acks, delay }
    }

    /// A seeded random plan: one run in six is killed before any
    /// acknowledgement (0–60 ms after spawning); the others after 1 to
    /// `max_acks` acknowledgements and 0–3 ms, which lands anywhere in the
    /// next append (writing, syncing, committing) or between two.
    pub(crate) fn random(rng: &mut SeededRng, max_acks: u64) -> Self {
        if rng.below(6) == 0 {
            Self::after(0, Duration::from_micros(rng.below(60_001)))
        } else {
            Self::after(
                1 + rng.below(max_acks.max(1)),
                Duration::from_micros(rng.below(3_001)),
            )
        }
    }
}

/// A fresh directory under the system temp dir, removed on drop (also when
/// the test panics).
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `gossip-<label>-<pid>-<nanos>-<n>`.
    pub(crate) fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("gossip-{label}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self(path)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Spawns `crash-writer`, kills it as `plan` says and reaps it; returns every
/// sequence it acknowledged, in order (including lines printed just before
/// the kill).
///
/// # Panics
///
/// When the writer cannot be spawned, stops acknowledging for
/// [`ACK_TIMEOUT`], exits other than by the SIGKILL, or prints anything but
/// `ACK <n>` lines.
pub(crate) fn run_until_killed(
    kind: StoreKind,
    path: &Path,
    batch: u64,
    seed: u64,
    plan: KillPlan,
) -> Vec<u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
        .arg(kind.name())
        .arg(path)
        .arg(batch.to_string())
        .arg(seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn crash-writer: {e}"));
    let Some(stdout) = child.stdout.take() else {
        unreachable!("stdout is piped")
    };
    // A thread turns the blocking pipe into lines we can wait on with a timeout.
    let (lines_tx, lines) = mpsc::sync_channel::<String>(64);
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut received = Vec::new();
    while (received.len() as u64) < plan.acks {
        match lines.recv_timeout(ACK_TIMEOUT) {
            Ok(line) => received.push(line),
            Err(why) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "crash-writer stopped acknowledging after {} lines ({why}); exit: {status:?}",
                    received.len()
                );
            }
        }
    }
    thread::sleep(plan.delay);
    child
        .kill()
        .unwrap_or_else(|e| panic!("cannot kill crash-writer: {e}"));
    let status = child
        .wait()
        .unwrap_or_else(|e| panic!("cannot reap crash-writer: {e}"));
    assert_eq!(
        status.signal(),
        Some(SIGKILL),
        "crash-writer ended by itself ({status}) instead of by our SIGKILL"
    );
    // Whatever it printed before dying was acknowledged too.
    received.extend(lines.iter());
    if reader.join().is_err() {
        panic!("the reader thread panicked");
    }

    received
        .iter()
        .map(|line| {
            line.strip_prefix("ACK ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line from crash-writer: {line:?}"))
        })
        .collect()
}

/// Reads the writer's whole log back from `store` and checks that it is
/// exactly `entry(1) ..= entry(held)` with `held` a multiple of `batch`, and
/// that the version vector, base and stats agree with it. Returns `held`.
///
/// # Panics
///
/// On the first discrepancy, with `context` in the message.
pub(crate) async fn check_log(store: &dyn Store, batch: u64, context: &str) -> u64 {
    let (channel, stream, author) = (workload::channel(), workload::stream(), workload::author());
    let version = store
        .version(&channel, &stream)
        .await
        .unwrap_or_else(|e| panic!("{context}: version: {e}"));
    let held = version.get(&author);
    let mut expected_version = VersionVector::new();
    if held > 0 {
        expected_version.raise(&author, held);
    }
    assert_eq!(
        version, expected_version,
        "{context}: only the writer writes"
    );
    assert_eq!(
        held % batch,
        0,
        "{context}: {held} entries held, not a multiple of the batch size {batch}: a torn batch"
    );
    let base = store
        .base(&channel, &stream)
        .await
        .unwrap_or_else(|e| panic!("{context}: base: {e}"));
    assert_eq!(
        base,
        VersionVector::new(),
        "{context}: nothing was compacted"
    );

    // The author's log: 1..=held, contiguous, each entry exactly as written.
    let mut next = 1;
    let mut bytes = 0;
    loop {
        let page = store
            .read_author(&channel, &stream, &author, next - 1, PAGE)
            .await
            .unwrap_or_else(|e| panic!("{context}: read_author after {}: {e}", next - 1));
        if page.is_empty() {
            break;
        }
        for entry in page {
            assert_eq!(entry.sequence, next, "{context}: a gap or a reordering");
            assert_eq!(
                entry,
                workload::entry(next),
                "{context}: entry {next} differs"
            );
            bytes += entry.payload.len() as u64;
            next += 1;
        }
    }
    assert_eq!(
        next - 1,
        held,
        "{context}: the version does not match the log"
    );

    // Read order sees the same entries (timestamps grow with the sequence).
    let mut read = 0;
    let mut after = None;
    loop {
        let page = store
            .read(&channel, &stream, after.as_ref(), PAGE)
            .await
            .unwrap_or_else(|e| panic!("{context}: read: {e}"));
        let Some(last) = page.last() else { break };
        after = Some(last.key());
        for entry in &page {
            read += 1;
            assert_eq!(entry.sequence, read, "{context}: read order");
        }
    }
    assert_eq!(read, held, "{context}: read order misses entries");

    let stats = store
        .stats(&channel, &stream)
        .await
        .unwrap_or_else(|e| panic!("{context}: stats: {e}"));
    assert_eq!(
        (stats.entries, stats.bytes),
        (held, bytes),
        "{context}: stats disagree with the log"
    );
    held
}

/// A store that `crash-writer` is repeatedly killed on, and what it held
/// after the last kill.
#[derive(Debug)]
pub(crate) struct CrashSession {
    kind: StoreKind,
    dir: ScratchDir,
    batch: u64,
    seed: u64,
    rng: SeededRng,
    held: u64,
    runs: u64,
}

impl CrashSession {
    /// A session on a fresh store of `kind`, appending `batch` entries at a
    /// time, with its schedule seeded by `seed`.
    pub(crate) fn new(kind: StoreKind, batch: u64, seed: u64) -> Self {
        Self {
            kind,
            dir: ScratchDir::new(&format!("crash-{kind}")),
            batch,
            seed,
            rng: SeededRng::new(seed),
            held: 0,
            runs: 0,
        }
    }

    /// The store's path (a file for SQLite, a directory for RocksDB).
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join(format!("crash.{}", self.kind))
    }

    /// Entries held after the last kill.
    pub(crate) fn held(&self) -> u64 {
        self.held
    }

    /// Writer runs so far.
    pub(crate) fn runs(&self) -> u64 {
        self.runs
    }

    /// The next plan of the seeded schedule.
    pub(crate) fn random_plan(&mut self, max_acks: u64) -> KillPlan {
        KillPlan::random(&mut self.rng, max_acks)
    }

    /// Opens the store in this process (no writer may be running).
    pub(crate) async fn open(&self) -> DynStore {
        self.kind
            .open(&self.path())
            .await
            .unwrap_or_else(|e| panic!("{}: reopen: {e}", self.context(None)))
    }

    /// One run: spawn the writer, kill it per `plan`, reopen the store and
    /// check it. Besides [`check_log`]: the writer resumed right after what
    /// the store held, every acknowledged batch is there, and at most one
    /// batch beyond the last acknowledgement (committed, not yet reported).
    ///
    /// # Panics
    ///
    /// On any failed check; the message names the store, seed, run and plan.
    pub(crate) async fn kill_once(&mut self, plan: KillPlan) {
        self.runs += 1;
        let context = self.context(Some(plan));
        let (kind, path, batch, seed) = (self.kind, self.path(), self.batch, self.rng.next_u64());
        let acks =
            tokio::task::spawn_blocking(move || run_until_killed(kind, &path, batch, seed, plan))
                .await
                .unwrap_or_else(|e| panic!("{context}: {e}"));

        let expected: Vec<u64> = (1..=acks.len() as u64)
            .map(|i| self.held + i * batch)
            .collect();
        assert_eq!(
            acks, expected,
            "{context}: the writer must resume after the {} entries held",
            self.held
        );
        let acked = acks.last().copied().unwrap_or(self.held);

        let store = self.open().await;
        let held = check_log(&*store, batch, &context).await;
        store
            .close()
            .await
            .unwrap_or_else(|e| panic!("{context}: close: {e}"));
        drop(store);
        assert!(
            held >= acked,
            "{context}: acknowledged up to {acked}, only {held} held"
        );
        assert!(
            held <= acked + batch,
            "{context}: {held} held, more than one batch beyond the acknowledged {acked}"
        );
        self.held = held;
    }

    /// What a failure message starts with, to replay it.
    fn context(&self, plan: Option<KillPlan>) -> String {
        format!(
            "{} store, GOSSIP_CRASH_SEED={}, run {}, {plan:?}, {} entries held before",
            self.kind, self.seed, self.runs, self.held
        )
    }
}
