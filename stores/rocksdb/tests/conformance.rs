//! The store conformance suite (`gossip_core::testkit::store`), run on a
//! database directory: durable, with the reopen test.

mod directory {
    use gossip_store_rocksdb::RocksDbStore;

    gossip_core::store_conformance!(durable, |dir: std::path::PathBuf| async move {
        RocksDbStore::open(dir.join("store.rocksdb")).await.unwrap()
    });
}

/// The same suite without a synced write-ahead log: the behaviour is the same.
mod unsynced {
    use gossip_store_rocksdb::{RocksDbStore, RocksDbStoreOptions};

    gossip_core::store_conformance!(durable, |dir: std::path::PathBuf| async move {
        RocksDbStore::open_with(
            RocksDbStoreOptions::new(dir.join("store.rocksdb")).sync_writes(false),
        )
        .await
        .unwrap()
    });
}
