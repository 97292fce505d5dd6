//! A full disk: appends to a persistent store on a 2 MiB file system fail with
//! a `StoreError`, never a panic, and what was acknowledged before stays
//! readable. Mounting needs root (`CAP_SYS_ADMIN`); elsewhere the test says
//! on stderr that it did not run (CI runs as root and sets
//! `GOSSIP_TEST_REQUIRE_ENVIRONMENT=1`, which makes that a failure).

// Test support: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{path::PathBuf, process::Command, sync::Arc};

use gossip_core::{
    testkit::environment::not_run_here, ChannelId, Hlc, LogEntry, NodeId, Store, StreamId,
};

/// A 2 MiB tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(label: &str) -> Option<Self> {
        let path =
            std::env::temp_dir().join(format!("gossip-disk-full-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|out| out.status.success());
        if mounted {
            Some(Self(path))
        } else {
            let _ = std::fs::remove_dir(&path);
            not_run_here(
                &format!("{label} on a full disk"),
                "cannot mount a 2 MiB tmpfs here (mounting needs root)",
            );
            None
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Appends 16 KiB entries in batches of 8 until the store fails; returns how
/// many were acknowledged. Panics if the disk never fills.
async fn fill(
    store: &Arc<dyn Store>,
    channel: &ChannelId,
    stream: &StreamId,
    author: &NodeId,
) -> u64 {
    let mut acknowledged = 0u64;
    loop {
        assert!(acknowledged < 100_000, "2 MiB never filled up");
        let batch: Vec<LogEntry> = (1..=8)
            .map(|i| {
                let seq = acknowledged + i;
                LogEntry::new(
                    author.clone(),
                    seq,
                    Hlc::new(1_000 + seq, 0).unwrap(),
                    vec![seq as u8; 16 * 1024],
                )
            })
            .collect();
        match store.append(channel, stream, &batch).await {
            Ok(()) => acknowledged += 8,
            Err(error) => {
                eprintln!(
                    "{} failed after {acknowledged} entries: {error}",
                    store.backend()
                );
                assert!(!error.to_string().is_empty());
                return acknowledged;
            }
        }
    }
}

/// Fills `store` (on a [`SmallDisk`]) until an append fails, then checks
/// that everything acknowledged is still readable.
async fn disk_full_is_a_store_error(store: Arc<dyn Store>) {
    let channel = ChannelId::new("c").unwrap();
    let stream = StreamId::new("s").unwrap();
    let author = NodeId::from_seed("a");
    let acknowledged = fill(&store, &channel, &stream, &author).await;
    assert!(acknowledged > 0, "nothing fitted on the disk");
    let held = store.read(&channel, &stream, None, 100_000).await.unwrap();
    assert!(
        held.len() as u64 >= acknowledged,
        "{} < {acknowledged}",
        held.len()
    );
    let _ = store.close().await;
}

#[tokio::test]
async fn sqlite_on_a_full_disk_fails_with_a_store_error() {
    let Some(disk) = SmallDisk::mount("sqlite") else {
        return;
    };
    let store = gossip_store_sqlite::SqliteStore::open(disk.0.join("full.db"))
        .await
        .unwrap();
    disk_full_is_a_store_error(Arc::new(store)).await;
}

#[cfg(feature = "rocksdb")]
#[tokio::test]
async fn rocksdb_on_a_full_disk_fails_with_a_store_error() {
    let Some(disk) = SmallDisk::mount("rocksdb") else {
        return;
    };
    let store = gossip_store_rocksdb::RocksDbStore::open(disk.0.join("full.rocksdb"))
        .await
        .unwrap();
    disk_full_is_a_store_error(Arc::new(store)).await;
}
