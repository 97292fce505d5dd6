#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod store;
mod stream;

pub use store::MemoryStore;
