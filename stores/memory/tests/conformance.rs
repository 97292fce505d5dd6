//! The store conformance suite of `gossip-core`, run on [`MemoryStore`]
//! directly and as a `DynStore`.

use gossip_store_memory::MemoryStore;

gossip_core::store_conformance!(volatile, |_dir: std::path::PathBuf| async {
    MemoryStore::new()
});
