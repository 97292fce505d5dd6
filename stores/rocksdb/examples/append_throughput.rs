//! Append throughput of `RocksDbStore` beside a raw RocksDB `WriteBatch`
//! baseline on the same machine and settings (same sync mode, same batch
//! size, same compression).
//!
//! ```text
//! cargo run --release -p gossip-store-rocksdb --example append_throughput [entries] [batch]
//! ```
//!
//! Defaults: 100 000 entries of 256 bytes in batches of 1 000.

// A benchmark binary reports on stdout.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StreamId};
use gossip_store_rocksdb::{RocksDbStore, RocksDbStoreOptions};

const PAYLOAD: usize = 256;

async fn store_rate(dir: &std::path::Path, sync: bool, total: u64, batch: u64) -> f64 {
    let path = dir.join(format!("store-sync-{sync}"));
    let store = RocksDbStore::open_with(RocksDbStoreOptions::new(&path).sync_writes(sync))
        .await
        .unwrap();
    let (c, s, a) = (
        ChannelId::new("bench").unwrap(),
        StreamId::new("s").unwrap(),
        NodeId::new("author").unwrap(),
    );
    let batches: Vec<Vec<LogEntry>> = (0..total / batch)
        .map(|k| {
            (1..=batch)
                .map(|i| {
                    let q = k * batch + i;
                    LogEntry::new(
                        a.clone(),
                        q,
                        Hlc::new(q, 0).unwrap(),
                        vec![q as u8; PAYLOAD],
                    )
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    for b in &batches {
        store.append(&c, &s, b).await.unwrap();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    store.close().await.unwrap();
    rate
}

/// Raw RocksDB: one `WriteBatch` per batch of puts (8-byte big-endian key,
/// 256-byte value) into the default column family, written inline.
fn raw_rate(dir: &std::path::Path, sync: bool, total: u64, batch: u64) -> f64 {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let db = rocksdb::DB::open(&opts, dir.join(format!("raw-sync-{sync}"))).unwrap();
    let mut write = rocksdb::WriteOptions::default();
    write.set_sync(sync);
    let payload = vec![7u8; PAYLOAD];
    let start = Instant::now();
    for k in 0..total / batch {
        let mut wb = rocksdb::WriteBatch::default();
        for i in 0..batch {
            wb.put((k * batch + i).to_be_bytes(), &payload);
        }
        db.write_opt(wb, &write).unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().map_or(100_000, |a| a.parse().expect("entries"));
    let batch: u64 = args.next().map_or(1_000, |a| a.parse().expect("batch"));
    let dir = std::env::temp_dir().join(format!("gossip-rocksdb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("{total} entries x {PAYLOAD} B, batches of {batch}");
    for sync in [true, false] {
        let raw = raw_rate(&dir, sync, total, batch);
        let store = store_rate(&dir, sync, total, batch).await;
        println!(
            "sync_writes={sync}: RocksDbStore {store:>9.0} entries/s | raw WriteBatch {raw:>9.0} puts/s | ratio {:.2}",
            store / raw
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
