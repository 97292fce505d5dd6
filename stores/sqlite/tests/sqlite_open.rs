//! Opening files that are not (or not yet) ours: corrupt, newer schema,
//! another application's database, missing, in a missing directory,
//! read-only. Never modified, always named.

// Test support: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use gossip_core::{Store, StoreErrorKind};
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
