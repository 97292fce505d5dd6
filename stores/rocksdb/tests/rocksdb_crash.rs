//! Crash safety: a child process appends and reports each acknowledged
//! batch; the parent kills it (SIGKILL) mid-stream, reopens the database directory and
//! finds every acknowledged entry, contiguous, with matching counters.

// Test support: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Command, Stdio},
};

use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StreamId};
use gossip_store_rocksdb::RocksDbStore;

const CHILD_ENV: &str = "GOSSIP_ROCKSDB_CRASH_CHILD_DIR";
const BATCH: u64 = 10;

fn ids() -> (ChannelId, StreamId, NodeId) {
    (
        ChannelId::new("crash").unwrap(),
        StreamId::new("s").unwrap(),
        NodeId::new("writer").unwrap(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The child: does nothing unless spawned by the test below.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    runtime().block_on(async move {
        let store = RocksDbStore::open(&path).await.unwrap();
        let (c, s, a) = ids();
        let mut stdout = std::io::stdout();
        for k in 0..100_000u64 {
            let batch: Vec<_> = (1..=BATCH)
                .map(|i| {
                    let q = k * BATCH + i;
                    LogEntry::new(a.clone(), q, Hlc::new(q, 0).unwrap(), vec![q as u8; 256])
                })
                .collect();
            store.append(&c, &s, &batch).await.unwrap();
            writeln!(stdout, "acked {}", (k + 1) * BATCH).unwrap();
            stdout.flush().unwrap();
        }
    });
}

#[test]
fn acknowledged_appends_survive_a_kill() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("gossip-rocksdb-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("crash.rocksdb");

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = 0u64;
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            acked = n.parse().unwrap();
            if acked >= 50 * BATCH {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no close()
    child.wait().unwrap();
    assert!(acked >= 50 * BATCH, "the child stopped early at {acked}");

    runtime().block_on(async {
        let store = RocksDbStore::open(&db).await.unwrap();
        let (c, s, a) = ids();
        let held = store.version(&c, &s).await.unwrap().get(&a);
        assert!(held >= acked, "acknowledged {acked}, found {held}");
        assert_eq!(held % BATCH, 0, "a batch was torn: {held}");
        let entries = store.read_author(&c, &s, &a, 0, usize::MAX).await.unwrap();
        assert_eq!(entries.len() as u64, held);
        assert!(entries.iter().zip(1..).all(|(e, q)| e.sequence == q));
        assert_eq!(store.stats(&c, &s).await.unwrap().entries, held);
        // And the writer can continue where it stopped.
        let next = LogEntry::new(a, held + 1, Hlc::new(held + 1, 0).unwrap(), vec![]);
        store.append(&c, &s, &[next]).await.unwrap();
        store.close().await.unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
