//! The store conformance suite (`gossip_core::testkit::store`), run on a
//! database file (durable, with the reopen test) and in memory (volatile).

mod file {
    use gossip_store_sqlite::SqliteStore;

    gossip_core::store_conformance!(durable, |dir: std::path::PathBuf| async move {
        SqliteStore::open(dir.join("store.db")).await.unwrap()
    });
}

mod memory {
    use gossip_store_sqlite::SqliteStore;

    gossip_core::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
        SqliteStore::in_memory().await.unwrap()
    });
}
