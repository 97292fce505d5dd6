//! Append throughput of `SqliteStore` beside a raw sqlx baseline on the same
//! machine and settings (WAL, same `synchronous`, same batch size).
//!
//! ```text
//! cargo run --release -p gossip-store-sqlite --example append_throughput [entries] [batch]
//! ```
//!
//! Defaults: 10 000 entries of 256 bytes in batches of 100.

// A benchmark binary reports on stdout.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use gossip_core::{ChannelId, Hlc, LogEntry, NodeId, Store, StreamId};
use gossip_store_sqlite::{SqliteStore, SqliteStoreOptions, SqliteSynchronous};
use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Connection};

const PAYLOAD: usize = 256;

async fn store_rate(dir: &std::path::Path, sync: SqliteSynchronous, total: u64, batch: u64) -> f64 {
    let path = dir.join(format!("store-{sync:?}.db"));
    let store = SqliteStore::open_with(SqliteStoreOptions::new(&path).synchronous(sync))
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

/// Raw sqlx: one connection, WAL, one transaction per batch of single-row
/// prepared INSERTs into a plain table.
async fn raw_rate(dir: &std::path::Path, sync: SqliteSynchronous, total: u64, batch: u64) -> f64 {
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join(format!("raw-{sync:?}.db")))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(to_sqlx(sync))
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let payload = vec![7u8; PAYLOAD];
    let start = Instant::now();
    for k in 0..total / batch {
        let mut tx = conn.begin().await.unwrap();
        for i in 0..batch {
            sqlx::query("INSERT INTO t (k, v) VALUES (?, ?)")
                .bind((k * batch + i) as i64)
                .bind(payload.as_slice())
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    conn.close().await.unwrap();
    rate
}

fn to_sqlx(sync: SqliteSynchronous) -> sqlx::sqlite::SqliteSynchronous {
    match sync {
        SqliteSynchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
        _ => sqlx::sqlite::SqliteSynchronous::Full,
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().map_or(10_000, |a| a.parse().expect("entries"));
    let batch: u64 = args.next().map_or(100, |a| a.parse().expect("batch"));
    let dir = std::env::temp_dir().join(format!("gossip-sqlite-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("{total} entries x {PAYLOAD} B, batches of {batch}");
    for sync in [SqliteSynchronous::Full, SqliteSynchronous::Normal] {
        let raw = raw_rate(&dir, sync, total, batch).await;
        let store = store_rate(&dir, sync, total, batch).await;
        println!(
            "synchronous={sync:?}: SqliteStore {store:>9.0} entries/s | raw sqlx {raw:>9.0} rows/s | ratio {:.2}",
            store / raw
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
