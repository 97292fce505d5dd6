#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codec;
mod entries;
mod error;
mod options;
mod records;
mod schema;
mod store;

pub use options::{SqliteStoreOptions, SqliteSynchronous};
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;

// Every public type is `Send + Sync`: checked by the compiler on every build.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<SqliteStore>();
    send_sync::<SqliteStoreOptions>();
    send_sync::<SqliteSynchronous>();
};
