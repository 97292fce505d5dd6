//! Opening directories that are not (or not yet) ours: garbage, a file,
//! another application's RocksDB, a newer schema, an older schema holding
//! entries, missing. Never modified, always named.

// Test support: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use gossip_core::{
    ChannelId, Hlc, Identity, LogEntry, NodeId, PeerRecord, Store, StoreErrorKind, StreamId,
    VersionVector,
};
use gossip_store_rocksdb::{RocksDbStore, RocksDbStoreOptions, SCHEMA_VERSION};

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "gossip-rocksdb-open-{label}-{}-{n}",
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

/// Every file under `dir` with its content, but RocksDB's informational
/// `LOG` files (which any open, even read-only, may rotate).
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("LOG"))
        .map(|path| {
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect()
}

fn assert_names(err: &gossip_core::StoreError, path: &Path) {
    assert_eq!(err.backend(), "rocksdb");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_directory_is_corrupt_and_untouched() {
    let dir = Dir::new("garbage");
    // Files but no CURRENT: not a RocksDB database at all.
    let notes = dir.0.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("todo.txt"), b"keep me").unwrap();
    // A CURRENT file that points nowhere, and one that is not even a line.
    let dangling = dir.0.join("dangling");
    std::fs::create_dir_all(&dangling).unwrap();
    std::fs::write(dangling.join("CURRENT"), b"MANIFEST-000042\n").unwrap();
    let binary = dir.0.join("binary");
    std::fs::create_dir_all(&binary).unwrap();
    std::fs::write(
        binary.join("CURRENT"),
        (0..4096u32)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(binary.join("MANIFEST-000001"), b"\x00\x01garbage").unwrap();

    for path in [&notes, &dangling, &binary] {
        let before = contents(path);
        let err = RocksDbStore::open(path).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        assert_names(&err, path);
        assert_eq!(contents(path), before, "{} was modified", path.display());
    }
}

#[tokio::test]
async fn a_file_is_corrupt_and_untouched() {
    let dir = Dir::new("file");
    let path = dir.0.join("store.rocksdb");
    std::fs::write(&path, b"not a directory").unwrap();
    let err = RocksDbStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    assert_names(&err, &path);
    assert_eq!(std::fs::read(&path).unwrap(), b"not a directory");
}

#[tokio::test]
async fn newer_schema_is_refused_and_untouched() {
    let dir = Dir::new("newer");
    let path = dir.0.join("store.rocksdb");
    let store = RocksDbStore::open(&path).await.unwrap();
    store.save_clock(Hlc::new(5, 0).unwrap()).await.unwrap();
    store.close().await.unwrap();

    let newer = SCHEMA_VERSION + 1;
    set_schema_version(&path, newer);
    let before = contents(&path);

    let err = RocksDbStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::IncompatibleSchema, "{err}");
    let message = err.to_string();
    assert_names(&err, &path);
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("version {SCHEMA_VERSION}")),
        "{message}"
    );
    assert_eq!(contents(&path), before, "the database was modified");

    // Back to the supported version, it opens with its data.
    set_schema_version(&path, SCHEMA_VERSION);
    let store = RocksDbStore::open(&path).await.unwrap();
    assert_eq!(
        store.load_clock().await.unwrap(),
        Some(Hlc::new(5, 0).unwrap())
    );
    store.close().await.unwrap();
}

/// Writes the schema version with raw RocksDB (the layout is documented in
/// the crate: column family `meta`, key `schema-version`, u32 big-endian).
fn set_schema_version(path: &Path, version: u32) {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), path).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), path, &cfs).unwrap();
    let meta = db.cf_handle("meta").unwrap();
    db.put_cf(meta, b"schema-version", version.to_be_bytes())
        .unwrap();
    db.flush_wal(true).unwrap();
    db.flush_cf(meta).unwrap();
}

/// The schema version recorded in the database at `path`.
fn schema_version(path: &Path) -> Option<Vec<u8>> {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), path).unwrap();
    let db = rocksdb::DB::open_cf_for_read_only(&rocksdb::Options::default(), path, &cfs, false)
        .unwrap();
    db.get_cf(db.cf_handle("meta").unwrap(), b"schema-version")
        .unwrap()
}

/// Puts one entry as version 1 of the store wrote it, with raw RocksDB:
/// column family `entries`, key `len channel · channel · len stream · stream
/// · len author · author · seq (u64 BE)`, value `hlc (u64 BE) · tag 0 ·
/// payload`.
fn put_version_1_entry(path: &Path, author: &NodeId) {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), path).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), path, &cfs).unwrap();
    let entries = db.cf_handle("entries").unwrap();
    let mut key = b"\x01c\x01s".to_vec();
    key.push(u8::try_from(author.as_str().len()).unwrap());
    key.extend_from_slice(author.as_str().as_bytes());
    key.extend_from_slice(&1u64.to_be_bytes());
    let mut value = Hlc::new(5, 0).unwrap().as_u64().to_be_bytes().to_vec();
    value.push(0);
    value.extend_from_slice(b"old");
    db.put_cf(entries, key, value).unwrap();
    db.flush_wal(true).unwrap();
    db.flush_cf(entries).unwrap();
}

/// A version-1 database holding entries is refused with
/// `IncompatibleSchema`, naming the directory and its version, and is left
/// as it was: still version 1, with its entry.
#[tokio::test]
async fn a_version_1_database_with_entries_is_refused_and_untouched() {
    let dir = Dir::new("v1-entries");
    let path = dir.0.join("store.rocksdb");
    let store = RocksDbStore::open(&path).await.unwrap();
    store.save_clock(Hlc::new(5, 0).unwrap()).await.unwrap();
    store.close().await.unwrap();
    put_version_1_entry(&path, &NodeId::from_seed("a"));
    set_schema_version(&path, 1);
    let before = contents(&path);

    for _ in 0..2 {
        let err = RocksDbStore::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::IncompatibleSchema, "{err}");
        assert_names(&err, &path);
        let message = err.to_string();
        assert!(message.contains("schema version 1"), "{message}");
        assert!(message.contains("signed, hash-linked"), "{message}");
        assert!(message.contains("sync from peers"), "{message}");
        assert!(contents(&path) == before, "the database was modified");
    }
    assert_eq!(schema_version(&path), Some(1u32.to_be_bytes().to_vec()));
}

/// A version-1 database without entries (none appended, or every one
/// compacted away) is upgraded to the current version, keeps its records and
/// compaction bases, and stores and returns signed, linked entries.
#[tokio::test]
async fn an_empty_version_1_database_is_upgraded_and_stores_signed_entries() {
    let dir = Dir::new("v1-empty");
    let path = dir.0.join("store.rocksdb");
    let (c, s) = (ChannelId::new("c").unwrap(), StreamId::new("s").unwrap());
    let old = StreamId::new("old").unwrap();
    let bob = NodeId::from_seed("bob");
    let store = RocksDbStore::open(&path).await.unwrap();
    store.save_clock(Hlc::new(5, 0).unwrap()).await.unwrap();
    store
        .save_peer(&PeerRecord::new(bob.clone()))
        .await
        .unwrap();
    // An entry appended then compacted away: only tombstones remain.
    store
        .append(
            &c,
            &old,
            &[LogEntry::new(bob.clone(), 1, Hlc::ZERO, b"x".to_vec())],
        )
        .await
        .unwrap();
    let base: VersionVector = [(bob.clone(), 1)].into_iter().collect();
    assert_eq!(store.compact(&c, &old, &base).await.unwrap(), 1);
    store.close().await.unwrap();
    set_schema_version(&path, 1);

    let store = RocksDbStore::open(&path).await.unwrap();
    assert_eq!(
        schema_version(&path),
        Some(SCHEMA_VERSION.to_be_bytes().to_vec())
    );
    assert_eq!(
        store.load_clock().await.unwrap(),
        Some(Hlc::new(5, 0).unwrap())
    );
    assert_eq!(
        store.load_peers().await.unwrap(),
        vec![PeerRecord::new(bob.clone())]
    );
    assert_eq!(store.base(&c, &old).await.unwrap(), base);
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

    let store = RocksDbStore::open(&path).await.unwrap();
    let read = store.read(&c, &s, None, 10).await.unwrap();
    assert_eq!(read, vec![first.clone(), second.clone()]);
    assert_eq!(read[1].previous, first.hash(&c, &s));
    for entry in &read {
        entry.verify_signature(&c, &s).unwrap();
    }
    assert_eq!(
        store
            .read_author(&c, &s, alice.node_id(), 1, 10)
            .await
            .unwrap(),
        vec![second]
    );
    assert_eq!(store.stats(&c, &s).await.unwrap().bytes, 3 + 3 + 2 * 64);
    store.close().await.unwrap();
}

#[tokio::test]
async fn another_applications_rocksdb_is_refused() {
    let dir = Dir::new("foreign");
    let path = dir.0.join("other.rocksdb");
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, &path).unwrap();
        db.put(b"key", b"keep me").unwrap();
        db.flush().unwrap();
    }
    let err = RocksDbStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::IncompatibleSchema, "{err}");
    assert!(err.to_string().contains("not a gossip store"), "{err}");
    assert_names(&err, &path);
    let db = rocksdb::DB::open_default(&path).unwrap();
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"keep me"[..]));
    assert!(rocksdb::DB::list_cf(&rocksdb::Options::default(), &path)
        .unwrap()
        .iter()
        .all(|cf| cf == "default"));
}

#[tokio::test]
async fn missing_directory_without_create_is_an_error_naming_it() {
    let dir = Dir::new("missing");
    let path = dir.0.join("absent.rocksdb");
    let err = RocksDbStore::open_with(RocksDbStoreOptions::new(&path).create_if_missing(false))
        .await
        .unwrap_err();
    assert_names(&err, &path);
    assert!(!path.exists());
    // An empty existing directory is an empty database: it is initialised.
    std::fs::create_dir_all(&path).unwrap();
    let store = RocksDbStore::open_with(RocksDbStoreOptions::new(&path).create_if_missing(false))
        .await
        .unwrap();
    assert!(store.capabilities().durable);
    store.close().await.unwrap();
    // Nested directories are created when allowed.
    let nested = dir.0.join("a").join("b").join("store");
    let store = RocksDbStore::open(&nested).await.unwrap();
    store.close().await.unwrap();
    assert!(nested.join("CURRENT").exists());
}

#[tokio::test]
async fn an_open_database_is_unavailable_to_a_second_store() {
    let dir = Dir::new("locked");
    let path = dir.0.join("store.rocksdb");
    let store = RocksDbStore::open(&path).await.unwrap();
    let err = RocksDbStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(err.is_transient());
    assert_names(&err, &path);
    store.close().await.unwrap();
    // Closed: the lock is released at once.
    RocksDbStore::open(&path)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test]
async fn reopening_keeps_the_schema_version() {
    let dir = Dir::new("reopen");
    let path = dir.0.join("store.rocksdb");
    for _ in 0..3 {
        let store = RocksDbStore::open(&path).await.unwrap();
        store.close().await.unwrap();
    }
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &path).unwrap();
    for cf in [
        "entries",
        "read_order",
        "authors",
        "channels",
        "peers",
        "meta",
    ] {
        assert!(cfs.iter().any(|c| c == cf), "{cf} missing from {cfs:?}");
    }
    let db = rocksdb::DB::open_cf_for_read_only(&rocksdb::Options::default(), &path, &cfs, false)
        .unwrap();
    let version = db
        .get_cf(db.cf_handle("meta").unwrap(), b"schema-version")
        .unwrap();
    assert_eq!(version, Some(SCHEMA_VERSION.to_be_bytes().to_vec()));
}

/// Sets `path` and everything under it read-only (`writable == false`) or
/// back to writable by its owner.
fn set_writable(path: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt;
    let (dir_mode, file_mode) = if writable {
        (0o755, 0o644)
    } else {
        (0o555, 0o444)
    };
    for item in std::fs::read_dir(path).unwrap() {
        let file = item.unwrap().path();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(file_mode)).unwrap();
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(dir_mode)).unwrap();
}

/// A database whose directory and files are read-only cannot be opened for
/// writing: a clear error naming it, and nothing is modified. (RocksDB has
/// no read-only `Store`: a node always writes.)
///
/// Permission bits do not bind a user with `CAP_DAC_OVERRIDE` (root, as in
/// many containers); there the test checks a location on a file system that
/// refuses new directories instead (`/sys`), and says so on stderr.
#[tokio::test]
async fn a_read_only_database_is_a_clear_error_and_untouched() {
    let dir = Dir::new("read-only");
    let path = dir.0.join("store.rocksdb");
    let store = RocksDbStore::open(&path).await.unwrap();
    store.save_clock(Hlc::new(9, 0).unwrap()).await.unwrap();
    store.close().await.unwrap();

    set_writable(&path, false);
    let probe = path.join("probe");
    let permissions_bind = std::fs::write(&probe, b"").is_err();
    if permissions_bind {
        let before = contents(&path);
        let err = RocksDbStore::open(&path).await.unwrap_err();
        set_writable(&path, true);
        assert_eq!(err.kind(), StoreErrorKind::Other, "{err}");
        assert_names(&err, &path);
        assert!(err.to_string().contains("not writable"), "{err}");
        let after: BTreeMap<_, _> = contents(&path);
        assert_eq!(after, before, "the database was modified");
    } else {
        let _ = std::fs::remove_file(&probe);
        set_writable(&path, true);
        eprintln!(
            "permission bits do not bind this user (root?): checking an unwritable location instead"
        );
        let sys = Path::new("/sys");
        if !sys.is_dir() || std::fs::create_dir(sys.join("gossip-rocksdb-probe")).is_ok() {
            let _ = std::fs::remove_dir(sys.join("gossip-rocksdb-probe"));
            gossip_core::testkit::environment::not_run_here(
                "a_read_only_database_is_a_clear_error_and_untouched",
                "permission bits do not bind this user and /sys accepts new files",
            );
            return;
        }
        let unwritable = sys.join("gossip-rocksdb-test").join("store.rocksdb");
        let err = RocksDbStore::open(&unwritable).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Other, "{err}");
        assert_names(&err, &unwritable);
    }
    // Writable again, it opens with its data.
    let store = RocksDbStore::open(&path).await.unwrap();
    assert_eq!(
        store.load_clock().await.unwrap(),
        Some(Hlc::new(9, 0).unwrap())
    );
    store.close().await.unwrap();
}

/// Environment variable naming the database the child process holds open.
const HOLDER_ENV: &str = "GOSSIP_ROCKSDB_LOCK_HOLDER_DIR";

/// What the child prints once it holds the database.
const OPEN_LINE: &str = "lock-holder: open";

/// The child of the test below: opens the database, says [`OPEN_LINE`], and holds
/// it until its stdin closes. Does nothing when run as a plain test.
#[test]
fn lock_holder_child() {
    let Ok(path) = std::env::var(HOLDER_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        use std::io::{BufRead, Write};
        let store = RocksDbStore::open(&path).await.unwrap();
        let mut out = std::io::stdout().lock();
        // libtest may have written `test lock_holder_child ... ` on this line.
        writeln!(out, "{OPEN_LINE}").unwrap();
        out.flush().unwrap();
        // Blocks until the parent closes our stdin.
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        store.close().await.unwrap();
    });
}

/// A database held open by another process is `Unavailable` (transient),
/// names the directory, and opens once that process has let go.
#[tokio::test]
async fn a_database_locked_by_another_process_is_unavailable() {
    use std::{
        io::{BufRead, BufReader},
        process::{Command, Stdio},
    };
    let dir = Dir::new("locked-process");
    let path = dir.0.join("store.rocksdb");
    RocksDbStore::open(&path)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "lock_holder_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let opened = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let found = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.ends_with(OPEN_LINE));
        // Keep draining: the child's test harness still writes its result,
        // and a closed pipe would fail it.
        std::thread::spawn(move || lines.for_each(drop));
        found
    })
    .await
    .unwrap();
    if !opened {
        let _ = child.kill();
        let status = child.wait();
        panic!("the child did not open the database: {status:?}");
    }

    let err = RocksDbStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(err.is_transient());
    assert_names(&err, &path);
    assert!(
        err.to_string().contains("another store or process"),
        "{err}"
    );

    drop(child.stdin.take()); // the child closes its store and exits
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    RocksDbStore::open(&path)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}
