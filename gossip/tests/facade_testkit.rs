//! The conformance macros work through the facade alone: a plug-in author
//! depends on `gossip` with `testkit` and nothing else.

#![cfg(all(feature = "testkit", feature = "stores-memory"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gossip::MemoryStore;

gossip::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
    MemoryStore::new()
});
