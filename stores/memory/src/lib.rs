#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod store;
mod stream;

pub use store::MemoryStore;

// The store is `Send + Sync`: checked by the compiler on every build.
const _: () = {
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<MemoryStore>();
};
