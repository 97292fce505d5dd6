#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codec;
mod entries;
mod error;
mod keys;
mod options;
mod records;
mod schema;
mod store;

pub use options::{RocksDbStoreOptions, DEFAULT_BLOCK_CACHE_BYTES, DEFAULT_WRITE_BUFFER_BYTES};
pub use schema::SCHEMA_VERSION;
pub use store::RocksDbStore;

// Every public type is `Send + Sync`: checked by the compiler on every build.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<RocksDbStore>();
    send_sync::<RocksDbStoreOptions>();
};
