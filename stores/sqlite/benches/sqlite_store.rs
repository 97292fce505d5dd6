//! Criterion benchmarks of `SqliteStore`, with the raw baselines measured in
//! the same run on the same schema and settings (WAL, `synchronous = FULL`):
//! the same `INSERT`s as plain single-row `sqlx` statements and as `rusqlite`
//! prepared statements (the ceiling).
//!
//! ```text
//! cargo bench -p gossip-store-sqlite --bench sqlite_store
//! GOSSIP_BENCH_ENTRIES=100000 cargo bench -p gossip-store-sqlite --bench sqlite_store   # quick
//! ```
//!
//! Groups: `sqlite_append/<payload>` (single and batched appends of 256 B,
//! 4 KiB and 32 KiB entries; store, sqlx, rusqlite), `sqlite_read` (a page of
//! 256 in read order, a 256-entry range of one author, the version vector of
//! a stream with 8 authors) over `GOSSIP_BENCH_ENTRIES` entries (default
//! 1 000 000). Loading that stream prints the process's resident memory
//! (`VmRSS`) every tenth of the way and after reading it all back: it stays
//! flat (the store keeps O(authors × streams) in memory, not O(entries)).

// A benchmark reports on stdout; a failed setup is a failed benchmark.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

#[path = "support/mod.rs"]
mod support;

use std::{path::Path, time::Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gossip_core::{LogEntry, Store};
use gossip_store_sqlite::{SqliteStore, SqliteStoreOptions, SqliteSynchronous};
use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Connection, SqliteConnection};
use support::{Workload, SIZES};

/// The store's schema (every migration, in order), for the baselines.
const SCHEMA: [&str; 2] = [
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_signed_entries.sql"),
];

const INSERT: &str = "INSERT INTO entries \
                      (channel, stream, author, seq, hlc, payload, signature, previous) \
                      VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

/// Plain sqlx on one connection: WAL, `synchronous = FULL`, the store's schema.
async fn sqlx_connection(path: &Path) -> SqliteConnection {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .disable_statement_logging()
        .connect()
        .await
        .unwrap();
    for migration in SCHEMA {
        sqlx::raw_sql(migration).execute(&mut conn).await.unwrap();
    }
    conn
}

/// A timestamp as the store keeps it: `as_u64() ^ (1 << 63)` as an `i64`,
/// which orders like the unsigned value.
fn hlc_i64(entry: &LogEntry) -> i64 {
    i64::from_be_bytes((entry.timestamp.as_u64() ^ (1 << 63)).to_be_bytes())
}

/// Binds one entry as the store would (timestamps as order-preserving i64,
/// the 64-byte signature and the 32-byte link as blobs).
async fn sqlx_insert(
    conn: &mut SqliteConnection,
    w: &Workload,
    entry: &LogEntry,
) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT)
        .bind(w.channel.as_str())
        .bind(w.stream.as_str())
        .bind(entry.author.as_str())
        .bind(entry.sequence as i64)
        .bind(hlc_i64(entry))
        .bind(entry.payload.as_ref())
        .bind(entry.signature.map(|s| s.to_bytes().to_vec()))
        .bind(entry.previous.as_bytes().as_slice())
        .execute(conn)
        .await
        .map(drop)
}

/// rusqlite on the same schema and settings.
fn rusqlite_connection(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    for migration in SCHEMA {
        conn.execute_batch(migration).unwrap();
    }
    conn
}

fn rusqlite_insert(conn: &rusqlite::Connection, w: &Workload, entry: &LogEntry) {
    let mut insert = conn.prepare_cached(INSERT).unwrap();
    insert
        .execute(rusqlite::params![
            w.channel.as_str(),
            w.stream.as_str(),
            entry.author.as_str(),
            entry.sequence as i64,
            hlc_i64(entry),
            entry.payload.as_ref(),
            entry.signature.map(|s| s.to_bytes()),
            entry.previous.as_bytes(),
        ])
        .unwrap();
}

fn append(c: &mut Criterion) {
    let rt = support::runtime();
    let dir = support::ScratchDir::new("sqlite-bench-append");
    for (payload, batch) in SIZES {
        let mut group = c.benchmark_group(format!("sqlite_append/{}", support::size_name(payload)));
        support::configure(&mut group);

        // Single appends: one entry, one transaction, one fsync.
        group.throughput(Throughput::Elements(1));
        let store = rt.block_on(open_store(&dir.file(&format!("single-{payload}.db"))));
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
        let mut conn = rt.block_on(sqlx_connection(
            &dir.file(&format!("sqlx-single-{payload}.db")),
        ));
        let mut w_sqlx = Workload::new(payload);
        group.bench_function("sqlx_single", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let e = w_sqlx.next_batch(1);
                        sqlx_insert(&mut conn, &w_sqlx, &e[0]).await.unwrap();
                    }
                    start.elapsed()
                })
            });
        });
        let raw = rusqlite_connection(&dir.file(&format!("rusqlite-single-{payload}.db")));
        let mut w_rusqlite = Workload::new(payload);
        group.bench_function("rusqlite_single", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let e = w_rusqlite.next_batch(1);
                    rusqlite_insert(&raw, &w_rusqlite, &e[0]);
                }
                start.elapsed()
            });
        });

        // Batched appends: `batch` entries in one transaction.
        group.throughput(Throughput::Elements(batch as u64));
        let id = |name: &str| BenchmarkId::new(name, batch);
        // Same store and workload: sequences go on from the single appends.
        group.bench_function(id("store_batch"), |b| {
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
        group.bench_function(id("sqlx_batch"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let e = w_sqlx.next_batch(batch);
                        let mut tx = conn.begin().await.unwrap();
                        for entry in &e {
                            sqlx_insert(&mut tx, &w_sqlx, entry).await.unwrap();
                        }
                        tx.commit().await.unwrap();
                    }
                    start.elapsed()
                })
            });
        });
        let mut raw = raw;
        // Same store and workload: sequences go on from the single appends.
        group.bench_function(id("rusqlite_batch"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let e = w_rusqlite.next_batch(batch);
                    let tx = raw.transaction().unwrap();
                    for entry in &e {
                        rusqlite_insert(&tx, &w_rusqlite, entry);
                    }
                    tx.commit().unwrap();
                }
                start.elapsed()
            });
        });
        group.finish();
        rt.block_on(store.close()).unwrap();
        rt.block_on(conn.close()).unwrap();
    }
}

async fn open_store(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.unwrap()
}

fn read(c: &mut Criterion) {
    let rt = support::runtime();
    let dir = support::ScratchDir::new("sqlite-bench-read");
    let path = dir.file("loaded.db");
    // Loaded with `synchronous = NORMAL` (the load is not what is measured).
    let store = rt.block_on(async {
        SqliteStore::open_with(
            SqliteStoreOptions::new(&path).synchronous(SqliteSynchronous::Normal),
        )
        .await
        .unwrap()
    });
    let loaded = rt.block_on(support::load(&store, "sqlite"));
    let mut group = c.benchmark_group("sqlite_read");
    support::read_benches(&mut group, &rt, &store, &loaded);
    group.finish();
    rt.block_on(store.close()).unwrap();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
