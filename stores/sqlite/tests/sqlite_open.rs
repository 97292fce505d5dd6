//! Opening files that are not (or not yet) ours: corrupt, newer schema,
//! an older schema holding entries, another application's database, missing,
//! in a missing directory, read-only. Never modified, always named. And
//! what the schema itself refuses or reports as corrupt.

// Test support: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use gossip_core::{
    ChannelId, EntryHash, Hlc, Identity, LogEntry, NodeId, PeerRecord, Store, StoreErrorKind,
    StreamId,
};
use gossip_store_sqlite::{SqliteStore, SqliteStoreOptions, SCHEMA_VERSION};
use sqlx::{sqlite::SqliteConnectOptions, AssertSqlSafe, ConnectOptions, Connection};

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "gossip-sqlite-open-{label}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn raw_sql(path: &Path, sql: &str) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

async fn try_raw_sql(path: &Path, sql: &str) -> Result<(), sqlx::Error> {
    let mut conn = SqliteConnectOptions::new().filename(path).connect().await?;
    let result = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .map(drop);
    conn.close().await?;
    result
}

async fn user_version(path: &Path) -> i64 {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let version = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    version
}

/// A database as version 1 of this crate left it: the version-1 schema, the
/// gossip application id, `journal` mode, a peer, and with `entry` one entry
/// of author `a` in `c/s` (with its counters).
async fn version_1_file(path: &Path, journal: &str, entry: bool) {
    let author = NodeId::from_seed("a");
    let peer = NodeId::from_seed("p");
    let mut sql = format!("PRAGMA journal_mode = {journal};\n");
    sql.push_str(include_str!("../migrations/0001_initial.sql"));
    sql.push_str(&format!(
        "INSERT INTO peers (id, address) VALUES ('{peer}', 'tcp://p');\n"
    ));
    if entry {
        sql.push_str(&format!(
            "INSERT INTO entries (channel, stream, author, seq, hlc, payload, signature) \
             VALUES ('c', 's', '{author}', 1, 0, x'01', x'0203');\n\
             INSERT INTO authors (channel, stream, author, head, base, entries, bytes) \
             VALUES ('c', 's', '{author}', 1, 0, 1, 3);\n"
        ));
    }
    // 0x67737370: ASCII "gssp", the application id of gossip stores.
    sql.push_str("PRAGMA application_id = 1735619440; PRAGMA user_version = 1;");
    raw_sql(path, &sql).await;
    assert_eq!(user_version(path).await, 1);
}

/// A version-1 file holding entries is refused with `IncompatibleSchema`,
/// naming the file and its version, and is left exactly as it was (in
/// rollback-journal mode, where switching to WAL would rewrite the header,
/// and in WAL mode, as version 1 of the store left its files).
#[tokio::test]
async fn a_version_1_file_with_entries_is_refused_and_untouched() {
    let dir = Dir::new("v1-entries");
    for journal in ["DELETE", "WAL"] {
        let path = dir.0.join(format!("v1-{journal}.db"));
        version_1_file(&path, journal, true).await;
        let before = std::fs::read(&path).unwrap();
        for _ in 0..2 {
            let err = SqliteStore::open(&path).await.unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::IncompatibleSchema, "{err}");
            assert_eq!(err.backend(), "sqlite");
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("schema version 1"), "{message}");
            assert!(message.contains("signed, hash-linked"), "{message}");
            assert!(message.contains("sync from peers"), "{message}");
            // Not assert_eq!: a failure would print the whole file.
            assert!(
                std::fs::read(&path).unwrap() == before,
                "{journal}: the file was modified"
            );
        }
        assert_eq!(user_version(&path).await, 1);
    }
}

/// A version-1 file without entries is migrated to the current version,
/// keeps its other records, and stores and returns signed, linked entries.
#[tokio::test]
async fn an_empty_version_1_file_is_migrated_and_stores_signed_entries() {
    let dir = Dir::new("v1-empty");
    let path = dir.0.join("v1.db");
    version_1_file(&path, "WAL", false).await;

    let store = SqliteStore::open(&path).await.unwrap();
    let mut peer = PeerRecord::new(NodeId::from_seed("p"));
    peer.address = Some("tcp://p".into());
    assert_eq!(store.load_peers().await.unwrap(), vec![peer]);
    let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
    let alice = Identity::from_seed("alice");
    let first = LogEntry::new(
        alice.node_id().clone(),
        1,
        Hlc::new(10, 0).unwrap(),
        b"one".to_vec(),
    )
    .sign(&alice, &c, &s);
    let second = LogEntry::new(
        alice.node_id().clone(),
        2,
        Hlc::new(11, 0).unwrap(),
        b"two".to_vec(),
    )
    .linked_to(first.hash(&c, &s))
    .sign(&alice, &c, &s);
    store
        .append(&c, &s, &[first.clone(), second.clone()])
        .await
        .unwrap();
    store.close().await.unwrap();
    assert_eq!(user_version(&path).await, SCHEMA_VERSION);

    let store = SqliteStore::open(&path).await.unwrap();
    let read = store.read(&c, &s, None, 10).await.unwrap();
    assert_eq!(read, vec![first.clone(), second]);
    assert_eq!(read[1].previous, first.hash(&c, &s));
    for entry in &read {
        entry.verify_signature(&c, &s).unwrap();
    }
    assert_eq!(store.stats(&c, &s).await.unwrap().bytes, 3 + 3 + 2 * 64);
    store.close().await.unwrap();
}

/// A link of another length than 32 bytes cannot be stored; a signature of
/// another length than 64 bytes read back is `Corrupt`, naming the entry.
#[tokio::test]
async fn links_and_signatures_of_the_wrong_length_are_refused_or_corrupt() {
    let dir = Dir::new("lengths");
    let path = dir.0.join("store.db");
    SqliteStore::open(&path)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let author = NodeId::from_seed("a");
    let insert = |seq: u64, signature: &str, previous: &str| {
        format!(
            "INSERT INTO entries (channel, stream, author, seq, hlc, payload, signature, previous) \
             VALUES ('c', 's', '{author}', {seq}, 0, x'01', {signature}, {previous})"
        )
    };
    let zeros = format!("x'{}'", "00".repeat(32));
    // The schema refuses a link of 31 or 33 bytes, or one that is not a blob.
    for previous in [
        format!("x'{}'", "00".repeat(31)),
        format!("x'{}'", "00".repeat(33)),
        format!("'{}'", "a".repeat(32)),
        "NULL".to_owned(),
    ] {
        assert!(
            try_raw_sql(&path, &insert(1, "NULL", &previous))
                .await
                .is_err(),
            "a link {previous} was stored"
        );
    }
    // A 63-byte signature is stored by raw SQL but refused on read.
    raw_sql(
        &path,
        &insert(1, &format!("x'{}'", "07".repeat(63)), &zeros),
    )
    .await;
    let store = SqliteStore::open(&path).await.unwrap();
    let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
    let err = store.read(&c, &s, None, 10).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("63 bytes"), "{err}");
    assert!(err.to_string().contains(&format!("{author}#1")), "{err}");
    let err = store.read_author(&c, &s, &author, 0, 10).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    store.close().await.unwrap();
    // Exactly 64 bytes, and a 32-byte link, read back.
    raw_sql(
        &path,
        &format!(
            "UPDATE entries SET signature = x'{}', previous = x'{}'",
            "07".repeat(64),
            "09".repeat(32)
        ),
    )
    .await;
    let store = SqliteStore::open(&path).await.unwrap();
    let read = store.read(&c, &s, None, 10).await.unwrap();
    assert_eq!(read[0].previous, EntryHash::from_bytes([9; 32]));
    assert_eq!(read[0].signature.unwrap().to_bytes(), [7; 64]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn garbage_file_is_corrupt_and_untouched() {
    let dir = Dir::new("garbage");
    for (name, garbage) in [
        ("short.db", b"definitely not sqlite".to_vec()),
        (
            "long.db",
            (0..8192u32).map(|i| (i * 31 % 251) as u8).collect(),
        ),
    ] {
        let path = dir.0.join(name);
        std::fs::write(&path, &garbage).unwrap();
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        assert_eq!(err.backend(), "sqlite");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            garbage,
            "the file was modified"
        );
    }
}

#[tokio::test]
async fn newer_schema_is_refused_and_untouched() {
    let dir = Dir::new("newer");
    let path = dir.0.join("store.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .save_clock(gossip_core::Hlc::new(5, 0).unwrap())
        .await
        .unwrap();
    store.close().await.unwrap();
    let newer = SCHEMA_VERSION + 1;
    raw_sql(&path, &format!("PRAGMA user_version = {newer};")).await;
    let before = std::fs::read(&path).unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::IncompatibleSchema, "{err}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("version {SCHEMA_VERSION}")),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was modified"
    );

    // Back to the supported version, it opens with its data.
    raw_sql(&path, &format!("PRAGMA user_version = {SCHEMA_VERSION};")).await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(store.load_clock().await.unwrap().is_some());
    store.close().await.unwrap();
}

#[tokio::test]
async fn another_applications_database_is_refused() {
    let dir = Dir::new("foreign");
    let path = dir.0.join("other.db");
    raw_sql(
        &path,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); \
                    INSERT INTO notes (body) VALUES ('keep me');",
    )
    .await;
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::IncompatibleSchema, "{err}");
    assert!(err.to_string().contains("not a gossip store"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was modified"
    );

    let path = dir.0.join("other-app-id.db");
    raw_sql(&path, "PRAGMA application_id = 42;").await;
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::IncompatibleSchema, "{err}");
}

#[tokio::test]
async fn missing_file_without_create_is_an_error_naming_it() {
    let dir = Dir::new("missing");
    let path = dir.0.join("absent.db");
    let err = SqliteStore::open_with(SqliteStoreOptions::new(&path).create_if_missing(false))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists());
    // An empty existing file is an empty database: it is initialised.
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open_with(SqliteStoreOptions::new(&path).create_if_missing(false))
        .await
        .unwrap();
    assert!(store.capabilities().durable);
    store.close().await.unwrap();
}

#[tokio::test]
async fn reopening_keeps_the_schema_version_and_wal() {
    let dir = Dir::new("reopen");
    let path = dir.0.join("store.db");
    for _ in 0..2 {
        let store = SqliteStore::open(&path).await.unwrap();
        store.close().await.unwrap();
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(mode, "wal");
    // close() checkpointed and truncated the WAL.
    let wal = dir.0.join("store.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[tokio::test]
async fn a_path_in_a_missing_directory_is_an_error_naming_it() {
    let dir = Dir::new("missing-dir");
    let path = dir.0.join("no-such-directory").join("store.db");
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Other, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(
        !path.parent().unwrap().exists(),
        "the directory was created"
    );
}

/// A database file that is read-only cannot be opened for writing: a clear
/// error naming it, and the file is not modified.
///
/// Permission bits do not bind a user with `CAP_DAC_OVERRIDE` (root, as in
/// many containers); there the test opens a path on a file system that
/// refuses new files (`/sys`) instead, and says so on stderr.
#[tokio::test]
async fn a_read_only_file_is_a_clear_error_and_untouched() {
    use std::os::unix::fs::PermissionsExt;

    let dir = Dir::new("read-only");
    let path = dir.0.join("store.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.close().await.unwrap();
    let before = std::fs::read(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let permissions_bind = std::fs::OpenOptions::new().write(true).open(&path).is_err();
    let target = if permissions_bind {
        path.clone()
    } else {
        eprintln!("permission bits do not bind this user (root?): checking /sys instead");
        let sys = Path::new("/sys");
        if !sys.is_dir() || std::fs::write(sys.join("gossip-sqlite-probe"), b"").is_ok() {
            let _ = std::fs::remove_file(sys.join("gossip-sqlite-probe"));
            gossip_core::testkit::environment::not_run_here(
                "a_read_only_file_is_a_clear_error_and_untouched",
                "permission bits do not bind this user and /sys accepts new files",
            );
            return;
        }
        sys.join("gossip-sqlite-test.db")
    };
    let err = SqliteStore::open(&target).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Other, "{err}");
    assert!(
        err.to_string().contains(&target.display().to_string()),
        "{err}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was modified"
    );
}
