//! Criterion benchmarks of `RocksDbStore`, with raw baselines measured in the
//! same run with the same settings (synced write-ahead log, LZ4), written
//! inline on the bench thread: a plain `WriteBatch` of one put per entry
//! (`writebatch_*`), and one that writes what the store's schema does, the
//! entry and its read-order key in a second column family
//! (`writebatch_indexed_batch`). Both put the same value bytes as the store
//! (timestamp, link, signature tag, signature, payload), so they write as
//! much as it does.
//!
//! ```text
//! cargo bench -p gossip-store-rocksdb --bench rocksdb_store
//! GOSSIP_BENCH_ENTRIES=100000 cargo bench -p gossip-store-rocksdb --bench rocksdb_store   # quick
//! ```
//!
//! Groups: `rocksdb_append/<payload>` (single and batched appends of 256 B,
//! 4 KiB and 32 KiB entries; store and raw `WriteBatch`), `rocksdb_read` (a
//! page of 256 in read order, a 256-entry range of one author, the version
//! vector of a stream with 8 authors) over `GOSSIP_BENCH_ENTRIES` entries
//! (default 1 000 000). Loading that stream prints the process's resident
//! memory (`VmRSS`) every tenth of the way and after reading it all back.

// A benchmark reports on stdout; a failed setup is a failed benchmark.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

#[path = "../../sqlite/benches/support/mod.rs"]
mod support;

use std::{path::Path, time::Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gossip_core::{LogEntry, Store};
use gossip_store_rocksdb::{RocksDbStore, RocksDbStoreOptions};
use support::{Workload, SIZES};

/// The column family of the indexed baseline's read-order keys.
const RAW_ORDER: &str = "order";

/// Raw RocksDB with the store's write settings: synced WAL, LZ4.
fn raw_db(path: &Path) -> (rocksdb::DB, rocksdb::WriteOptions) {
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let db = rocksdb::DB::open_cf(
        &options,
        path,
        [rocksdb::DEFAULT_COLUMN_FAMILY_NAME, RAW_ORDER],
    )
    .unwrap();
    let mut write = rocksdb::WriteOptions::default();
    write.set_sync(true);
    (db, write)
}

/// An entry's value laid out as the store lays it out: `hlc (u64 BE) ‖
/// previous (32 bytes) ‖ tag (u8) ‖ [signature (64 bytes)] ‖ payload`.
fn value(entry: &LogEntry) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + 32 + 1 + 64 + entry.payload.len());
    value.extend_from_slice(&entry.timestamp.as_u64().to_be_bytes());
    value.extend_from_slice(entry.previous.as_bytes());
    match entry.signature {
        None => value.push(0),
        Some(signature) => {
            value.push(1);
            value.extend_from_slice(&signature.to_bytes());
        }
    }
    value.extend_from_slice(&entry.payload);
    value
}

/// One put per entry: the author and sequence as key, the entry's value.
fn raw_write(db: &rocksdb::DB, write: &rocksdb::WriteOptions, entries: &[LogEntry]) {
    let mut batch = rocksdb::WriteBatch::default();
    for entry in entries {
        let mut key = Vec::with_capacity(entry.author.as_str().len() + 8);
        key.extend_from_slice(entry.author.as_str().as_bytes());
        key.extend_from_slice(&entry.sequence.to_be_bytes());
        batch.put(key, value(entry));
    }
    db.write_opt(batch, write).unwrap();
}

/// What the store's schema writes per entry, with no checks or encoding
/// framework: the entry under author and sequence, and a read-order key
/// (timestamp, author, sequence) with an empty value in another column family.
fn raw_write_indexed(db: &rocksdb::DB, write: &rocksdb::WriteOptions, entries: &[LogEntry]) {
    let order = db.cf_handle(RAW_ORDER).unwrap();
    let mut batch = rocksdb::WriteBatch::default();
    for entry in entries {
        let author = entry.author.as_str().as_bytes();
        let mut key = Vec::with_capacity(author.len() + 8);
        key.extend_from_slice(author);
        key.extend_from_slice(&entry.sequence.to_be_bytes());
        batch.put(&key, value(entry));
        let mut order_key = Vec::with_capacity(16 + key.len());
        order_key.extend_from_slice(&entry.timestamp.physical_ms().to_be_bytes());
        order_key.extend_from_slice(&entry.timestamp.logical().to_be_bytes());
        order_key.extend_from_slice(&key);
        batch.put_cf(&order, order_key, b"");
    }
    db.write_opt(batch, write).unwrap();
}

fn append(c: &mut Criterion) {
    let rt = support::runtime();
    let dir = support::ScratchDir::new("rocksdb-bench-append");
    for (payload, batch) in SIZES {
        let mut group =
            c.benchmark_group(format!("rocksdb_append/{}", support::size_name(payload)));
        support::configure(&mut group);
        let store = rt.block_on(async {
            RocksDbStore::open(dir.file(&format!("store-{payload}")))
                .await
                .unwrap()
        });
        let (db, write) = raw_db(&dir.file(&format!("raw-{payload}")));

        group.throughput(Throughput::Elements(1));
        let mut w_store = Workload::new(payload);
        group.bench_function("store_single", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let e = w_store.next_batch(1);
                        store
                            .append(&w_store.channel, &w_store.stream, &e)
                            .await
                            .unwrap();
                    }
                    start.elapsed()
                })
            });
        });
        let mut w_raw = Workload::new(payload);
        group.bench_function("writebatch_single", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    raw_write(&db, &write, &w_raw.next_batch(1));
                }
                start.elapsed()
            });
        });

        group.throughput(Throughput::Elements(batch as u64));
        // Same store and workload: sequences go on from the single appends.
        group.bench_function(BenchmarkId::new("store_batch", batch), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let e = w_store.next_batch(batch);
                        store
                            .append(&w_store.channel, &w_store.stream, &e)
                            .await
                            .unwrap();
                    }
                    start.elapsed()
                })
            });
        });
        // Same store and workload: sequences go on from the single appends.
        group.bench_function(BenchmarkId::new("writebatch_batch", batch), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    raw_write(&db, &write, &w_raw.next_batch(batch));
                }
                start.elapsed()
            });
        });
        group.bench_function(BenchmarkId::new("writebatch_indexed_batch", batch), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    raw_write_indexed(&db, &write, &w_raw.next_batch(batch));
                }
                start.elapsed()
            });
        });
        group.finish();
        rt.block_on(store.close()).unwrap();
    }
}

fn read(c: &mut Criterion) {
    let rt = support::runtime();
    let dir = support::ScratchDir::new("rocksdb-bench-read");
    // Loaded without syncing each batch (the load is not what is measured).
    let store = rt.block_on(async {
        RocksDbStore::open_with(RocksDbStoreOptions::new(dir.file("loaded")).sync_writes(false))
            .await
            .unwrap()
    });
    let loaded = rt.block_on(support::load(&store, "rocksdb"));
    let mut group = c.benchmark_group("rocksdb_read");
    support::read_benches(&mut group, &rt, &store, &loaded);
    group.finish();
    rt.block_on(store.close()).unwrap();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
