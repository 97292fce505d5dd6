//! Stores: where a node keeps its entries, channels, peers and clock.
//!
//! One module per backend, each behind its `stores-*` feature; the main types
//! are also re-exported at the crate root (`gossip::SqliteStore`).
//!
//! | module | feature | type |
//! |---|---|---|
//! | `memory` | `stores-memory` (default) | `MemoryStore`: fast, nothing persisted |
//! | `sqlite` | `stores-sqlite` | `SqliteStore`: WAL, durable, bundled SQLite |
//! | `rocksdb` | `stores-rocksdb` | `RocksDbStore`: column families, write batches |

/// In-memory store (`gossip-store-memory`): the default, fast, nothing persisted.
#[cfg(feature = "stores-memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-memory")))]
pub mod memory {
    pub use gossip_store_memory::*;
}

/// SQLite store on sqlx (`gossip-store-sqlite`): WAL, durable by default.
#[cfg(feature = "stores-sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-sqlite")))]
pub mod sqlite {
    pub use gossip_store_sqlite::*;
}

/// RocksDB store (`gossip-store-rocksdb`): column families, atomic write batches.
#[cfg(feature = "stores-rocksdb")]
#[cfg_attr(docsrs, doc(cfg(feature = "stores-rocksdb")))]
pub mod rocksdb {
    pub use gossip_store_rocksdb::*;
}
